//! Spec paths ([`AbsPath`]) and re-rooting them under `--root` ([`Root`]).

use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, Result};

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
            return Err(invalid("is relative"));
        }
        let text = path.as_os_str().as_encoded_bytes();
        if text.len() > 1 && text.ends_with(b"/") {
            return Err(invalid("has a trailing slash"));
        }
        for name in text.split(|byte| *byte == b'/').skip(1).filter(|_| text.len() > 1) {
            match name {
                b"" => return Err(invalid("has an empty component")),
                b"." => return Err(invalid("contains `.`")),
                b".." => return Err(invalid("contains `..`")),
                _ => {}
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
        let bad = name.is_empty() || name == "." || name == ".." || name.contains('/');
        if bad {
            return Err(Error::InvalidPath {
                path: PathBuf::from(name),
                reason: "is not a plain child name (no `/`, `.` or `..`)",
            });
        }
        Ok(Self(self.0.join(name)))
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
