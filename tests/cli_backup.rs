//! `jts-provision backup` end to end, as any user: spec errors located and nothing
//! touched, a run, `verify` naming a damaged archive and file, unknown names.

use std::path::Path;

use jts_testkit::{jts_at, snapshot, tempdir};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn every_backup_spec_problem_is_located_and_nothing_is_touched() {
    let root = tempdir();
    let spec = root.path().join("storage.toml");
    write(&root.path().join("data/warm/b/keep.txt"), "untouched\n");
    write(
        &spec,
        r#"version = 1

[backups.none]
to = "/data/warm/a"

[backups.two]
path = "/etc/jts"
command = ["/usr/bin/pg_dump"]
to = "/data/warm/b"

[backups.shell]
command = ["pg_dump", "-Fc"]
to = "/data/warm/c"
compress = 40

[backups.nested]
path = "/data/warm"
to = "/data/warm/d"
user = "postgres"

[backups.lv]
volume = "lv_missing"
to = "/data/warm/e"
keep = { daily = 0 }

[backups.btrfs]
volume = "lv_backup"
to = "/data/warm/g"

[backups.raw]
volume = "lv_raw"
to = "/data/warm/h"

[volume_groups.vg_jts]
devices = ["/dev/nvme0n1"]

[volume_groups.vg_jts.volumes.lv_backup]
size = "10GiB"
filesystem = "btrfs"

[volume_groups.vg_jts.volumes.lv_raw]
size = "10GiB"

[backups.typo]
path = "/srv"
to = "/data/warm/f"
kepp = { daily = 7 }

[[rules]]
name = "zip-warm"
from = "/data/warm"
to = "/data/cold"
older_than = "7d"
action = "move"
compress = "zstd"
"#,
    );
    let before = snapshot(root.path());
    let run = jts_at(&spec, root.path(), &["backup", "run"]);
    run.expect_code(2);
    let file = spec.display().to_string();
    let expect = [
        ("backups.none", "no source; give exactly one of"),
        ("backups.two", "2 sources (path, command)"),
        ("backups.shell.command", "\"pg_dump\" is not an absolute path"),
        ("backups.shell.compress", "zstd level 40 is out of range"),
        ("backups.nested.to", "is inside the source"),
        ("backups.nested.user", "applies to a `command` source only"),
        ("backups.lv.volume", "lv_missing is no volume of this spec"),
        ("backups.lv.keep", "every count is 0"),
        ("backups.btrfs.volume", "lv_backup holds btrfs"),
        ("backups.raw.volume", "lv_raw is a raw volume"),
        ("backups.none.to", "rule zip-warm compresses"),
    ];
    for (key, message) in expect {
        let line = run.stderr.lines().find(|l| l.contains(&format!(": {key}: ")) && l.contains(message));
        let line = line.unwrap_or_else(|| panic!("no error for {key} ({message}): {run:?}"));
        let located =
            line.strip_prefix(&format!("{file}:")).and_then(|rest| rest.split(':').next()?.parse::<u32>().ok());
        assert!(located.is_some(), "not located as file:line:col: {line}");
    }
    assert!(run.stderr.contains("unknown field `kepp`"), "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    assert_eq!(snapshot(root.path()), before, "nothing touched");
}

fn path_spec(root: &Path) -> std::path::PathBuf {
    let spec = root.join("storage.toml");
    write(&spec, "version = 1\n[backups.conf]\npath = \"/srv/conf\"\nto = \"/data/backups\"\nkeep = { last = 2 }\n");
    spec
}

#[test]
fn verify_names_the_damaged_archive_and_file() {
    let root = tempdir();
    let spec = path_spec(root.path());
    let mut noise = Vec::with_capacity(1 << 21);
    let mut state = 88_172_645_463_325_252u64;
    for _ in 0..(1 << 21) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        noise.push((state >> 32) as u8);
    }
    write(&root.path().join("srv/conf/app.toml"), "port = 1\n");
    std::fs::write(root.path().join("srv/conf/model.bin"), &noise).unwrap();
    std::fs::create_dir_all(root.path().join("data/backups")).unwrap();
    let run = jts_at(&spec, root.path(), &["backup", "run", "--json"]);
    run.expect_code(0);
    let archive = run.json()["backups"][0]["report"]["archive"].as_str().unwrap().to_owned();
    jts_at(&spec, root.path(), &["backup", "verify"]).expect_code(0);
    let health = jts_at(&spec, root.path(), &["health", "--json"]);
    health.expect_code(0);
    assert_eq!(health.json()["backups"][0]["last_verify_ok"], true, "{health:?}");

    let mut bytes = std::fs::read(&archive).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&archive, bytes).unwrap();
    let verify = jts_at(&spec, root.path(), &["backup", "verify"]);
    verify.expect_code(1);
    assert!(verify.stdout.contains(&archive) && verify.stdout.contains("model.bin"), "{verify:?}");
    let list = jts_at(&spec, root.path(), &["backup", "list", "--json"]);
    list.expect_code(0);
    let verified = &list.json()["archives"][0]["verified"];
    assert_eq!(verified["ok"], false, "the failed verify is recorded: {list:?}");
    let health = jts_at(&spec, root.path(), &["health", "--prometheus"]);
    health.expect_code(2);
    assert!(health.stdout.contains("jts_backup_status{backup=\"conf\"} 2"), "{health:?}");
    assert!(health.stdout.contains("jts_backup_last_verify_ok{backup=\"conf\"} 0"), "{health:?}");
}

#[test]
fn health_warns_of_a_backup_that_never_ran_and_of_one_that_failed() {
    let root = tempdir();
    let spec = path_spec(root.path());
    std::fs::create_dir_all(root.path().join("srv/conf")).unwrap();
    let health = jts_at(&spec, root.path(), &["health", "--json"]);
    health.expect_code(1);
    assert!(health.json()["backups"][0]["message"].as_str().unwrap().contains("no backup run recorded"), "{health:?}");
    // `to` is missing: the run fails, and health still says no archive was ever kept.
    jts_at(&spec, root.path(), &["backup", "run"]).expect_code(1);
    let health = jts_at(&spec, root.path(), &["health", "--json"]);
    health.expect_code(1);
    assert!(health.json()["backups"][0]["message"].as_str().unwrap().contains("no archive kept yet"), "{health:?}");
}

#[test]
fn unknown_names_and_a_missing_destination_are_clear() {
    let root = tempdir();
    let spec = path_spec(root.path());
    std::fs::create_dir_all(root.path().join("srv/conf")).unwrap();
    let unknown = jts_at(&spec, root.path(), &["backup", "run", "nope"]);
    unknown.expect_code(2);
    assert!(unknown.stderr.contains("no backup named \"nope\": the spec declares conf"), "{unknown:?}");
    let missing = jts_at(&spec, root.path(), &["backup", "run"]);
    missing.expect_code(1);
    assert!(missing.stderr.contains("its `to` directory") && missing.stderr.contains("does not exist"), "{missing:?}");
}

/// A spec whose backup `db` dumps with `command` (TOML array text) into /data/dumps.
fn command_spec(root: &Path, command: &str, extra: &str) -> std::path::PathBuf {
    let spec = root.join("storage.toml");
    write(
        &spec,
        &format!(
            "version = 1\n[backups.db]\ncommand = {command}\nmember = \"trading.dump\"\nto = \"/data/dumps\"\n{extra}\n"
        ),
    );
    std::fs::create_dir_all(root.join("data/dumps")).unwrap();
    spec
}

fn dumps(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("data/dumps"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_failed_dump_keeps_no_archive_and_says_why() {
    let cases = [
        (
            r#"["/bin/sh", "-c", "echo partial; echo 'pg_dump: error: connection refused' >&2; exit 3"]"#,
            "",
            "exited with status 3",
            Some("connection refused"),
        ),
        (r#"["/bin/sh", "-c", "echo partial; kill -9 $$"]"#, "", "was killed by signal 9", None),
        (
            r#"["/bin/sh", "-c", "echo partial; sleep 60; echo late"]"#,
            "timeout = \"1s\"",
            "timed out after 1s and was killed",
            None,
        ),
        (r#"["/bin/true"]"#, "", "printed nothing", None),
        (r#"["/nonexistent/pg_dump"]"#, "", "/nonexistent/pg_dump", None),
    ];
    for (command, extra, why, stderr) in cases {
        let root = tempdir();
        let spec = command_spec(root.path(), command, extra);
        let run = jts_at(&spec, root.path(), &["backup", "run"]);
        run.expect_code(1);
        assert!(run.stderr.contains(why) && run.stderr.contains("no archive was kept"), "{command}: {run:?}");
        if let Some(stderr) = stderr {
            assert!(run.stderr.contains(stderr), "the dump's stderr is reported: {run:?}");
        }
        assert!(dumps(root.path()).is_empty(), "{command}: left {:?}", dumps(root.path()));
        let list = jts_at(&spec, root.path(), &["backup", "list", "--json"]);
        assert_eq!(list.json()["archives"].as_array().map(Vec::len), Some(0));
    }
}

#[test]
fn a_dump_is_one_member_and_hooks_run_around_it() {
    let root = tempdir();
    let log = root.path().join("hooks.log");
    let hooks = format!(
        "hooks = {{ before = [\"/bin/sh\", \"-c\", \"echo before >> {0}; echo CHECKPOINT\"], after = [\"/bin/sh\", \"-c\", \"echo after >> {0}\"] }}",
        log.display()
    );
    let spec = command_spec(root.path(), r#"["/bin/sh", "-c", "printf 'COPY accounts'; echo warning >&2"]"#, &hooks);
    let run = jts_at(&spec, root.path(), &["backup", "run", "--json"]);
    run.expect_code(0);
    let report = &run.json()["backups"][0]["report"];
    assert_eq!(report["files"], 1, "{run:?}");
    assert_eq!(report["source"]["status"], "exited with status 0");
    assert_eq!(report["source"]["stderr"], "warning");
    assert_eq!(report["hooks"][0]["output"], "CHECKPOINT", "{run:?}");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "before\nafter\n");
    let archive = report["archive"].as_str().unwrap();
    let listing = jts_testkit::tool("tar", &["--zstd", "-tf", archive]);
    assert_eq!(listing.stdout, "./trading.dump\n./.jts-manifest.json\n", "{listing:?}");
    let content = jts_testkit::tool("tar", &["--zstd", "-xOf", archive, "./trading.dump"]);
    assert_eq!(content.stdout, "COPY accounts");
    assert_eq!(dumps(root.path()).len(), 1, "no spool left: {:?}", dumps(root.path()));
    jts_at(&spec, root.path(), &["backup", "verify"]).expect_code(0);
}

#[test]
fn a_failed_before_hook_aborts_and_the_after_hook_still_runs() {
    let root = tempdir();
    let log = root.path().join("hooks.log");
    let hooks = format!(
        "hooks = {{ before = [\"/bin/sh\", \"-c\", \"echo 'database is starting up'; exit 1\"], after = [\"/bin/sh\", \"-c\", \"echo after >> {}\"] }}",
        log.display()
    );
    let spec = command_spec(root.path(), r#"["/bin/echo", "dump"]"#, &hooks);
    let run = jts_at(&spec, root.path(), &["backup", "run"]);
    run.expect_code(1);
    assert!(run.stderr.contains("hooks.before failed") && run.stderr.contains("database is starting up"), "{run:?}");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "after\n");
    assert!(dumps(root.path()).is_empty());

    let spec =
        command_spec(root.path(), r#"["/bin/echo", "dump"]"#, &format!("{hooks}\non_hook_failure = \"continue\""));
    let run = jts_at(&spec, root.path(), &["backup", "run", "--json"]);
    run.expect_code(0);
    assert_eq!(run.json()["backups"][0]["report"]["hooks"][0]["status"], "exited with status 1");
    assert_eq!(dumps(root.path()).len(), 1);
}

#[test]
fn a_backup_waits_for_the_lock_when_asked_and_names_the_holder_when_not() {
    let root = tempdir();
    let spec = path_spec(root.path());
    write(&root.path().join("srv/conf/app.toml"), "port = 1\n");
    std::fs::create_dir_all(root.path().join("data/backups")).unwrap();
    let lock = root.path().join("var/lib/jts/backup/lock");
    write(&lock, "");
    // Another backup command's hold on the lock, released after three seconds.
    #[allow(clippy::disallowed_methods, reason = "a test's own lock holder, waited for below")]
    let mut holder = std::process::Command::new("flock")
        .args(["--exclusive", lock.to_str().unwrap(), "sleep", "3"])
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&lock).unwrap());
    let held = || {
        let locks = std::fs::read_to_string("/proc/locks").unwrap();
        locks.lines().any(|line| line.contains("FLOCK") && line.contains(&format!(":{inode} ")))
    };
    while !held() {
        assert!(std::time::Instant::now() < deadline, "flock took the lock");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let refused = jts_at(&spec, root.path(), &["backup", "run"]);
    refused.expect_code(1);
    assert!(refused.stderr.contains("flock"), "names the holder: {refused:?}");
    let waited = jts_at(&spec, root.path(), &["backup", "run", "--wait", "60s", "--json"]);
    waited.expect_code(0);
    assert_eq!(waited.json()["backups"][0]["ok"], true, "{waited:?}");
    holder.wait().unwrap();
}
