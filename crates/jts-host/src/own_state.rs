//! jts's own state on the host, under `--root`: the lock that keeps two applies apart
//! (`/var/lib/jts/lock`) and the journal of every change (`/var/lib/jts/journal`, or a
//! directory the operator names). Missing ancestors are made `0755`, as a plan that
//! creates them expects, so jts's own state never races the spec's directories.

use std::path::Path;

use jts_core::{AbsPath, DEFAULT_JOURNAL_DIR, Journal, Root, StateLock};

/// jts's state directory.
pub const STATE_DIR: &str = "/var/lib/jts";

/// Takes the lock of the commands that change the host (`apply`, `snapshot create`,
/// `snapshot prune`) for `command`, making a missing `--root` first; another holder is [`jts_core::Error::Locked`], which
/// names its process.
pub fn lock(root: &Root, command: &str) -> Result<StateLock> {
    if !root.is_host() {
        std::fs::create_dir_all(root.dir()).map_err(|source| jts_core::Error::Io {
            op: "create",
            path: root.dir().to_path_buf(),
            source,
        })?;
    }
    Ok(StateLock::take(root, &AbsPath::new(STATE_DIR)?, "lock", 0o755, command)?)
}

/// [`lock`], but only when an earlier run has made the lock file, and without writing
/// to it: `None` on a host jts has not changed yet. `apply` plans under this lock, so
/// that it observes the machine once, and a run that finds nothing to do (or refuses)
/// still leaves everything as it was; it names itself with [`StateLock::announce`] once it has work.
pub fn lock_if_present(root: &Root) -> Result<Option<StateLock>> {
    Ok(StateLock::take_existing(root, &AbsPath::new(STATE_DIR)?, "lock")?)
}

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
