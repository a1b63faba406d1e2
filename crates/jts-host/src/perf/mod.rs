//! `verify performance`: a bounded fio workload per managed mount, shaped like the
//! database that lives there, with optional thresholds from `[performance.NAME]`.
//!
//! - [`spec`]: the `[performance.NAME]` section and the workload profiles;
//! - [`fio`]: fio's arguments for a profile and its `--output-format=json` report (pure);
//! - [`run`]: the scratch directory on the mount, the run, the cleanup (also of what a
//!   killed run left), and what makes the numbers (scheduler, discard, PV alignment).

mod fio;
mod run;
mod spec;

pub use fio::{Direction, FioFigures};
pub use run::{MountResult, Outcome, PerfReport, SCRATCH_PREFIX, verify_performance};
pub(crate) use spec::check_performance;
pub use spec::{Latency, PerformanceSpec, Profile};
