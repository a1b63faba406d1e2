//! Walking a directory tree on a few threads.
//!
//! Walks are bound by system calls (one `getdents` per directory, one `fstatat` per
//! entry), and the kernel serves two threads on two cores in a little over half the time
//! of one (BENCHMARKS.md). [`in_parallel`] only hands out directories: the caller's
//! `visit` reads one and says which subdirectories to read next, so each walk keeps its
//! own rules for what it enters (one filesystem, never a symlink, names it skips).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};

use crate::nofollow::{Node, reopen_dir};
use crate::{Error, Result};

/// How many threads read directories.
pub const THREADS: usize = 2;

/// A directory still to read, as most walks hand them out: its open node and its path
/// relative to the walk's top.
pub type Pending = (Node, PathBuf);

/// Reads every directory reachable from `first` on [`THREADS`] threads and returns what
/// the visits collected, in no particular order.
///
/// `visit(dir, out, next)` reads one directory `D` (a [`Pending`], or just a descriptor),
/// pushes its results to `out` and the subdirectories to read to `next`. The first error
/// stops the walk and is returned (directories already handed out are finished).
pub fn in_parallel<D, T, E, F>(first: Vec<D>, visit: F) -> std::result::Result<Vec<T>, E>
where
    D: Send,
    T: Send,
    E: Send,
    F: Fn(D, &mut Vec<T>, &mut Vec<D>) -> std::result::Result<(), E> + Sync,
{
    let work = Mutex::new(Work { pending: first.len(), queue: first });
    // Signalled when directories are queued, and when the last one is done.
    let changed = Condvar::new();
    let failure: Mutex<Option<E>> = Mutex::new(None);
    let stopped = AtomicBool::new(false);
    let found = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                let (mut mine, mut next) = (Vec::new(), Vec::new());
                while let Some(dir) = take(&work, &changed) {
                    // After a failure, what is still queued is taken off without being read.
                    let visited =
                        if stopped.load(Ordering::Acquire) { Ok(()) } else { visit(dir, &mut mine, &mut next) };
                    if let Err(err) = visited {
                        failure.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(err);
                        stopped.store(true, Ordering::Release);
                    }
                    if stopped.load(Ordering::Acquire) {
                        next.clear();
                    }
                    let mut work = work.lock().unwrap_or_else(PoisonError::into_inner);
                    work.pending = work.pending + next.len() - 1;
                    // This thread takes one of what it queued itself: wake the others
                    // only for more than that, or to end.
                    let wake = next.len() > 1 || work.pending == 0;
                    work.queue.append(&mut next);
                    drop(work);
                    if wake {
                        changed.notify_all();
                    }
                }
                found.lock().unwrap_or_else(PoisonError::into_inner).append(&mut mine);
            });
        }
    });
    match failure.into_inner().unwrap_or_else(PoisonError::into_inner) {
        Some(err) => Err(err),
        None => Ok(found.into_inner().unwrap_or_else(PoisonError::into_inner)),
    }
}

/// The directories of a walk still to read.
struct Work<D> {
    /// Queued, not yet taken.
    queue: Vec<D>,
    /// Queued or being read: the walk is over when none are left.
    pending: usize,
}

/// The next directory to read, waiting while others are being read (they may queue
/// more); `None` once every directory has been read.
fn take<D>(work: &Mutex<Work<D>>, changed: &Condvar) -> Option<D> {
    let mut work = work.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        if let Some(dir) = work.queue.pop() {
            return Some(dir);
        }
        if work.pending == 0 {
            return None;
        }
        work = changed.wait(work).unwrap_or_else(PoisonError::into_inner);
    }
}

/// Orders relative paths made of plain names as [`Path`]'s own ordering does (component
/// by component, so `a` < `a/x` < `a.b`), by comparing bytes with `/` lowest: a walk's
/// hundred thousand paths sort in a fraction of the time `Path::cmp` takes.
pub fn tree_order(a: &Path, b: &Path) -> std::cmp::Ordering {
    let key = |byte: u8| if byte == b'/' { 0 } else { byte };
    let (a, b) = (a.as_os_str().as_bytes(), b.as_os_str().as_bytes());
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(at) => key(a[at]).cmp(&key(b[at])),
        None => a.len().cmp(&b.len()),
    }
}

/// The names in the directory `node`, without `.` and `..`.
pub fn read_names(node: &Node) -> Result<Vec<OsString>> {
    let fd = reopen_dir(node)?;
    let mut dir = nix::dir::Dir::from_fd(fd).map_err(|err| Error::io("read directory", node.path(), err))?;
    let mut names = Vec::new();
    for entry in dir.iter() {
        let entry = entry.map_err(|err| Error::io("read directory", node.path(), err))?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(name).to_owned());
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::nofollow::FileKind;

    fn tree(dirs: usize, files: usize) -> tempfile::TempDir {
        let top = tempfile::tempdir().unwrap();
        for d in 0..dirs {
            let dir = top.path().join(format!("d{d}/inner"));
            std::fs::create_dir_all(&dir).unwrap();
            for f in 0..files {
                std::fs::write(dir.join(format!("f{f}")), b"x").unwrap();
            }
        }
        top
    }

    fn names_below(top: &Path) -> std::result::Result<Vec<PathBuf>, Error> {
        let node = crate::nofollow::open_root(&crate::Root::new(top).unwrap()).unwrap();
        in_parallel(vec![(node, PathBuf::new())], |(dir, relative): Pending, out, next| {
            for name in read_names(&dir)? {
                let path = relative.join(&name);
                if let Some(child) = dir.child(&name)?.filter(|c| c.kind() == FileKind::Directory) {
                    next.push((child, path.clone()));
                }
                out.push(path);
            }
            Ok(())
        })
    }

    proptest::proptest! {
        #[test]
        fn tree_order_is_path_order(
            a in proptest::collection::vec("[a./_-]{1,3}", 1..4),
            b in proptest::collection::vec("[a./_-]{1,3}", 1..4),
        ) {
            let plain = |names: &Vec<String>| -> PathBuf {
                names.iter().map(|n| n.replace('/', "")).filter(|n| !n.is_empty() && n != "." && n != "..").collect()
            };
            let (a, b) = (plain(&a), plain(&b));
            proptest::prop_assert_eq!(tree_order(&a, &b), a.cmp(&b), "{} vs {}", a.display(), b.display());
        }
    }

    #[test]
    fn every_entry_is_visited_once() {
        let top = tree(40, 25);
        let found = names_below(top.path()).unwrap();
        let unique: BTreeSet<_> = found.iter().cloned().collect();
        assert_eq!(found.len(), 40 * (2 + 25));
        assert_eq!(unique.len(), found.len());
        assert!(unique.contains(Path::new("d7/inner/f24")));
    }

    #[test]
    fn a_chain_of_single_subdirectories_is_walked_to_its_end() {
        // Each directory queues exactly one more, which its reader takes itself while the
        // other thread waits: the walk must still end, and with every entry.
        let top = tempfile::tempdir().unwrap();
        let mut dir = top.path().to_path_buf();
        for level in 0..300 {
            dir.push("d");
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(dir.join(format!("f{level}")), b"x").unwrap();
        }
        let found = names_below(top.path()).unwrap();
        assert_eq!(found.len(), 600);
        assert!(found.iter().any(|path| path.ends_with("f299") && path.components().count() == 301));
    }

    #[test]
    fn the_first_error_stops_the_walk_and_is_returned() {
        let top = tree(30, 2);
        let node = crate::nofollow::open_root(&crate::Root::new(top.path()).unwrap()).unwrap();
        let visits = AtomicUsize::new(0);
        let walked: std::result::Result<Vec<()>, String> =
            in_parallel(vec![(node, PathBuf::new())], |(dir, relative): Pending, _, next| {
                // The top is the first visit; the first of its 30 subdirectories fails.
                if visits.fetch_add(1, Ordering::SeqCst) == 1 {
                    return Err(format!("{} is unreadable", relative.display()));
                }
                for name in read_names(&dir).map_err(|e| e.to_string())? {
                    let child = dir.child(&name).map_err(|e| e.to_string())?;
                    if let Some(child) = child.filter(|c| c.kind() == FileKind::Directory) {
                        next.push((child, relative.join(&name)));
                    }
                }
                Ok(())
            });
        assert!(walked.unwrap_err().ends_with(" is unreadable"));
        // The other thread may be reading one directory when the failure lands; no more.
        assert!(visits.load(Ordering::SeqCst) <= 1 + THREADS, "{} visits", visits.load(Ordering::SeqCst));
    }
}
