//! `observe_to_plan` keeps of a recursive directory's contents only the entries to fix,
//! and plans exactly what the full observation plans.

use std::os::unix::fs::{PermissionsExt, chown};
use std::path::Path;

use jts_core::Root;
use jts_perms::{PermsSpec, observe, observe_to_plan, plan};

const SPEC: &str = r#"
[[directories]]
path = "/data"
owner = "OWNER"
group = "GROUP"
mode = "0750"
recursive = true
"#;

fn make(path: &Path, dir: bool, mode: u32) {
    if dir {
        std::fs::create_dir(path).unwrap();
    } else {
        std::fs::write(path, "x").unwrap();
    }
    std::fs::set_permissions(path, PermissionsExt::from_mode(mode)).unwrap();
}

/// A root whose `/etc/passwd` and `/etc/group` name `me` with this process's ids, and a
/// `/data` tree: two entries as declared, three to fix (mode only, since `me` owns all).
fn scratch() -> (tempfile::TempDir, Root) {
    let tmp = tempfile::tempdir().unwrap();
    let (uid, gid) = (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw());
    std::fs::create_dir(tmp.path().join("etc")).unwrap();
    std::fs::write(tmp.path().join("etc/passwd"), format!("me:x:{uid}:{gid}::/:/bin/sh\n")).unwrap();
    std::fs::write(tmp.path().join("etc/group"), format!("me:x:{gid}:\n")).unwrap();
    let data = tmp.path().join("data");
    make(&data, true, 0o750);
    make(&data.join("right.txt"), false, 0o640);
    make(&data.join("wrong.txt"), false, 0o644);
    make(&data.join("right-dir"), true, 0o750);
    make(&data.join("right-dir/wrong.txt"), false, 0o666);
    make(&data.join("wrong-dir"), true, 0o755);
    for entry in ["", "right.txt", "wrong.txt", "right-dir", "right-dir/wrong.txt", "wrong-dir"] {
        chown(data.join(entry), Some(uid), Some(gid)).unwrap();
    }
    let root = Root::new(tmp.path()).unwrap();
    (tmp, root)
}

fn spec(owner: &str) -> PermsSpec {
    toml::from_str(&SPEC.replace("OWNER", owner).replace("GROUP", "me")).unwrap()
}

fn paths(observed: &jts_perms::Observed) -> Vec<String> {
    let contents = observed.contents.values().next().expect("the contents of /data");
    contents.iter().map(|entry| entry.path.display().to_string()).collect()
}

#[test]
fn only_the_entries_to_fix_are_kept_and_the_plan_is_the_same() {
    let (_tmp, root) = scratch();
    let spec = spec("me");
    let (full, to_plan) = (observe(&spec, &root).unwrap(), observe_to_plan(&spec, &root).unwrap());
    assert_eq!(paths(&full), ["right-dir", "right-dir/wrong.txt", "right.txt", "wrong-dir", "wrong.txt"]);
    assert_eq!(paths(&to_plan), ["right-dir/wrong.txt", "wrong-dir", "wrong.txt"]);
    assert_eq!(plan(&spec, &full), plan(&spec, &to_plan));
    assert!(!plan(&spec, &full).is_empty());
}

#[test]
fn with_the_owner_still_to_be_created_every_entry_is_kept() {
    let (_tmp, root) = scratch();
    let spec: PermsSpec = toml::from_str(&format!(
        "[users.newcomer]\nuid = 4999\ngroup = \"me\"\n{}",
        SPEC.replace("OWNER", "newcomer").replace("GROUP", "me")
    ))
    .unwrap();
    let (full, to_plan) = (observe(&spec, &root).unwrap(), observe_to_plan(&spec, &root).unwrap());
    assert_eq!(paths(&to_plan), paths(&full));
    assert_eq!(plan(&spec, &full), plan(&spec, &to_plan));
}
