//! The spec sections this crate owns, `[filesystems.*]` and `[nfs_mounts.*]`, and
//! [`MountTarget`]: one mount, whatever section (or LVM volume) declared it.

use std::collections::BTreeMap;
use std::fmt;

use jts_core::AbsPath;
use jts_core::{Mode, Principal};
use jts_fs::{FsKind, Preset, effective_mount_options};
use serde::{Deserialize, Serialize};
use serde_spanned::Spanned;

/// How the fstab line names a local device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentifyBy {
    /// `UUID=…` of the filesystem (the default: stable across device renames).
    #[default]
    Uuid,
    /// `LABEL=…` of the filesystem.
    Label,
    /// The device path as written in the spec.
    Path,
}

/// The filesystem of a mount, as far as mount options are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountFs {
    /// ext4.
    Ext4,
    /// XFS.
    Xfs,
    /// btrfs.
    Btrfs,
    /// NFS (v3 or v4).
    Nfs,
}

impl MountFs {
    /// The local filesystem of `kind`; `None` for a raw volume.
    pub fn local(kind: FsKind) -> Option<Self> {
        match kind {
            FsKind::Ext4 => Some(Self::Ext4),
            FsKind::Xfs => Some(Self::Xfs),
            FsKind::Btrfs => Some(Self::Btrfs),
            FsKind::None => None,
        }
    }

    /// Whether `fstrim` can discard on it (local filesystems, not NFS).
    pub fn supports_discard(self) -> bool {
        self != Self::Nfs
    }
}

impl fmt::Display for MountFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ext4 => "ext4",
            Self::Xfs => "xfs",
            Self::Btrfs => "btrfs",
            Self::Nfs => "nfs",
        })
    }
}

/// `[filesystems.NAME]`: a filesystem on a plain block device, and where it is mounted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesystemSpec {
    /// The block device, e.g. `/dev/sda2`.
    pub device: Spanned<AbsPath>,
    /// `ext4`, `xfs` or `btrfs`.
    pub filesystem: Spanned<FsKind>,
    /// The workload preset for mkfs and mount options.
    pub preset: Option<Preset>,
    /// Extra mkfs arguments after the preset's.
    #[serde(default)]
    pub mkfs_options: Vec<String>,
    /// The filesystem label.
    pub label: Option<Spanned<String>>,
    /// Where it is mounted.
    pub mount_point: Spanned<AbsPath>,
    /// Mount options, merged over the preset's.
    #[serde(default)]
    pub mount_options: Vec<Spanned<String>>,
    /// Owner of the mounted root directory (applied through jts-perms).
    pub owner: Option<Spanned<Principal>>,
    /// Group of the mounted root directory.
    pub group: Option<Spanned<Principal>>,
    /// Mode of the mounted root directory.
    pub mode: Option<Mode>,
    /// How fstab names the device (default `uuid`).
    #[serde(default)]
    pub identify_by: IdentifyBy,
}

/// `[nfs_mounts.NAME]`: an NFS export and where it is mounted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NfsMountSpec {
    /// `host:/path`, e.g. `nas.internal:/volume1/jts`.
    pub source: Spanned<String>,
    /// Where it is mounted.
    pub mount_point: Spanned<AbsPath>,
    /// NFS mount options.
    #[serde(default)]
    pub options: Vec<Spanned<String>>,
}

/// The two sections together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountsSpec {
    /// `[filesystems.*]`.
    #[serde(default)]
    pub filesystems: BTreeMap<String, Spanned<FilesystemSpec>>,
    /// `[nfs_mounts.*]`.
    #[serde(default)]
    pub nfs_mounts: BTreeMap<String, Spanned<NfsMountSpec>>,
}

/// What is mounted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum MountSource {
    /// A local block device with a filesystem.
    Block {
        /// The device path, e.g. `/dev/vg_jts/lv_postgres`.
        device: AbsPath,
        /// The filesystem on it.
        filesystem: MountFs,
        /// How fstab names it.
        identify_by: IdentifyBy,
    },
    /// An NFS export, `host:/path`.
    Nfs {
        /// The export.
        source: String,
    },
}

/// One mount jts manages: from `[filesystems.*]`, `[nfs_mounts.*]` or an LVM volume.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MountTarget {
    /// The object name for messages, e.g. `filesystems.warm` or `lv_postgres`.
    pub name: String,
    /// What is mounted.
    pub source: MountSource,
    /// Where.
    pub mount_point: AbsPath,
    /// The options it is mounted with (a preset's already merged in).
    pub options: Vec<String>,
}

impl MountTarget {
    /// A local filesystem on `device`; `options` are the final ones (see
    /// [`jts_fs::effective_mount_options`] to merge a preset's).
    pub fn block(name: &str, device: AbsPath, filesystem: MountFs, mount_point: AbsPath, options: Vec<String>) -> Self {
        Self {
            name: name.to_owned(),
            source: MountSource::Block { device, filesystem, identify_by: IdentifyBy::Uuid },
            mount_point,
            options,
        }
    }

    /// An NFS export.
    pub fn nfs(name: &str, source: &str, mount_point: AbsPath, options: Vec<String>) -> Self {
        Self { name: name.to_owned(), source: MountSource::Nfs { source: source.to_owned() }, mount_point, options }
    }

    /// Names the device in fstab by `identify_by` (local filesystems only).
    pub fn identified_by(mut self, by: IdentifyBy) -> Self {
        if let MountSource::Block { identify_by, .. } = &mut self.source {
            *identify_by = by;
        }
        self
    }

    /// The filesystem, for option rules.
    pub fn fs(&self) -> MountFs {
        match &self.source {
            MountSource::Block { filesystem, .. } => *filesystem,
            MountSource::Nfs { .. } => MountFs::Nfs,
        }
    }

    /// The type for fstab and mount(2): `ext4`, `xfs`, `btrfs`, `nfs4`, or `nfs` for v3.
    pub fn fstype(&self) -> &'static str {
        match self.fs() {
            MountFs::Ext4 => "ext4",
            MountFs::Xfs => "xfs",
            MountFs::Btrfs => "btrfs",
            MountFs::Nfs => {
                let v3 = self.options.iter().any(|o| matches!(o.as_str(), "vers=3" | "nfsvers=3"));
                if v3 { "nfs" } else { "nfs4" }
            }
        }
    }

    /// The device or export, as mount(2) or mount.nfs gets it.
    pub fn what(&self) -> String {
        match &self.source {
            MountSource::Block { device, .. } => device.to_string(),
            MountSource::Nfs { source } => source.clone(),
        }
    }
}

fn values(options: &[Spanned<String>]) -> Vec<String> {
    options.iter().map(|o| o.get_ref().clone()).collect()
}

impl MountsSpec {
    /// Every mount the two sections declare, sorted by mount point. Raw volumes
    /// (`filesystem = "none"`) are left out; [`crate::check()`] reports them.
    pub fn targets(&self) -> Vec<MountTarget> {
        let mut targets: Vec<MountTarget> = self
            .filesystems
            .iter()
            .filter_map(|(name, spec)| {
                let spec = spec.get_ref();
                let kind = *spec.filesystem.get_ref();
                let options = effective_mount_options(spec.preset, kind, &values(&spec.mount_options));
                let target = MountTarget::block(
                    &format!("filesystems.{name}"),
                    spec.device.get_ref().clone(),
                    MountFs::local(kind)?,
                    spec.mount_point.get_ref().clone(),
                    options,
                );
                Some(target.identified_by(spec.identify_by))
            })
            .chain(self.nfs_mounts.iter().map(|(name, spec)| {
                let spec = spec.get_ref();
                MountTarget::nfs(
                    &format!("nfs_mounts.{name}"),
                    spec.source.get_ref(),
                    spec.mount_point.get_ref().clone(),
                    values(&spec.options),
                )
            }))
            .collect();
        targets.sort_by(|a, b| a.mount_point.cmp(&b.mount_point));
        targets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_design_example_and_merges_the_preset() {
        let spec: MountsSpec = toml::from_str(
            r#"
            [filesystems.warm]
            device = "/dev/sda2"
            filesystem = "btrfs"
            preset = "backup"
            label = "jts-warm"
            mount_point = "/data/warm-storage"
            mount_options = ["compress=zstd:3", "noatime"]
            owner = "backup"
            mode = "0755"
            identify_by = "label"

            [nfs_mounts.cold]
            source = "nas.internal:/volume1/jts"
            mount_point = "/mnt/synology"
            options = ["vers=4.2", "hard", "_netdev"]
            "#,
        )
        .unwrap();
        let targets = spec.targets();
        assert_eq!(targets.len(), 2);
        assert_eq!(targets[0].mount_point.to_string(), "/data/warm-storage");
        assert_eq!(targets[0].fstype(), "btrfs");
        assert!(targets[0].options.ends_with(&["compress=zstd:3".to_owned(), "noatime".to_owned()]));
        assert!(matches!(targets[0].source, MountSource::Block { identify_by: IdentifyBy::Label, .. }));
        assert_eq!((targets[1].fstype(), targets[1].what().as_str()), ("nfs4", "nas.internal:/volume1/jts"));
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = toml::from_str::<MountsSpec>(
            "[nfs_mounts.cold]\nsource = \"a:/b\"\nmount_point = \"/c\"\nmount_options = []\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("mount_options"), "{err}");
    }
}
