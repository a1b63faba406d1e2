//! The error type of jts-health.

/// Everything that can go wrong while configuring a check or writing its output.
///
/// [`crate::check()`] itself never fails: whatever goes wrong with a mount becomes a
/// [`crate::Status`] and a message in the report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Warning and critical thresholds that cannot be ordered.
    #[error(
        "invalid thresholds warn_percent = {warn}, crit_percent = {crit}: {reason}; \
         write 0 <= warn_percent <= crit_percent <= 100, e.g. 80 and 90"
    )]
    InvalidThresholds {
        /// The warning threshold given.
        warn: f64,
        /// The critical threshold given.
        crit: f64,
        /// Why they were rejected.
        reason: &'static str,
    },
    /// A configuration that cannot be checked.
    #[error("invalid health config: {0}")]
    InvalidConfig(String),
    /// A jts-core operation (the atomic textfile write) failed.
    #[error(transparent)]
    Core(#[from] jts_core::Error),
    /// The report could not be serialized.
    #[error("serializing the health report: {0}")]
    Json(#[from] serde_json::Error),
}

/// The result type of jts-health.
pub type Result<T, E = Error> = std::result::Result<T, E>;
