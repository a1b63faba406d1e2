//! What real operators and hostile inputs found, each class pinned by a test that failed
//! before its fix: bad input that `check` let through, fresh roots, the apply lock,
//! messages (once, with a fix, without colour in a pipe) and fstab bytes.

use std::path::Path;

use jts_testkit::{
    LoopDevice, MIB, Mount, Run, assert_same_snapshot, example, jts, jts_at, require_root, snapshot, tempdir, tool,
    write_file,
};

/// Every problem of a spec `check` reports at once, as `FILE:LINE:COL: …` lines.
fn check_errors(spec: &Path, root: &Path) -> Vec<String> {
    let run = jts_at(spec, root, &["check"]);
    run.expect_code(2);
    let prefix = format!("{}:", spec.display());
    run.stderr.lines().filter(|line| line.starts_with(&prefix)).map(str::to_owned).collect()
}

/// No message prints an OS error twice or carries a colour code into a pipe.
#[track_caller]
fn assert_clean_message(run: &Run) {
    let all = run.all_output();
    assert!(!all.contains('\u{1b}'), "an ANSI escape went into a pipe:{run:?}");
    for line in all.lines() {
        assert!(line.matches("(os error").count() <= 1, "an OS error printed twice: {line}{run:?}");
    }
}

#[test]
fn check_rejects_what_apply_would_reject_halfway() {
    let dir = tempdir();
    let root = dir.path().join("root");
    let long = "n".repeat(256);
    let cases: [(&str, String, &str); 6] = [
        ("newline", "[[directories]]\npath = \"/data/a\\nb\"\n".into(), "control character"),
        ("nul", "[[directories]]\npath = \"/data/x\"\nchildren = [\"a\\u0000b\"]\n".into(), "children"),
        ("name_max", format!("[[directories]]\npath = \"/data/{long}\"\n"), "NAME_MAX"),
        ("uid_taken", "[users.app]\nuid = 0\n".into(), "uid 0 already belongs to user \"root\""),
        ("uid_minus_one", "[users.app]\nuid = 4294967295\n".into(), "(uid_t) -1"),
        ("gid_minus_one", "[groups.app]\ngid = 4294967295\n".into(), "(uid_t) -1"),
    ];
    for (name, body, expected) in cases {
        let spec = write_file(dir.path(), &format!("{name}.toml"), &format!("version = 1\n{body}"));
        let errors = check_errors(&spec, &root);
        assert!(errors.iter().any(|line| line.contains(expected)), "{name}: {errors:?}");
        assert!(!root.exists(), "{name}: check touched the root");
    }
}

#[test]
fn two_volumes_with_one_mount_point_are_located() {
    let dir = tempdir();
    let text = std::fs::read_to_string(example("hot-lvm.toml")).unwrap().replacen(
        "mount_point = \"/var/lib/clickhouse\"",
        "mount_point = \"/var/lib/postgresql\"",
        1,
    );
    let spec = write_file(dir.path(), "dup.toml", &text);
    let errors = check_errors(&spec, &dir.path().join("root"));
    assert!(
        errors.iter().any(|l| l.contains(".mount_point: /var/lib/postgresql is also the mount point of")),
        "{errors:?}"
    );
}

#[test]
fn every_problem_is_reported_at_once_in_file_order() {
    let dir = tempdir();
    let text = "version = 1\n[[directories]]\npath = \"relative\"\nmode = \"0999\"\n\
                [[directories]]\npath = \"/ok\"\nowner = \"nobody_here\"\nbogus = 1\n";
    let spec = write_file(dir.path(), "many.toml", text);
    let errors = check_errors(&spec, &dir.path().join("root"));
    let lines: Vec<&str> = errors.iter().map(|e| e.split(':').nth(1).unwrap()).collect();
    assert_eq!(lines, ["3", "4", "7", "8"], "{errors:#?}");
    assert!(!errors.iter().any(|e| e.contains("missing field")), "{errors:#?}");
}

#[test]
fn a_spec_that_is_not_utf8_or_nests_too_deep_is_located_with_a_fix() {
    let dir = tempdir();
    let latin = dir.path().join("latin1.toml");
    std::fs::write(&latin, b"version = 1\n# caf\xe9\n").unwrap();
    let run = jts(&["--config", latin.to_str().unwrap(), "check"]);
    run.expect_code(2);
    assert!(run.stderr.starts_with(&format!("{}:2:6: ", latin.display())), "{run:?}");
    assert!(run.stderr.contains("iconv") && !run.stderr.contains("pass --config"), "{run:?}");

    let deep = write_file(dir.path(), "deep.toml", &format!("version = 1\n[{}]\n", vec!["a"; 1000].join(".")));
    let run = jts(&["--config", deep.to_str().unwrap(), "check"]);
    run.expect_code(2);
    assert!(run.stderr.starts_with(&format!("{}:2:1: ", deep.display())), "{run:?}");
    assert!(run.stderr.contains("flatten"), "{run:?}");
}

#[test]
fn owner_root_resolves_under_an_empty_root() {
    let dir = tempdir();
    let spec =
        write_file(dir.path(), "root.toml", "version = 1\n[[directories]]\npath = \"/data/x\"\nowner = \"root\"\n");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    jts_at(&spec, &empty, &["check"]).expect_code(0);
    jts_at(&spec, &empty, &["render"]).expect_code(0);
}

#[test]
fn a_missing_root_and_a_missing_tier_say_what_and_how_to_fix() {
    let dir = tempdir();
    let missing = dir.path().join("not-there");
    let run = jts_at(&example("tier-demo.toml"), &missing, &["tier", "plan"]);
    run.expect_code(2);
    assert!(run.stderr.contains("is not a directory") && run.stderr.contains("`apply` creates"), "{run:?}");
    assert_clean_message(&run);

    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("data/hot/logs")).unwrap();
    let run = jts_at(&example("tier-demo.toml"), &root, &["tier", "plan"]);
    run.expect_code(1);
    assert!(run.stdout.contains("its `to` directory") && run.stdout.contains("may not be mounted"), "{run:?}");
    assert!(run.stdout.contains("its `from` directory"), "{run:?}");
    assert_eq!(run.all_output().matches("does not exist").count(), 2, "each problem once:{run:?}");
    assert_clean_message(&run);
}

#[test]
fn logs_carry_no_colour_into_a_pipe() {
    // `soft` makes check log a warning.
    let dir = tempdir();
    let spec = write_file(
        dir.path(),
        "soft.toml",
        "version = 1\n[nfs_mounts.cold]\nsource = \"127.0.0.1:/x\"\nmount_point = \"/mnt/cold\"\n\
         options = [\"vers=4.2\", \"soft\", \"_netdev\"]\n",
    );
    let run = jts_at(&spec, &dir.path().join("root"), &["check"]);
    assert!(run.stderr.contains("soft"), "the warning is logged:{run:?}");
    assert_clean_message(&run);
}

// ---------------------------------------------------------------------------------------
// Root tier.

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_a_fresh_root_with_directories_under_var_lib_converges_in_one_apply() {
    require_root();
    let dir = tempdir();
    let root = dir.path().join("fresh");
    std::fs::create_dir(&root).unwrap();
    let spec = example("var-lib-services.toml");
    jts_at(&spec, &root, &["apply"]).expect_code(0);
    for parent in ["var", "var/lib", "var/lib/postgresql/16"] {
        let run = tool("stat", &["-c", "%a %u %g", root.join(parent).to_str().unwrap()]);
        assert_eq!(run.stdout.trim(), "755 0 0", "{parent}:{run:?}");
    }
    jts_at(&spec, &root, &["validate"]).expect_code(0);
    let again = jts_at(&spec, &root, &["apply"]);
    again.expect_code(0);
    assert!(again.stdout.contains("0 changes"), "{again:?}");
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_a_second_apply_is_told_who_holds_the_lock() {
    require_root();
    let dir = tempdir();
    let root = dir.path().join("root");
    let spec = example("var-lib-services.toml");
    jts_at(&spec, &root, &["apply"]).expect_code(0);
    // Something to do again, and a holder that stays: a flock held by a child process.
    std::fs::remove_dir(root.join("var/log/jts")).unwrap();
    let state = jts_core::AbsPath::new("/var/lib/jts").unwrap();
    let holder = jts_core::StateLock::take(
        &jts_core::Root::new(&root).unwrap(),
        &state,
        "lock",
        0o755,
        "a test holding the lock",
    )
    .expect("the lock is free");
    let before = snapshot(&root);
    let run = jts_at(&spec, &root, &["apply"]);
    drop(holder);
    run.expect_code(1);
    assert!(run.stderr.contains("a test holding the lock (pid") && run.stderr.contains("holds"), "{run:?}");
    assert!(run.stderr.contains("var/lib/jts/lock"), "{run:?}");
    assert!(run.stderr.contains("wait for it to finish"), "{run:?}");
    let after = snapshot(&root);
    assert_same_snapshot(&before, &after, "ROOT while another apply held the lock");
    jts_at(&spec, &root, &["apply"]).expect_code(0);
}

/// A spec whose apply mounts `device` on /srv/cold, then writes /etc/fstab.
fn mount_spec(device: &str) -> String {
    format!(
        "version = 1\n[filesystems.cold]\ndevice = \"{device}\"\nfilesystem = \"ext4\"\nmount_point = \"/srv/cold\"\n"
    )
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_a_bind_mounted_or_immutable_fstab_is_explained_once() {
    require_root();
    let dir = tempdir();
    let mut data = LoopDevice::new(32 * MIB).formatted("mkfs.ext4", &["-q"]);
    let spec = write_file(dir.path(), "mount.toml", &mount_spec(data.device()));
    // Bind-mounted over: rename cannot replace it.
    let root = dir.path().join("bind");
    data.unmount_on_drop(root.join("srv/cold"));
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/fstab"), "# host\n").unwrap();
    let other = write_file(dir.path(), "other-fstab", "# other\n");
    let bind = Mount::new(&other, &root.join("etc/fstab"), None, &["bind"]);
    let run = jts_at(&spec, &root, &["apply"]);
    drop(bind);
    tool("umount", &[root.join("srv/cold").to_str().unwrap()]).expect_code(0);
    run.expect_code(1);
    assert!(run.all_output().contains("bind-mounted") && run.all_output().contains("findmnt"), "{run:?}");
    assert_clean_message(&run);
    assert_eq!(std::fs::read_to_string(root.join("etc/fstab")).unwrap(), "# host\n");

    // Immutable (ext4 supports chattr; tmpfs does not).
    let mut disk = LoopDevice::new(32 * MIB).formatted("mkfs.ext4", &["-q"]);
    let root = dir.path().join("immutable");
    std::fs::create_dir(&root).unwrap();
    disk.mount(&root, "ext4", &[]);
    std::fs::create_dir(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/fstab"), "# host\n").unwrap();
    tool("chattr", &["+i", root.join("etc/fstab").to_str().unwrap()]).expect_code(0);
    data.unmount_on_drop(root.join("srv/cold"));
    let run = jts_at(&spec, &root, &["apply"]);
    tool("umount", &[root.join("srv/cold").to_str().unwrap()]).expect_code(0);
    tool("chattr", &["-i", root.join("etc/fstab").to_str().unwrap()]).expect_code(0);
    run.expect_code(1);
    assert!(run.all_output().contains("chattr -i"), "{run:?}");
    assert_clean_message(&run);
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_a_full_journal_filesystem_is_explained_once() {
    require_root();
    let dir = tempdir();
    let root = dir.path().join("root");
    let journal = root.join("var/lib/jts/journal");
    std::fs::create_dir_all(&journal).unwrap();
    let _full = Mount::tmpfs(&journal, "8k");
    let _ = std::fs::write(journal.join("filler"), vec![0u8; 64 << 10]);
    let run = jts_at(&example("var-lib-services.toml"), &root, &["apply"]);
    run.expect_code(1);
    assert!(run.stderr.contains("journal") && run.stderr.contains("filesystem is full"), "{run:?}");
    assert_clean_message(&run);
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_a_user_who_is_not_root_is_told_to_run_as_root_once() {
    require_root();
    let dir = tempdir();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("var/lib/jts")).unwrap();
    let spec = write_file(dir.path(), "spec.toml", &std::fs::read_to_string(example("var-lib-services.toml")).unwrap());
    for path in [dir.path(), spec.as_path()] {
        jts_testkit::chmod(path, if path.is_dir() { 0o755 } else { 0o644 });
    }
    let bin = jts_testkit::provision_bin().to_str().unwrap().to_owned();
    let args = ["--reuid", "65534", "--regid", "65534", "--clear-groups", &bin, "--config"];
    let mut all: Vec<&str> = args.to_vec();
    all.extend([spec.to_str().unwrap(), "--root", root.to_str().unwrap(), "apply"]);
    let run = tool("setpriv", &all);
    run.expect_code(1);
    assert!(run.stderr.contains("Permission denied") && run.stderr.contains("run it as root"), "{run:?}");
    assert_clean_message(&run);
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_an_ancestor_that_locks_the_owner_out_is_named_and_left_alone() {
    require_root();
    let dir = tempdir();
    let root = dir.path().join("root");
    let locked = root.join("srv/locked");
    std::fs::create_dir_all(&locked).unwrap();
    tool("chown", &["1000:0", locked.to_str().unwrap()]).expect_code(0);
    jts_testkit::chmod(&locked, 0o770);
    let spec = write_file(
        dir.path(),
        "locked.toml",
        "version = 1\n[users.app]\nuid = 2500\n[[directories]]\npath = \"/srv/locked/app\"\nowner = \"app\"\n\
         mode = \"0750\"\n",
    );
    jts_at(&spec, &root, &["apply"]).expect_code(0);
    let validate = jts_at(&spec, &root, &["validate"]);
    validate.expect_code(0);
    let warning =
        "warning: /srv/locked/app is owned by app, who cannot reach it: its ancestor /srv/locked (1000:0 0770)";
    assert!(validate.stderr.contains(warning), "{validate:?}");
    let stat = tool("stat", &["-c", "%a %u", locked.to_str().unwrap()]);
    assert_eq!(stat.stdout.trim(), "770 1000", "the ancestor was changed");
}
