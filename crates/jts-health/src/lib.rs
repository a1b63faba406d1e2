//! Storage health for JTS services: is my storage mounted, writable and not full, in
//! milliseconds, without shelling out, and without ever hanging on a dead NFS server.
//!
//! - [`HealthConfig`] (built in code with [`HealthConfig::builder`]) lists the mounts to
//!   check ([`MountCheck`]: path, tier label, expected source and options, per-mount
//!   [`Thresholds`]) and one timeout for all probes.
//! - [`check()`] reads the mount table once, then probes every mount in parallel on
//!   long-lived per-mount workers ([`probe`] explains why no thread leaks) and returns a
//!   [`HealthReport`] by the timeout, whatever the mounts do.
//! - [`Status`] rolls up worst-of per tier and overall; [`HealthReport::exit_code`] is
//!   the monitoring-plugin code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
//! - Output: [`HealthReport::to_table`], [`HealthReport::to_json`],
//!   [`HealthReport::to_prometheus`] and [`write_textfile`] (atomic, for node_exporter).
//!
//! Per mount, these findings are made ([`CheckKind`]):
//!
//! | check | not OK when | status |
//! |---|---|---|
//! | `mounted` | the path is not a mount point | CRITICAL (usage not probed) |
//! | `source` | mounted from another device or export than expected | CRITICAL |
//! | `read_write` | read-only though `ro` was not asked for | CRITICAL |
//! | `options` | an expected option is not in effect (`jts_mounts::compare_options`) | WARNING |
//! | `responding` | stat/statvfs failed, or gave no answer by the timeout | CRITICAL |
//! | `bytes`, `inodes` | usage at or above a threshold | WARNING / CRITICAL |
//! | `reachable` | (NFS, [`MountCheck::nas`]) no TCP connection to the server's port 2049 by the timeout | CRITICAL |
//!
//! And, each only when configured, probes of their own kind:
//!
//! | probe | config | not OK when | status |
//! |---|---|---|---|
//! | volume group free space | [`LvmCheck`] (input: [`LvmReport`], parsed `vgs`/`lvs`) | free ≤ warn/crit % ([`FreeThresholds`], 10/5); group missing | WARNING / CRITICAL |
//! | snapshot COW fill | [`LvmCheck`] | `data_percent` ≥ warn/crit (80/90); invalid (overflowed) | WARNING / CRITICAL |
//! | lvm itself | [`LvmCheck`] | `vgs`/`lvs` failed or gave no answer by the timeout | UNKNOWN |
//! | directory usage | [`DirectoryCheck`] (opt-in: it reads every inode) | `du -sx` bytes ≥ warn/crit % of the budget; scan out of [`HealthConfig::directory_budget`]: partial | WARNING / CRITICAL; partial at least WARNING |
//! | last tier run | [`TierRunCheck`] | `last_success_at` older than warn/crit age (36h/72h); no run recorded | WARNING / CRITICAL; unparsable UNKNOWN |
//! | each backup | [`BackupCheck`] | last archive older than warn/crit age (36h/72h); none kept; its newest verification failed | WARNING / CRITICAL; failed verify CRITICAL |
//!
//! ```
//! use std::time::Duration;
//! use jts_health::{HealthConfig, MountCheck, Status, check};
//!
//! let config = HealthConfig::builder()
//!     .timeout(Duration::from_secs(2))
//!     .mount(MountCheck::new("root", "/").unwrap().not_a_mount_point())
//!     .build()
//!     .unwrap();
//! let report = check(&config);
//! assert_eq!(report.probes.len(), 1);
//! assert!(report.probes[0].values.is_some(), "{}", report.to_table());
//! assert!(report.status <= Status::Critical);
//! ```
//!
//! # JSON schema (version 1)
//!
//! [`HealthReport::to_json`] gives one object. Fields are only ever added within a
//! schema version; renames and removals bump `schema_version`.
//!
//! ```json
//! {
//!   "schema_version": 1,
//!   "status": "warning",                 // ok | warning | critical | unknown
//!   "tiers": { "hot": "warning", "cold": "ok" },
//!   "probes": [
//!     {
//!       "name": "lv_postgres",           // the mount's name, its path unless named
//!       "tier": "hot",
//!       "mount": "/data/postgresql",
//!       "status": "warning",
//!       "message": "space 85.2% used (warn 80%, crit 90%)",
//!       "values": {                      // null when the filesystem did not answer
//!         "bytes_used": 9149415424,
//!         "bytes_available": 1589706752,
//!         "bytes_total": 10464022528,
//!         "used_ratio": 0.852,           // used / (used + available), as df's Use%
//!         "inodes_used": 12,
//!         "inodes_total": 655360,
//!         "inodes_used_ratio": 0.0000183,// null without a fixed inode count (btrfs)
//!         "probe_seconds": 0.00004
//!       },
//!       "findings": [                    // every check made, OK or not
//!         { "check": "bytes", "status": "warning", "message": "space 85.2% used (warn 80%, crit 90%)" }
//!       ]                                // check: mounted | source | read_write | options
//!     }                                  //        | responding | bytes | inodes
//!   ],                                   // NFS probes also have "nas": { "host", "port",
//!                                        //   "reachable", "connect_seconds", "error" }
//!   "volume_groups": [ { "name": "vg_jts", "tier": "hot", "status": "ok", "message": "…",
//!                        "size_bytes": 4290772992, "free_bytes": 3502243840, "free_ratio": 0.816 } ],
//!   "snapshots": [ { "name": "lv_pg-snap-…", "vg": "vg_jts", "origin": "lv_pg", "tier": "hot",
//!                    "status": "ok", "message": "…", "cow_used_ratio": 0.1257, "valid": true } ],
//!   "directories": [ { "name": "/data/postgresql", "tier": "hot", "path": "/data/postgresql",
//!                      "status": "ok", "message": "…", "bytes_used": 1234, "budget_bytes": 858993459200,
//!                      "budget_used_ratio": 0.0000014, "files": 12, "errors": 0, "partial": false,
//!                      "scan_seconds": 0.002 } ],
//!   "tier_run": { "status_file": "/var/lib/jts/tier/last-run.json", "status": "ok", "message": "…",
//!                 "last_success_at": 1795386663, "age_seconds": 3600 },   // null when not checked
//!   "elapsed_seconds": 0.0031
//! }
//! ```
//!
//! # Prometheus metrics
//!
//! All gauges: `jts_health_status`, `jts_tier_status{tier}`, and per mount
//! (`{tier,mount}`) `jts_mount_status`, `jts_mount_check_status` (also labelled `check`:
//! `mounted`, `read_write`, `bytes`, … one per finding), `jts_mount_responding`, `jts_mount_bytes_used`,
//! `jts_mount_bytes_available`, `jts_mount_size_bytes`, `jts_mount_used_ratio`,
//! `jts_mount_inodes_used`, `jts_mount_inodes`, `jts_mount_probe_duration_seconds`;
//! and `jts_check_duration_seconds`. Status gauges hold the plugin codes 0..3.
//! When the report has them: `jts_nas_reachable` and `jts_nas_connect_duration_seconds`
//! (`{tier,mount,host}`); `jts_vg_status`, `jts_vg_size_bytes`, `jts_vg_free_bytes`,
//! `jts_vg_free_ratio` (`{tier,vg}`); `jts_snapshot_status`, `jts_snapshot_cow_used_ratio`,
//! `jts_snapshot_valid` (`{tier,vg,volume,origin}`); `jts_directory_status`,
//! `jts_directory_bytes_used`, `jts_directory_budget_bytes`, `jts_directory_budget_used_ratio`,
//! `jts_directory_files`, `jts_directory_partial`, `jts_directory_scan_duration_seconds`
//! (`{tier,directory}`); `jts_tier_run_status`, `jts_tier_run_last_success_timestamp_seconds`,
//! `jts_tier_run_age_seconds`; `jts_backup_status`, `jts_backup_last_success_timestamp_seconds`,
//! `jts_backup_age_seconds`, `jts_backup_last_verify_ok`, `jts_backup_last_verify_timestamp_seconds`
//! (`{backup}`). `promtool check metrics` accepts the text.

mod backups;
mod check;
mod config;
pub mod dirsize;
mod error;
mod lvm;
mod nas;
mod output;
pub mod probe;
mod status;
mod tierrun;

pub use backups::{BackupCheck, BackupResult, backup_result};
pub use check::{CheckKind, Finding, HealthReport, ProbeResult, SCHEMA_VERSION, Usage, check, check_with_lvm};
pub use config::{
    DEFAULT_DIRECTORY_BUDGET, DEFAULT_TIMEOUT, DirectoryCheck, HealthConfig, HealthConfigBuilder, MountCheck,
};
pub use dirsize::{DirScan, DirectoryResult, directory_result, scan_directory};
pub use error::{Error, Result};
pub use lvm::{LvmCheck, LvmReport, SnapshotResult, VgResult, lvm_results};
pub use nas::{NFS_PORT, NasResult, NasTarget, probe_nas};
pub use output::write_textfile;
pub use probe::{FsStats, Prober, statvfs_probe};
pub use status::{FreeThresholds, Status, Thresholds};
pub use tierrun::{DEFAULT_STATUS_FILE, TierRunCheck, TierRunResult, classify_age, tier_run_result};
