//! Backups for jts-storage: `[backups.NAME]`, one-file archives with their manifest
//! inside, calendar retention, verify and restore.
//!
//! - [`spec`]: the `[backups.NAME]` section, its checks and [`Backup`], a backup ready
//!   to run;
//! - [`retention`]: the pure planner [`prune_plan`] (calendar periods in UTC, the newest
//!   archive always kept), and [`prune()`], which applies it over every tier;
//! - [`run()`]: one backup into `NAME-YYYYMMDDTHHMMSSZ.tar.zst`, written under a
//!   temporary name, synced and renamed; a `volume` source is read through a temporary
//!   LVM snapshot mounted read-only, kept within its COW budget, and always removed; [`list_archives`], [`verify_archive`] and
//!   [`restore()`] read archives back.
//!
//! **The archive format.** A POSIX pax tar compressed with zstd: owners, modes,
//! nanosecond mtimes, extended attributes and POSIX ACLs (`SCHILY.xattr.*`), hard links
//! and sparse files (GNU pax sparse 1.0), so `tar --zstd -xf` restores it. Its last member
//! is the manifest (`.jts-manifest.json`: every file's path, size and blake3, the source,
//! the times). A copy of the manifest follows in a zstd skippable frame with a fixed
//! footer (see [`footer`]), so listing reads only the end of each file. A backup is one
//! file: a tier rule that moves it cannot split it from its manifest.
//!
//! ```
//! use jts_backup::retention::{Candidate, KeepPolicy, prune_plan};
//!
//! let day = 86_400;
//! let archives: Vec<Candidate> = (0..10)
//!     .map(|n| Candidate { id: format!("a{n}"), time: n * day })
//!     .collect();
//! let policy = KeepPolicy { daily: Some(3), ..KeepPolicy::default() };
//! let plan = prune_plan(&archives, &policy, 10 * day);
//! assert_eq!(plan.kept_ids(), ["a9", "a8", "a7"]);
//! assert_eq!(plan.remove.len(), 7);
//! ```

mod calendar;
mod child;
mod error;
pub mod footer;
mod list;
pub mod manifest;
mod names;
mod pax;
mod prune;
mod read;
mod records;
mod restore;
pub mod retention;
mod run;
pub mod spec;
pub mod state;
mod verify;
mod volume;
mod write;

pub use calendar::{archive_id, parse_archive_id};
pub use error::{Error, Result};
pub use list::{ArchiveInfo, choose_archive, list_archives};
pub use names::{Locations, archive_name};
pub use prune::{PruneOutcome, prune};
pub use restore::{INCOMPLETE_MARKER, Restored, restore};
pub use retention::prune_plan;
pub use run::{RunReport, lock, run, run_and_record, unix};
pub use spec::{Backup, BackupSpec, Source, VolumeSource};
pub use verify::{Verified, VerifyOutcome, rolling_sample, verify_archive, verify_backup};
