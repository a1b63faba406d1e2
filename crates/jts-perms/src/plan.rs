//! The pure planner: `plan(&PermsSpec, &Observed) -> Plan<PermsStep>`. No I/O, no clock.

use std::collections::{BTreeMap, BTreeSet};

use jts_core::{AbsPath, Mode, Plan, Refusal};

use crate::accounts::Accounts;
use crate::desired::{AclKind, expected_observation, full_acl};
use crate::spec::{Directory, PermsSpec, User};
use crate::state::{ContentEntry, DirState, Observed, PathState};
use crate::step::{ContentFix, PermsStep};
use jts_core::Principal;

/// Plans the steps that take `observed` to what `spec` declares.
///
/// The spec must have passed [`crate::check()`]. Account steps come first, then
/// directories from the top down. Names of accounts still to be created are resolved
/// against the simulated result of the account steps.
pub fn plan(spec: &PermsSpec, observed: &Observed) -> Plan<PermsStep> {
    let mut plan = Plan::default();
    let mut after_accounts = observed.clone();
    plan_accounts(spec, observed, &mut plan.steps);
    plan.simulate(&mut after_accounts);
    plan_directories(spec, &after_accounts, &mut plan);
    plan
}

fn plan_accounts(spec: &PermsSpec, observed: &Observed, steps: &mut Vec<PermsStep>) {
    let accounts = &observed.accounts;
    if !accounts.files_present {
        steps.push(PermsStep::InitAccountFiles);
    }
    // An existing user keeps the primary group it has: its implicit group is not created.
    let adopted_user = |name: &str| accounts.users.contains_key(name) && !spec.groups.contains_key(name);
    // Fixed ids are created first, so that the ids `groupadd`/`useradd` allocate for the
    // others can never collide with them.
    let mut groups: Vec<(String, Option<u32>)> = spec
        .groups_to_ensure()
        .into_iter()
        .filter(|(name, _)| !accounts.groups.contains_key(name) && !adopted_user(name))
        .collect();
    groups.sort_by_key(|(_, gid)| gid.is_none());
    steps.extend(groups.into_iter().map(|(name, gid)| PermsStep::CreateGroup { name, gid }));
    let mut users = spec.users();
    users.sort_by_key(|user| user.uid.is_none());
    for user in users {
        match accounts.users.get(&user.name) {
            None => steps.push(PermsStep::CreateUser(user)),
            Some(_) => steps.extend(modify_user(&user, observed)),
        }
    }
}

fn modify_user(user: &User, observed: &Observed) -> Option<PermsStep> {
    let entry = &observed.accounts.users[&user.name];
    let member_of: BTreeSet<&str> = observed.accounts.memberships(&user.name).into_iter().collect();
    let add_groups: Vec<Principal> = user
        .groups
        .iter()
        .filter(|group| {
            let gid = observed.accounts.gid(group);
            let is_primary = gid == Some(entry.gid);
            let is_member = match group {
                Principal::Name(name) => member_of.contains(name.as_str()),
                Principal::Id(gid) => {
                    observed.accounts.groups.iter().any(|(n, g)| g.gid == *gid && member_of.contains(n.as_str()))
                }
            };
            !is_primary && !is_member
        })
        .cloned()
        .collect();
    let shell = (user.shell.1 && entry.shell != user.shell.0.to_string()).then(|| user.shell.0.clone());
    let home = (user.home.1 && entry.home != user.home.0.to_string()).then(|| user.home.0.clone());
    let comment = user.comment.clone().filter(|c| *c != entry.comment);
    if add_groups.is_empty() && shell.is_none() && home.is_none() && comment.is_none() {
        return None;
    }
    let mut expected = Vec::new();
    let mut actual = Vec::new();
    if !add_groups.is_empty() {
        let names: Vec<String> = add_groups.iter().map(ToString::to_string).collect();
        expected.push(format!("member of {}", names.join(",")));
        actual.push(format!("not member of {}", names.join(",")));
    }
    if let Some(shell) = &shell {
        expected.push(format!("shell {shell}"));
        actual.push(format!("shell {}", entry.shell));
    }
    if let Some(home) = &home {
        expected.push(format!("home {home}"));
        actual.push(format!("home {}", entry.home));
    }
    if let Some(comment) = &comment {
        expected.push(format!("comment {comment:?}"));
        actual.push(format!("comment {:?}", entry.comment));
    }
    Some(PermsStep::ModifyUser {
        name: user.name.clone(),
        add_groups,
        shell,
        home,
        comment,
        drift: (expected.join("; "), actual.join("; ")),
    })
}

fn plan_directories(spec: &PermsSpec, observed: &Observed, plan: &mut Plan<PermsStep>) {
    let managed: BTreeMap<AbsPath, Directory> = spec.directories().into_iter().map(|d| (d.path.clone(), d)).collect();
    let mut all: BTreeSet<AbsPath> = managed.keys().cloned().collect();
    for path in managed.keys() {
        all.extend(path.ancestors());
    }
    let mut blocked: BTreeMap<AbsPath, String> = BTreeMap::new();
    for path in all {
        if let Some(blocker) = path.ancestors().into_iter().find(|a| blocked.contains_key(a)) {
            if managed.contains_key(&path) {
                let what = blocked[&blocker].clone();
                plan.refused
                    .push(refusal(&path, format!("its ancestor {blocker} is a {what}, which jts never follows")));
            }
            continue;
        }
        let state = observed.paths.get(&path).unwrap_or(&PathState::Missing);
        match (state, managed.get(&path)) {
            (PathState::Missing, Some(dir)) => {
                plan.steps.push(PermsStep::CreateDirectory { dir: dir.clone(), managed: true })
            }
            (PathState::Missing, None) => {
                plan.steps.push(PermsStep::CreateDirectory { dir: unmanaged(&path), managed: false })
            }
            (PathState::Directory(current), Some(dir)) => {
                plan_existing(dir, current, observed, &mut plan.steps);
            }
            (PathState::Directory(_), None) => {}
            (other, _) => {
                let what = other.describe();
                if managed.contains_key(&path) {
                    plan.refused.push(refusal(&path, format!("{path} is a {what}, not a directory")));
                }
                blocked.insert(path, what);
            }
        }
    }
}

fn refusal(path: &AbsPath, reason: String) -> Refusal {
    Refusal {
        object: format!("directory {path}"),
        path: Some(path.as_path().to_path_buf()),
        reason,
        fix: "jts never replaces or follows what it did not create: move or remove it by hand, or change the spec's path, then re-run".into(),
    }
}

fn unmanaged(path: &AbsPath) -> Directory {
    Directory {
        path: path.clone(),
        owner: Principal::ROOT,
        group: Principal::ROOT,
        mode: crate::spec::DEFAULT_DIR_MODE,
        acl: Vec::new(),
        recursive: false,
        access: std::collections::BTreeMap::new(),
    }
}

pub(crate) fn plan_existing(dir: &Directory, current: &DirState, observed: &Observed, steps: &mut Vec<PermsStep>) {
    let accounts = &observed.accounts;
    let path = &dir.path;
    let (uid, gid) = (accounts.uid(&dir.owner), accounts.gid(&dir.group));
    if uid != Some(current.uid) || gid != Some(current.gid) {
        steps.push(PermsStep::Chown {
            path: path.clone(),
            owner: dir.owner.clone(),
            group: dir.group.clone(),
            from: (current.uid, current.gid),
        });
    }
    if dir.mode != current.mode {
        steps.push(PermsStep::Chmod { path: path.clone(), mode: dir.mode, from: current.mode });
    }
    for (kind, observed_acl) in [(AclKind::Access, &current.acl), (AclKind::Default, &current.default_acl)] {
        let wanted = full_acl(kind, &dir.acl, dir.mode, accounts).map(|full| expected_observation(kind, &full));
        if wanted.as_ref() == Some(observed_acl) {
            continue;
        }
        let from = observed_acl.iter().map(ToString::to_string).collect();
        if wanted.as_ref().is_some_and(Vec::is_empty) {
            steps.push(PermsStep::RemoveAcl { path: path.clone(), kind, from });
        } else {
            steps.push(PermsStep::SetAcl { path: path.clone(), kind, entries: dir.acl.clone(), mode: dir.mode, from });
        }
    }
    if dir.recursive {
        let wanted = WantedContents::of(dir, accounts);
        let fixes = content_fixes(&wanted, observed.contents.get(path).map_or(&[][..], |entries| entries.as_slice()));
        if !fixes.is_empty() {
            steps.push(PermsStep::FixContents {
                path: path.clone(),
                owner: dir.owner.clone(),
                group: dir.group.clone(),
                fixes,
            });
        }
    }
}

fn content_fixes(wanted: &WantedContents, entries: &[ContentEntry]) -> Vec<ContentFix> {
    entries
        .iter()
        .filter_map(|entry| {
            let (chown, mode) = wanted.fix(entry.is_dir, entry.uid, entry.gid, entry.mode)?;
            Some(ContentFix { path: entry.path.clone(), is_dir: entry.is_dir, chown, mode })
        })
        .collect()
}

/// What a `recursive` directory declares for its contents: its mode (files get it `chmod
/// X` style) and its owner and group, resolved against the accounts (`None`: not created
/// yet, so every entry is to be chowned).
pub(crate) struct WantedContents {
    mode: Mode,
    uid: Option<u32>,
    gid: Option<u32>,
}

impl WantedContents {
    /// What `dir` declares, its owner and group resolved against `accounts`.
    pub(crate) fn of(dir: &Directory, accounts: &Accounts) -> Self {
        Self { mode: dir.mode, uid: accounts.uid(&dir.owner), gid: accounts.gid(&dir.group) }
    }

    /// What an entry as observed needs, `(chown, mode to set)`; `None` when it is as declared.
    pub(crate) fn fix(&self, is_dir: bool, uid: u32, gid: u32, mode: Mode) -> Option<(bool, Option<Mode>)> {
        let chown = self.uid != Some(uid) || self.gid != Some(gid);
        let wanted = if is_dir { self.mode } else { self.mode.for_file(mode) };
        let chmod = (wanted != mode).then_some(wanted);
        (chown || chmod.is_some()).then_some((chown, chmod))
    }
}
