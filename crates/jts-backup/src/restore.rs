//! Restoring an archive into an empty directory: every member created without following
//! a symlink, files verified against the manifest while they are written, then exact
//! owners, modes, extended attributes (POSIX ACLs included), holes, hard links and
//! times. Until it is done, the marker [`INCOMPLETE_MARKER`] says so in the target.

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{
    FchmodatFlags, Mode, SFlag, UtimensatFlags, fchmod, fchmodat, futimens, mkdirat, mknodat, utimensat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchown, fchownat, linkat, symlinkat};
use serde::Serialize;
use xattr::FileExt as _;

use crate::error::{Error, Result};
use crate::footer::read_footer_hashed;
use crate::manifest::MANIFEST_MEMBER;
use crate::pax::Kind;
use crate::read::{Entry, for_each_entry};
use crate::verify::{Checker, hash_content};

/// The file that marks a restore in progress (or one that failed) in its target.
pub const INCOMPLETE_MARKER: &str = ".jts-restore-incomplete";

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    /// The archive restored.
    pub archive: PathBuf,
    /// The target directory.
    pub target: PathBuf,
    /// Files written and verified.
    pub files: usize,
    /// Bytes of content written.
    pub bytes: u64,
}

/// Restores the archive at `archive` into `target`, which must be an empty directory
/// (or not exist yet: it is created). Fails, with the target marked incomplete, on the
/// first member that does not match the manifest.
pub fn restore(archive: &Path, target: &Path) -> Result<Restored> {
    let mut file = File::open(archive).map_err(|err| Error::io("open", archive, err))?;
    let (manifest, footer_hash) = read_footer_hashed(&mut file, archive)?;
    std::io::Seek::rewind(&mut file).map_err(|err| Error::io("read", archive, err))?;
    let root = open_target(target)?;
    let target_lost_found = nix::sys::stat::fstatat(&root, LOST_FOUND, AtFlags::AT_SYMLINK_NOFOLLOW)
        .is_ok_and(|stat| SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR);
    let marker_flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let marker = openat(&root, INCOMPLETE_MARKER, marker_flags, Mode::from_bits_truncate(0o600))
        .map_err(|err| Error::io("create", target.join(INCOMPLETE_MARKER), err))?;
    let note = format!("jts-provision backup restore of {} started here and has not finished.\n", archive.display());
    File::from(marker)
        .write_all_at(note.as_bytes(), 0)
        .map_err(|err| Error::io("write", target.join(INCOMPLETE_MARKER), err))?;

    let mut checker = Checker::new(archive, &manifest, footer_hash);
    let mut dirs: Vec<Entry> = Vec::new();
    let mut parents = Parents { dir: String::new(), fd: None };
    let walked = for_each_entry(file, archive, |entry, data| {
        if entry.path.is_empty() {
            dirs.push(entry.clone());
            return Ok(());
        }
        if entry.path == MANIFEST_MEMBER {
            return checker.manifest_member(data);
        }
        let (parent, name) = parents.of(&root, &entry.path, target)?;
        let at = target.join(&entry.path);
        let io = |op: &'static str| move |err: nix::Error| Error::io(op, at.clone(), err);
        match &entry.kind {
            // An ext4 target's own empty lost+found takes the archive's metadata.
            Kind::Directory if entry.path == LOST_FOUND && target_lost_found => dirs.push(entry.clone()),
            Kind::Directory => {
                mkdirat(parent, name, Mode::from_bits_truncate(0o700)).map_err(io("mkdir"))?;
                dirs.push(entry.clone());
            }
            Kind::File { .. } => {
                let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
                let out =
                    File::from(openat(parent, name, flags, Mode::from_bits_truncate(0o600)).map_err(io("create"))?);
                let at = target.join(&entry.path);
                let hash = hash_content(entry, data, archive, |offset, bytes| {
                    out.write_all_at(bytes, offset).map_err(|err| Error::io("write", &at, err))
                })?;
                if matches!(entry.kind, Kind::File { sparse: Some(_) }) {
                    // A trailing hole is not written: the length says it.
                    out.set_len(entry.size).map_err(|err| Error::io("truncate", &at, err))?;
                }
                checker.file(entry, hash)?;
                if let Some(first) = checker.mismatched.first() {
                    return Err(Error::damaged(
                        archive,
                        format!("file {first}: content does not match the manifest's blake3"),
                    ));
                }
                apply_fd(out.as_fd(), entry, &at)?;
            }
            Kind::Symlink(link) => {
                symlinkat(OsStr::from_bytes(link), parent, name).map_err(io("symlink"))?;
                apply_at(parent, name, entry, &target.join(&entry.path), false)?;
            }
            Kind::HardLink(first) => {
                let (first_parent, first_name) = open_parent(&root, first, target)?;
                linkat(&first_parent, first_name, parent, name, AtFlags::empty()).map_err(io("link"))?;
            }
            Kind::Fifo | Kind::Char(..) | Kind::Block(..) => {
                let (kind, dev) = match entry.kind {
                    Kind::Fifo => (SFlag::S_IFIFO, 0),
                    Kind::Char(major, minor) => (SFlag::S_IFCHR, nix::sys::stat::makedev(major.into(), minor.into())),
                    Kind::Block(major, minor) => (SFlag::S_IFBLK, nix::sys::stat::makedev(major.into(), minor.into())),
                    _ => unreachable!("matched above"),
                };
                mknodat(parent, name, kind, Mode::from_bits_truncate(0o600), dev).map_err(io("mknod"))?;
                apply_at(parent, name, entry, &target.join(&entry.path), true)?;
            }
        }
        Ok(())
    });
    if let Some(first) = checker.mismatched.first() {
        return Err(Error::damaged(archive, format!("file {first}: content does not match the manifest's blake3")));
    }
    walked?;
    let verified = checker.finish()?;
    // Directories last, deepest first, so that creating their entries changed nothing.
    for entry in dirs.iter().rev() {
        let at = target.join(&entry.path);
        let fd = if entry.path.is_empty() {
            root.try_clone().map_err(|err| Error::io("dup", &at, err))?
        } else {
            let (parent, name) = open_parent(&root, &entry.path, target)?;
            openat(
                &parent,
                name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|err| Error::io("open", &at, err))?
        };
        if entry.path.is_empty() {
            nix::unistd::unlinkat(&root, INCOMPLETE_MARKER, nix::unistd::UnlinkatFlags::NoRemoveDir)
                .map_err(|err| Error::io("remove", target.join(INCOMPLETE_MARKER), err))?;
        }
        apply_fd(fd.as_fd(), entry, &at)?;
    }
    nix::unistd::syncfs(&root).map_err(|err| Error::io("syncfs", target, err))?;
    Ok(Restored {
        archive: archive.to_path_buf(),
        target: target.to_path_buf(),
        files: verified.files,
        bytes: verified.bytes,
    })
}

/// Opens the target: an empty directory, created if missing. Refuses anything else.
fn open_target(target: &Path) -> Result<OwnedFd> {
    let refuse = |what: String| Error::Target { path: target.to_path_buf(), what };
    match std::fs::symlink_metadata(target) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir(target).map_err(|err| Error::io("create", target, err))?;
        }
        Err(err) => return Err(Error::io("stat", target, err)),
        Ok(meta) if !meta.is_dir() => return Err(refuse("is not a directory; name an empty directory".to_owned())),
        Ok(_) => {
            let mut entries = std::fs::read_dir(target).map_err(|err| Error::io("read directory", target, err))?;
            let foreign = entries.find_map(|entry| entry.ok().map(|e| e.file_name()).filter(|name| name != LOST_FOUND));
            if let Some(name) = foreign {
                return Err(refuse(format!(
                    "is not empty (it holds {}); restore into an empty directory, e.g. a new LV mounted there, or \
                     remove what is in it",
                    name.to_string_lossy()
                )));
            }
        }
    }
    nix::fcntl::open(target, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|err| Error::io("open", target, err))
}

/// The directory mkfs.ext4 makes at a filesystem's root: a target may hold it (empty).
const LOST_FOUND: &str = "lost+found";

/// The directory of the last member, kept open: members come directory by directory,
/// so most find their parent here without a lookup.
struct Parents {
    dir: String,
    fd: Option<OwnedFd>,
}

impl Parents {
    /// The open directory that holds `path`, and `path`'s last component.
    fn of<'s, 'p>(&'s mut self, root: &OwnedFd, path: &'p str, target: &Path) -> Result<(BorrowedFd<'s>, &'p OsStr)> {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        if self.fd.is_none() || self.dir != dir {
            self.fd = Some(open_parent(root, path, target)?.0);
            dir.clone_into(&mut self.dir);
        }
        let fd = self.fd.as_ref().expect("opened above").as_fd();
        Ok((fd, OsStr::new(name)))
    }
}

/// The directory that holds `path` (relative to `root`), opened without following a
/// symlink, and `path`'s last component.
fn open_parent<'p>(root: &OwnedFd, path: &'p str, target: &Path) -> Result<(OwnedFd, &'p OsStr)> {
    let (dirs, name) = path.rsplit_once('/').unwrap_or(("", path));
    let mut current = root.try_clone().map_err(|err| Error::io("dup", target, err))?;
    for part in dirs.split('/').filter(|p| !p.is_empty()) {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        current =
            openat(&current, part, flags, Mode::empty()).map_err(|err| Error::io("open", target.join(dirs), err))?;
    }
    Ok((current, OsStr::new(name)))
}

/// Owner, mode, extended attributes and times of an open file or directory, in that
/// order (a chown clears setuid bits and file capabilities; setting an ACL sets the
/// group bits to its mask).
fn apply_fd(fd: std::os::fd::BorrowedFd<'_>, entry: &Entry, at: &Path) -> Result<()> {
    fchown(fd, Some(Uid::from_raw(entry.uid)), Some(Gid::from_raw(entry.gid)))
        .map_err(|err| Error::io("chown", at, err))?;
    fchmod(fd, Mode::from_bits_truncate(entry.mode)).map_err(|err| Error::io("chmod", at, err))?;
    if !entry.xattrs.is_empty() {
        let file = File::from(fd.try_clone_to_owned().map_err(|err| Error::io("dup", at, err))?);
        for (name, value) in &entry.xattrs {
            file.set_xattr(name, value).map_err(|err| Error::io("set xattr on", at, err))?;
        }
    }
    futimens(fd, &TimeSpec::UTIME_OMIT, &timespec(entry.mtime)).map_err(|err| Error::io("set times of", at, err))
}

/// The same for a symlink or special file, by name in its directory (`chmod` only for
/// special files: a symlink has no mode of its own).
fn apply_at(parent: BorrowedFd<'_>, name: &OsStr, entry: &Entry, at: &Path, chmod: bool) -> Result<()> {
    fchownat(
        parent,
        name,
        Some(Uid::from_raw(entry.uid)),
        Some(Gid::from_raw(entry.gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|err| Error::io("chown", at, err))?;
    if chmod {
        fchmodat(parent, name, Mode::from_bits_truncate(entry.mode), FchmodatFlags::FollowSymlink)
            .map_err(|err| Error::io("chmod", at, err))?;
    }
    for (key, value) in &entry.xattrs {
        xattr::set(at, key, value).map_err(|err| Error::io("set xattr on", at, err))?;
    }
    utimensat(parent, name, &TimeSpec::UTIME_OMIT, &timespec(entry.mtime), UtimensatFlags::NoFollowSymlink)
        .map_err(|err| Error::io("set times of", at, err))
}

fn timespec((secs, nanos): (i64, u32)) -> TimeSpec {
    TimeSpec::new(secs, i64::from(nanos))
}
