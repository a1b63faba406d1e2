//! The error type of jts-fs.

use std::path::PathBuf;

use crate::kind::FsKind;

/// Everything that can go wrong while observing, formatting or growing filesystems.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command failed, could not be found, or another jts-core operation failed.
    #[error(transparent)]
    Core(#[from] jts_core::Error),
    /// `blkid -p` found more than one signature on the device.
    #[error(
        "{device} carries several signatures ({detail}); inspect it with `wipefs {device}` and wipe the stale ones \
         before jts can decide what it holds",
        device = device.display()
    )]
    Ambivalent {
        /// The device probed.
        device: PathBuf,
        /// What blkid said.
        detail: String,
    },
    /// A tool printed output without the field jts needs.
    #[error("could not read {what} from the output of `{command}`; is the tool's version supported?")]
    Unparsable {
        /// The shell-quoted command.
        command: String,
        /// What was looked for, e.g. `"Block count"`.
        what: &'static str,
    },
    /// The filesystem must be mounted for this operation.
    #[error(
        "{kind} on {device} can only be grown while mounted; mount it (for example with the mount step) and re-run",
        device = device.display()
    )]
    NotMounted {
        /// The filesystem type.
        kind: FsKind,
        /// The device.
        device: PathBuf,
    },
    /// The operation needs a filesystem but the volume is declared raw (`filesystem = "none"`).
    #[error("{device} is a raw volume (filesystem = \"none\"): there is no filesystem to make or grow", device = device.display())]
    RawVolume {
        /// The device.
        device: PathBuf,
    },
    /// The machine changed between planning and this step.
    #[error("precondition no longer holds: {0}; re-run `plan` to see the current state")]
    Stale(String),
}

/// The result type of jts-fs.
pub type Result<T, E = Error> = std::result::Result<T, E>;
