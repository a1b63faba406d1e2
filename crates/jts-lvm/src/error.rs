//! The error type of jts-lvm.

/// Everything that can go wrong while observing or changing LVM.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command failed or could not be started (argv, exit status and stderr included).
    #[error(transparent)]
    Core(#[from] jts_core::Error),
    /// A command's output could not be understood.
    #[error("cannot read the output of `{command}`: {reason}")]
    Report {
        /// The command whose output it was, e.g. `"lvs"`.
        command: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The machine changed between planning and this step.
    #[error("precondition no longer holds: {0}; re-run `plan` to see the current state")]
    Stale(String),
    /// A snapshot was asked for a volume that has no `[snapshots.NAME]` policy.
    #[error("no snapshot policy for volume {name:?}; declare [snapshots.{name}] or pick one of: {known}")]
    NoPolicy {
        /// The volume asked for.
        name: String,
        /// The volumes that have a policy, comma-separated.
        known: String,
    },
    /// A command named a volume the spec does not declare.
    #[error("no volume {name:?} in the spec; name one of: {known}")]
    NoVolume {
        /// The volume asked for.
        name: String,
        /// The spec's volumes, comma-separated.
        known: String,
    },
}

/// The result type of jts-lvm.
pub type Result<T, E = Error> = std::result::Result<T, E>;
