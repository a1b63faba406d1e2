//! A service calling `check` every few seconds with a hung mount must not gain a thread per
//! call. Alone in its test binary so that the process's thread count is this test's.

use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jts_health::{FsStats, HealthConfig, MountCheck, Prober, Status};

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn many_checks_with_hung_mounts_keep_a_bounded_number_of_threads() {
    // The hung probes block on a channel nobody sends on until the end of the test.
    let (release, blocked) = mpsc::channel::<()>();
    let blocked = Arc::new(Mutex::new(blocked));
    let prober = Prober::new(move |path: &Path| {
        if path.starts_with("/hung") {
            let _ = blocked.lock().map(|rx| rx.recv());
        }
        Ok(FsStats { fragment_size: 4096, blocks: 10, blocks_free: 5, blocks_available: 5, files: 0, files_free: 0 })
    })
    .with_mount_table(|| Ok(Vec::new()));
    let timeout = Duration::from_millis(50);
    let config = HealthConfig::builder()
        .timeout(timeout)
        .mount(MountCheck::new("cold", "/hung/nas").unwrap().not_a_mount_point())
        .mount(MountCheck::new("cold", "/hung/archive").unwrap().not_a_mount_point())
        .mount(MountCheck::new("hot", "/data").unwrap().not_a_mount_point())
        .build()
        .unwrap();

    let before = threads();
    for _ in 0..200 {
        let start = Instant::now();
        let report = prober.check(&config);
        assert!(start.elapsed() < timeout * 5, "check took {:?}", start.elapsed());
        assert_eq!(report.tiers["cold"], Status::Critical);
        assert_eq!(report.tiers["hot"], Status::Ok, "{report:?}");
    }
    let after = threads();
    assert!(after <= before + 3, "threads grew from {before} to {after} over 200 checks");
    assert_eq!(prober.worker_count(), 3);
    drop(release);
}
