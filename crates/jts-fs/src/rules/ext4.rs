//! Rules on mke2fs arguments (e2fsprogs 1.47).

use super::Problem;
use super::mkfs_common::{flag_of, item_value, items_of, sub_of, value_of};
use crate::mkfs_args::{Token, subopt_key};

/// Features `-O` takes.
const FEATURES: &[&str] = &[
    "none",
    "has_journal",
    "ext_attr",
    "resize_inode",
    "dir_index",
    "filetype",
    "extent",
    "extents",
    "flex_bg",
    "sparse_super",
    "sparse_super2",
    "large_file",
    "huge_file",
    "uninit_bg",
    "uninit_groups",
    "gdt_csum",
    "dir_nlink",
    "extra_isize",
    "quota",
    "bigalloc",
    "metadata_csum",
    "metadata_csum_seed",
    "64bit",
    "mmp",
    "inline_data",
    "encrypt",
    "casefold",
    "fname_encoding",
    "project",
    "large_dir",
    "ea_inode",
    "journal_dev",
    "stable_inodes",
    "verity",
    "orphan_file",
    "fast_commit",
    "meta_bg",
];

/// `-E` keys and whether each takes a number.
const EXTENDED: &[(&str, bool)] = &[
    ("mmp_update_interval", true),
    ("stride", true),
    ("stripe-width", true),
    ("stripe_width", true),
    ("offset", true),
    ("resize", true),
    ("packed_meta_blocks", true),
    ("lazy_itable_init", true),
    ("lazy_journal_init", true),
    ("assume_storage_prezeroed", true),
    ("no_copy_xattrs", false),
    ("num_backup_sb", true),
    ("root_owner", false),
    ("test_fs", false),
    ("discard", false),
    ("nodiscard", false),
    ("quotatype", false),
    ("encoding", false),
    ("encoding_flags", false),
    ("orphan_file_size", false),
];

/// `-T` usage types in Debian's mke2fs.conf.
const USAGE_TYPES: &[&str] = &["floppy", "small", "default", "big", "huge", "news", "largefile", "largefile4", "hurd"];

/// The final state of feature `name` in merged arguments: `Some(true)` enabled,
/// `Some(false)` disabled with `^`, `None` left to mke2fs's default.
pub(super) fn feature(tokens: &[Token], name: &str) -> Option<bool> {
    items_of(tokens, "-O").into_iter().rev().find(|item| subopt_key(item) == name).map(|item| !item.starts_with('^'))
}

/// Whether the filesystem will have a journal (mke2fs's ext4 default is yes).
pub(super) fn has_journal(tokens: &[Token]) -> bool {
    feature(tokens, "has_journal") != Some(false)
}

fn bad(option: &str, message: impl Into<String>) -> Problem {
    Problem::error("mkfs-bad-value", option, message, "use a value from the mke2fs(8) manual page")
}

pub(super) fn check(tokens: &[Token], problems: &mut Vec<Problem>) {
    check_features(tokens, problems);
    check_extended(tokens, problems);
    check_values(tokens, problems);
    for (flag, why, fix) in [
        ("-K", "is deprecated", "write -E nodiscard"),
        ("-c", "runs a badblocks scan, which only wears an SSD and takes hours", "remove it"),
    ] {
        if let Some(raw) = flag_of(tokens, flag) {
            problems.push(Problem::warning("mkfs-deprecated", raw, format!("mke2fs's {flag} {why}"), fix));
        }
    }
    if let Some((_, raw)) = value_of(tokens, "-E").filter(|(_, raw)| raw.starts_with("-R")) {
        problems.push(Problem::warning("mkfs-deprecated", raw, "mke2fs's -R is deprecated", "write -E"));
    }
}

fn check_features(tokens: &[Token], problems: &mut Vec<Problem>) {
    for item in items_of(tokens, "-O") {
        let name = subopt_key(item);
        if !FEATURES.contains(&name) || item_value(item).is_some() {
            problems.push(unknown_suboption("-O", item, "feature"));
        }
    }
    let option = |name: &str| {
        format!("-O {}", items_of(tokens, "-O").into_iter().rev().find(|i| subopt_key(i) == name).unwrap_or(name))
    };
    if feature(tokens, "journal_dev") == Some(true) {
        problems.push(Problem::error(
            "mkfs-not-a-format",
            &option("journal_dev"),
            "makes an external journal device, not a filesystem",
            "remove journal_dev",
        ));
    }
    if !has_journal(tokens) {
        problems.push(Problem::warning(
            "ext4-no-journal",
            &option("has_journal"),
            "without a journal every crash needs a full e2fsck before the volume can be mounted, and the mount \
             options data=, commit=, journal_checksum and journal_async_commit fail",
            "remove ^has_journal",
        ));
        if let Some((_, raw)) = value_of(tokens, "-J") {
            problems.push(Problem::error(
                "ext4-journal-options-without-journal",
                raw,
                "journal options given for a filesystem without a journal",
                "remove -J, or keep the journal",
            ));
        }
    }
    if feature(tokens, "meta_bg") == Some(true) && feature(tokens, "resize_inode") != Some(false) {
        problems.push(Problem::error(
            "ext4-meta-bg-resize-inode",
            &option("meta_bg"),
            "mke2fs refuses meta_bg with resize_inode, which is on by default",
            "add ^resize_inode next to meta_bg, or remove meta_bg",
        ));
    }
    let extent_off = feature(tokens, "extent") == Some(false) || feature(tokens, "extents") == Some(false);
    for needs_extent in ["bigalloc", "64bit"] {
        if extent_off && feature(tokens, needs_extent) == Some(true) {
            problems.push(Problem::error(
                "ext4-needs-extent",
                &option(needs_extent),
                format!("mke2fs refuses {needs_extent} without the extent feature"),
                "remove ^extent",
            ));
        }
    }
    if let Some((_, raw)) = value_of(tokens, "-C").filter(|_| feature(tokens, "bigalloc") != Some(true)) {
        problems.push(Problem::error(
            "ext4-cluster-needs-bigalloc",
            raw,
            "a cluster size needs the bigalloc feature",
            "add -O bigalloc, or remove -C",
        ));
    }
}

fn unknown_suboption(flag: &str, item: &str, what: &str) -> Problem {
    Problem::error(
        "mkfs-unknown-suboption",
        &format!("{flag} {item}"),
        format!("mke2fs has no {what} {item:?}"),
        "check the spelling against the mke2fs(8) and ext4(5) manual pages",
    )
}

fn check_extended(tokens: &[Token], problems: &mut Vec<Problem>) {
    for item in items_of(tokens, "-E") {
        let key = subopt_key(item);
        match EXTENDED.iter().find(|(name, _)| *name == key) {
            None => problems.push(unknown_suboption("-E", item, "extended option")),
            Some((_, true)) => {
                if item_value(item).is_some_and(|value| value.parse::<u64>().is_err()) {
                    problems.push(bad(&format!("-E {item}"), format!("{key} takes a whole number")));
                }
            }
            Some((_, false)) => {}
        }
    }
    let number = |key| sub_of(tokens, "-E", key).and_then(|(value, item)| Some((value?.parse::<u64>().ok()?, item)));
    if let Some((count, item)) = number("num_backup_sb") {
        if count > 2 {
            problems.push(bad(&format!("-E {item}"), "num_backup_sb must be 0, 1 or 2"));
        } else if feature(tokens, "sparse_super2") != Some(true) {
            problems.push(Problem::error(
                "ext4-num-backup-sb",
                &format!("-E {item}"),
                "num_backup_sb only applies to the sparse_super2 feature",
                "add -O sparse_super2, or remove num_backup_sb",
            ));
        }
    }
    let width = number("stripe_width").or_else(|| number("stripe-width"));
    if let (Some((stride, _)), Some((width, item))) = (number("stride"), width) {
        if stride > 0 && width % stride != 0 {
            problems.push(Problem::warning(
                "ext4-stripe-width",
                &format!("-E {item}"),
                format!("the stripe width ({width}) is not a multiple of the stride ({stride})"),
                "make stripe_width = stride × number of data disks",
            ));
        }
    }
    if let (Some((_, on)), Some((_, off))) = (sub_of(tokens, "-E", "discard"), sub_of(tokens, "-E", "nodiscard")) {
        problems.push(Problem::error(
            "mkfs-contradiction",
            &format!("-E {off}"),
            format!("contradicts -E {on}"),
            "keep only one of discard and nodiscard",
        ));
    }
}

fn check_values(tokens: &[Token], problems: &mut Vec<Problem>) {
    let number = |flag| value_of(tokens, flag).map(|(value, raw)| (value.parse::<u64>().ok(), raw));
    if let Some((size, raw)) = number("-b") {
        match size {
            Some(1024 | 2048 | 4096) => {}
            Some(8192 | 16384 | 32768 | 65536) => problems.push(Problem::error(
                "ext4-block-size",
                raw,
                "blocks larger than the 4 KiB page size cannot be mounted by Debian 12's Linux 6.1",
                "use -b 4096 (the default)",
            )),
            _ => problems.push(bad(raw, "the block size must be 1024, 2048 or 4096")),
        }
    }
    if let Some((value, raw)) = value_of(tokens, "-m") {
        if value.parse::<f64>().is_ok_and(|percent| !(0.0..=50.0).contains(&percent)) {
            problems.push(bad(raw, "the reserved-blocks percentage must be between 0 and 50"));
        }
    }
    if let Some((size, raw)) = number("-I") {
        if !size.is_some_and(|size| size.is_power_of_two() && (128..=4096).contains(&size)) {
            problems.push(bad(raw, "the inode size must be a power of two from 128 to 4096"));
        }
    }
    if let Some((ratio, raw)) = number("-i") {
        if !ratio.is_some_and(|ratio| (1024..=67_108_864).contains(&ratio)) {
            problems.push(bad(raw, "bytes per inode must be between 1024 and 67108864"));
        }
    }
    if let Some((size, raw)) = number("-G") {
        if !size.is_some_and(u64::is_power_of_two) {
            problems.push(bad(raw, "the flex_bg size must be a power of two"));
        }
    }
    if let Some((value, raw)) = value_of(tokens, "-e") {
        if !["continue", "remount-ro", "panic"].contains(&value) {
            problems.push(bad(raw, "error behaviour must be continue, remount-ro or panic"));
        }
    }
    if let Some((value, raw)) = value_of(tokens, "-T") {
        if !value.split(',').all(|usage| USAGE_TYPES.contains(&usage)) {
            problems.push(Problem::warning(
                "ext4-usage-type",
                raw,
                "not a usage type of mke2fs.conf; mke2fs ignores it",
                format!("use one of {}", USAGE_TYPES.join(", ")),
            ));
        }
    }
    if let Some((value, raw)) = value_of(tokens, "-t").filter(|(value, _)| *value != "ext4") {
        problems.push(Problem::error(
            "ext4-not-ext4",
            raw,
            format!("makes {value}, not the ext4 the spec declares; jts would see drift on every run"),
            format!("remove -t, or declare filesystem = \"{value}\" if jts supports it"),
        ));
    }
    if let Some((value, raw)) = value_of(tokens, "-r").filter(|(value, _)| *value != "1") {
        problems.push(Problem::error(
            "ext4-not-ext4",
            raw,
            format!("revision {value} cannot hold ext4 features"),
            "remove -r",
        ));
    }
    for item in items_of(tokens, "-J") {
        let key = subopt_key(item);
        if !["size", "device", "location", "fast_commit_size"].contains(&key) {
            problems.push(unknown_suboption("-J", item, "journal option"));
        } else if key == "size"
            && !item_value(item).and_then(|v| v.parse::<u64>().ok()).is_some_and(|mib| (4..=40_000).contains(&mib))
        {
            problems
                .push(bad(&format!("-J {item}"), "the journal size is in MiB, from 4 to 40000 (with 4 KiB blocks)"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Severity::{Error, Warning};
    use super::super::test_util::{assert_one, opts};
    use super::*;
    use crate::kind::FsKind;
    use crate::mkfs_args::parse_args;

    fn run(args: &[&str]) -> Vec<Problem> {
        let mut problems = Vec::new();
        check(&parse_args(FsKind::Ext4, &opts(args)), &mut problems);
        problems
    }

    #[test]
    fn seed_features_are_known() {
        assert!(
            run(&["-E", "lazy_itable_init=0,lazy_journal_init=0,discard", "-O", "extent,flex_bg,sparse_super2"])
                .is_empty()
        );
    }

    #[test]
    fn unknown_features_and_extended_options_fail() {
        assert_one(&run(&["-O", "foo"]), "mkfs-unknown-suboption", "-O foo", Error);
        assert_one(&run(&["-E", "foo=1"]), "mkfs-unknown-suboption", "-E foo=1", Error);
        assert_one(&run(&["-J", "bogus=1"]), "mkfs-unknown-suboption", "-J bogus=1", Error);
    }

    #[test]
    fn no_journal_warns() {
        assert_one(&run(&["-O", "^has_journal"]), "ext4-no-journal", "-O ^has_journal", Warning);
        assert!(has_journal(&parse_args(FsKind::Ext4, &opts(&["-O", "extent"]))));
    }

    #[test]
    fn journal_options_need_a_journal() {
        let problems = run(&["-O", "^has_journal", "-J", "size=64"]);
        assert_one(&problems, "ext4-journal-options-without-journal", "-J size=64", Error);
    }

    #[test]
    fn meta_bg_needs_resize_inode_off() {
        assert_one(&run(&["-O", "meta_bg"]), "ext4-meta-bg-resize-inode", "-O meta_bg", Error);
        assert!(run(&["-O", "meta_bg,^resize_inode"]).is_empty());
    }

    #[test]
    fn bigalloc_and_64bit_need_extents() {
        assert_one(&run(&["-O", "^extent,bigalloc"]), "ext4-needs-extent", "-O bigalloc", Error);
        assert_one(&run(&["-O", "^extent,64bit"]), "ext4-needs-extent", "-O 64bit", Error);
    }

    #[test]
    fn cluster_size_needs_bigalloc() {
        assert_one(&run(&["-C", "16384"]), "ext4-cluster-needs-bigalloc", "-C 16384", Error);
        assert!(run(&["-O", "bigalloc", "-C", "16384"]).is_empty());
    }

    #[test]
    fn backup_superblock_count_needs_sparse_super2() {
        assert_one(&run(&["-E", "num_backup_sb=1"]), "ext4-num-backup-sb", "-E num_backup_sb=1", Error);
        let problems = run(&["-O", "sparse_super2", "-E", "num_backup_sb=3"]);
        assert_one(&problems, "mkfs-bad-value", "-E num_backup_sb=3", Error);
    }

    #[test]
    fn discard_and_nodiscard_contradict() {
        assert_one(&run(&["-E", "discard,nodiscard"]), "mkfs-contradiction", "-E nodiscard", Error);
    }

    #[test]
    fn stripe_width_should_be_a_multiple_of_stride() {
        let problems = run(&["-E", "stride=16,stripe_width=20"]);
        assert_one(&problems, "ext4-stripe-width", "-E stripe_width=20", Warning);
    }

    #[test]
    fn block_sizes_above_the_page_size_fail() {
        assert_one(&run(&["-b", "8192"]), "ext4-block-size", "-b 8192", Error);
        assert_one(&run(&["-b", "1000"]), "mkfs-bad-value", "-b 1000", Error);
        assert!(run(&["-b", "4096"]).is_empty());
    }

    #[test]
    fn numeric_values_are_checked() {
        for args in
            [["-m", "51"], ["-I", "64"], ["-I", "8192"], ["-i", "512"], ["-G", "3"], ["-e", "foo"], ["-J", "size=1"]]
        {
            let problems = run(&args);
            assert_eq!(problems.len(), 1, "{args:?}: {problems:?}");
            assert_eq!(problems[0].rule, "mkfs-bad-value");
        }
        assert!(run(&["-m", "0.5", "-I", "256", "-i", "65536", "-G", "16", "-e", "remount-ro"]).is_empty());
    }

    #[test]
    fn other_types_and_revisions_fail() {
        assert_one(&run(&["-t", "ext3"]), "ext4-not-ext4", "-t ext3", Error);
        assert_one(&run(&["-r", "0"]), "ext4-not-ext4", "-r 0", Error);
    }

    #[test]
    fn journal_device_is_not_a_filesystem() {
        assert_one(&run(&["-O", "journal_dev"]), "mkfs-not-a-format", "-O journal_dev", Error);
    }

    #[test]
    fn deprecated_and_slow_flags_warn() {
        assert_one(&run(&["-K"]), "mkfs-deprecated", "-K", Warning);
        assert_one(&run(&["-c"]), "mkfs-deprecated", "-c", Warning);
        assert_one(&run(&["-R", "discard"]), "mkfs-deprecated", "-R discard", Warning);
        assert_one(&run(&["-T", "foo"]), "ext4-usage-type", "-T foo", Warning);
    }
}
