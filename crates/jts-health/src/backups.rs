//! Backups: the age of each backup's last successful archive and its last verification,
//! from the status files `jts-provision backup run` and `backup verify` write (local
//! files only: health never lists the NAS).
//!
//! - `/var/lib/jts/backup/NAME.last-run.json`: `{"last_success_at": …}`, seconds since
//!   the epoch of the last run that kept an archive (`null` if none did);
//! - `/var/lib/jts/backup/verified.json`: `{"NAME": {"ID": {"at": …, "ok": …,
//!   "problem"?: …}}}`, the last verification of each archive.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::status::Status;

/// What to check of one backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupCheck {
    /// The backup's name.
    pub name: String,
    /// Its last-run status file.
    pub status_file: PathBuf,
    /// The verification records.
    pub verified_file: PathBuf,
    /// A last success older than this is WARNING.
    pub warn_age: Duration,
    /// A last success older than this is CRITICAL.
    pub crit_age: Duration,
}

/// The state of one backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupResult {
    /// The backup's name.
    pub name: String,
    /// The worse of the age's and the last verification's status.
    pub status: Status,
    /// One line for a human.
    pub message: String,
    /// Seconds since the epoch of the last run that kept an archive.
    pub last_success_at: Option<i64>,
    /// Seconds since then.
    pub age_seconds: Option<u64>,
    /// Whether the most recent verification passed (`None`: never verified).
    pub last_verify_ok: Option<bool>,
    /// When it ran.
    pub last_verify_at: Option<i64>,
}

#[derive(Deserialize)]
struct LastRun {
    last_success_at: Option<i64>,
}

#[derive(Deserialize)]
struct VerifyRecord {
    at: i64,
    ok: bool,
    #[serde(default)]
    problem: Option<String>,
}

/// Classifies one backup from its status file's and the verification records'
/// contents (or the errors reading them) at `now`.
pub fn backup_result(
    check: &BackupCheck,
    last_run: io::Result<String>,
    verified: io::Result<String>,
    now: SystemTime,
) -> BackupResult {
    let now = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let file = check.status_file.display();
    let (age_status, age_message, at, age) = match last_run {
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            (Status::Warning, format!("no backup run recorded ({file} does not exist)"), None, None)
        }
        Err(err) => (Status::Unknown, format!("cannot read {file}: {err}"), None, None),
        Ok(text) => match serde_json::from_str::<LastRun>(&text) {
            Err(err) => (Status::Unknown, format!("cannot parse {file}: {err}"), None, None),
            Ok(LastRun { last_success_at: None }) => {
                (Status::Warning, "no archive kept yet: every run failed".to_owned(), None, None)
            }
            Ok(LastRun { last_success_at: Some(at) }) => {
                let age = u64::try_from(now.saturating_sub(at)).unwrap_or(0);
                let status = if Duration::from_secs(age) > check.crit_age {
                    Status::Critical
                } else if Duration::from_secs(age) > check.warn_age {
                    Status::Warning
                } else {
                    Status::Ok
                };
                let message = format!(
                    "last archive {} ago (warn after {}, crit after {})",
                    jts_core::human_duration(age),
                    jts_core::human_duration(check.warn_age.as_secs()),
                    jts_core::human_duration(check.crit_age.as_secs())
                );
                (status, message, Some(at), Some(age))
            }
        },
    };
    let records: BTreeMap<String, BTreeMap<String, VerifyRecord>> =
        verified.ok().and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default();
    let latest = records.get(&check.name).and_then(|archives| archives.iter().max_by_key(|(_, r)| r.at));
    let (verify_status, verify_message) = match latest {
        None => (Status::Ok, "never verified".to_owned()),
        Some((id, record)) if record.ok => {
            (Status::Ok, format!("archive {id} verified {} ago", humanize_since(now, record.at)))
        }
        Some((id, record)) => (
            Status::Critical,
            format!(
                "archive {id} FAILED verification {} ago: {}",
                humanize_since(now, record.at),
                record.problem.as_deref().unwrap_or("no detail")
            ),
        ),
    };
    BackupResult {
        name: check.name.clone(),
        status: age_status.and(verify_status),
        message: format!("{age_message}; {verify_message}"),
        last_success_at: at,
        age_seconds: age,
        last_verify_ok: latest.map(|(_, r)| r.ok),
        last_verify_at: latest.map(|(_, r)| r.at),
    }
}

fn humanize_since(now: i64, at: i64) -> String {
    jts_core::human_duration(u64::try_from(now.saturating_sub(at)).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn check() -> BackupCheck {
        BackupCheck {
            name: "pg".into(),
            status_file: "/var/lib/jts/backup/pg.last-run.json".into(),
            verified_file: "/var/lib/jts/backup/verified.json".into(),
            warn_age: Duration::from_secs(36 * 3600),
            crit_age: Duration::from_secs(72 * 3600),
        }
    }

    fn result(last_run: io::Result<String>, verified: &str) -> BackupResult {
        backup_result(&check(), last_run, Ok(verified.to_owned()), SystemTime::UNIX_EPOCH + Duration::from_secs(NOW))
    }

    #[test]
    fn ages_and_verifications_classify() {
        let ran = |ago: u64| Ok(format!(r#"{{"last_success_at": {}}}"#, NOW - ago));
        assert_eq!(result(ran(3600), "{}").status, Status::Ok);
        assert_eq!(result(ran(40 * 3600), "{}").status, Status::Warning);
        assert_eq!(result(ran(80 * 3600), "{}").status, Status::Critical);
        assert_eq!(result(Err(io::ErrorKind::NotFound.into()), "{}").status, Status::Warning);
        assert_eq!(result(Ok("{".into()), "{}").status, Status::Unknown);
        let failed = format!(
            r#"{{"pg": {{"20261201T000000Z": {{"at": {}, "ok": true}}, "20261202T000000Z": {{"at": {}, "ok": false, "problem": "file x"}}}}}}"#,
            NOW - 100,
            NOW - 50
        );
        let failing = result(ran(3600), &failed);
        assert_eq!((failing.status, failing.last_verify_ok), (Status::Critical, Some(false)));
        assert!(
            failing.message.contains("20261202T000000Z FAILED") && failing.message.contains("file x"),
            "{}",
            failing.message
        );
        let other = result(ran(3600), r#"{"other": {"x": {"at": 1, "ok": false}}}"#);
        assert_eq!((other.status, other.last_verify_ok), (Status::Ok, None), "another backup's records");
    }
}
