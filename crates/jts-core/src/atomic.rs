//! Atomic replacement of files we own: temp file in the same directory, `fsync`,
//! `rename` into place, `fsync` the directory. A crash leaves the old or the new file.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::fcntl::{OFlag, openat, renameat};
use nix::sys::stat::Mode;
use nix::unistd::{UnlinkatFlags, fsync, unlinkat};

use crate::error::{Error, Result};
use crate::nofollow::{open_dir, reopen_dir};
use crate::path::{AbsPath, Root};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Replaces the file at `path` (under `root`) with `contents`, atomically and durably.
///
/// The parent directory must exist and be reachable without symlinks. The new file gets
/// `mode`; a symlink at `path` itself is replaced, never written through.
pub fn write_atomic(root: &Root, path: &AbsPath, contents: &[u8], mode: u32) -> Result<()> {
    let target = root.resolve(path);
    let parent = path.parent().ok_or_else(|| Error::io("write", &target, std::io::ErrorKind::InvalidInput))?;
    let name = target.file_name().ok_or_else(|| Error::io("write", &target, std::io::ErrorKind::InvalidInput))?;
    let dir = reopen_dir(&open_dir(root, &parent)?)?;
    let temp_name = format!(
        ".{}.jts-tmp.{}.{}",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = openat(&dir, temp_name.as_str(), flags, Mode::from_bits_truncate(mode))
        .map_err(|err| Error::io("create", target.with_file_name(&temp_name), err))?;
    let mut file = std::fs::File::from(fd);
    let written = file
        .write_all(contents)
        .and_then(|()| file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode)))
        .and_then(|()| file.sync_all());
    if let Err(err) = written {
        let _ = unlinkat(&dir, temp_name.as_str(), UnlinkatFlags::NoRemoveDir);
        return Err(Error::io("write", &target, err));
    }
    renameat(&dir, temp_name.as_str(), &dir, name).map_err(|err| {
        let _ = unlinkat(&dir, temp_name.as_str(), UnlinkatFlags::NoRemoveDir);
        Error::io("rename", &target, err)
    })?;
    fsync(&dir).map_err(|err| Error::io("fsync", target.parent().unwrap_or(&target), err))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;

    #[test]
    fn replaces_content_and_mode_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path()).unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        let path = AbsPath::new("/etc/fstab").unwrap();
        write_atomic(&root, &path, b"old\n", 0o644).unwrap();
        write_atomic(&root, &path, b"new\n", 0o600).unwrap();
        let on_disk = dir.path().join("etc/fstab");
        assert_eq!(std::fs::read(&on_disk).unwrap(), b"new\n");
        assert_eq!(std::fs::metadata(&on_disk).unwrap().permissions().mode() & 0o7777, 0o600);
        assert_eq!(std::fs::read_dir(dir.path().join("etc")).unwrap().count(), 1);
    }

    #[test]
    fn replaces_a_symlink_instead_of_writing_through_it() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        symlink(&victim, dir.path().join("f")).unwrap();
        let root = Root::new(dir.path()).unwrap();
        write_atomic(&root, &AbsPath::new("/f").unwrap(), b"mine", 0o644).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert!(!std::fs::symlink_metadata(dir.path().join("f")).unwrap().file_type().is_symlink());
    }

    #[test]
    fn refuses_a_symlinked_parent() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        symlink(outside.path(), dir.path().join("etc")).unwrap();
        let root = Root::new(dir.path()).unwrap();
        assert!(write_atomic(&root, &AbsPath::new("/etc/passwd").unwrap(), b"x", 0o644).is_err());
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }
}
