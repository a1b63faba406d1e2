//! The kernel's permission check for a directory (owner, then named user, then group
//! class, then others; the ACL mask limiting all but the owner and others), and what the
//! spec says each user should get.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::accounts::Accounts;
use crate::acl::{Perms, Tag};
use crate::desired::{AclKind, full_acl};
use crate::spec::{Directory, PermsSpec};
use crate::state::DirState;

/// A user as the kernel sees it: uid, primary gid and supplementary gids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The login name.
    pub name: String,
    /// The uid.
    pub uid: u32,
    /// The primary gid.
    pub gid: u32,
    /// The supplementary gids, from `/etc/group`.
    pub groups: Vec<u32>,
}

impl Identity {
    fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }
}

/// The spec's users that exist in `accounts`, as identities (root left out: the kernel
/// lets it do anything), and the names of those that do not exist yet.
pub fn identities(spec: &PermsSpec, accounts: &Accounts) -> (Vec<Identity>, Vec<String>) {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for name in spec.users.keys() {
        let Some(user) = accounts.users.get(name) else {
            missing.push(name.clone());
            continue;
        };
        if user.uid == 0 {
            continue;
        }
        let groups = accounts.memberships(name).into_iter().filter_map(|g| accounts.groups.get(g)).map(|g| g.gid);
        found.push(Identity { name: name.clone(), uid: user.uid, gid: user.gid, groups: groups.collect() });
    }
    (found, missing)
}

/// What a user can do with a directory: `r` list it, `w` create and remove entries
/// (which takes `w` and `x` together), `x` enter it and, where the probe could create a
/// file, execute one there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Access {
    /// List the entries.
    pub read: bool,
    /// Create and remove files and directories.
    pub write: bool,
    /// Enter (search) it.
    pub search: bool,
}

impl Access {
    /// No access at all.
    pub const NONE: Self = Self { read: false, write: false, search: false };

    /// The access that `rwx` permission bits give to a directory: `w` only with `x`.
    pub fn from_perms(perms: Perms) -> Self {
        Self { read: perms.0 & 4 != 0, write: perms.0 & 3 == 3, search: perms.0 & 1 != 0 }
    }

    /// What `id` may do with a directory in `state`, as the kernel decides it.
    pub fn of(state: &DirState, id: &Identity) -> Self {
        Self { read: allows(state, id, 4), write: allows(state, id, 3), search: allows(state, id, 1) }
    }

    /// The operations in `self` and not in `other`, as `"r"`, `"w"`, `"x"`.
    pub fn missing_from(self, other: Self) -> Vec<char> {
        let mut ops = Vec::new();
        for (bit, mine, theirs) in
            [('r', self.read, other.read), ('w', self.write, other.write), ('x', self.search, other.search)]
        {
            if mine && !theirs {
                ops.push(bit);
            }
        }
        ops
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bit = |on, c| if on { c } else { '-' };
        write!(f, "{}{}{}", bit(self.read, 'r'), bit(self.write, 'w'), bit(self.search, 'x'))
    }
}

impl Serialize for Access {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Access {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let perms: Perms = text.parse().map_err(serde::de::Error::custom)?;
        Ok(Self::from_perms(perms))
    }
}

/// Which class of the permission check applies to a user, with what it grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Class {
    /// The owner: the mode's owner bits.
    Owner(u8),
    /// A `user:UID:` ACL entry, limited by the mask.
    NamedUser { perms: u8, mask: u8 },
    /// The owning group or named group entries the user is in (ACL entries limited by
    /// the mask; without an ACL, the mode's group bits).
    Group { entries: Vec<(Option<u32>, u8)>, mask: Option<u8> },
    /// Everyone else: the mode's other bits.
    Other(u8),
}

impl Class {
    pub(crate) fn of(state: &DirState, id: &Identity) -> Self {
        if state.uid == id.uid {
            return Self::Owner(state.mode.user());
        }
        if state.acl.is_empty() {
            return if id.in_group(state.gid) {
                Self::Group { entries: vec![(None, state.mode.group())], mask: None }
            } else {
                Self::Other(state.mode.other())
            };
        }
        let mask = state.mode.group();
        if let Some(entry) = state.acl.iter().find(|e| e.tag == Tag::User(id.uid)) {
            return Self::NamedUser { perms: entry.perms.0, mask };
        }
        let entries: Vec<(Option<u32>, u8)> = state
            .acl
            .iter()
            .filter_map(|e| match e.tag {
                Tag::GroupObj if id.in_group(state.gid) => Some((None, e.perms.0)),
                Tag::Group(gid) if id.in_group(gid) => Some((Some(gid), e.perms.0)),
                _ => None,
            })
            .collect();
        if entries.is_empty() { Self::Other(state.mode.other()) } else { Self::Group { entries, mask: Some(mask) } }
    }

    /// Whether this class grants every bit of `want` (as one request, like the kernel).
    pub(crate) fn allows(&self, want: u8) -> bool {
        let has = |perms: u8| perms & want == want;
        match self {
            Self::Owner(perms) | Self::Other(perms) => has(*perms),
            Self::NamedUser { perms, mask } => has(perms & mask),
            Self::Group { entries, mask } => entries.iter().any(|(_, perms)| has(perms & mask.unwrap_or(7))),
        }
    }
}

/// Whether the kernel grants `want` (bits of `rwx`, asked together) on a directory.
fn allows(state: &DirState, id: &Identity, want: u8) -> bool {
    id.uid == 0 || Class::of(state, id).allows(want)
}

/// What the spec means a user to have on a directory, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expectation {
    /// The access.
    pub access: Access,
    /// Where it comes from: `"owner"`, `"access override"`, `"isolation"`, ….
    pub basis: String,
}

/// What the spec means `id` to have on `dir`: its `access` override if it names the
/// user, else what owner, group, mode and access ACL give, except that a directory owned
/// by another service user (`service_uids`) gives nothing through the others' bits: no
/// service reaches another's data. `None` when an owner or group does not exist yet.
pub fn expected(
    dir: &Directory,
    accounts: &Accounts,
    id: &Identity,
    service_uids: &BTreeSet<u32>,
) -> Option<Expectation> {
    if let Some(perms) = dir.access.get(&id.name) {
        return Some(Expectation { access: Access::from_perms(*perms), basis: "access override".into() });
    }
    let state = DirState {
        uid: accounts.uid(&dir.owner)?,
        gid: accounts.gid(&dir.group)?,
        mode: dir.mode,
        acl: full_acl(AclKind::Access, &dir.acl, dir.mode, accounts)?
            .into_iter()
            .filter(|e| matches!(e.tag, Tag::GroupObj | Tag::User(_) | Tag::Group(_)))
            .collect(),
        default_acl: Vec::new(),
    };
    let class = Class::of(&state, id);
    let access = Access::of(&state, id);
    let (access, basis) = match class {
        Class::Other(_) if service_uids.contains(&state.uid) && access != Access::NONE => {
            (Access::NONE, "isolation: another service's directory".to_owned())
        }
        Class::Owner(_) => (access, "owner".into()),
        Class::NamedUser { .. } => (access, "ACL user entry".into()),
        Class::Group { .. } => (access, "group".into()),
        Class::Other(_) => (access, "others".into()),
    };
    Some(Expectation { access, basis })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::ResolvedEntry;
    use jts_core::Mode;

    fn id(uid: u32, gid: u32, groups: &[u32]) -> Identity {
        Identity { name: format!("u{uid}"), uid, gid, groups: groups.to_vec() }
    }

    fn dir(uid: u32, gid: u32, mode: u32, acl: &[&str]) -> DirState {
        let acl = acl.iter().map(|e| e.parse::<ResolvedEntry>().unwrap()).collect();
        DirState { uid, gid, mode: Mode::new(mode), acl, default_acl: Vec::new() }
    }

    #[test]
    fn owner_group_and_others_get_their_bits() {
        let state = dir(100, 200, 0o750, &[]);
        assert_eq!(Access::of(&state, &id(100, 1, &[])).to_string(), "rwx");
        assert_eq!(Access::of(&state, &id(101, 1, &[200])).to_string(), "r-x");
        assert_eq!(Access::of(&state, &id(102, 1, &[])).to_string(), "---");
    }

    #[test]
    fn the_mask_limits_named_and_group_entries_but_not_the_owner() {
        let state = dir(100, 200, 0o740, &["group::r-x", "group:300:rwx", "user:400:rwx"]);
        assert_eq!(Access::of(&state, &id(400, 1, &[])).to_string(), "r--", "mask r-- from mode group bits");
        assert_eq!(Access::of(&state, &id(401, 1, &[300])).to_string(), "r--");
        assert_eq!(Access::of(&state, &id(100, 1, &[])).to_string(), "rwx");
    }

    #[test]
    fn write_needs_w_and_x_in_one_entry() {
        // Two group entries, one with w and one with x: the kernel asks for both at once.
        let state = dir(100, 200, 0o770, &["group::-w-", "group:300:--x"]);
        let access = Access::of(&state, &id(401, 200, &[300]));
        assert_eq!(access.to_string(), "--x");
    }

    #[test]
    fn a_matching_group_entry_shuts_out_the_others_bits() {
        let state = dir(100, 200, 0o755, &["group::---"]);
        assert_eq!(Access::of(&state, &id(401, 200, &[])).to_string(), "---");
        assert_eq!(Access::of(&state, &id(402, 1, &[])).to_string(), "r-x");
    }
}
