//! The account database: `/etc/passwd` and `/etc/group` under the root, read as files
//! (as `useradd --prefix` does), never through NSS.

use std::collections::BTreeMap;
use std::path::PathBuf;

use jts_core::Root;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::step::SEED_ACCOUNT_FILES;
use jts_core::Principal;

/// A user as `/etc/passwd` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEntry {
    /// The numeric user id.
    pub uid: u32,
    /// The primary group id.
    pub gid: u32,
    /// The GECOS comment.
    #[serde(default)]
    pub comment: String,
    /// The home directory.
    pub home: String,
    /// The login shell.
    pub shell: String,
}

/// A group as `/etc/group` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupEntry {
    /// The numeric group id.
    pub gid: u32,
    /// Supplementary members, by user name.
    #[serde(default)]
    pub members: Vec<String>,
}

/// Users and groups of one root.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accounts {
    /// Whether `/etc/passwd` and `/etc/group` exist at all (a fresh `--root` has neither).
    pub files_present: bool,
    /// Users by name.
    pub users: BTreeMap<String, UserEntry>,
    /// Groups by name.
    pub groups: BTreeMap<String, GroupEntry>,
}

/// The lowest id `useradd --system` hands out, as in Debian's login.defs.
const SYSTEM_ID_MIN: u32 = 100;
/// The highest id `useradd --system` hands out.
const SYSTEM_ID_MAX: u32 = 999;

impl Accounts {
    /// Reads the account files under `root`; missing files give an empty database.
    pub fn read(root: &Root) -> Result<Self> {
        let passwd = read_optional(root, "/etc/passwd")?;
        let group = read_optional(root, "/etc/group")?;
        let files_present = passwd.is_some() && group.is_some();
        let mut accounts = Self { files_present, ..Self::default() };
        // A root without account files gets the seed files, holding root, before any
        // account is made: root (uid and gid 0) always resolves, and is always taken.
        let seed = |file: &str| SEED_ACCOUNT_FILES.iter().find(|(path, ..)| *path == file).map(|(_, text, _)| *text);
        accounts.users = parse_passwd(passwd.as_deref().or_else(|| seed("/etc/passwd")).unwrap_or_default());
        accounts.groups = parse_group(group.as_deref().or_else(|| seed("/etc/group")).unwrap_or_default());
        Ok(accounts)
    }

    /// The uid of a principal; `None` if the name is unknown.
    pub fn uid(&self, principal: &Principal) -> Option<u32> {
        match principal {
            Principal::Id(id) => Some(*id),
            Principal::Name(name) => self.users.get(name).map(|user| user.uid),
        }
    }

    /// The gid of a principal; `None` if the name is unknown.
    pub fn gid(&self, principal: &Principal) -> Option<u32> {
        match principal {
            Principal::Id(id) => Some(*id),
            Principal::Name(name) => self.groups.get(name).map(|group| group.gid),
        }
    }

    /// The names of the groups that list `user` as a supplementary member.
    pub fn memberships(&self, user: &str) -> Vec<&str> {
        self.groups.iter().filter(|(_, g)| g.members.iter().any(|m| m == user)).map(|(n, _)| n.as_str()).collect()
    }

    /// The id `useradd --system` / `groupadd --system` would pick: the highest free one.
    pub fn next_system_uid(&self) -> u32 {
        highest_free(self.users.values().map(|u| u.uid))
    }

    /// The gid `groupadd --system` would pick.
    pub fn next_system_gid(&self) -> u32 {
        highest_free(self.groups.values().map(|g| g.gid))
    }
}

fn highest_free(used: impl Iterator<Item = u32>) -> u32 {
    let used: std::collections::BTreeSet<u32> = used.collect();
    (SYSTEM_ID_MIN..=SYSTEM_ID_MAX).rev().find(|id| !used.contains(id)).unwrap_or(SYSTEM_ID_MIN)
}

fn read_optional(root: &Root, path: &str) -> Result<Option<String>> {
    let file: PathBuf = root.dir().join(path.trim_start_matches('/'));
    match std::fs::read_to_string(&file) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::AccountDb { path: file, source }),
    }
}

fn records(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with(['#', '+', '-']))
        .map(|l| l.split(':').collect())
}

/// Parses `/etc/passwd`; malformed lines are skipped.
pub fn parse_passwd(text: &str) -> BTreeMap<String, UserEntry> {
    records(text)
        .filter_map(|fields| match fields[..] {
            [name, _, uid, gid, comment, home, shell] => Some((
                name.to_owned(),
                UserEntry {
                    uid: uid.parse().ok()?,
                    gid: gid.parse().ok()?,
                    comment: comment.to_owned(),
                    home: home.to_owned(),
                    shell: shell.to_owned(),
                },
            )),
            _ => None,
        })
        .collect()
}

/// Parses `/etc/group`; malformed lines are skipped.
pub fn parse_group(text: &str) -> BTreeMap<String, GroupEntry> {
    records(text)
        .filter_map(|fields| match fields[..] {
            [name, _, gid, members] => Some((
                name.to_owned(),
                GroupEntry {
                    gid: gid.parse().ok()?,
                    members: members.split(',').filter(|m| !m.is_empty()).map(str::to_owned).collect(),
                },
            )),
            _ => None,
        })
        .collect()
}

/// Resolves a user to its uid from the database on disk, at execution time.
pub fn resolve_uid(root: &Root, principal: &Principal) -> Result<u32> {
    Accounts::read(root)?.uid(principal).ok_or_else(|| Error::Unresolved {
        kind: "user",
        name: principal.to_string(),
        db: root.dir().join("etc/passwd"),
    })
}

/// Resolves a group to its gid from the database on disk, at execution time.
pub fn resolve_gid(root: &Root, principal: &Principal) -> Result<u32> {
    Accounts::read(root)?.gid(principal).ok_or_else(|| Error::Unresolved {
        kind: "group",
        name: principal.to_string(),
        db: root.dir().join("etc/group"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n# comment\npostgres:x:2100:2100:PostgreSQL service:/var/lib/postgresql:/usr/sbin/nologin\nbroken line\n";
    const GROUP: &str = "root:x:0:\nbackup:x:34:postgres,kafka\npostgres:x:2100:\n";

    #[test]
    fn parses_passwd_and_group() {
        let users = parse_passwd(PASSWD);
        assert_eq!(users.len(), 2);
        assert_eq!(users["postgres"].uid, 2100);
        assert_eq!(users["postgres"].comment, "PostgreSQL service");
        let groups = parse_group(GROUP);
        assert_eq!(groups["backup"].members, ["postgres", "kafka"]);
        assert!(groups["root"].members.is_empty());
    }

    #[test]
    fn resolves_names_and_numbers() {
        let accounts = Accounts { files_present: true, users: parse_passwd(PASSWD), groups: parse_group(GROUP) };
        assert_eq!(accounts.uid(&Principal::Name("postgres".into())), Some(2100));
        assert_eq!(accounts.uid(&Principal::Id(7)), Some(7));
        assert_eq!(accounts.gid(&Principal::Name("nobody".into())), None);
        assert_eq!(accounts.memberships("kafka"), ["backup"]);
    }

    #[test]
    fn allocates_highest_free_system_id() {
        let mut accounts = Accounts::default();
        assert_eq!(accounts.next_system_gid(), 999);
        accounts.groups.insert("a".into(), GroupEntry { gid: 999, members: vec![] });
        assert_eq!(accounts.next_system_gid(), 998);
    }
}
