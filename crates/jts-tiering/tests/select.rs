//! The selection logic against a naive reference model, and the scanner on a real tree.

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jts_core::nofollow::open_root;
use jts_core::{Root, SpecDuration};
use jts_tiering::glob::Glob;
use jts_tiering::scan::{Selector, open_for_write_files, scan, scan_with_heartbeat};
use nix::sys::stat::{UtimensatFlags, utimensat};
use nix::sys::time::TimeSpec;
use proptest::prelude::*;

/// A character-level recursive matcher over the whole path, written independently of
/// the component-based one in the crate.
fn reference(pattern: &[char], path: &[char], at_start: bool) -> bool {
    if pattern.is_empty() {
        return path.is_empty();
    }
    if at_start && pattern.starts_with(&['*', '*', '/']) {
        return (0..=path.len())
            .filter(|&i| i == 0 || path[i - 1] == '/')
            .any(|i| reference(&pattern[3..], &path[i..], true));
    }
    if at_start && pattern == ['*', '*'] {
        return !path.is_empty();
    }
    match pattern[0] {
        '*' => (0..=path.len())
            .take_while(|&i| i == 0 || path[i - 1] != '/')
            .any(|i| reference(&pattern[1..], &path[i..], false)),
        '?' => !path.is_empty() && path[0] != '/' && reference(&pattern[1..], &path[1..], false),
        '[' => {
            let negated = pattern[1] == '!';
            let body_start = if negated { 2 } else { 1 };
            let close = body_start + pattern[body_start..].iter().position(|&c| c == ']').unwrap();
            let members = &pattern[body_start..close];
            !path.is_empty()
                && path[0] != '/'
                && members.contains(&path[0]) != negated
                && reference(&pattern[close + 1..], &path[1..], false)
        }
        '/' => !path.is_empty() && path[0] == '/' && reference(&pattern[1..], &path[1..], true),
        c => !path.is_empty() && path[0] == c && reference(&pattern[1..], &path[1..], false),
    }
}

fn reference_matches(pattern: &str, path: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = path.chars().collect();
    reference(&p, &s, true)
}

fn component_pattern() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec!["a", "b", ".", "*", "?", "[ab]", "[!a]", ".log"]);
    prop_oneof![
        1 => Just("**".to_owned()),
        4 => prop::collection::vec(token, 1..4)
            .prop_map(|t| t.concat())
            .prop_filter("`.` and `..` are rejected", |c| c != "." && c != ".."),
    ]
}

fn glob_pattern() -> impl Strategy<Value = String> {
    prop::collection::vec(component_pattern(), 1..4).prop_map(|c| c.join("/"))
}

fn rel_path() -> impl Strategy<Value = String> {
    let component = prop::sample::select(vec!["a", "b", "ab", "ba", ".log", "a.log", "b.a", "aa"]);
    prop::collection::vec(component, 1..5).prop_map(|c| c.join("/"))
}

proptest! {
    #[test]
    fn glob_agrees_with_the_reference(pattern in glob_pattern(), path in rel_path()) {
        let glob = Glob::new(&pattern).unwrap();
        prop_assert_eq!(glob.matches(&path), reference_matches(&pattern, &path), "{} vs {}", pattern, path);
    }

    #[test]
    fn selection_agrees_with_the_reference(
        include in prop::collection::vec(glob_pattern(), 0..3),
        exclude in prop::collection::vec(glob_pattern(), 0..3),
        older_than in 0u64..100,
        larger_than in prop::option::of(0u64..100),
        files in prop::collection::btree_map(rel_path(), (-50i64..200, 0u64..200), 0..20),
        now in 0i64..200,
    ) {
        let compile = |globs: &[String]| globs.iter().map(|g| Glob::new(g).unwrap()).collect::<Vec<_>>();
        let selector = Selector {
            include: compile(&include),
            exclude: compile(&exclude),
            older_than: SpecDuration::from_secs(older_than),
            larger_than,
        };
        for (path, (mtime, size)) in &files {
            let old = now - mtime > i64::try_from(older_than).unwrap();
            let large = larger_than.is_none_or(|min| *size > min);
            let included = include.is_empty() || include.iter().any(|g| reference_matches(g, path));
            let excluded = exclude.iter().any(|g| reference_matches(g, path));
            prop_assert_eq!(selector.selects(path, *size, *mtime, now), old && large && included && !excluded, "{}", path);
        }
    }
}

const DAY: i64 = 86_400;

fn set_mtime(path: &Path, seconds: i64) {
    let time = TimeSpec::new(seconds, 0);
    utimensat(nix::fcntl::AT_FDCWD, path, &time, &time, UtimensatFlags::NoFollowSymlink).unwrap();
}

fn now() -> SystemTime {
    SystemTime::now()
}

fn now_secs() -> i64 {
    i64::try_from(now().duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

fn write(dir: &Path, relative: &str, age_days: i64) -> PathBuf {
    let path = dir.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, relative.as_bytes()).unwrap();
    set_mtime(&path, now_secs() - age_days * DAY);
    path
}

fn selector(include: &[&str], exclude: &[&str], days: u64) -> Selector {
    Selector {
        include: include.iter().map(|g| Glob::new(g).unwrap()).collect(),
        exclude: exclude.iter().map(|g| Glob::new(g).unwrap()).collect(),
        older_than: SpecDuration::from_secs(days * 86_400),
        larger_than: None,
    }
}

fn paths(selection: &jts_tiering::scan::Selection) -> Vec<String> {
    selection.iter().map(|c| c.path.to_string_lossy().into_owned()).collect()
}

#[test]
fn scans_a_real_tree_without_following_symlinks() {
    let tier = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "secret.log", 30);
    write(outside.path(), "deep/other.log", 30);
    write(tier.path(), "a.log", 10);
    write(tier.path(), "new.log", 1);
    write(tier.path(), "x/y/z/deep.log", 8);
    write(tier.path(), "x/keep.txt", 30);
    write(tier.path(), "x/skip/old.log", 30);
    symlink(outside.path(), tier.path().join("x/escape")).unwrap();
    symlink(outside.path().join("secret.log"), tier.path().join("link.log")).unwrap();
    set_mtime(&tier.path().join("link.log"), now_secs() - 40 * DAY);

    let root = open_root(&Root::new(tier.path()).unwrap()).unwrap();
    let found = scan(&root, &selector(&["**/*.log"], &["x/skip/**"], 7), now(), &BTreeSet::new()).unwrap();
    assert_eq!(paths(&found), ["a.log", "x/y/z/deep.log"]);
    let a = found.iter().next().unwrap();
    let meta = std::fs::metadata(tier.path().join("a.log")).unwrap();
    assert_eq!((a.size, a.dev, a.ino, a.mtime), (meta.len(), meta.dev(), meta.ino(), meta.mtime()));

    let everything = scan(&root, &selector(&[], &[], 0), now(), &BTreeSet::new()).unwrap();
    assert_eq!(paths(&everything), ["a.log", "new.log", "x/keep.txt", "x/skip/old.log", "x/y/z/deep.log"]);
}

#[test]
fn a_file_open_for_writing_is_skipped() {
    let tier = tempfile::tempdir().unwrap();
    let busy = write(tier.path(), "busy.log", 30);
    write(tier.path(), "idle.log", 30);
    let reader = std::fs::File::open(tier.path().join("idle.log")).unwrap();
    let writer = std::fs::OpenOptions::new().append(true).open(&busy).unwrap();
    set_mtime(&busy, now_secs() - 30 * DAY);

    let open = open_for_write_files();
    let meta = std::fs::metadata(&busy).unwrap();
    assert!(open.contains(&(meta.dev(), meta.ino())));
    let idle = std::fs::metadata(tier.path().join("idle.log")).unwrap();
    assert!(!open.contains(&(idle.dev(), idle.ino())), "a file open read-only must not count as busy");

    let root = open_root(&Root::new(tier.path()).unwrap()).unwrap();
    let found = scan(&root, &selector(&[], &[], 7), now(), &open).unwrap();
    assert_eq!(paths(&found), ["idle.log"]);
    drop((reader, writer));
    let found = scan(&root, &selector(&[], &[], 7), now(), &open_for_write_files()).unwrap();
    assert_eq!(paths(&found), ["busy.log", "idle.log"]);
}

#[test]
fn future_mtimes_are_never_old() {
    let tier = tempfile::tempdir().unwrap();
    write(tier.path(), "future", -5);
    let root = open_root(&Root::new(tier.path()).unwrap()).unwrap();
    let later = now() + Duration::from_secs(86_400);
    assert!(scan(&root, &selector(&[], &[], 0), later, &BTreeSet::new()).unwrap().is_empty());
}

#[test]
fn a_selection_keeps_each_name_with_its_own_file_through_sorting_and_taking_out() {
    let tier = tempfile::tempdir().unwrap();
    // Written in an order unlike the sorted one, with names of different lengths.
    for (path, days) in [("b/zz.log", 30), ("b/a", 30), ("b/mmm-long-name.log", 30), ("c.log", 30), ("a/x", 30)] {
        write(tier.path(), path, days);
    }
    let busy = tier.path().join("b/a");
    let writer = std::fs::OpenOptions::new().append(true).open(&busy).unwrap();
    set_mtime(&busy, now_secs() - 30 * DAY);

    let root = open_root(&Root::new(tier.path()).unwrap()).unwrap();
    let mut found = scan_with_heartbeat(&root, &selector(&[], &[], 7), now(), &open_for_write_files(), &|| {}).unwrap();
    assert_eq!(paths(&found), ["a/x", "b/a", "b/mmm-long-name.log", "b/zz.log", "c.log"]);
    assert_eq!(found.take_open_for_writing(), [PathBuf::from("b/a")]);
    drop(writer);
    assert_eq!(paths(&found), ["a/x", "b/mmm-long-name.log", "b/zz.log", "c.log"]);
    for candidate in found.iter() {
        let meta = std::fs::symlink_metadata(tier.path().join(&candidate.path)).unwrap();
        assert_eq!((candidate.ino, candidate.size), (meta.ino(), meta.len()), "{}", candidate.path.display());
    }
    let mut seen = 0;
    found.keep_while(|_| {
        seen += 1;
        seen <= 3
    });
    assert_eq!(paths(&found), ["a/x", "b/mmm-long-name.log", "b/zz.log"]);
    assert_eq!((found.len(), found.bytes()), (3, found.iter().map(|c| c.size).sum()));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// A selection comes out in `Path`'s own order, however files and subdirectories
    /// interleave (names with `-` and `.` sort below `/`).
    #[test]
    fn a_selection_is_in_path_order(paths_in in prop::collection::btree_set("[ab.-]{1,2}(/[ab.-]{1,2}){0,2}", 1..24)) {
        let tier = tempfile::tempdir().unwrap();
        let mut written = Vec::new();
        for path in &paths_in {
            let full = tier.path().join(path);
            // A name taken by a directory cannot also be a file, and the other way round.
            if full.ancestors().skip(1).any(|a| a.is_file()) || full.is_dir() || path.split('/').any(|c| c == "." || c == "..") {
                continue;
            }
            write(tier.path(), path, 30);
            written.push(PathBuf::from(path));
        }
        written.sort();
        let root = open_root(&Root::new(tier.path()).unwrap()).unwrap();
        let found = scan(&root, &selector(&[], &[], 7), now(), &BTreeSet::new()).unwrap();
        let found: Vec<PathBuf> = found.iter().map(|c| c.path).collect();
        prop_assert_eq!(found, written);
    }
}
