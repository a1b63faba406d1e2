//! The spec sections this crate owns: `[groups.*]`, `[users.*]` and `[[directories]]`.

use std::collections::BTreeMap;

use jts_core::AbsPath;
use serde::Deserialize;
use serde_spanned::Spanned;

use crate::acl::{AclEntry, Perms};
use crate::deferred::Deferred;
use jts_core::Mode;
use jts_core::Principal;

/// The default login shell of service accounts.
pub const NOLOGIN: &str = "/usr/sbin/nologin";
/// The default home of service accounts; never created.
pub const NO_HOME: &str = "/nonexistent";
/// The default mode of a directory, as in `systemd-tmpfiles`.
pub const DEFAULT_DIR_MODE: Mode = Mode::new(0o755);

/// `[groups.NAME]`: a group, created as a system group if missing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// A fixed gid; allocated by `groupadd --system` when absent.
    pub gid: Option<u32>,
}

/// `[users.NAME]`: a system account, created if missing, never deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// A fixed uid; allocated by `useradd --system` when absent.
    pub uid: Option<u32>,
    /// The primary group; a group of the user's name is created when omitted.
    pub group: Option<Spanned<Principal>>,
    /// Supplementary groups; each must be declared or exist.
    #[serde(default)]
    pub groups: Vec<Spanned<Deferred<Principal>>>,
    /// The home directory (default `/nonexistent`); never created.
    pub home: Option<AbsPath>,
    /// The login shell (default `/usr/sbin/nologin`).
    pub shell: Option<AbsPath>,
    /// The GECOS comment.
    pub comment: Option<String>,
}

/// `[[directories]]`: a directory with exact owner, group, mode and ACL.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectorySpec {
    /// Absolute path.
    pub path: Spanned<AbsPath>,
    /// Owner, by name or uid (default root).
    pub owner: Option<Spanned<Principal>>,
    /// Group, by name or gid (default root).
    pub group: Option<Spanned<Principal>>,
    /// Mode as an octal string (default `"0755"`).
    pub mode: Option<Mode>,
    /// Access and default ACL entries beyond what `mode` says.
    #[serde(default)]
    pub acl: Vec<Spanned<Deferred<AclEntry>>>,
    /// Plain child names that get the same owner, group, mode, ACL and `recursive`.
    #[serde(default)]
    pub children: Vec<Spanned<String>>,
    /// Also fix owner, group and mode of everything already inside.
    #[serde(default)]
    pub recursive: bool,
    /// systemd units that must not start before this directory's mount (e.g.
    /// `docker.service` for a container's bind-mounted data): each gets a
    /// `RequiresMountsFor=` drop-in for the path.
    #[serde(default)]
    pub required_by: Vec<Spanned<String>>,
    /// What `verify access` expects a user to have here, overriding what owner, mode and
    /// ACL give: `{ postgres = "rwx", backup = "r-x", kafka = "---" }`.
    #[serde(default)]
    pub access: BTreeMap<String, Spanned<Deferred<Perms>>>,
}

/// The three sections together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermsSpec {
    /// `[groups.*]`.
    #[serde(default)]
    pub groups: BTreeMap<String, Spanned<GroupSpec>>,
    /// `[users.*]`.
    #[serde(default)]
    pub users: BTreeMap<String, Spanned<UserSpec>>,
    /// `[[directories]]`.
    #[serde(default)]
    pub directories: Vec<DirectorySpec>,
}

/// A user with its defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The login name.
    pub name: String,
    /// A fixed uid, if the spec gives one.
    pub uid: Option<u32>,
    /// The primary group.
    pub group: Principal,
    /// Supplementary groups.
    pub groups: Vec<Principal>,
    /// Home directory, and whether the spec set it (then it is enforced on existing users).
    pub home: (AbsPath, bool),
    /// Login shell, and whether the spec set it.
    pub shell: (AbsPath, bool),
    /// Comment, if the spec set one (then it is enforced).
    pub comment: Option<String>,
}

/// One directory to manage, with children expanded and defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directory {
    /// Where.
    pub path: AbsPath,
    /// Owner.
    pub owner: Principal,
    /// Group.
    pub group: Principal,
    /// Mode.
    pub mode: Mode,
    /// ACL entries, access and default.
    pub acl: Vec<AclEntry>,
    /// Fix existing contents too.
    pub recursive: bool,
    /// `verify access` overrides by user name (parsed entries only).
    pub access: BTreeMap<String, Perms>,
}

impl PermsSpec {
    /// The users with defaults filled in, by name.
    pub fn users(&self) -> Vec<User> {
        self.users
            .iter()
            .map(|(name, spec)| {
                let spec = spec.get_ref();
                let default_path = |value: &Option<AbsPath>, fallback: &str| match value {
                    Some(path) => (path.clone(), true),
                    None => (AbsPath::new(fallback).expect("constant path is valid"), false),
                };
                User {
                    name: name.clone(),
                    uid: spec.uid,
                    group: spec.group.as_ref().map_or_else(|| Principal::Name(name.clone()), |g| g.get_ref().clone()),
                    groups: spec.groups.iter().filter_map(|g| g.get_ref().value().cloned()).collect(),
                    home: default_path(&spec.home, NO_HOME),
                    shell: default_path(&spec.shell, NOLOGIN),
                    comment: spec.comment.clone(),
                }
            })
            .collect()
    }

    /// Every group to create if missing: the declared ones, then users' implicit primary
    /// groups (named after the user) that are not declared. Sorted by name.
    pub fn groups_to_ensure(&self) -> BTreeMap<String, Option<u32>> {
        let mut groups: BTreeMap<String, Option<u32>> =
            self.groups.iter().map(|(name, spec)| (name.clone(), spec.get_ref().gid)).collect();
        for (name, user) in &self.users {
            if user.get_ref().group.is_none() {
                groups.entry(name.clone()).or_insert(None);
            }
        }
        groups
    }

    /// Every directory with children expanded and defaults filled in, sorted by path.
    /// Invalid child names are skipped here; [`crate::check()`] reports them.
    pub fn directories(&self) -> Vec<Directory> {
        let mut all = Vec::new();
        for spec in &self.directories {
            let base = Directory {
                path: spec.path.get_ref().clone(),
                owner: spec.owner.as_ref().map_or(Principal::ROOT, |o| o.get_ref().clone()),
                group: spec.group.as_ref().map_or(Principal::ROOT, |g| g.get_ref().clone()),
                mode: spec.mode.unwrap_or(DEFAULT_DIR_MODE),
                acl: spec.acl.iter().filter_map(|entry| entry.get_ref().value().cloned()).collect(),
                recursive: spec.recursive,
                access: spec
                    .access
                    .iter()
                    .filter_map(|(user, perms)| Some((user.clone(), *perms.get_ref().value()?)))
                    .collect(),
            };
            for child in &spec.children {
                if let Ok(path) = base.path.join_child(child.get_ref()) {
                    all.push(Directory { path, ..base.clone() });
                }
            }
            all.push(base);
        }
        all.sort_by(|a, b| a.path.cmp(&b.path));
        all
    }
}
