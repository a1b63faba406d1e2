//! The mount table, and mounts unmounted on drop.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::run::{Run, tool};

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// Where it is mounted (octal escapes decoded).
    pub mount_point: String,
    /// The filesystem type, e.g. `ext4` or `nfs4`.
    pub fstype: String,
    /// What is mounted: a device, `server:/path`, ... (octal escapes decoded).
    pub source: String,
    /// The per-mount options followed by the superblock options.
    pub options: Vec<String>,
}

/// Decodes the `\ooo` escapes of a mountinfo or fstab field (`\040` is a space).
pub fn unescape(field: &str) -> String {
    let mut out = String::new();
    let mut rest = field;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        match rest.get(at + 1..at + 4).and_then(|octal| u8::from_str_radix(octal, 8).ok()) {
            Some(byte) => {
                out.push(char::from(byte));
                rest = &rest[at + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Every mount of this process's namespace, in mount order.
pub fn mountinfo() -> Vec<MountEntry> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").expect("read /proc/self/mountinfo");
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let right: Vec<&str> = right.split(' ').collect();
            let mut options: Vec<String> = left.get(5)?.split(',').map(str::to_owned).collect();
            options.extend(right.get(2).unwrap_or(&"").split(',').map(str::to_owned));
            Some(MountEntry {
                mount_point: unescape(left.get(4)?),
                fstype: (*right.first()?).to_owned(),
                source: unescape(right.get(1)?),
                options,
            })
        })
        .collect()
}

/// The topmost mount at `mount_point`, if any.
pub fn mounted_at(mount_point: impl AsRef<Path>) -> Option<MountEntry> {
    mountinfo().into_iter().rev().find(|m| Path::new(&m.mount_point) == mount_point.as_ref())
}

/// The mount points at or below `dir`, deepest first (each once).
pub fn mounted_below(dir: impl AsRef<Path>) -> Vec<String> {
    let mut found: Vec<String> =
        mountinfo().into_iter().map(|m| m.mount_point).filter(|mp| Path::new(mp).starts_with(dir.as_ref())).collect();
    found.sort_by_key(|mp| std::cmp::Reverse(Path::new(mp).components().count()));
    found.dedup();
    found
}

/// Unmounts `at`, lazily (`umount -l`) when it is busy; never panics on a failure, so it
/// is safe in `Drop`. Returns whether the plain `umount` succeeded.
pub fn unmount(at: &Path) -> bool {
    if tool("umount", &[at]).code == 0 {
        return true;
    }
    let _ = tool("umount", &["-l".as_ref(), at.as_os_str()]);
    false
}

/// Unmounts everything at or below `dir`, deepest first (see [`unmount`]).
pub fn unmount_below(dir: impl AsRef<Path>) {
    for mount_point in mounted_below(dir) {
        unmount(Path::new(&mount_point));
    }
}

/// A mount, unmounted on drop (lazily when busy; not at all when already gone).
#[derive(Debug)]
pub struct Mount {
    at: PathBuf,
}

impl Mount {
    /// `mount [-t FSTYPE] [-o OPTIONS] SOURCE AT`; the failed run when the kernel refuses.
    pub fn try_new(
        source: impl AsRef<OsStr>,
        at: &Path,
        fstype: Option<&str>,
        options: &[impl AsRef<str>],
    ) -> Result<Self, Run> {
        let joined = options.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(",");
        let mut args: Vec<&OsStr> = Vec::new();
        if let Some(fstype) = fstype {
            args.extend(["-t".as_ref(), OsStr::new(fstype)]);
        }
        if !joined.is_empty() {
            args.extend(["-o".as_ref(), OsStr::new(&joined)]);
        }
        args.extend([source.as_ref(), at.as_os_str()]);
        let run = tool("mount", &args);
        if run.code == 0 { Ok(Self { at: at.to_path_buf() }) } else { Err(run) }
    }

    /// Like [`Mount::try_new`], asserting the mount succeeds.
    #[track_caller]
    pub fn new(source: impl AsRef<OsStr>, at: &Path, fstype: Option<&str>, options: &[impl AsRef<str>]) -> Self {
        Self::try_new(source, at, fstype, options).unwrap_or_else(|run| panic!("mount failed:{run:?}"))
    }

    /// A tmpfs of `size` (e.g. `"64m"`) at `at`, which must exist.
    #[track_caller]
    pub fn tmpfs(at: &Path, size: &str) -> Self {
        Self::new("tmpfs", at, Some("tmpfs"), &[format!("size={size}")])
    }

    /// Takes charge of unmounting `at`, mounted by someone else (the code under test).
    pub fn adopt(at: impl Into<PathBuf>) -> Self {
        Self { at: at.into() }
    }

    /// The mount point.
    pub fn at(&self) -> &Path {
        &self.at
    }

    /// The options the kernel reports for this mount (per-mount and superblock).
    #[track_caller]
    pub fn options(&self) -> Vec<String> {
        mounted_at(&self.at).unwrap_or_else(|| panic!("{} is not mounted", self.at.display())).options
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if mounted_at(&self.at).is_some() {
            unmount(&self.at);
        }
    }
}

/// Unmounts everything at or below a directory on drop, deepest first: for a scratch
/// `--root` under which the code under test mounts.
#[derive(Debug)]
pub struct UnmountBelow(pub PathBuf);

impl Drop for UnmountBelow {
    fn drop(&mut self) {
        unmount_below(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_fields_are_unescaped() {
        assert_eq!(unescape(r"/mnt/with\040space\011tab"), "/mnt/with space\ttab");
        assert_eq!(unescape(r"trailing\\"), r"trailing\\");
    }

    #[test]
    fn the_root_is_mounted_and_everything_is_below_it() {
        assert!(mounted_at("/").is_some(), "{:#?}", mountinfo());
        assert_eq!(mounted_below("/").last().map(String::as_str), Some("/"));
    }
}
