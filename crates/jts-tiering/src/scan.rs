//! Selecting the files a rule applies to.
//!
//! [`scan`] walks a rule's `from` directory through [`jts_core::nofollow`]: every entry
//! is `lstat`ed relative to its directory's descriptor, symlinks are never followed,
//! directories on another filesystem are not entered, and only regular files are
//! candidates. The decision for one file is the pure [`Selector::selects`].

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
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

/// The files a scan selected, held compactly: a directory's path once, its selected
/// files' names in one buffer, and per file only what identifies it (the device is the
/// walk's). A million candidates take about 60 bytes each; [`Selection::iter`] hands them
/// out as [`Candidate`]s, in path order (or spread, [`Selection::spread_large_files`]),
/// one at a time.
#[derive(Debug, Default)]
pub struct Selection {
    dev: u64,
    dirs: Vec<SelectedDir>,
    /// The files, in path order until spread.
    order: Vec<FileAt>,
}

/// A selected file, as the index of its directory in `Selection::dirs` and its own in
/// that directory's `files`.
type FileAt = (u32, u32);

/// One directory's selected files.
#[derive(Debug)]
struct SelectedDir {
    /// Relative to the walk's root.
    path: PathBuf,
    /// The files' names, back to back; each file knows where its name ends.
    names: Vec<u8>,
    files: Vec<SelectedFile>,
}

/// A selected file, without its directory and device.
#[derive(Debug, Clone, Copy)]
struct SelectedFile {
    name_end: u32,
    mtime_nsec: u32,
    ctime_nsec: u32,
    open_for_writing: bool,
    size: u64,
    mtime: i64,
    ctime: i64,
    ino: u64,
}

impl SelectedDir {
    fn name(&self, index: usize) -> &[u8] {
        let start = index.checked_sub(1).map_or(0, |before| self.files[before].name_end as usize);
        &self.names[start..self.files[index].name_end as usize]
    }

    /// The bytes of the relative path of file `index`: the directory, `/`, the name.
    fn path_bytes(&self, index: usize) -> impl Iterator<Item = u8> + '_ {
        let dir = self.path.as_os_str().as_bytes();
        let separator = (!dir.is_empty()).then_some(b'/');
        dir.iter().copied().chain(separator).chain(self.name(index).iter().copied())
    }
}

/// Where a name just appended to `names` ends (a directory's names stay far below 4 GiB).
fn end_of(names: &[u8]) -> u32 {
    u32::try_from(names.len()).expect("a directory's selected names exceed 4 GiB")
}

impl Selection {
    fn new(dev: u64, dirs: Vec<SelectedDir>) -> Self {
        let mut order: Vec<FileAt> = Vec::with_capacity(dirs.iter().map(|dir| dir.files.len()).sum());
        for (d, dir) in (0u32..).zip(&dirs) {
            order.extend((0u32..).zip(&dir.files).map(|(f, _)| (d, f)));
        }
        // Path order, as `Path`'s own ordering and `jts_core::walk::tree_order` have it:
        // byte by byte with `/` lowest, so a directory's files and subdirectories interleave.
        order.sort_unstable_by(|&(da, fa), &(db, fb)| {
            let (a, b) = (&dirs[da as usize], &dirs[db as usize]);
            if da == db {
                return a.name(fa as usize).cmp(b.name(fb as usize));
            }
            let key = |byte: u8| if byte == b'/' { 0 } else { byte };
            a.path_bytes(fa as usize).map(key).cmp(b.path_bytes(fb as usize).map(key))
        });
        Self { dev, dirs, order }
    }

    /// How many files are selected.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether nothing is selected.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The selected files' bytes.
    pub fn bytes(&self) -> u64 {
        self.order.iter().map(|&(d, f)| self.dirs[d as usize].files[f as usize].size).sum()
    }

    /// The selected files, in path order (each kind in path order once spread).
    pub fn iter(&self) -> impl Iterator<Item = Candidate> + '_ {
        self.order.iter().map(|&(d, f)| {
            let dir = &self.dirs[d as usize];
            let file = &dir.files[f as usize];
            Candidate {
                path: dir.path.join(OsStr::from_bytes(dir.name(f as usize))),
                size: file.size,
                mtime: file.mtime,
                mtime_nsec: i64::from(file.mtime_nsec),
                ctime: file.ctime,
                ctime_nsec: i64::from(file.ctime_nsec),
                dev: self.dev,
                ino: file.ino,
                open_for_writing: file.open_for_writing,
            }
        })
    }

    /// Spreads the files of at least `large_from` bytes evenly among the others, each kind
    /// kept in path order: a mover's batches then each hold their share of both, so the
    /// large files' device time and the small files' per-file CPU time overlap instead of
    /// coming one after the other (a tree of large then small directories would otherwise
    /// be copied as one long disk-bound stretch and one long CPU-bound one).
    pub fn spread_large_files(&mut self, large_from: u64) {
        let dirs = &self.dirs;
        let is_large = |&(d, f): &FileAt| dirs[d as usize].files[f as usize].size >= large_from;
        let large: Vec<FileAt> = self.order.iter().copied().filter(is_large).collect();
        if large.is_empty() || large.len() == self.order.len() {
            return; // one kind only: nothing to spread, and no copy of the order made
        }
        let (large_count, small_count) = (large.len(), self.order.len() - large.len());
        let mut large = large.into_iter().peekable();
        let mut spread = Vec::with_capacity(self.order.len());
        for (small_taken, &file) in self.order.iter().filter(|file| !is_large(file)).enumerate() {
            // The large files due by now: the share of them taken catches up with the
            // share of small files taken.
            while large.peek().is_some() && (large_count - large.len()) * small_count <= small_taken * large_count {
                spread.extend(large.next());
            }
            spread.push(file);
        }
        spread.extend(large);
        self.order = spread;
    }

    /// Takes the files some process has open for writing out of the selection, and
    /// returns their paths.
    pub fn take_open_for_writing(&mut self) -> Vec<PathBuf> {
        let busy: Vec<PathBuf> = self.iter().filter(|c| c.open_for_writing).map(|c| c.path).collect();
        self.retain_not_open();
        busy
    }

    /// Keeps the first files while `keep` says yes, and drops the rest.
    pub fn keep_while(&mut self, mut keep: impl FnMut(&Candidate) -> bool) {
        let kept = self.iter().take_while(|candidate| keep(candidate)).count();
        self.order.truncate(kept);
    }

    fn retain_not_open(&mut self) {
        let dirs = &self.dirs;
        self.order.retain(|&(d, f)| !dirs[d as usize].files[f as usize].open_for_writing);
    }

    /// A selection of files `(name, size)` in one top directory, for tests.
    #[cfg(test)]
    pub(crate) fn of(files: &[(&str, u64)]) -> Self {
        let mut dir = SelectedDir { path: PathBuf::new(), names: Vec::new(), files: Vec::new() };
        for (ino, &(name, size)) in (1..).zip(files) {
            dir.names.extend_from_slice(name.as_bytes());
            let name_end = end_of(&dir.names);
            let (mtime_nsec, ctime_nsec, mtime, ctime) = (0, 0, 0, 0);
            dir.files.push(SelectedFile {
                name_end,
                mtime_nsec,
                ctime_nsec,
                open_for_writing: false,
                size,
                mtime,
                ctime,
                ino,
            });
        }
        Self::new(1, vec![dir])
    }
}

/// Walks the directory `root` and returns the regular files `selector` selects at `now`,
/// in path order, leaving out files whose `(dev, ino)` is in
/// `open_for_write` (see [`open_for_write_files`]) and the mover's temporaries. Symlinks
/// are never followed and directories on another filesystem than `root` are not entered.
/// Entries that vanish during the walk are skipped.
pub fn scan(
    root: &Node,
    selector: &Selector,
    now: SystemTime,
    open_for_write: &BTreeSet<(u64, u64)>,
) -> Result<Selection> {
    let mut selection = scan_with_heartbeat(root, selector, now, open_for_write, &|| {})?;
    selection.retain_not_open();
    Ok(selection)
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
) -> Result<Selection> {
    if root.kind() != FileKind::Directory {
        return Err(Error::NotADirectory { path: root.path().to_path_buf(), found: root.kind().name() });
    }
    let walk = Walk { dev: root.stat().st_dev, selector, now: epoch_seconds(now), open_for_write };
    let mut dirs = Vec::new();
    let mut subdirs = Vec::new();
    walk.read_dir(root, Path::new(""), &mut dirs, &mut subdirs)?;
    dirs.append(&mut jts_core::walk::in_parallel(subdirs, |(dir, relative): Pending, found, next| {
        beat();
        walk.read_dir(&dir, &relative, found, next)
    })?);
    Ok(Selection::new(walk.dev, dirs))
}

/// What every directory of one scan is read with.
struct Walk<'a> {
    dev: u64,
    selector: &'a Selector,
    now: i64,
    open_for_write: &'a BTreeSet<(u64, u64)>,
}

impl Walk<'_> {
    /// Reads the directory `dir` (at `relative`): its selected files become one entry
    /// of `selected`, its subdirectories on the same filesystem go to `stack`.
    fn read_dir(
        &self,
        dir: &Node,
        relative: &Path,
        selected: &mut Vec<SelectedDir>,
        stack: &mut Vec<Pending>,
    ) -> Result<()> {
        let mut here = SelectedDir { path: relative.to_path_buf(), names: Vec::new(), files: Vec::new() };
        for name in jts_core::walk::read_names(dir)? {
            if crate::names::is_temp_name(&name) {
                continue;
            }
            let Some(stat) = dir.stat_child(&name)? else { continue };
            match FileKind::of(&stat) {
                FileKind::Directory if stat.st_dev == self.dev => {
                    // Opened with O_NOFOLLOW; if it was swapped for something else since the
                    // lstat, it is skipped.
                    let Some(child) = dir.child(&name)? else { continue };
                    let same = child.kind() == FileKind::Directory
                        && child.stat().st_dev == stat.st_dev
                        && child.stat().st_ino == stat.st_ino;
                    if same {
                        stack.push((child, relative.join(&name)));
                    }
                }
                FileKind::File => {
                    let size = u64::try_from(stat.st_size).unwrap_or(0);
                    let path = relative.join(&name);
                    if self.selector.selects(&path.to_string_lossy(), size, stat.st_mtime, self.now) {
                        here.names.extend_from_slice(name.as_bytes());
                        here.files.push(SelectedFile {
                            name_end: end_of(&here.names),
                            // Nanoseconds are below 10^9.
                            mtime_nsec: u32::try_from(stat.st_mtime_nsec).unwrap_or(0),
                            ctime_nsec: u32::try_from(stat.st_ctime_nsec).unwrap_or(0),
                            open_for_writing: self.open_for_write.contains(&(stat.st_dev, stat.st_ino)),
                            size,
                            mtime: stat.st_mtime,
                            ctime: stat.st_ctime,
                            ino: stat.st_ino,
                        });
                    }
                }
                _ => {}
            }
        }
        if !here.files.is_empty() {
            here.names.shrink_to_fit();
            here.files.shrink_to_fit();
            selected.push(here);
        }
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names(selection: &Selection) -> Vec<String> {
        selection.iter().map(|c| c.path.display().to_string()).collect()
    }

    #[test]
    fn large_files_are_spread_evenly_among_the_small_ones_each_kind_in_path_order() {
        let mut selection =
            Selection::of(&[("a", 1), ("b", 1), ("c", 1), ("d", 1), ("e", 1), ("f", 1), ("x", 9), ("y", 9)]);
        selection.spread_large_files(9);
        assert_eq!(names(&selection), ["x", "a", "b", "c", "y", "d", "e", "f"]);
    }

    #[test]
    fn spreading_one_kind_keeps_path_order() {
        for size in [1, 9] {
            let mut selection = Selection::of(&[("c", size), ("a", size), ("b", size)]);
            selection.spread_large_files(9);
            assert_eq!(names(&selection), ["a", "b", "c"]);
        }
    }
}
