//! Selecting the files a rule applies to.
//!
//! [`scan`] walks a rule's `from` directory through [`jts_core::nofollow`]: every entry
//! is `lstat`ed relative to its directory's descriptor, symlinks are never followed,
//! directories on another filesystem are not entered, and only regular files are
//! candidates. The decision for one file is the pure [`Selector::selects`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use jts_core::nofollow::{FileKind, Node};
use jts_core::walk::Pending;
use jts_core::{Error, Result, SpecDuration};

use crate::glob::Glob;

/// The selection part of a rule: globs and age.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// A file must match one of these; all files when empty.
    pub include: Vec<Glob>,
    /// A file matching any of these is left alone.
    pub exclude: Vec<Glob>,
    /// Minimum age by modification time.
    pub older_than: SpecDuration,
    /// Only files of more than this many bytes (`None`: any size).
    pub larger_than: Option<u64>,
}

impl Selector {
    /// Whether the regular file at relative path `path` (components joined by `/`) of
    /// `size` bytes, last modified at `mtime` (seconds since the epoch), is selected at
    /// `now` (same unit). A file is old enough when `now - mtime` is strictly more than
    /// `older_than`; a modification time in the future is never old.
    pub fn selects(&self, path: &str, size: u64, mtime: i64, now: i64) -> bool {
        let age = i128::from(now) - i128::from(mtime);
        age > i128::from(self.older_than.as_secs())
            && self.larger_than.is_none_or(|min| size > min)
            && (self.include.is_empty() || self.include.iter().any(|g| g.matches(path)))
            && !self.exclude.iter().any(|g| g.matches(path))
    }
}

/// A file selected by [`scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The path relative to the rule's `from`.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Nanoseconds of the modification time.
    pub mtime_nsec: i64,
    /// Status change time, seconds since the epoch.
    pub ctime: i64,
    /// Nanoseconds of the status change time.
    pub ctime_nsec: i64,
    /// Device of the file.
    pub dev: u64,
    /// Inode of the file.
    pub ino: u64,
    /// Some process had the file open for writing when the run began: it is reported,
    /// not moved or deleted.
    pub open_for_writing: bool,
}

fn epoch_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// Walks the directory `root` and returns the regular files `selector` selects at `now`,
/// sorted by path, leaving out files whose `(dev, ino)` is in `open_for_write` (see
/// [`open_for_write_files`]) and the mover's temporaries. Symlinks are never followed and
/// directories on another filesystem than `root` are not entered. Entries that vanish
/// during the walk are skipped.
pub fn scan(
    root: &Node,
    selector: &Selector,
    now: SystemTime,
    open_for_write: &BTreeSet<(u64, u64)>,
) -> Result<Vec<Candidate>> {
    let mut candidates = scan_with_heartbeat(root, selector, now, open_for_write, &|| {})?;
    candidates.retain(|candidate| !candidate.open_for_writing);
    Ok(candidates)
}

/// [`scan`], but files open for writing are included, marked
/// [`Candidate::open_for_writing`], so they can be reported; and `beat` is called once per
/// directory read, so that a watchdog can tell a slow walk from a hung one.
pub fn scan_with_heartbeat(
    root: &Node,
    selector: &Selector,
    now: SystemTime,
    open_for_write: &BTreeSet<(u64, u64)>,
    beat: &(dyn Fn() + Sync),
) -> Result<Vec<Candidate>> {
    if root.kind() != FileKind::Directory {
        return Err(Error::NotADirectory { path: root.path().to_path_buf(), found: root.kind().name() });
    }
    let now = epoch_seconds(now);
    let root_dev = root.stat().st_dev;
    let mut candidates = Vec::new();
    let mut subdirs = Vec::new();
    walk_dir(root, Path::new(""), root_dev, selector, now, open_for_write, &mut candidates, &mut subdirs)?;
    candidates.append(&mut jts_core::walk::in_parallel(subdirs, |(dir, relative): Pending, found, next| {
        beat();
        walk_dir(&dir, &relative, root_dev, selector, now, open_for_write, found, next)
    })?);
    candidates.sort_unstable_by(|a, b| jts_core::walk::tree_order(&a.path, &b.path));
    Ok(candidates)
}

#[allow(clippy::too_many_arguments)]
fn walk_dir(
    dir: &Node,
    relative: &Path,
    root_dev: u64,
    selector: &Selector,
    now: i64,
    open_for_write: &BTreeSet<(u64, u64)>,
    candidates: &mut Vec<Candidate>,
    stack: &mut Vec<Pending>,
) -> Result<()> {
    for name in jts_core::walk::read_names(dir)? {
        if crate::names::is_temp_name(&name) {
            continue;
        }
        let Some(stat) = dir.stat_child(&name)? else { continue };
        let path = relative.join(&name);
        match FileKind::of(&stat) {
            FileKind::Directory if stat.st_dev == root_dev => {
                // Opened with O_NOFOLLOW; if it was swapped for something else since the
                // lstat, it is skipped.
                let Some(child) = dir.child(&name)? else { continue };
                let same = child.kind() == FileKind::Directory
                    && child.stat().st_dev == stat.st_dev
                    && child.stat().st_ino == stat.st_ino;
                if same {
                    stack.push((child, path));
                }
            }
            FileKind::File => {
                let (dev, ino) = (stat.st_dev, stat.st_ino);
                let size = u64::try_from(stat.st_size).unwrap_or(0);
                if selector.selects(&path.to_string_lossy(), size, stat.st_mtime, now) {
                    candidates.push(Candidate {
                        path,
                        size,
                        mtime: stat.st_mtime,
                        mtime_nsec: stat.st_mtime_nsec,
                        ctime: stat.st_ctime,
                        ctime_nsec: stat.st_ctime_nsec,
                        dev,
                        ino,
                        open_for_writing: open_for_write.contains(&(dev, ino)),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The `(dev, ino)` of every regular file some process has open for writing (`O_WRONLY`
/// or `O_RDWR`), from one pass over `/proc/*/fd` and `/proc/*/fdinfo`. Processes and
/// descriptors that vanish or cannot be read (another user's, without privileges) are skipped.
pub fn open_for_write_files() -> BTreeSet<(u64, u64)> {
    open_for_write_files_in(Path::new("/proc"))
}

fn open_for_write_files_in(proc: &Path) -> BTreeSet<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let mut files = BTreeSet::new();
    let Ok(processes) = std::fs::read_dir(proc) else { return files };
    for process in processes.flatten() {
        let pid = process.file_name();
        if !pid.to_str().is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
            continue;
        }
        let base = process.path();
        let Ok(fds) = std::fs::read_dir(base.join("fd")) else { continue };
        for fd in fds.flatten() {
            let Ok(info) = std::fs::read_to_string(base.join("fdinfo").join(fd.file_name())) else { continue };
            let writable = info
                .lines()
                .find_map(|line| line.strip_prefix("flags:"))
                .and_then(|flags| u32::from_str_radix(flags.trim(), 8).ok())
                .is_some_and(|flags| matches!(flags & 0o3, 0o1 | 0o2));
            if !writable {
                continue;
            }
            // Following /proc/PID/fd/N reaches the open file itself, not a path.
            match std::fs::metadata(fd.path()) {
                Ok(meta) if meta.file_type().is_file() => {
                    files.insert((meta.dev(), meta.ino()));
                }
                _ => {}
            }
        }
    }
    files
}
