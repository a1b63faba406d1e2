//! Directory descriptors and the `*at` calls the mover makes through them.
//!
//! A [`Dir`] is an open directory reached without following symlinks: a rule's `from`
//! and `to` through [`jts_core::nofollow`], everything below them one `O_NOFOLLOW`
//! component at a time. Files are opened, created, renamed and unlinked relative to it,
//! so no path is ever resolved from `/` again and a symlink planted mid-run is refused.

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use jts_core::nofollow::{open_dir, reopen_dir};
use jts_core::{AbsPath, Root};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, RenameFlags, openat, renameat, renameat2};
use nix::sys::stat::{FileStat, Mode, fchmod, fstat, fstatat, mkdirat};
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, linkat, syncfs, unlinkat};

use crate::error::{Error, Result};
use crate::names::TEMP_PREFIX;

/// An open directory and the path it was reached by (for messages only).
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

/// What [`Dir::rename_noreplace`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renamed {
    /// The file now has the new name.
    Done,
    /// Something already has the new name; nothing changed.
    Exists,
    /// The old name does not exist.
    Missing,
}

impl Dir {
    /// Opens the spec directory `path` under `root`, refusing symlinks on the way.
    pub fn open(root: &Root, path: &AbsPath) -> Result<Self> {
        let node = open_dir(root, path)?;
        Ok(Self { fd: reopen_dir(&node)?, path: root.resolve(path) })
    }

    /// The path on this machine, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `fstat` of the directory itself.
    pub fn stat(&self) -> Result<FileStat> {
        fstat(&self.fd).map_err(|err| Error::io("stat", &self.path, err))
    }

    /// Opens the child directory `name`; `None` if it does not exist. A symlink or another
    /// kind of file there is an error, never followed.
    pub fn child(&self, name: &OsStr) -> Result<Option<Self>> {
        let path = self.path.join(name);
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        match openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => Ok(Some(Self { fd, path })),
            Err(Errno::ENOENT) => Ok(None),
            Err(Errno::ELOOP | Errno::ENOTDIR) => {
                let found = self.lstat(name)?.map_or("file", |stat| jts_core::nofollow::FileKind::of(&stat).name());
                Err(jts_core::Error::NotADirectory { path, found }.into())
            }
            Err(err) => Err(Error::io("open", path, err)),
        }
    }

    /// Opens the directory at the relative `path` below this one; `None` if some part
    /// is missing.
    pub fn descend(&self, path: &Path) -> Result<Option<Self>> {
        let mut names = normal_names(path);
        let Some(first) = names.next() else { return self.try_clone().map(Some) };
        let Some(mut current) = self.child(first)? else { return Ok(None) };
        for name in names {
            let Some(next) = current.child(name)? else { return Ok(None) };
            current = next;
        }
        Ok(Some(current))
    }

    /// Opens the directory at the relative `path`, creating missing parts with the owner
    /// and mode of the directories at the same place below `like` (the rule's source).
    pub fn descend_creating(&self, path: &Path, like: &Self) -> Result<Self> {
        let mut current = self.try_clone()?;
        let mut model = like.try_clone()?;
        for name in normal_names(path) {
            model = model.child(name)?.ok_or_else(|| Error::io("open", model.path.join(name), Errno::ENOENT))?;
            current = match current.child(name)? {
                Some(dir) => dir,
                None => current.mkdir_like(name, &model.stat()?)?,
            };
        }
        Ok(current)
    }

    /// Creates the directory `name` with the owner and mode of `model`. It is made under a
    /// temporary name, given its owner and mode, then renamed into place, so that an
    /// interruption never leaves it half set up under its real name. The temporary name
    /// is derived from `name`, so a leftover of an interrupted run (always empty: nothing
    /// is put in it before the rename) is found and removed by the next attempt.
    fn mkdir_like(&self, name: &OsStr, model: &FileStat) -> Result<Self> {
        // One creation at a time in this process: two workers must not share a temporary.
        static CREATING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = CREATING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(existing) = self.child(name)? {
            return Ok(existing);
        }
        use std::os::unix::ffi::OsStrExt;
        let temp =
            std::ffi::OsString::from(format!("{TEMP_PREFIX}dir.{}", &blake3::hash(name.as_bytes()).to_hex()[..16]));
        let temp_path = self.path.join(&temp);
        let make = || mkdirat(&self.fd, temp.as_os_str(), Mode::from_bits_truncate(0o700));
        match make() {
            Ok(()) => {}
            Err(Errno::EEXIST) => {
                if !self.remove_empty_dir(&temp)? {
                    let leftover = std::io::Error::other("a leftover that is not empty; look inside and remove it");
                    return Err(Error::io("mkdir", &temp_path, leftover));
                }
                make().map_err(|err| self.creating_error("mkdir", &temp, err))?;
            }
            Err(err) => return Err(self.creating_error("mkdir", &temp, err)),
        }
        let dir = self.child(&temp)?.ok_or_else(|| Error::io("open", &temp_path, Errno::ENOENT))?;
        fchown(&dir.fd, Some(Uid::from_raw(model.st_uid)), Some(Gid::from_raw(model.st_gid)))
            .map_err(|err| Error::io("chown", &temp_path, err))?;
        fchmod(&dir.fd, Mode::from_bits_truncate(model.st_mode & 0o7777))
            .map_err(|err| Error::io("chmod", &temp_path, err))?;
        let placed = match renameat2(&self.fd, temp.as_os_str(), &self.fd, name, RenameFlags::RENAME_NOREPLACE) {
            Ok(()) => true,
            Err(Errno::EEXIST) => false,
            // No RENAME_NOREPLACE (NFS), and directories cannot be hard-linked: rename
            // unless the name is taken.
            Err(Errno::EINVAL | Errno::ENOSYS) if self.lstat(name)?.is_none() => {
                renameat(&self.fd, temp.as_os_str(), &self.fd, name)
                    .map_err(|err| Error::io("rename", &temp_path, err))?;
                true
            }
            Err(Errno::EINVAL | Errno::ENOSYS) => false,
            Err(err) => return Err(Error::io("rename", temp_path, err)),
        };
        if placed {
            return Ok(Self { fd: dir.fd, path: self.path.join(name) });
        }
        // Created by someone else meanwhile: use theirs as it is.
        self.remove_empty_dir(&temp)?;
        self.child(name)?.ok_or_else(|| Error::io("open", self.path.join(name), Errno::ENOENT))
    }

    fn try_clone(&self) -> Result<Self> {
        let fd = self.fd.try_clone().map_err(|err| Error::io("dup", &self.path, err))?;
        Ok(Self { fd, path: self.path.clone() })
    }

    /// `lstat` of the child `name`; `None` if it does not exist.
    pub fn lstat(&self, name: &OsStr) -> Result<Option<FileStat>> {
        match fstatat(&self.fd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(Some(stat)),
            Err(Errno::ENOENT) => Ok(None),
            Err(err) => Err(Error::io("stat", self.path.join(name), err)),
        }
    }

    /// Opens the regular file `name` for reading; `None` if it does not exist. A symlink
    /// there is an error.
    pub fn open_file(&self, name: &OsStr) -> Result<Option<File>> {
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
        match openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => Ok(Some(File::from(fd))),
            Err(Errno::ENOENT) => Ok(None),
            Err(err) => Err(Error::io("open", self.path.join(name), err)),
        }
    }

    /// Creates the new file `name` for writing, mode 0600; fails if anything has that name.
    /// With `direct`, writes bypass the page cache (`O_DIRECT`).
    pub fn create_new(&self, name: &OsStr, direct: bool) -> Result<File> {
        let mut flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        if direct {
            flags |= OFlag::O_DIRECT;
        }
        openat(&self.fd, name, flags, Mode::from_bits_truncate(0o600))
            .map(File::from)
            .map_err(|err| self.creating_error("create", name, err))
    }

    /// The error of creating `name` here: [`Error::DestinationNoRoom`] when the
    /// filesystem has no space or no inodes left, so that the rule stops as "full".
    fn creating_error(&self, op: &'static str, name: &OsStr, err: Errno) -> Error {
        match err {
            Errno::ENOSPC | Errno::EDQUOT => Error::DestinationNoRoom { path: self.path.clone(), source: err.into() },
            _ => Error::io(op, self.path.join(name), err),
        }
    }

    /// Renames `from` in this directory to `to` in `target` without ever replacing a file
    /// there. Where the filesystem has no `RENAME_NOREPLACE` (NFS), a hard link then an
    /// unlink do the same: the file is under one name or both, never neither.
    pub fn rename_noreplace(&self, from: &OsStr, target: &Self, to: &OsStr) -> Result<Renamed> {
        let path = || self.path.join(from);
        match renameat2(&self.fd, from, &target.fd, to, RenameFlags::RENAME_NOREPLACE) {
            Ok(()) => Ok(Renamed::Done),
            Err(Errno::EEXIST) => Ok(Renamed::Exists),
            Err(Errno::ENOENT) => Ok(Renamed::Missing),
            Err(Errno::EINVAL | Errno::ENOSYS) => match linkat(&self.fd, from, &target.fd, to, AtFlags::empty()) {
                Ok(()) => {
                    self.unlink(from)?;
                    Ok(Renamed::Done)
                }
                Err(Errno::EEXIST) => Ok(Renamed::Exists),
                Err(Errno::ENOENT) => Ok(Renamed::Missing),
                Err(err) => Err(Error::io("link", path(), err)),
            },
            Err(err) => Err(Error::io("rename", path(), err)),
        }
    }

    /// Unlinks the file `name`; `false` if it did not exist.
    pub fn unlink(&self, name: &OsStr) -> Result<bool> {
        match unlinkat(&self.fd, name, UnlinkatFlags::NoRemoveDir) {
            Ok(()) => Ok(true),
            Err(Errno::ENOENT) => Ok(false),
            Err(err) => Err(Error::io("unlink", self.path.join(name), err)),
        }
    }

    /// Removes the child directory `name` if it is empty; `false` if it is not (or is gone).
    pub fn remove_empty_dir(&self, name: &OsStr) -> Result<bool> {
        match unlinkat(&self.fd, name, UnlinkatFlags::RemoveDir) {
            Ok(()) => Ok(true),
            Err(Errno::ENOENT | Errno::ENOTEMPTY | Errno::EEXIST | Errno::EBUSY) => Ok(false),
            Err(err) => Err(Error::io("rmdir", self.path.join(name), err)),
        }
    }

    /// Flushes the whole filesystem this directory is on (`syncfs`): one flush for a
    /// batch of files instead of an `fsync` per file.
    pub fn sync_filesystem(&self) -> Result<()> {
        syncfs(&self.fd).map_err(|err| Error::io("syncfs", &self.path, err))
    }

    /// How full this directory's filesystem is, in percent of the bytes a user can have
    /// (as `df` computes it).
    pub fn used_percent(&self) -> Result<f64> {
        let stat = nix::sys::statvfs::fstatvfs(&self.fd).map_err(|err| Error::io("statvfs", &self.path, err))?;
        let used = stat.blocks().saturating_sub(stat.blocks_free());
        let usable = used + stat.blocks_available();
        Ok(if usable == 0 { 0.0 } else { 100.0 * used as f64 / usable as f64 })
    }

    /// Whether this directory is on NFS.
    pub fn is_nfs(&self) -> Result<bool> {
        let stat = nix::sys::statfs::fstatfs(&self.fd).map_err(|err| Error::io("statfs", &self.path, err))?;
        Ok(stat.filesystem_type() == nix::sys::statfs::NFS_SUPER_MAGIC)
    }

    /// Bytes available to unprivileged writers on this directory's filesystem.
    pub fn available_bytes(&self) -> Result<u64> {
        let stat = nix::sys::statvfs::fstatvfs(&self.fd).map_err(|err| Error::io("statvfs", &self.path, err))?;
        Ok(stat.blocks_available().saturating_mul(stat.fragment_size()))
    }
}

/// The directory of the previous lookup, reused while consecutive files share it: files
/// are handled in path order, so most do, and each saves a walk of `openat`s.
#[derive(Debug, Default)]
pub struct DirCache {
    last: std::sync::Mutex<Option<(PathBuf, std::sync::Arc<Dir>)>>,
}

impl DirCache {
    /// The directory at `relative`, opened with `open` unless it is the previous one.
    pub fn get(
        &self,
        relative: &Path,
        open: impl FnOnce(&Path) -> Result<Option<Dir>>,
    ) -> Result<Option<std::sync::Arc<Dir>>> {
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((path, dir)) = last.as_ref()
            && path == relative
        {
            return Ok(Some(std::sync::Arc::clone(dir)));
        }
        let dir = open(relative)?.map(std::sync::Arc::new);
        *last = dir.as_ref().map(|dir| (relative.to_path_buf(), std::sync::Arc::clone(dir)));
        Ok(dir)
    }

    /// Forgets the previous directory (it may have been removed).
    pub fn clear(&self) {
        *self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}

/// The plain names of a relative path (`.` and empty parts dropped).
fn normal_names(path: &Path) -> impl Iterator<Item = &OsStr> {
    path.components().filter_map(|component| match component {
        Component::Normal(name) => Some(name),
        _ => None,
    })
}

/// The directory part and file name of a relative file path.
pub fn split(path: &Path) -> (&Path, &OsStr) {
    (path.parent().unwrap_or(Path::new("")), path.file_name().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn directories_are_created_like_the_model_and_a_leftover_temporary_is_reused() {
        let scratch = tempfile::tempdir().unwrap();
        let root = Root::new(scratch.path()).unwrap();
        std::fs::create_dir_all(scratch.path().join("from/a/b")).unwrap();
        std::fs::create_dir_all(scratch.path().join("to")).unwrap();
        std::fs::set_permissions(scratch.path().join("from/a"), std::fs::Permissions::from_mode(0o2751)).unwrap();
        let from = Dir::open(&root, &AbsPath::new("/from").unwrap()).unwrap();
        let to = Dir::open(&root, &AbsPath::new("/to").unwrap()).unwrap();
        // What an interrupted run leaves: the temporary of `a`, empty.
        use std::os::unix::ffi::OsStrExt;
        let leftover = format!("{TEMP_PREFIX}dir.{}", &blake3::hash(OsStr::new("a").as_bytes()).to_hex()[..16]);
        std::fs::create_dir(scratch.path().join("to").join(&leftover)).unwrap();

        let made = to.descend_creating(Path::new("a/b"), &from).unwrap();
        assert_eq!(made.path(), scratch.path().join("to/a/b"));
        let mode = std::fs::metadata(scratch.path().join("to/a")).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o2751, "the model's mode, setgid included");
        let names: Vec<_> =
            std::fs::read_dir(scratch.path().join("to")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["a"], "the leftover temporary is gone");
        assert!(to.descend_creating(Path::new("a/b"), &from).is_ok(), "existing directories are used as they are");
    }
}
