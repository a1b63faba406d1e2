//! Age of the last successful tier run, from the mover's status file.
//!
//! After every `jts-provision tier run` the mover writes, atomically,
//! `/var/lib/jts/tier/last-run.json`: a JSON object with at least
//! `"last_success_at"`, seconds since the epoch of the last run that fully succeeded
//! (`null` if none ever did). Other fields are ignored.

use std::io;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::status::Status;

/// Where the mover records its last run.
pub const DEFAULT_STATUS_FILE: &str = "/var/lib/jts/tier/last-run.json";

/// What to check of the tier runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierRunCheck {
    /// The mover's status file ([`DEFAULT_STATUS_FILE`] on a host).
    pub status_file: PathBuf,
    /// A last success older than this is WARNING (default 36 h).
    pub warn_age: Duration,
    /// A last success older than this is CRITICAL (default 72 h).
    pub crit_age: Duration,
}

impl Default for TierRunCheck {
    fn default() -> Self {
        Self {
            status_file: PathBuf::from(DEFAULT_STATUS_FILE),
            warn_age: Duration::from_secs(36 * 3600),
            crit_age: Duration::from_secs(72 * 3600),
        }
    }
}

/// The age of the last successful tier run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierRunResult {
    /// The status file read.
    pub status_file: String,
    /// WARNING/CRITICAL past the ages, WARNING without a recorded run, UNKNOWN when the
    /// file cannot be read or parsed.
    pub status: Status,
    /// One line for a human.
    pub message: String,
    /// Seconds since the epoch of the last fully successful run, when there was one.
    pub last_success_at: Option<i64>,
    /// Seconds since then (0 for a time in the future).
    pub age_seconds: Option<u64>,
}

#[derive(Deserialize)]
struct LastRun {
    last_success_at: Option<i64>,
}

/// Classifies the status file's `contents` (or the error reading it) at `now`.
pub fn tier_run_result(check: &TierRunCheck, contents: io::Result<String>, now: SystemTime) -> TierRunResult {
    let file = check.status_file.display().to_string();
    let result = |status, message: String, at: Option<i64>, age: Option<u64>| TierRunResult {
        status_file: file.clone(),
        status,
        message,
        last_success_at: at,
        age_seconds: age,
    };
    let text = match contents {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return result(Status::Warning, format!("no tier run recorded ({file} does not exist)"), None, None);
        }
        Err(err) => return result(Status::Unknown, format!("cannot read {file}: {err}"), None, None),
    };
    let last: LastRun = match serde_json::from_str(&text) {
        Ok(last) => last,
        Err(err) => return result(Status::Unknown, format!("cannot parse {file}: {err}"), None, None),
    };
    let Some(at) = last.last_success_at else {
        return result(Status::Warning, "no tier run recorded: none has fully succeeded yet".to_owned(), None, None);
    };
    let now = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let age = u64::try_from(now.saturating_sub(at)).unwrap_or(0);
    let status = classify_age(check, Duration::from_secs(age));
    let message = format!(
        "last successful tier run {} ago (warn after {}, crit after {})",
        jts_core::human_duration(age),
        jts_core::human_duration(check.warn_age.as_secs()),
        jts_core::human_duration(check.crit_age.as_secs())
    );
    result(status, message, Some(at), Some(age))
}

/// An age past `crit_age` is CRITICAL, past `warn_age` WARNING (an age exactly at a
/// threshold is not past it).
pub fn classify_age(check: &TierRunCheck, age: Duration) -> Status {
    if age > check.crit_age {
        Status::Critical
    } else if age > check.warn_age {
        Status::Warning
    } else {
        Status::Ok
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn at(text: &str) -> TierRunResult {
        tier_run_result(
            &TierRunCheck::default(),
            Ok(text.to_owned()),
            SystemTime::UNIX_EPOCH + Duration::from_secs(NOW),
        )
    }

    #[test]
    fn ages_missing_files_and_garbage() {
        let recent = at(&format!(r#"{{"last_success_at": {}, "moved": 3, "other": [1]}}"#, NOW - 3600));
        assert_eq!((recent.status, recent.age_seconds), (Status::Ok, Some(3600)));
        assert_eq!(at(&format!(r#"{{"last_success_at": {}}}"#, NOW - 40 * 3600)).status, Status::Warning);
        let old = at(&format!(r#"{{"last_success_at": {}}}"#, NOW - 80 * 3600));
        assert_eq!(old.status, Status::Critical);
        assert!(old.message.contains("3d 8h ago"), "{}", old.message);
        assert_eq!(at(r#"{"last_success_at": null}"#).status, Status::Warning);
        assert_eq!(at("{not json").status, Status::Unknown);
        assert_eq!(at(&format!(r#"{{"last_success_at": {}}}"#, NOW + 60)).age_seconds, Some(0));
        let missing = tier_run_result(
            &TierRunCheck::default(),
            Err(io::Error::from(io::ErrorKind::NotFound)),
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(missing.status, Status::Warning);
        assert!(missing.message.starts_with("no tier run recorded"), "{}", missing.message);
    }

    proptest! {
        #[test]
        fn older_never_lowers_severity(a in 0u64..1_000_000, b in 0u64..1_000_000, w in 0u64..500_000, c in 0u64..500_000) {
            let check = TierRunCheck { warn_age: Duration::from_secs(w.min(c)), crit_age: Duration::from_secs(w.max(c)), ..TierRunCheck::default() };
            let (young, old) = (a.min(b), a.max(b));
            prop_assert!(classify_age(&check, Duration::from_secs(young)) <= classify_age(&check, Duration::from_secs(old)));
        }
    }
}
