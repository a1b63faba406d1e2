//! Root tier, the crash test of issue 5: `tier run` between two real filesystems (an
//! ext4 loop to a btrfs loop, so every file goes by copy + journal, never by rename) is
//! killed with SIGKILL at random moments, at least [`MIN_KILLS`] times while it still has
//! work, and restarted until it is done.
//!
//! After every kill the mover's guarantee is checked on the disks as they are: each
//! original file is complete at its source or complete under its final name at the
//! destination, and every file under a final name at the destination is a complete,
//! correct file (content, mode, owner, mtime); temporaries are the only other names.
//! At the end every original file exists exactly once, with its content (blake3), mode,
//! owner and mtime; files the rule does not select are untouched; no temporary is left
//! and the journal is empty.
//!
//! The delays come from a PRNG whose seed is printed; `JTS_CRASH_SEED=N` replays a run's
//! data set and kill times (the kill moments still depend on the machine's speed).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime};

use jts_testkit::{
    DirMeta, FileMeta, LoopDevice, MIB, TempDir, file_meta, is_mover_temporary, jts, require_root, spawn_jts, tempdir,
    tool, tree, under,
};

const RULE: &str = "logs-to-warm";
const FROM: &str = "/data/hot/logs";
const TO: &str = "/data/warm/logs";
/// The issue asks for at least 50 kills that land in a running mover.
const MIN_KILLS: usize = 50;
/// Small group-commit batches, so that kills land in every phase.
const BATCH_FILES: &str = "2";
/// Kill after a random delay of 0 to at most this many milliseconds. The bound adapts
/// (halved when a run moved more than its share of what is left, raised when runs move
/// nothing), so that the data lasts for the kills on a fast or a slow machine alike.
const MAX_DELAY_MS: u64 = 150;

/// splitmix64: a tiny deterministic PRNG, enough to make a failing run reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

/// The scratch machine: `ROOT/data/hot` an ext4 loop, `ROOT/data/warm` a btrfs loop.
struct Tiers {
    // Loops first: they unmount and detach before the directory is removed.
    _warm: LoopDevice,
    _hot: LoopDevice,
    root: PathBuf,
    spec: PathBuf,
    from: PathBuf,
    to: PathBuf,
    logs: PathBuf,
    _dir: TempDir,
}

fn mkfs_and_mount(fstype: &str, force: &str, mount_point: &Path) -> LoopDevice {
    let mut device = LoopDevice::new(512 * MIB).formatted(&format!("mkfs.{fstype}"), &["-q", force]);
    std::fs::create_dir_all(mount_point).unwrap();
    device.mount(mount_point, fstype, &[]);
    device
}

impl Tiers {
    fn new() -> Self {
        let dir = tempdir();
        let root = dir.path().join("root");
        let hot = mkfs_and_mount("ext4", "-F", &under(&root, "/data/hot"));
        let warm = mkfs_and_mount("btrfs", "-f", &under(&root, "/data/warm"));
        let spec = dir.path().join("storage.toml");
        std::fs::write(
            &spec,
            format!(
                r#"version = 1

[[rules]]
name = "{RULE}"
from = "{FROM}"
to = "{TO}"
include = ["**/*.log"]
older_than = "7d"
action = "move"
reserve = "1MiB"
verify = "readback"
prune_empty_dirs = true
"#
            ),
        )
        .unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        Self { _warm: warm, _hot: hot, from: under(&root, FROM), to: under(&root, TO), root, spec, logs, _dir: dir }
    }

    fn journal(&self) -> PathBuf {
        under(&self.root, &format!("/var/lib/jts/tier/{RULE}.journal"))
    }

    /// The phase of the journal's last complete record, `-` when it is empty.
    fn journal_phase(&self) -> String {
        let text = std::fs::read_to_string(self.journal()).unwrap_or_default();
        let complete = text.rfind('\n').map_or("", |end| &text[..=end]);
        complete
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .map(|line| {
                let record: serde_json::Value = serde_json::from_str(line).expect("journal line is JSON");
                record["phase"].as_str().unwrap_or("?").to_owned()
            })
            .unwrap_or_else(|| "-".into())
    }

    fn args(&self) -> Vec<String> {
        let mut args: Vec<String> =
            vec!["--config".into(), self.spec.display().to_string(), "--root".into(), self.root.display().to_string()];
        args.extend(["tier", "run", "--json", "--batch-files", BATCH_FILES, "-v"].map(String::from));
        args
    }

    /// Starts `tier run` in the background, its stderr (info logs) into `stderr`.
    fn spawn(&self, stderr: File) -> Child {
        spawn_jts(&self.args(), Stdio::null(), stderr)
    }
}

/// One file of the data set.
struct Original {
    relative: PathBuf,
    meta: FileMeta,
    /// Where it must end up, relative to the destination.
    final_name: PathBuf,
}

/// The data set, written to the source (and a few files to the destination).
struct DataSet {
    originals: Vec<Original>,
    /// The source's files the rule must not select, as they are.
    unselected: BTreeMap<PathBuf, FileMeta>,
    /// Exactly what the destination must hold at the end.
    final_files: BTreeMap<PathBuf, FileMeta>,
    /// The source's directories as they were.
    source_dirs: BTreeMap<PathBuf, DirMeta>,
    duplicates: usize,
}

const MODES: [u32; 8] = [0o644, 0o640, 0o600, 0o444, 0o755, 0o400, 0o2755, 0o4750];
const UIDS: [u32; 4] = [0, 1000, 2100, 65534];
const GIDS: [u32; 4] = [0, 100, 2001, 65534];
const DAY: u64 = 86_400;

fn write_file(path: &Path, content: &[u8], mode: u32, uid: u32, gid: u32, mtime: SystemTime) {
    let mut file = File::create(path).unwrap_or_else(|err| panic!("create {}: {err}", path.display()));
    file.write_all(content).unwrap();
    std::os::unix::fs::fchown(&file, Some(uid), Some(gid)).unwrap();
    file.set_permissions(std::fs::Permissions::from_mode(mode)).unwrap();
    file.set_times(std::fs::FileTimes::new().set_modified(mtime)).unwrap();
}

fn make_dir(path: &Path, mode: u32, uid: u32, gid: u32) {
    std::fs::create_dir(path).unwrap_or_else(|err| panic!("mkdir {}: {err}", path.display()));
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn build_data_set(tiers: &Tiers, rng: &mut Rng) -> DataSet {
    let now = SystemTime::now();
    let aged = |rng: &mut Rng| {
        now - Duration::from_secs(8 * DAY + rng.below(50 * DAY)) - Duration::from_nanos(rng.below(1_000_000_000))
    };
    std::fs::create_dir_all(&tiers.from).unwrap();
    std::fs::create_dir_all(&tiers.to).unwrap();
    // Nested directories with varied owners and modes (setgid included).
    let mut dirs = vec![PathBuf::new()];
    for service in ["postgresql", "kafka", "mongodb"] {
        let (uid, gid, mode) = (rng.pick(&UIDS), rng.pick(&GIDS), rng.pick(&[0o755, 0o750, 0o2750]));
        make_dir(&tiers.from.join(service), mode, uid, gid);
        dirs.push(service.into());
        for month in ["2024-01", "2024-02"] {
            let relative = Path::new(service).join(month);
            make_dir(&tiers.from.join(&relative), rng.pick(&[0o755, 0o750, 0o700]), uid, gid);
            dirs.push(relative.clone());
            let deeper = relative.join("archive");
            make_dir(&tiers.from.join(&deeper), 0o750, uid, gid);
            dirs.push(deeper);
        }
    }
    let mut originals = Vec::new();
    for i in 0..700 {
        let dir = &dirs[rng.below(dirs.len() as u64) as usize];
        let size = match (i, rng.below(100)) {
            (0..3, _) => 0,
            (_, 0..70) => 1024 + rng.below(63 * 1024),
            (_, 70..95) => 64 * 1024 + rng.below(448 * 1024),
            _ => 512 * 1024 + rng.below(1536 * 1024),
        };
        let relative = dir.join(format!("file-{i:03}.log"));
        let content = rng.bytes(size as usize);
        let (mode, uid, gid) = (rng.pick(&MODES), rng.pick(&UIDS), rng.pick(&GIDS));
        write_file(&tiers.from.join(&relative), &content, mode, uid, gid, aged(rng));
        let meta = file_meta(&tiers.from.join(&relative));
        originals.push(Original { final_name: relative.clone(), relative, meta });
    }
    let mut final_files: BTreeMap<PathBuf, FileMeta> = BTreeMap::new();
    // Destination directories that exist beforehand are made like the source's.
    let make_dest_dirs = |relative: &Path| {
        let mut at = PathBuf::new();
        for part in relative.parent().unwrap().components() {
            at.push(part);
            if !tiers.to.join(&at).exists() {
                let source = std::fs::metadata(tiers.from.join(&at)).unwrap();
                make_dir(&tiers.to.join(&at), source.mode() & 0o7777, source.uid(), source.gid());
            }
        }
    };
    // Duplicates: the destination already holds the same file (same metadata too), so
    // the source is removed and the destination's copy is the one that remains.
    let mut duplicates = 0;
    for original in originals.iter().skip(10).step_by(100) {
        make_dest_dirs(&original.relative);
        let content = std::fs::read(tiers.from.join(&original.relative)).unwrap();
        let m = &original.meta;
        let mtime = SystemTime::UNIX_EPOCH + Duration::new(m.mtime.0 as u64, m.mtime.1 as u32);
        write_file(&tiers.to.join(&original.relative), &content, m.mode, m.uid, m.gid, mtime);
        duplicates += 1;
    }
    // A collision: a different file already has the name; both are kept.
    let collide = Path::new("postgresql/2024-01/collide.log");
    let content = rng.bytes(300_000);
    write_file(&tiers.from.join(collide), &content, 0o640, 2100, 2001, aged(rng));
    originals.push(Original {
        relative: collide.into(),
        meta: file_meta(&tiers.from.join(collide)),
        final_name: "postgresql/2024-01/collide.conflict-1.log".into(),
    });
    make_dest_dirs(collide);
    write_file(&tiers.to.join(collide), &rng.bytes(123_456), 0o600, 1000, 100, aged(rng));
    final_files.insert(collide.into(), file_meta(&tiers.to.join(collide)));
    for original in &originals {
        final_files.insert(original.final_name.clone(), original.meta.clone());
    }
    // Files the rule does not select: another extension, and logs too recent.
    let mut unselected = BTreeMap::new();
    for i in 0..12 {
        let dir = &dirs[rng.below(dirs.len() as u64) as usize];
        let (name, mtime) = if i % 2 == 0 {
            (format!("keep-{i}.dat"), aged(rng))
        } else {
            (format!("recent-{i}.log"), now - Duration::from_secs(3600))
        };
        let relative = dir.join(name);
        write_file(&tiers.from.join(&relative), &rng.bytes(5000), 0o644, 0, 0, mtime);
        unselected.insert(relative.clone(), file_meta(&tiers.from.join(&relative)));
    }
    let source_dirs = tree(&tiers.from).dirs;
    DataSet { originals, unselected, final_files, source_dirs, duplicates }
}

/// The mover's guarantee on the disks as a kill left them.
#[track_caller]
fn check_guarantee(tiers: &Tiers, data: &DataSet, when: &str) -> (usize, usize) {
    let source = tree(&tiers.from);
    let dest = tree(&tiers.to);
    // At the source: originals untouched or gone, unselected files untouched, nothing new.
    for (path, meta) in &source.files {
        let expected = data.unselected.get(path).or_else(|| {
            data.originals.iter().find(|original| &original.relative == path).map(|original| &original.meta)
        });
        assert_eq!(Some(meta), expected, "{when}: source file {} is not an untouched original", path.display());
    }
    // At the destination, every final name holds a complete, correct file; the only other
    // names are temporaries.
    let mut temps = 0;
    for (path, meta) in &dest.files {
        if is_mover_temporary(path) {
            temps += 1;
            continue;
        }
        let expected = data.final_files.get(path);
        assert_eq!(
            Some(meta),
            expected,
            "{when}: {} at the destination is not a complete copy under its final name",
            path.display()
        );
    }
    // Each original: complete at its source or complete at its destination.
    let mut at_source = 0;
    for original in &data.originals {
        let here = source.files.get(&original.relative) == Some(&original.meta);
        let there = dest.files.get(&original.final_name) == Some(&original.meta);
        assert!(
            here || there,
            "{when}: {} is neither complete at its source nor at its destination ({})",
            original.relative.display(),
            original.final_name.display()
        );
        at_source += usize::from(here);
    }
    (at_source, temps)
}

fn count_lines(path: &Path, needle: &str) -> usize {
    std::fs::read_to_string(path).unwrap_or_default().lines().filter(|line| line.contains(needle)).count()
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_tier_run_killed_at_random_moments_loses_nothing() {
    require_root();
    let seed = std::env::var("JTS_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64);
    eprintln!("crash test seed: {seed} (replay with JTS_CRASH_SEED={seed})");
    let mut rng = Rng(seed);
    let tiers = Tiers::new();
    let data = build_data_set(&tiers, &mut rng);
    let total_bytes: u64 = data.originals.iter().map(|o| o.meta.size).sum();
    eprintln!(
        "data set: {} files to move ({} MiB, {} already at the destination, 1 name collision), {} not selected",
        data.originals.len(),
        total_bytes >> 20,
        data.duplicates,
        data.unselected.len()
    );
    check_guarantee(&tiers, &data, "before the first run");

    let started = Instant::now();
    let (mut kills, mut ended_alone, mut runs) = (0usize, 0usize, 0usize);
    let mut killed_in: BTreeMap<String, usize> = BTreeMap::new();
    let mut temps_seen = 0;
    let mut max_delay = MAX_DELAY_MS;
    let mut idle_runs = 0;
    while kills < MIN_KILLS {
        let (left, _) = check_guarantee(&tiers, &data, &format!("before run {runs}"));
        assert!(
            left > 0,
            "everything was moved after only {kills} kills ({ended_alone} runs ended on their own); \
             the data set is too small for this machine (seed {seed})"
        );
        assert!(runs < 20 * MIN_KILLS, "too many runs ({runs}) for {kills} kills (seed {seed})");
        let stderr_path = tiers.logs.join(format!("run-{runs:03}.stderr"));
        let mut child = tiers.spawn(File::create(&stderr_path).unwrap());
        let delay = rng.below(max_delay + 1);
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let status = child.wait().expect("wait for jts-provision");
        runs += 1;
        let when = if status.signal() == Some(9) {
            kills += 1;
            let phase = tiers.journal_phase();
            *killed_in.entry(phase.clone()).or_default() += 1;
            format!("after kill {kills} (run {runs}, {delay} ms, journal phase {phase})")
        } else {
            ended_alone += 1;
            assert_eq!(
                status.code(),
                Some(0),
                "run {runs} ended on its own with {status}: {}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
            format!("after run {runs} ended on its own")
        };
        let (left_after, temps) = check_guarantee(&tiers, &data, &when);
        temps_seen += usize::from(temps > 0);
        let moved = left - left_after;
        let share = left / (MIN_KILLS.saturating_sub(kills) + 5);
        if moved > share {
            max_delay = (max_delay / 2).max(5);
        } else if moved == 0 {
            idle_runs += 1;
            if idle_runs >= 3 {
                (max_delay, idle_runs) = ((max_delay * 3 / 2).min(MAX_DELAY_MS), 0);
            }
        }
    }
    let kill_phase_secs = started.elapsed().as_secs_f64();
    let (left, _) = check_guarantee(&tiers, &data, "after the last kill");

    // Recoveries the restarted runs logged (`-v`), by the phase they found.
    let mut recovered = BTreeMap::new();
    for entry in std::fs::read_dir(&tiers.logs).unwrap() {
        let path = entry.unwrap().path();
        *recovered.entry("begin: rolled back").or_insert(0) += count_lines(&path, "rolled back interrupted batch");
        *recovered.entry("renamed: sources unlinked").or_insert(0) += count_lines(&path, "files already in place)");
        *recovered.entry("copied: renamed and unlinked").or_insert(0) +=
            count_lines(&path, "finished interrupted batch") - count_lines(&path, "files already in place)");
    }

    // Run to completion, then once more: nothing left to do.
    let last = jts(&tiers.args());
    last.expect_code(0);
    let report = &last.json()["rules"][0];
    assert_eq!(report["error"], serde_json::Value::Null, "{last:?}");
    assert_eq!(report["skipped"].as_array().map(Vec::len), Some(0), "nothing skipped: {last:?}");
    if let Some(said) = report["recovered"].as_str() {
        eprintln!("final run recovered: {said}");
    }
    let again = jts(&tiers.args());
    again.expect_code(0);
    let again = &again.json()["rules"][0];
    assert_eq!((again["selected_files"].as_u64(), again["moved_files"].as_u64()), (Some(0), Some(0)), "{again}");

    // Every original exactly once, where it belongs, as it was.
    let source = tree(&tiers.from);
    let dest = tree(&tiers.to);
    assert_eq!(source.files, data.unselected, "the source holds exactly the files the rule does not select");
    let missing: Vec<_> = data.final_files.keys().filter(|p| !dest.files.contains_key(*p)).collect();
    let extra: Vec<_> = dest.files.keys().filter(|p| !data.final_files.contains_key(*p)).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing at the destination: {missing:?}; extra: {extra:?}");
    for (path, meta) in &data.final_files {
        assert_eq!(&dest.files[path], meta, "{} differs from the original", path.display());
    }
    // Directories the mover created are made like the source's.
    for (path, mode) in &dest.dirs {
        if let Some(source_mode) = data.source_dirs.get(path) {
            assert_eq!(mode, source_mode, "destination directory {} (mode, uid, gid)", path.display());
        }
    }
    // prune_empty_dirs: each batch prunes before it is closed, and a restart finishing a
    // batch prunes too, so no emptied directory is left behind, kills or not.
    let left_empty: Vec<&PathBuf> = source
        .dirs
        .keys()
        .filter(|dir| !dir.as_os_str().is_empty())
        .filter(|dir| !source.files.keys().any(|file| file.starts_with(dir)))
        .filter(|dir| !source.dirs.keys().any(|other| other != *dir && other.starts_with(dir)))
        .collect();
    assert!(left_empty.is_empty(), "empty source directories left unpruned: {left_empty:?}");
    // Two batches are in flight at a time, each with its own journal: both end empty.
    for journal in [tiers.journal(), tiers.journal().with_extension("journal-2")] {
        let size = std::fs::metadata(&journal).unwrap_or_else(|err| panic!("{}: {err}", journal.display())).len();
        assert_eq!(size, 0, "{} is empty after the last run", journal.display());
    }
    let temps = tool("find", &[tiers.from.to_str().unwrap(), tiers.to.to_str().unwrap(), "-name", ".jts-tmp.*"]);
    assert_eq!(temps.stdout.trim(), "", "no temporaries anywhere: {temps:?}");

    let (total, moved) = (data.originals.len(), data.originals.len() - left);
    eprintln!(
        "seed {seed}: {kills} kills of a running mover, {ended_alone} runs ended on their own, {runs} runs in \
         {kill_phase_secs:.1} s ({moved} of {total} files moved by then); journal's last record at each kill: {killed_in:?}; recoveries logged by the next \
         runs: {recovered:?}; temporaries present after {temps_seen} kills; empty source directories left \
         unpruned: {left_empty:?}"
    );
}
