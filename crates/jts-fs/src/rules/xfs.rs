//! Rules on mkfs.xfs arguments (xfsprogs 6.1).

use super::mkfs_common::{item_value, items_of, sub_of};
use super::{Problem, parse_binary_size};
use crate::mkfs_args::{Token, subopt_key};

/// The sub-options of each section, and whether each is a 0/1 switch.
const SECTIONS: &[(&str, &[(&str, bool)])] = &[
    ("-b", &[("size", false)]),
    ("-c", &[("options", false)]),
    (
        "-m",
        &[
            ("crc", true),
            ("finobt", true),
            ("uuid", false),
            ("rmapbt", true),
            ("reflink", true),
            ("inobtcount", true),
            ("bigtime", true),
        ],
    ),
    (
        "-d",
        &[
            ("agcount", false),
            ("agsize", false),
            ("file", true),
            ("name", false),
            ("size", false),
            ("sunit", false),
            ("su", false),
            ("swidth", false),
            ("sw", false),
            ("noalign", true),
            ("sectsize", false),
            ("cowextsize", false),
            ("extszinherit", false),
            ("daxinherit", true),
            ("projinherit", false),
            ("rtinherit", true),
        ],
    ),
    (
        "-i",
        &[
            ("perblock", false),
            ("size", false),
            ("maxpct", false),
            ("align", true),
            ("attr", false),
            ("projid32bit", true),
            ("sparse", true),
            ("nrext64", true),
        ],
    ),
    (
        "-l",
        &[
            ("agnum", false),
            ("internal", true),
            ("size", false),
            ("logdev", false),
            ("version", false),
            ("sunit", false),
            ("su", false),
            ("sectsize", false),
            ("lazy-count", true),
            ("file", true),
            ("name", false),
        ],
    ),
    ("-n", &[("size", false), ("version", false), ("ftype", true)]),
    (
        "-r",
        &[("extsize", false), ("size", false), ("rtdev", false), ("noalign", true), ("file", true), ("name", false)],
    ),
    ("-s", &[("size", false)]),
];

/// The smallest internal log current mkfs.xfs makes on a filesystem of 300 MiB or more.
pub(super) const LOG_MIN: u64 = 64 << 20;
/// The largest log mkfs.xfs accepts.
pub(super) const LOG_MAX: u64 = 2038 << 20;

/// The switch `flag key` as set in merged arguments (`crc=1` → `Some(true)`).
fn switch(tokens: &[Token], flag: &str, key: &str) -> Option<bool> {
    sub_of(tokens, flag, key).map(|(value, _)| value != Some("0"))
}

/// Whether the filesystem will be V5 (CRC-enabled), the default.
pub(super) fn crc(tokens: &[Token]) -> bool {
    switch(tokens, "-m", "crc") != Some(false)
}

/// The block size in bytes (default 4096).
pub(super) fn block_size(tokens: &[Token]) -> u64 {
    sub_of(tokens, "-b", "size").and_then(|(value, _)| parse_binary_size(value?)).unwrap_or(4096)
}

/// A size sub-option in bytes: plain bytes, k/m/g/t suffixes, `s` sectors, `b` blocks.
pub(super) fn size_of(tokens: &[Token], flag: &str, key: &str) -> Option<(u64, String)> {
    let (value, item) = sub_of(tokens, flag, key)?;
    let value = value?;
    let bytes = if let Some(sectors) = value.strip_suffix('s') {
        sectors.parse::<u64>().ok()?.checked_mul(512)?
    } else if let Some(blocks) = value.strip_suffix('b').filter(|v| v.parse::<u64>().is_ok()) {
        blocks.parse::<u64>().ok()?.checked_mul(block_size(tokens))?
    } else {
        parse_binary_size(value)?
    };
    Some((bytes, format!("{flag} {item}")))
}

/// A whole-number sub-option.
pub(super) fn number_of(tokens: &[Token], flag: &str, key: &str) -> Option<(u64, String)> {
    let (value, item) = sub_of(tokens, flag, key)?;
    Some((value?.parse().ok()?, format!("{flag} {item}")))
}

/// Whether directory entries will lack file types (`-n ftype=0`, only possible with `crc=0`).
pub(super) fn ftype_off(tokens: &[Token]) -> bool {
    switch(tokens, "-n", "ftype") == Some(false)
}

/// Whether the data section gets a stripe geometry (`su`/`sw` or `sunit`/`swidth`).
pub(super) fn has_stripe(tokens: &[Token]) -> bool {
    ["su", "sw", "sunit", "swidth"].iter().any(|key| sub_of(tokens, "-d", key).is_some())
}

/// The log stripe unit in bytes, if set.
pub(super) fn log_stripe(tokens: &[Token]) -> Option<(u64, String)> {
    size_of(tokens, "-l", "su").or_else(|| number_of(tokens, "-l", "sunit").map(|(n, raw)| (n * 512, raw)))
}

fn bad(option: &str, message: impl Into<String>) -> Problem {
    Problem::error("mkfs-bad-value", option, message, "use a value from the mkfs.xfs(8) manual page")
}

pub(super) fn check(tokens: &[Token], problems: &mut Vec<Problem>) {
    check_suboptions(tokens, problems);
    check_stripe(tokens, problems);
    check_features(tokens, problems);
    check_log(tokens, problems);
    check_devices(tokens, problems);
    if let (Some((_, count)), Some((_, size))) = (sub_of(tokens, "-d", "agcount"), sub_of(tokens, "-d", "agsize")) {
        problems.push(Problem::error(
            "xfs-agcount-agsize",
            &format!("-d {size}"),
            format!("mkfs.xfs refuses both -d {count} and -d {size}"),
            "give only agcount (or only agsize)",
        ));
    }
    if let Some((value, item)) = sub_of(tokens, "-b", "size") {
        let size = value.and_then(parse_binary_size);
        let option = format!("-b {item}");
        match size {
            Some(size) if size.is_power_of_two() && size > 4096 && size <= 65536 => problems.push(Problem::error(
                "xfs-block-size",
                &option,
                "blocks larger than the 4 KiB page size mount only on Linux 6.12 and newer; Debian 12's 6.1 refuses",
                "use -b size=4096 (the default)",
            )),
            Some(size) if size.is_power_of_two() && size < 1024 && crc(tokens) => problems.push(Problem::error(
                "xfs-block-size",
                &option,
                "CRC-enabled XFS needs blocks of at least 1024 bytes",
                "use -b size=4096 (the default)",
            )),
            Some(size) if size.is_power_of_two() && (512..=65536).contains(&size) => {}
            _ => problems.push(bad(&option, "the block size must be a power of two from 512 to 65536")),
        }
    }
}

fn check_suboptions(tokens: &[Token], problems: &mut Vec<Problem>) {
    for (flag, keys) in SECTIONS {
        for item in items_of(tokens, flag) {
            let key = subopt_key(item);
            let option = format!("{flag} {item}");
            match keys.iter().find(|(name, _)| *name == key) {
                None => problems.push(Problem::error(
                    "mkfs-unknown-suboption",
                    &option,
                    format!("mkfs.xfs has no {flag} {key}"),
                    "check the spelling against the mkfs.xfs(8) manual page",
                )),
                Some((_, true)) if !matches!(item_value(item), None | Some("0" | "1")) => {
                    problems.push(bad(&option, format!("{key} is a switch: 0 or 1")));
                }
                Some(_) => {}
            }
        }
    }
    if let Some((value, raw)) = number_of(tokens, "-i", "maxpct").filter(|(value, _)| *value > 100) {
        problems.push(bad(&raw, format!("maxpct {value} is above 100")));
    }
    for key in ["agcount", "sw"] {
        if let Some((value, item)) = sub_of(tokens, "-d", key) {
            if value.and_then(|v| v.parse::<u64>().ok()).is_none_or(|n| n < 1) {
                problems.push(bad(&format!("-d {item}"), format!("{key} must be a whole number of at least 1")));
            }
        }
    }
}

fn check_stripe(tokens: &[Token], problems: &mut Vec<Problem>) {
    let block = block_size(tokens);
    let su = size_of(tokens, "-d", "su");
    let sw = number_of(tokens, "-d", "sw");
    let sunit = number_of(tokens, "-d", "sunit");
    let swidth = number_of(tokens, "-d", "swidth");
    let pair = |a: &Option<(u64, String)>, b: &Option<(u64, String)>, names: &str| match (a, b) {
        (Some((_, raw)), None) | (None, Some((_, raw))) => Some(Problem::error(
            "xfs-stripe-pair",
            raw,
            format!("mkfs.xfs needs {names} together"),
            format!("give both {names}, or neither"),
        )),
        _ => None,
    };
    problems.extend(pair(&su, &sw, "su and sw"));
    problems.extend(pair(&sunit, &swidth, "sunit and swidth"));
    if let (Some((_, raw)), true) = (&su, sunit.is_some() || swidth.is_some()) {
        problems.push(Problem::error(
            "xfs-stripe-both-forms",
            raw,
            "mkfs.xfs refuses su/sw together with sunit/swidth",
            "use su and sw only",
        ));
    }
    if let Some((bytes, raw)) = &su {
        if bytes % block != 0 {
            problems.push(Problem::error(
                "xfs-stripe-alignment",
                raw,
                format!("the stripe unit ({bytes} bytes) is not a multiple of the block size ({block})"),
                "use the RAID chunk size, a multiple of 4k",
            ));
        }
    }
    if let (Some((unit, _)), Some((width, raw))) = (&sunit, &swidth) {
        if (unit * 512) % block != 0 || *unit == 0 || width % unit != 0 {
            problems.push(Problem::error(
                "xfs-stripe-alignment",
                raw,
                format!("sunit ({unit}) must be a multiple of the block size in 512-byte sectors, and swidth of sunit"),
                "give sunit = chunk size / 512 and swidth = sunit × data disks",
            ));
        }
    }
    if let Some((_, raw)) = su.as_ref().or(sunit.as_ref()) {
        problems.push(Problem::warning(
            "xfs-stripe-without-raid",
            raw,
            "sets a RAID stripe geometry; an LV on one NVMe has no stripe, so this only constrains allocation",
            "remove it, unless the device is a RAID or striped LV: then su = chunk size, sw = data disks",
        ));
    }
}

fn check_features(tokens: &[Token], problems: &mut Vec<Problem>) {
    let v5 = crc(tokens);
    if !v5 {
        let (_, item) = sub_of(tokens, "-m", "crc").unwrap_or((None, "crc=0"));
        problems.push(Problem::error(
            "xfs-v4-format",
            &format!("-m {item}"),
            "the V4 format (crc=0) is deprecated, and kernels built without CONFIG_XFS_SUPPORT_V4 (this host's \
             6.18 among them) refuse to mount it",
            "remove crc=0",
        ));
        for feature in ["finobt", "rmapbt", "reflink", "bigtime", "inobtcount"] {
            if let Some((_, item)) = sub_of(tokens, "-m", feature).filter(|(value, _)| *value != Some("0")) {
                problems.push(Problem::error(
                    "xfs-needs-crc",
                    &format!("-m {item}"),
                    format!("mkfs.xfs refuses {feature} without CRC support (crc=0)"),
                    "remove crc=0",
                ));
            }
        }
    }
    if switch(tokens, "-m", "inobtcount") == Some(true) && switch(tokens, "-m", "finobt") == Some(false) {
        problems.push(Problem::error(
            "xfs-inobtcount-finobt",
            "-m inobtcount=1",
            "mkfs.xfs refuses inode btree counters without finobt",
            "remove finobt=0",
        ));
    }
    if let Some((size, raw)) = size_of(tokens, "-i", "size") {
        if !size.is_power_of_two() || size > 2048 || size < if v5 { 512 } else { 256 } {
            problems.push(Problem::error(
                "xfs-inode-size",
                &raw,
                "the inode size must be a power of two from 512 (256 without CRCs) to 2048",
                "use -i size=512 (the default)",
            ));
        }
    }
    if let (true, Some((Some("0"), item))) = (v5, sub_of(tokens, "-n", "ftype")) {
        problems.push(Problem::error(
            "xfs-ftype",
            &format!("-n {item}"),
            "ftype is always on for CRC-enabled filesystems; mkfs.xfs refuses ftype=0",
            "remove ftype=0",
        ));
    }
}

fn check_log(tokens: &[Token], problems: &mut Vec<Problem>) {
    if let (true, Some((Some("1"), item))) = (crc(tokens), sub_of(tokens, "-l", "version")) {
        problems.push(Problem::error(
            "xfs-log-version",
            &format!("-l {item}"),
            "CRC-enabled XFS always has a version 2 log; mkfs.xfs refuses version=1",
            "remove version=1",
        ));
    }
    if let Some((bytes, raw)) = log_stripe(tokens) {
        if bytes % block_size(tokens) != 0 || bytes > 256 << 10 {
            problems.push(Problem::error(
                "xfs-log-stripe",
                &raw,
                "the log stripe unit must be a multiple of the block size and at most 256 KiB",
                "use su=32k to su=256k, or remove it",
            ));
        }
    }
    if let Some((bytes, raw)) = size_of(tokens, "-l", "size") {
        if !(LOG_MIN..=LOG_MAX).contains(&bytes) {
            problems.push(Problem::error(
                "xfs-log-size",
                &raw,
                "current mkfs.xfs makes internal logs from 64 MiB to 2038 MiB",
                "use a size between 64m and 2038m, or let mkfs.xfs choose",
            ));
        }
    }
}

fn check_devices(tokens: &[Token], problems: &mut Vec<Problem>) {
    for (flag, key) in
        [("-d", "name"), ("-d", "file"), ("-l", "logdev"), ("-l", "name"), ("-l", "file"), ("-r", "rtdev")]
    {
        if let Some((_, item)) = sub_of(tokens, flag, key).filter(|(value, _)| *value != Some("0")) {
            problems.push(Problem::error(
                "xfs-external-device",
                &format!("{flag} {item}"),
                "jts formats exactly the declared device; external log, realtime or file targets are not mounted by jts",
                "remove it",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Severity::{Error, Warning};
    use super::super::test_util::{assert_one, opts, rules};
    use super::*;
    use crate::kind::FsKind;
    use crate::mkfs_args::parse_args;

    fn run(args: &[&str]) -> Vec<Problem> {
        let mut problems = Vec::new();
        check(&parse_args(FsKind::Xfs, &opts(args)), &mut problems);
        problems
    }

    #[test]
    fn unknown_suboptions_and_bad_switches_fail() {
        assert_one(&run(&["-d", "agcnt=4"]), "mkfs-unknown-suboption", "-d agcnt=4", Error);
        assert_one(&run(&["-m", "crc=2"]), "mkfs-bad-value", "-m crc=2", Error);
        assert_one(&run(&["-i", "maxpct=101"]), "mkfs-bad-value", "-i maxpct=101", Error);
        assert_one(&run(&["-d", "agcount=0"]), "mkfs-bad-value", "-d agcount=0", Error);
    }

    #[test]
    fn stripe_unit_and_width_come_together() {
        assert_one(&run(&["-d", "su=64k"]), "xfs-stripe-pair", "-d su=64k", Error);
        assert_one(&run(&["-d", "sw=1"]), "xfs-stripe-pair", "-d sw=1", Error);
        assert_one(&run(&["-d", "sunit=128"]), "xfs-stripe-pair", "-d sunit=128", Error);
    }

    #[test]
    fn stripe_forms_do_not_mix() {
        let problems = run(&["-d", "su=64k,sw=1,sunit=128,swidth=128"]);
        assert_one(&problems, "xfs-stripe-both-forms", "-d su=64k", Error);
    }

    #[test]
    fn stripe_must_align_to_blocks() {
        assert_one(&run(&["-d", "su=6k,sw=1"]), "xfs-stripe-alignment", "-d su=6k", Error);
        assert_one(&run(&["-d", "sunit=100,swidth=100"]), "xfs-stripe-alignment", "-d swidth=100", Error);
        assert_one(&run(&["-d", "su=64k,sw=0"]), "mkfs-bad-value", "-d sw=0", Error);
    }

    #[test]
    fn stripe_without_raid_warns() {
        assert_eq!(rules(&run(&["-d", "su=64k,sw=1"])), ["xfs-stripe-without-raid"]);
        assert_one(&run(&["-d", "su=64k,sw=1"]), "xfs-stripe-without-raid", "-d su=64k", Warning);
    }

    #[test]
    fn agcount_and_agsize_exclude_each_other() {
        assert_one(&run(&["-d", "agcount=4,agsize=64m"]), "xfs-agcount-agsize", "-d agsize=64m", Error);
    }

    #[test]
    fn v5_features_need_crc() {
        for feature in ["reflink=1", "finobt=1", "rmapbt=1", "bigtime=1"] {
            let args = ["-m", &format!("crc=0,{feature}")].map(str::to_owned);
            let mut problems = Vec::new();
            check(&parse_args(FsKind::Xfs, &args), &mut problems);
            assert_one(&problems, "xfs-needs-crc", &format!("-m {feature}"), Error);
            assert_one(&problems, "xfs-v4-format", "-m crc=0", Error);
        }
        assert!(run(&["-m", "crc=1,reflink=1,rmapbt=1"]).is_empty());
    }

    #[test]
    fn inobtcount_needs_finobt() {
        assert_one(&run(&["-m", "finobt=0,inobtcount=1"]), "xfs-inobtcount-finobt", "-m inobtcount=1", Error);
    }

    #[test]
    fn inode_size_and_ftype_follow_crc() {
        assert_one(&run(&["-i", "size=256"]), "xfs-inode-size", "-i size=256", Error);
        assert!(run(&["-i", "size=1024"]).is_empty());
        assert_one(&run(&["-n", "ftype=0"]), "xfs-ftype", "-n ftype=0", Error);
        assert_eq!(rules(&run(&["-m", "crc=0", "-n", "ftype=0", "-i", "size=256"])), ["xfs-v4-format"]);
    }

    #[test]
    fn log_version_size_and_stripe() {
        assert_one(&run(&["-l", "version=1"]), "xfs-log-version", "-l version=1", Error);
        assert_one(&run(&["-l", "su=512k"]), "xfs-log-stripe", "-l su=512k", Error);
        assert_one(&run(&["-l", "su=6k"]), "xfs-log-stripe", "-l su=6k", Error);
        assert_one(&run(&["-l", "size=4m"]), "xfs-log-size", "-l size=4m", Error);
        assert_one(&run(&["-l", "size=2040m"]), "xfs-log-size", "-l size=2040m", Error);
        assert!(run(&["-l", "size=2038m,su=256k"]).is_empty());
    }

    #[test]
    fn block_sizes() {
        assert_one(&run(&["-b", "size=65536"]), "xfs-block-size", "-b size=65536", Error);
        assert_one(&run(&["-b", "size=512"]), "xfs-block-size", "-b size=512", Error);
        assert_one(&run(&["-b", "size=3000"]), "mkfs-bad-value", "-b size=3000", Error);
        assert!(run(&["-b", "size=2048"]).is_empty());
    }

    #[test]
    fn external_devices_are_refused() {
        assert_one(&run(&["-l", "logdev=/dev/sdc"]), "xfs-external-device", "-l logdev=/dev/sdc", Error);
        assert_one(&run(&["-d", "name=/dev/sdb"]), "xfs-external-device", "-d name=/dev/sdb", Error);
    }

    #[test]
    fn sizes_in_sectors_and_blocks() {
        let tokens = parse_args(FsKind::Xfs, &opts(&["-l", "size=2048b", "-d", "su=128s"]));
        assert_eq!(size_of(&tokens, "-l", "size").unwrap().0, 8 << 20);
        assert_eq!(size_of(&tokens, "-d", "su").unwrap().0, 64 << 10);
    }
}
