//! Rules on mount options alone.

use std::collections::BTreeMap;

use super::mount_table::{Arg, COMMIT_MAX, Check, Def, Status, lookup, owners};
use super::{Problem, parse_binary_size};
use crate::kind::FsKind;

/// One mount option, split.
#[derive(Debug, Clone, Copy)]
pub(super) struct MountOpt<'a> {
    /// As written.
    pub raw: &'a str,
    /// Before `=`.
    pub name: &'a str,
    /// After `=`.
    pub value: Option<&'a str>,
    /// Its definition for the filesystem, if it has one.
    pub def: Option<&'static Def>,
}

/// Splits options; the ones that are not well-formed words are left out.
pub(super) fn parse(kind: FsKind, options: &[String]) -> Vec<MountOpt<'_>> {
    options
        .iter()
        .filter(|raw| well_formed(raw))
        .map(|raw| {
            let (name, value) = match raw.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (raw.as_str(), None),
            };
            MountOpt { raw, name, value, def: lookup(kind, name) }
        })
        .collect()
}

fn well_formed(option: &str) -> bool {
    !option.is_empty() && !option.contains(',') && !option.chars().any(char::is_whitespace)
}

/// The last option named `name`.
pub(super) fn last<'a>(opts: &[MountOpt<'a>], name: &str) -> Option<MountOpt<'a>> {
    opts.iter().rev().find(|opt| opt.name == name).copied()
}

/// Whether any option is named `name`.
pub(super) fn has(opts: &[MountOpt<'_>], name: &str) -> bool {
    opts.iter().any(|opt| opt.name == name)
}

/// The setting an option controls, for merging a spec's options over a preset's: two
/// options with the same slot set the same thing.
pub(crate) fn mount_slot(kind: FsKind, option: &str) -> &str {
    let name = option.split_once('=').map_or(option, |(name, _)| name);
    match lookup(kind, name) {
        Some(def) if !def.slot.is_empty() => def.slot,
        _ => name,
    }
}

/// What an option sets its slot to.
fn meaning(def: &Def, value: Option<&str>) -> String {
    match value {
        None => def.meaning.to_owned(),
        Some(value) if def.check == Check::Switch => if value == "0" { "off" } else { "on" }.to_owned(),
        Some(value) if def.name == "compress-force" => format!("force:{value}"),
        Some(value) => value.to_owned(),
    }
}

pub(super) fn check(kind: FsKind, options: &[String]) -> Vec<Problem> {
    let mut problems = Vec::new();
    if kind == FsKind::None {
        for option in options {
            problems.push(Problem::error(
                "mount-raw-volume",
                option,
                "a raw volume (filesystem = \"none\") is not mounted",
                "remove mount_options, or declare a filesystem",
            ));
        }
        return problems;
    }
    for option in options.iter().filter(|option| !well_formed(option)) {
        problems.push(Problem::error(
            "mount-not-one-word",
            option,
            "each mount option must be one word without spaces or commas",
            "write one option per list item, e.g. [\"noatime\", \"commit=10\"]",
        ));
    }
    let opts = parse(kind, options);
    for opt in &opts {
        check_one(kind, opt, &mut problems);
    }
    check_contradictions(&opts, &mut problems);
    check_semantics(kind, &opts, &mut problems);
    problems
}

fn check_one(kind: FsKind, opt: &MountOpt<'_>, problems: &mut Vec<Problem>) {
    if opt.name.starts_with("x-") {
        return;
    }
    let Some(def) = opt.def else {
        let others = owners(kind, opt.name);
        problems.push(match others.first() {
            Some(other) => Problem::error(
                "mount-other-filesystem",
                opt.raw,
                format!("is a {other} option; {kind} refuses it (\"Unknown parameter\")"),
                format!("remove it, or use the {kind} equivalent"),
            ),
            None => Problem::error(
                "mount-unknown",
                opt.raw,
                format!("{kind} has no such mount option; the mount would fail"),
                format!("check the spelling against the {kind}(5) manual page"),
            ),
        });
        return;
    };
    match def.status {
        Status::Ok => {}
        Status::Ignored(why) => {
            problems.push(Problem::warning("mount-ignored", opt.raw, why, "remove it: it has no effect"));
            return;
        }
        Status::Deprecated(why) => {
            problems.push(Problem::warning("mount-deprecated", opt.raw, why, "remove it before the kernel does"));
            return;
        }
        Status::Removed(why) => {
            problems.push(Problem::error("mount-removed", opt.raw, why, "remove it"));
            return;
        }
        Status::Newer(why) => {
            problems.push(Problem::error(
                "mount-needs-newer-kernel",
                opt.raw,
                format!("{why}; Debian 12's Linux 6.1 refuses it"),
                "remove it while hosts run kernels older than that",
            ));
            return;
        }
        Status::Action => {
            problems.push(Problem::error(
                "mount-not-in-spec",
                opt.raw,
                "is a mount(8) action, not a filesystem option",
                "remove it: jts decides how to mount",
            ));
            return;
        }
    }
    let bad = |message: String, fix: &str| Problem::error("mount-bad-value", opt.raw, message, fix);
    match (def.arg, opt.value) {
        (Arg::Flag, Some(_)) => problems.push(bad(format!("{} takes no value", def.name), "write it without `=`")),
        (Arg::Value, None) => problems.push(bad(format!("{} needs a value", def.name), "write it as name=value")),
        (_, Some(value)) => {
            if let Err(reason) = check_value(def.check, value) {
                problems.push(bad(
                    format!("{value:?} is not a valid {}: {reason}", def.name),
                    "use a value from the manual page",
                ));
            }
        }
        _ => {}
    }
}

fn check_value(check: Check, value: &str) -> Result<(), String> {
    let number = || value.parse::<u64>().map_err(|_| "not a whole number".to_owned());
    match check {
        Check::Any => Ok(()),
        Check::Uint(min, max) => {
            let n = number()?;
            if (min..=max).contains(&n) { Ok(()) } else { Err(format!("must be between {min} and {max}")) }
        }
        Check::Switch => number().map(drop),
        Check::OneOf(choices) => {
            if choices.contains(&value) {
                Ok(())
            } else {
                Err(format!("must be one of {}", choices.join(", ")))
            }
        }
        Check::Pow2OrZero(max) => {
            let n = number()?;
            if (n == 0 || n.is_power_of_two()) && n <= max {
                Ok(())
            } else {
                Err(format!("must be 0 or a power of two up to {max}"))
            }
        }
        Check::Size => parse_binary_size(value).map(drop).ok_or_else(|| "not a size such as 2048 or 4k".to_owned()),
        Check::AllocSize => match parse_binary_size(value) {
            Some(bytes) if (4096..=1 << 30).contains(&bytes) => Ok(()),
            _ => Err("must be a size between 4k and 1g".to_owned()),
        },
        Check::LogBufSize => match parse_binary_size(value) {
            Some(bytes) if [16, 32, 64, 128, 256].map(|k| k << 10).contains(&bytes) => Ok(()),
            _ => Err("must be 16k, 32k, 64k, 128k or 256k".to_owned()),
        },
        Check::Compress => {
            let algorithm = value.split_once(':').map_or(value, |(algorithm, _)| algorithm);
            if ["zlib", "lzo", "zstd", "no", "none"].contains(&algorithm) {
                Ok(())
            } else {
                Err("the algorithm must be zlib, lzo, zstd or no".to_owned())
            }
        }
    }
}

fn check_contradictions(opts: &[MountOpt<'_>], problems: &mut Vec<Problem>) {
    let mut seen: BTreeMap<&str, (String, &str)> = BTreeMap::new();
    for opt in opts {
        let Some(def) = opt.def.filter(|def| !def.slot.is_empty() && def.status == Status::Ok) else { continue };
        let now = meaning(def, opt.value);
        match seen.get(def.slot) {
            Some((before, first)) if *before != now => problems.push(Problem::error(
                "mount-contradiction",
                opt.raw,
                format!("contradicts {first}; the kernel silently keeps whichever comes last"),
                format!("keep only one of {first} and {}", opt.raw),
            )),
            Some((_, first)) => problems.push(Problem::warning(
                "mount-duplicate",
                opt.raw,
                format!("sets the same as {first}"),
                "write it once",
            )),
            None => {
                seen.insert(def.slot, (now, opt.raw));
            }
        }
    }
}

fn check_semantics(kind: FsKind, opts: &[MountOpt<'_>], problems: &mut Vec<Problem>) {
    for opt in opts.iter().filter(|opt| opt.def.is_some_and(|def| def.status == Status::Ok)) {
        barrier_off(kind, opt, problems);
        match (kind, opt.name, opt.value) {
            (FsKind::Ext4, "data", Some("writeback")) => problems.push(Problem::warning(
                "ext4-data-writeback",
                opt.raw,
                "after a crash, recently written files may hold stale blocks of deleted files instead of zeros",
                "use data=ordered (the default) unless every writer fsyncs and tolerates garbage tails",
            )),
            (_, "dax", None | Some("always")) => problems.push(Problem::error(
                "mount-dax",
                opt.raw,
                "DAX needs a persistent-memory (pmem) device; NVMe, SATA and LVM volumes refuse the mount",
                "remove it",
            )),
            (_, "commit", Some(value)) if value.parse::<u64>().is_ok_and(|n| n > 300 && n <= COMMIT_MAX) => {
                problems.push(Problem::warning(
                    "mount-commit-long",
                    opt.raw,
                    "more than five minutes of metadata can be lost in a crash",
                    "use commit=300 or less",
                ));
            }
            (FsKind::Xfs, "allocsize", Some(value))
                if parse_binary_size(value).is_some_and(|bytes| !bytes.is_power_of_two()) =>
            {
                problems.push(Problem::warning(
                    "xfs-allocsize-rounded",
                    opt.raw,
                    "the kernel rounds allocsize down to a power of two",
                    "write a power of two such as 1m or 64m",
                ));
            }
            (FsKind::Btrfs, "compress" | "compress-force", Some(value)) => compress_level(opt.raw, value, problems),
            _ => {}
        }
    }
    ext4_journal_modes(kind, opts, problems);
    needs_read_only(kind, opts, problems);
    xfs_stripe(kind, opts, problems);
    btrfs_nocow_compress(kind, opts, problems);
}

fn barrier_off(kind: FsKind, opt: &MountOpt<'_>, problems: &mut Vec<Problem>) {
    let off = match (kind, opt.name, opt.value) {
        (FsKind::Ext4, "barrier", Some(value)) => value == "0",
        (FsKind::Ext4 | FsKind::Btrfs, "nobarrier", None) => true,
        _ => false,
    };
    if off {
        problems.push(Problem::warning(
            "mount-barrier-off",
            opt.raw,
            "turns off cache flushes: a power loss can lose data fsync reported durable and corrupt the journal; \
             drives with power-loss protection already skip the flushes",
            "remove it",
        ));
    }
}

fn compress_level(raw: &str, value: &str, problems: &mut Vec<Problem>) {
    let Some((algorithm, level)) = value.split_once(':') else { return };
    let range = match algorithm {
        "zstd" => 1..=15,
        "zlib" => 1..=9,
        "lzo" => {
            problems.push(Problem::warning(
                "btrfs-compress-level",
                raw,
                "lzo has no levels; the kernel ignores the level",
                "write compress=lzo",
            ));
            return;
        }
        _ => return,
    };
    let fix = format!("write {algorithm}:N with N from {} to {}", range.start(), range.end());
    match level.parse::<i64>() {
        Ok(0) => problems.push(Problem::warning(
            "btrfs-compress-level",
            raw,
            format!("level 0 means the default level, {algorithm}:3"),
            format!("write {algorithm}:3"),
        )),
        Ok(n) if n < 0 && algorithm == "zstd" => problems.push(Problem::error(
            "btrfs-compress-level",
            raw,
            "negative zstd levels need Linux 6.15; Debian 12's 6.1 silently uses level 3",
            fix,
        )),
        Ok(n) if range.contains(&n) => {}
        Ok(_) => problems.push(Problem::error(
            "btrfs-compress-level",
            raw,
            "out of range: the kernel silently clamps it, so the mount never matches the spec",
            fix,
        )),
        Err(_) => problems.push(Problem::error("btrfs-compress-level", raw, "the level is not a number", fix)),
    }
}

fn ext4_journal_modes(kind: FsKind, opts: &[MountOpt<'_>], problems: &mut Vec<Problem>) {
    if kind != FsKind::Ext4 {
        return;
    }
    let data = last(opts, "data").and_then(|opt| opt.value).unwrap_or("ordered");
    if let Some(opt) = last(opts, "journal_async_commit").filter(|_| data == "ordered") {
        problems.push(Problem::error(
            "ext4-async-commit-ordered",
            opt.raw,
            "the kernel refuses journal_async_commit in data=ordered mode (the default)",
            "remove journal_async_commit (journal_checksum gives checksummed commits without the risk)",
        ));
    }
    if data != "journal" {
        return;
    }
    if let Some(opt) = last(opts, "delalloc") {
        problems.push(Problem::error(
            "ext4-data-journal-delalloc",
            opt.raw,
            "the kernel refuses delalloc with data=journal",
            "remove delalloc, or use data=ordered",
        ));
    }
    if let Some(opt) = last(opts, "dioread_nolock") {
        problems.push(Problem::warning(
            "ext4-data-journal-ignores",
            opt.raw,
            "data=journal silently turns dioread_nolock off",
            "remove dioread_nolock",
        ));
    }
}

fn needs_read_only(kind: FsKind, opts: &[MountOpt<'_>], problems: &mut Vec<Problem>) {
    let read_only = opts.iter().rev().find(|opt| matches!(opt.name, "ro" | "rw")).is_some_and(|opt| opt.name == "ro");
    if kind == FsKind::Ext4 || read_only {
        return;
    }
    for opt in opts {
        let needs_ro = opt.name == "norecovery" || (opt.name == "rescue" && opt.value != Some("usebackuproot"));
        if needs_ro {
            problems.push(Problem::error(
                "mount-needs-ro",
                opt.raw,
                format!("{kind} mounts without log recovery only read-only"),
                "add ro, or remove it",
            ));
        }
    }
}

fn xfs_stripe(kind: FsKind, opts: &[MountOpt<'_>], problems: &mut Vec<Problem>) {
    if kind != FsKind::Xfs {
        return;
    }
    let number =
        |name| last(opts, name).and_then(|opt| opt.value.and_then(|v| v.parse::<u64>().ok()).map(|n| (opt, n)));
    match (number("sunit"), number("swidth")) {
        (Some((opt, _)), None) | (None, Some((opt, _))) => problems.push(Problem::error(
            "xfs-sunit-swidth",
            opt.raw,
            "XFS needs sunit and swidth together",
            "give both, in 512-byte sectors, swidth a multiple of sunit",
        )),
        (Some((_, sunit)), Some((opt, swidth))) if swidth % sunit != 0 => problems.push(Problem::error(
            "xfs-sunit-swidth",
            opt.raw,
            format!("the stripe width ({swidth}) must be a multiple of the stripe unit ({sunit})"),
            "make swidth = sunit × number of data disks",
        )),
        _ => {}
    }
}

fn btrfs_nocow_compress(kind: FsKind, opts: &[MountOpt<'_>], problems: &mut Vec<Problem>) {
    if kind != FsKind::Btrfs {
        return;
    }
    let compress = opts.iter().find(|opt| matches!(opt.name, "compress" | "compress-force") && opt.value != Some("no"));
    let Some(compress) = compress else { return };
    for opt in opts.iter().filter(|opt| matches!(opt.name, "nodatacow" | "nodatasum")) {
        problems.push(Problem::error(
            "btrfs-nodatacow-compress",
            opt.raw,
            format!("{} and {} cancel each other: the kernel keeps whichever comes last", opt.raw, compress.raw),
            "choose one: compression needs copy-on-write and checksums",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::Severity::{Error, Warning};
    use super::super::test_util::{assert_one, opts, rules};
    use super::*;

    fn run(kind: FsKind, options: &[&str]) -> Vec<Problem> {
        check(kind, &opts(options))
    }

    #[test]
    fn raw_volume_has_no_mount_options() {
        assert_one(&run(FsKind::None, &["noatime"]), "mount-raw-volume", "noatime", Error);
        assert!(run(FsKind::None, &[]).is_empty());
    }

    #[test]
    fn options_are_single_words() {
        assert_one(&run(FsKind::Ext4, &["noatime,nodev"]), "mount-not-one-word", "noatime,nodev", Error);
        assert_one(&run(FsKind::Ext4, &["data= ordered"]), "mount-not-one-word", "data= ordered", Error);
    }

    #[test]
    fn options_of_another_filesystem_are_named() {
        let problems = run(FsKind::Ext4, &["largeio", "logbsize=256k"]);
        assert_eq!(rules(&problems), ["mount-other-filesystem", "mount-other-filesystem"]);
        assert!(problems[0].message.contains("xfs option"), "{}", problems[0].message);
        assert_one(&run(FsKind::Xfs, &["data=ordered"]), "mount-other-filesystem", "data=ordered", Error);
        assert_one(&run(FsKind::Xfs, &["compress=zstd"]), "mount-other-filesystem", "compress=zstd", Error);
    }

    #[test]
    fn unknown_options_fail() {
        assert_one(&run(FsKind::Btrfs, &["noatimes"]), "mount-unknown", "noatimes", Error);
        assert!(run(FsKind::Btrfs, &["x-systemd.requires=network.target", "_netdev", "nofail"]).is_empty());
    }

    #[test]
    fn removed_options_fail() {
        for option in ["nobarrier", "barrier", "delaylog", "osyncisdsync"] {
            assert_one(&run(FsKind::Xfs, &[option]), "mount-removed", option, Error);
        }
        for option in ["noacl", "nouser_xattr"] {
            assert_one(&run(FsKind::Ext4, &[option]), "mount-removed", option, Error);
        }
        for option in ["inode_cache", "alloc_start=1", "nologreplay", "recovery"] {
            assert_one(&run(FsKind::Btrfs, &[option]), "mount-removed", option, Error);
        }
    }

    #[test]
    fn ignored_and_deprecated_options_warn() {
        for option in ["nobh", "bh", "orlov", "i_version"] {
            assert_one(&run(FsKind::Ext4, &[option]), "mount-ignored", option, Warning);
        }
        for option in ["attr2", "ikeep"] {
            assert_one(&run(FsKind::Xfs, &[option]), "mount-deprecated", option, Warning);
        }
        assert_one(&run(FsKind::Btrfs, &["usebackuproot"]), "mount-deprecated", "usebackuproot", Warning);
    }

    #[test]
    fn options_newer_than_debian_12_fail() {
        assert_one(
            &run(FsKind::Xfs, &["max_atomic_write=64k"]),
            "mount-needs-newer-kernel",
            "max_atomic_write=64k",
            Error,
        );
    }

    #[test]
    fn mount_actions_are_not_options() {
        assert_one(&run(FsKind::Ext4, &["remount"]), "mount-not-in-spec", "remount", Error);
    }

    #[test]
    fn values_are_checked() {
        for (kind, option) in [
            (FsKind::Ext4, "commit=-1"),
            (FsKind::Ext4, "commit=100000000"),
            (FsKind::Ext4, "journal_ioprio=8"),
            (FsKind::Ext4, "inode_readahead_blks=3"),
            (FsKind::Ext4, "errors=foo"),
            (FsKind::Ext4, "data=unordered"),
            (FsKind::Ext4, "noatime=1"),
            (FsKind::Ext4, "data"),
            (FsKind::Xfs, "logbufs=9"),
            (FsKind::Xfs, "logbsize=512k"),
            (FsKind::Xfs, "logbsize=24k"),
            (FsKind::Xfs, "allocsize=2g"),
            (FsKind::Btrfs, "compress=foo"),
            (FsKind::Btrfs, "discard=foo"),
            (FsKind::Btrfs, "space_cache=v3"),
        ] {
            assert_one(&run(kind, &[option]), "mount-bad-value", option, Error);
        }
        assert!(run(FsKind::Xfs, &["logbsize=262144", "logbufs=8", "allocsize=64m"]).is_empty());
        assert!(
            run(FsKind::Ext4, &["inode_readahead_blks=64", "commit=0", "barrier=1", "errors=remount-ro"]).is_empty()
        );
    }

    #[test]
    fn contradictory_pairs_fail() {
        for (kind, pair) in [
            (FsKind::Ext4, ["discard", "nodiscard"]),
            (FsKind::Ext4, ["data=ordered", "data=writeback"]),
            (FsKind::Ext4, ["noatime", "relatime"]),
            (FsKind::Ext4, ["barrier", "nobarrier"]),
            (FsKind::Xfs, ["inode32", "inode64"]),
            (FsKind::Xfs, ["ro", "rw"]),
            (FsKind::Btrfs, ["compress=zstd:3", "compress-force=zstd:3"]),
            (FsKind::Btrfs, ["ssd", "nossd"]),
        ] {
            assert_one(&run(kind, &pair), "mount-contradiction", pair[1], Error);
        }
        assert!(run(FsKind::Ext4, &["barrier", "barrier=1"]).iter().all(|p| p.rule == "mount-duplicate"));
        assert!(run(FsKind::Btrfs, &["discard", "discard=sync"]).iter().all(|p| p.rule == "mount-duplicate"));
    }

    #[test]
    fn duplicates_warn() {
        assert_one(&run(FsKind::Ext4, &["noatime", "noatime"]), "mount-duplicate", "noatime", Warning);
    }

    #[test]
    fn barriers_off_warn() {
        assert_one(&run(FsKind::Ext4, &["barrier=0"]), "mount-barrier-off", "barrier=0", Warning);
        assert_one(&run(FsKind::Ext4, &["nobarrier"]), "mount-barrier-off", "nobarrier", Warning);
        assert_one(&run(FsKind::Btrfs, &["nobarrier"]), "mount-barrier-off", "nobarrier", Warning);
    }

    #[test]
    fn ext4_writeback_warns() {
        assert_one(&run(FsKind::Ext4, &["data=writeback"]), "ext4-data-writeback", "data=writeback", Warning);
    }

    #[test]
    fn ext4_async_commit_needs_writeback_or_journal() {
        let problems = run(FsKind::Ext4, &["journal_async_commit"]);
        assert_one(&problems, "ext4-async-commit-ordered", "journal_async_commit", Error);
        assert_eq!(rules(&run(FsKind::Ext4, &["data=ordered", "journal_async_commit"])), ["ext4-async-commit-ordered"]);
        assert!(run(FsKind::Ext4, &["data=journal", "journal_async_commit"]).is_empty());
        assert!(run(FsKind::Ext4, &["data=journal", "journal_checksum"]).is_empty());
    }

    #[test]
    fn ext4_data_journal_conflicts() {
        assert_one(&run(FsKind::Ext4, &["data=journal", "delalloc"]), "ext4-data-journal-delalloc", "delalloc", Error);
        let problems = run(FsKind::Ext4, &["data=journal", "dioread_nolock"]);
        assert_one(&problems, "ext4-data-journal-ignores", "dioread_nolock", Warning);
    }

    #[test]
    fn dax_needs_pmem() {
        assert_one(&run(FsKind::Ext4, &["dax"]), "mount-dax", "dax", Error);
        assert_one(&run(FsKind::Xfs, &["dax=always"]), "mount-dax", "dax=always", Error);
        assert!(run(FsKind::Xfs, &["dax=never"]).is_empty());
    }

    #[test]
    fn long_commit_intervals_warn() {
        assert_one(&run(FsKind::Btrfs, &["commit=301"]), "mount-commit-long", "commit=301", Warning);
    }

    #[test]
    fn recovery_off_needs_read_only() {
        assert_one(&run(FsKind::Xfs, &["norecovery"]), "mount-needs-ro", "norecovery", Error);
        assert_one(&run(FsKind::Btrfs, &["rescue=nologreplay"]), "mount-needs-ro", "rescue=nologreplay", Error);
        assert!(run(FsKind::Xfs, &["ro", "norecovery"]).is_empty());
        assert!(run(FsKind::Btrfs, &["rescue=usebackuproot"]).is_empty());
    }

    #[test]
    fn xfs_stripe_options_come_in_pairs() {
        assert_one(&run(FsKind::Xfs, &["sunit=128"]), "xfs-sunit-swidth", "sunit=128", Error);
        assert_one(&run(FsKind::Xfs, &["sunit=128", "swidth=100"]), "xfs-sunit-swidth", "swidth=100", Error);
        assert!(run(FsKind::Xfs, &["sunit=128", "swidth=256"]).is_empty());
    }

    #[test]
    fn xfs_allocsize_is_rounded() {
        assert_one(&run(FsKind::Xfs, &["allocsize=3m"]), "xfs-allocsize-rounded", "allocsize=3m", Warning);
    }

    #[test]
    fn btrfs_compression_levels() {
        assert!(run(FsKind::Btrfs, &["compress=zstd:15"]).is_empty());
        assert!(run(FsKind::Btrfs, &["compress=zlib:9"]).is_empty());
        for option in ["compress=zstd:16", "compress=zstd:-1", "compress=zlib:10", "compress-force=zstd:x"] {
            assert_one(&run(FsKind::Btrfs, &[option]), "btrfs-compress-level", option, Error);
        }
        assert_one(&run(FsKind::Btrfs, &["compress=zstd:0"]), "btrfs-compress-level", "compress=zstd:0", Warning);
        assert_one(&run(FsKind::Btrfs, &["compress=lzo:3"]), "btrfs-compress-level", "compress=lzo:3", Warning);
    }

    #[test]
    fn btrfs_nodatacow_cancels_compression() {
        let problems = run(FsKind::Btrfs, &["nodatacow", "compress=zstd"]);
        assert_one(&problems, "btrfs-nodatacow-compress", "nodatacow", Error);
        assert!(run(FsKind::Btrfs, &["nodatacow", "compress=no"]).is_empty());
    }

    #[test]
    fn slots_for_merging() {
        assert_eq!(mount_slot(FsKind::Ext4, "relatime"), "atime");
        assert_eq!(mount_slot(FsKind::Ext4, "data=journal"), "data");
        assert_eq!(mount_slot(FsKind::Btrfs, "compress-force=zstd"), "compress");
        assert_eq!(mount_slot(FsKind::Ext4, "frobnicate=1"), "frobnicate");
    }
}
