//! The whole host of jts-storage, as a library every front end links.
//!
//! One spec file describes a host: accounts and directory trees (jts-perms), LVM volumes
//! and snapshots (jts-lvm), filesystems (jts-fs), mounts (jts-mounts), tiering rules
//! (jts-tiering) and health levels (jts-health). This crate composes those concerns into
//! the core loop, **spec → observe → plan → apply → verify**:
//!
//! 1. [`load_checked`] reads the spec and checks everything the spec and the account
//!    files can tell, every problem located as `file:line:col` ([`ConfigError`]);
//! 2. [`observe()`] reads what the machine has of everything the spec names, as a
//!    serializable [`HostObserved`] (or [`read_state`] reads one saved by `probe`);
//! 3. [`plan()`] (pure) orders every concern's [`HostStep`]s, and [`plan_with_consent`]
//!    adds the refusals of destructive steps the operator did not consent to;
//! 4. [`apply()`] runs the plan through a [`jts_core::Runner`] in two phases (up to the
//!    last mount, then a fresh plan of what the mounts revealed), journaling every step
//!    ([`open_journal`]), and [`verify`] observes again.
//!
//! Around the loop: [`rendered_files`] (systemd units, drop-ins, udev rule, the
//! `[sysctl]` drop-in) and [`health_config`] (what `health` and the jts-health library
//! check on this host). Beyond it, the proofs that the host serves its databases:
//! [`verify_access`] (the kernel's answer for every service user on every directory),
//! [`verify_performance`] (fio workloads per mount) and [`scrub()`] (btrfs checksums).
//!
//! Nothing here prints; errors are [`Error`], whose messages are complete on their own.
//!
//! ```
//! use jts_host::{HostObserved, load_checked, plan};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let file = dir.path().join("storage.toml");
//! std::fs::write(&file, "version = 1\n[groups.dba]\ngid = 2001\n").unwrap();
//! let blank: HostObserved = serde_json::from_str(
//!     r#"{"perms": {"accounts": {"files_present": true, "users": {}, "groups": {}}, "paths": {}}}"#,
//! )
//! .unwrap();
//! let spec = load_checked(&file, &blank.perms.accounts).unwrap();
//! let steps = plan(&spec, &blank).unwrap().steps;
//! assert_eq!(steps.len(), 1, "one group to create");
//! ```

mod access;
mod adopted;
mod apply;
mod backups;
mod check;
mod consent;
mod error;
mod health;
mod observe;
mod own_state;
mod parse;
mod perf;
mod plan;
mod render;
mod scrub;
mod snapshots;
mod spec;
mod step;
mod sysctl;
mod targets;
mod timers;
mod units;
mod upkeep;

pub use access::{AccessCell, AccessReport, run_probes, verify_access};
pub use apply::{Applied, apply, verify};
pub use backups::{backup_locations, backups};
pub use check::{check_filesystems, load_checked, load_for_machine};
pub use consent::refuse_without_consent;
pub use error::{Error, Result};
pub use health::{health_config, health_targets};
pub use observe::{HostObserved, MachineObserver, Observer, observe, observe_to_plan, read_state};
pub use own_state::{STATE_DIR, lock, lock_if_present, open_journal};
pub use perf::{
    Direction, FioFigures, Latency, MountResult, Outcome, PerfReport, PerformanceSpec, Profile, SCRATCH_PREFIX,
    verify_performance,
};
pub use plan::{Detail, HostPlan, drift, plan, plan_with_consent};
pub use render::{DATA_DIRS, DOCKER_DATA_ROOT, RENDERED_MODE, rendered_files};
pub use scrub::{ScrubFigures, ScrubOutcome, Scrubbed, scrub, scrub_prometheus};
pub use snapshots::{SnapshotRun, run_snapshot_plan};
pub use spec::{ConfigError, HealthLevels, HealthSection, HostSpec, SpecSource, load};
pub use step::{HostStep, HostStepError};
pub use sysctl::{DROP_IN as SYSCTL_DROP_IN, SetSysctl, SysctlObserved, SysctlValue};
pub use targets::{format_of, mount_targets};
pub use timers::{EnableTimers, TimersObserved};
pub use units::{HEALTH_TEXTFILE, PACKAGED_BINARY, SCRUB_TEXTFILE, timer_units};
pub use upkeep::UpkeepSpec;
