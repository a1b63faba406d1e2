//! jts's own state on the host: the journal of every change (`/var/lib/jts/journal`,
//! under `--root`; or a directory the operator names).

use std::path::Path;

use jts_core::{AbsPath, DEFAULT_JOURNAL_DIR, Journal, Root};

use crate::Result;

/// Opens a new journal for `command` (`apply`, `snapshot-create`, …): in `dir` when given
/// (a host path, not re-rooted), else in [`DEFAULT_JOURNAL_DIR`] under `root`.
pub fn open_journal(root: &Root, dir: Option<&Path>, command: &str) -> Result<Journal> {
    Ok(match dir {
        Some(dir) => {
            let dir = std::path::absolute(dir).map_err(|source| jts_core::Error::Io {
                op: "resolve",
                path: dir.to_path_buf(),
                source,
            })?;
            Journal::create(&Root::host(), &AbsPath::new(dir)?, command)?
        }
        None => Journal::create(root, &AbsPath::new(DEFAULT_JOURNAL_DIR)?, command)?,
    })
}
