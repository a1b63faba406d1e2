//! The `delete` action, and removing the directories a rule leaves empty.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::dir::{Dir, split};
use crate::error::Result;
use crate::journal::Identity;
use crate::report::RuleReport;
use crate::run::Context;
use crate::scan::Candidate;

/// Unlinks each candidate that is still the file the scan selected, relative to its
/// directory's descriptor (never through a symlink, never a directory), then makes the
/// unlinks durable. Returns the directories that lost a file.
pub(crate) fn delete_files(
    from: &Dir,
    candidates: impl Iterator<Item = Candidate>,
    report: &mut RuleReport,
    context: &Context<'_>,
) -> Result<BTreeSet<PathBuf>> {
    let mut emptied = BTreeSet::new();
    let mut current: Option<(PathBuf, Dir)> = None;
    for candidate in candidates {
        if context.cancelled() {
            break;
        }
        let (relative, name) = split(&candidate.path);
        if current.as_ref().is_none_or(|(path, _)| path != relative) {
            current = from.descend(relative)?.map(|dir| (relative.to_path_buf(), dir));
        }
        let Some((_, dir)) = &current else { continue };
        match dir.lstat(name)? {
            Some(stat) if candidate.identity().matches(&Identity::of(&stat)) && dir.unlink(name)? => {
                report.deleted_files += 1;
                report.deleted_bytes += candidate.size;
                context.progress.add_file(candidate.size);
                emptied.insert(relative.to_path_buf());
            }
            Some(stat) if candidate.identity().matches(&Identity::of(&stat)) => {}
            Some(_) => report.skip(&candidate.path, "changed since the scan"),
            None => {}
        }
    }
    from.sync_filesystem()?;
    Ok(emptied)
}

/// Removes each directory in `dirs` (relative to `from`) and then its parents, as long
/// as they are empty; `from` itself is never removed. Returns how many were removed.
pub(crate) fn prune_empty_dirs(from: &Dir, dirs: &BTreeSet<PathBuf>) -> Result<u64> {
    let mut all: BTreeSet<&Path> = BTreeSet::new();
    for dir in dirs {
        all.extend(dir.ancestors().filter(|a| !a.as_os_str().is_empty()));
    }
    // Deepest first, so a parent is tried after its children.
    let mut ordered: Vec<&Path> = all.into_iter().collect();
    ordered.sort_by_key(|path| std::cmp::Reverse(path.components().count()));
    let mut removed = 0;
    for path in ordered {
        let (parent, name) = split(path);
        if let Some(parent) = from.descend(parent)?
            && parent.remove_empty_dir(name)?
        {
            removed += 1;
        }
    }
    if removed > 0 {
        from.sync_filesystem()?;
    }
    Ok(removed)
}
