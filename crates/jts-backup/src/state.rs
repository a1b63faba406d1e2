//! What jts remembers about backups, for `backup list` and `health`: each archive's last
//! verification, in `/var/lib/jts/backup/verified.json` (written atomically).

use std::collections::BTreeMap;

use jts_core::{AbsPath, Root, write_atomic};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// jts's backup state directory (under `--root`).
pub const STATE_DIR: &str = "/var/lib/jts/backup";
/// The verification records.
pub const VERIFIED_FILE: &str = "/var/lib/jts/backup/verified.json";

/// The spec path of `backup`'s last-run status file, which `health` reads.
pub fn last_run_file(backup: &str) -> String {
    format!("{STATE_DIR}/{backup}.last-run.json")
}

/// How the last run of one backup went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastRun {
    /// When the last run that kept an archive ended (Unix seconds).
    pub last_success_at: Option<i64>,
    /// That archive.
    pub last_archive: Option<String>,
    /// When the last run ended, and whether it kept an archive.
    pub last_run_at: Option<i64>,
    /// See `last_run_at`.
    pub last_run_ok: Option<bool>,
    /// Why the last run failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Records how a run of `backup` went, keeping the last success of earlier runs.
pub fn record_run(
    root: &Root,
    backup: &str,
    at: i64,
    outcome: std::result::Result<&std::path::Path, String>,
) -> Result<()> {
    let path = AbsPath::new(last_run_file(backup))?;
    let mut last: LastRun = std::fs::read(root.resolve(&path))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    last.last_run_at = Some(at);
    last.last_run_ok = Some(outcome.is_ok());
    match outcome {
        Ok(archive) => {
            last.last_success_at = Some(at);
            last.last_archive = Some(archive.display().to_string());
            last.last_error = None;
        }
        Err(error) => last.last_error = Some(error),
    }
    jts_core::nofollow::create_dir_all(root, &AbsPath::new(STATE_DIR)?, 0o755)?;
    let json = serde_json::to_vec_pretty(&last).unwrap_or_default();
    Ok(write_atomic(root, &path, &json, 0o644)?)
}

/// The last verification of one archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyRecord {
    /// When (Unix seconds).
    pub at: i64,
    /// Whether it passed.
    pub ok: bool,
    /// What failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Verification records: backup name → archive id → the last verification.
pub type VerifyRecords = BTreeMap<String, BTreeMap<String, VerifyRecord>>;

/// Reads the records; none yet is an empty map, and so is an unreadable file (it is
/// only a cache of results: a verify writes it anew).
pub fn read_verified(root: &Root) -> VerifyRecords {
    let path = AbsPath::new(VERIFIED_FILE).map(|p| root.resolve(&p));
    path.ok()
        .and_then(|path| std::fs::read(path).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Writes the records atomically.
pub fn write_verified(root: &Root, records: &VerifyRecords) -> Result<()> {
    let path = AbsPath::new(VERIFIED_FILE)?;
    jts_core::nofollow::create_dir_all(root, &AbsPath::new(STATE_DIR)?, 0o755)?;
    let json = serde_json::to_vec_pretty(records).unwrap_or_default();
    Ok(write_atomic(root, &path, &json, 0o644)?)
}
