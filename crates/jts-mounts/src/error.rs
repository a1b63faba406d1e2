//! The error type of jts-mounts.

use std::path::PathBuf;

/// Everything that can go wrong while observing or changing mounts and fstab.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A jts-core operation (a command, a no-follow walk, an atomic write) failed.
    #[error(transparent)]
    Core(#[from] jts_core::Error),
    /// A jts-fs operation (probing a device) failed.
    #[error(transparent)]
    Fs(#[from] jts_fs::Error),
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A line of /proc/self/mountinfo did not have the kernel's format.
    #[error("mountinfo line {line}: {reason}: {text:?}")]
    Mountinfo {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
        /// The line.
        text: String,
    },
    /// A mount(2) call failed.
    #[error("{what} {source_dev} on {target}: {}; {}; /etc/fstab was not changed", errno.desc(), mount_fix(*errno, source_dev))]
    Mount {
        /// `"mount"` or `"remount"`.
        what: &'static str,
        /// The device or NFS source.
        source_dev: String,
        /// The mount point on this machine.
        target: PathBuf,
        /// The error the kernel returned.
        errno: nix::errno::Errno,
    },
    /// A device's UUID or label could not be read when writing fstab.
    #[error("{device} has no {what} (blkid found none); make the filesystem first, or set identify_by = \"path\"")]
    NoIdentifier {
        /// The device.
        device: PathBuf,
        /// `"UUID"` or `"LABEL"`.
        what: &'static str,
    },
    /// `findmnt --verify` found the new lines unusable at boot.
    #[error(
        "findmnt --verify rejects the new /etc/fstab line(s): {reasons}; /etc/fstab was not changed; fix the \
         device or mount point it names, then re-run apply"
    )]
    FstabRejected {
        /// findmnt's `[E]` lines, with the target each is about.
        reasons: String,
    },
    /// The machine changed between planning and this step.
    #[error("precondition no longer holds: {0}; re-run `plan` to see the current state")]
    Stale(String),
}

/// How to get past a mount the kernel refused, by its reason.
fn mount_fix(errno: nix::errno::Errno, source: &str) -> String {
    use nix::errno::Errno;
    match errno {
        Errno::EBUSY => format!(
            "{source} is held by another user (mounted elsewhere, or open exclusively by fsck, mkfs, a database or a \
             container): `lsblk {source}` and `fuser -vm {source}` show who; free it, then re-run apply"
        ),
        Errno::EINVAL => "the filesystem refused an option or is damaged: `dmesg | tail` says which; fix the mount \
                          options in the spec (or fsck the device), then re-run apply"
            .to_owned(),
        Errno::ENODEV => "the kernel has no driver for this filesystem type: load its module (modprobe), then re-run \
                          apply"
            .to_owned(),
        Errno::EROFS | Errno::EACCES => {
            format!(
                "{source} is read-only (write-protected or a read-only device): make it writable, then re-run apply"
            )
        }
        _ => "`dmesg | tail` gives the kernel's detail; fix it, then re-run apply".to_owned(),
    }
}

/// The result type of jts-mounts.
pub type Result<T, E = Error> = std::result::Result<T, E>;
