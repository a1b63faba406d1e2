//! Root tier: directory usage of a real tree against `du -sxB1` on the same tree, with hard
//! links, a symlink to a big file outside, and a tmpfs mounted inside (not entered).
//!
//! Every test is named `root_*`, is ignored unless asked for, fails when asked for
//! without root (docs/architecture.md, "Testing tiers"), and unmounts its tmpfs through
//! a drop guard, also when it fails.

use std::path::Path;
use std::time::Duration;

use jts_health::{DirectoryCheck, HealthConfig, Status, check, scan_directory};
use jts_testkit::{Mount, require_root, tool};

/// `du FLAGS PATH`: the bytes it counts.
fn du_with(flags: &str, path: &Path) -> u64 {
    let run = tool("du", &[flags.as_ref(), path.as_os_str()]);
    run.expect_code(0);
    run.stdout.split_whitespace().next().unwrap().parse().unwrap()
}

/// `du -sxB1 PATH`: allocated bytes, one filesystem, hard links once, symlinks not followed.
fn du(path: &Path) -> u64 {
    du_with("-sxB1", path)
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_directory_usage_matches_du_with_hard_links_symlinks_and_a_mount_inside() {
    require_root();
    let work = tempfile::Builder::new().prefix("jts-health-du").tempdir_in("/var/tmp").unwrap();
    let tree = work.path().join("pg");
    for d in 0..20 {
        let dir = tree.join(format!("base/{d}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..50 {
            std::fs::write(dir.join(f.to_string()), vec![b'x'; (d * 50 + f) * 97]).unwrap();
        }
    }
    let big = tree.join("big");
    std::fs::write(&big, vec![1u8; 4 << 20]).unwrap();
    for i in 0..5 {
        std::fs::hard_link(&big, tree.join(format!("link{i}"))).unwrap();
    }
    let outside = work.path().join("outside");
    std::fs::write(&outside, vec![2u8; 8 << 20]).unwrap();
    std::os::unix::fs::symlink(&outside, tree.join("to-outside")).unwrap();
    std::fs::create_dir_all(tree.join("mnt")).unwrap();
    let inner = Mount::tmpfs(&tree.join("mnt"), "64m");
    std::fs::write(inner.at().join("on-tmpfs"), vec![3u8; 16 << 20]).unwrap();

    let scan = scan_directory(&tree, Duration::from_secs(60)).unwrap();
    let expected = du(&tree);
    assert_eq!((scan.bytes, scan.partial, scan.errors), (expected, false, 0), "{scan:?}");
    // What a walk that got one of the three wrong would have counted on top.
    let with = |flags: &str| du_with(flags, &tree);
    assert!(with("-sxlB1") >= scan.bytes + 5 * (4 << 20), "hard links are counted once");
    assert!(with("-sxLB1") >= scan.bytes + (8 << 20), "the symlink is not followed");
    assert!(with("-sB1") >= scan.bytes + (16 << 20), "the tmpfs inside is not entered");

    // Through a check: 80 % of a budget just above the usage is WARNING.
    let budget = expected * 100 / 85;
    let config = HealthConfig::builder()
        .directory(DirectoryCheck::new("hot", tree.to_str().unwrap(), budget).unwrap())
        .build()
        .unwrap();
    let report = check(&config);
    let dir = &report.directories[0];
    assert_eq!((dir.bytes_used, dir.status, dir.partial), (expected, Status::Warning, false), "{dir:?}");
    assert_eq!(report.exit_code(), 1);

    // A tiny time budget: a partial lower bound, said so.
    let config = HealthConfig::builder()
        .directory_budget(Duration::from_nanos(1))
        .directory(DirectoryCheck::new("hot", tree.to_str().unwrap(), budget).unwrap())
        .build()
        .unwrap();
    let dir = check(&config).directories.remove(0);
    assert!(dir.partial && dir.bytes_used <= expected && dir.status >= Status::Warning, "{dir:?}");
    assert!(dir.message.starts_with("partial: scanned "), "{}", dir.message);
    drop(inner);
}
