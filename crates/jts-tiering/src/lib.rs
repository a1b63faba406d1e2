//! Tiering for jts-storage: moving or deleting files between hot, warm and cold tiers,
//! so that no file is ever lost, half-copied under its final name, or overwritten.
//!
//! - [`rules`]: the `[[rules]]` spec section, its checks, and [`Rule`], a rule ready to run;
//! - [`glob`] and [`scan`]: which files a rule selects (globs, age), found without
//!   following symlinks or crossing filesystems, skipping files open for writing;
//! - [`run()`]: a whole run in this process (lock, a watchdog thread per rule, limits,
//!   the [status file](run::STATUS_FILE)) returning a [`RunReport`]. A rule stuck on a
//!   dead NFS server is reported on time, but its thread, and so the process, may not end
//!   before the server answers; [`run::run_one`] runs one rule for a caller that isolates
//!   each rule in a process of its own, as `jts-provision tier run` does;
//! - [`plan()`]: what a run would do now;
//! - the mover (docs/architecture.md, "The mover"): copies to temporary names with blake3 hashing, one
//!   `syncfs` per batch, read-back verification, `RENAME_NOREPLACE`, sources unlinked last;
//!   a [`journal`] per rule makes an interrupted run roll back or finish its batch. Each
//!   source is checked again (inode, size, mtime, ctime) before its copy takes the final
//!   name and before it is unlinked: one that changed meanwhile (appended to, say) keeps
//!   no copy at the destination, stale or not, and is left whole for the next run.
//!
//! ```no_run
//! use std::sync::Arc;
//! use jts_core::Root;
//! use jts_tiering::{RunOptions, run};
//! # fn rules() -> Vec<jts_tiering::Rule> { Vec::new() }
//!
//! let report = run(&Root::host(), &rules(), &RunOptions::default(), &Arc::default())?;
//! for rule in &report.rules {
//!     println!("{}: {} files moved, {} deleted", rule.name, rule.moved_files, rule.deleted_files);
//! }
//! # Ok::<(), jts_tiering::Error>(())
//! ```
//!
//! Globs are anchored at the rule's `from`:
//!
//! ```
//! use jts_tiering::glob::Glob;
//!
//! let glob = Glob::new("**/*.log").unwrap();
//! assert!(glob.matches("2026/11/app.log"));
//! assert!(glob.matches("app.log"));
//! assert!(!glob.matches("app.log.gz"));
//! ```

mod copy;
mod delete;
mod dir;
mod error;
pub mod glob;
pub mod journal;
mod mover;
mod names;
mod plan;
pub mod process;
mod report;
pub mod rules;
pub mod run;
pub mod scan;

pub use error::{Error, Result};
pub use plan::{RulePlan, plan};
pub use report::{Conflict, RuleReport, RunReport, Skipped};
pub use rules::{Rule, RuleAction};
pub use run::{Progress, RunOptions, run};
