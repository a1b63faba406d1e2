//! The error type of jts-backup.

use std::path::PathBuf;

/// What stops a backup, a verify, a prune or a restore. Each message is complete on its
/// own: what failed, on which archive, file or path, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A path, descriptor, lock or command failed in jts-core.
    #[error(transparent)]
    Core(#[from] jts_core::Error),
    /// Reading LVM failed.
    #[error(transparent)]
    Lvm(#[from] jts_lvm::Error),
    /// A file-system call failed.
    #[error("{op} {}: {source}", .path.display())]
    Io {
        /// The operation, e.g. `"read"`.
        op: &'static str,
        /// The path it was applied to.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The destination filesystem ran out of space (or inodes) while an archive was written.
    #[error(
        "{} is full: the archive of backup {backup} did not fit and was removed ({source}); free space there, \
         lower `keep`, or point `to` at a larger filesystem",
        .path.display()
    )]
    DestinationFull {
        /// The backup.
        backup: String,
        /// The `to` directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A backup's `to` directory does not exist.
    #[error(
        "backup {backup}: its `to` directory {} does not exist; the warm tier may not be mounted (check `mount`), or \
         the directory is not declared (add it to [[directories]] and run apply)",
        .path.display()
    )]
    MissingDestination {
        /// The backup.
        backup: String,
        /// The directory.
        path: PathBuf,
    },
    /// An archive is damaged or does not match its manifest.
    #[error("archive {}: {what}", .archive.display())]
    Damaged {
        /// The archive file.
        archive: PathBuf,
        /// What is wrong, naming the member when one is concerned.
        what: String,
    },
    /// A source could not be read, or ended wrongly (a dump that failed).
    #[error("backup {backup}: {what}; no archive was kept")]
    Source {
        /// The backup.
        backup: String,
        /// What went wrong, with the fix.
        what: String,
    },
    /// A restore target is not an empty directory.
    #[error("restore target {}: {what}", .path.display())]
    Target {
        /// The target directory.
        path: PathBuf,
        /// What is wrong, with the fix.
        what: String,
    },
    /// Reading was stopped from outside (a `volume` source's snapshot went over budget);
    /// the caller says why.
    #[error("reading was stopped")]
    Stopped,
    /// The request names something that does not exist.
    #[error("{0}")]
    NotFound(String),
}

/// The result type of jts-backup.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An I/O error on `path`.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: impl Into<std::io::Error>) -> Self {
        Self::Io { op, path: path.into(), source: source.into() }
    }

    /// What went wrong with a source, without the backup's name and the closing "no
    /// archive was kept" of [`Error::Source`]: for a message that adds to it.
    pub(crate) fn source_detail(self) -> String {
        match self {
            Self::Source { what, .. } => what,
            other => other.to_string(),
        }
    }

    /// A damaged archive.
    pub(crate) fn damaged(archive: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        Self::Damaged { archive: archive.into(), what: what.into() }
    }
}
