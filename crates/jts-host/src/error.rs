//! The error type of jts-host.

use std::path::PathBuf;

pub use crate::spec::ConfigError;

/// Everything that can go wrong while composing the host.
///
/// Each message is complete on its own (what, which object or path, and the cause): print
/// it with `{}`; the `source` chain repeats what the message already says.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec is invalid: every problem, located as `file:line:col`.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// `--root DIR` names no directory, for a command that reads the machine under it.
    #[error(
        "--root {} is not a directory; pass the directory that holds the host's files (`apply` creates a missing one)",
        .dir.display()
    )]
    MissingRoot {
        /// The directory given.
        dir: PathBuf,
    },
    /// A saved state could not be read.
    #[error("reading --state {}: {source}", .file.display())]
    ReadState {
        /// The state file.
        file: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A saved state is not what `probe` prints.
    #[error("{} is not a state saved by `jts-provision probe`: {source}", .file.display())]
    BadState {
        /// The state file.
        file: PathBuf,
        /// What serde could not read.
        #[source]
        source: serde_json::Error,
    },
    /// From jts-core (paths, commands, files).
    #[error(transparent)]
    Core(#[from] jts_core::Error),
    /// From observing or changing accounts and directories.
    #[error(transparent)]
    Perms(#[from] jts_perms::Error),
    /// From observing LVM.
    #[error(transparent)]
    Lvm(#[from] jts_lvm::Error),
    /// From observing filesystems.
    #[error(transparent)]
    Fs(#[from] jts_fs::Error),
    /// From observing fstab and the mounts.
    #[error(transparent)]
    Mounts(#[from] jts_mounts::Error),
    /// The access probe of one user failed to run or answered nothing readable.
    #[error("the access probe run as {user} failed: {message}")]
    Probe {
        /// The user it ran as.
        user: String,
        /// What went wrong.
        message: String,
    },
    /// From building the health config.
    #[error(transparent)]
    Health(#[from] jts_health::Error),
}

/// The result type of jts-host.
pub type Result<T, E = Error> = std::result::Result<T, E>;
