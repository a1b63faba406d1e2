//! `check` with injected probes and mount tables: findings, roll-up, outputs, and never
//! hanging on a probe that blocks.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::exposition;
use jts_core::{AbsPath, Root};
use jts_health::{CheckKind, FsStats, HealthConfig, HealthReport, MountCheck, Prober, Status, Thresholds};
use jts_mounts::MountInfo;

const TABLE: &str = "\
22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
40 22 253:2 / /data/postgresql rw,nodev,noatime - ext4 /dev/mapper/vg_jts-lv_postgres rw,commit=10
41 22 253:3 / /data/kafka ro,relatime - xfs /dev/mapper/vg_jts-lv_kafka ro,inode64
42 22 0:45 / /mnt/nas rw,relatime - nfs4 192.168.1.10:/volume1/jts rw,vers=4.2,hard
";

fn table() -> Vec<MountInfo> {
    jts_mounts::parse_mountinfo(TABLE).unwrap()
}

/// 1000 fragments of 4 KiB, `used` of them in use, none reserved; 100 inodes, 10 used.
fn stats(used: u64) -> FsStats {
    FsStats {
        fragment_size: 4096,
        blocks: 1000,
        blocks_free: 1000 - used,
        blocks_available: 1000 - used,
        files: 100,
        files_free: 90,
    }
}

fn prober(usage: &[(&str, u64)]) -> Prober {
    let usage: HashMap<PathBuf, u64> = usage.iter().map(|(p, u)| (PathBuf::from(p), *u)).collect();
    Prober::new(move |path: &Path| {
        usage.get(path).map(|u| stats(*u)).ok_or_else(|| std::io::Error::from_raw_os_error(nix::libc::ENOENT))
    })
    .with_mount_table(|| Ok(table()))
}

fn mount(tier: &str, path: &str) -> MountCheck {
    MountCheck::new(tier, path).unwrap()
}

fn finding(report: &HealthReport, mount: &str, kind: CheckKind) -> (Status, String) {
    let probe = report.probes.iter().find(|p| p.mount == mount).unwrap();
    let f = probe.findings.iter().find(|f| f.check == kind).unwrap_or_else(|| panic!("no {kind:?} in {probe:?}"));
    (f.status, f.message.clone())
}

#[test]
fn thresholds_per_mount_and_worst_of_roll_up_per_tier_and_overall() {
    let prober = prober(&[("/", 500), ("/data/postgresql", 850), ("/mnt/nas", 950)]);
    let config = HealthConfig::builder()
        .mount(mount("root", "/"))
        .mount(mount("hot", "/data/postgresql").source("/dev/mapper/vg_jts-lv_postgres").options(["noatime", "nodev"]))
        .mount(mount("cold", "/mnt/nas").source("192.168.1.10:/volume1/jts/"))
        .build()
        .unwrap();
    let report = prober.check(&config);
    let status: Vec<Status> = report.probes.iter().map(|p| p.status).collect();
    assert_eq!(status, [Status::Ok, Status::Warning, Status::Critical], "{}", report.to_table());
    assert_eq!(report.tiers["hot"], Status::Warning);
    assert_eq!(report.tiers["cold"], Status::Critical);
    assert_eq!((report.status, report.exit_code()), (Status::Critical, 2));
    assert!(report.probes[1].message.contains("space 85.0% used (warn 80%, crit 90%)"), "{}", report.probes[1].message);
    assert_eq!(finding(&report, "/data/postgresql", CheckKind::Options).0, Status::Ok);
    assert_eq!(finding(&report, "/mnt/nas", CheckKind::Source).0, Status::Ok, "a trailing slash is the same export");
    let values = report.probes[1].values.unwrap();
    assert_eq!((values.bytes_used, values.bytes_total), (850 * 4096, 1000 * 4096));
    assert_eq!((values.inodes_used, values.inodes_total), (10, 100));
    assert_eq!(report.probes[0].message, "ok: 50.0% of 3.9M used, 10.0% of inodes");

    // A per-mount override turns the NAS at 95 % into a warning only.
    let relaxed = HealthConfig::builder()
        .mount(mount("cold", "/mnt/nas").thresholds(Thresholds::new(90.0, 97.0).unwrap()))
        .build()
        .unwrap();
    let report = prober.check(&relaxed);
    assert_eq!((report.status, report.exit_code()), (Status::Warning, 1));
}

#[test]
fn not_mounted_read_only_wrong_source_and_option_drift_are_reported() {
    let prober = prober(&[("/data/kafka", 10), ("/data/postgresql", 10), ("/data/clickhouse", 10)]);
    let config = HealthConfig::builder()
        .mount(mount("hot", "/data/kafka"))
        .mount(mount("hot", "/data/postgresql").source("/dev/mapper/vg_jts-lv_other").options(["noatime", "commit=30"]))
        .mount(mount("hot", "/data/clickhouse"))
        .build()
        .unwrap();
    let report = prober.check(&config);
    let (status, message) = finding(&report, "/data/kafka", CheckKind::ReadWrite);
    assert_eq!(status, Status::Critical);
    assert!(message.contains("read-only"), "{message}");
    let (status, message) = finding(&report, "/data/postgresql", CheckKind::Source);
    assert_eq!(status, Status::Critical);
    assert!(message.contains("mounted from /dev/mapper/vg_jts-lv_postgres, expected /dev/mapper/vg_jts-lv_other"));
    let (status, message) = finding(&report, "/data/postgresql", CheckKind::Options);
    assert_eq!(status, Status::Warning);
    assert!(message.contains("commit=30") && !message.contains("noatime"), "{message}");
    let (status, message) = finding(&report, "/data/clickhouse", CheckKind::Mounted);
    assert_eq!((status, message.as_str()), (Status::Critical, "/data/clickhouse is not mounted"));
    let clickhouse = &report.probes[2];
    assert!(clickhouse.values.is_none(), "an unmounted path's usage would be its parent's");

    // A plain directory (not a mount point) is only probed for usage.
    let dir = HealthConfig::builder().mount(mount("hot", "/data/clickhouse").not_a_mount_point()).build().unwrap();
    assert_eq!(prober.check(&dir).status, Status::Ok);
}

#[test]
fn a_probe_error_is_critical_and_an_unreadable_mount_table_unknown() {
    let prober = prober(&[]);
    let config = HealthConfig::builder().mount(mount("root", "/")).build().unwrap();
    let report = prober.check(&config);
    let (status, message) = finding(&report, "/", CheckKind::Responding);
    assert_eq!(status, Status::Critical);
    assert!(message.starts_with("statvfs /: "), "{message}");

    let blind = Prober::new(|_: &Path| Ok(stats(1))).with_mount_table(|| {
        Err(jts_mounts::Error::Read { path: "/proc/self/mountinfo".into(), source: std::io::Error::other("gone") })
    });
    let report = blind.check(&config);
    assert_eq!((report.status, report.exit_code()), (Status::Unknown, 3));
    assert!(report.probes[0].values.is_some(), "usage is still probed");
}

/// A gate the fake probe of `/mnt/nas` waits at, like a hard NFS mount whose server died.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    cond: Condvar,
    calls: Mutex<usize>,
}

impl Gate {
    fn wait(&self) {
        *self.calls.lock().unwrap() += 1;
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.cond.wait(open).unwrap();
        }
    }

    fn release(&self) {
        *self.open.lock().unwrap() = true;
        self.cond.notify_all();
    }

    fn calls(&self) -> usize {
        *self.calls.lock().unwrap()
    }
}

#[test]
fn a_hung_mount_is_critical_on_time_the_rest_complete_and_no_probe_piles_up() {
    let gate = Arc::new(Gate::default());
    let hung = Arc::clone(&gate);
    let prober = Prober::new(move |path: &Path| {
        if path == Path::new("/mnt/nas") {
            hung.wait();
        }
        Ok(stats(100))
    })
    .with_mount_table(|| Ok(table()));
    let timeout = Duration::from_millis(200);
    let config = HealthConfig::builder()
        .timeout(timeout)
        .mount(mount("root", "/"))
        .mount(mount("hot", "/data/postgresql"))
        .mount(mount("cold", "/mnt/nas"))
        .build()
        .unwrap();

    let start = Instant::now();
    let report = prober.check(&config);
    assert!(start.elapsed() < timeout * 5, "check took {:?}", start.elapsed());
    assert_eq!(report.tiers["cold"], Status::Critical);
    assert_eq!((report.tiers["root"], report.tiers["hot"]), (Status::Ok, Status::Ok), "{}", report.to_table());
    let (_, message) = finding(&report, "/mnt/nas", CheckKind::Responding);
    assert!(message.starts_with("not responding"), "{message}");
    assert!(report.probes[2].values.is_none());

    for _ in 0..20 {
        let start = Instant::now();
        let report = prober.check(&config);
        assert!(start.elapsed() < timeout * 5, "check took {:?}", start.elapsed());
        let (status, message) = finding(&report, "/mnt/nas", CheckKind::Responding);
        assert_eq!(status, Status::Critical);
        assert!(message.starts_with("still not responding"), "{message}");
        assert_eq!(report.tiers["hot"], Status::Ok);
    }
    assert_eq!(gate.calls(), 1, "a stuck probe is never queued again");
    assert_eq!(prober.worker_count(), 3, "one worker per mount path");

    // The server comes back: the stuck call returns and the next checks probe afresh.
    gate.release();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let report = prober.check(&config);
        if report.status == Status::Ok {
            break;
        }
        assert!(Instant::now() < deadline, "never recovered: {}", report.to_table());
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(prober.worker_count(), 3);
}

#[test]
fn the_worker_cap_evicts_idle_workers_and_refuses_when_all_are_stuck() {
    let gate = Arc::new(Gate::default());
    let hung = Arc::clone(&gate);
    let prober = Prober::new(move |path: &Path| {
        if path.starts_with("/hung") {
            hung.wait();
        }
        Ok(stats(1))
    })
    .with_mount_table(|| Ok(table()))
    .with_max_workers(2);
    let one = |path: &str| {
        HealthConfig::builder()
            .timeout(Duration::from_millis(50))
            .mount(mount("t", path).not_a_mount_point())
            .build()
            .unwrap()
    };
    for path in ["/a", "/b", "/c", "/d"] {
        assert_eq!(prober.check(&one(path)).status, Status::Ok);
        assert!(prober.worker_count() <= 2);
    }
    assert_eq!(prober.check(&one("/hung/1")).status, Status::Critical);
    assert_eq!(prober.check(&one("/hung/2")).status, Status::Critical);
    let report = prober.check(&one("/e"));
    assert_eq!(report.status, Status::Unknown, "{}", report.to_table());
    assert!(report.probes[0].message.contains("probe workers are busy or stuck"), "{}", report.probes[0].message);
    assert_eq!(prober.worker_count(), 2);
    gate.release();
}

#[test]
fn a_panicking_probe_is_reported_and_its_worker_survives() {
    let prober = Prober::new(|path: &Path| if path == Path::new("/") { panic!("boom") } else { Ok(stats(1)) })
        .with_mount_table(|| Ok(table()));
    let config = HealthConfig::builder().mount(mount("root", "/")).build().unwrap();
    for _ in 0..3 {
        let (status, message) = finding(&prober.check(&config), "/", CheckKind::Responding);
        assert_eq!(status, Status::Critical);
        assert!(message.contains("the probe panicked"), "{message}");
    }
    assert_eq!(prober.worker_count(), 1);
}

fn sample_report() -> HealthReport {
    let prober = prober(&[("/", 500), ("/data/postgresql", 950)]);
    let config = HealthConfig::builder()
        .mount(mount("root", "/"))
        .mount(mount("hot", "/data/postgresql").name("lv_postgres"))
        .mount(mount("cold \"nas\"", "/mnt/nas"))
        .build()
        .unwrap();
    prober.check(&config)
}

#[test]
fn json_has_the_documented_schema_and_round_trips() {
    let report = sample_report();
    let json = report.to_json().unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["schema_version"], 1);
    assert_eq!(value["status"], "critical");
    assert_eq!(value["tiers"]["root"], "ok");
    let probe = &value["probes"][1];
    assert_eq!((probe["name"].as_str(), probe["tier"].as_str()), (Some("lv_postgres"), Some("hot")));
    assert_eq!(probe["mount"], "/data/postgresql");
    assert_eq!(probe["values"]["bytes_used"], 950 * 4096);
    for key in ["bytes_available", "bytes_total", "used_ratio", "inodes_used", "inodes_total", "inodes_used_ratio"] {
        assert!(probe["values"].get(key).is_some(), "{key}");
    }
    assert_eq!(probe["findings"][0]["check"], "mounted");
    assert!(value["probes"][2]["values"].is_null(), "the NAS did not answer the fake probe");
    assert!(value["elapsed_seconds"].as_f64().unwrap() >= 0.0);
    let back: HealthReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back.status, report.status);
    assert_eq!(back.probes, report.probes);
}

#[test]
fn prometheus_text_parses_strictly_and_carries_the_values() {
    let report = sample_report();
    let text = report.to_prometheus();
    let families = exposition::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(families.iter().all(|f| f.name.starts_with("jts_") && f.kind == "gauge" && !f.help.is_empty()));
    let hot = [("tier", "hot"), ("mount", "/data/postgresql")];
    assert_eq!(exposition::value(&families, "jts_mount_bytes_used", &hot), Some(950.0 * 4096.0));
    assert_eq!(exposition::value(&families, "jts_mount_size_bytes", &hot), Some(1000.0 * 4096.0));
    assert_eq!(exposition::value(&families, "jts_mount_used_ratio", &hot), Some(0.95));
    assert_eq!(exposition::value(&families, "jts_mount_status", &hot), Some(2.0));
    let nas = [("tier", "cold \"nas\""), ("mount", "/mnt/nas")];
    assert_eq!(exposition::value(&families, "jts_mount_responding", &nas), Some(0.0));
    assert_eq!(exposition::value(&families, "jts_mount_bytes_used", &nas), None, "no stale figures");
    assert_eq!(exposition::value(&families, "jts_health_status", &[]), Some(2.0));
    assert_eq!(exposition::value(&families, "jts_tier_status", &[("tier", "root")]), Some(0.0));
    assert!(exposition::value(&families, "jts_check_duration_seconds", &[]).is_some());
}

#[test]
fn the_textfile_is_written_atomically_and_the_table_lists_every_mount() {
    let report = sample_report();
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path()).unwrap();
    let path = AbsPath::new("/jts.prom").unwrap();
    jts_health::write_textfile(&report, &root, &path).unwrap();
    jts_health::write_textfile(&report, &root, &path).unwrap();
    let written = std::fs::read_to_string(dir.path().join("jts.prom")).unwrap();
    assert_eq!(written, report.to_prometheus());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temp file left");

    let table = report.to_table();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("TIER") && lines[0].contains("MESSAGE"), "{table}");
    assert!(lines[2].contains("/data/postgresql") && lines[2].contains("CRITICAL") && lines[2].contains("95.0%"));
    assert!(lines[4].starts_with("overall: CRITICAL ("), "{table}");
}

#[test]
fn concurrent_checks_share_a_probe_in_flight_instead_of_calling_it_stuck() {
    let calls = Arc::new(Mutex::new(0usize));
    let counted = Arc::clone(&calls);
    let prober = Arc::new(
        Prober::new(move |_: &Path| {
            *counted.lock().unwrap() += 1;
            std::thread::sleep(Duration::from_millis(30));
            Ok(stats(1))
        })
        .with_mount_table(|| Ok(table())),
    );
    let config =
        Arc::new(HealthConfig::builder().timeout(Duration::from_secs(5)).mount(mount("root", "/")).build().unwrap());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (prober, config) = (Arc::clone(&prober), Arc::clone(&config));
            std::thread::spawn(move || (0..5).map(|_| prober.check(&config).status).collect::<Vec<_>>())
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), [Status::Ok; 5]);
    }
    assert!(*calls.lock().unwrap() <= 20);
    assert_eq!(prober.worker_count(), 1);
}

/// Each finding is exported on its own, so an alert can tell a mount that is missing from
/// one that is read-only, full or not responding, under the spec's own thresholds.
#[test]
fn each_check_of_a_mount_is_a_status_gauge_labelled_with_the_check() {
    let prober = prober(&[("/data/kafka", 10), ("/data/postgresql", 850)]);
    let config = HealthConfig::builder()
        .mount(mount("hot", "/data/kafka"))
        .mount(mount("hot", "/data/postgresql"))
        .mount(mount("hot", "/data/clickhouse"))
        .build()
        .unwrap();
    let text = prober.check(&config).to_prometheus();
    let families = exposition::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let check = |mount: &str, check: &str| {
        exposition::value(&families, "jts_mount_check_status", &[("tier", "hot"), ("mount", mount), ("check", check)])
    };
    assert_eq!(check("/data/kafka", "read_write"), Some(2.0), "{text}");
    assert_eq!(check("/data/kafka", "mounted"), Some(0.0));
    assert_eq!(check("/data/kafka", "bytes"), Some(0.0));
    assert_eq!(check("/data/postgresql", "bytes"), Some(1.0), "85% is a warning under the default 80/90");
    assert_eq!(check("/data/postgresql", "read_write"), Some(0.0));
    assert_eq!(check("/data/clickhouse", "mounted"), Some(2.0));
    assert_eq!(check("/data/clickhouse", "responding"), None, "an unmounted path is not probed");
}
