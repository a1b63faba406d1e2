//! Rules on the device size: minimums of each mkfs, and XFS allocation-group geometry.

use super::mkfs_common::value_of;
use super::xfs::{LOG_MIN, number_of, size_of};
use jts_core::human_bytes;

use super::{Problem, ext4, parse_binary_size};
use crate::kind::FsKind;
use crate::mkfs_args::Token;

/// Below this mke2fs leaves out the journal (and below ~112 KiB it fails).
const EXT4_MIN: u64 = 2 << 20;
/// Above this ext4 needs the 64bit feature.
const EXT4_MAX_32BIT: u64 = 16 << 40;
/// xfsprogs 5.19 and newer refuse smaller filesystems.
const XFS_MIN: u64 = 300 << 20;
/// btrfs-progs 6.2's minimum for one device with default profiles (114294784 bytes).
const BTRFS_MIN: u64 = 109 << 20;
/// The smallest XFS allocation group.
const XFS_AG_MIN: u64 = 16 << 20;
/// The largest XFS allocation group.
const XFS_AG_MAX: u64 = 1 << 40;
/// Room an allocation group needs besides the internal log (headers and btree roots).
const XFS_AG_OVERHEAD: u64 = 1 << 20;

fn too_small(kind: FsKind, size: u64, min: u64, why: &str) -> Problem {
    Problem::error(
        "size-too-small",
        "device size",
        format!("{} is too small for {kind}: {why}", human_bytes(size)),
        format!("give the volume at least {}", human_bytes(min)),
    )
}

pub(super) fn check(kind: FsKind, tokens: &[Token], size: u64, problems: &mut Vec<Problem>) {
    match kind {
        FsKind::Ext4 => {
            if size < EXT4_MIN {
                problems.push(too_small(kind, size, EXT4_MIN, "mke2fs leaves out the journal below 2 MiB"));
            }
            if size > EXT4_MAX_32BIT && ext4::feature(tokens, "64bit") == Some(false) {
                problems.push(Problem::error(
                    "ext4-64bit-needed",
                    "-O ^64bit",
                    format!("ext4 without 64bit addresses at most 16 TiB; the device has {}", human_bytes(size)),
                    "remove ^64bit",
                ));
            }
        }
        FsKind::Xfs => {
            if size < XFS_MIN {
                problems.push(too_small(kind, size, XFS_MIN, "mkfs.xfs refuses filesystems under 300 MiB"));
            }
            xfs_geometry(tokens, size, problems);
        }
        FsKind::Btrfs => {
            if size < BTRFS_MIN {
                problems.push(too_small(kind, size, BTRFS_MIN, "mkfs.btrfs needs 114294784 bytes per device"));
            }
            if let Some((bytes, raw)) = value_of(tokens, "-b").and_then(|(v, raw)| Some((parse_binary_size(v)?, raw))) {
                if bytes > size {
                    problems.push(Problem::error(
                        "size-exceeds-device",
                        raw,
                        format!("asks for {} on a device of {}", human_bytes(bytes), human_bytes(size)),
                        "remove -b, or lower it",
                    ));
                }
            }
        }
        FsKind::None => {}
    }
}

fn xfs_geometry(tokens: &[Token], size: u64, problems: &mut Vec<Problem>) {
    let data = match size_of(tokens, "-d", "size") {
        Some((bytes, raw)) if bytes > size => {
            problems.push(Problem::error(
                "size-exceeds-device",
                &raw,
                format!("asks for {} on a device of {}", human_bytes(bytes), human_bytes(size)),
                "remove -d size, or lower it",
            ));
            return;
        }
        Some((bytes, _)) => bytes,
        None => size,
    };
    let (ag, option) = match (number_of(tokens, "-d", "agcount"), size_of(tokens, "-d", "agsize")) {
        (Some((count, raw)), None) if count > 0 => (data / count, raw),
        (None, Some((bytes, raw))) => (bytes, raw),
        _ => return,
    };
    let explicit_log = size_of(tokens, "-l", "size");
    let log = explicit_log.as_ref().map_or(LOG_MIN, |(bytes, _)| *bytes);
    let fits = |ag: u64| ag / (log + XFS_AG_OVERHEAD);
    if ag < XFS_AG_MIN {
        problems.push(Problem::error(
            "xfs-ag-too-small",
            &option,
            format!("gives allocation groups of {}; XFS needs at least 16 MiB", human_bytes(ag)),
            format!("use at most agcount={}", data / XFS_AG_MIN),
        ));
    } else if ag > XFS_AG_MAX {
        problems.push(Problem::error(
            "xfs-ag-too-large",
            &option,
            format!("gives allocation groups of {}; XFS allows at most 1 TiB", human_bytes(ag)),
            format!("use at least agcount={}", data.div_ceil(XFS_AG_MAX)),
        ));
    } else if ag < log + XFS_AG_OVERHEAD {
        let log_source = match &explicit_log {
            Some((_, raw)) => format!("the {raw} log"),
            None => "the internal log (at least 64 MiB with current mkfs.xfs)".to_owned(),
        };
        problems.push(Problem::error(
            "xfs-log-fits-ag",
            &option,
            format!(
                "gives allocation groups of {} on {}; {log_source} must fit inside one",
                human_bytes(ag),
                human_bytes(data)
            ),
            format!(
                "use at most agcount={} on this device{}",
                fits(data).max(1),
                if explicit_log.is_some() { ", or a smaller log" } else { "" }
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::Severity::Error;
    use super::super::test_util::{assert_one, opts};
    use super::*;
    use crate::mkfs_args::parse_args;

    fn run(kind: FsKind, args: &[&str], size: u64) -> Vec<Problem> {
        let mut problems = Vec::new();
        check(kind, &parse_args(kind, &opts(args)), size, &mut problems);
        problems
    }

    const MIB: u64 = 1 << 20;

    #[test]
    fn minimum_sizes_measured_with_the_tools() {
        assert_one(&run(FsKind::Xfs, &[], 299 * MIB), "size-too-small", "device size", Error);
        assert!(run(FsKind::Xfs, &[], 300 * MIB).is_empty());
        assert_one(&run(FsKind::Btrfs, &[], 100 * MIB), "size-too-small", "device size", Error);
        assert!(run(FsKind::Btrfs, &[], 109 * MIB).is_empty());
        assert_one(&run(FsKind::Ext4, &[], 2047 << 10), "size-too-small", "device size", Error);
        assert!(run(FsKind::Ext4, &[], 2 * MIB).is_empty());
        assert!(run(FsKind::None, &[], 1).is_empty());
    }

    #[test]
    fn ext4_beyond_16_tib_needs_64bit() {
        assert_one(&run(FsKind::Ext4, &["-O", "^64bit"], 20 << 40), "ext4-64bit-needed", "-O ^64bit", Error);
        assert!(run(FsKind::Ext4, &["-O", "^64bit"], 1 << 40).is_empty());
    }

    #[test]
    fn xfs_agcount_must_leave_room_for_the_log() {
        // Measured: agcount=32 fails at 2 GiB ("Log size must be at least 64MB") and works at 2100 MiB.
        let problems = run(FsKind::Xfs, &["-d", "agcount=32"], 2048 * MIB);
        assert_one(&problems, "xfs-log-fits-ag", "-d agcount=32", Error);
        assert!(problems[0].fix.contains("agcount=31"), "{}", problems[0].fix);
        assert!(run(FsKind::Xfs, &["-d", "agcount=32"], 2100 * MIB).is_empty());
        assert!(run(FsKind::Xfs, &["-d", "agcount=15"], 1024 * MIB).is_empty());
        assert!(run(FsKind::Xfs, &["-d", "agsize=65m"], 1024 * MIB).is_empty());
        // Measured: the seed's agcount=32 with a 128 MiB log fails at 4 GiB and works at 8 GiB.
        let seed = ["-d", "agcount=32,su=64k,sw=1", "-l", "size=128m,su=64k"];
        let problems = run(FsKind::Xfs, &seed, 4096 * MIB);
        assert_one(&problems, "xfs-log-fits-ag", "-d agcount=32", Error);
        assert!(problems[0].message.contains("-l size=128m"), "{}", problems[0].message);
        assert!(run(FsKind::Xfs, &seed, 8192 * MIB).is_empty());
        assert!(run(FsKind::Xfs, &seed, 600 << 30).is_empty());
    }

    #[test]
    fn xfs_allocation_group_limits() {
        assert_one(&run(FsKind::Xfs, &["-d", "agcount=65"], 1024 * MIB), "xfs-ag-too-small", "-d agcount=65", Error);
        assert_one(&run(FsKind::Xfs, &["-d", "agcount=1"], 2 << 40), "xfs-ag-too-large", "-d agcount=1", Error);
    }

    #[test]
    fn requested_sizes_must_fit_the_device() {
        assert_one(&run(FsKind::Xfs, &["-d", "size=2g"], 1024 * MIB), "size-exceeds-device", "-d size=2g", Error);
        assert_one(&run(FsKind::Btrfs, &["-b", "2G"], 1024 * MIB), "size-exceeds-device", "-b 2G", Error);
        assert!(run(FsKind::Btrfs, &["-b", "500M"], 1024 * MIB).is_empty());
    }
}
