//! Root tier: `verify performance` runs the real fio on a real ext4 loop filesystem
//! mounted under a scratch `--root`: figures for every profile, exit 4 on a missed
//! threshold, a refused run when the test would fill the mount, and no scratch left
//! behind, even after `kill -9`. Named `root_*`, ignored unless asked for, failing
//! without root.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use jts_testkit::{LoopDevice, jts_at, require_root, spawn_jts, tempdir, under, write_file};

const PROFILES: [&str; 6] = ["postgresql", "kafka", "clickhouse", "redis", "mongodb", "nas"];

/// A 256 MiB ext4 loop filesystem mounted at ROOT/data/perf.
fn mounted(root: &Path) -> (LoopDevice, PathBuf) {
    let mut device = LoopDevice::new(256 << 20).formatted("mkfs.ext4", &["-q", "-F"]);
    let at = under(root, "/data/perf");
    std::fs::create_dir_all(&at).unwrap();
    device.mount(&at, "ext4", &[]);
    (device, at)
}

fn spec(dir: &Path, device: &LoopDevice, performance: &str) -> PathBuf {
    let text = format!(
        "version = 1\n[filesystems.perf]\ndevice = \"{}\"\nfilesystem = \"ext4\"\nmount_point = \"/data/perf\"\n\n[performance.perf]\n{performance}\n",
        device.device()
    );
    write_file(dir, "storage.toml", &text)
}

/// What the mount holds besides ext4's lost+found.
fn leftovers(at: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(at).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.retain(|n| n != "lost+found");
    names
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, fio)"]
fn root_every_profile_returns_fio_figures_and_thresholds_exit_4() {
    require_root();
    let tmp = tempdir();
    let root = tmp.path().join("root");
    let (device, at) = mounted(&root);
    for profile in PROFILES {
        let spec = spec(
            tmp.path(),
            &device,
            &format!("profile = \"{profile}\"\nsize = \"8MiB\"\nruntime = \"5s\"\nmin_iops = 1"),
        );
        let run = jts_at(&spec, &root, &["verify", "performance", "--json"]);
        run.expect_code(0);
        let mount = &run.json()["mounts"][0];
        assert_eq!(
            (mount["outcome"].as_str(), mount["profile"].as_str()),
            (Some("measured"), Some(profile)),
            "{run:?}"
        );
        let figures = &mount["figures"];
        let directions: Vec<&str> = ["read", "write"].into_iter().filter(|d| figures[d].is_object()).collect();
        assert!(!directions.is_empty(), "{profile}: no figures: {run:?}");
        for d in directions {
            assert!(figures[d]["iops"].as_f64().unwrap() > 0.0, "{profile} {d}: {figures}");
            assert!(figures[d]["bandwidth"].as_u64().unwrap() > 0, "{profile} {d}: {figures}");
            assert!(figures[d]["p99_ns"].as_u64().unwrap() >= figures[d]["p50_ns"].as_u64().unwrap(), "{figures}");
        }
        assert_eq!(leftovers(&at), Vec::<String>::new(), "{profile}: the scratch directory is gone");
    }

    // A threshold far above what a loop device gives: exit 4, naming it; the table and
    // Prometheus text carry the same figures.
    let spec = spec(tmp.path(), &device, "profile = \"kafka\"\nsize = \"8MiB\"\nmin_bandwidth = \"1000TiB\"");
    let run = jts_at(&spec, &root, &["verify", "performance"]);
    run.expect_code(4);
    assert!(run.stdout.contains("MISSED min_bandwidth 1000 TiB/s: measured"), "{run:?}");
    assert!(run.stdout.contains("scheduler"), "what makes the numbers: {run:?}");
    let prom = jts_at(&spec, &root, &["verify", "performance", "--prometheus"]);
    prom.expect_code(4);
    assert!(prom.stdout.contains("jts_perf_thresholds_met{mount=\"perf\"} 0"), "{prom:?}");
    assert!(
        prom.stdout.contains("jts_perf_bandwidth_bytes{mount=\"perf\",profile=\"kafka\",direction=\"write\"}"),
        "{prom:?}"
    );
    assert_eq!(leftovers(&at), Vec::<String>::new());
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, fio)"]
fn root_a_test_that_would_fill_the_mount_is_refused() {
    require_root();
    let tmp = tempdir();
    let root = tmp.path().join("root");
    let (device, at) = mounted(&root);
    let spec = spec(tmp.path(), &device, "profile = \"kafka\"\nsize = \"230MiB\"");
    let run = jts_at(&spec, &root, &["verify", "performance"]);
    run.expect_code(1);
    assert!(run.stdout.contains("REFUSED") && run.stdout.contains("past the [health] warning level of 80%"), "{run:?}");
    assert_eq!(leftovers(&at), Vec::<String>::new(), "nothing written");
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, fio, kill -9)"]
fn root_scratch_left_by_kill_9_is_removed_by_the_next_run() {
    require_root();
    let tmp = tempdir();
    let root = tmp.path().join("root");
    let (device, at) = mounted(&root);
    // fsync after every 8 KiB write: long enough to be killed in the middle.
    let spec = spec(tmp.path(), &device, "profile = \"postgresql\"\nsize = \"64MiB\"\nruntime = \"60s\"");
    let args = ["--config", spec.to_str().unwrap(), "--root", root.to_str().unwrap(), "verify", "performance"];
    let mut child = spawn_jts(&args, Stdio::null(), Stdio::null());
    let scratch = loop {
        if let Some(name) = leftovers(&at).into_iter().find(|n| n.starts_with(".jts-perf.")) {
            if at.join(&name).join("data").exists() {
                break at.join(name);
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // fio was started with a parent-death signal: it is gone with the run, and its file
    // is left for the next run to find.
    assert!(scratch.exists(), "a killed run cannot clean up: this is the case under test");

    let again = spec_with_small_run(tmp.path(), &device);
    jts_at(&again, &root, &["verify", "performance"]).expect_code(0);
    assert!(!scratch.exists(), "the next run removed {}", scratch.display());
    assert_eq!(leftovers(&at), Vec::<String>::new());
}

fn spec_with_small_run(dir: &Path, device: &LoopDevice) -> PathBuf {
    spec(dir, device, "profile = \"kafka\"\nsize = \"4MiB\"")
}
