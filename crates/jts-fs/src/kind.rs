//! The filesystems and workload presets a spec can name.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A filesystem type, as written in `filesystem = "..."`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsKind {
    /// ext4.
    Ext4,
    /// XFS.
    Xfs,
    /// btrfs.
    Btrfs,
    /// No filesystem: a raw volume.
    None,
}

impl FsKind {
    /// The three real filesystems, in a fixed order.
    pub const FILESYSTEMS: [Self; 3] = [Self::Ext4, Self::Xfs, Self::Btrfs];

    /// The name `blkid` reports for it (`TYPE=`), or `None` for a raw volume.
    pub fn blkid_type(self) -> Option<&'static str> {
        match self {
            Self::Ext4 => Some("ext4"),
            Self::Xfs => Some("xfs"),
            Self::Btrfs => Some("btrfs"),
            Self::None => None,
        }
    }

    /// The kind whose `blkid` type is `fstype`, if it is one of ours.
    pub fn from_blkid_type(fstype: &str) -> Option<Self> {
        Self::FILESYSTEMS.into_iter().find(|kind| kind.blkid_type() == Some(fstype))
    }

    /// The longest label the filesystem stores, in bytes (0 for a raw volume).
    pub fn label_max(self) -> usize {
        match self {
            Self::Ext4 => 16,
            Self::Xfs => 12,
            Self::Btrfs => 255,
            Self::None => 0,
        }
    }
}

impl fmt::Display for FsKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.blkid_type().unwrap_or("none"))
    }
}

/// A workload preset: mkfs and mount options tuned for one database's I/O pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// PostgreSQL: 8 KiB pages, fsync-heavy WAL.
    Postgresql,
    /// ClickHouse: large sequential merges.
    Clickhouse,
    /// Kafka: append-only segments.
    Kafka,
    /// MongoDB (WiredTiger).
    Mongodb,
    /// Redis persistence (RDB/AOF).
    Redis,
    /// Docker volumes and images: many small files.
    Docker,
    /// Backups: large files, written once.
    Backup,
}

impl Preset {
    /// Every preset, in declaration order.
    pub const ALL: [Self; 7] =
        [Self::Postgresql, Self::Clickhouse, Self::Kafka, Self::Mongodb, Self::Redis, Self::Docker, Self::Backup];

    /// The name written in a spec, e.g. `"postgresql"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Postgresql => "postgresql",
            Self::Clickhouse => "clickhouse",
            Self::Kafka => "kafka",
            Self::Mongodb => "mongodb",
            Self::Redis => "redis",
            Self::Docker => "docker",
            Self::Backup => "backup",
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_names_match_display() {
        for preset in Preset::ALL {
            let json = serde_json::to_string(&preset).unwrap();
            assert_eq!(json, format!("\"{preset}\""));
        }
        for kind in FsKind::FILESYSTEMS.into_iter().chain([FsKind::None]) {
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{kind}\""));
        }
    }

    #[test]
    fn blkid_types_round_trip() {
        for kind in FsKind::FILESYSTEMS {
            assert_eq!(FsKind::from_blkid_type(kind.blkid_type().unwrap()), Some(kind));
        }
        assert_eq!(FsKind::from_blkid_type("LVM2_member"), None);
    }
}
