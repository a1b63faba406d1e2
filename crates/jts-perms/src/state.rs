//! [`Observed`]: what the machine has, for exactly what the spec talks about.
//!
//! It serializes to JSON (`jts-provision probe`), and `plan --state FILE` plans from such
//! a file offline, with no root and no devices.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use jts_core::AbsPath;
use serde::{Deserialize, Serialize};

use crate::accounts::Accounts;
use crate::acl::ResolvedEntry;
use jts_core::Mode;

/// The observed state of accounts and spec'd paths.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// Users and groups of the root.
    pub accounts: Accounts,
    /// Each spec'd directory and its ancestors; paths below a non-directory are absent.
    pub paths: BTreeMap<AbsPath, PathState>,
    /// Existing contents of `recursive` directories, outside other spec'd directories,
    /// each list sorted by path. Shared, not copied, when a planner clones the state to
    /// simulate steps on it: a list may hold a million entries.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub contents: BTreeMap<AbsPath, Arc<Vec<ContentEntry>>>,
}

/// What is at a path, as `lstat` sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PathState {
    /// Nothing.
    Missing,
    /// A directory.
    Directory(DirState),
    /// A symlink, never followed.
    Symlink {
        /// Where it points.
        target: String,
    },
    /// A regular file.
    File,
    /// A device, FIFO or socket.
    Special,
}

impl PathState {
    /// A short human description: `"directory"`, `"symlink -> /etc"`, ….
    pub fn describe(&self) -> String {
        match self {
            Self::Missing => "missing".into(),
            Self::Directory(_) => "directory".into(),
            Self::Symlink { target } => format!("symlink -> {target}"),
            Self::File => "regular file".into(),
            Self::Special => "special file".into(),
        }
    }
}

/// Owner, mode and ACLs of a directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirState {
    /// Owner uid.
    pub uid: u32,
    /// Group gid.
    pub gid: u32,
    /// Permission bits, including setgid and sticky.
    pub mode: Mode,
    /// The access ACL beyond what `mode` shows: `group::` and the named entries, sorted.
    /// Empty when the directory has no extended access ACL.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acl: Vec<ResolvedEntry>,
    /// The whole default ACL, sorted; empty when there is none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_acl: Vec<ResolvedEntry>,
}

/// One file or directory inside a `recursive` directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentEntry {
    /// Path relative to the recursive directory; shared with the [`ContentFix`] planned
    /// for it, not copied.
    ///
    /// [`ContentFix`]: crate::ContentFix
    pub path: Arc<Path>,
    /// `true` for a directory, `false` for a regular file.
    pub is_dir: bool,
    /// Owner uid.
    pub uid: u32,
    /// Group gid.
    pub gid: u32,
    /// Permission bits.
    pub mode: Mode,
}
