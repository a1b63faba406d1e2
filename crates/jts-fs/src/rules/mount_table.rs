//! The mount options of ext4, XFS and btrfs, and the generic ones every filesystem takes,
//! as one table, checked by mounting on Linux 6.18 (this host); where 6.1 differs the
//! entry says so.

use crate::kind::FsKind;

/// ext4.
pub(super) const E: u8 = 1;
/// XFS.
pub(super) const X: u8 = 2;
/// btrfs.
pub(super) const B: u8 = 4;
/// Every filesystem.
pub(super) const ALL: u8 = E | X | B;

/// The bit of `kind` in a [`Def::fs`] mask.
pub(super) fn bit(kind: FsKind) -> u8 {
    match kind {
        FsKind::Ext4 => E,
        FsKind::Xfs => X,
        FsKind::Btrfs => B,
        FsKind::None => 0,
    }
}

/// Whether the option takes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Arg {
    /// `noatime`.
    Flag,
    /// `commit=30`.
    Value,
    /// `barrier` or `barrier=0`.
    Either,
    /// Anything: for options only listed to say they are gone.
    Any,
}

/// What a value must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
    /// Anything.
    Any,
    /// An integer in a range.
    Uint(u64, u64),
    /// An integer where 0 means off and anything else on.
    Switch,
    /// One of a list.
    OneOf(&'static [&'static str]),
    /// 0 or a power of two up to a maximum.
    Pow2OrZero(u64),
    /// A size with an optional k/m/g suffix.
    Size,
    /// A size between 4 KiB and 1 GiB (xfs `allocsize`).
    AllocSize,
    /// 16k, 32k, 64k, 128k or 256k (xfs `logbsize`).
    LogBufSize,
    /// `zlib`, `lzo`, `zstd` or `no`, with an optional `:level` (btrfs `compress`).
    Compress,
}

/// Whether current kernels take the option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    /// Supported from 6.1 on.
    Ok,
    /// Accepted and ignored (a warning).
    Ignored(&'static str),
    /// Accepted, deprecated, scheduled for removal (a warning).
    Deprecated(&'static str),
    /// Refused: the mount fails (an error).
    Removed(&'static str),
    /// Only newer kernels know it (an error: Debian 12's 6.1 refuses it).
    Newer(&'static str),
    /// A mount(8) action, not an option a spec may hold (an error).
    Action,
}

/// One mount option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Def {
    /// Its name, before any `=`.
    pub name: &'static str,
    /// The filesystems that take it.
    pub fs: u8,
    /// Whether it takes a value.
    pub arg: Arg,
    /// What the value must look like.
    pub check: Check,
    /// The setting it controls; two options with the same slot and different meanings
    /// contradict each other. Empty: not tracked.
    pub slot: &'static str,
    /// What the flag form means within its slot.
    pub meaning: &'static str,
    /// Whether current kernels take it.
    pub status: Status,
}

const fn flag(name: &'static str, fs: u8, slot: &'static str, meaning: &'static str) -> Def {
    Def { name, fs, arg: Arg::Flag, check: Check::Any, slot, meaning, status: Status::Ok }
}

const fn plain(name: &'static str, fs: u8) -> Def {
    flag(name, fs, "", "")
}

const fn val(name: &'static str, fs: u8, check: Check) -> Def {
    Def { name, fs, arg: Arg::Value, check, slot: name, meaning: "", status: Status::Ok }
}

const fn either(name: &'static str, fs: u8, check: Check, slot: &'static str, meaning: &'static str) -> Def {
    Def { name, fs, arg: Arg::Either, check, slot, meaning, status: Status::Ok }
}

const fn status(name: &'static str, fs: u8, status: Status) -> Def {
    Def { name, fs, arg: Arg::Any, check: Check::Any, slot: "", meaning: "", status }
}

const U32: u64 = u32::MAX as u64;

/// `commit=` above this fails on kernels with HZ=1000 (`INT_MAX / HZ`).
pub(super) const COMMIT_MAX: u64 = 2_147_483;

const EXT4_IGNORED: Status = Status::Ignored("ext4 accepts it only to ignore it (\"Ignoring removed option\")");
const XFS_DEPRECATED: Status =
    Status::Deprecated("deprecated since Linux 5.x and scheduled for removal; the mount will then fail");

/// Every option, generic ones first.
pub(super) const TABLE: &[Def] = &[
    // Generic (VFS and mount(8)).
    plain("defaults", ALL),
    flag("ro", ALL, "rw", "ro"),
    flag("rw", ALL, "rw", "rw"),
    flag("noatime", ALL, "atime", "noatime"),
    flag("atime", ALL, "atime", "atime"),
    flag("relatime", ALL, "atime", "relatime"),
    flag("norelatime", ALL, "atime", "atime"),
    flag("strictatime", ALL, "atime", "strictatime"),
    flag("nostrictatime", ALL, "atime", "relatime"),
    flag("lazytime", ALL, "lazytime", "on"),
    flag("nolazytime", ALL, "lazytime", "off"),
    flag("diratime", ALL, "diratime", "on"),
    flag("nodiratime", ALL, "diratime", "off"),
    flag("dev", ALL, "dev", "on"),
    flag("nodev", ALL, "dev", "off"),
    flag("suid", ALL, "suid", "on"),
    flag("nosuid", ALL, "suid", "off"),
    flag("exec", ALL, "exec", "on"),
    flag("noexec", ALL, "exec", "off"),
    flag("sync", ALL, "sync", "sync"),
    flag("async", ALL, "sync", "async"),
    plain("dirsync", ALL),
    flag("auto", ALL, "auto", "on"),
    flag("noauto", ALL, "auto", "off"),
    plain("nofail", ALL),
    plain("_netdev", ALL),
    flag("user", ALL, "user", "user"),
    flag("users", ALL, "user", "users"),
    flag("nouser", ALL, "user", "off"),
    plain("owner", ALL),
    plain("group", ALL),
    plain("silent", ALL),
    plain("loud", ALL),
    flag("iversion", ALL, "iversion", "on"),
    flag("noiversion", ALL, "iversion", "off"),
    plain("nosymfollow", ALL),
    val("comment", ALL, Check::Any),
    val("context", ALL, Check::Any),
    val("fscontext", ALL, Check::Any),
    val("defcontext", ALL, Check::Any),
    val("rootcontext", ALL, Check::Any),
    status("mand", ALL, Status::Ignored("mandatory locking was removed in Linux 5.15; the option is ignored")),
    plain("nomand", ALL),
    status("remount", ALL, Status::Action),
    status("bind", ALL, Status::Action),
    status("rbind", ALL, Status::Action),
    status("move", ALL, Status::Action),
    // Shared by two filesystems.
    flag("grpid", E | X, "grpid", "on"),
    flag("bsdgroups", E | X, "grpid", "on"),
    flag("nogrpid", E | X, "grpid", "off"),
    flag("sysvgroups", E | X, "grpid", "off"),
    either("dax", E | X, Check::OneOf(&["always", "never", "inode"]), "dax", "always"),
    flag("discard", E | X, "discard", "on"),
    flag("nodiscard", ALL, "discard", "off"),
    plain("norecovery", ALL),
    val("commit", E | B, Check::Uint(0, COMMIT_MAX)),
    plain("noquota", E | X),
    plain("quota", E | X),
    plain("usrquota", E | X),
    plain("grpquota", E | X),
    plain("prjquota", E | X),
    flag("acl", E | B, "acl", "on"),
    // ext4.
    flag("bsddf", E, "df", "bsd"),
    flag("minixdf", E, "df", "minix"),
    plain("nouid32", E),
    plain("debug", E),
    plain("user_xattr", E),
    status(
        "nouser_xattr",
        E,
        Status::Removed("rejected by current kernels (\"Unknown parameter\"); xattrs are always on"),
    ),
    status("noacl", E, Status::Removed("rejected by current kernels (\"Unknown parameter\"); ACLs are always on")),
    plain("noload", E),
    either("barrier", E, Check::Switch, "barrier", "on"),
    flag("nobarrier", E | B, "barrier", "off"),
    val("stripe", E, Check::Uint(0, U32)),
    flag("delalloc", E, "delalloc", "on"),
    flag("nodelalloc", E, "delalloc", "off"),
    flag("warn_on_error", E, "warn_on_error", "on"),
    flag("nowarn_on_error", E, "warn_on_error", "off"),
    val("max_batch_time", E, Check::Uint(0, U32)),
    val("min_batch_time", E, Check::Uint(0, U32)),
    val("inode_readahead_blks", E, Check::Pow2OrZero(1 << 30)),
    val("journal_ioprio", E, Check::Uint(0, 7)),
    either("auto_da_alloc", E, Check::Switch, "auto_da_alloc", "on"),
    flag("noauto_da_alloc", E, "auto_da_alloc", "off"),
    flag("dioread_nolock", E, "dioread", "nolock"),
    flag("nodioread_nolock", E, "dioread", "lock"),
    flag("dioread_lock", E, "dioread", "lock"),
    either("init_itable", E, Check::Uint(0, U32), "init_itable", "on"),
    flag("noinit_itable", E, "init_itable", "off"),
    val("max_dir_size_kb", E, Check::Uint(0, U32)),
    either("test_dummy_encryption", E, Check::OneOf(&["v1", "v2"]), "", ""),
    plain("inlinecrypt", E),
    plain("nombcache", E),
    plain("no_mbcache", E),
    val("mb_optimize_scan", E, Check::Uint(0, 1)),
    val("errors", E, Check::OneOf(&["continue", "remount-ro", "panic"])),
    val("data", E, Check::OneOf(&["journal", "ordered", "writeback"])),
    val("data_err", E, Check::OneOf(&["abort", "ignore"])),
    val("journal_dev", E, Check::Uint(0, U32)),
    val("journal_path", E, Check::Any),
    flag("journal_checksum", E, "journal_checksum", "on"),
    flag("nojournal_checksum", E, "journal_checksum", "off"),
    plain("journal_async_commit", E),
    val("usrjquota", E, Check::Any),
    val("grpjquota", E, Check::Any),
    val("jqfmt", E, Check::OneOf(&["vfsold", "vfsv0", "vfsv1"])),
    val("resgid", E, Check::Uint(0, U32)),
    val("resuid", E, Check::Uint(0, U32)),
    val("sb", E, Check::Uint(0, u64::MAX)),
    flag("block_validity", E, "block_validity", "on"),
    flag("noblock_validity", E, "block_validity", "off"),
    plain("abort", E),
    plain("no_prefetch_block_bitmaps", E),
    plain("fc_debug_force", E),
    val("fc_debug_max_replay", E, Check::Uint(0, U32)),
    val("debug_want_extra_isize", E, Check::Uint(0, U32)),
    status("oldalloc", E, EXT4_IGNORED),
    status("orlov", E, EXT4_IGNORED),
    status("bh", E, EXT4_IGNORED),
    status("nobh", E, EXT4_IGNORED),
    status("i_version", E, EXT4_IGNORED),
    status("prefetch_block_bitmaps", E, EXT4_IGNORED),
    status("reservation", E, EXT4_IGNORED),
    status("noreservation", E, EXT4_IGNORED),
    status("mblk_io_submit", E, EXT4_IGNORED),
    status("nomblk_io_submit", E, EXT4_IGNORED),
    status("journal", E, EXT4_IGNORED),
    // XFS.
    val("logbufs", X, Check::Uint(2, 8)),
    val("logbsize", X, Check::LogBufSize),
    val("logdev", X, Check::Any),
    val("rtdev", X, Check::Any),
    plain("wsync", X),
    plain("noalign", X),
    plain("swalloc", X),
    val("sunit", X, Check::Uint(1, U32)),
    val("swidth", X, Check::Uint(1, U32)),
    plain("nouuid", X),
    val("allocsize", X, Check::AllocSize),
    flag("inode64", X, "inode64", "on"),
    flag("inode32", X, "inode64", "off"),
    flag("largeio", X, "largeio", "on"),
    flag("nolargeio", X, "largeio", "off"),
    plain("filestreams", X),
    plain("uquota", X),
    plain("qnoenforce", X),
    plain("uqnoenforce", X),
    plain("gquota", X),
    plain("gqnoenforce", X),
    plain("pquota", X),
    plain("pqnoenforce", X),
    status("ikeep", X, XFS_DEPRECATED),
    status("noikeep", X, XFS_DEPRECATED),
    status("attr2", X, XFS_DEPRECATED),
    status("noattr2", X, XFS_DEPRECATED),
    status("barrier", X, Status::Removed("removed from XFS in Linux 4.19: the mount fails (\"Unknown parameter\")")),
    status("nobarrier", X, Status::Removed("removed from XFS in Linux 4.19: the mount fails (\"Unknown parameter\")")),
    status("osyncisdsync", X, Status::Removed("removed from XFS years ago: the mount fails")),
    status("osyncisosync", X, Status::Removed("removed from XFS years ago: the mount fails")),
    status("irixsgid", X, Status::Removed("removed from XFS years ago: the mount fails")),
    status(
        "delaylog",
        X,
        Status::Removed("removed from XFS in Linux 3.x (delayed logging is always on): the mount fails"),
    ),
    status("nodelaylog", X, Status::Removed("removed from XFS in Linux 3.x: the mount fails")),
    status("ihashsize", X, Status::Removed("removed from XFS years ago: the mount fails")),
    status("lifetime", X, Status::Newer("zoned-device option of Linux 6.15")),
    status("nolifetime", X, Status::Newer("zoned-device option of Linux 6.15")),
    status("max_open_zones", X, Status::Newer("zoned-device option of Linux 6.15")),
    status("max_atomic_write", X, Status::Newer("option of Linux 6.16")),
    // btrfs.
    flag("noacl", B, "acl", "off"),
    flag("autodefrag", B, "autodefrag", "on"),
    flag("noautodefrag", B, "autodefrag", "off"),
    flag("barrier", B, "barrier", "on"),
    plain("clear_cache", B),
    either("compress", B, Check::Compress, "compress", "zlib"),
    either("compress-force", B, Check::Compress, "compress", "force:zlib"),
    flag("datacow", B, "datacow", "on"),
    flag("nodatacow", B, "datacow", "off"),
    flag("datasum", B, "datasum", "on"),
    flag("nodatasum", B, "datasum", "off"),
    plain("degraded", B),
    val("device", B, Check::Any),
    either("discard", B, Check::OneOf(&["sync", "async"]), "discard", "sync"),
    flag("enospc_debug", B, "enospc_debug", "on"),
    flag("noenospc_debug", B, "enospc_debug", "off"),
    val("fatal_errors", B, Check::OneOf(&["bug", "panic"])),
    flag("flushoncommit", B, "flushoncommit", "on"),
    flag("noflushoncommit", B, "flushoncommit", "off"),
    val("max_inline", B, Check::Size),
    val("metadata_ratio", B, Check::Uint(0, U32)),
    plain("rescan_uuid_tree", B),
    val("rescue", B, Check::Any),
    plain("skip_balance", B),
    either("space_cache", B, Check::OneOf(&["v1", "v2"]), "space_cache", "v1"),
    flag("nospace_cache", B, "space_cache", "off"),
    flag("ssd", B, "ssd", "ssd"),
    flag("ssd_spread", B, "ssd", "ssd_spread"),
    flag("nossd", B, "ssd", "nossd"),
    flag("nossd_spread", B, "ssd", "ssd"),
    val("subvol", B, Check::Any),
    val("subvolid", B, Check::Uint(0, u64::MAX)),
    val("thread_pool", B, Check::Uint(1, U32)),
    flag("treelog", B, "treelog", "on"),
    flag("notreelog", B, "treelog", "off"),
    plain("user_subvol_rm_allowed", B),
    status("usebackuproot", B, Status::Deprecated("deprecated; write rescue=usebackuproot")),
    status("nologreplay", B, Status::Removed("rejected by current kernels; write rescue=nologreplay together with ro")),
    status("recovery", B, Status::Removed("removed from btrfs; write rescue=usebackuproot")),
    status("inode_cache", B, Status::Removed("removed from btrfs in Linux 5.11: the mount fails")),
    status("noinode_cache", B, Status::Removed("removed from btrfs in Linux 5.11: the mount fails")),
    status("alloc_start", B, Status::Removed("removed from btrfs in Linux 4.13: the mount fails")),
    status("subvolrootid", B, Status::Removed("removed from btrfs: the mount fails")),
    status("check_int", B, Status::Removed("removed from btrfs: the mount fails")),
    status("check_int_data", B, Status::Removed("removed from btrfs: the mount fails")),
    status("check_int_print_mask", B, Status::Removed("removed from btrfs: the mount fails")),
];

/// The definition of `name` for `kind`.
pub(super) fn lookup(kind: FsKind, name: &str) -> Option<&'static Def> {
    TABLE.iter().find(|def| def.name == name && def.fs & bit(kind) != 0)
}

/// The other filesystems that know `name`.
pub(super) fn owners(kind: FsKind, name: &str) -> Vec<FsKind> {
    FsKind::FILESYSTEMS
        .into_iter()
        .filter(|other| {
            *other != kind && lookup(*other, name).is_some_and(|def| !matches!(def.status, Status::Removed(_)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_name_is_defined_once_per_filesystem() {
        for kind in FsKind::FILESYSTEMS {
            for def in TABLE.iter().filter(|def| def.fs & bit(kind) != 0) {
                let count = TABLE.iter().filter(|d| d.name == def.name && d.fs & bit(kind) != 0).count();
                assert_eq!(count, 1, "{} on {kind}", def.name);
            }
        }
    }

    #[test]
    fn slots_pair_flags_with_their_negations() {
        assert_eq!(lookup(FsKind::Ext4, "nobarrier").unwrap().slot, lookup(FsKind::Ext4, "barrier").unwrap().slot);
        assert_eq!(lookup(FsKind::Btrfs, "nodatacow").unwrap().slot, "datacow");
        assert!(lookup(FsKind::Xfs, "data").is_none());
        assert_eq!(owners(FsKind::Xfs, "data"), [FsKind::Ext4]);
        assert_eq!(owners(FsKind::Ext4, "compress"), [FsKind::Btrfs]);
    }
}
