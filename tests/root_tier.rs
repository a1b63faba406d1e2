//! Root tier (docs/architecture.md, "Testing tiers"; issue 5): `jts-provision tier plan` /
//! `tier run` moving and deleting files between real filesystems on loop devices (ext4
//! "hot", btrfs "warm", xfs "cold") mounted under a temporary `--root`. Every test is
//! named `root_*`, is ignored unless asked for, fails when asked for without root, and
//! unmounts and detaches its loop devices even when it fails ([`LoopDevice`]'s guard).
//! Files are aged with `touch -h -d @SECONDS.NANOS`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, chown, symlink};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use jts_testkit::{
    LoopDevice, MIB, Run, TempDir, assert_same_snapshot, chmod, getfacl, is_mover_temporary, jts_at, require_root,
    snapshot, spawn_jts, tempdir, tier_journals, tool, under,
};
use serde_json::Value;

const DAY: u64 = 86_400;

const HOT: &str = "/data/jts/hot";
const WARM: &str = "/data/warm-storage";
const COLD: &str = "/mnt/synology/jts";

// ---------------------------------------------------------------------------------------
// Fixture: filesystems on loop devices under a scratch root.

/// Loop filesystems mounted under `root`, and the spec file. Field order is drop order:
/// the filesystems are unmounted and detached before the tempdir is removed.
struct Tiers {
    loops: Vec<LoopDevice>,
    root: PathBuf,
    spec: PathBuf,
    work: TempDir,
}

impl Tiers {
    /// Makes and mounts each `(filesystem, size in MiB, mount point)` (a spec path, below `root`).
    fn new(filesystems: &[(&str, u64, &str)]) -> Self {
        let work = tempdir();
        let root = work.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        let spec = work.path().join("storage.toml");
        let mut tiers = Self { loops: Vec::new(), root, spec, work };
        for (fstype, size_mib, mount_point) in filesystems {
            let force = if *fstype == "ext4" { "-F" } else { "-f" };
            let mut disk = LoopDevice::new(size_mib * MIB).formatted(&format!("mkfs.{fstype}"), &["-q", force]);
            let target = tiers.path(mount_point);
            std::fs::create_dir_all(&target).unwrap();
            disk.mount(&target, fstype, &[]);
            tiers.loops.push(disk);
        }
        tiers
    }

    /// The hot tier on ext4 and the warm tier on btrfs.
    fn hot_and_warm() -> Self {
        Self::new(&[("ext4", 200, HOT), ("btrfs", 256, WARM)])
    }

    /// `root` joined with the spec path `path`.
    fn path(&self, path: &str) -> PathBuf {
        under(&self.root, path)
    }

    /// Writes the spec: `version = 1` and `rules`.
    fn rules(&self, rules: &str) {
        std::fs::write(&self.spec, format!("version = 1\n{rules}")).unwrap();
    }

    /// `jts-provision --config SPEC --root ROOT tier ARGS`.
    fn tier(&self, args: &[&str]) -> Run {
        let mut all = vec!["tier"];
        all.extend_from_slice(args);
        jts_at(&self.spec, &self.root, &all)
    }

    /// `tier run --json ARGS`, expecting exit `code`; the run report.
    #[track_caller]
    fn run(&self, args: &[&str], code: i32) -> Value {
        let mut all = vec!["run", "--json"];
        all.extend_from_slice(args);
        let run = self.tier(&all);
        run.expect_code(code);
        let report = run.json();
        assert_eq!(report["ok"], code == 0, "{run:?}");
        report
    }

    /// `tier plan --json`, expecting exit `code`.
    #[track_caller]
    fn plan(&self, code: i32) -> Value {
        let run = self.tier(&["plan", "--json"]);
        run.expect_code(code);
        run.json()
    }

    /// The journal file of rule `name`.
    fn journal(&self, name: &str) -> PathBuf {
        self.path(&format!("/var/lib/jts/tier/{name}.journal"))
    }

    /// Every `.jts-tmp.*` below the scratch root.
    fn temporaries(&self) -> Vec<PathBuf> {
        snapshot(&self.root).into_keys().filter(|p| is_mover_temporary(p)).collect()
    }
}

/// The report of rule `name` in a run or plan report.
#[track_caller]
fn rule<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["rules"]
        .as_array()
        .and_then(|rules| rules.iter().find(|r| r["name"] == name))
        .unwrap_or_else(|| panic!("no rule {name} in {report:#}"))
}

/// Asserts the counters of a rule report (`conflicts` and `skipped` not included).
#[track_caller]
fn assert_counts(report: &Value, name: &str, expected: &[(&str, u64)]) {
    let rule = rule(report, name);
    for (key, value) in expected {
        assert_eq!(rule[*key], *value, "rule {name}: {key} in {report:#}");
    }
}

// ---------------------------------------------------------------------------------------
// Files.

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Sets the mtime (and atime) of `path`, not following a symlink, to `seconds_ago` before
/// now with the given nanoseconds.
fn age(path: &Path, seconds_ago: u64, nanos: u32) {
    let stamp = format!("@{}.{nanos:09}", unix_now() - seconds_ago);
    tool("touch", &["-h", "-d", &stamp, path.to_str().unwrap()]).expect_code(0);
}

/// Deterministic incompressible bytes, different for each `seed`.
fn noise(seed: &str, len: usize) -> Vec<u8> {
    let mut state =
        seed.bytes().fold(0x9e37_79b9_7f4a_7c15_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Writes `content` to `path` (creating parents) and makes it `days` old.
fn put(path: &Path, content: &[u8], days: u64) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
    age(path, days * DAY, 123_456_789);
    path.to_path_buf()
}

/// What a move must keep of a file.
#[derive(Clone, PartialEq, Eq)]
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: (i64, i64),
    acl: BTreeSet<String>,
    content: Vec<u8>,
}

impl std::fmt::Debug for Meta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let digest = self
            .content
            .iter()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3));
        write!(
            f,
            "mode {:o} owner {}:{} mtime {}.{:09} acl {:?} content {} bytes fnv {digest:016x}",
            self.mode,
            self.uid,
            self.gid,
            self.mtime.0,
            self.mtime.1,
            self.acl,
            self.content.len()
        )
    }
}

#[track_caller]
fn meta(path: &Path) -> Meta {
    let m = std::fs::symlink_metadata(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    assert!(m.is_file(), "{} is not a regular file", path.display());
    Meta {
        mode: m.mode() & 0o7777,
        uid: m.uid(),
        gid: m.gid(),
        mtime: (m.mtime(), m.mtime_nsec()),
        acl: getfacl(path),
        content: std::fs::read(path).unwrap(),
    }
}

fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Regular files below `dir`, relative, with their content (symlinks and directories left out).
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    snapshot(dir).into_iter().filter_map(|(path, inode)| Some((path, inode.contents?))).collect()
}

// ---------------------------------------------------------------------------------------
// 1. The seed's rules.

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_tier_the_seeds_rules_move_and_delete_exactly_the_old_files_keeping_paths_and_metadata() {
    require_root();
    let t = Tiers::new(&[("ext4", 200, HOT), ("btrfs", 256, WARM), ("xfs", 300, COLD)]);
    t.rules(&format!(
        r#"
# scripts/tiered-storage.sh: find /var/log -name "*.log" -mtime +7 -exec mv {{}} "$WARM_TIER/logs/" \;
[[rules]]
name = "logs-to-warm"
from = "{HOT}/logs"
to = "{WARM}/logs"
include = ["**/*.log"]
older_than = "7d"
action = "move"
reserve = "8MiB"

# find "$WARM_TIER/daily-backups/" -mtime +30 -exec mv {{}} "$COLD_TIER/archives/" \;
[[rules]]
name = "backups-to-cold"
from = "{WARM}/daily-backups"
to = "{COLD}/archives"
older_than = "30d"
action = "move"
verify = "readback"
reserve = "8MiB"

# find "$WARM_TIER/temp-processing/" -mtime +3 -delete
[[rules]]
name = "temp-cleanup"
from = "{WARM}/temp-processing"
older_than = "3d"
action = "delete"
"#
    ));
    let logs = t.path(&format!("{HOT}/logs"));
    let backups = t.path(&format!("{WARM}/daily-backups"));
    let temp = t.path(&format!("{WARM}/temp-processing"));
    std::fs::create_dir_all(t.path(&format!("{WARM}/logs"))).unwrap();
    std::fs::create_dir_all(t.path(&format!("{COLD}/archives"))).unwrap();

    // Old logs, nested, two of them named app.log (the seed flattened them onto one name).
    let old_logs: Vec<(&str, Vec<u8>)> = vec![
        ("a/b/c/x.log", noise("x", 70_000)),
        ("postgresql/app.log", noise("pg", 300_000)),
        ("kafka/app.log", noise("kafka", 12_345)),
        ("top.log", b"one line\n".to_vec()),
        ("empty.log", Vec::new()),
    ];
    for (path, content) in &old_logs {
        put(&logs.join(path), content, 8);
    }
    // Owner, mode, setgid directory, ACL and an mtime with nanoseconds on the nested one.
    let x = logs.join("a/b/c/x.log");
    chown(&x, Some(2100), Some(2101)).unwrap();
    chmod(&x, 0o640);
    tool("setfacl", &["-m", "u:2002:r,g:2003:rw", x.to_str().unwrap()]).expect_code(0);
    age(&x, 10 * DAY, 987_654_321);
    for (dir, mode) in [("a", 0o750), ("a/b", 0o2750)] {
        chown(logs.join(dir), Some(2100), Some(2101)).unwrap();
        chmod(&logs.join(dir), mode);
    }
    // Young, or not matching the include glob: stay.
    put(&logs.join("young.log"), b"today", 1);
    put(&logs.join("a/b/c/six-days.log"), b"six days", 6);
    put(&logs.join("a/notes.txt"), b"not a log", 30);
    // Backups: older than 30 days go cold, keeping their dated directories.
    let old_backups: Vec<(&str, Vec<u8>)> = vec![
        ("2025-09-01/postgres.tar.gz", noise("pg-backup", 400_000)),
        ("2025-09-01/clickhouse.tar.gz", noise("ch-backup", 250_000)),
        ("weekly.tar.gz", noise("weekly", 1_000)),
    ];
    for (path, content) in &old_backups {
        put(&backups.join(path), content, 40);
    }
    put(&backups.join("2025-10-20/postgres.tar.gz"), &noise("recent", 5_000), 29);
    // Temp processing: older than 3 days deleted, directories kept (no prune_empty_dirs).
    let old_temp = ["job1/a.tmp", "job1/b.tmp", "stale.csv"];
    for path in old_temp {
        put(&temp.join(path), &noise(path, 777), 4);
    }
    put(&temp.join("job2/running.tmp"), b"in progress", 1);

    let x_before = meta(&x);
    let logs_before: BTreeMap<&str, Meta> = old_logs.iter().map(|(p, _)| (*p, meta(&logs.join(p)))).collect();
    let backups_before: BTreeMap<&str, Meta> = old_backups.iter().map(|(p, _)| (*p, meta(&backups.join(p)))).collect();
    let stays = [
        logs.join("young.log"),
        logs.join("a/b/c/six-days.log"),
        logs.join("a/notes.txt"),
        backups.join("2025-10-20/postgres.tar.gz"),
        temp.join("job2/running.tmp"),
    ];
    let stays_before: Vec<_> = stays.iter().map(|p| snapshot(p)).collect();

    // The plan says exactly what the run then does.
    let plan = t.plan(0);
    let log_bytes: u64 = old_logs.iter().map(|(_, c)| c.len() as u64).sum();
    let backup_bytes: u64 = old_backups.iter().map(|(_, c)| c.len() as u64).sum();
    assert_counts(&plan, "logs-to-warm", &[("files", 5), ("bytes", log_bytes)]);
    assert_counts(&plan, "backups-to-cold", &[("files", 3), ("bytes", backup_bytes)]);
    assert_counts(&plan, "temp-cleanup", &[("files", 3), ("bytes", 3 * 777)]);
    assert_eq!(rule(&plan, "logs-to-warm")["fits"], true, "{plan:#}");

    let report = t.run(&[], 0);
    for name in ["logs-to-warm", "backups-to-cold", "temp-cleanup"] {
        let (planned, done) = (rule(&plan, name), rule(&report, name));
        let (files, bytes) =
            if name == "temp-cleanup" { ("deleted_files", "deleted_bytes") } else { ("moved_files", "moved_bytes") };
        assert_eq!(
            (&planned["files"], &planned["bytes"]),
            (&done[files], &done[bytes]),
            "{name}: plan {plan:#} run {report:#}"
        );
        assert_eq!(done["error"], Value::Null, "{report:#}");
        assert_eq!(done["conflicts"], serde_json::json!([]), "{report:#}");
        assert_eq!(done["skipped"], serde_json::json!([]), "{report:#}");
    }
    assert_counts(&report, "logs-to-warm", &[("selected_files", 5), ("moved_files", 5), ("duplicates", 0)]);
    assert_counts(&report, "backups-to-cold", &[("selected_files", 3), ("moved_files", 3)]);
    assert_counts(&report, "temp-cleanup", &[("deleted_files", 3), ("pruned_dirs", 0)]);

    // Moved to the same relative path, with content and metadata.
    let warm_logs = t.path(&format!("{WARM}/logs"));
    for (path, before) in &logs_before {
        assert!(!exists(&logs.join(path)), "{path} left at the source");
        assert_eq!(&meta(&warm_logs.join(path)), before, "{path} at the warm tier");
    }
    let moved_x = meta(&warm_logs.join("a/b/c/x.log"));
    assert_eq!(moved_x, x_before);
    // 0660: the ACL's mask (rw-, from g:2003:rw) shows as the group bits.
    assert_eq!((moved_x.mode, moved_x.uid, moved_x.gid, moved_x.mtime.1), (0o660, 2100, 2101, 987_654_321));
    assert!(moved_x.acl.contains("user:2002:r--") && moved_x.acl.contains("group:2003:rw-"), "{:?}", moved_x.acl);
    assert_eq!(
        files(&warm_logs).into_keys().collect::<BTreeSet<_>>(),
        old_logs.iter().map(|(p, _)| PathBuf::from(p)).collect(),
        "exactly the old logs arrived, nothing else"
    );
    // Destination directories are made like the source's.
    for (dir, mode) in [("a", 0o750), ("a/b", 0o2750)] {
        let m = std::fs::metadata(warm_logs.join(dir)).unwrap();
        assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (mode, 2100, 2101), "{dir}");
    }
    let archives = t.path(&format!("{COLD}/archives"));
    for (path, before) in &backups_before {
        assert!(!exists(&backups.join(path)), "{path} left on the warm tier");
        assert_eq!(&meta(&archives.join(path)), before, "{path} at the cold tier");
    }
    assert_eq!(files(&archives).len(), 3);
    for path in old_temp {
        assert!(!exists(&temp.join(path)), "{path} not deleted");
    }
    assert!(temp.join("job1").is_dir(), "directories are not deleted without prune_empty_dirs");
    for (path, before) in stays.iter().zip(&stays_before) {
        assert_same_snapshot(before, &snapshot(path), &path.display().to_string());
    }
    assert_eq!(t.temporaries(), Vec::<PathBuf>::new());
    for name in ["logs-to-warm", "backups-to-cold"] {
        assert_eq!(std::fs::metadata(t.journal(name)).unwrap().len(), 0, "{name} journal emptied");
    }

    // Again: nothing to do, nothing touched.
    let data_before = snapshot(&t.path("/data"));
    let cold_before = snapshot(&t.path(COLD));
    let again = t.run(&[], 0);
    for name in ["logs-to-warm", "backups-to-cold", "temp-cleanup"] {
        assert_counts(
            &again,
            name,
            &[("selected_files", 0), ("moved_files", 0), ("duplicates", 0), ("deleted_files", 0)],
        );
    }
    assert_same_snapshot(&data_before, &snapshot(&t.path("/data")), "the tiers on a second run");
    assert_same_snapshot(&cold_before, &snapshot(&t.path(COLD)), "the cold tier on a second run");
    assert_counts(&t.plan(0), "logs-to-warm", &[("files", 0), ("bytes", 0)]);
}

// ---------------------------------------------------------------------------------------
// 2. Collisions.

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_tier_a_name_taken_at_the_destination_is_deduplicated_or_kept_both_never_overwritten() {
    require_root();
    let t = Tiers::hot_and_warm();
    t.rules(&format!(
        "[[rules]]\nname = \"logs\"\nfrom = \"{HOT}/logs\"\nto = \"{WARM}/logs\"\nolder_than = \"7d\"\naction = \"move\"\nreserve = \"8MiB\"\n"
    ));
    let (src, dst) = (t.path(&format!("{HOT}/logs")), t.path(&format!("{WARM}/logs")));
    // Same content already there: a duplicate.
    put(&src.join("same/dup.log"), &noise("dup", 50_000), 10);
    put(&dst.join("same/dup.log"), &noise("dup", 50_000), 2);
    // Different content: kept both.
    put(&src.join("diff.log"), b"the hot tier's diff.log\n", 10);
    put(&dst.join("diff.log"), b"the warm tier's own diff.log\n", 2);
    // Different content, and the first conflict name taken too.
    put(&src.join("db.tar.gz"), &noise("db-new", 9_000), 10);
    put(&dst.join("db.tar.gz"), &noise("db-old", 9_000), 2);
    put(&dst.join("db.conflict-1.tar.gz"), &noise("db-older", 9_000), 2);
    // The seed's flattening: two app.log in different directories.
    put(&src.join("postgresql/app.log"), b"postgres log\n", 10);
    put(&src.join("kafka/app.log"), b"kafka log\n", 10);

    let src_before: BTreeMap<&str, Meta> = ["diff.log", "db.tar.gz", "postgresql/app.log", "kafka/app.log"]
        .into_iter()
        .map(|p| (p, meta(&src.join(p))))
        .collect();
    let dst_before = snapshot(&dst);

    let report = t.run(&[], 0);
    assert_counts(&report, "logs", &[("selected_files", 5), ("moved_files", 4), ("duplicates", 1)]);
    let mut conflicts: Vec<(String, String)> = rule(&report, "logs")["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["source"].as_str().unwrap().to_owned(), c["kept_as"].as_str().unwrap().to_owned()))
        .collect();
    conflicts.sort();
    assert_eq!(
        conflicts,
        [
            ("db.tar.gz".to_owned(), "db.conflict-2.tar.gz".to_owned()),
            ("diff.log".to_owned(), "diff.conflict-1.log".to_owned())
        ],
        "{report:#}"
    );
    // Every file that was at the destination is untouched: same inode, content, ctime.
    let dst_after = snapshot(&dst);
    for (path, before) in &dst_before {
        if path.as_os_str().is_empty() || before.kind == 'd' {
            continue;
        }
        assert_eq!(dst_after.get(path), Some(before), "{} at the destination changed", path.display());
    }
    assert!(!exists(&src.join("same/dup.log")), "the duplicate's source is removed");
    assert_eq!(meta(&dst.join("diff.conflict-1.log")), src_before["diff.log"]);
    assert_eq!(meta(&dst.join("db.conflict-2.tar.gz")), src_before["db.tar.gz"]);
    assert_eq!(meta(&dst.join("postgresql/app.log")), src_before["postgresql/app.log"]);
    assert_eq!(meta(&dst.join("kafka/app.log")), src_before["kafka/app.log"]);
    assert_eq!(files(&src), BTreeMap::new(), "all sources moved");
    assert_eq!(files(&dst).len(), 8, "4 that were there + 4 moved, none overwritten");
    assert_eq!(t.temporaries(), Vec::<PathBuf>::new());

    let again = t.run(&[], 0);
    assert_counts(&again, "logs", &[("selected_files", 0), ("moved_files", 0), ("duplicates", 0)]);
}

// ---------------------------------------------------------------------------------------
// 3. Open files.

/// A child process holding a file open for appending, killed (by its pid) on drop.
struct Holder(std::process::Child);

impl Holder {
    fn new(path: &Path) -> Self {
        #[allow(clippy::disallowed_methods, reason = "a test's own long-lived child, killed by its pid on drop")]
        let mut child = std::process::Command::new("sh")
            .args(["-c", "exec 3>>\"$0\"; echo ready; exec sleep 600", path.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        Self(child)
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_tier_files_open_for_writing_are_skipped_until_closed() {
    require_root();
    let t = Tiers::hot_and_warm();
    t.rules(&format!(
        "[[rules]]\nname = \"logs\"\nfrom = \"{HOT}/logs\"\nto = \"{WARM}/logs\"\nolder_than = \"7d\"\naction = \"move\"\nreserve = \"8MiB\"\n"
    ));
    let (src, dst) = (t.path(&format!("{HOT}/logs")), t.path(&format!("{WARM}/logs")));
    std::fs::create_dir_all(&dst).unwrap();
    let by_child = put(&src.join("db/held-by-child.log"), &noise("child", 20_000), 10);
    let by_us = put(&src.join("held-rw.log"), &noise("rw", 20_000), 10);
    let read_only = put(&src.join("read-only.log"), &noise("ro", 20_000), 10);
    let closed = put(&src.join("closed.log"), &noise("closed", 20_000), 10);
    let held_before = [(by_child.clone(), meta(&by_child)), (by_us.clone(), meta(&by_us))];
    let read_only_before = meta(&read_only);

    let holder = Holder::new(&by_child);
    let rw = OpenOptions::new().read(true).write(true).open(&by_us).unwrap();
    let reader = std::fs::File::open(&read_only).unwrap();

    let plan = t.plan(0);
    assert_counts(&plan, "logs", &[("files", 2), ("bytes", 40_000)]);
    let open_names = |list: &Value, field: &str| -> Vec<String> {
        let mut names: Vec<String> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|item| if field.is_empty() { item } else { &item[field] }.as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };
    let held_names: Vec<String> = {
        let mut names: Vec<String> =
            held_before.iter().map(|(p, _)| p.strip_prefix(&src).unwrap().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    };
    assert_eq!(open_names(&rule(&plan, "logs")["open_for_writing"], ""), held_names, "plan names the busy files");
    let report = t.run(&[], 0);
    assert_counts(&report, "logs", &[("selected_files", 2), ("moved_files", 2)]);
    assert_eq!(open_names(&rule(&report, "logs")["skipped"], "path"), held_names, "run reports them as skipped");
    assert!(rule(&report, "logs")["skipped"][0]["reason"].as_str().unwrap().contains("open for writing"));
    assert!(exists(&dst.join("closed.log")) && !exists(&closed));
    assert_eq!(meta(&dst.join("read-only.log")), read_only_before, "open for reading only: moved");
    for (path, before) in &held_before {
        assert_eq!(&meta(path), before, "{} held open for writing: intact at the source", path.display());
    }
    assert_eq!(
        files(&dst).into_keys().collect::<Vec<_>>(),
        [PathBuf::from("closed.log"), PathBuf::from("read-only.log")]
    );

    drop((holder, rw, reader));
    let report = t.run(&[], 0);
    assert_counts(&report, "logs", &[("selected_files", 2), ("moved_files", 2)]);
    for (path, before) in &held_before {
        assert!(!exists(path));
        let moved = dst.join(path.strip_prefix(&src).unwrap());
        assert_eq!(&meta(&moved), before, "{} moved once closed", moved.display());
    }
}

// ---------------------------------------------------------------------------------------
// 4. Symlinks.

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_tier_symlinks_inside_the_source_are_never_followed() {
    require_root();
    let t = Tiers::hot_and_warm();
    t.rules(&format!(
        "[[rules]]\nname = \"logs\"\nfrom = \"{HOT}/logs\"\nto = \"{WARM}/logs\"\ninclude = [\"**/*.log\"]\nolder_than = \"7d\"\naction = \"move\"\nreserve = \"8MiB\"\n"
    ));
    let (src, dst) = (t.path(&format!("{HOT}/logs")), t.path(&format!("{WARM}/logs")));
    std::fs::create_dir_all(&dst).unwrap();
    // Outside the root altogether, and outside `from` on the same filesystem.
    let outside = t.work.path().join("outside");
    put(&outside.join("secret.log"), b"not the tier's\n", 10);
    put(&outside.join("dir/inner.log"), b"not the tier's either\n", 10);
    put(&t.path(&format!("{HOT}/other/neighbour.log")), b"another rule's\n", 10);
    std::fs::create_dir_all(&src).unwrap();
    symlink(outside.join("secret.log"), src.join("link.log")).unwrap();
    symlink(outside.join("dir"), src.join("linked-dir")).unwrap();
    std::fs::create_dir_all(src.join("sub")).unwrap();
    symlink("../../other/neighbour.log", src.join("sub/relative.log")).unwrap();
    for link in ["link.log", "linked-dir", "sub/relative.log"] {
        age(&src.join(link), 10 * DAY, 0);
    }
    put(&src.join("real.log"), b"the only file to move\n", 10);
    // Targets' atimes well in the past: a read would update them (relatime).
    for target in [outside.join("secret.log"), outside.join("dir/inner.log")] {
        tool("touch", &["-a", "-d", "@1000000000", target.to_str().unwrap()]).expect_code(0);
    }
    // Inode, size, mtime, ctime and atime, read without reading the files.
    let stats = |dir: &Path| -> Vec<(u64, u64, i64, i64, i64, i64, i64)> {
        ["secret.log", "dir/inner.log"]
            .iter()
            .map(|p| std::fs::metadata(dir.join(p)).unwrap())
            .map(|m| (m.ino(), m.size(), m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec(), m.atime()))
            .collect()
    };
    let stats_before = stats(&outside);
    let other_before = snapshot(&t.path(&format!("{HOT}/other")));
    let links_before: Vec<_> =
        ["link.log", "linked-dir", "sub/relative.log"].iter().map(|l| snapshot(&src.join(l))).collect();

    assert_counts(&t.plan(0), "logs", &[("files", 1)]);
    let report = t.run(&[], 0);
    assert_counts(&report, "logs", &[("selected_files", 1), ("moved_files", 1)]);
    assert_eq!(files(&dst).into_keys().collect::<Vec<_>>(), [PathBuf::from("real.log")]);
    assert!(!exists(&dst.join("link.log")) && !exists(&dst.join("linked-dir")) && !exists(&dst.join("sub")));
    for (link, before) in ["link.log", "linked-dir", "sub/relative.log"].iter().zip(&links_before) {
        assert_same_snapshot(before, &snapshot(&src.join(link)), link);
    }
    assert_eq!(stats(&outside), stats_before, "the targets outside the root: not changed, not even read (atime)");
    assert_eq!(
        files(&outside),
        BTreeMap::from([
            (PathBuf::from("secret.log"), b"not the tier's\n".to_vec()),
            (PathBuf::from("dir/inner.log"), b"not the tier's either\n".to_vec())
        ])
    );
    assert_same_snapshot(&other_before, &snapshot(&t.path(&format!("{HOT}/other"))), "a target outside `from`");
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_tier_a_symlink_where_a_destination_directory_should_be_fails_the_rule_and_moves_nothing() {
    require_root();
    let t = Tiers::hot_and_warm();
    t.rules(&format!(
        r#"
[[rules]]
name = "to-is-a-symlink"
from = "{HOT}/a"
to = "{WARM}/a"
older_than = "7d"
action = "move"
reserve = "8MiB"

[[rules]]
name = "parent-is-a-symlink"
from = "{HOT}/b"
to = "{WARM}/b-link/inner"
older_than = "7d"
action = "move"
reserve = "8MiB"

[[rules]]
name = "planted-below"
from = "{HOT}/c"
to = "{WARM}/c"
older_than = "7d"
action = "move"
reserve = "8MiB"
"#
    ));
    let elsewhere = t.path(&format!("{WARM}/elsewhere"));
    let outside = t.work.path().join("outside");
    std::fs::create_dir_all(elsewhere.join("inner")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    symlink(&elsewhere, t.path(&format!("{WARM}/a"))).unwrap();
    symlink(&elsewhere, t.path(&format!("{WARM}/b-link"))).unwrap();
    // `to` itself is real, but a directory the move needs below it is a symlink.
    std::fs::create_dir_all(t.path(&format!("{WARM}/c"))).unwrap();
    symlink(&outside, t.path(&format!("{WARM}/c/sub"))).unwrap();
    for rule in ["a", "b"] {
        put(&t.path(&format!("{HOT}/{rule}/x.log")), rule.as_bytes(), 10);
    }
    put(&t.path(&format!("{HOT}/c/sub/x.log")), b"c", 10);
    let hot_before = snapshot(&t.path(HOT));
    let warm_before = snapshot(&t.path(WARM));
    let outside_before = snapshot(&outside);

    let plan = t.plan(1);
    for (name, path) in [("to-is-a-symlink", format!("{WARM}/a")), ("parent-is-a-symlink", format!("{WARM}/b-link"))] {
        let error = rule(&plan, name)["error"].as_str().unwrap_or_else(|| panic!("{plan:#}"));
        assert!(error.contains(&path) && error.contains("symlink"), "{name}: {error}");
    }
    let report = t.run(&[], 1);
    for (name, path) in [
        ("to-is-a-symlink", format!("{WARM}/a")),
        ("parent-is-a-symlink", format!("{WARM}/b-link")),
        ("planted-below", format!("{WARM}/c/sub")),
    ] {
        let error = rule(&report, name)["error"].as_str().unwrap_or_else(|| panic!("{name} did not fail: {report:#}"));
        assert!(error.contains(&path) && error.contains("symlink"), "{name}: {error}");
        assert_counts(&report, name, &[("moved_files", 0)]);
    }
    assert_same_snapshot(&hot_before, &snapshot(&t.path(HOT)), "the sources");
    assert_same_snapshot(&warm_before, &snapshot(&t.path(WARM)), "the warm tier");
    assert_same_snapshot(&outside_before, &snapshot(&outside), "the planted symlink's target");
    for name in ["to-is-a-symlink", "parent-is-a-symlink", "planted-below"] {
        let journal = t.journal(name);
        assert!(!exists(&journal) || std::fs::metadata(&journal).unwrap().len() == 0, "{name} journal");
    }
}

// ---------------------------------------------------------------------------------------
// 5. A full destination.

/// After a run stopped by a full destination: every file in `all` (relative path →
/// content) is exactly once at `src` or `dst` with its content, `moved` of them at `dst`;
/// no temporaries; the journals empty. Returns the moved paths.
#[track_caller]
fn assert_intact(
    t: &Tiers,
    src: &Path,
    dst: &Path,
    all: &BTreeMap<PathBuf, Vec<u8>>,
    journal: &str,
) -> BTreeSet<PathBuf> {
    let (at_src, at_dst) = (files(src), files(dst));
    let mut seen = BTreeSet::new();
    for (path, content) in at_src.iter().chain(&at_dst) {
        assert!(seen.insert(path.clone()), "{} is at both the source and the destination", path.display());
        assert_eq!(all.get(path), Some(content), "{} has changed (or is unexpected)", path.display());
    }
    assert_eq!(
        seen.len(),
        all.len(),
        "files lost: {:?}",
        all.keys().filter(|p| !seen.contains(*p)).collect::<Vec<_>>()
    );
    assert_eq!(t.temporaries(), Vec::<PathBuf>::new(), "temporaries left behind");
    let journals = tier_journals(&t.root, journal);
    assert!(!journals.is_empty(), "the rule has its journals");
    for journal in journals {
        assert_eq!(std::fs::metadata(&journal).unwrap().len(), 0, "{} is emptied", journal.display());
    }
    at_dst.into_keys().collect()
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_tier_a_full_destination_stops_the_rule_with_every_file_intact() {
    a_full_destination_stops_the_rule_with_every_file_intact(&[]);
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_tier_a_full_destination_with_batches_in_flight_stops_the_rule_with_every_file_intact() {
    // One file per batch: the destination fills while batches are copying, committing
    // and unlinking at once.
    a_full_destination_stops_the_rule_with_every_file_intact(&["--batch-files", "1"]);
}

fn a_full_destination_stops_the_rule_with_every_file_intact(args: &[&str]) {
    require_root();
    let t = Tiers::new(&[("ext4", 200, HOT), ("btrfs", 120, WARM)]);
    t.rules(&format!(
        "[[rules]]\nname = \"big\"\nfrom = \"{HOT}/big\"\nto = \"{WARM}/big\"\nolder_than = \"7d\"\naction = \"move\"\nreserve = \"0\"\nverify = \"copy\"\n"
    ));
    let (src, dst) = (t.path(&format!("{HOT}/big")), t.path(&format!("{WARM}/big")));
    std::fs::create_dir_all(&dst).unwrap();
    let mut all = BTreeMap::new();
    for i in 0..10 {
        let path = PathBuf::from(format!("d{}/f{i:02}.bin", i % 3));
        let content = noise(&format!("big{i}"), 8 << 20);
        put(&src.join(&path), &content, 10);
        all.insert(path, content);
    }
    let plan = t.plan(0);
    assert_eq!(rule(&plan, "big")["fits"], false, "{plan:#}");

    let report = t.run(args, 1);
    let error = rule(&report, "big")["error"].as_str().unwrap().to_owned();
    assert!(error.contains("full") && error.contains(dst.to_str().unwrap()), "{error}");
    let moved = assert_intact(&t, &src, &dst, &all, "big");
    assert_counts(
        &report,
        "big",
        &[("selected_files", 10), ("moved_files", moved.len() as u64), ("moved_bytes", moved.len() as u64 * (8 << 20))],
    );
    assert!(!moved.is_empty() && moved.len() < 10, "some fit, not all: {moved:?}");

    // Still full: another run fails the same way and loses nothing.
    let again = t.run(args, 1);
    assert!(rule(&again, "big")["error"].as_str().unwrap().contains("full"), "{again:#}");
    assert_eq!(assert_intact(&t, &src, &dst, &all, "big"), moved);
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_tier_the_default_reserve_larger_than_the_destination_moves_nothing() {
    require_root();
    let t = Tiers::new(&[("ext4", 200, HOT), ("btrfs", 120, WARM)]);
    // No `reserve`: the default keeps 1GiB free, more than the whole destination.
    t.rules(&format!("[[rules]]\nname = \"logs\"\nfrom = \"{HOT}/logs\"\nto = \"{WARM}/logs\"\nolder_than = \"7d\"\naction = \"move\"\n"));
    let (src, dst) = (t.path(&format!("{HOT}/logs")), t.path(&format!("{WARM}/logs")));
    std::fs::create_dir_all(&dst).unwrap();
    let all: BTreeMap<PathBuf, Vec<u8>> =
        (0..3).map(|i| (PathBuf::from(format!("s/{i}.log")), noise(&i.to_string(), 1000))).collect();
    for (path, content) in &all {
        put(&src.join(path), content, 10);
    }
    let src_before = snapshot(&src);
    assert_eq!(rule(&t.plan(0), "logs")["fits"], false);
    let report = t.run(&[], 1);
    let error = rule(&report, "logs")["error"].as_str().unwrap();
    assert!(error.contains("full") && error.contains(&(1u64 << 30).to_string()), "names the reserve: {error}");
    assert_counts(&report, "logs", &[("selected_files", 3), ("moved_files", 0)]);
    assert_same_snapshot(&src_before, &snapshot(&src), "the sources");
    // Room is checked before a file's destination directory is made: nothing at all.
    assert_eq!(std::fs::read_dir(&dst).unwrap().count(), 0, "not even an empty directory at the destination");
    assert_intact(&t, &src, &dst, &all, "logs");
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_tier_running_out_of_inodes_at_the_destination_is_a_full_destination_with_every_file_intact() {
    require_root();
    // Bytes to spare but only a handful of inodes: the kernel's ENOSPC, not the reserve check.
    let t = Tiers::new(&[("ext4", 200, HOT)]);
    let cold = t.path(COLD);
    std::fs::create_dir_all(&cold).unwrap();
    let mut disk = LoopDevice::new(16 * MIB).formatted("mkfs.ext4", &["-q", "-F", "-N", "16"]);
    disk.mount(&cold, "ext4", &[]);
    t.rules(&format!(
        "[[rules]]\nname = \"tiny\"\nfrom = \"{HOT}/tiny\"\nto = \"{COLD}\"\nolder_than = \"7d\"\naction = \"move\"\nreserve = \"0\"\n"
    ));
    let src = t.path(&format!("{HOT}/tiny"));
    let mut all = BTreeMap::new();
    for i in 0..30 {
        let path = PathBuf::from(format!("d{}/t{i:02}.txt", i % 4));
        let content = format!("tiny {i}\n").into_bytes();
        put(&src.join(&path), &content, 10);
        all.insert(path, content);
    }
    let report = t.run(&[], 1);
    let error = rule(&report, "tiny")["error"].as_str().unwrap().to_owned();
    assert!(error.contains("full") && error.contains(cold.to_str().unwrap()), "{error}");
    let moved = assert_intact(&t, &src, &cold, &all, "tiny");
    assert_counts(&report, "tiny", &[("selected_files", 30), ("moved_files", moved.len() as u64)]);
    assert!(moved.len() < 30, "{moved:?}");
    drop(disk);
}

// ---------------------------------------------------------------------------------------
// 6. Delete rules.

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_tier_a_delete_rule_deletes_only_old_matching_files_and_prunes_only_when_asked() {
    require_root();
    let t = Tiers::hot_and_warm();
    t.rules(&format!(
        r#"
[[rules]]
name = "prune"
from = "{WARM}/prune"
include = ["**/*.tmp"]
exclude = ["keep/**"]
older_than = "3d"
action = "delete"
prune_empty_dirs = true

[[rules]]
name = "no-prune"
from = "{WARM}/no-prune"
include = ["**/*.tmp"]
exclude = ["keep/**"]
older_than = "3d"
action = "delete"

[[rules]]
name = "everything"
from = "{WARM}/everything"
older_than = "3d"
action = "delete"
prune_empty_dirs = true
"#
    ));
    let outside = t.work.path().join("outside");
    put(&outside.join("target.tmp"), b"a symlink's target\n", 10);
    let deleted = ["old.tmp", "job1/a.tmp", "job1/b.tmp", "job2/c.tmp", "job3/deep/d.tmp"];
    let kept_files = ["young.tmp", "job2/young.tmp", "keep/x.tmp", "old.csv"];
    for name in ["prune", "no-prune"] {
        let from = t.path(&format!("{WARM}/{name}"));
        for (i, path) in deleted.iter().enumerate() {
            put(&from.join(path), &noise(path, 100 * (i + 1)), 4);
        }
        put(&from.join("young.tmp"), b"young", 2);
        put(&from.join("job2/young.tmp"), b"young", 2);
        put(&from.join("keep/x.tmp"), b"excluded", 30);
        put(&from.join("old.csv"), b"not matched", 30);
        std::fs::create_dir_all(from.join("already-empty")).unwrap();
        std::fs::create_dir_all(from.join("dir.tmp")).unwrap();
        age(&from.join("dir.tmp"), 30 * DAY, 0);
        symlink(outside.join("target.tmp"), from.join("link.tmp")).unwrap();
        age(&from.join("link.tmp"), 30 * DAY, 0);
    }
    let everything = t.path(&format!("{WARM}/everything"));
    put(&everything.join("only/one/file.bin"), b"old", 30);
    put(&everything.join("top.bin"), b"old", 30);
    chmod(&everything, 0o1777);
    let outside_before = snapshot(&outside);
    let everything_stat = std::fs::metadata(&everything).unwrap();
    let kept_before: BTreeMap<PathBuf, _> = ["prune", "no-prune"]
        .iter()
        .flat_map(|name| kept_files.iter().map(move |p| format!("{WARM}/{name}/{p}")))
        .map(|p| t.path(&p))
        .map(|p| (p.clone(), snapshot(&p)))
        .collect();
    let bytes: u64 = (1..=5).map(|i| 100 * i).sum();

    let plan = t.plan(0);
    assert_counts(&plan, "prune", &[("files", 5), ("bytes", bytes)]);
    let report = t.run(&[], 0);
    assert_counts(
        &report,
        "prune",
        &[("selected_files", 5), ("deleted_files", 5), ("deleted_bytes", bytes), ("pruned_dirs", 3)],
    );
    assert_counts(&report, "no-prune", &[("deleted_files", 5), ("deleted_bytes", bytes), ("pruned_dirs", 0)]);
    assert_counts(&report, "everything", &[("deleted_files", 2), ("pruned_dirs", 2)]);
    for name in ["prune", "no-prune"] {
        let from = t.path(&format!("{WARM}/{name}"));
        for path in deleted {
            assert!(!exists(&from.join(path)), "{name}: {path} not deleted");
        }
        for dir in ["already-empty", "dir.tmp", "job2", "keep"] {
            assert!(from.join(dir).is_dir(), "{name}: directory {dir} removed");
        }
        assert!(std::fs::symlink_metadata(from.join("link.tmp")).unwrap().file_type().is_symlink(), "{name}: link.tmp");
        let pruned = ["job1", "job3/deep", "job3"];
        for dir in pruned {
            assert_eq!(from.join(dir).is_dir(), name == "no-prune", "{name}: emptied directory {dir}");
        }
    }
    for (path, before) in &kept_before {
        assert_same_snapshot(before, &snapshot(path), &path.display().to_string());
    }
    assert_same_snapshot(&outside_before, &snapshot(&outside), "the symlink's target");
    // `from` itself stays, as it was, even when the rule emptied it.
    let after = std::fs::metadata(&everything).unwrap();
    assert!(after.is_dir());
    assert_eq!((after.ino(), after.mode()), (everything_stat.ino(), everything_stat.mode()));
    assert_eq!(std::fs::read_dir(&everything).unwrap().count(), 0);

    let again = t.run(&[], 0);
    for name in ["prune", "no-prune", "everything"] {
        assert_counts(&again, name, &[("selected_files", 0), ("deleted_files", 0), ("pruned_dirs", 0)]);
    }
    assert!(everything.is_dir());
}

// ---------------------------------------------------------------------------------------
// 7. Compression.

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_tier_zstd_moves_arrive_compressed_with_the_original_bytes_and_metadata() {
    require_root();
    let t = Tiers::hot_and_warm();
    t.rules(&format!(
        "[[rules]]\nname = \"logs\"\nfrom = \"{HOT}/logs\"\nto = \"{WARM}/logs\"\ninclude = [\"**/*.log\"]\nolder_than = \"7d\"\naction = \"move\"\ncompress = \"zstd\"\nreserve = \"8MiB\"\n"
    ));
    let (src, dst) = (t.path(&format!("{HOT}/logs")), t.path(&format!("{WARM}/logs")));
    let text: Vec<u8> =
        (0..40_000).flat_map(|i| format!("2026-11-01T00:00:{i:05} INFO order {i} filled\n").into_bytes()).collect();
    put(&src.join("pg/x.log"), &text, 10);
    put(&src.join("random.log"), &noise("random", 100_000), 10);
    put(&src.join("empty.log"), b"", 10);
    // Already there, compressed, same content: a duplicate.
    put(&src.join("dup.log"), b"already archived\n", 10);
    let staged = t.work.path().join("dup.log");
    std::fs::write(&staged, b"already archived\n").unwrap();
    std::fs::create_dir_all(&dst).unwrap();
    tool("zstd", &["-q", staged.to_str().unwrap(), "-o", dst.join("dup.log.zst").to_str().unwrap()]).expect_code(0);
    let x = src.join("pg/x.log");
    chown(&x, Some(2100), Some(2101)).unwrap();
    chmod(&x, 0o604);
    tool("setfacl", &["-m", "g:2002:r", x.to_str().unwrap()]).expect_code(0);
    age(&x, 9 * DAY, 5);
    let before: BTreeMap<&str, Meta> =
        ["pg/x.log", "random.log", "empty.log"].into_iter().map(|p| (p, meta(&src.join(p)))).collect();
    let dup_before = snapshot(&dst.join("dup.log.zst"));

    let report = t.run(&[], 0);
    let bytes = (text.len() + 100_000) as u64;
    assert_counts(
        &report,
        "logs",
        &[("selected_files", 4), ("moved_files", 3), ("moved_bytes", bytes), ("duplicates", 1)],
    );
    assert_eq!(rule(&report, "logs")["conflicts"], serde_json::json!([]));
    for (path, original) in &before {
        let zst = dst.join(format!("{path}.zst"));
        assert!(!exists(&src.join(path)) && !exists(&dst.join(path)), "{path}");
        let mut stored = meta(&zst);
        if *path == "pg/x.log" {
            assert!(
                (stored.content.len() as u64) < text.len() as u64 / 10,
                "compressed: {} bytes",
                stored.content.len()
            );
        }
        // `zstd -d`'s output compared as bytes (a captured stdout is a lossy String).
        let out = t.work.path().join("decoded");
        tool("zstd", &["-d", "-q", "-f", zst.to_str().unwrap(), "-o", out.to_str().unwrap()]).expect_code(0);
        stored.content = std::fs::read(&out).unwrap();
        assert_eq!(&stored, original, "{path}.zst decompressed, with its metadata");
    }
    assert_same_snapshot(&dup_before, &snapshot(&dst.join("dup.log.zst")), "the duplicate already there");
    assert!(!exists(&src.join("dup.log")));
    assert_eq!(t.temporaries(), Vec::<PathBuf>::new());
    assert_counts(&t.run(&[], 0), "logs", &[("selected_files", 0), ("moved_files", 0)]);
}

// ---------------------------------------------------------------------------------------
// 8. Limits.

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_tier_max_files_and_max_bytes_move_the_first_files_in_path_order_across_rules() {
    require_root();
    let t = Tiers::hot_and_warm();
    t.rules(&format!(
        r#"
[[rules]]
name = "first"
from = "{HOT}/first"
to = "{WARM}/first"
older_than = "7d"
action = "move"
reserve = "8MiB"

[[rules]]
name = "second"
from = "{HOT}/second"
to = "{WARM}/second"
older_than = "7d"
action = "move"
reserve = "8MiB"
"#
    ));
    let names = ["a/z.log", "b.log", "c/a.log", "c/b.log", "d.log", "e.log"];
    for rule in ["first", "second"] {
        std::fs::create_dir_all(t.path(&format!("{WARM}/{rule}"))).unwrap();
    }
    for path in names {
        put(&t.path(&format!("{HOT}/first/{path}")), &noise(path, 1000), 10);
    }
    for path in ["x.log", "y.log"] {
        put(&t.path(&format!("{HOT}/second/{path}")), &noise(path, 1000), 10);
    }
    let moved = |rule: &str| -> Vec<String> {
        files(&t.path(&format!("{WARM}/{rule}"))).into_keys().map(|p| p.to_string_lossy().into_owned()).collect()
    };

    let report = t.run(&["--max-files", "3"], 0);
    assert_counts(&report, "first", &[("selected_files", 6), ("moved_files", 3), ("moved_bytes", 3000)]);
    assert_counts(&report, "second", &[("selected_files", 2), ("moved_files", 0)]);
    assert_eq!(moved("first"), ["a/z.log", "b.log", "c/a.log"]);

    let report = t.run(&["--max-bytes", "2500"], 0);
    assert_counts(&report, "first", &[("selected_files", 3), ("moved_files", 2), ("moved_bytes", 2000)]);
    assert_counts(&report, "second", &[("moved_files", 0)]);
    assert_eq!(moved("first"), ["a/z.log", "b.log", "c/a.log", "c/b.log", "d.log"]);

    let report = t.run(&["--max-files", "2", "--max-bytes", "1MiB"], 0);
    assert_counts(&report, "first", &[("moved_files", 1)]);
    assert_counts(&report, "second", &[("selected_files", 2), ("moved_files", 1)]);
    assert_eq!(moved("first"), names);
    assert_eq!(moved("second"), ["x.log"]);
    assert!(exists(&t.path(&format!("{HOT}/second/y.log"))));
}

// ---------------------------------------------------------------------------------------
// 9. Recovery of an interrupted batch.

/// The journal's identity of the file at `path`, without the ctime, as journals written
/// before it was recorded have it: a restart still reads them (and compares no ctime).
fn identity(path: &Path) -> Value {
    let m = std::fs::symlink_metadata(path).unwrap();
    serde_json::json!({"dev": m.dev(), "ino": m.ino(), "size": m.size(), "mtime": m.mtime(), "mtime_nsec": m.mtime_nsec()})
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_tier_an_interrupted_batch_in_the_journal_is_rolled_back_or_finished_on_the_next_run() {
    require_root();
    let t = Tiers::hot_and_warm();
    t.rules(&format!(
        r#"
[[rules]]
name = "torn"
from = "{HOT}/torn"
to = "{WARM}/torn"
older_than = "7d"
action = "move"
reserve = "8MiB"

[[rules]]
name = "renamed"
from = "{HOT}/renamed"
to = "{WARM}/renamed"
older_than = "7d"
action = "move"
reserve = "8MiB"
"#
    ));
    // A batch that crashed after `begin`: half-written temporaries at the destination, and
    // a torn `copied` line after it.
    let (src, dst) = (t.path(&format!("{HOT}/torn")), t.path(&format!("{WARM}/torn")));
    let x = noise("x", 300_000);
    let y = noise("y", 5_000);
    put(&src.join("x.log"), &x, 10);
    put(&src.join("a/y.log"), &y, 10);
    std::fs::create_dir_all(dst.join("a")).unwrap();
    std::fs::write(dst.join(".jts-tmp.dead.1"), &x[..100_000]).unwrap();
    std::fs::write(dst.join("a/.jts-tmp.dead.2"), &y[..10]).unwrap();
    let entry = |source: &str, temp: &str| serde_json::json!({"source": source, "temp": temp, "dest": source, "identity": identity(&src.join(source))});
    let begin = serde_json::json!({
        "phase": "begin", "number": 1, "from": format!("{HOT}/torn"), "to": format!("{WARM}/torn"),
        "files": [entry("x.log", ".jts-tmp.dead.1"), entry("a/y.log", "a/.jts-tmp.dead.2")],
    });
    std::fs::create_dir_all(t.path("/var/lib/jts/tier")).unwrap();
    let mut journal = std::fs::File::create(t.journal("torn")).unwrap();
    writeln!(journal, "{begin}").unwrap();
    write!(journal, r#"{{"phase":"copied","number":1,"from":"{HOT}/torn","to":"#).unwrap();
    drop(journal);

    // A batch that crashed after `renamed`: the copy is in place, its source not yet unlinked.
    let (src2, dst2) = (t.path(&format!("{HOT}/renamed")), t.path(&format!("{WARM}/renamed")));
    let z = noise("z", 20_000);
    put(&src2.join("z.log"), &z, 10);
    std::fs::create_dir_all(&dst2).unwrap();
    tool("cp", &["-a", src2.join("z.log").to_str().unwrap(), dst2.join("z.log").to_str().unwrap()]).expect_code(0);
    let z_meta = meta(&dst2.join("z.log"));
    let renamed = serde_json::json!({
        "phase": "renamed", "number": 4, "from": format!("{HOT}/renamed"), "to": format!("{WARM}/renamed"),
        "files": [{"source": "z.log", "temp": ".jts-tmp.dead.9", "dest": "z.log",
                   "identity": identity(&src2.join("z.log")), "hash": "0".repeat(64)}],
    });
    std::fs::write(t.journal("renamed"), format!("{renamed}\n")).unwrap();

    let report = t.run(&[], 0);
    let recovered = rule(&report, "torn")["recovered"].as_str().unwrap_or_else(|| panic!("{report:#}"));
    assert!(recovered.contains("rolled back") && recovered.contains("batch 1"), "{recovered}");
    assert_counts(&report, "torn", &[("selected_files", 2), ("moved_files", 2)]);
    assert_eq!(files(&dst), BTreeMap::from([(PathBuf::from("x.log"), x), (PathBuf::from("a/y.log"), y)]));
    assert_eq!(files(&src), BTreeMap::new());

    let recovered = rule(&report, "renamed")["recovered"].as_str().unwrap_or_else(|| panic!("{report:#}"));
    assert!(recovered.contains("finished") && recovered.contains("batch 4"), "{recovered}");
    assert_counts(&report, "renamed", &[("selected_files", 0), ("moved_files", 1)]);
    assert!(!exists(&src2.join("z.log")), "the source is unlinked");
    assert_eq!(meta(&dst2.join("z.log")), z_meta);
    assert_eq!(files(&dst2).len(), 1);

    assert_eq!(t.temporaries(), Vec::<PathBuf>::new());
    for name in ["torn", "renamed"] {
        assert_eq!(std::fs::metadata(t.journal(name)).unwrap().len(), 0, "{name} journal");
    }
    let again = t.run(&[], 0);
    for name in ["torn", "renamed"] {
        assert_eq!(rule(&again, name).get("recovered"), None, "{again:#}");
        assert_counts(&again, name, &[("moved_files", 0)]);
    }
}

// ---------------------------------------------------------------------------------------
// 10. The status file.

fn status(t: &Tiers) -> Value {
    serde_json::from_slice(&std::fs::read(t.path("/var/lib/jts/tier/last-run.json")).unwrap()).unwrap()
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_tier_the_status_file_records_the_last_run_and_keeps_the_last_success() {
    require_root();
    let t = Tiers::hot_and_warm();
    t.rules(&format!(
        "[[rules]]\nname = \"logs\"\nfrom = \"{HOT}/logs\"\nto = \"{WARM}/logs\"\nolder_than = \"7d\"\naction = \"move\"\nreserve = \"8MiB\"\n"
    ));
    let dst = t.path(&format!("{WARM}/logs"));
    std::fs::create_dir_all(&dst).unwrap();
    put(&t.path(&format!("{HOT}/logs/a.log")), b"a", 10);

    let before = unix_now();
    t.run(&[], 0);
    let after = unix_now();
    let first = status(&t);
    assert_eq!(first["ok"], true, "{first:#}");
    let success = first["last_success_at"].as_i64().unwrap();
    assert!((before as i64..=after as i64).contains(&success), "{success} not within this run [{before}, {after}]");
    assert_eq!(first["rules"], serde_json::json!([{"name": "logs", "files": 1, "bytes": 1, "error": null}]));

    // The destination is gone: the run fails, and the last success is kept.
    std::fs::rename(&dst, t.path(&format!("{WARM}/logs.moved-away"))).unwrap();
    put(&t.path(&format!("{HOT}/logs/b.log")), b"b", 10);
    let report = t.run(&[], 1);
    let failed = status(&t);
    assert_eq!(failed["ok"], false, "{failed:#}");
    assert_eq!(failed["last_success_at"], success, "{failed:#}");
    assert!(failed["finished_at"].as_i64().unwrap() >= success);
    let error = failed["rules"][0]["error"].as_str().unwrap();
    assert_eq!(Some(error), rule(&report, "logs")["error"].as_str());
    assert!(error.contains(dst.to_str().unwrap()), "{error}");

    std::fs::rename(t.path(&format!("{WARM}/logs.moved-away")), &dst).unwrap();
    t.run(&[], 0);
    let recovered = status(&t);
    assert_eq!(recovered["ok"], true);
    assert!(recovered["last_success_at"].as_i64().unwrap() >= success);
    assert_eq!(recovered["rules"][0]["files"], 1);
}

// ---------------------------------------------------------------------------------------
// 11. A file that grows while it is moved (issue 10, item 3).

/// `fsfreeze -f` of a mount point, thawed on drop (before the loop devices are unmounted).
struct Frozen(PathBuf);

impl Frozen {
    fn new(mount_point: &Path) -> Self {
        tool("fsfreeze", &["-f", mount_point.to_str().unwrap()]).expect_code(0);
        Self(mount_point.to_path_buf())
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = tool("fsfreeze", &["-u", self.0.to_str().unwrap()]);
    }
}

/// The phase of the last complete record of a journal, `-` when there is none.
fn journal_phase(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |end| &text[..=end]);
    complete.lines().rev().find(|line| !line.trim().is_empty()).map_or_else(
        || "-".to_owned(),
        |line| serde_json::from_str::<Value>(line).unwrap()["phase"].as_str().unwrap_or("?").to_owned(),
    )
}

/// Polls `ready` every millisecond for up to a minute.
#[track_caller]
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !ready() {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_tier_a_file_appended_to_between_its_copy_and_its_rename_is_left_for_the_next_run() {
    require_root();
    let t = Tiers::hot_and_warm();
    t.rules(&format!(
        "[[rules]]\nname = \"grow\"\nfrom = \"{HOT}/grow\"\nto = \"{WARM}/grow\"\nolder_than = \"7d\"\naction = \"move\"\n\
         reserve = \"8MiB\"\nverify = \"readback\"\n"
    ));
    let (src, dst) = (t.path(&format!("{HOT}/grow")), t.path(&format!("{WARM}/grow")));
    std::fs::create_dir_all(&dst).unwrap();
    // Big enough that syncing and reading back its copy leaves time to freeze the
    // destination before the rename.
    let original = noise("grow", 48 << 20);
    let log = put(&src.join("app.log"), &original, 10);
    let source_mtime = std::fs::metadata(&log).unwrap().modified().unwrap();
    let report_path = t.work.path().join("first-run.json");

    // In the background: the test acts on the disks while this run is under way.
    let args = ["--config", t.spec.to_str().unwrap(), "--root", t.root.to_str().unwrap()];
    let mut run = spawn_jts(
        &[&args[..], &["tier", "run", "--json", "--batch-files", "1"]].concat(),
        std::fs::File::create(&report_path).unwrap(),
        std::process::Stdio::inherit(),
    );
    // The copy is complete once its temporary has the source's mtime (set last); freeze
    // the destination then, so the mover cannot rename it, and wait for `copied`: the
    // mover has checked the copy against the source and goes on to the rename.
    let complete_copy = || {
        std::fs::read_dir(&dst).unwrap().flatten().any(|entry| {
            is_mover_temporary(Path::new(&entry.file_name()))
                && entry.metadata().is_ok_and(|m| m.modified().unwrap() == source_mtime)
        })
    };
    wait_for("a complete copy under a temporary name", complete_copy);
    let frozen = Frozen::new(&t.path(WARM));
    assert!(
        complete_copy() && !exists(&dst.join("app.log")),
        "the freeze came after the rename: this machine synced 48 MiB faster than the test could react"
    );
    wait_for("the batch to be journaled as copied", || journal_phase(&t.journal("grow")) == "copied");
    // A writer that closes and reopens its file: not open at the scan, appends now.
    let record = b"\nappended between the copy and the rename\n";
    OpenOptions::new().append(true).open(&log).unwrap().write_all(record).unwrap();
    drop(frozen);
    let status = run.wait().unwrap();
    let report: Value = serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    assert!(status.success(), "{status}: {report:#}");
    let grown = [original.as_slice(), record].concat();

    let dest_files = files(&dst);
    assert!(
        !dest_files.contains_key(Path::new("app.log")),
        "a stale copy ({} of the source's {} bytes) is under the file's name at the destination: {report:#}",
        dest_files.get(Path::new("app.log")).map_or(0, Vec::len),
        grown.len()
    );
    assert_eq!(t.temporaries(), Vec::<PathBuf>::new(), "the copy is removed");
    assert!(std::fs::read(&log).unwrap() == grown, "the source keeps the appended record");
    assert_counts(&report, "grow", &[("selected_files", 1), ("moved_files", 0)]);
    let skipped = &rule(&report, "grow")["skipped"];
    assert_eq!(skipped.as_array().map(Vec::len), Some(1), "{report:#}");
    assert_eq!(skipped[0]["path"], "app.log");
    assert_eq!(skipped[0]["reason"], "changed while it was being moved; left for the next run");

    // Once it is old again, the next run moves it once, under its own name.
    age(&log, 9 * DAY, 0);
    let report = t.run(&[], 0);
    assert_counts(&report, "grow", &[("selected_files", 1), ("moved_files", 1)]);
    assert_eq!(rule(&report, "grow")["conflicts"], serde_json::json!([]), "{report:#}");
    assert!(files(&dst) == BTreeMap::from([(PathBuf::from("app.log"), grown)]), "only app.log, with the record");
    assert!(!exists(&log));
}
