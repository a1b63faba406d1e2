//! Rules on mkfs.btrfs arguments (btrfs-progs 6.2).

use super::mkfs_common::{flag_of, items_of, value_of};
use super::{Problem, parse_binary_size};
use crate::mkfs_args::{Token, subopt_key};

const PROFILES: &[&str] = &["single", "dup", "raid0", "raid1", "raid1c3", "raid1c4", "raid10", "raid5", "raid6"];
/// `-O` features of btrfs-progs 6.2.
const FEATURES: &[&str] = &["mixed-bg", "extref", "raid56", "skinny-metadata", "no-holes", "zoned", "list-all"];
/// `-O` features of newer btrfs-progs that Debian 12's 6.2 rejects there.
const NEWER_FEATURES: &[&str] = &["free-space-tree", "block-group-tree", "quota", "squota", "raid-stripe-tree"];
/// `-R` runtime features of btrfs-progs 6.2.
const RUNTIME: &[&str] = &["quota", "free-space-tree", "list-all"];
const CHECKSUMS: &[&str] = &["crc32c", "xxhash", "xxhash64", "sha256", "blake2"];

/// Whether the free space tree is made (the default since btrfs-progs 5.15).
pub(super) fn free_space_tree(tokens: &[Token]) -> bool {
    !items_of(tokens, "-R").contains(&"^free-space-tree")
}

fn bad(option: &str, message: impl Into<String>) -> Problem {
    Problem::error("mkfs-bad-value", option, message, "use a value from the mkfs.btrfs(8) manual page")
}

pub(super) fn check(tokens: &[Token], problems: &mut Vec<Problem>) {
    for flag in ["-d", "-m"] {
        if let Some((profile, raw)) = value_of(tokens, flag) {
            check_profile(&profile.to_ascii_lowercase(), raw, problems);
        }
    }
    check_features(tokens, problems);
    let sector = value_of(tokens, "-s").map(|(value, raw)| (parse_binary_size(value), raw));
    if let Some((size, raw)) = sector.filter(|(size, _)| *size != Some(4096)) {
        problems.push(match size {
            Some(size) if size.is_power_of_two() && (4096..=65536).contains(&size) => Problem::error(
                "btrfs-sectorsize",
                raw,
                "a sector size other than the 4 KiB page size cannot be mounted on x86-64",
                "remove -s (4096 is the default)",
            ),
            _ => bad(raw, "the sector size must be a power of two from 4k to 64k"),
        });
    }
    if let Some((value, raw)) = value_of(tokens, "-n") {
        match parse_binary_size(value) {
            Some(size) if size.is_power_of_two() && (4096..=65536).contains(&size) => {
                if flag_of(tokens, "-M").is_some() && size != 4096 {
                    problems.push(Problem::error(
                        "btrfs-mixed-nodesize",
                        raw,
                        "mixed block groups need the node size to equal the sector size (4k)",
                        "remove -n, or remove --mixed",
                    ));
                }
            }
            _ => problems.push(bad(raw, "the node size must be a power of two from 4k to 64k")),
        }
    }
    if let Some((value, raw)) = value_of(tokens, "--csum").filter(|(value, _)| !CHECKSUMS.contains(value)) {
        problems.push(bad(raw, format!("{value:?} is not a checksum; use one of {}", CHECKSUMS.join(", "))));
    }
    if let Some((value, raw)) = value_of(tokens, "-b").filter(|(value, _)| parse_binary_size(value).is_none()) {
        problems.push(bad(raw, format!("{value:?} is not a size such as 500M")));
    }
}

fn check_profile(profile: &str, raw: &str, problems: &mut Vec<Problem>) {
    let devices = match profile {
        "single" | "dup" => return,
        "raid0" => {
            problems.push(Problem::warning(
                "btrfs-profile",
                raw,
                "raid0 on one device is plain single allocation with extra overhead",
                "use single (data) or dup (metadata)",
            ));
            return;
        }
        "raid1" | "raid10" | "raid5" => 2,
        "raid1c3" | "raid6" => 3,
        "raid1c4" => 4,
        _ => {
            problems.push(bad(raw, format!("unknown profile; use one of {}", PROFILES.join(", "))));
            return;
        }
    };
    problems.push(Problem::error(
        "btrfs-profile",
        raw,
        format!("{profile} needs at least {devices} devices; jts formats one device per filesystem"),
        "use single (data) or dup (metadata)",
    ));
}

fn check_features(tokens: &[Token], problems: &mut Vec<Problem>) {
    for (flag, known) in [("-O", FEATURES), ("-R", RUNTIME)] {
        for item in items_of(tokens, flag) {
            let name = subopt_key(item);
            let option = format!("{flag} {item}");
            if known.contains(&name) {
                continue;
            }
            problems.push(if flag == "-O" && NEWER_FEATURES.contains(&name) {
                Problem::error(
                    "btrfs-feature-progs-version",
                    &option,
                    "Debian 12's btrfs-progs 6.2 does not know this -O feature (quota and free-space-tree are -R \
                     there; block-group-tree, squota and raid-stripe-tree need newer btrfs-progs)",
                    if RUNTIME.contains(&name) { "write it as -R" } else { "remove it" },
                )
            } else {
                Problem::error(
                    "mkfs-unknown-suboption",
                    &option,
                    format!("mkfs.btrfs has no {flag} feature {name:?}"),
                    "check `mkfs.btrfs -O list-all`",
                )
            });
        }
    }
    for item in items_of(tokens, "-O") {
        match item {
            "zoned" => problems.push(Problem::error(
                "btrfs-zoned",
                "-O zoned",
                "needs a zoned (SMR or ZNS) device; on a regular device mkfs fails",
                "remove zoned",
            )),
            "raid56" => problems.push(Problem::warning(
                "btrfs-profile",
                "-O raid56",
                "btrfs RAID5/6 has a known write hole and is not for production data",
                "remove raid56",
            )),
            _ => {}
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
        check(&parse_args(FsKind::Btrfs, &opts(args)), &mut problems);
        problems
    }

    #[test]
    fn multi_device_profiles_fail_on_one_device() {
        assert_one(&run(&["-d", "raid1"]), "btrfs-profile", "-d raid1", Error);
        assert_one(&run(&["--metadata=raid1c3"]), "btrfs-profile", "--metadata=raid1c3", Error);
        assert_one(&run(&["-d", "raid0"]), "btrfs-profile", "-d raid0", Warning);
        assert_one(&run(&["-d", "foo"]), "mkfs-bad-value", "-d foo", Error);
        assert!(run(&["-d", "single", "-m", "dup"]).is_empty());
    }

    #[test]
    fn features_of_newer_progs_fail() {
        let problems = run(&["-O", "free-space-tree"]);
        assert_one(&problems, "btrfs-feature-progs-version", "-O free-space-tree", Error);
        assert_eq!(problems[0].fix, "write it as -R");
        assert_one(&run(&["-O", "block-group-tree"]), "btrfs-feature-progs-version", "-O block-group-tree", Error);
        assert_one(&run(&["-O", "foo"]), "mkfs-unknown-suboption", "-O foo", Error);
        assert!(run(&["-O", "no-holes,^extref", "-R", "^free-space-tree,quota"]).is_empty());
    }

    #[test]
    fn zoned_needs_a_zoned_device() {
        assert_one(&run(&["-O", "zoned"]), "btrfs-zoned", "-O zoned", Error);
    }

    #[test]
    fn raid56_warns() {
        assert_one(&run(&["-O", "raid56"]), "btrfs-profile", "-O raid56", Warning);
    }

    #[test]
    fn sizes_of_nodes_and_sectors() {
        assert_one(&run(&["-s", "8192"]), "btrfs-sectorsize", "-s 8192", Error);
        assert_one(&run(&["-s", "2048"]), "mkfs-bad-value", "-s 2048", Error);
        assert_one(&run(&["-n", "131072"]), "mkfs-bad-value", "-n 131072", Error);
        assert_one(&run(&["-n", "12288"]), "mkfs-bad-value", "-n 12288", Error);
        assert_one(&run(&["-M", "-n", "16384"]), "btrfs-mixed-nodesize", "-n 16384", Error);
        assert!(run(&["--nodesize", "16k", "-s", "4096"]).is_empty());
    }

    #[test]
    fn checksums_and_byte_counts() {
        assert_one(&run(&["--csum", "md5"]), "mkfs-bad-value", "--csum md5", Error);
        assert_one(&run(&["-b", "lots"]), "mkfs-bad-value", "-b lots", Error);
        assert!(run(&["--checksum", "xxhash", "-b", "500M"]).is_empty());
    }
}
