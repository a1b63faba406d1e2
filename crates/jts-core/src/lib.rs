//! Shared vocabulary of jts-storage.
//!
//! Every concern crate (jts-perms, jts-lvm, jts-fs, jts-mounts, jts-tiering, jts-health)
//! plugs into one loop, **spec → observe → plan → apply → verify**, composed for the whole
//! host by jts-host. This crate holds the pieces that loop is made of, and the leaf types
//! every crate shares:
//!
//! - [`Size`], [`SpecDuration`], [`Mode`] and [`Principal`]: the units, permission modes
//!   and owners a spec is written in ([`serde_via_str!`] for more such types), and
//!   [`human_bytes`] and [`human_duration`] to print sizes and ages;
//! - [`AbsPath`] and [`Root`]: validated spec paths and `--root` re-rooting;
//! - [`nofollow`]: walking those paths without ever following a symlink, and [`walk`]:
//!   whole trees on a few threads;
//! - [`write_atomic`]: durable, atomic replacement of files we own, and [`ManagedFile`]:
//!   the step that keeps one such file at its rendered contents;
//! - [`CmdSpec`] and [`Runner`]: every external command, run for real, dry, or recorded;
//!   [`WatchedChild`]: this program re-run as a child that reports in JSON lines;
//! - [`Step`], [`Plan`], [`execute`] and [`Journal`]: planning and carrying out changes.
//!
//! ```
//! use jts_core::{CmdSpec, DryRunner, Runner, Size};
//!
//! let size: Size = "800GiB".parse().unwrap();
//! assert_eq!(size.bytes(), 800 << 30);
//!
//! let dry = DryRunner::default();
//! dry.run(&CmdSpec::new("groupadd").arg("--system").arg("dba")).unwrap();
//! assert_eq!(dry.lines(), ["groupadd --system dba"]);
//! ```

mod atomic;
mod cmd;
mod duration;
mod error;
mod executor;
mod journal;
mod lock;
mod managed;
mod mode;
pub mod nofollow;
mod path;
mod principal;
mod serde_str;
mod size;
mod spec_error;
mod step;
pub mod walk;
mod watched;

pub use atomic::write_atomic;
pub use cmd::{
    CmdFailure, CmdOutput, CmdSpec, DryRunner, RecordingRunner, Reply, Runner, SystemRunner, describe_status, quote,
};
pub use duration::SpecDuration;
pub use error::{Error, Result};
pub use executor::{ApplyReport, FailedPhase, StepFailure, StepRecord, execute};
pub use journal::{DEFAULT_JOURNAL_DIR, Journal};
pub use lock::StateLock;
pub use managed::{ManagedFile, ObservedFiles, observe_files, read_managed};
pub use mode::Mode;
pub use path::{AbsPath, Root};
pub use principal::{Principal, check_name};
pub use size::{Size, human_bytes, human_duration};
pub use spec_error::SpecError;
pub use step::{Context, Drift, Plan, PlanReport, Refusal, Step, StepInfo};
pub use watched::{Heard, WatchedChild};
