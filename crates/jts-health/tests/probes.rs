//! The NAS, LVM, directory and tier-run probes through a whole check: loopback TCP only,
//! real lvm2 fixtures, a temp directory tree and a temp status file; the report's JSON,
//! table and Prometheus text (parsed by the strict test parser and by `promtool`).

mod common;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use common::exposition;
use jts_health::{
    CheckKind, DirectoryCheck, FsStats, HealthConfig, HealthReport, LvmCheck, LvmReport, MountCheck, NasTarget, Prober,
    Status, TierRunCheck,
};

const VGS: &str = include_str!("../../jts-lvm/tests/fixtures/vgs-full.json");
const LVS: &str = include_str!("../../jts-lvm/tests/fixtures/lvs-full.json");

fn prober() -> Prober {
    Prober::new(|_: &Path| {
        Ok(FsStats {
            fragment_size: 4096,
            blocks: 100,
            blocks_free: 50,
            blocks_available: 50,
            files: 10,
            files_free: 5,
        })
    })
    .with_mount_table(|| Ok(Vec::new()))
}

fn nas_mount(port: u16) -> MountCheck {
    MountCheck::new("cold", "/").unwrap().not_a_mount_point().nas(NasTarget { host: "127.0.0.1".into(), port })
}

/// A report with every kind of probe: a reachable and an unreachable NAS, the fixture
/// VG and snapshots, a directory and a tier run of 40 hours ago.
fn full_report(work: &Path) -> HealthReport {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().port();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = work.join("pg");
    std::fs::create_dir_all(dir.join("base")).unwrap();
    std::fs::write(dir.join("base/1"), vec![1u8; 64 << 10]).unwrap();
    let status_file = work.join("last-run.json");
    let at = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() - 40 * 3600;
    std::fs::write(&status_file, format!(r#"{{"last_success_at": {at}, "files_moved": 12}}"#)).unwrap();
    let config = HealthConfig::builder()
        .timeout(Duration::from_secs(5))
        .mount(nas_mount(open).name("nas-up"))
        .mount(
            MountCheck::new("cold", "/tmp")
                .unwrap()
                .not_a_mount_point()
                .nas(NasTarget { host: "127.0.0.1".into(), port: closed }),
        )
        .lvm(LvmCheck::new(["vg_jts"]))
        .directory(DirectoryCheck::new("hot", dir.to_str().unwrap(), 1 << 20).unwrap())
        .tier_run(TierRunCheck { status_file, ..TierRunCheck::default() })
        .build()
        .unwrap();
    let report = prober().check_with_lvm(&config, || LvmReport::parse(VGS, LVS).map_err(|e| e.to_string()));
    drop(listener);
    report
}

#[test]
fn nas_reachability_is_a_tcp_connect_on_loopback() {
    let work = tempfile::tempdir().unwrap();
    let report = full_report(work.path());
    let up = &report.probes[0];
    let reach = up.findings.iter().find(|f| f.check == CheckKind::Reachable).unwrap();
    assert_eq!(reach.status, Status::Ok, "{reach:?}");
    assert!(up.nas.as_ref().unwrap().reachable);
    let down = &report.probes[1];
    assert_eq!(down.status, Status::Critical, "{down:?}");
    let expected = format!("NAS 127.0.0.1:{} unreachable", down.nas.as_ref().unwrap().port);
    assert!(down.message.contains(&expected), "{}", down.message);
    assert_eq!(report.tiers["cold"], Status::Critical);
}

#[test]
fn every_probe_kind_reaches_json_table_and_roll_up() {
    let work = tempfile::tempdir().unwrap();
    let report = full_report(work.path());
    assert_eq!(report.volume_groups.len(), 1);
    assert_eq!(report.snapshots.len(), 3);
    assert_eq!(report.tiers["hot"], Status::Critical, "the overflowed snapshot");
    let dir = &report.directories[0];
    assert!(!dir.partial && dir.files == 3 && dir.bytes_used >= 64 << 10, "{dir:?}");
    let run = report.tier_run.as_ref().unwrap();
    assert_eq!(run.status, Status::Warning, "{run:?}");
    assert_eq!(report.status, Status::Critical);

    let json: serde_json::Value = serde_json::from_str(&report.to_json().unwrap()).unwrap();
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["volume_groups"][0]["free_bytes"], 3502243840u64);
    assert_eq!(json["snapshots"][2]["valid"], false);
    assert_eq!(json["directories"][0]["partial"], false);
    assert_eq!(json["tier_run"]["status"], "warning");
    assert_eq!(json["probes"][0]["nas"]["reachable"], true);
    let back: HealthReport = serde_json::from_str(&report.to_json().unwrap()).unwrap();
    assert_eq!(back.snapshots, report.snapshots);
    assert_eq!(back.directories, report.directories);

    let table = report.to_table();
    for needle in ["vg vg_jts", "snapshot vg_jts/lv_small-snap", "dir /", "tier run", "unreachable"] {
        assert!(table.contains(needle), "{needle} missing:\n{table}");
    }
}

#[test]
fn new_families_parse_strictly_with_their_labels() {
    let work = tempfile::tempdir().unwrap();
    let report = full_report(work.path());
    let text = report.to_prometheus();
    let families = exposition::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(families.iter().all(|f| f.name.starts_with("jts_") && f.kind == "gauge" && !f.help.is_empty()));
    let vg = [("tier", "hot"), ("vg", "vg_jts")];
    assert_eq!(exposition::value(&families, "jts_vg_free_bytes", &vg), Some(3502243840.0));
    let snap =
        [("tier", "hot"), ("vg", "vg_jts"), ("volume", "lv_small-snap-20260103T000000Z"), ("origin", "lv_small")];
    assert_eq!(exposition::value(&families, "jts_snapshot_valid", &snap), Some(0.0));
    assert_eq!(exposition::value(&families, "jts_snapshot_status", &snap), Some(2.0));
    let path = work.path().join("pg");
    let dir = [("tier", "hot"), ("directory", path.to_str().unwrap())];
    assert_eq!(exposition::value(&families, "jts_directory_budget_bytes", &dir), Some(1048576.0));
    assert_eq!(exposition::value(&families, "jts_directory_partial", &dir), Some(0.0));
    let nas = [("tier", "cold"), ("mount", "/"), ("host", "127.0.0.1")];
    assert_eq!(exposition::value(&families, "jts_nas_reachable", &nas), Some(1.0));
    assert_eq!(exposition::value(&families, "jts_tier_run_status", &[]), Some(1.0));
    let age = exposition::value(&families, "jts_tier_run_age_seconds", &[]).unwrap();
    assert!((40.0 * 3600.0..41.0 * 3600.0).contains(&age), "{age}");
}

/// Parses the text with Prometheus's own parser (`promtool check metrics`). promtool is
/// installed by `scripts/install-deps.sh` (package `prometheus`), which the test command
/// runs as root: there, a missing promtool fails the test; as another user it skips.
#[test]
fn prometheus_text_passes_promtool() {
    let Some(promtool) = promtool() else { return };
    let work = tempfile::tempdir().unwrap();
    let text = full_report(work.path()).to_prometheus();
    let out = assert_cmd::Command::new(promtool)
        .args(["check", "metrics"])
        .write_stdin(text.clone())
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // promtool prints parse errors and lint problems; both fail the check.
    assert!(
        out.status.success() && stdout.trim().is_empty() && stderr.trim().is_empty(),
        "promtool check metrics: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}\ntext:\n{text}",
        out.status
    );
}

/// promtool, where `scripts/install-deps.sh` puts it; `None` (the test then skips) only
/// when not root, since the test command installs it as root.
fn promtool() -> Option<&'static str> {
    let found = ["/usr/bin/promtool", "/usr/local/bin/promtool"].into_iter().find(|p| Path::new(p).exists());
    if found.is_none() {
        assert!(
            !jts_testkit::is_root(),
            "promtool is missing: run `bash scripts/install-deps.sh` (apt package prometheus)"
        );
        println!("skipped: promtool not installed (apt-get install prometheus); required when run as root");
    }
    found
}

/// The alerting rules (`monitoring/jts-storage.rules.yml`) and their promtool fixtures.
fn alerting_files() -> Vec<std::path::PathBuf> {
    let monitoring = jts_testkit::repo_root().join("monitoring");
    let mut files = vec![monitoring.join("jts-storage.rules.yml")];
    let mut fixtures: Vec<_> =
        std::fs::read_dir(monitoring.join("tests")).unwrap().map(|entry| entry.unwrap().path()).collect();
    fixtures.sort();
    assert!(!fixtures.is_empty(), "monitoring/tests has no promtool fixtures");
    files.extend(fixtures);
    files
}

/// The words of `text` that look like a jts metric name (`jts_` then `[a-z0-9_]`).
fn jts_metric_names(text: &str) -> std::collections::BTreeSet<&str> {
    let is_name = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    text.match_indices("jts_")
        .filter(|(at, _)| !text[..*at].ends_with(is_name))
        .map(|(at, _)| {
            let rest = &text[at..];
            &rest[..rest.find(|c: char| !is_name(c)).unwrap_or(rest.len())]
        })
        .collect()
}

/// The rules alert on, and their fixtures feed, only series jts exports, and only the
/// `check` labels its findings have: a renamed metric fails here, not silently in production.
#[test]
fn the_alerting_rules_use_only_metrics_and_checks_jts_exports() {
    let work = tempfile::tempdir().unwrap();
    let families = exposition::parse(&full_report(work.path()).to_prometheus()).unwrap();
    let exported: std::collections::BTreeSet<&str> = families.iter().map(|f| f.name.as_str()).collect();
    let checks = [
        CheckKind::Mounted,
        CheckKind::Source,
        CheckKind::ReadWrite,
        CheckKind::Options,
        CheckKind::Responding,
        CheckKind::Bytes,
        CheckKind::Inodes,
        CheckKind::Reachable,
    ]
    .map(CheckKind::as_str);
    for file in alerting_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let used = jts_metric_names(&text);
        assert!(!used.is_empty(), "{} names no jts metric", file.display());
        let unknown: Vec<_> = used.iter().filter(|name| !exported.contains(*name)).collect();
        assert!(unknown.is_empty(), "{} uses metrics jts does not export: {unknown:?}", file.display());
        for quoted in text.split("check=").skip(1) {
            let value = quoted.trim_start_matches('~').trim_start_matches('"');
            let value = &value[..value.find('"').unwrap()];
            for check in value.split('|') {
                assert!(checks.contains(&check), "{}: check {check:?} is not one of {checks:?}", file.display());
            }
        }
    }
    assert!(jts_metric_names("jts-provision jts_mount_status{x} ajts_y").contains("jts_mount_status"));
    assert_eq!(jts_metric_names("jts-provision jts.prom ajts_y").len(), 0);
}

/// `promtool check rules` accepts the rules and `promtool test rules` passes every fixture
/// (each alert firing where it must and silent where it must not).
#[test]
fn the_alerting_rules_pass_promtool_check_and_test() {
    let Some(promtool) = promtool() else { return };
    let files = alerting_files();
    let check = jts_testkit::tool(promtool, &["check".as_ref(), "rules".as_ref(), files[0].as_os_str()]);
    assert!(check.code == 0 && check.stdout.contains("SUCCESS: 13 rules found"), "{check:?}");
    let mut args = vec!["test".as_ref(), "rules".as_ref()];
    args.extend(files[1..].iter().map(|f| f.as_os_str()));
    let test = jts_testkit::tool(promtool, &args);
    assert_eq!(test.code, 0, "{test:?}");
    assert_eq!(test.stdout.matches("SUCCESS").count(), files.len() - 1, "{test:?}");
}

#[test]
fn a_hung_lvm_is_unknown_on_time_and_not_read_twice() {
    let config =
        HealthConfig::builder().timeout(Duration::from_millis(300)).lvm(LvmCheck::new(["vg_jts"])).build().unwrap();
    let prober = prober();
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let start = Instant::now();
    let report = prober.check_with_lvm(&config, move || {
        let _ = wait.recv();
        Err("released".into())
    });
    assert!(start.elapsed() < Duration::from_secs(5), "returned at all: {:?}", start.elapsed());
    let vg = &report.volume_groups[0];
    assert_eq!(vg.status, Status::Unknown);
    assert!(vg.message.contains("gave no answer"), "{}", vg.message);
    let again = prober.check_with_lvm(&config, || panic!("a second read must not start while one hangs"));
    assert!(again.volume_groups[0].message.contains("still not answering"), "{:?}", again.volume_groups);
    release.send(()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let after = prober.check_with_lvm(&config, || LvmReport::parse(VGS, LVS).map_err(|e| e.to_string()));
    assert_eq!(after.volume_groups[0].status, Status::Ok, "{:?}", after.volume_groups);
}

#[test]
fn a_directory_scan_past_its_budget_is_partial() {
    let work = tempfile::tempdir().unwrap();
    for i in 0..3000 {
        std::fs::write(work.path().join(i.to_string()), b"x").unwrap();
    }
    let config = HealthConfig::builder()
        .directory_budget(Duration::ZERO)
        .directory(DirectoryCheck::new("hot", work.path().to_str().unwrap(), 1 << 40).unwrap())
        .build()
        .unwrap();
    let report = prober().check(&config);
    let dir = &report.directories[0];
    assert!(dir.partial && dir.status == Status::Warning, "{dir:?}");
    assert!(dir.message.starts_with("partial: scanned "), "{}", dir.message);
}
