//! Workload presets: the mkfs arguments and mount options for each [`Preset`] on each
//! filesystem, as one table.
//!
//! They keep what the seeds meant (no atime writes, inode tables initialised at mkfs time,
//! larger XFS log buffers for Kafka, zstd for backups) and drop what cannot work or is
//! unsafe on Linux 6.1 (Debian 12) and newer:
//!
//! - ext4 `-O ^has_journal` (PostgreSQL, Redis): with the seeds' `data=writeback` and
//!   `commit=30` the mount fails ("can't mount with data=, fs mounted w/o journal"), and
//!   without a journal every crash needs a full `e2fsck` before the database can start.
//! - ext4 `barrier=0`: disables cache flushes, so a power loss can drop WAL records that
//!   `fsync` already reported durable, and corrupt the journal itself. Drives with
//!   power-loss protection advertise no volatile cache and the kernel skips the flushes on
//!   its own, so the option buys nothing where it is safe.
//! - ext4 `data=writeback`: after a crash, recently extended files may contain stale blocks
//!   of deleted files instead of zeros; Redis then refuses its AOF and other services read
//!   garbage. `data=ordered` costs little on NVMe with delayed allocation.
//! - ext4 `-O extent,flex_bg` and `-E discard` are mke2fs defaults; `sparse_super2` saves a
//!   few megabytes of superblock backups and is the less-tested layout for online growth.
//! - xfs `nobarrier` was removed in Linux 4.19: the mount fails. `swalloc` and `largeio`
//!   do nothing without a stripe, and `su=64k,sw=1` invents a stripe a single NVMe does not
//!   have. `agcount=32` with a 128 MiB log needs more than 4 GiB (measured); mkfs.xfs sizes
//!   allocation groups and the log from the device instead (add `-d agcount=N` in
//!   `mkfs_options` where wanted: the rules check it against the device size).
//! - btrfs `autodefrag` rewrites files on random writes; backups are written once.

use crate::kind::{FsKind, Preset};
use crate::rules::mount_slot;

/// One row of the preset table.
struct Row {
    preset: Preset,
    kind: FsKind,
    mkfs: &'static [&'static str],
    mount: &'static [&'static str],
    why: &'static str,
}

/// Inode tables and journal zeroed at mkfs time, as every ext4 line of the seeds asked:
/// no `ext4lazyinit` thread competing with the database for I/O after the first start.
const EXT4_EAGER_INIT: &[&str] = &["-E", "lazy_itable_init=0,lazy_journal_init=0"];

const TABLE: &[Row] = &[
    Row {
        preset: Preset::Postgresql,
        kind: FsKind::Ext4,
        mkfs: EXT4_EAGER_INIT,
        mount: &["noatime", "data=ordered"],
        why: "journal kept and ordered data: the seed's ^has_journal+data=writeback cannot mount, and barrier=0 \
              loses fsync'ed WAL on power loss; PostgreSQL fsyncs itself, so commit=30 gained nothing",
    },
    Row {
        preset: Preset::Clickhouse,
        kind: FsKind::Ext4,
        mkfs: EXT4_EAGER_INIT,
        mount: &["noatime", "data=ordered"],
        why: "the seed's ordered journaling kept; commit=5 is the default, sparse_super2 dropped for online growth",
    },
    Row {
        preset: Preset::Kafka,
        kind: FsKind::Ext4,
        mkfs: EXT4_EAGER_INIT,
        mount: &["noatime"],
        why: "append-only segments need nothing beyond noatime; the seeds put Kafka on XFS",
    },
    Row {
        preset: Preset::Mongodb,
        kind: FsKind::Ext4,
        mkfs: EXT4_EAGER_INIT,
        mount: &["noatime", "commit=10"],
        why: "the seed's line as is: WiredTiger syncs its own journal, so commit=10 only batches metadata",
    },
    Row {
        preset: Preset::Redis,
        kind: FsKind::Ext4,
        mkfs: EXT4_EAGER_INIT,
        mount: &["noatime"],
        why: "journal kept, ordered data: the seed's ^has_journal+data=writeback cannot mount, and ordered mode \
              leaves a torn AOF tail truncated (which Redis loads) instead of stale blocks (which it refuses)",
    },
    Row {
        preset: Preset::Docker,
        kind: FsKind::Ext4,
        mkfs: EXT4_EAGER_INIT,
        mount: &["noatime"],
        why: "the seed's features are mke2fs defaults (extent, flex_bg; filetype gives overlay2 its d_type)",
    },
    Row {
        preset: Preset::Backup,
        kind: FsKind::Ext4,
        mkfs: EXT4_EAGER_INIT,
        mount: &["noatime", "nodev", "nosuid"],
        why: "the seed's nodev,nosuid kept: backups hold no devices or setuid programs; noatime added",
    },
    Row {
        preset: Preset::Postgresql,
        kind: FsKind::Xfs,
        mkfs: &[],
        mount: &["noatime"],
        why: "mkfs.xfs defaults (crc, reflink, sized AGs and log) suit a WAL database",
    },
    Row {
        preset: Preset::Clickhouse,
        kind: FsKind::Xfs,
        mkfs: &[],
        mount: &["noatime"],
        why: "mkfs.xfs defaults; large sequential merges need no tuning beyond noatime",
    },
    Row {
        preset: Preset::Kafka,
        kind: FsKind::Xfs,
        mkfs: &[],
        mount: &["noatime", "logbufs=8", "logbsize=256k"],
        why: "the seed's log buffers kept; nobarrier (removed in 4.19) dropped, swalloc/largeio do nothing without \
              a stripe, su/sw invent one, agcount=32 with a 128 MiB log needs more than 4 GiB",
    },
    Row {
        preset: Preset::Mongodb,
        kind: FsKind::Xfs,
        mkfs: &[],
        mount: &["noatime"],
        why: "XFS is MongoDB's recommended filesystem for WiredTiger; defaults plus noatime",
    },
    Row {
        preset: Preset::Redis,
        kind: FsKind::Xfs,
        mkfs: &[],
        mount: &["noatime"],
        why: "RDB/AOF are sequential; defaults plus noatime",
    },
    Row {
        preset: Preset::Docker,
        kind: FsKind::Xfs,
        mkfs: &["-n", "ftype=1"],
        mount: &["noatime"],
        why: "ftype=1 stated explicitly: overlay2 refuses an XFS without d_type",
    },
    Row {
        preset: Preset::Backup,
        kind: FsKind::Xfs,
        mkfs: &[],
        mount: &["noatime", "nodev", "nosuid"],
        why: "the seed's nodev,nosuid kept; noatime added",
    },
    Row {
        preset: Preset::Postgresql,
        kind: FsKind::Btrfs,
        mkfs: &[],
        mount: &["noatime"],
        why: "copy-on-write and checksums kept; for heavy OLTP prefer ext4/XFS (nodatacow would drop checksums)",
    },
    Row {
        preset: Preset::Clickhouse,
        kind: FsKind::Btrfs,
        mkfs: &[],
        mount: &["noatime"],
        why: "no btrfs compression: ClickHouse compresses its parts itself",
    },
    Row {
        preset: Preset::Kafka,
        kind: FsKind::Btrfs,
        mkfs: &[],
        mount: &["noatime"],
        why: "append-only segments suit copy-on-write; Kafka compresses batches itself",
    },
    Row {
        preset: Preset::Mongodb,
        kind: FsKind::Btrfs,
        mkfs: &[],
        mount: &["noatime"],
        why: "WiredTiger compresses blocks itself; btrfs compression would only add CPU",
    },
    Row {
        preset: Preset::Redis,
        kind: FsKind::Btrfs,
        mkfs: &[],
        mount: &["noatime"],
        why: "RDB files are rewritten whole, which copy-on-write handles well",
    },
    Row {
        preset: Preset::Docker,
        kind: FsKind::Btrfs,
        mkfs: &[],
        mount: &["noatime"],
        why: "Docker's btrfs storage driver uses subvolumes and snapshots natively",
    },
    Row {
        preset: Preset::Backup,
        kind: FsKind::Btrfs,
        mkfs: &[],
        mount: &["noatime", "nodev", "nosuid", "compress=zstd:3"],
        why: "the seed's warm tier: zstd:3 compression and noatime; autodefrag dropped (write-once files)",
    },
];

fn row(preset: Preset, kind: FsKind) -> Option<&'static Row> {
    TABLE.iter().find(|row| row.preset == preset && row.kind == kind)
}

fn owned(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

/// The mkfs arguments of `preset` on `kind` (none for a raw volume).
///
/// ```
/// use jts_fs::{FsKind, Preset, preset_mkfs_args};
/// assert_eq!(preset_mkfs_args(Preset::Docker, FsKind::Xfs), ["-n", "ftype=1"]);
/// ```
pub fn preset_mkfs_args(preset: Preset, kind: FsKind) -> Vec<String> {
    row(preset, kind).map(|row| owned(row.mkfs)).unwrap_or_default()
}

/// The mount options of `preset` on `kind` (none for a raw volume).
///
/// ```
/// use jts_fs::{FsKind, Preset, preset_mount_options};
/// assert_eq!(preset_mount_options(Preset::Kafka, FsKind::Xfs), ["noatime", "logbufs=8", "logbsize=256k"]);
/// ```
pub fn preset_mount_options(preset: Preset, kind: FsKind) -> Vec<String> {
    row(preset, kind).map(|row| owned(row.mount)).unwrap_or_default()
}

/// Why the preset looks the way it does on `kind`, in one line.
pub fn preset_rationale(preset: Preset, kind: FsKind) -> &'static str {
    row(preset, kind).map_or("a raw volume has no filesystem options", |row| row.why)
}

/// The mount options a volume ends up with: the preset's, with the spec's `mount_options`
/// merged over them. A spec option replaces every preset option that sets the same thing
/// (`relatime` replaces `noatime`, `data=writeback` replaces `data=ordered`, `nodiscard`
/// replaces `discard`), then the spec's options follow in their order.
///
/// ```
/// use jts_fs::{FsKind, Preset, effective_mount_options};
/// let options = effective_mount_options(Some(Preset::Postgresql), FsKind::Ext4, &["relatime".into()]);
/// assert_eq!(options, ["data=ordered", "relatime"]);
/// ```
pub fn effective_mount_options(preset: Option<Preset>, kind: FsKind, spec: &[String]) -> Vec<String> {
    let base = preset.map(|preset| preset_mount_options(preset, kind)).unwrap_or_default();
    let overridden: Vec<&str> = spec.iter().map(|option| mount_slot(kind, option)).collect();
    base.into_iter()
        .filter(|option| !overridden.contains(&mount_slot(kind, option)))
        .chain(spec.iter().cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_has_a_row_for_every_filesystem() {
        for preset in Preset::ALL {
            for kind in FsKind::FILESYSTEMS {
                assert!(row(preset, kind).is_some(), "{preset} on {kind}");
                assert!(!preset_rationale(preset, kind).is_empty());
                assert!(preset_mount_options(preset, kind).iter().any(|o| o == "noatime"), "{preset} on {kind}");
            }
            assert!(preset_mkfs_args(preset, FsKind::None).is_empty());
            assert!(preset_mount_options(preset, FsKind::None).is_empty());
        }
        assert_eq!(TABLE.len(), Preset::ALL.len() * FsKind::FILESYSTEMS.len());
    }

    #[test]
    fn no_preset_disables_barriers_or_the_journal() {
        for row in TABLE {
            for option in row.mount {
                assert!(!["barrier=0", "nobarrier", "data=writeback"].contains(option), "{option}");
            }
            assert!(!row.mkfs.iter().any(|arg| arg.contains("^has_journal")));
        }
    }

    #[test]
    fn spec_options_replace_the_same_setting() {
        let spec = ["nodiscard".to_owned(), "data=journal".to_owned(), "noatime".to_owned()];
        let merged = effective_mount_options(Some(Preset::Clickhouse), FsKind::Ext4, &spec);
        assert_eq!(merged, spec);
        let merged = effective_mount_options(Some(Preset::Kafka), FsKind::Xfs, &["logbsize=64k".into()]);
        assert_eq!(merged, ["noatime", "logbufs=8", "logbsize=64k"]);
        assert_eq!(effective_mount_options(None, FsKind::Btrfs, &[]), Vec::<String>::new());
    }
}
