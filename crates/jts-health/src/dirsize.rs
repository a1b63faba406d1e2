//! Directory usage as `du -s` counts it, bounded by a time budget.
//!
//! [`scan_directory`] sums the allocated size (`st_blocks × 512`) of a directory tree: every
//! file, directory and symlink once, hard links once (by device and inode), symlinks not
//! followed, other filesystems not entered (as `du -sx`). It walks on
//! [`jts_core::walk::THREADS`] threads with `getdents` on directory descriptors and
//! `fstatat` relative to them (no path is built or resolved twice), and looks at the clock
//! at each directory and every [`CLOCK_EVERY`] entries: past the budget it stops and returns what it has with
//! `partial = true`.
//!
//! [`crate::check()`] runs each configured directory on its own thread and waits for the
//! budget plus a short grace: a scan blocked in the kernel (a hung NFS server) is
//! reported partial with the counts it had reached, and its thread ends when the kernel
//! call returns.

use std::collections::HashSet;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::dir::Dir;
use nix::fcntl::{OFlag, open, openat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};
use serde::{Deserialize, Serialize};

use crate::check::human_bytes;
use crate::config::DirectoryCheck;
use crate::status::{Status, Thresholds};

/// How many entries are stat'ed between two looks at the clock.
pub const CLOCK_EVERY: u64 = 512;

/// The flags every directory is opened with: no symlink is ever followed.
const DIR_FLAGS: OFlag = OFlag::O_RDONLY.union(OFlag::O_DIRECTORY).union(OFlag::O_NOFOLLOW).union(OFlag::O_CLOEXEC);

/// What a scan found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DirScan {
    /// Allocated bytes, `st_blocks × 512` summed over every inode counted.
    pub bytes: u64,
    /// Entries counted (files, directories, symlinks, …; the top directory included).
    pub files: u64,
    /// Entries that could not be read (permission denied, vanished while scanning).
    pub errors: u64,
    /// The scan stopped at the time budget (or was still blocked when it ran out): the
    /// figures are a lower bound.
    pub partial: bool,
}

/// Progress shared between a scan and whoever waits for it.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    pub(crate) bytes: AtomicU64,
    pub(crate) files: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) stop: AtomicBool,
}

impl Progress {
    pub(crate) fn snapshot(&self, partial: bool) -> DirScan {
        DirScan {
            bytes: self.bytes.load(Ordering::Relaxed),
            files: self.files.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            partial,
        }
    }
}

/// What every thread of one scan shares.
struct Walk<'a> {
    dev: u64,
    deadline: Instant,
    /// Inodes with more than one link counted so far, by device and inode.
    linked: Mutex<HashSet<(u64, u64)>>,
    progress: &'a Progress,
}

/// What one thread counted since it last added to [`Progress`].
#[derive(Default)]
struct Counts {
    bytes: u64,
    files: u64,
    errors: u64,
    since_clock: u64,
}

/// The budget is spent, or the waiter gave up: the walk stops with what it has.
struct OutOfTime;

impl Walk<'_> {
    fn count(&self, counts: &mut Counts, st: &FileStat) {
        let is_dir = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR;
        #[allow(clippy::useless_conversion, reason = "the stat fields are narrower than u64 on some targets")]
        if !is_dir && u64::from(st.st_nlink) > 1 {
            let inode = (u64::from(st.st_dev), u64::from(st.st_ino));
            if !self.linked.lock().unwrap_or_else(PoisonError::into_inner).insert(inode) {
                return;
            }
        }
        #[allow(clippy::useless_conversion, clippy::cast_sign_loss, reason = "st_blocks is never negative")]
        let blocks = u64::try_from(st.st_blocks).unwrap_or(0);
        counts.bytes = counts.bytes.saturating_add(blocks.saturating_mul(512));
        counts.files += 1;
    }

    /// Adds a thread's counts to the shared progress.
    fn publish(&self, counts: &mut Counts) {
        self.progress.bytes.fetch_add(std::mem::take(&mut counts.bytes), Ordering::Relaxed);
        self.progress.files.fetch_add(std::mem::take(&mut counts.files), Ordering::Relaxed);
        self.progress.errors.fetch_add(std::mem::take(&mut counts.errors), Ordering::Relaxed);
    }

    /// Every [`CLOCK_EVERY`] entries of a directory: publishes the counts, and says whether
    /// to stop.
    fn tick(&self, counts: &mut Counts) -> Result<(), OutOfTime> {
        counts.since_clock += 1;
        if counts.since_clock < CLOCK_EVERY {
            return Ok(());
        }
        counts.since_clock = 0;
        self.publish(counts);
        self.in_time()
    }

    fn in_time(&self) -> Result<(), OutOfTime> {
        match self.progress.stop.load(Ordering::Relaxed) || Instant::now() >= self.deadline {
            true => Err(OutOfTime),
            false => Ok(()),
        }
    }

    /// Counts the entries of the open directory `fd` (not `fd` itself) and hands its
    /// subdirectories on this filesystem to `next`.
    fn read(&self, fd: OwnedFd, counts: &mut Counts, next: &mut Vec<OwnedFd>) -> Result<(), OutOfTime> {
        // Counts start afresh for each directory: a tree of small directories is timed here.
        self.in_time()?;
        let Ok(at) = fd.try_clone() else {
            counts.errors += 1;
            return Ok(());
        };
        let Ok(mut dir) = Dir::from_fd(fd) else {
            counts.errors += 1;
            return Ok(());
        };
        for entry in dir.iter() {
            let Ok(entry) = entry else {
                counts.errors += 1;
                continue;
            };
            let name = entry.file_name();
            if matches!(name.to_bytes(), b"." | b"..") {
                continue;
            }
            self.tick(counts)?;
            let Ok(st) = fstatat(at.as_fd(), name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) else {
                counts.errors += 1;
                continue;
            };
            #[allow(clippy::useless_conversion, reason = "st_dev is narrower than u64 on some targets")]
            let same_fs = u64::from(st.st_dev) == self.dev;
            let is_dir = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR;
            if is_dir && !same_fs {
                continue; // a mount point: another filesystem, as du -x
            }
            self.count(counts, &st);
            if is_dir {
                match openat(at.as_fd(), name, DIR_FLAGS, Mode::empty()) {
                    Ok(child) => next.push(child),
                    Err(_) => counts.errors += 1,
                }
            }
        }
        Ok(())
    }
}

/// Sums the allocated bytes under `path` (itself included) as `du -sx` does, stopping
/// after `budget` with `partial = true`. `path` itself must be a directory, not a symlink.
pub fn scan_directory(path: &Path, budget: Duration) -> io::Result<DirScan> {
    scan_with(path, Instant::now() + budget, &Progress::default())
}

/// Scans on [`jts_core::walk::THREADS`] threads, publishing to `progress` as it goes.
pub(crate) fn scan_with(path: &Path, deadline: Instant, progress: &Progress) -> io::Result<DirScan> {
    let fd = open(path, DIR_FLAGS, Mode::empty())?;
    let st = fstat(&fd)?;
    #[allow(clippy::useless_conversion, reason = "st_dev is narrower than u64 on some targets")]
    let walk = Walk { dev: u64::from(st.st_dev), deadline, linked: Mutex::default(), progress };
    let mut top = Counts::default();
    walk.count(&mut top, &st);
    walk.publish(&mut top);
    let walked = jts_core::walk::in_parallel(vec![fd], |fd, _: &mut Vec<()>, next| {
        let mut counts = Counts::default();
        let read = walk.read(fd, &mut counts, next);
        walk.publish(&mut counts);
        read
    });
    Ok(progress.snapshot(walked.is_err()))
}

/// A scan running on its own thread; see the module documentation.
pub(crate) struct RunningScan {
    progress: Arc<Progress>,
    answer: std::sync::mpsc::Receiver<io::Result<DirScan>>,
    start: Instant,
}

impl RunningScan {
    /// Starts scanning `path` until `deadline`.
    pub(crate) fn start(path: &Path, deadline: Instant) -> io::Result<Self> {
        let progress = Arc::new(Progress::default());
        let (send, answer) = std::sync::mpsc::sync_channel(1);
        let theirs = Arc::clone(&progress);
        let path = path.to_path_buf();
        std::thread::Builder::new().name(format!("jts-health du {}", path.display())).spawn(move || {
            let _ = send.send(scan_with(&path, deadline, &theirs));
        })?;
        Ok(Self { progress, answer, start: Instant::now() })
    }

    /// Waits for the answer until `deadline`; after it, the counts reached so far, partial.
    pub(crate) fn wait(self, deadline: Instant) -> (io::Result<DirScan>, Duration) {
        let left = deadline.saturating_duration_since(Instant::now());
        let result = match self.answer.recv_timeout(left) {
            Ok(answer) => answer,
            Err(_) => {
                self.progress.stop.store(true, Ordering::Relaxed);
                Ok(self.progress.snapshot(true))
            }
        };
        (result, self.start.elapsed())
    }
}

/// Usage of one directory against its budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryResult {
    /// The directory's name (its path unless named).
    pub name: String,
    /// Its tier label.
    pub tier: String,
    /// The directory.
    pub path: String,
    /// Usage against the budget; at least WARNING when the scan is partial; CRITICAL when
    /// it cannot be opened.
    pub status: Status,
    /// One line for a human.
    pub message: String,
    /// Allocated bytes found (a lower bound when `partial`).
    pub bytes_used: u64,
    /// The budget, in bytes.
    pub budget_bytes: u64,
    /// `bytes_used / budget_bytes` (absent for a zero budget).
    pub budget_used_ratio: Option<f64>,
    /// Entries counted.
    pub files: u64,
    /// Entries that could not be read.
    pub errors: u64,
    /// The scan ran out of time: the figures are a lower bound.
    pub partial: bool,
    /// How long the scan took.
    pub scan_seconds: f64,
}

/// Classifies a scan of `dir` against its budget.
///
/// A partial scan is a lower bound: its status is that of the bytes found, but at least
/// WARNING, with the message `partial: scanned N files in T`.
pub fn directory_result(
    dir: &DirectoryCheck,
    thresholds: Thresholds,
    scan: io::Result<DirScan>,
    took: Duration,
) -> DirectoryResult {
    let mut result = DirectoryResult {
        name: dir.name.clone(),
        tier: dir.tier.clone(),
        path: dir.path.to_string(),
        status: Status::Critical,
        message: String::new(),
        bytes_used: 0,
        budget_bytes: dir.budget_bytes,
        budget_used_ratio: None,
        files: 0,
        errors: 0,
        partial: false,
        scan_seconds: took.as_secs_f64(),
    };
    let scan = match scan {
        Ok(scan) => scan,
        Err(err) => {
            result.message = format!("cannot scan {}: {err}", dir.path);
            return result;
        }
    };
    let ratio = (dir.budget_bytes > 0).then(|| scan.bytes as f64 / dir.budget_bytes as f64);
    let mut status = ratio.map_or(Status::Ok, |r| thresholds.classify(r * 100.0));
    let mut message = format!(
        "{} of budget {}{}",
        human_bytes(scan.bytes),
        human_bytes(dir.budget_bytes),
        ratio
            .map(|r| format!(
                " ({:.1}%, warn {}%, crit {}%)",
                r * 100.0,
                thresholds.warn_percent(),
                thresholds.crit_percent()
            ))
            .unwrap_or_default()
    );
    if scan.partial {
        status = status.and(Status::Warning);
        message = format!("partial: scanned {} files in {:.3}s; at least {message}", scan.files, took.as_secs_f64());
    }
    if scan.errors > 0 {
        message.push_str(&format!("; {} entries unreadable", scan.errors));
    }
    result.status = status;
    result.message = message;
    result.bytes_used = scan.bytes;
    result.budget_used_ratio = ratio;
    result.files = scan.files;
    result.errors = scan.errors;
    result.partial = scan.partial;
    result
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, symlink};

    use proptest::prelude::*;

    use super::*;

    fn dir(budget: u64) -> DirectoryCheck {
        DirectoryCheck::new("hot", "/data/postgresql", budget).unwrap()
    }

    #[test]
    fn usage_against_budget_partial_and_errors() {
        let t = Thresholds::default();
        let scan = |bytes, partial| Ok(DirScan { bytes, files: 10, errors: 0, partial });
        let took = Duration::from_millis(1500);
        assert_eq!(directory_result(&dir(1000), t, scan(500, false), took).status, Status::Ok);
        assert_eq!(directory_result(&dir(1000), t, scan(800, false), took).status, Status::Warning);
        assert_eq!(directory_result(&dir(1000), t, scan(950, false), took).status, Status::Critical);
        let partial = directory_result(&dir(1000), t, scan(10, true), took);
        assert_eq!((partial.status, partial.partial), (Status::Warning, true));
        assert!(partial.message.starts_with("partial: scanned 10 files in 1.500s"), "{}", partial.message);
        assert_eq!(directory_result(&dir(1000), t, scan(990, true), took).status, Status::Critical);
        let gone = directory_result(&dir(1000), t, Err(io::Error::from(io::ErrorKind::NotFound)), took);
        assert_eq!(gone.status, Status::Critical);
        assert_eq!(directory_result(&dir(0), t, scan(5, false), took).budget_used_ratio, None);
    }

    proptest! {
        #[test]
        fn more_usage_never_lowers_severity(a in 0u64..2_000, b in 0u64..2_000, partial: bool) {
            let t = Thresholds::default();
            let status = |bytes| directory_result(&dir(1000), t,
                Ok(DirScan { bytes, files: 1, errors: 0, partial }), Duration::ZERO).status;
            prop_assert!(status(a.min(b)) <= status(a.max(b)));
        }
    }

    #[test]
    fn counts_blocks_hard_links_once_and_does_not_follow_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("tree");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/f"), vec![7u8; 100_000]).unwrap();
        std::fs::hard_link(root.join("a/b/f"), root.join("a/g")).unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("big"), vec![1u8; 1_000_000]).unwrap();
        symlink(&outside, root.join("link")).unwrap();
        let scan = scan_directory(&root, Duration::from_secs(30)).unwrap();
        let blocks = |p: &Path| std::fs::symlink_metadata(p).unwrap().blocks() * 512;
        let expected = blocks(&root)
            + blocks(&root.join("a"))
            + blocks(&root.join("a/b"))
            + blocks(&root.join("a/b/f"))
            + blocks(&root.join("link"));
        assert_eq!(scan, DirScan { bytes: expected, files: 5, errors: 0, partial: false });
    }

    #[test]
    fn a_symlink_as_the_top_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        symlink(dir.path(), dir.path().join("l")).unwrap();
        assert!(scan_directory(&dir.path().join("l"), Duration::from_secs(1)).is_err());
    }

    #[test]
    fn a_spent_budget_gives_a_partial_lower_bound() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..(CLOCK_EVERY * 3) {
            std::fs::write(dir.path().join(i.to_string()), b"x").unwrap();
        }
        let scan = scan_directory(dir.path(), Duration::ZERO).unwrap();
        assert!(scan.partial && scan.files < CLOCK_EVERY * 3 + 1, "{scan:?}");
        let full = scan_directory(dir.path(), Duration::from_secs(60)).unwrap();
        assert_eq!((full.partial, full.files), (false, CLOCK_EVERY * 3 + 1));
    }
}
