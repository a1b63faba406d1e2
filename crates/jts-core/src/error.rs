//! The error type of jts-core.

use std::path::PathBuf;

use crate::cmd::CmdFailure;

/// Everything that can go wrong in jts-core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A size string such as `"800GiB"` could not be parsed.
    #[error(
        "invalid size {input:?}: {reason}; write a whole number with a unit, e.g. \"800GiB\", \"4MiB\" or \"500GB\""
    )]
    InvalidSize {
        /// What was given.
        input: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A duration string such as `"7d"` could not be parsed.
    #[error(
        "invalid duration {input:?}: {reason}; write a whole number with a unit s, m, h, d or w, e.g. \"30s\" or \"7d\""
    )]
    InvalidDuration {
        /// What was given.
        input: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A path that must be absolute and normal was not.
    #[error("path {path:?} {reason}")]
    InvalidPath {
        /// What was given.
        path: PathBuf,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A program could not be found in the trusted system directories.
    #[error(
        "command `{program}` not found in /usr/sbin, /usr/bin, /sbin or /bin; install the package that provides it"
    )]
    ProgramNotFound {
        /// The bare program name.
        program: String,
    },
    /// A command ran and failed, or could not be started.
    #[error(transparent)]
    Command(#[from] CmdFailure),
    /// A file-system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The operation, e.g. `"open"` or `"rename"`.
        op: &'static str,
        /// The path it was applied to.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Another process holds a [`crate::StateLock`].
    #[error("{holder} holds {path}; wait for it to finish (a lock is released when its process ends)")]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// Who holds it, as the lock file says.
        holder: String,
    },
    /// A path component that must be a plain directory is a symlink or another kind of file.
    #[error("refusing to follow {path}: it is a {found}, not a directory")]
    NotADirectory {
        /// The offending path.
        path: PathBuf,
        /// What was found there.
        found: &'static str,
    },
    /// The journal could not be written.
    #[error("journal {path}: {source}")]
    Journal {
        /// The journal file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Wraps an I/O error with the operation and path it came from.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: impl Into<std::io::Error>) -> Self {
        Self::Io { op, path: path.into(), source: source.into() }
    }
}

/// The result type of jts-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;
