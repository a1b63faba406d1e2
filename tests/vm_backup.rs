//! VM tier: backups of a live PostgreSQL on real LVM, inside the qemu guest that
//! `scripts/vm-test.sh` boots. Outside the guest every test fails, saying so; they are
//! ignored unless asked for.
//!
//! - a `volume` backup taken while pgbench writes, restored into a new LV, where
//!   PostgreSQL completes crash recovery and the pgbench invariant holds; a `pg_dump -Fc`
//!   `command` backup taken at the same time restores with `pg_restore`;
//! - a COW overflow during a backup fails it, keeps no archive and removes the snapshot;
//! - `snapshot rollback` is refused without consent and, with it, brings the volume back
//!   to the snapshot's content, deferred while mounted and at once when not.
//!
//! PostgreSQL runs from the host's installation (`/usr/lib/postgresql/N/bin`), as the
//! `postgres` user, on its own port and socket directory.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jts_testkit::{BlankDisks, SpecDir, mounted_at, require_vm_guest, tool, tool_within, two_disks};

const VG: &str = "vg_bk";
/// Where the tests mount the volumes.
const MOUNTS: &str = "/tmp/jts-vm-mnt";
/// PostgreSQL's socket directory and logs.
const SOCK: &str = "/tmp/jts-vm-pg";
const PORT: &str = "5433";
const RESTORED_PORT: &str = "5434";
/// How long a PostgreSQL command may take under TCG.
const PG_TIMEOUT: Duration = Duration::from_secs(600);

/// The guest's disks as one VG: the database volume, a volume to restore into, and a
/// btrfs backup volume (the warm tier). `backups` and `snapshots` are appended.
fn spec(sections: &str) -> String {
    let [vda, vdb] = two_disks();
    format!(
        r#"version = 1

[volume_groups.{VG}]
devices = ["{vda}", "{vdb}"]
extent_size = "4MiB"
reserve = "10%"

[volume_groups.{VG}.volumes.lv_pg]
size = "1GiB"
filesystem = "ext4"
preset = "postgresql"

[volume_groups.{VG}.volumes.lv_pg_restore]
size = "1GiB"
filesystem = "ext4"
preset = "postgresql"

[volume_groups.{VG}.volumes.lv_backup]
size = "1536MiB"
filesystem = "btrfs"
{sections}"#
    )
}

fn device(lv: &str) -> String {
    format!("/dev/{VG}/{lv}")
}

fn mount(lv: &str, name: &str) -> PathBuf {
    let target = Path::new(MOUNTS).join(name);
    std::fs::create_dir_all(&target).unwrap();
    tool("mount", &[device(lv).as_str(), target.to_str().unwrap()]).expect_code(0);
    target
}

fn unmount(target: &Path) {
    tool("umount", &[target]).expect_code(0);
}

/// The LV names of the VG.
fn lv_names() -> Vec<String> {
    let run = tool("lvs", &["--noheadings", "-o", "lv_name", VG]);
    run.expect_code(0);
    run.stdout.split_whitespace().map(str::to_owned).collect()
}

fn sh(script: &str) -> String {
    let run = tool_within(PG_TIMEOUT, "sh", &["-c", script]);
    run.expect_code(0);
    run.stdout.trim().to_owned()
}

/// The newest installed PostgreSQL's program `name`.
fn pg(name: &str) -> String {
    let mut versions: Vec<u32> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (scripts/install-deps.sh)")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    versions.sort_unstable();
    format!("/usr/lib/postgresql/{}/bin/{name}", versions.last().expect("a PostgreSQL version"))
}

/// Runs `program ARGS` as the postgres user.
fn as_postgres(program: &str, args: &[&str]) -> String {
    let mut all = vec!["-u", "postgres", "--", program];
    all.extend(args);
    let run = tool_within(PG_TIMEOUT, "/usr/sbin/runuser", &all);
    run.expect_code(0);
    run.stdout.trim().to_owned()
}

fn psql(port: &str, db: &str, sql: &str) -> String {
    as_postgres(&pg("psql"), &["-h", SOCK, "-p", port, "-d", db, "-At", "-c", sql])
}

/// `sum(abalance) = sum(delta)`, and how many transactions pgbench recorded.
fn pgbench_invariant(port: &str, db: &str) -> (bool, u64) {
    let row = psql(
        port,
        db,
        "select (select sum(abalance) from pgbench_accounts) = (select coalesce(sum(delta), 0) from pgbench_history), \
         (select count(*) from pgbench_history)",
    );
    let (holds, count) = row.split_once('|').unwrap_or_else(|| panic!("unexpected row {row:?}"));
    (holds == "t", count.parse().unwrap())
}

/// A PostgreSQL server on `data`, stopped (immediately) when dropped.
struct Postgres {
    data: PathBuf,
    log: PathBuf,
}

impl Postgres {
    fn init(data: &Path) {
        std::fs::create_dir_all(data).unwrap();
        tool("chown", &["postgres:postgres", data.to_str().unwrap()]).expect_code(0);
        as_postgres(&pg("initdb"), &["-D", data.to_str().unwrap(), "--auth=trust", "-U", "postgres"]);
    }

    fn start(data: &Path, port: &str) -> Self {
        let log = Path::new(SOCK).join(format!("postgres-{port}.log"));
        let options = format!("-p {port} -k {SOCK} -c listen_addresses='' -c shared_buffers=32MB");
        let data_dir = data.to_str().unwrap();
        as_postgres(
            &pg("pg_ctl"),
            &["-D", data_dir, "-l", log.to_str().unwrap(), "-w", "-t", "600", "-o", &options, "start"],
        );
        Self { data: data.to_owned(), log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = tool_within(
            PG_TIMEOUT,
            "/usr/sbin/runuser",
            &["-u", "postgres", "--", &pg("pg_ctl"), "-D", self.data.to_str().unwrap(), "-m", "fast", "-w", "stop"],
        );
    }
}

/// A background shell loop, killed with its process group when dropped.
struct Background(std::process::Child);

impl Background {
    fn start(script: &str) -> Self {
        #[allow(clippy::disallowed_methods, reason = "a test's own long-running load, killed on drop")]
        let child = std::process::Command::new("setsid")
            .args(["sh", "-c", script])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        Self(child)
    }

    /// Stops the loop and returns what it printed on stderr.
    fn stop(mut self) -> String {
        let pid = self.0.id().to_string();
        let _ = tool("kill", &["-INT", "--", &format!("-{pid}")]);
        let _ = self.0.wait();
        let mut stderr = String::new();
        if let Some(mut pipe) = self.0.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        stderr
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = tool("kill", &["-KILL", "--", &format!("-{}", self.0.id())]);
        let _ = self.0.wait();
    }
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// What a finished backup must not leave: its snapshot, or a mount of it.
fn assert_nothing_borrowed(backup: &str) {
    let left: Vec<String> = lv_names().into_iter().filter(|name| name.contains("-jtsbackup-")).collect();
    assert!(left.is_empty(), "the backup's snapshot is removed: {left:?}");
    assert!(mounted_at(format!("/run/jts/backup/{backup}")).is_none(), "the snapshot is unmounted");
}

fn blank() -> BlankDisks {
    BlankDisks::new(&[MOUNTS, "/run/jts/backup"])
}

#[test]
#[ignore = "VM tier: run by scripts/vm-test.sh"]
fn vm_a_volume_backup_under_pgbench_restores_into_a_new_lv_where_postgres_recovers() {
    require_vm_guest();
    let _blank = blank();
    let scratch = SpecDir::new();
    let (psql_bin, pg_dump) = (pg("psql"), pg("pg_dump"));
    let spec = scratch.spec(&spec(&format!(
        r#"
[backups.pg]
volume = "lv_pg"
to = "{MOUNTS}/backup/pg"
snapshot_size = "256MiB"
max_cow_percent = 80
hooks.before = ["{psql_bin}", "-h", "{SOCK}", "-p", "{PORT}", "-d", "bench", "-c", "CHECKPOINT"]
hooks.user = "postgres"
keep = {{ last = 3 }}

[backups.dump]
command = ["{pg_dump}", "-Fc", "-h", "{SOCK}", "-p", "{PORT}", "bench"]
user = "postgres"
member = "bench.dump"
to = "{MOUNTS}/backup/dump"
keep = {{ last = 3 }}
"#
    )));
    scratch.run(&spec, &["apply"]).expect_code(0);
    let pg_mount = mount("lv_pg", "pg");
    let backups = mount("lv_backup", "backup");
    for dir in ["pg", "dump"] {
        std::fs::create_dir_all(backups.join(dir)).unwrap();
    }
    std::fs::create_dir_all(SOCK).unwrap();
    tool("chown", &["postgres:postgres", SOCK]).expect_code(0);

    let data = pg_mount.join("data");
    Postgres::init(&data);
    let server = Postgres::start(&data, PORT);
    as_postgres(&pg("createdb"), &["-h", SOCK, "-p", PORT, "bench"]);
    as_postgres(&pg("pgbench"), &["-i", "-s", "2", "-q", "-h", SOCK, "-p", PORT, "bench"]);
    let load = Background::start(&format!(
        "exec /usr/sbin/runuser -u postgres -- {} -c 2 -T 3600 -h {SOCK} -p {PORT} bench",
        pg("pgbench")
    ));
    wait_for("pgbench commits transactions", PG_TIMEOUT, || pgbench_invariant(PORT, "bench").1 > 0);

    let run = scratch.run(&spec, &["backup", "run", "pg", "--json"]);
    run.expect_code(0);
    let report = &run.json()["backups"][0]["report"];
    assert_eq!(report["source"]["kind"], "volume", "{run:?}");
    assert_eq!(report["source"]["filesystem"], "ext4", "{run:?}");
    assert_eq!(report["hooks"][0]["status"], "exited with status 0", "the CHECKPOINT hook ran: {run:?}");
    assert_nothing_borrowed("pg");
    let dump = scratch.run(&spec, &["backup", "run", "dump", "--json"]);
    dump.expect_code(0);
    let during = pgbench_invariant(PORT, "bench").1;
    let pgbench = load.stop();
    drop(server);
    assert!(during > 0, "pgbench ran during the backups: {pgbench}");
    scratch.run(&spec, &["backup", "verify"]).expect_code(0);

    // The archive into a new LV: its filesystem root, where mkfs's empty lost+found
    // takes the archived one's metadata.
    let restored = mount("lv_pg_restore", "restore");
    let restore = scratch.run(&spec, &["backup", "restore", "pg", "--to", restored.to_str().unwrap()]);
    restore.expect_code(0);
    // The snapshot caught a running server: its pid file names a process of this boot.
    std::fs::remove_file(restored.join("data/postmaster.pid")).unwrap();
    let copy = Postgres::start(&restored.join("data"), RESTORED_PORT);
    assert!(copy.log().contains("automatic recovery in progress"), "crash recovery ran: {}", copy.log());
    let (holds, transactions) = pgbench_invariant(RESTORED_PORT, "bench");
    assert!(holds, "sum(abalance) = sum(delta) on the restored copy");
    assert!(transactions > 0, "the copy holds pgbench's transactions");
    as_postgres(&pg("pg_amcheck"), &["--install-missing", "-h", SOCK, "-p", RESTORED_PORT, "-d", "bench"]);

    // The dump, restored with pg_restore into a new database.
    let dump_dir = Path::new(MOUNTS).join("dump-restored");
    scratch.run(&spec, &["backup", "restore", "dump", "--to", dump_dir.to_str().unwrap()]).expect_code(0);
    as_postgres(&pg("createdb"), &["-h", SOCK, "-p", RESTORED_PORT, "from_dump"]);
    sh(&format!(
        "/usr/sbin/runuser -u postgres -- {} --exit-on-error -h {SOCK} -p {RESTORED_PORT} -d from_dump < {}",
        pg("pg_restore"),
        dump_dir.join("bench.dump").display()
    ));
    let (holds, transactions) = pgbench_invariant(RESTORED_PORT, "from_dump");
    assert!(holds && transactions > 0, "the dump restores with the invariant ({transactions} transactions)");
    drop(copy);
}

#[test]
#[ignore = "VM tier: run by scripts/vm-test.sh"]
fn vm_a_cow_overflow_fails_the_backup_keeps_no_archive_and_removes_the_snapshot() {
    require_vm_guest();
    let _blank = blank();
    let scratch = SpecDir::new();
    let spec = scratch.spec(&spec(&format!(
        r#"
[backups.churn]
volume = "lv_pg"
to = "{MOUNTS}/backup/churn"
snapshot_size = "8MiB"
max_cow_percent = 50
"#
    )));
    scratch.run(&spec, &["apply"]).expect_code(0);
    let pg_mount = mount("lv_pg", "pg");
    let backups = mount("lv_backup", "backup");
    let to = backups.join("churn");
    std::fs::create_dir_all(&to).unwrap();
    sh(&format!("dd if=/dev/urandom of={}/big bs=1M count=150 status=none conv=fsync", pg_mount.display()));
    let writer = Background::start(&format!(
        "while :; do dd if=/dev/urandom of={}/churn bs=1M count=16 conv=fsync status=none; done",
        pg_mount.display()
    ));
    let run = scratch.run(&spec, &["backup", "run", "churn"]);
    writer.stop();
    run.expect_code(1);
    assert!(run.stderr.contains("copy-on-write"), "the reason names the COW space: {run:?}");
    assert!(run.stderr.contains("no archive was kept"), "{run:?}");
    assert_eq!(std::fs::read_dir(&to).unwrap().count(), 0, "nothing left in `to`");
    assert_nothing_borrowed("churn");
    let list = scratch.run(&spec, &["backup", "list", "--json"]);
    list.expect_code(0);
    assert_eq!(list.json()["archives"].as_array().map(Vec::len), Some(0), "{list:?}");
}

#[test]
#[ignore = "VM tier: run by scripts/vm-test.sh"]
fn vm_snapshot_rollback_needs_consent_and_brings_the_volume_back() {
    require_vm_guest();
    let _blank = blank();
    let scratch = SpecDir::new();
    let spec = scratch.spec(&spec(&format!(
        "\n[snapshots.lv_pg]\nvolume_group = \"{VG}\"\nsize = \"128MiB\"\nkeep_last = 3\nmax_age = \"7d\"\n"
    )));
    scratch.run(&spec, &["apply"]).expect_code(0);
    let pg_mount = mount("lv_pg", "pg");
    let state = pg_mount.join("state");
    let sum = || sh(&format!("sha256sum < {}", state.display()));
    let write_state = || sh(&format!("dd if=/dev/urandom of={} bs=1M count=4 status=none conv=fsync", state.display()));
    let take_snapshot = || {
        let before = lv_names();
        scratch.run(&spec, &["snapshot", "create", "--volume", "lv_pg"]).expect_code(0);
        let name = lv_names().into_iter().find(|name| !before.contains(name)).expect("a new snapshot");
        std::thread::sleep(Duration::from_millis(1100));
        name
    };

    // Mounted: refused without consent; with it, deferred to the next activation.
    write_state();
    let original = sum();
    let snapshot = take_snapshot();
    write_state();
    let changed = sum();
    let refused = scratch.run(&spec, &["snapshot", "rollback", "lv_pg", "--snapshot", &snapshot]);
    refused.expect_code(3);
    assert!(refused.all_output().contains("--allow-destroy lv_pg"), "says how to consent: {refused:?}");
    assert!(lv_names().contains(&snapshot), "the snapshot is untouched");
    assert_eq!(sum(), changed, "the volume is untouched");
    let args = ["snapshot", "rollback", "lv_pg", "--snapshot", &snapshot, "--allow-destroy", "lv_pg"];
    let deferred = scratch.run(&spec, &args);
    deferred.expect_code(0);
    let advice = deferred.all_output();
    assert!(advice.contains("next activation"), "says when: {deferred:?}");
    assert!(advice.contains(&format!("umount {}", pg_mount.display())), "says what to stop: {deferred:?}");
    unmount(&pg_mount);
    let lv = format!("{VG}/lv_pg");
    tool("lvchange", &["-an", &lv]).expect_code(0);
    tool("lvchange", &["-ay", &lv]).expect_code(0);
    wait_for("the merge finishes", PG_TIMEOUT, || !lv_names().contains(&snapshot));
    mount("lv_pg", "pg");
    assert_eq!(sum(), original, "the volume is back at the snapshot's content");

    // Unmounted: merged at once.
    let snapshot = take_snapshot();
    let original = sum();
    write_state();
    unmount(&pg_mount);
    let now =
        scratch.run(&spec, &["snapshot", "rollback", "lv_pg", "--snapshot", &snapshot, "--allow-destroy", "lv_pg"]);
    now.expect_code(0);
    assert!(!now.all_output().contains("next activation"), "{now:?}");
    assert!(!lv_names().contains(&snapshot), "merged and consumed");
    mount("lv_pg", "pg");
    assert_eq!(sum(), original, "the volume is back at the snapshot's content");
}
