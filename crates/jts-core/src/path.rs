//! Spec paths ([`AbsPath`]) and re-rooting them under `--root` ([`Root`]).

use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, Result};

/// `reason` with the fix for a path that is not absolute and plain.
macro_rules! plain {
    ($reason:literal) => {
        concat!($reason, "; write an absolute path without `.` or `..`, e.g. \"/data/jts/hot\"")
    };
}

/// The longest path the kernel takes, without its terminating NUL.
const PATH_MAX: usize = 4095;

/// The longest file name the kernel takes.
const NAME_MAX: usize = 255;

/// Checks one path component for what no filesystem accepts, or what would split our
/// line-oriented output (plans, journals, fstab): control characters and overlong names.
fn check_name(name: &[u8]) -> std::result::Result<(), &'static str> {
    if name.iter().any(|byte| byte.is_ascii_control()) {
        return Err("contains a control character (a newline, tab or NUL byte); use printable characters only");
    }
    if name.len() > NAME_MAX {
        return Err(
            "has a component longer than 255 bytes, more than any filesystem takes (NAME_MAX); use shorter names",
        );
    }
    Ok(())
}

/// An absolute path without `.`, `..` or empty components, as every spec path must be.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct AbsPath(PathBuf);

impl AbsPath {
    /// Validates `path`.
    pub fn new(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let invalid = |reason| Error::InvalidPath { path: path.clone(), reason };
        if !path.is_absolute() {
            return Err(invalid(plain!("is relative")));
        }
        let text = path.as_os_str().as_encoded_bytes();
        if text.len() > 1 && text.ends_with(b"/") {
            return Err(invalid(plain!("has a trailing slash")));
        }
        if text.len() > PATH_MAX {
            return Err(invalid(
                "is longer than 4095 bytes, more than the kernel takes (PATH_MAX); use a shorter path",
            ));
        }
        for name in text.split(|byte| *byte == b'/').skip(1).filter(|_| text.len() > 1) {
            match name {
                b"" => return Err(invalid(plain!("has an empty component"))),
                b"." => return Err(invalid(plain!("contains `.`"))),
                b".." => return Err(invalid(plain!("contains `..`"))),
                name => check_name(name).map_err(invalid)?,
            }
        }
        Ok(Self(path))
    }

    /// The path as given in the spec.
    pub fn as_path(&self) -> &Path {
        &self.0
    }

    /// Appends a relative child name, which must be plain (no `/`, `.` or `..`).
    pub fn join_child(&self, name: &str) -> Result<Self> {
        let invalid = |reason| Error::InvalidPath { path: PathBuf::from(name), reason };
        let bad = name.is_empty() || name == "." || name == ".." || name.contains('/');
        if bad {
            return Err(invalid("is not a plain child name; write a name without `/`, `.` or `..`, e.g. \"data\""));
        }
        check_name(name.as_bytes()).map_err(invalid)?;
        Self::new(self.0.join(name))
    }

    /// The parent, or `None` for `/`.
    pub fn parent(&self) -> Option<Self> {
        self.0.parent().map(|parent| Self(parent.to_path_buf()))
    }

    /// Every proper ancestor from the top down, excluding `/` itself.
    pub fn ancestors(&self) -> Vec<Self> {
        let mut found: Vec<Self> =
            self.0.ancestors().skip(1).filter(|a| *a != Path::new("/")).map(|a| Self(a.to_path_buf())).collect();
        found.reverse();
        found
    }

    /// The plain components below `/`.
    pub fn names(&self) -> impl Iterator<Item = &std::ffi::OsStr> {
        self.0.components().filter_map(|c| match c {
            Component::Normal(name) => Some(name),
            _ => None,
        })
    }
}

impl fmt::Display for AbsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.display().fmt(f)
    }
}

impl<'de> Deserialize<'de> for AbsPath {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::new(PathBuf::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// Where the managed system lives: `/` on a host, or a scratch directory under `--root`.
///
/// Every spec path, `/etc/passwd`, `/etc/group` and the journal are re-rooted under it,
/// in the manner of `systemd-tmpfiles --root` and `useradd --prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    dir: PathBuf,
}

impl Default for Root {
    fn default() -> Self {
        Self::host()
    }
}

impl Root {
    /// The running host, `/`.
    pub fn host() -> Self {
        Self { dir: PathBuf::from("/") }
    }

    /// A re-rooted system under `dir`, which must be absolute.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        if !dir.is_absolute() {
            return Err(Error::InvalidPath { path: dir, reason: "is relative (--root needs an absolute directory)" });
        }
        Ok(Self { dir })
    }

    /// The root directory itself.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `true` when managing the running host.
    pub fn is_host(&self) -> bool {
        self.dir == Path::new("/")
    }

    /// The directory to pass as `--prefix` to shadow's tools, or `None` on the host.
    pub fn prefix(&self) -> Option<&Path> {
        (!self.is_host()).then_some(self.dir.as_path())
    }

    /// Where `path` lives on this machine.
    pub fn resolve(&self, path: &AbsPath) -> PathBuf {
        let relative = path.as_path().strip_prefix("/").unwrap_or(path.as_path());
        self.dir.join(relative)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_normal_absolute_paths() {
        assert!(AbsPath::new("/data/jts/hot").is_ok());
        assert!(AbsPath::new("/").is_ok());
    }

    #[test]
    fn rejects_what_the_kernel_or_our_line_output_cannot_take() {
        for bad in ["/data/a\nb", "/data/a\0b", "/data/tab\there"] {
            let err = AbsPath::new(bad).unwrap_err().to_string();
            assert!(err.contains("control character"), "{bad:?}: {err}");
        }
        let long = format!("/data/{}", "x".repeat(256));
        assert!(AbsPath::new(&long).unwrap_err().to_string().contains("NAME_MAX"));
        assert!(AbsPath::new(format!("/data/{}", "x".repeat(255))).is_ok());
        let deep = "/abcdefgh".repeat(512);
        assert!(AbsPath::new(&deep).unwrap_err().to_string().contains("PATH_MAX"));
        let parent = AbsPath::new("/data").unwrap();
        assert!(parent.join_child("a\nb").unwrap_err().to_string().contains("control character"));
        assert!(parent.join_child(&"y".repeat(300)).unwrap_err().to_string().contains("NAME_MAX"));
    }

    #[test]
    fn rejects_relative_dot_dot_and_sloppy_paths() {
        for (bad, why) in [
            ("data/jts", "relative"),
            ("/data/../etc", "`..`"),
            ("/data/./x", "`.`"),
            ("/data//x", "empty component"),
            ("/data/x/", "trailing slash"),
            ("/data/..", "`..`"),
        ] {
            let err = AbsPath::new(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn ancestors_run_top_down_without_slash() {
        let path = AbsPath::new("/a/b/c").unwrap();
        let names: Vec<String> = path.ancestors().iter().map(ToString::to_string).collect();
        assert_eq!(names, ["/a", "/a/b"]);
    }

    #[test]
    fn root_resolves_and_prefixes() {
        let root = Root::new("/tmp/x").unwrap();
        assert_eq!(root.resolve(&AbsPath::new("/etc/passwd").unwrap()), Path::new("/tmp/x/etc/passwd"));
        assert_eq!(root.prefix(), Some(Path::new("/tmp/x")));
        assert_eq!(Root::host().prefix(), None);
        assert!(Root::new("tmp").is_err());
    }

    #[test]
    fn child_names_must_be_plain() {
        let base = AbsPath::new("/a").unwrap();
        assert_eq!(base.join_child("data").unwrap().to_string(), "/a/data");
        for bad in ["", ".", "..", "x/y"] {
            assert!(base.join_child(bad).is_err(), "{bad}");
        }
    }
}
