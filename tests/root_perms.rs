//! Root tier (docs/architecture.md, "Testing tiers"): `jts-provision` against a
//! temporary `--root`, checked with the real `stat`, `getfacl` and the account files.
//! Every test is named `root_*`, is ignored unless asked for, and fails when asked for
//! without root. Each test has its own tempdir as `--root`.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{MetadataExt, chown, lchown, symlink};
use std::path::{Path, PathBuf};

use jts_testkit::{
    Run, assert_same_snapshot, chmod, example, getfacl, have_program, jts_at, provision_bin, require_root, snapshot,
    tempdir, tool, under, write_file,
};
use serde_json::Value;

// ---------------------------------------------------------------------------------------
// Observing the result: `stat` and the account files under ROOT.

/// `stat -c '%a %u %g'` of `path` (not following a final symlink: `stat` does not by default).
#[track_caller]
fn stat_augid(path: &Path) -> String {
    let run = tool("stat", &["-c", "%a %u %g", path.to_str().expect("utf-8 path")]);
    run.expect_code(0);
    run.stdout.trim().to_owned()
}

/// A user line of `ROOT/etc/passwd`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PasswdEntry {
    uid: u32,
    gid: u32,
    comment: String,
    home: String,
    shell: String,
}

/// `ROOT/etc/passwd` by name.
fn passwd(root: &Path) -> BTreeMap<String, PasswdEntry> {
    let text = std::fs::read_to_string(root.join("etc/passwd")).expect("ROOT/etc/passwd");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            assert_eq!(f.len(), 7, "malformed passwd line {line:?}");
            let entry = PasswdEntry {
                uid: f[2].parse().expect("uid"),
                gid: f[3].parse().expect("gid"),
                comment: f[4].into(),
                home: f[5].into(),
                shell: f[6].into(),
            };
            (f[0].to_owned(), entry)
        })
        .collect()
}

/// `ROOT/etc/group` by name: gid and members.
fn groups(root: &Path) -> BTreeMap<String, (u32, Vec<String>)> {
    let text = std::fs::read_to_string(root.join("etc/group")).expect("ROOT/etc/group");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            assert_eq!(f.len(), 4, "malformed group line {line:?}");
            let members = f[3].split(',').filter(|m| !m.is_empty()).map(str::to_owned).collect();
            (f[0].to_owned(), (f[2].parse().expect("gid"), members))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// What examples/hot-directories.toml asks for.

/// Service users: name, fixed uid, comment. Each has a primary group of its own name.
const USERS: [(&str, u32, &str); 5] = [
    ("postgres", 2100, "PostgreSQL server"),
    ("clickhouse", 2101, "ClickHouse server"),
    ("kafka", 2102, "Kafka broker"),
    ("mongodb", 2103, "MongoDB server"),
    ("redis", 2104, "Redis server"),
];

/// Operational groups with a fixed gid.
const FIXED_GIDS: [(&str, u32); 3] = [("monitoring", 2002), ("dba", 2003), ("docker", 2004)];

/// Groups whose gid `groupadd --system` allocates: `backup` (adopted from Debian, so no
/// gid in the example) and each user's own group.
const ALLOCATED_GROUPS: [&str; 6] = ["backup", "postgres", "clickhouse", "kafka", "mongodb", "redis"];

/// One directory the example leads to.
#[derive(Debug, Clone)]
struct Want {
    path: String,
    owner: &'static str,
    group: &'static str,
    /// As `stat -c %a` prints it.
    mode: &'static str,
    acl: Vec<&'static str>,
}

fn want(path: &str, owner: &'static str, group: &'static str, mode: &'static str, acl: &[&'static str]) -> Want {
    Want { path: path.to_owned(), owner, group, mode, acl: acl.to_vec() }
}

/// Every directory under /data after applying the example, with parents and children.
fn example_tree() -> Vec<Want> {
    const READ_BACKUP: [&str; 2] = ["group:backup:r-x", "default:group:backup:r-x"];
    const READ_MONITORING: [&str; 2] = ["group:monitoring:r-x", "default:group:monitoring:r-x"];
    const READ_DBA: [&str; 2] = ["group:dba:r-x", "default:group:dba:r-x"];
    const TRAVERSE_3: [&str; 3] = ["group:backup:--x", "group:monitoring:--x", "group:dba:--x"];
    const TRAVERSE_2: [&str; 2] = ["group:backup:--x", "group:monitoring:--x"];
    let mut tree = vec![
        want("/data", "root", "root", "755", &[]),
        want("/data/jts", "root", "root", "755", &[]),
        want("/data/jts/hot", "root", "root", "755", &[]),
    ];
    /// A service: its directory, its user (and group), the ACL of the service directory,
    /// and its subdirectories with their ACLs.
    type Service = (&'static str, &'static str, &'static [&'static str], Vec<Subdir>);
    type Subdir = (&'static str, &'static [&'static str]);
    let services: [Service; 5] = [
        (
            "postgresql",
            "postgres",
            &TRAVERSE_3,
            vec![("data", &READ_BACKUP), ("logs", &READ_MONITORING), ("config", &READ_DBA)],
        ),
        (
            "clickhouse",
            "clickhouse",
            &TRAVERSE_2,
            vec![("data", &READ_BACKUP), ("logs", &READ_MONITORING), ("tmp", &TRAVERSE_2)],
        ),
        ("kafka", "kafka", &TRAVERSE_2, vec![("data", &READ_BACKUP), ("logs", &READ_MONITORING)]),
        (
            "mongodb",
            "mongodb",
            &TRAVERSE_3,
            vec![("data", &READ_BACKUP), ("logs", &READ_MONITORING), ("config", &READ_DBA)],
        ),
        ("redis", "redis", &TRAVERSE_2, vec![("data", &READ_BACKUP), ("logs", &READ_MONITORING)]),
    ];
    for (dir, user, traverse, subdirs) in services {
        tree.push(want(&format!("/data/jts/hot/{dir}"), user, user, "750", traverse));
        for (sub, acl) in subdirs {
            tree.push(want(&format!("/data/jts/hot/{dir}/{sub}"), user, user, "750", acl));
        }
    }
    tree.push(want("/data/jts/hot/docker", "root", "docker", "750", &[]));
    for sub in ["volumes", "containers", "tmp"] {
        tree.push(want(&format!("/data/jts/hot/docker/{sub}"), "root", "docker", "750", &[]));
    }
    tree.push(want("/data/jts/hot/backup", "root", "backup", "2770", &[]));
    for sub in ["daily", "snapshots", "staging"] {
        tree.push(want(&format!("/data/jts/hot/backup/{sub}"), "root", "backup", "2770", &[]));
    }
    tree
}

/// Names to ids, read from ROOT/etc/passwd and ROOT/etc/group.
struct Ids {
    users: BTreeMap<String, u32>,
    groups: BTreeMap<String, u32>,
}

impl Ids {
    fn read(root: &Path) -> Self {
        Self {
            users: passwd(root).into_iter().map(|(name, entry)| (name, entry.uid)).collect(),
            groups: groups(root).into_iter().map(|(name, (gid, _))| (name, gid)).collect(),
        }
    }

    #[track_caller]
    fn uid(&self, name: &str) -> u32 {
        *self.users.get(name).unwrap_or_else(|| panic!("user {name} not in ROOT/etc/passwd"))
    }

    #[track_caller]
    fn gid(&self, name: &str) -> u32 {
        *self.groups.get(name).unwrap_or_else(|| panic!("group {name} not in ROOT/etc/group"))
    }
}

fn rwx(bits: u32) -> String {
    let bit = |mask, c| if bits & mask != 0 { c } else { '-' };
    [bit(4, 'r'), bit(2, 'w'), bit(1, 'x')].iter().collect()
}

fn perms_bits(text: &str) -> u32 {
    text.chars().fold(0, |bits, c| {
        bits | match c {
            'r' => 4,
            'w' => 2,
            'x' => 1,
            _ => 0,
        }
    })
}

/// The lines `getfacl -n` must print for a directory with `mode` and the spec's `acl`
/// (named group entries only, as in the example): base entries from the mode, a mask
/// equal to the group bits for the access ACL, and the union for the default ACL.
fn expected_getfacl(mode: &str, acl: &[&str], ids: &Ids) -> BTreeSet<String> {
    let bits = u32::from_str_radix(mode, 8).expect("octal mode");
    let (u, g, o) = ((bits >> 6) & 7, (bits >> 3) & 7, bits & 7);
    let mut lines: BTreeSet<String> =
        [format!("user::{}", rwx(u)), format!("group::{}", rwx(g)), format!("other::{}", rwx(o))].into();
    let mut default_union = g;
    let mut any_access = false;
    let mut any_default = false;
    for entry in acl {
        let (default, rest) = match entry.strip_prefix("default:") {
            Some(rest) => (true, rest),
            None => (false, *entry),
        };
        let [tag, name, perms] = rest.split(':').collect::<Vec<_>>()[..] else { panic!("entry {entry}") };
        assert_eq!(tag, "group", "the example only has named group entries");
        let line = format!("group:{}:{perms}", ids.gid(name));
        if default {
            any_default = true;
            default_union |= perms_bits(perms);
            lines.insert(format!("default:{line}"));
        } else {
            any_access = true;
            lines.insert(line);
        }
    }
    if any_access {
        lines.insert(format!("mask::{}", rwx(g)));
    }
    if any_default {
        lines.extend([
            format!("default:user::{}", rwx(u)),
            format!("default:group::{}", rwx(g)),
            format!("default:mask::{}", rwx(default_union)),
            format!("default:other::{}", rwx(o)),
        ]);
    }
    lines
}

/// A fresh `--root` inside `tmp`, with the example applied; returns it and the run.
fn apply_example(tmp: &Path) -> (PathBuf, Run) {
    let root = tmp.join("root");
    let run = jts_at(&example("hot-directories.toml"), &root, &["apply", "--json"]);
    run.expect_code(0);
    (root, run)
}

/// Every directory below ROOT/data, as spec paths.
fn directories_under_data(root: &Path) -> BTreeSet<String> {
    snapshot(&root.join("data"))
        .into_iter()
        .filter(|(_, inode)| inode.kind == 'd')
        .map(|(relative, _)| {
            let relative = relative.to_str().unwrap().to_owned();
            if relative.is_empty() { "/data".to_owned() } else { format!("/data/{relative}") }
        })
        .collect()
}

fn objects(list: &Value) -> BTreeSet<String> {
    list.as_array().expect("array").iter().map(|item| item["object"].as_str().expect("object").to_owned()).collect()
}

// ---------------------------------------------------------------------------------------
// (1) A fresh apply.

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_apply_creates_accounts_and_the_exact_tree() {
    require_root();
    let tmp = tempdir();
    let (root, run) = apply_example(tmp.path());
    let report = run.json();
    assert_eq!(report["failed"], Value::Null, "{run:?}");
    assert_eq!(report["not_converged"], serde_json::json!([]), "{run:?}");

    // Accounts, in ROOT/etc and not on the host.
    let users = passwd(&root);
    let group_file = groups(&root);
    assert_eq!(users["root"].uid, 0, "the seeded root user stays");
    for (name, uid, comment) in USERS {
        let user = users.get(name).unwrap_or_else(|| panic!("user {name} missing from ROOT/etc/passwd"));
        assert_eq!(user.uid, uid, "uid of {name}");
        assert_eq!(user.gid, group_file[name].0, "{name}'s primary group is the group {name}");
        assert_eq!((user.home.as_str(), user.shell.as_str()), ("/nonexistent", "/usr/sbin/nologin"), "{name}");
        assert_eq!(user.comment, comment, "comment of {name}");
    }
    for (name, gid) in FIXED_GIDS {
        assert_eq!(group_file.get(name).map(|g| g.0), Some(gid), "gid of group {name}");
    }
    let mut allocated = BTreeSet::new();
    for name in ALLOCATED_GROUPS {
        let gid = group_file.get(name).unwrap_or_else(|| panic!("group {name} missing")).0;
        assert!((100..=999).contains(&gid), "group {name} gets a system gid, not {gid}");
        assert!(allocated.insert(gid), "gid {gid} allocated twice");
    }
    assert!(!under(&root, "/nonexistent").exists(), "home directories are never created");

    // Directories: exactly the tree, each with numeric owner, mode and ACL.
    let ids = Ids::read(&root);
    let tree = example_tree();
    let wanted_paths: BTreeSet<String> = tree.iter().map(|w| w.path.clone()).collect();
    assert_eq!(directories_under_data(&root), wanted_paths, "directories under ROOT/data");
    for dir in &tree {
        let path = under(&root, &dir.path);
        let uid = if dir.owner == "root" { 0 } else { ids.uid(dir.owner) };
        let gid = if dir.group == "root" { 0 } else { ids.gid(dir.group) };
        assert_eq!(stat_augid(&path), format!("{} {uid} {gid}", dir.mode), "stat of {}", dir.path);
        assert_eq!(getfacl(&path), expected_getfacl(dir.mode, &dir.acl, &ids), "getfacl -n {}", dir.path);
    }

    // The example's own words, spelled out for the most important directory.
    let backup = ids.gid("backup");
    let pg_data = getfacl(&under(&root, "/data/jts/hot/postgresql/data"));
    for line in [format!("group:{backup}:r-x"), format!("default:group:{backup}:r-x"), "mask::r-x".into()] {
        assert!(pg_data.contains(&line), "postgresql/data lacks {line}: {pg_data:?}");
    }
    assert_eq!(stat_augid(&under(&root, "/data/jts/hot/postgresql/data")), format!("750 2100 {}", ids.gid("postgres")));
}

// ---------------------------------------------------------------------------------------
// (2) Convergence: a second apply changes nothing.

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_second_apply_changes_nothing() {
    require_root();
    let tmp = tempdir();
    let (root, _) = apply_example(tmp.path());
    let before = snapshot(&root);
    // Let the clock move on, so that any write would show in ctime.
    std::thread::sleep(std::time::Duration::from_millis(50));

    let again = jts_at(&example("hot-directories.toml"), &root, &["apply", "--json"]);
    again.expect_code(0);
    assert_eq!(again.json()["changes"], 0, "{again:?}");
    assert_eq!(again.json()["done"], serde_json::json!([]), "{again:?}");
    let human = jts_at(&example("hot-directories.toml"), &root, &["apply"]);
    human.expect_code(0);
    assert!(human.stdout.contains("0 changes"), "{human:?}");

    let plan = jts_at(&example("hot-directories.toml"), &root, &["plan", "--json", "--detailed-exitcode"]);
    plan.expect_code(0);
    assert_eq!(plan.json()["steps"], serde_json::json!([]), "{plan:?}");
    assert_eq!(plan.json()["refused"], serde_json::json!([]), "{plan:?}");

    jts_at(&example("hot-directories.toml"), &root, &["validate"]).expect_code(0);
    let validate = jts_at(&example("hot-directories.toml"), &root, &["validate", "--json"]);
    validate.expect_code(0);
    assert_eq!(validate.json()["drift"], serde_json::json!([]), "{validate:?}");
    jts_at(&example("hot-directories.toml"), &root, &["probe"]).expect_code(0);

    assert_same_snapshot(&before, &snapshot(&root), "ROOT after a second apply, plan, validate and probe");
}

// ---------------------------------------------------------------------------------------
// (3) Drift made by hand is reported, then repaired exactly.

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_validate_reports_drift_and_apply_repairs_exactly_it() {
    require_root();
    let tmp = tempdir();
    let (root, _) = apply_example(tmp.path());
    let ids = Ids::read(&root);
    let (chmodded, chowned, stripped) =
        ("/data/jts/hot/kafka/data", "/data/jts/hot/redis/logs", "/data/jts/hot/postgresql/data");
    let arg = |path: &str| under(&root, path).to_str().unwrap().to_owned();
    tool("chmod", &["0755", &arg(chmodded)]).expect_code(0);
    tool("chown", &["0:0", &arg(chowned)]).expect_code(0);
    tool("setfacl", &["-b", &arg(stripped)]).expect_code(0);
    assert!(!getfacl(&under(&root, stripped)).iter().any(|l| l.starts_with("default:")), "setfacl -b took effect");

    let human = jts_at(&example("hot-directories.toml"), &root, &["validate"]);
    human.expect_code(4);
    for path in [chmodded, chowned, stripped] {
        assert!(human.stdout.contains(path), "validate does not name {path}:{human:?}");
    }

    let run = jts_at(&example("hot-directories.toml"), &root, &["validate", "--json"]);
    run.expect_code(4);
    let drift = run.json()["drift"].as_array().cloned().expect("drift array");
    let by_path = |path: &str| -> Vec<&Value> { drift.iter().filter(|d| d["path"] == path).collect() };
    let drifted: BTreeSet<&str> = drift.iter().map(|d| d["path"].as_str().unwrap_or("(no path)")).collect();
    assert_eq!(drifted, [chmodded, chowned, stripped].into(), "exactly the three touched paths drift:{run:?}");
    for item in &drift {
        assert!(item["expected"].is_string() && item["actual"].is_string(), "expected and actual: {item}");
        assert_ne!(item["expected"], item["actual"], "{item}");
    }
    let mode = by_path(chmodded);
    assert_eq!(mode.len(), 1, "{mode:?}");
    assert!(mode[0]["expected"].as_str().unwrap().contains("0750"), "{}", mode[0]);
    assert!(mode[0]["actual"].as_str().unwrap().contains("0755"), "{}", mode[0]);
    let owner = by_path(chowned);
    assert_eq!(owner.len(), 1, "{owner:?}");
    assert!(owner[0]["expected"].as_str().unwrap().contains("redis:redis"), "{}", owner[0]);
    assert!(owner[0]["actual"].as_str().unwrap().contains("0:0"), "{}", owner[0]);
    let acl = by_path(stripped);
    assert_eq!(acl.len(), 2, "access and default ACL both drift: {acl:?}");
    for item in acl {
        assert!(item["expected"].as_str().unwrap().contains("group:backup:r-x"), "{item}");
    }

    let before = snapshot(&root);
    let apply = jts_at(&example("hot-directories.toml"), &root, &["apply", "--json"]);
    apply.expect_code(0);
    let report = apply.json();
    assert_eq!(objects(&report["done"]), [chmodded, chowned, stripped].map(str::to_owned).into(), "{apply:?}");
    let kinds: BTreeMap<&str, BTreeSet<&str>> =
        report["done"].as_array().unwrap().iter().fold(BTreeMap::new(), |mut all, step| {
            all.entry(step["object"].as_str().unwrap()).or_default().insert(step["kind"].as_str().unwrap());
            all
        });
    assert_eq!(kinds[chmodded], ["Chmod"].into(), "{apply:?}");
    assert_eq!(kinds[chowned], ["Chown"].into(), "{apply:?}");
    assert_eq!(kinds[stripped], ["SetAcl"].into(), "{apply:?}");
    assert_eq!(report["changes"], 4, "chmod, chown, access ACL and default ACL:{apply:?}");

    // Nothing but those three directories was touched (the journal is new, the lock names
    // this apply).
    let after = snapshot(&root);
    let own_state = [Path::new("var/lib/jts/journal"), Path::new("var/lib/jts/lock")];
    let touched: BTreeSet<String> = after
        .iter()
        .filter(|(path, inode)| !own_state.iter().any(|own| path.starts_with(own)) && before.get(*path) != Some(*inode))
        .map(|(path, _)| format!("/{}", path.display()))
        .collect();
    assert_eq!(touched, [chmodded, chowned, stripped].map(str::to_owned).into(), "what apply changed");

    jts_at(&example("hot-directories.toml"), &root, &["validate"]).expect_code(0);
    let tree = example_tree();
    for dir in tree.iter().filter(|d| [chmodded, chowned, stripped].contains(&d.path.as_str())) {
        let path = under(&root, &dir.path);
        assert_eq!(stat_augid(&path), format!("750 {} {}", ids.uid(dir.owner), ids.gid(dir.group)), "{}", dir.path);
        assert_eq!(getfacl(&path), expected_getfacl(dir.mode, &dir.acl, &ids), "{}", dir.path);
    }
}

// ---------------------------------------------------------------------------------------
// (4) Symlinks and files where directories belong are refused; nothing is touched.

/// A directory outside the root, owned 1234:1234 and 0750, holding a 0640 file.
fn outside_dir(tmp: &Path) -> PathBuf {
    let outside = tmp.join("outside");
    std::fs::create_dir(&outside).unwrap();
    let file = outside.join("precious.txt");
    std::fs::write(&file, "do not touch\n").unwrap();
    chmod(&file, 0o640);
    chmod(&outside, 0o750);
    chown(&file, Some(1234), Some(1234)).unwrap();
    chown(&outside, Some(1234), Some(1234)).unwrap();
    outside
}

/// Asserts that plan and apply (text and JSON) exit 3, name `path` and `what`, and that
/// neither `root` nor `outside` changed in any way; validate exits 4 and names `path`.
fn assert_refused_untouched(root: &Path, outside: &Path, path: &str, what: &str) {
    let root_before = snapshot(root);
    let outside_before = snapshot(outside);
    let spec = example("hot-directories.toml");
    for args in [&["plan"][..], &["plan", "--detailed-exitcode"], &["apply"], &["apply", "--dry-run"]] {
        let run = jts_at(&spec, root, args);
        run.expect_code(3);
        let output = run.all_output();
        assert!(
            output.contains(path) && output.contains(what),
            "`{}` does not name {path} as a {what}:{run:?}",
            args.join(" ")
        );
    }
    let apply = jts_at(&spec, root, &["apply"]);
    assert!(apply.stderr.contains("refused: nothing was changed"), "{apply:?}");
    for args in [&["plan", "--json"][..], &["apply", "--json"]] {
        let run = jts_at(&spec, root, args);
        run.expect_code(3);
        let refused = run.json()["refused"].as_array().cloned().unwrap_or_default();
        assert!(
            refused
                .iter()
                .any(|r| r["reason"].as_str().is_some_and(|reason| reason.contains(path) && reason.contains(what))),
            "`{}`: no refusal names {path}:{run:?}",
            args.join(" ")
        );
        for refusal in &refused {
            assert!(
                refusal["fix"].as_str().is_some_and(|fix| !fix.is_empty()),
                "a refusal says how to fix it: {refusal}"
            );
        }
    }
    let validate = jts_at(&spec, root, &["validate", "--json"]);
    validate.expect_code(4);
    assert!(validate.stdout.contains(path), "{validate:?}");

    assert!(!root.join("etc/passwd").exists(), "no account files were created");
    assert!(!root.join("var/lib/jts/journal").exists(), "no journal: nothing ran");
    assert_same_snapshot(&root_before, &snapshot(root), "ROOT after refused plan and apply");
    assert_same_snapshot(&outside_before, &snapshot(outside), "the directory outside the root");
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_refuses_a_symlink_where_a_directory_belongs() {
    require_root();
    let tmp = tempdir();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(under(&root, "/data/jts/hot")).unwrap();
    let outside = outside_dir(tmp.path());
    symlink(&outside, under(&root, "/data/jts/hot/postgresql")).unwrap();
    assert_refused_untouched(&root, &outside, "/data/jts/hot/postgresql", "symlink");
    assert_eq!(stat_augid(&outside), "750 1234 1234");
    assert_eq!(std::fs::read_to_string(outside.join("precious.txt")).unwrap(), "do not touch\n");
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_refuses_a_regular_file_where_a_directory_belongs() {
    require_root();
    let tmp = tempdir();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(under(&root, "/data/jts/hot")).unwrap();
    let file = under(&root, "/data/jts/hot/kafka");
    std::fs::write(&file, "a file, not a directory\n").unwrap();
    chmod(&file, 0o600);
    let outside = outside_dir(tmp.path());
    assert_refused_untouched(&root, &outside, "/data/jts/hot/kafka", "regular file");
    assert_eq!(stat_augid(&file), "600 0 0");
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_refuses_a_symlinked_ancestor() {
    require_root();
    let tmp = tempdir();
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let outside = outside_dir(tmp.path());
    symlink(&outside, root.join("data")).unwrap();
    assert_refused_untouched(&root, &outside, "/data", "symlink");
    assert!(!outside.join("jts").exists(), "nothing was created through the symlink");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1, "outside still holds only its file");
}

// ---------------------------------------------------------------------------------------
// (5) recursive = true fixes existing contents, chmod-X style, never following symlinks.

const RECURSIVE_SPEC: &str = r#"version = 1

[users.app]
uid = 2500

[[directories]]
path = "/srv/app"
owner = "app"
group = "app"
mode = "0750"
recursive = true

# Declared on its own: the recursive parent must not override it.
[[directories]]
path = "/srv/app/private"
mode = "0700"

[[directories]]
path = "/srv/shared"
group = "app"
mode = "2770"
recursive = true
"#;

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_recursive_fixes_contents_without_following_symlinks() {
    require_root();
    let tmp = tempdir();
    let root = tmp.path().join("root");
    let spec = write_file(tmp.path(), "spec.toml", RECURSIVE_SPEC);

    // Outside the root: a directory and a file that symlinks inside point to.
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("target.txt"), "outside\n").unwrap();
    chmod(&outside.join("target.txt"), 0o600);
    chmod(&outside, 0o700);
    chown(outside.join("target.txt"), Some(4321), Some(4321)).unwrap();
    chown(&outside, Some(4321), Some(4321)).unwrap();

    // Pre-existing contents with wrong owner and modes.
    let app = under(&root, "/srv/app");
    let shared = under(&root, "/srv/shared");
    let made: [(&Path, &str, Option<&str>, u32); 12] = [
        (&app, "", None, 0o755),
        (&app, "a.txt", Some("a\n"), 0o644),
        (&app, "run.sh", Some("#!/bin/sh\n"), 0o755),
        (&app, "suid", Some("s\n"), 0o4755),
        (&app, "sub", None, 0o777),
        (&app, "sub/c.txt", Some("c\n"), 0o666),
        (&app, "sub/deeper", None, 0o700),
        (&app, "sub/deeper/d.sh", Some("d\n"), 0o700),
        (&app, "private", None, 0o755),
        (&shared, "", None, 0o755),
        (&shared, "notes.txt", Some("n\n"), 0o644),
        (&shared, "inbox", None, 0o755),
    ];
    for (base, relative, contents, mode) in made {
        let path = base.join(relative);
        match contents {
            Some(text) => std::fs::write(&path, text).unwrap(),
            None => std::fs::create_dir_all(&path).unwrap(),
        }
        chmod(&path, mode);
        chown(&path, Some(1234), Some(1234)).unwrap();
    }
    std::fs::write(shared.join("tool"), "t\n").unwrap();
    chmod(&shared.join("tool"), 0o700);
    let link = app.join("link");
    let outdir = app.join("sub/outdir");
    symlink(outside.join("target.txt"), &link).unwrap();
    symlink(&outside, &outdir).unwrap();
    lchown(&link, Some(1234), Some(1234)).unwrap();
    lchown(&outdir, Some(1234), Some(1234)).unwrap();
    let outside_before = snapshot(&outside);
    let link_before = std::fs::symlink_metadata(&link).unwrap();

    let run = jts_at(&spec, &root, &["apply", "--json"]);
    run.expect_code(0);
    assert_eq!(run.json()["not_converged"], serde_json::json!([]), "{run:?}");
    let ids = Ids::read(&root);
    let (uid, gid) = (ids.uid("app"), ids.gid("app"));
    assert_eq!(uid, 2500);

    let expect: [(&Path, &str, String); 13] = [
        (&app, "", format!("750 {uid} {gid}")),
        (&app, "a.txt", format!("640 {uid} {gid}")),
        (&app, "run.sh", format!("750 {uid} {gid}")),
        (&app, "suid", format!("750 {uid} {gid}")),
        (&app, "sub", format!("750 {uid} {gid}")),
        (&app, "sub/c.txt", format!("640 {uid} {gid}")),
        (&app, "sub/deeper", format!("750 {uid} {gid}")),
        (&app, "sub/deeper/d.sh", format!("750 {uid} {gid}")),
        (&app, "private", "700 0 0".into()),
        (&shared, "", format!("2770 0 {gid}")),
        (&shared, "notes.txt", format!("660 0 {gid}")),
        (&shared, "tool", format!("770 0 {gid}")),
        (&shared, "inbox", format!("2770 0 {gid}")),
    ];
    for (base, relative, wanted) in &expect {
        assert_eq!(stat_augid(&base.join(relative)), *wanted, "stat of {}", base.join(relative).display());
    }
    assert_eq!(std::fs::read_to_string(app.join("sub/c.txt")).unwrap(), "c\n", "contents are kept");

    // Symlinks: neither the links nor what they point to were changed.
    assert_same_snapshot(&outside_before, &snapshot(&outside), "the symlinks' targets outside the root");
    let link_after = std::fs::symlink_metadata(&link).unwrap();
    assert_eq!((link_after.uid(), link_after.gid()), (link_before.uid(), link_before.gid()), "the symlink itself");
    assert_eq!(stat_augid(&outdir).split(' ').skip(1).collect::<Vec<_>>(), ["1234", "1234"]);

    // And it has converged.
    let again = jts_at(&spec, &root, &["apply", "--json"]);
    again.expect_code(0);
    assert_eq!(again.json()["changes"], 0, "{again:?}");
    jts_at(&spec, &root, &["validate"]).expect_code(0);
}

// ---------------------------------------------------------------------------------------
// (6) plan --state and check need no privileges.

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_plan_and_check_work_unprivileged() {
    require_root();
    assert!(have_program("setpriv"), "setpriv (util-linux) is not on PATH: run scripts/install-deps.sh");
    let nobody = |args: &[&str]| {
        let mut all = vec!["--reuid=65534", "--regid=65534", "--clear-groups"];
        all.extend(args);
        tool("setpriv", &all)
    };
    let whoami = nobody(&["id", "-u"]);
    whoami.expect_code(0);
    assert_eq!(whoami.stdout.trim(), "65534", "setpriv drops to nobody");

    // Readable by nobody: a 0755 directory with 0644 files.
    let tmp = tempdir();
    chmod(tmp.path(), 0o755);
    let spec = tmp.path().join("spec.toml");
    std::fs::copy(example("hot-directories.toml"), &spec).unwrap();
    chmod(&spec, 0o644);
    let root = tmp.path().join("root");
    jts_at(&spec, &root, &["apply"]).expect_code(0);
    chmod(&under(&root, "/data/jts/hot/kafka"), 0o700);
    let probe = jts_at(&spec, &root, &["probe"]);
    probe.expect_code(0);
    let state = write_file(tmp.path(), "state.json", &probe.stdout);
    chmod(&state, 0o644);
    let before = snapshot(tmp.path());

    let (spec_arg, root_arg, state_arg) = (spec.to_str().unwrap(), root.to_str().unwrap(), state.to_str().unwrap());
    let bin = provision_bin().to_str().unwrap();
    let plan = nobody(&[bin, "--config", spec_arg, "--root", root_arg, "plan", "--state", state_arg, "--json"]);
    plan.expect_code(0);
    let steps = plan.json()["steps"].as_array().cloned().unwrap();
    let summary: Vec<(&str, &str)> =
        steps.iter().map(|s| (s["kind"].as_str().unwrap(), s["object"].as_str().unwrap())).collect();
    assert_eq!(summary, [("Chmod", "/data/jts/hot/kafka")], "{plan:?}");
    let text = nobody(&[bin, "--config", spec_arg, "--root", root_arg, "plan", "--state", state_arg]);
    text.expect_code(0);
    assert!(text.stdout.contains("chmod 0750"), "{text:?}");
    nobody(&[bin, "--config", spec_arg, "--root", root_arg, "plan", "--state", state_arg, "--detailed-exitcode"])
        .expect_code(4);
    let check = nobody(&[bin, "--config", spec_arg, "--root", root_arg, "check"]);
    check.expect_code(0);
    assert!(check.stdout.contains("ok"), "{check:?}");

    assert_same_snapshot(&before, &snapshot(tmp.path()), "the tempdir after unprivileged plan and check");
}

// ---------------------------------------------------------------------------------------
// (7) The journal.

#[derive(Debug, PartialEq, Eq)]
struct JournalLine {
    seq: u64,
    phase: String,
    kind: String,
    object: String,
}

#[track_caller]
fn read_journal(file: &Path) -> Vec<JournalLine> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|err| panic!("{}: {err}", file.display()));
    text.lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"));
            let ts = value["ts"].as_str().unwrap_or_else(|| panic!("no ts: {line}"));
            assert!(ts.ends_with('Z') && ts.len() >= 20, "ts is an RFC 3339 UTC time: {line}");
            let text = |key: &str| value[key].as_str().unwrap_or_else(|| panic!("no {key}: {line}")).to_owned();
            JournalLine {
                seq: value["seq"].as_u64().unwrap_or_else(|| panic!("no seq: {line}")),
                phase: text("phase"),
                kind: text("kind"),
                object: text("object"),
            }
        })
        .collect()
}

fn journal_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|entries| entries.map(|e| e.unwrap().path()).collect()).unwrap_or_default();
    files.sort();
    files
}

#[track_caller]
fn assert_journal_matches(file: &Path, steps: &[(String, String)]) {
    let lines = read_journal(file);
    assert_eq!(lines.len(), 2 * steps.len(), "one start and one done line per step in {}", file.display());
    let starts = lines.iter().filter(|l| l.phase == "start").count();
    let dones = lines.iter().filter(|l| l.phase == "done").count();
    assert_eq!((starts, dones), (steps.len(), steps.len()), "start/done pairs");
    for (seq, ((kind, object), pair)) in steps.iter().zip(lines.chunks(2)).enumerate() {
        let seq = seq as u64;
        for (line, phase) in pair.iter().zip(["start", "done"]) {
            let want = JournalLine { seq, phase: phase.into(), kind: kind.clone(), object: object.clone() };
            assert_eq!(*line, want, "journal line of step {seq}");
        }
    }
}

fn plan_steps(spec: &Path, root: &Path) -> Vec<(String, String)> {
    let plan = jts_at(spec, root, &["plan", "--json"]);
    plan.expect_code(0);
    plan.json()["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["kind"].as_str().unwrap().to_owned(), s["object"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_journal_records_every_step() {
    require_root();
    let tmp = tempdir();
    let root = tmp.path().join("root");
    let spec = example("hot-directories.toml");
    let steps = plan_steps(&spec, &root);
    let run = jts_at(&spec, &root, &["apply", "--json"]);
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["changes"].as_u64(), Some(steps.len() as u64), "{run:?}");

    let dir = root.join("var/lib/jts/journal");
    let files = journal_files(&dir);
    assert_eq!(files.len(), 1, "one journal file per apply: {files:?}");
    let file = &files[0];
    assert_eq!(file.extension().and_then(|e| e.to_str()), Some("jsonl"));
    assert_eq!(report["journal"].as_str().map(PathBuf::from).as_ref(), Some(file), "apply reports its journal");
    assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o7777, 0o700, "the journal directory is private");
    assert_journal_matches(file, &steps);

    // Nothing to do: no new journal.
    jts_at(&spec, &root, &["apply"]).expect_code(0);
    jts_at(&spec, &root, &["apply", "--dry-run"]).expect_code(0);
    assert_eq!(journal_files(&dir).len(), 1, "an apply with nothing to do writes no journal");

    // --journal DIR puts it elsewhere (not re-rooted).
    tool("chmod", &["0700", under(&root, "/data/jts/hot/redis").to_str().unwrap()]).expect_code(0);
    let steps = plan_steps(&spec, &root);
    assert_eq!(steps, [("Chmod".to_owned(), "/data/jts/hot/redis".to_owned())]);
    let elsewhere = tmp.path().join("journal-elsewhere");
    let run = jts_at(&spec, &root, &["apply", "--json", "--journal", elsewhere.to_str().unwrap()]);
    run.expect_code(0);
    let files = journal_files(&elsewhere);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(run.json()["journal"].as_str().map(PathBuf::from).as_ref(), Some(&files[0]));
    assert_journal_matches(&files[0], &steps);
    assert_eq!(journal_files(&dir).len(), 1, "--journal leaves ROOT/var/lib/jts/journal alone");
}
