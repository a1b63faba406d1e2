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
    #[error("{op} {path}: {source}{}", fix_for(op, source))]
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
    #[error("journal {path}: {source}{}", fix_for("write", source))]
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

/// What the operator can do about an OS error jts cannot work around, as a `; …` tail
/// of the message (empty when the error says enough).
fn fix_for(op: &str, err: &std::io::Error) -> &'static str {
    use std::io::ErrorKind;
    match (err.kind(), err.raw_os_error()) {
        (ErrorKind::StorageFull | ErrorKind::QuotaExceeded, _) => {
            "; the filesystem is full: free space on it (`df -h`), then run again"
        }
        (ErrorKind::ReadOnlyFilesystem, _) => "; the filesystem is mounted read-only: remount it read-write",
        (ErrorKind::ResourceBusy, _) if op == "rename" => {
            "; the file is a mount point (bind-mounted over, see `findmnt`), which cannot be replaced: remove the \
             bind mount, or manage the file where it is mounted from"
        }
        (ErrorKind::PermissionDenied, Some(libc_eperm)) if libc_eperm == nix::errno::Errno::EPERM as i32 => {
            "; the file or its directory is immutable or append-only (see `lsattr`): remove the attribute with \
             `chattr -i -a` if jts should manage it"
        }
        _ => "",
    }
}

/// The result type of jts-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use nix::errno::Errno;

    use super::*;

    fn io(op: &'static str, errno: Errno) -> String {
        Error::io(op, "/etc/fstab", errno).to_string()
    }

    #[test]
    fn os_errors_jts_cannot_work_around_say_what_to_do() {
        assert!(io("rename", Errno::EBUSY).contains("bind-mounted"), "{}", io("rename", Errno::EBUSY));
        assert!(io("rename", Errno::EPERM).contains("chattr -i"));
        assert!(io("write", Errno::ENOSPC).contains("filesystem is full"));
        assert!(io("create", Errno::EROFS).contains("remount it read-write"));
        assert!(!io("open", Errno::ENOENT).contains(';'), "{}", io("open", Errno::ENOENT));
        let message = io("rename", Errno::EBUSY);
        assert_eq!(message.matches("os error").count(), 1, "{message}");
    }
}
