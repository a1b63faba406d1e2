//! Desired versus effective mount options: what differs in a way that matters.
//!
//! Only the options the spec asks for are compared; whatever else the kernel shows
//! (`rw`, `relatime`, `seclabel`, `space_cache=v2`, `subvol=/`, NFS `addr=`) is not
//! drift. Each asked option is classified:
//!
//! - **userspace-only** (`defaults`, `auto`, `nofail`, `_netdev`, `x-*`, NFS `bg`, `intr`
//!   which the kernel ignores): never compared, the kernel does not see them;
//! - **`ro`/`rw`**: always compared, so a filesystem the kernel turned read-only after an
//!   error is drift even if the spec never said `rw`;
//! - **atime** (`noatime`, `relatime`, `strictatime`, `atime`): compared by meaning, as
//!   the kernel shows it (`atime` means strict atime);
//! - **per-mount and superblock flags** (`nodev`, `nosuid`, `noexec`, `nodiratime`,
//!   `sync`, `dirsync`, `lazytime`): present or absent;
//! - **filesystem flags**: `noX` holds when `noX` is shown or `X` is not; `X` holds when
//!   shown, or when it is the kernel's default and `noX` is not shown (ext4 `user_xattr`,
//!   `acl`, `delalloc`, `barrier`; xfs `inode64`; btrfs `datacow`, `treelog`, …);
//! - **`key=value`**: the kernel's value for the key, normalised (`compress=zstd` is
//!   `zstd:3`, `logbsize=256k` is 262144 bytes, ext4 `barrier=0` is `nobarrier`); a key
//!   the kernel does not show holds only if the value is its default (ext4 `data=ordered`,
//!   `commit=5`; btrfs `commit=30`);
//! - **NFS**: `vers=4` holds for any 4.x, `vers=4.2` (or `vers=4,minorversion=2`) only
//!   for 4.2; `rsize`/`wsize` hold when the effective value is **not larger** than asked,
//!   because the client and server clamp them down and no remount can raise them, while
//!   a larger value means the option was not applied; `hard` holds unless `soft` or
//!   `softerr` is shown; `actimeo=N` means all four attribute-cache timeouts are N.

use serde::{Deserialize, Serialize};

use crate::mountinfo::MountInfo;
use crate::spec::MountFs;

/// One asked-for option that the mount does not have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionDiff {
    /// The option as the spec writes it, e.g. `noatime` or `commit=10`.
    pub option: String,
    /// What the kernel should show.
    pub expected: String,
    /// What it shows.
    pub actual: String,
    /// Whether `mount -o remount` can change it; otherwise umount and mount are needed.
    pub remountable: bool,
}

/// Options that only mount(8), systemd or mount.nfs read; the kernel never sees them.
pub fn is_userspace_only(option: &str) -> bool {
    let name = name_of(option);
    matches!(
        name,
        "defaults"
            | "auto"
            | "noauto"
            | "nofail"
            | "_netdev"
            | "user"
            | "users"
            | "nouser"
            | "owner"
            | "group"
            | "comment"
            | "bg"
            | "fg"
            | "retry"
            | "intr"
            | "nointr"
    ) || name.starts_with("x-")
}

fn name_of(option: &str) -> &str {
    option.split_once('=').map_or(option, |(name, _)| name)
}

/// Per-mount flags the kernel shows in the mount's own options.
const MOUNT_FLAGS: [(&str, &str); 5] = [
    ("nodev", "dev"),
    ("nosuid", "suid"),
    ("noexec", "exec"),
    ("nodiratime", "diratime"),
    ("nosymfollow", "symfollow"),
];

/// Superblock flags the kernel shows in the superblock options.
const SUPER_FLAGS: [(&str, &str); 3] = [("sync", "async"), ("dirsync", ""), ("lazytime", "nolazytime")];

/// What the atime options mean, as the kernel shows it.
fn atime_meaning(option: &str) -> Option<&'static str> {
    match option {
        "noatime" => Some("noatime"),
        "relatime" | "nostrictatime" => Some("relatime"),
        "strictatime" | "atime" | "norelatime" => Some("strictatime"),
        _ => None,
    }
}

/// Flags on by default that the kernel does not show.
fn default_on(fs: MountFs, flag: &str) -> bool {
    let list: &[&str] = match fs {
        MountFs::Ext4 => {
            &["user_xattr", "acl", "delalloc", "barrier", "auto_da_alloc", "block_validity", "dioread_nolock"]
        }
        MountFs::Xfs => &["inode64", "attr2"],
        MountFs::Btrfs => &["datacow", "datasum", "barrier", "treelog", "acl"],
        MountFs::Nfs => &["hard", "cto", "ac", "lock", "sharecache", "resvport"],
    };
    list.contains(&flag)
}

/// `key=value` defaults that the kernel does not show.
fn default_value(fs: MountFs, key: &str) -> Option<&'static str> {
    match (fs, key) {
        (MountFs::Ext4, "data") => Some("ordered"),
        (MountFs::Ext4, "commit") => Some("5"),
        (MountFs::Ext4, "errors") => Some("continue"),
        (MountFs::Ext4, "journal_ioprio") => Some("3"),
        (MountFs::Ext4, "inode_readahead_blks") => Some("32"),
        (MountFs::Ext4, "max_batch_time") => Some("15000"),
        (MountFs::Ext4, "min_batch_time") => Some("0"),
        (MountFs::Ext4, "init_itable") => Some("10"),
        (MountFs::Xfs, "logbufs") => Some("8"),
        (MountFs::Btrfs, "commit") => Some("30"),
        _ => None,
    }
}

/// Options that `mount -o remount` can change on a mounted filesystem.
pub(crate) fn remountable(fs: MountFs, option: &str) -> bool {
    let name = name_of(option);
    let vfs = matches!(name, "ro" | "rw" | "sync" | "async" | "dirsync" | "lazytime" | "nolazytime")
        || atime_meaning(name).is_some()
        || MOUNT_FLAGS.iter().any(|(off, on)| name == *off || name == *on);
    vfs || match fs {
        MountFs::Ext4 => matches!(
            name,
            "commit"
                | "errors"
                | "barrier"
                | "nobarrier"
                | "discard"
                | "nodiscard"
                | "data_err"
                | "max_batch_time"
                | "min_batch_time"
                | "init_itable"
                | "noinit_itable"
                | "auto_da_alloc"
                | "noauto_da_alloc"
                | "journal_ioprio"
                | "inode_readahead_blks"
                | "block_validity"
                | "noblock_validity"
        ),
        MountFs::Btrfs => matches!(
            name,
            "compress"
                | "compress-force"
                | "autodefrag"
                | "noautodefrag"
                | "commit"
                | "discard"
                | "nodiscard"
                | "ssd"
                | "nossd"
                | "ssd_spread"
                | "nossd_spread"
                | "flushoncommit"
                | "noflushoncommit"
                | "datacow"
                | "nodatacow"
                | "datasum"
                | "nodatasum"
                | "max_inline"
                | "thread_pool"
                | "barrier"
                | "nobarrier"
                | "treelog"
                | "notreelog"
                | "metadata_ratio"
                | "fatal_errors"
        ),
        MountFs::Xfs | MountFs::Nfs => false,
    }
}

/// A filesystem option rewritten to the form the kernel shows.
fn normalise(fs: MountFs, option: &str) -> String {
    let Some((key, value)) = option.split_once('=') else {
        return match (fs, option) {
            (MountFs::Ext4, "bsdgroups") => "grpid".into(),
            (MountFs::Ext4, "sysvgroups") => "nogrpid".into(),
            (MountFs::Ext4, "dioread_lock") => "nodioread_nolock".into(),
            (MountFs::Ext4, "init_itable") => "init_itable=10".into(),
            (MountFs::Btrfs, "compress") => "compress=zlib:3".into(),
            (MountFs::Btrfs, "compress-force") => "compress-force=zlib:3".into(),
            _ => option.to_owned(),
        };
    };
    match (fs, key) {
        (MountFs::Ext4, "barrier" | "auto_da_alloc") => {
            if value == "0" {
                format!("no{key}")
            } else {
                key.to_owned()
            }
        }
        (MountFs::Btrfs, "compress" | "compress-force") => format!("{key}={}", compress_value(value)),
        (MountFs::Xfs, "logbsize" | "allocsize") | (MountFs::Btrfs, "max_inline") => {
            format!("{key}={}", parse_size(value).map_or_else(|| value.to_owned(), |bytes| bytes.to_string()))
        }
        (MountFs::Nfs, "nfsvers") => format!("vers={value}"),
        _ => option.to_owned(),
    }
}

fn compress_value(value: &str) -> String {
    match value.split_once(':') {
        Some((algorithm, "0")) => format!("{algorithm}:3"),
        Some(_) => value.to_owned(),
        None if matches!(value, "zstd" | "zlib") => format!("{value}:3"),
        None => value.to_owned(),
    }
}

/// `2048`, `64k`, `1m`, `1g` in bytes.
fn parse_size(text: &str) -> Option<u64> {
    let (digits, shift) = match text.char_indices().last()? {
        (i, 'k' | 'K') => (&text[..i], 10),
        (i, 'm' | 'M') => (&text[..i], 20),
        (i, 'g' | 'G') => (&text[..i], 30),
        _ => (text, 0),
    };
    digits.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// The effective filesystem options, normalised like the desired ones.
fn effective(fs: MountFs, mount: &MountInfo) -> Vec<String> {
    mount.super_options.iter().map(|option| normalise(fs, option)).collect()
}

fn value_of<'a>(options: &'a [String], key: &str) -> Option<&'a str> {
    options.iter().rev().find_map(|option| option.strip_prefix(key)?.strip_prefix('='))
}

/// Compares what the spec asks (`desired`, as mounted: preset merged) with a mount.
///
/// ```
/// use jts_mounts::{MountFs, MountInfo, compare_options};
/// let mount = MountInfo::parse("45 27 0:39 / /data/warm rw,noatime - btrfs /dev/sda2 rw,compress=zstd:3,ssd").unwrap();
/// let asked: Vec<String> = ["compress=zstd", "noatime", "_netdev"].map(String::from).into();
/// assert!(compare_options(MountFs::Btrfs, &asked, &mount).is_empty());
/// let diffs = compare_options(MountFs::Btrfs, &["autodefrag".into()], &mount);
/// assert_eq!((diffs[0].option.as_str(), diffs[0].actual.as_str()), ("autodefrag", "absent"));
/// ```
pub fn compare_options(fs: MountFs, desired: &[String], mount: &MountInfo) -> Vec<OptionDiff> {
    let mut diffs = Vec::new();
    let fs_options = effective(fs, mount);
    let mut diff = |option: &str, expected: String, actual: String| {
        diffs.push(OptionDiff { option: option.to_owned(), expected, actual, remountable: remountable(fs, option) });
    };
    let want_ro = desired.iter().rev().find(|o| matches!(o.as_str(), "ro" | "rw")).is_some_and(|o| o == "ro");
    if want_ro != mount.read_only() {
        let (expected, actual) = if want_ro { ("ro", "rw") } else { ("rw", "ro") };
        diff(expected, expected.to_owned(), actual.to_owned());
    }
    if let Some(option) = desired.iter().rev().find(|o| atime_meaning(o).is_some()) {
        let shown = ["noatime", "relatime"].into_iter().find(|flag| mount.mount_options.iter().any(|o| o == flag));
        let actual = shown.unwrap_or("strictatime");
        let expected = atime_meaning(option).unwrap_or_default();
        if expected != actual {
            diff(option, expected.to_owned(), actual.to_owned());
        }
    }
    let mut nfs_version_done = false;
    for option in desired.iter().filter(|o| !is_userspace_only(o)) {
        let name = name_of(option);
        if matches!(name, "ro" | "rw") || atime_meaning(name).is_some() {
            continue;
        }
        let flag_check = |shown: &[String], off: &str, on: &str| -> Option<(String, String)> {
            let present = shown.iter().any(|o| o == off);
            match (name == off, present) {
                (true, false) => Some((off.to_owned(), "absent".to_owned())),
                (false, true) if name == on => Some((format!("no {off}"), off.to_owned())),
                _ => None,
            }
        };
        if let Some((off, on)) = MOUNT_FLAGS.iter().find(|(off, on)| name == *off || name == *on) {
            if let Some((expected, actual)) = flag_check(&mount.mount_options, off, on) {
                diff(option, expected, actual);
            }
            continue;
        }
        if let Some((off, on)) = SUPER_FLAGS.iter().find(|(off, on)| name == *off || (!on.is_empty() && name == *on)) {
            if let Some((expected, actual)) = flag_check(&mount.super_options, off, on) {
                diff(option, expected, actual);
            }
            continue;
        }
        if fs == MountFs::Nfs {
            if let Some((expected, actual)) = compare_nfs(option, desired, &fs_options, &mut nfs_version_done) {
                diff(option, expected, actual);
            }
            continue;
        }
        if let Some((expected, actual)) = compare_generic(fs, option, &fs_options) {
            diff(option, expected, actual);
        }
    }
    diffs
}

/// Compares one filesystem option; `Some((expected, actual))` when it does not hold.
fn compare_generic(fs: MountFs, option: &str, shown: &[String]) -> Option<(String, String)> {
    let wanted = normalise(fs, option);
    match wanted.split_once('=') {
        None if shown.contains(&wanted) => None,
        None => match wanted.strip_prefix("no") {
            // Off by request, on by default, and not shown as off: the default holds.
            Some(positive) if default_on(fs, positive) => Some((wanted.clone(), positive.to_owned())),
            Some(positive) => {
                let actual = shown.iter().find(|o| name_of(o) == positive)?;
                Some((wanted.clone(), actual.clone()))
            }
            None if shown.contains(&format!("no{wanted}")) => Some((wanted.clone(), format!("no{wanted}"))),
            None if default_on(fs, &wanted) => None,
            None => Some((wanted, "absent".to_owned())),
        },
        Some((key, value)) => match value_of(shown, key) {
            Some(actual) if actual == value => None,
            Some(actual) => Some((wanted.clone(), format!("{key}={actual}"))),
            None if (fs, key, value) == (MountFs::Btrfs, "compress", "no") => None,
            None if default_value(fs, key) == Some(value) => None,
            None => Some((wanted.clone(), "absent".to_owned())),
        },
    }
}

/// Compares one NFS option with the rules of the module documentation.
fn compare_nfs(
    option: &str,
    desired: &[String],
    shown: &[String],
    version_done: &mut bool,
) -> Option<(String, String)> {
    let wanted = normalise(MountFs::Nfs, option);
    let (key, value) = wanted.split_once('=').unwrap_or((wanted.as_str(), ""));
    let actual = |key: &str| value_of(shown, key).map_or_else(|| "absent".to_owned(), |v| format!("{key}={v}"));
    match key {
        "vers" | "minorversion" => {
            if std::mem::replace(version_done, true) {
                return None;
            }
            let expected = nfs_version(desired)?;
            let shown_version = value_of(shown, "vers").unwrap_or("");
            let holds = if expected == "4" {
                shown_version.starts_with("4")
            } else {
                shown_version == expected || shown_version == format!("{expected}.0")
            };
            (!holds).then(|| (format!("vers={expected}"), actual("vers")))
        }
        "rsize" | "wsize" => {
            let asked = value.parse::<u64>().ok()?;
            let larger = value_of(shown, key).and_then(|v| v.parse::<u64>().ok()).is_some_and(|v| v > asked);
            larger.then(|| (format!("{key}<={asked}"), actual(key)))
        }
        "hard" => shown
            .iter()
            .find(|o| matches!(o.as_str(), "soft" | "softerr"))
            .map(|soft| ("hard".to_owned(), soft.clone())),
        "actimeo" => ["acregmin", "acregmax", "acdirmin", "acdirmax"]
            .into_iter()
            .find(|k| value_of(shown, k).is_some_and(|v| v != value))
            .map(|k| (format!("{k}={value}"), actual(k))),
        _ => compare_generic(MountFs::Nfs, option, shown),
    }
}

/// The NFS version asked: `4.2`, `4` (any 4.x), `3`; from `vers`/`nfsvers` and `minorversion`.
fn nfs_version(desired: &[String]) -> Option<String> {
    let version = desired.iter().rev().find_map(|o| o.strip_prefix("vers=").or_else(|| o.strip_prefix("nfsvers=")));
    let minor = desired.iter().rev().find_map(|o| o.strip_prefix("minorversion="));
    match (version, minor) {
        (Some("4") | None, Some(minor)) => Some(format!("4.{minor}")),
        (Some(version), _) => Some(version.to_owned()),
        (None, None) => None,
    }
}

/// The options a mount made with `desired` shows, as `(mount options, superblock
/// options)`: what [`compare_options`] accepts. Used to simulate a mount or remount.
pub fn simulated_options(fs: MountFs, desired: &[String]) -> (Vec<String>, Vec<String>) {
    let ro = desired.iter().rev().find(|o| matches!(o.as_str(), "ro" | "rw")).map_or("rw", String::as_str);
    let mut mount = vec![ro.to_owned()];
    let mut superblock = vec![ro.to_owned()];
    match desired.iter().rev().find_map(|o| atime_meaning(o)).unwrap_or("relatime") {
        "strictatime" => {}
        shown => mount.push(shown.to_owned()),
    }
    for option in desired.iter().filter(|o| !is_userspace_only(o)) {
        let name = name_of(option);
        if matches!(name, "ro" | "rw") || atime_meaning(name).is_some() {
            continue;
        }
        if MOUNT_FLAGS.iter().any(|(off, _)| name == *off) {
            push_once(&mut mount, option.clone());
        } else if SUPER_FLAGS.iter().any(|(off, _)| name == *off) {
            push_once(&mut superblock, option.clone());
        } else if let Some((off, _)) = MOUNT_FLAGS.iter().chain(&SUPER_FLAGS).find(|(_, on)| name == *on) {
            mount.retain(|o| o != off);
            superblock.retain(|o| o != off);
        } else {
            simulate_fs_option(fs, option, desired, &mut superblock);
        }
    }
    (mount, superblock)
}

fn simulate_fs_option(fs: MountFs, option: &str, desired: &[String], superblock: &mut Vec<String>) {
    let wanted = normalise(fs, option);
    let key = name_of(&wanted).to_owned();
    if fs == MountFs::Nfs && matches!(key.as_str(), "vers" | "minorversion") {
        let version = nfs_version(desired).unwrap_or_default();
        let shown = if version == "4" { "4.2".to_owned() } else { version };
        superblock.retain(|o| name_of(o) != "vers");
        superblock.push(format!("vers={shown}"));
        return;
    }
    if fs == MountFs::Nfs && key == "actimeo" {
        let value = wanted.split_once('=').map_or("", |(_, v)| v);
        for k in ["acregmin", "acregmax", "acdirmin", "acdirmax"] {
            superblock.retain(|o| name_of(o) != k);
            superblock.push(format!("{k}={value}"));
        }
        return;
    }
    // A later option for the same thing replaces an earlier one, as in the kernel.
    let positive = key.strip_prefix("no").unwrap_or(&key).to_owned();
    superblock.retain(|o| {
        let name = name_of(o);
        name != key && name != positive && name.strip_prefix("no") != Some(positive.as_str())
    });
    superblock.push(wanted);
}

fn push_once(options: &mut Vec<String>, option: String) {
    if !options.contains(&option) {
        options.push(option);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::mountinfo::{mount_at, parse_mountinfo};

    const SNAPSHOT: &str = include_str!("../tests/fixtures/mountinfo/loop-ext4-xfs-btrfs.txt");
    const VARIANTS: &str = include_str!("../tests/fixtures/mountinfo/variants.txt");

    fn opts(list: &[&str]) -> Vec<String> {
        list.iter().map(|o| (*o).to_owned()).collect()
    }

    fn captured(path: &str) -> MountInfo {
        mount_at(&parse_mountinfo(SNAPSHOT).unwrap(), path).unwrap().clone()
    }

    fn variant(index: usize) -> MountInfo {
        parse_mountinfo(VARIANTS).unwrap()[index].clone()
    }

    fn options_of(diffs: &[OptionDiff]) -> Vec<&str> {
        diffs.iter().map(|d| d.option.as_str()).collect()
    }

    #[test]
    fn real_ext4_mount_matches_what_was_asked() {
        let pg = captured("/tmp/mi/m/pg data");
        let asked = opts(&["defaults", "noatime", "data=ordered", "commit=10", "errors=remount-ro", "nodev", "nosuid"]);
        assert_eq!(compare_options(MountFs::Ext4, &asked, &pg), []);
        assert_eq!(compare_options(MountFs::Ext4, &opts(&["discard", "user_xattr", "barrier=1", "rw"]), &pg), []);
        let diffs = compare_options(MountFs::Ext4, &opts(&["relatime", "commit=5", "noexec", "nodiscard"]), &pg);
        assert_eq!(options_of(&diffs), ["relatime", "commit=5", "noexec", "nodiscard"]);
        assert_eq!((diffs[1].expected.as_str(), diffs[1].actual.as_str()), ("commit=5", "commit=10"));
        assert!(diffs.iter().all(|d| d.remountable));
    }

    #[test]
    fn kernel_defaults_that_are_not_shown_are_not_drift() {
        // Mounted with no options at all: `rw,relatime` and `rw`.
        let plain = variant(3);
        let asked = opts(&["data=ordered", "commit=5", "barrier=1", "delalloc", "acl", "user_xattr"]);
        assert_eq!(compare_options(MountFs::Ext4, &asked, &plain), []);
        let diffs = compare_options(MountFs::Ext4, &opts(&["data=writeback", "noatime", "discard"]), &plain);
        assert_eq!(options_of(&diffs), ["noatime", "data=writeback", "discard"]);
        assert!(!diffs[1].remountable, "data= cannot change on remount");
    }

    #[test]
    fn ext4_read_only_and_journal_variant() {
        let ro = variant(2);
        let asked = opts(&["ro", "strictatime", "data=journal", "barrier=0", "sync", "nodelalloc"]);
        assert_eq!(compare_options(MountFs::Ext4, &asked, &ro), []);
        let diffs = compare_options(MountFs::Ext4, &opts(&["noatime"]), &ro);
        assert_eq!(options_of(&diffs), ["rw", "noatime"], "a read-only mount is drift even unasked");
    }

    #[test]
    fn real_xfs_mount_and_its_sizes() {
        let xfs = captured("/tmp/mi/m/xfs");
        let asked = opts(&["noatime", "logbufs=8", "logbsize=256k", "inode64", "largeio", "swalloc", "nodiscard"]);
        assert_eq!(compare_options(MountFs::Xfs, &asked, &xfs), []);
        let diffs = compare_options(MountFs::Xfs, &opts(&["logbsize=64k", "inode32"]), &variant(4));
        assert_eq!(options_of(&diffs), ["logbsize=64k", "inode32"]);
        assert!(diffs.iter().all(|d| !d.remountable));
    }

    #[test]
    fn atime_drift_after_remount_strictatime() {
        // `mount -o remount,strictatime` on the noatime xfs mount shows neither flag.
        let diffs = compare_options(MountFs::Xfs, &opts(&["noatime"]), &variant(5));
        assert_eq!(diffs.len(), 1);
        assert_eq!((diffs[0].expected.as_str(), diffs[0].actual.as_str()), ("noatime", "strictatime"));
        assert!(diffs[0].remountable);
    }

    #[test]
    fn real_btrfs_mount_normalises_compression() {
        let warm = captured("/tmp/mi/m/warm");
        for asked in [&["compress=zstd:3"][..], &["compress=zstd"], &["compress=zstd:0", "autodefrag", "ssd"]] {
            assert_eq!(compare_options(MountFs::Btrfs, &opts(asked), &warm), [], "{asked:?}");
        }
        let diffs = compare_options(MountFs::Btrfs, &opts(&["compress=zstd:1", "commit=60", "nodatacow"]), &warm);
        assert_eq!(options_of(&diffs), ["compress=zstd:1", "commit=60", "nodatacow"]);
        assert_eq!(diffs[2].expected, "nodatacow");
        assert_eq!(compare_options(MountFs::Btrfs, &opts(&["commit=60", "lazytime"]), &variant(0)), []);
        assert_eq!(compare_options(MountFs::Btrfs, &opts(&["commit=30"]), &warm), []);
    }

    #[test]
    fn btrfs_nodatacow_disables_compression_and_that_is_drift() {
        // Asked for compress-force=zstd:1 with nodatacow: the kernel drops compression.
        let diffs = compare_options(MountFs::Btrfs, &opts(&["compress-force=zstd:1", "nodatacow"]), &variant(1));
        assert_eq!(options_of(&diffs), ["compress-force=zstd:1"]);
    }

    fn nfs(super_options: &str) -> MountInfo {
        MountInfo::parse(&format!("50 27 0:52 / /mnt/cold rw,relatime - nfs4 127.0.0.1:/ {super_options}")).unwrap()
    }

    #[test]
    fn nfs_sizes_clamped_by_the_server_are_not_drift() {
        let mount = nfs(
            "rw,vers=4.2,rsize=524288,wsize=524288,namlen=255,hard,proto=tcp,timeo=600,retrans=2,sec=sys,clientaddr=127.0.0.1,local_lock=none,addr=127.0.0.1",
        );
        let asked = opts(&["vers=4.2", "hard", "timeo=600", "retrans=2", "rsize=1048576", "wsize=1048576", "_netdev"]);
        assert_eq!(compare_options(MountFs::Nfs, &asked, &mount), []);
        assert_eq!(compare_options(MountFs::Nfs, &opts(&["vers=4"]), &mount), []);
        assert_eq!(compare_options(MountFs::Nfs, &opts(&["nfsvers=4", "minorversion=2"]), &mount), []);
        let diffs = compare_options(MountFs::Nfs, &opts(&["rsize=65536", "vers=4.1", "timeo=50", "soft"]), &mount);
        assert_eq!(options_of(&diffs), ["rsize=65536", "vers=4.1", "timeo=50", "soft"]);
        assert_eq!(diffs[0].expected, "rsize<=65536");
        assert!(diffs.iter().all(|d| !d.remountable));
    }

    #[test]
    fn nfs_soft_shown_breaks_hard_and_actimeo_expands() {
        let mount = nfs("rw,vers=4.2,soft,acregmin=30,acregmax=30,acdirmin=30,acdirmax=60");
        let diffs = compare_options(MountFs::Nfs, &opts(&["hard", "actimeo=30"]), &mount);
        assert_eq!(options_of(&diffs), ["hard", "actimeo=30"]);
        assert_eq!(diffs[1].actual, "acdirmax=60");
    }

    fn asked_for(fs: MountFs) -> Vec<&'static str> {
        let common =
            ["noatime", "relatime", "strictatime", "nodev", "nosuid", "noexec", "sync", "lazytime", "ro", "rw"];
        let own: &[&str] = match fs {
            MountFs::Ext4 => &["commit=10", "data=journal", "barrier=0", "discard", "nodelalloc", "errors=remount-ro"],
            MountFs::Xfs => &["logbufs=4", "logbsize=64k", "largeio", "inode32", "swalloc", "allocsize=1m"],
            MountFs::Btrfs => &["compress=zstd", "compress-force=lzo", "autodefrag", "nodatacow", "ssd", "commit=60"],
            MountFs::Nfs => &["vers=4.2", "minorversion=1", "hard", "noac", "rsize=65536", "actimeo=5", "timeo=50"],
        };
        common.into_iter().chain(own.iter().copied()).chain(["_netdev", "nofail", "defaults"]).collect()
    }

    proptest! {
        /// What a mount simulated from the asked options shows always satisfies them:
        /// the convergence property of the planner rests on it.
        #[test]
        fn a_simulated_mount_shows_no_drift(
            fs in prop::sample::select(vec![MountFs::Ext4, MountFs::Xfs, MountFs::Btrfs, MountFs::Nfs]),
            picks in prop::collection::vec(0usize..32, 0..8),
        ) {
            let pool = asked_for(fs);
            let asked: Vec<String> = picks.iter().map(|i| pool[i % pool.len()].to_owned()).collect();
            let (mount_options, super_options) = simulated_options(fs, &asked);
            let mount = MountInfo {
                mount_id: 1, parent_id: 0, major: 0, minor: 1, root: "/".into(), mount_point: "/x".into(),
                mount_options, optional_fields: vec![], fstype: "x".into(), source: "x".into(), super_options,
            };
            prop_assert_eq!(compare_options(fs, &asked, &mount), vec![]);
        }
    }
}
