//! Walking spec paths under a [`Root`] without ever following a symlink.
//!
//! Every component is opened with `openat(…, O_PATH | O_NOFOLLOW)` relative to its
//! parent's descriptor, so a symlink planted anywhere on the way is seen and refused,
//! never followed, and no path is looked up twice. Changes go through the descriptor
//! ([`Node::chown`], [`Node::chmod`]), not through the path.

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, mkdirat};
use nix::unistd::{Gid, Uid, fchownat};

use crate::error::{Error, Result};
use crate::path::{AbsPath, Root};

/// The kind of file found at a path, as `lstat` would say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A directory.
    Directory,
    /// A regular file.
    File,
    /// A symbolic link.
    Symlink,
    /// A device, FIFO or socket.
    Special,
}

impl FileKind {
    /// The kind of file a `stat` describes.
    pub fn of(stat: &FileStat) -> Self {
        match SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT {
            SFlag::S_IFDIR => Self::Directory,
            SFlag::S_IFREG => Self::File,
            SFlag::S_IFLNK => Self::Symlink,
            _ => Self::Special,
        }
    }

    /// A human name: `"directory"`, `"regular file"`, `"symlink"` or `"special file"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Directory => "directory",
            Self::File => "regular file",
            Self::Symlink => "symlink",
            Self::Special => "special file",
        }
    }
}

/// An open `O_PATH` descriptor of one file that was reached without following symlinks.
#[derive(Debug)]
pub struct Node {
    fd: OwnedFd,
    stat: FileStat,
    path: PathBuf,
}

impl Node {
    fn open_at(parent: impl AsFd, name: &OsStr, path: PathBuf) -> nix::Result<Self> {
        let fd = openat(parent, name, OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())?;
        let stat = fstat(&fd)?;
        Ok(Self { fd, stat, path })
    }

    /// The path on this machine, for messages.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// What the file is.
    pub fn kind(&self) -> FileKind {
        FileKind::of(&self.stat)
    }

    /// The `stat` taken when the node was opened.
    pub fn stat(&self) -> &FileStat {
        &self.stat
    }

    /// The permission bits, including setuid, setgid and sticky (`st_mode & 0o7777`).
    pub fn mode(&self) -> u32 {
        self.stat.st_mode & 0o7777
    }

    /// A path that names exactly this open file, for calls that take no descriptor.
    pub fn proc_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }

    /// Opens the plain child `name` of this directory, not following a symlink there.
    pub fn child(&self, name: &OsStr) -> Result<Option<Self>> {
        let path = self.path.join(name);
        match Self::open_at(&self.fd, name, path.clone()) {
            Ok(node) => Ok(Some(node)),
            Err(Errno::ENOENT) => Ok(None),
            Err(err) => Err(Error::io("open", path, err)),
        }
    }

    /// `lstat`s the child `name` of this directory without opening it.
    pub fn stat_child(&self, name: &OsStr) -> Result<Option<FileStat>> {
        match nix::sys::stat::fstatat(&self.fd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(Some(stat)),
            Err(Errno::ENOENT) => Ok(None),
            Err(err) => Err(Error::io("stat", self.path.join(name), err)),
        }
    }

    /// Creates the directory `name` in this directory with `mode` (before the umask).
    pub fn mkdir(&self, name: &OsStr, mode: u32) -> Result<Self> {
        let path = self.path.join(name);
        mkdirat(&self.fd, name, Mode::from_bits_truncate(mode)).map_err(|err| Error::io("mkdir", &path, err))?;
        Self::open_at(&self.fd, name, path.clone()).map_err(|err| Error::io("open", path, err))
    }

    /// Changes owner and group of this very file (`fchownat(fd, "", AT_EMPTY_PATH)`).
    pub fn chown(&self, uid: Option<u32>, gid: Option<u32>) -> Result<()> {
        fchownat(&self.fd, "", uid.map(Uid::from_raw), gid.map(Gid::from_raw), AtFlags::AT_EMPTY_PATH)
            .map_err(|err| Error::io("chown", &self.path, err))
    }

    /// Sets the permission bits of this very file; refuses symlinks.
    ///
    /// The descriptor is an `O_PATH` one, which `fchmod` refuses, so the mode is set
    /// through its `/proc/self/fd` entry, looked up from a descriptor of that directory
    /// opened once per process: the kernel resolves one name, not four.
    pub fn chmod(&self, mode: u32) -> Result<()> {
        static PROC_FDS: std::sync::OnceLock<std::result::Result<OwnedFd, Errno>> = std::sync::OnceLock::new();
        if self.kind() == FileKind::Symlink {
            return Err(Error::NotADirectory { path: self.path.clone(), found: "symlink" });
        }
        let fds = PROC_FDS.get_or_init(|| {
            nix::fcntl::open("/proc/self/fd", OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        });
        let fds = fds.as_ref().map_err(|err| Error::io("open", "/proc/self/fd", *err))?;
        let entry = self.fd.as_raw_fd().to_string();
        let mode = Mode::from_bits_truncate(mode);
        nix::sys::stat::fchmodat(fds, entry.as_str(), mode, nix::sys::stat::FchmodatFlags::FollowSymlink)
            .map_err(|err| Error::io("chmod", &self.path, err))
    }

    /// Reads the target of this symlink (never following it).
    pub fn read_link(&self) -> Result<std::ffi::OsString> {
        nix::fcntl::readlinkat(&self.fd, "").map_err(|err| Error::io("readlink", &self.path, err))
    }

    /// Takes a fresh `stat` of the open file.
    pub fn restat(&self) -> Result<FileStat> {
        fstat(&self.fd).map_err(|err| Error::io("stat", &self.path, err))
    }
}

/// What a walk to a spec path found.
#[derive(Debug)]
pub enum Lookup {
    /// The path exists; the node may be of any kind (a symlink is opened, not followed).
    Found(Node),
    /// The path does not exist; every existing ancestor is a real directory.
    Missing,
    /// An ancestor of the path is not a directory: a symlink or a file stands in the way.
    Blocked {
        /// The offending ancestor, as a spec path.
        at: AbsPath,
        /// What it is.
        kind: FileKind,
    },
}

/// Opens the root directory itself. The operator named it, so a symlink there is followed.
pub fn open_root(root: &Root) -> Result<Node> {
    let path = root.dir().to_path_buf();
    let fd = nix::fcntl::open(&path, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|err| Error::io("open root", &path, err))?;
    let stat = fstat(&fd).map_err(|err| Error::io("stat", &path, err))?;
    Ok(Node { fd, stat, path })
}

/// Walks from the root to `path`, one component at a time, never following a symlink.
pub fn lookup(root: &Root, path: &AbsPath) -> Result<Lookup> {
    let mut current = open_root(root)?;
    let mut spec_path = PathBuf::from("/");
    let names: Vec<&OsStr> = path.names().collect();
    for (index, name) in names.iter().enumerate() {
        spec_path.push(name);
        let Some(next) = current.child(name)? else { return Ok(Lookup::Missing) };
        let is_last = index + 1 == names.len();
        if !is_last && next.kind() != FileKind::Directory {
            return Ok(Lookup::Blocked { at: AbsPath::new(spec_path)?, kind: next.kind() });
        }
        current = next;
    }
    Ok(Lookup::Found(current))
}

/// Opens the directory at `path`, refusing a symlink or any other kind of file.
pub fn open_dir(root: &Root, path: &AbsPath) -> Result<Node> {
    match lookup(root, path)? {
        Lookup::Found(node) if node.kind() == FileKind::Directory => Ok(node),
        Lookup::Found(node) => Err(Error::NotADirectory { path: root.resolve(path), found: node.kind().name() }),
        Lookup::Blocked { at, kind } => Err(Error::NotADirectory { path: root.resolve(&at), found: kind.name() }),
        Lookup::Missing => Err(Error::io("open", root.resolve(path), Errno::ENOENT)),
    }
}

/// The mode of every missing ancestor [`create_dir_all`] makes: what `mkdir -p` gives
/// under the usual umask, and what a plan that creates a parent directory expects.
pub const PARENT_MODE: u32 = 0o755;

/// Creates `path` with `mode` and any missing ancestors with [`PARENT_MODE`], like
/// `mkdir -p -m MODE`, whatever the umask, but refusing to pass through a symlink.
/// Existing directories are left as they are.
pub fn create_dir_all(root: &Root, path: &AbsPath, mode: u32) -> Result<Node> {
    let mut current = open_root(root)?;
    let names: Vec<&OsStr> = path.names().collect();
    for (index, name) in names.iter().enumerate() {
        current = match current.child(name)? {
            Some(node) if node.kind() == FileKind::Directory => node,
            Some(node) => {
                let found = node.kind().name();
                return Err(Error::NotADirectory { path: node.path, found });
            }
            None => {
                let mode = if index + 1 == names.len() { mode } else { PARENT_MODE };
                let node = current.mkdir(name, mode)?;
                node.chmod(mode)?;
                node
            }
        };
    }
    Ok(current)
}

/// Opens a directory for reading, to `fsync` it or to create files in it.
pub fn reopen_dir(node: &Node) -> Result<OwnedFd> {
    openat(&node.fd, ".", OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|err| Error::io("open", &node.path, err))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn scratch() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path()).unwrap();
        (dir, root)
    }

    #[test]
    fn finds_missing_and_existing_paths() {
        let (dir, root) = scratch();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        let found = lookup(&root, &AbsPath::new("/a/b").unwrap()).unwrap();
        assert!(matches!(found, Lookup::Found(ref n) if n.kind() == FileKind::Directory));
        assert!(matches!(lookup(&root, &AbsPath::new("/a/b/c/d").unwrap()).unwrap(), Lookup::Missing));
    }

    #[test]
    fn a_symlinked_ancestor_blocks_the_walk() {
        let (dir, root) = scratch();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(outside.path().join("x")).unwrap();
        symlink(outside.path(), dir.path().join("a")).unwrap();
        let found = lookup(&root, &AbsPath::new("/a/x").unwrap()).unwrap();
        let Lookup::Blocked { at, kind } = found else { panic!("followed the symlink: {found:?}") };
        assert_eq!((at.to_string(), kind), ("/a".to_owned(), FileKind::Symlink));
        let err = create_dir_all(&root, &AbsPath::new("/a/x/y").unwrap(), 0o755).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
        assert!(!outside.path().join("x/y").exists());
    }

    #[test]
    fn a_final_symlink_is_opened_not_followed() {
        let (dir, root) = scratch();
        symlink("/etc", dir.path().join("l")).unwrap();
        let Lookup::Found(node) = lookup(&root, &AbsPath::new("/l").unwrap()).unwrap() else { panic!() };
        assert_eq!(node.kind(), FileKind::Symlink);
        assert!(node.chmod(0o700).is_err());
        assert!(open_dir(&root, &AbsPath::new("/l").unwrap()).is_err());
    }

    #[test]
    fn create_dir_all_makes_each_level() {
        let (dir, root) = scratch();
        let node = create_dir_all(&root, &AbsPath::new("/p/q/r").unwrap(), 0o750).unwrap();
        assert_eq!(node.kind(), FileKind::Directory);
        assert!(dir.path().join("p/q/r").is_dir());
        node.chmod(0o2750).unwrap();
        assert_eq!(node.restat().unwrap().st_mode & 0o7777, 0o2750);
    }

    #[test]
    fn create_dir_all_gives_missing_ancestors_the_parent_mode() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, root) = scratch();
        create_dir_all(&root, &AbsPath::new("/var/lib/jts/journal").unwrap(), 0o700).unwrap();
        let mode = |p: &str| std::fs::metadata(dir.path().join(p)).unwrap().permissions().mode() & 0o7777;
        assert_eq!([mode("var"), mode("var/lib"), mode("var/lib/jts")], [0o755; 3]);
        assert_eq!(mode("var/lib/jts/journal"), 0o700);
    }
}
