//! The probe: the real operations on a directory, as whoever runs it (a child process
//! started under the service user's uid, gid and groups).
//!
//! It walks to the directory one component at a time with `openat(O_PATH | O_NOFOLLOW)`
//! below the root, so a symlink is never followed; then it searches the directory, lists
//! it, creates and removes a uniquely named file (checking that the kernel would execute
//! it) and a directory. Every name it creates starts with [`PROBE_PREFIX`] and is removed
//! before the next operation.

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use jts_core::{AbsPath, Root};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, open, openat};
use nix::sys::stat::{Mode, SFlag, fstat, fstatat, mkdirat};
use nix::unistd::{AccessFlags, UnlinkatFlags, faccessat, unlinkat};
use serde::{Deserialize, Serialize};

/// The start of every name the probe creates; a leftover (the probe killed between
/// create and remove) is safe to delete.
pub const PROBE_PREFIX: &str = ".jts-access-probe.";

/// Where the walk to a directory stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Blocked {
    /// The kernel refused to search `at` (a directory on the way).
    Denied {
        /// The directory that could not be searched.
        at: PathBuf,
    },
    /// A symlink at `at`, not followed.
    Symlink {
        /// Where.
        at: PathBuf,
    },
    /// Something other than a directory at `at`.
    NotADirectory {
        /// Where.
        at: PathBuf,
    },
    /// Nothing at `at`.
    Missing {
        /// Where.
        at: PathBuf,
    },
    /// Another error at `at`.
    Error {
        /// Where.
        at: PathBuf,
        /// The errno, e.g. `EIO`.
        error: String,
    },
}

/// What the kernel allowed on one directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probed {
    /// The spec path.
    pub path: AbsPath,
    /// Where the walk stopped, if it did not reach the directory.
    pub blocked: Option<Blocked>,
    /// Listing worked.
    pub read: bool,
    /// Looking up a name in it worked.
    pub search: bool,
    /// Creating and removing a file and a directory worked.
    pub write: bool,
    /// The errno of the first create that failed, e.g. `EROFS`.
    pub write_error: Option<String>,
    /// Whether the kernel would execute a file created there; `None` when no file could
    /// be created.
    pub exec: Option<bool>,
    /// Probe names that could not be removed (reported, never silent).
    pub left_behind: Vec<PathBuf>,
}

impl Probed {
    /// The access observed: `x` needs both search and, where tested, execution.
    pub fn access(&self) -> super::Access {
        super::Access { read: self.read, write: self.write, search: self.search && self.exec != Some(false) }
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique_name(kind: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{PROBE_PREFIX}{}.{n}.{kind}", std::process::id())
}

/// Probes `path` under `root` as the calling process's identity.
pub fn probe(root: &Root, path: &AbsPath) -> Probed {
    let mut probed = Probed {
        path: path.clone(),
        blocked: None,
        read: false,
        search: false,
        write: false,
        write_error: None,
        exec: None,
        left_behind: Vec::new(),
    };
    let dir = match walk(root, path) {
        Ok(dir) => dir,
        Err(blocked) => {
            probed.blocked = Some(blocked);
            return probed;
        }
    };
    let real = root.resolve(path);
    probed.search = match fstatat(&dir, OsStr::new(&unique_name("none")), AtFlags::AT_SYMLINK_NOFOLLOW) {
        Err(Errno::ENOENT) | Ok(_) => true,
        Err(_) => false,
    };
    probed.read = list(&dir);
    let file = unique_name("file");
    match openat(
        &dir,
        file.as_str(),
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o700),
    ) {
        Ok(fd) => {
            drop(fd);
            probed.exec = Some(faccessat(&dir, file.as_str(), AccessFlags::X_OK, AtFlags::AT_EACCESS).is_ok());
            let removed = unlinkat(&dir, file.as_str(), UnlinkatFlags::NoRemoveDir).is_ok();
            if !removed {
                probed.left_behind.push(real.join(&file));
            }
            let subdir = unique_name("dir");
            let made = mkdirat(&dir, subdir.as_str(), Mode::from_bits_truncate(0o700));
            let dir_removed = made.is_ok() && unlinkat(&dir, subdir.as_str(), UnlinkatFlags::RemoveDir).is_ok();
            if made.is_ok() && !dir_removed {
                probed.left_behind.push(real.join(&subdir));
            }
            if let Err(errno) = made {
                probed.write_error = Some(format!("{errno:?}"));
            }
            probed.write = removed && dir_removed;
        }
        Err(errno) => probed.write_error = Some(format!("{errno:?}")),
    }
    probed
}

/// Walks from `/` to the directory: the root's own path as the operator named it, then
/// each spec component without following a symlink.
fn walk(root: &Root, path: &AbsPath) -> Result<OwnedFd, Blocked> {
    let flags = OFlag::O_PATH | OFlag::O_CLOEXEC;
    let mut current = open("/", flags | OFlag::O_DIRECTORY, Mode::empty())
        .map_err(|errno| Blocked::Error { at: "/".into(), error: format!("{errno:?}") })?;
    let mut at = PathBuf::from("/");
    let root_names = root.dir().components().filter_map(|c| match c {
        std::path::Component::Normal(name) => Some((name, false)),
        _ => None,
    });
    let spec_names = path.names().map(|name| (name, true));
    for (name, nofollow) in root_names.chain(spec_names) {
        let extra = if nofollow { OFlag::O_NOFOLLOW } else { OFlag::empty() };
        let next = at.join(name);
        let fd = match openat(&current, name, flags | extra, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::EACCES) => return Err(Blocked::Denied { at }),
            Err(Errno::ENOENT) => return Err(Blocked::Missing { at: next }),
            Err(errno) => return Err(Blocked::Error { at: next, error: format!("{errno:?}") }),
        };
        let kind = fstat(&fd).map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT);
        match kind {
            Ok(SFlag::S_IFDIR) => {}
            Ok(SFlag::S_IFLNK) => return Err(Blocked::Symlink { at: next }),
            Ok(_) => return Err(Blocked::NotADirectory { at: next }),
            Err(errno) => return Err(Blocked::Error { at: next, error: format!("{errno:?}") }),
        }
        current = fd;
        at = next;
    }
    Ok(current)
}

/// Opens the directory for reading through its descriptor (which checks `r` on the
/// directory itself, not `x`) and reads one entry.
fn list(dir: &OwnedFd) -> bool {
    let proc_path = Path::new("/proc/self/fd").join(dir.as_raw_fd().to_string());
    let Ok(fd) = open(&proc_path, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()) else {
        return false;
    };
    let Ok(mut entries) = nix::dir::Dir::from_fd(fd) else { return false };
    entries.iter().next().is_some_and(|entry| entry.is_ok())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn the_owner_gets_everything_and_nothing_is_left_behind() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        let root = Root::new(dir.path()).unwrap();
        let probed = probe(&root, &AbsPath::new("/a/b").unwrap());
        assert_eq!((probed.blocked.clone(), probed.access().to_string()), (None, "rwx".to_owned()), "{probed:?}");
        assert_eq!(std::fs::read_dir(dir.path().join("a/b")).unwrap().count(), 0, "the probe cleaned up");
    }

    #[test]
    fn a_symlink_on_the_way_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        symlink(outside.path(), dir.path().join("a")).unwrap();
        let root = Root::new(dir.path()).unwrap();
        let probed = probe(&root, &AbsPath::new("/a").unwrap());
        assert_eq!(probed.blocked, Some(Blocked::Symlink { at: dir.path().join("a") }));
        assert_eq!(probed.access().to_string(), "---");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0, "nothing created through the link");
    }

    #[test]
    fn a_missing_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path()).unwrap();
        let probed = probe(&root, &AbsPath::new("/x/y").unwrap());
        assert_eq!(probed.blocked, Some(Blocked::Missing { at: dir.path().join("x") }));
    }
}
