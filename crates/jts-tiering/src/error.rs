//! The error type of jts-tiering.

use std::path::PathBuf;
use std::time::Duration;

/// What stops a rule, or a whole run. Problems with one file (changed while copying, a
/// failed verification) are not errors: they are reported per file and the rule goes on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A path, descriptor or command failed in jts-core.
    #[error(transparent)]
    Core(#[from] jts_core::Error),
    /// A file-system call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The operation, e.g. `"rename"`.
        op: &'static str,
        /// The path it was applied to.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The destination has no room for the next file without going below the reserve.
    #[error(
        "destination {path} is full: {needed} bytes needed, {available} available with {reserve} bytes reserved; \
         free space there or lower the rule's `reserve`"
    )]
    DestinationFull {
        /// The destination directory.
        path: PathBuf,
        /// Bytes the next file needs.
        needed: u64,
        /// Bytes available to unprivileged writers.
        available: u64,
        /// Bytes the rule keeps free.
        reserve: u64,
    },
    /// The destination refused a new file or directory: no space or no inodes left
    /// (`ENOSPC`, `EDQUOT`), although the free-space check let the file through.
    #[error("destination {path} is full: {source}; free space or inodes there (`df -h`, `df -i`)")]
    DestinationNoRoom {
        /// The directory where a file or directory could not be created.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The rule's journal could not be read or written.
    #[error("tier journal {path}: {message}")]
    Journal {
        /// The journal file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A rule's `from` or `to` directory does not exist.
    #[error(
        "rule {rule}: its `{end}` directory {} does not exist; the tier may not be mounted (check `mount`), or the \
         directory is not declared (add it to [[directories]] and run apply)",
        .path.display()
    )]
    MissingEnd {
        /// The rule's name.
        rule: String,
        /// `from` or `to`.
        end: &'static str,
        /// The missing directory.
        path: PathBuf,
    },
    /// A rule's process found the run that started it already gone, and did nothing.
    #[error("the tier run that started this rule has already ended")]
    ParentGone,
    /// Another `tier run` holds the lock, or another process runs the rule (its journal).
    #[error("another tier run holds {path}; wait for it to finish")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// The rule made no progress for the I/O timeout: its source or destination stopped
    /// answering (a hung NFS mount, typically). The rule is abandoned; its journal lets the
    /// next run finish or roll back the batch it was in.
    #[error("rule {rule}: no progress for {}s, source or destination not responding", .after.as_secs())]
    TimedOut {
        /// The rule's name.
        rule: String,
        /// The I/O timeout.
        after: Duration,
    },
    /// The rule was stopped because another part of the run gave up on it.
    #[error("rule {rule} cancelled")]
    Cancelled {
        /// The rule's name.
        rule: String,
    },
}

impl Error {
    /// Wraps an I/O error with the operation and path it came from.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: impl Into<std::io::Error>) -> Self {
        Self::Io { op, path: path.into(), source: source.into() }
    }
}

/// The result type of jts-tiering.
pub type Result<T, E = Error> = std::result::Result<T, E>;
