//! The error type of jts-perms.

use std::path::PathBuf;

/// Everything that can go wrong while observing or changing accounts and directories.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A jts-core operation (a command, a no-follow walk, an atomic write) failed.
    #[error(transparent)]
    Core(#[from] jts_core::Error),
    /// An account database could not be read.
    #[error("reading {path}: {source}")]
    AccountDb {
        /// The file, e.g. `/etc/passwd` under the root.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A name could not be turned into a numeric id at execution time.
    #[error("{kind} {name:?} does not exist in {db}")]
    Unresolved {
        /// `"user"` or `"group"`.
        kind: &'static str,
        /// The name.
        name: String,
        /// The database searched.
        db: PathBuf,
    },
    /// An ACL xattr could not be read or written.
    #[error("{op} ACL of {path}: {source}")]
    Acl {
        /// `"read"`, `"write"` or `"remove"`.
        op: &'static str,
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The filesystem has no POSIX ACLs (NFS v4.2, for one) but the spec gives some.
    #[error(
        "{path} is on a filesystem without POSIX ACLs (NFS v4.2 has none); remove `acl` from this directory's spec"
    )]
    AclUnsupported {
        /// The directory.
        path: PathBuf,
    },
    /// An ACL xattr held bytes that are not a POSIX ACL.
    #[error("ACL of {path} is malformed: {reason}")]
    MalformedAcl {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// The machine changed between planning and this step.
    #[error("precondition no longer holds: {0}; re-run `plan` to see the current state")]
    Stale(String),
}

/// The result type of jts-perms.
pub type Result<T, E = Error> = std::result::Result<T, E>;
