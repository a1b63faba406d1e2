//! `backup prune`: retention over a backup's archives on every tier together, each
//! removed where it lies. An archive whose footer cannot be read is never counted nor
//! removed: it is reported for the operator to look at.

use std::ffi::OsStr;
use std::path::PathBuf;

use jts_core::Root;
use jts_core::nofollow;
use nix::unistd::{UnlinkatFlags, unlinkat};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::list::{ArchiveInfo, list_archives};
use crate::names::Locations;
use crate::retention::{Candidate, PrunePlan, prune_plan};
use crate::spec::Backup;

/// What a prune decided and did.
#[derive(Debug, Clone, Serialize)]
pub struct PruneOutcome {
    /// The backup.
    pub backup: String,
    /// Retention's decision, with reasons.
    pub plan: PrunePlan,
    /// The archive files removed (none in a dry run).
    pub removed: Vec<PathBuf>,
    /// Archives whose footer could not be read: neither counted nor removed.
    pub unreadable: Vec<PathBuf>,
}

/// Applies `backup`'s `keep` at `now` over its archives in `locations`; with `dry_run`,
/// removes nothing.
pub fn prune(root: &Root, backup: &Backup, locations: &Locations, now: i64, dry_run: bool) -> Result<PruneOutcome> {
    let archives = list_archives(root, &backup.name, locations)?;
    let (readable, unreadable): (Vec<&ArchiveInfo>, Vec<&ArchiveInfo>) =
        archives.iter().partition(|a| a.problem.is_none());
    let candidates: Vec<Candidate> = readable.iter().map(|a| Candidate { id: a.id.clone(), time: a.time }).collect();
    let plan = prune_plan(&candidates, &backup.keep, now);
    let mut removed = Vec::new();
    if !dry_run {
        let doomed = plan.removed_ids();
        for archive in readable.iter().filter(|a| doomed.contains(&a.id.as_str())) {
            remove(root, archive)?;
            removed.push(archive.path.clone());
        }
    }
    Ok(PruneOutcome {
        backup: backup.name.clone(),
        plan,
        removed,
        unreadable: unreadable.iter().map(|a| a.path.clone()).collect(),
    })
}

/// Removes the archive file listed as `archive`, if it is still that file.
fn remove(root: &Root, archive: &ArchiveInfo) -> Result<()> {
    let dir =
        archive.dir.as_ref().ok_or_else(|| Error::NotFound(format!("{} has no location", archive.path.display())))?;
    let node = nofollow::open_dir(root, dir)?;
    let name = archive.path.file_name().unwrap_or(OsStr::new(""));
    let Some(child) = node.child(name)? else { return Ok(()) };
    if (child.stat().st_dev, child.stat().st_ino) != archive.inode {
        tracing::warn!(path = %archive.path.display(), "replaced since it was listed; left alone");
        return Ok(());
    }
    let fd = nofollow::reopen_dir(&node)?;
    unlinkat(&fd, name, UnlinkatFlags::NoRemoveDir).map_err(|err| Error::io("remove", &archive.path, err))?;
    nix::unistd::fsync(&fd).map_err(|err| Error::io("fsync", root.resolve(dir), err))
}
