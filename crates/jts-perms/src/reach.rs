//! Whether each declared directory's owner can reach it: every ancestor must let that
//! user search it (`x`). A `0770` parent owned by someone else makes a directory that is
//! exactly right useless to its owner, and nothing in the directory itself shows it.

use jts_core::{AbsPath, Principal};

use crate::accounts::Accounts;
use crate::spec::PermsSpec;
use crate::state::{DirState, Observed, PathState};

/// One declared directory its owner cannot reach, and the ancestor in the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreachable {
    /// The declared directory.
    pub path: AbsPath,
    /// Its owner.
    pub owner: Principal,
    /// The ancestor that does not let the owner search it.
    pub blocked_at: AbsPath,
    /// That ancestor's `uid:gid mode`.
    pub ancestor: String,
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is owned by {}, who cannot reach it: its ancestor {} ({}) does not let that user search it; give \
             the ancestor search permission for that user or group (e.g. chmod o+x, or an ACL), or declare it in \
             [[directories]]",
            self.path, self.owner, self.blocked_at, self.ancestor
        )
    }
}

/// Every declared directory whose owner cannot pass one of its ancestors in `state` (the
/// machine as it is, or as a plan leaves it). Ancestors with ACL entries are not judged
/// (an ACL may grant what the mode does not); root reaches everything.
pub fn unreachable(spec: &PermsSpec, state: &Observed) -> Vec<Unreachable> {
    let accounts = &state.accounts;
    let mut found = Vec::new();
    for dir in spec.directories() {
        let Some(uid) = accounts.uid(&dir.owner).filter(|uid| *uid != 0) else { continue };
        let groups = groups_of(accounts, &dir.owner, uid);
        let blocked = dir.path.ancestors().into_iter().find_map(|ancestor| match state.paths.get(&ancestor) {
            Some(PathState::Directory(current)) if !searchable(current, uid, &groups) => Some((ancestor, current)),
            _ => None,
        });
        if let Some((blocked_at, current)) = blocked {
            found.push(Unreachable {
                path: dir.path.clone(),
                owner: dir.owner.clone(),
                blocked_at,
                ancestor: format!("{}:{} {}", current.uid, current.gid, current.mode),
            });
        }
    }
    found
}

/// The primary and supplementary gids of a user.
fn groups_of(accounts: &Accounts, owner: &Principal, uid: u32) -> Vec<u32> {
    let Some((name, user)) = accounts.users.iter().find(|(name, user)| {
        (user.uid == uid && matches!(owner, Principal::Id(_))) || matches!(owner, Principal::Name(n) if n == *name)
    }) else {
        return Vec::new();
    };
    let supplementary = accounts.memberships(name).into_iter().filter_map(|group| accounts.groups.get(group));
    std::iter::once(user.gid).chain(supplementary.map(|group| group.gid)).collect()
}

/// Whether `uid` (in `groups`) may search a directory, by its mode; `true` when ACL
/// entries could say otherwise.
fn searchable(dir: &DirState, uid: u32, groups: &[u32]) -> bool {
    if !dir.acl.is_empty() {
        return true;
    }
    let mode = dir.mode;
    let bits = if dir.uid == uid {
        mode.user()
    } else if groups.contains(&dir.gid) {
        mode.group()
    } else {
        mode.other()
    };
    bits & 1 == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(parent_mode: u32, parent_uid: u32) -> (PermsSpec, Observed) {
        let spec: PermsSpec = toml::from_str(
            "[users.app]\nuid = 2500\n[[directories]]\npath = \"/srv/locked/app\"\nowner = \"app\"\nmode = \"0750\"\n",
        )
        .unwrap();
        let mut observed: Observed = serde_json::from_str(
            r#"{"accounts": {"files_present": true, "groups": {"app": {"gid": 2500, "members": []}},
                "users": {"app": {"uid": 2500, "gid": 2500, "home": "/", "shell": "/bin/false"}}}, "paths": {}}"#,
        )
        .unwrap();
        let dir = |uid, mode| {
            PathState::Directory(DirState {
                uid,
                gid: 0,
                mode: jts_core::Mode::new(mode),
                acl: Vec::new(),
                default_acl: Vec::new(),
            })
        };
        observed.paths.insert(AbsPath::new("/srv").unwrap(), dir(0, 0o755));
        observed.paths.insert(AbsPath::new("/srv/locked").unwrap(), dir(parent_uid, parent_mode));
        (spec, observed)
    }

    #[test]
    fn a_parent_closed_to_the_owner_is_named() {
        let (spec, observed) = state(0o770, 1000);
        let found = unreachable(&spec, &observed);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].blocked_at.to_string(), "/srv/locked");
        assert!(found[0].to_string().contains("1000:0 0770"), "{}", found[0]);
    }

    #[test]
    fn search_for_others_or_ownership_is_enough() {
        assert!(unreachable(&state(0o711, 1000).0, &state(0o711, 1000).1).is_empty());
        assert!(unreachable(&state(0o700, 2500).0, &state(0o700, 2500).1).is_empty());
    }
}
