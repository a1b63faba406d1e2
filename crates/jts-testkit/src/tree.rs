//! Snapshots of directory trees: to prove that nothing was touched, and to compare the
//! files a move must keep intact.

use std::collections::BTreeMap;
use std::fs::Metadata;
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Visits `dir` itself (as `""`) and everything below it, by relative path, never
/// following symlinks. Entries that vanish during the walk (a file renamed while a run
/// goes on) are left out; any other error fails the test.
fn walk(dir: &Path, mut visit: impl FnMut(PathBuf, &Path, &Metadata)) {
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        // Not `dir.join("")`: its trailing slash would follow a symlink at `dir`.
        let path = if relative.as_os_str().is_empty() { dir.to_path_buf() } else { dir.join(&relative) };
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(err) if err.kind() == ErrorKind::NotFound => continue,
            Err(err) => panic!("{}: {err}", path.display()),
        };
        if meta.is_dir() {
            let entries = match std::fs::read_dir(&path) {
                Ok(entries) => entries,
                Err(err) if err.kind() == ErrorKind::NotFound => continue,
                Err(err) => panic!("read_dir {}: {err}", path.display()),
            };
            for entry in entries {
                let entry = entry.unwrap_or_else(|err| panic!("read_dir {}: {err}", path.display()));
                stack.push(relative.join(entry.file_name()));
            }
        }
        visit(relative, &path, &meta);
    }
}

/// What a [`snapshot`] records of one entry: everything a change would show, ctime included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inode {
    /// `d`, `f`, `l` or `?`.
    pub kind: char,
    /// The inode number.
    pub ino: u64,
    /// Mode bits including the type.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size.
    pub size: u64,
    /// mtime, seconds and nanoseconds.
    pub mtime: (i64, i64),
    /// ctime, seconds and nanoseconds: changes on any chmod, chown, ACL or content change.
    pub ctime: (i64, i64),
    /// A symlink's target.
    pub target: Option<PathBuf>,
    /// A regular file's contents.
    pub contents: Option<Vec<u8>>,
}

/// Every entry below `dir` (and `dir` itself, as ""), by relative path, never following
/// symlinks. A missing `dir` gives an empty map.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Inode> {
    let mut all = BTreeMap::new();
    walk(dir, |relative, path, meta| {
        let kind = if meta.file_type().is_symlink() {
            'l'
        } else if meta.is_dir() {
            'd'
        } else if meta.is_file() {
            'f'
        } else {
            '?'
        };
        let inode = Inode {
            kind,
            ino: meta.ino(),
            mode: meta.mode(),
            uid: meta.uid(),
            gid: meta.gid(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            target: (kind == 'l').then(|| std::fs::read_link(path).expect("read_link")),
            contents: (kind == 'f').then(|| std::fs::read(path).expect("read file")),
        };
        all.insert(relative, inode);
    });
    all
}

/// Asserts two snapshots are equal, naming every entry removed, changed or created.
#[track_caller]
pub fn assert_same_snapshot(before: &BTreeMap<PathBuf, Inode>, after: &BTreeMap<PathBuf, Inode>, what: &str) {
    if before == after {
        return;
    }
    let mut differences = Vec::new();
    for (path, old) in before {
        match after.get(path) {
            None => differences.push(format!("removed: {}", path.display())),
            Some(new) if new != old => {
                differences.push(format!("changed: {}\n  before {old:?}\n  after  {new:?}", path.display()))
            }
            Some(_) => {}
        }
    }
    for path in after.keys().filter(|p| !before.contains_key(*p)) {
        differences.push(format!("created: {}", path.display()));
    }
    panic!("{what} changed:\n{}", differences.join("\n"));
}

/// What a move must keep of a regular file: content (blake3), size, permission bits,
/// owner and mtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// blake3 of the content, in hex.
    pub hash: String,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits (`mode & 0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// mtime, seconds and nanoseconds.
    pub mtime: (i64, i64),
}

/// The [`FileMeta`] of `path`, which must be a regular file.
#[track_caller]
pub fn file_meta(path: &Path) -> FileMeta {
    let meta = std::fs::symlink_metadata(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    assert!(meta.is_file(), "{} is not a regular file", path.display());
    let content = std::fs::read(path).unwrap_or_else(|err| panic!("read {}: {err}", path.display()));
    FileMeta {
        hash: blake3::hash(&content).to_hex().to_string(),
        size: meta.size(),
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        mtime: (meta.mtime(), meta.mtime_nsec()),
    }
}

/// A directory's permission bits and owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirMeta {
    /// Permission bits (`mode & 0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

/// Every regular file and directory below a directory, by relative path (the directory
/// itself is `""`).
#[derive(Debug, Default)]
pub struct Tree {
    /// The files.
    pub files: BTreeMap<PathBuf, FileMeta>,
    /// The directories.
    pub dirs: BTreeMap<PathBuf, DirMeta>,
}

/// The [`Tree`] below `dir`, never following symlinks. Anything but a file or a directory
/// fails the test; entries that vanish during the walk are left out.
#[track_caller]
pub fn tree(dir: &Path) -> Tree {
    let mut out = Tree::default();
    walk(dir, |relative, path, meta| {
        if meta.is_dir() {
            out.dirs.insert(relative, DirMeta { mode: meta.mode() & 0o7777, uid: meta.uid(), gid: meta.gid() });
        } else {
            out.files.insert(relative, file_meta(path));
        }
    });
    out
}

/// The relative path of everything below `dir` that is not a directory, never following
/// symlinks; entries that vanish meanwhile are left out. Reads no content: cheap enough
/// to poll while a run goes on.
pub fn file_paths(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(dir, |relative, _, meta| {
        if !meta.is_dir() {
            out.push(relative);
        }
    });
    out
}

/// The prefix of the mover's temporary file names.
pub const MOVER_TEMP_PREFIX: &str = ".jts-tmp.";

/// Whether `path` names one of the mover's temporaries (`.jts-tmp.*`).
pub fn is_mover_temporary(path: &Path) -> bool {
    path.file_name().is_some_and(|name| name.to_string_lossy().starts_with(MOVER_TEMP_PREFIX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_holds_files_and_directories_and_a_snapshot_sees_a_chmod() {
        let dir = crate::scratch::tempdir();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a"), "a").unwrap();
        std::fs::write(dir.path().join(".jts-tmp.x"), "").unwrap();
        let found = tree(dir.path());
        assert_eq!(found.dirs.keys().collect::<Vec<_>>(), [Path::new(""), Path::new("sub")]);
        assert_eq!(found.files[Path::new("sub/a")].hash, blake3::hash(b"a").to_hex().to_string());
        let mut paths = file_paths(dir.path());
        paths.sort();
        assert_eq!(paths, [PathBuf::from(".jts-tmp.x"), PathBuf::from("sub/a")]);
        assert!(is_mover_temporary(&paths[0]) && !is_mover_temporary(&paths[1]));

        let before = snapshot(dir.path());
        crate::perms::chmod(&dir.path().join("sub/a"), 0o600);
        let after = snapshot(dir.path());
        let outcome = std::panic::catch_unwind(|| assert_same_snapshot(&before, &after, "the tree"));
        let message = *outcome.unwrap_err().downcast::<String>().unwrap();
        assert!(message.starts_with("the tree changed:\nchanged: sub/a"), "{message}");
    }
}
