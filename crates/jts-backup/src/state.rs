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
