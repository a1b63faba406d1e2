//! Root tier: real ext4 filesystems on loop devices, filled to 85 % and 95 %, one remounted
//! read-only by hand, checked through the real statvfs probe and mount table.
//!
//! Every test is named `root_*`, is ignored unless asked for, fails when asked for
//! without root (docs/architecture.md, "Testing tiers"), and unmounts and detaches its
//! loop devices through jts-testkit's drop guards, also when it fails.

mod common;

use std::path::{Path, PathBuf};

use common::exposition;
use jts_health::{CheckKind, HealthConfig, MountCheck, Status, check, statvfs_probe};
use jts_testkit::{LoopDevice, MIB, TempDir, require_root, tempdir, tool};

/// An ext4 filesystem on a loop device, mounted on a temp directory with `noatime`;
/// unmounted and detached on drop, before the directory is removed (field order).
struct LoopMount {
    disk: LoopDevice,
    mount_point: PathBuf,
    _dir: TempDir,
}

impl LoopMount {
    fn new(name: &str) -> Self {
        let dir = tempdir();
        // No reserved blocks, so that the fill below is what df's Use% shows.
        let mut disk = LoopDevice::new(64 * MIB).formatted("mkfs.ext4", &["-q", "-F", "-m", "0"]);
        let mount_point = dir.path().join(name);
        std::fs::create_dir(&mount_point).unwrap();
        disk.mount(&mount_point, "ext4", &["noatime"]);
        Self { disk, mount_point, _dir: dir }
    }

    fn path(&self) -> &str {
        self.mount_point.to_str().unwrap()
    }

    /// Allocates one file so that `used / (used + available)` is about `ratio`.
    fn fill_to(&self, ratio: f64) {
        let stats = statvfs_probe(&self.mount_point).unwrap();
        let usable = stats.bytes_used() + stats.bytes_available();
        let want = (ratio * usable as f64) as u64 - stats.bytes_used();
        let file = std::fs::File::create(self.mount_point.join("fill")).unwrap();
        nix::fcntl::posix_fallocate(&file, 0, i64::try_from(want).unwrap()).unwrap();
        file.sync_all().unwrap();
    }

    fn check(&self, tier: &str) -> MountCheck {
        MountCheck::new(tier, self.path()).unwrap().source(self.disk.device()).options(["noatime"])
    }
}

fn used_percent(report: &jts_health::HealthReport, mount: &Path) -> f64 {
    let probe = report.probes.iter().find(|p| Path::new(&p.mount) == mount).unwrap();
    probe.values.unwrap().used_ratio * 100.0
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_loop_filesystems_at_85_and_95_percent_give_warning_and_critical() {
    require_root();
    let warm = LoopMount::new("warm");
    let hot = LoopMount::new("hot");
    warm.fill_to(0.85);
    hot.fill_to(0.95);
    let only = |mount: MountCheck| HealthConfig::builder().mount(mount).build().unwrap();

    let report = check(&only(warm.check("warm")));
    let used = used_percent(&report, &warm.mount_point);
    assert!((82.0..88.0).contains(&used), "filled to {used}%");
    assert_eq!((report.status, report.exit_code()), (Status::Warning, 1), "{}", report.to_table());
    let findings = &report.probes[0].findings;
    let status_of = |kind| findings.iter().find(|f| f.check == kind).map(|f| f.status);
    assert_eq!(status_of(CheckKind::Source), Some(Status::Ok), "{findings:?}");
    assert_eq!(status_of(CheckKind::Options), Some(Status::Ok), "{findings:?}");
    assert_eq!(status_of(CheckKind::ReadWrite), Some(Status::Ok), "{findings:?}");
    assert_eq!(status_of(CheckKind::Bytes), Some(Status::Warning), "{findings:?}");

    let report = check(&only(hot.check("hot")));
    let used = used_percent(&report, &hot.mount_point);
    assert!((92.0..98.0).contains(&used), "filled to {used}%");
    assert_eq!((report.status, report.exit_code()), (Status::Critical, 2), "{}", report.to_table());

    // Both in one check: per tier and overall roll-up, and the Prometheus text parses.
    let both = HealthConfig::builder().mount(warm.check("warm")).mount(hot.check("hot")).build().unwrap();
    let report = check(&both);
    assert_eq!((report.tiers["warm"], report.tiers["hot"]), (Status::Warning, Status::Critical));
    let text = report.to_prometheus();
    let families = exposition::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let labels = [("tier", "hot"), ("mount", hot.path())];
    assert_eq!(exposition::value(&families, "jts_mount_status", &labels), Some(2.0));
    let ratio = exposition::value(&families, "jts_mount_used_ratio", &labels).unwrap();
    assert!((0.92..0.98).contains(&ratio), "{ratio}");
    let total = exposition::value(&families, "jts_mount_size_bytes", &labels).unwrap();
    assert!(total > 50.0 * 1024.0 * 1024.0, "{total}");
    assert_eq!(exposition::value(&families, "jts_health_status", &[]), Some(2.0));
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_a_mount_remounted_read_only_by_hand_is_reported() {
    require_root();
    let pg = LoopMount::new("pg");
    let config = HealthConfig::builder().mount(pg.check("hot")).build().unwrap();
    assert_eq!(check(&config).status, Status::Ok, "{}", check(&config).to_table());

    tool("mount", &["-o", "remount,ro", pg.path()]).expect_code(0);
    let report = check(&config);
    assert_eq!((report.status, report.exit_code()), (Status::Critical, 2), "{}", report.to_table());
    let probe = &report.probes[0];
    assert!(probe.message.contains("mounted read-only"), "{}", probe.message);
    assert!(probe.values.is_some(), "a read-only mount still reports its usage");
    let text = report.to_prometheus();
    exposition::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));

    // Unmounted: CRITICAL "not mounted", and no usage of the parent filesystem.
    tool("umount", &[pg.path()]).expect_code(0);
    let report = check(&config);
    assert_eq!(report.status, Status::Critical);
    assert!(report.probes[0].message.ends_with("is not mounted"), "{}", report.probes[0].message);
    assert!(report.probes[0].values.is_none());
}
