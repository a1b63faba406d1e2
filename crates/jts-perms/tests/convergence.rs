//! Property tests of the pure planner (docs/architecture.md, "The core loop").
//!
//! Specs are generated as TOML text and parsed, so the parser is exercised too. Starting
//! states are generated to be reachable: ids of existing accounts agree with the spec,
//! nothing is observed below a path that is not a directory, and contents are only
//! recorded for `recursive` directories.
//!
//! 1. Convergence: simulating `plan(spec, s)` on `s` gives `s'` with `plan(spec, s')`
//!    empty, and re-simulating the plan's idempotent steps on `s'` changes nothing.
//! 2. No step is destructive.
//! 3. A symlink, file or special file at a declared path or one of its ancestors is
//!    refused, and nothing at or below it is touched.
//! 4. Planning is deterministic, also across a JSON round trip of the state.
//! 5. The simulated accounts never hand out one uid or gid twice.
//!
//! Three library bugs these found are pinned at the end as regression tests
//! (`regression_*`), with the minimal inputs that triggered them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use jts_core::{AbsPath, Plan, Root, Step};
use jts_perms::{
    Accounts, ContentEntry, DirState, GroupEntry, Mode, Observed, PathState, Perms, PermsSpec, PermsStep, Principal,
    ResolvedEntry, Tag, UserEntry, check, plan,
};
use proptest::collection::{btree_map, btree_set, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{Index, select};

const GROUP_NAMES: [&str; 3] = ["backup", "dba", "postgres"];
const USER_NAMES: [&str; 3] = ["postgres", "kafka", "redis"];
/// Fixed ids include 999 and 998, the first ids `groupadd`/`useradd --system` allocate,
/// so that allocation colliding with a fixed id would show (`regression_allocated_id_*`).
const FIXED_GIDS: [u32; 3] = [999, 2001, 998];
const FIXED_UIDS: [u32; 2] = [999, 2100];
const PATHS: [&str; 6] = ["/d", "/d/a", "/d/a/b", "/d/c", "/e", "/e/f"];
const CHILDREN: [&str; 2] = ["x", "y"];
const COMMENTS: [&str; 2] = ["svc", "PostgreSQL service"];
/// Upper bound of declared paths plus ancestors: 6 paths, 2 children each.
const MAX_UNIVERSE: usize = PATHS.len() * (1 + CHILDREN.len());
/// Upper bound of groups to ensure (declared plus implicit).
const MAX_GROUPS: usize = GROUP_NAMES.len() + USER_NAMES.len();
/// Ids that existing directories and ACL entries may carry.
const SOME_IDS: [u32; 10] = [0, 100, 999, 998, 2001, 2002, 2100, 3001, 4000, 4242];

// ---------------------------------------------------------------------------------------
// Spec skeletons, rendered to TOML.

#[derive(Debug, Clone)]
struct UserSk {
    uid: Option<usize>,
    group: Option<Index>,
    groups: Vec<Index>,
    comment: Option<usize>,
    shell: bool,
}

#[derive(Debug, Clone)]
struct AclSk {
    default: bool,
    tag: u8,
    who: Index,
    perms: u8,
}

#[derive(Debug, Clone)]
struct DirSk {
    owner: Option<Index>,
    group: Option<Index>,
    mode: (bool, u32, u32, u32),
    acl: Vec<AclSk>,
    children: BTreeSet<usize>,
    recursive: bool,
}

#[derive(Debug, Clone)]
struct SpecSk {
    groups: BTreeMap<usize, Option<usize>>,
    users: BTreeMap<usize, UserSk>,
    dirs: BTreeMap<usize, DirSk>,
}

fn user_sk() -> impl Strategy<Value = UserSk> {
    (
        option::of(0..FIXED_UIDS.len()),
        option::weighted(0.4, any::<Index>()),
        vec(any::<Index>(), 0..3),
        option::weighted(0.3, 0..COMMENTS.len()),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(uid, group, groups, comment, shell)| UserSk { uid, group, groups, comment, shell })
}

fn acl_sk() -> impl Strategy<Value = AclSk> {
    (any::<bool>(), 0u8..4, any::<Index>(), 0u8..8).prop_map(|(default, tag, who, perms)| AclSk {
        default,
        tag,
        who,
        perms,
    })
}

fn dir_sk() -> impl Strategy<Value = DirSk> {
    (
        option::weighted(0.8, any::<Index>()),
        option::weighted(0.8, any::<Index>()),
        (prop::bool::weighted(0.4), 0u32..8, 0u32..8, 0u32..8),
        vec(acl_sk(), 0..4),
        btree_set(0..CHILDREN.len(), 0..=2),
        any::<bool>(),
    )
        .prop_map(|(owner, group, mode, acl, children, recursive)| DirSk {
            owner,
            group,
            mode,
            acl,
            children,
            recursive,
        })
}

fn spec_sk() -> impl Strategy<Value = SpecSk> {
    (
        btree_map(0..GROUP_NAMES.len(), option::of(0..FIXED_GIDS.len()), 0..=3),
        btree_map(0..USER_NAMES.len(), user_sk(), 0..=3),
        btree_map(0..PATHS.len(), dir_sk(), 0..=3),
    )
        .prop_map(|(groups, users, dirs)| SpecSk { groups, users, dirs })
}

fn quoted(name: &str) -> String {
    format!("\"{name}\"")
}

fn perms_text(bits: u8) -> String {
    Perms(bits).to_string()
}

/// A principal as it appears inside an ACL entry: the name, or the number.
fn unquoted(value: &str) -> &str {
    value.trim_matches('"')
}

impl SpecSk {
    fn group_names(&self) -> BTreeSet<&'static str> {
        let declared = self.groups.keys().map(|&g| GROUP_NAMES[g]);
        let implicit = self.users.iter().filter(|(_, u)| u.group.is_none()).map(|(&u, _)| USER_NAMES[u]);
        declared.chain(implicit).collect()
    }

    fn fixed_gids(&self) -> Vec<String> {
        self.groups.values().flatten().map(|&g| FIXED_GIDS[g].to_string()).collect()
    }

    /// TOML values a directory's group or an ACL group entry may name.
    fn group_refs(&self) -> Vec<String> {
        let mut refs: Vec<String> = self.group_names().into_iter().map(quoted).collect();
        refs.extend(self.fixed_gids());
        refs.extend(["0".to_owned(), "4242".to_owned()]);
        refs
    }

    /// TOML values a directory's owner or an ACL user entry may name.
    fn user_refs(&self) -> Vec<String> {
        let mut refs: Vec<String> = self.users.keys().map(|&u| quoted(USER_NAMES[u])).collect();
        refs.extend(self.users.values().filter_map(|u| u.uid).map(|u| FIXED_UIDS[u].to_string()));
        refs.extend(["0".to_owned(), "4343".to_owned()]);
        refs
    }

    /// TOML values a user's primary group may name: declared or implicit groups, or
    /// declared fixed gids.
    fn primary_refs(&self) -> Vec<String> {
        let mut refs: Vec<String> = self.group_names().into_iter().map(quoted).collect();
        refs.extend(self.fixed_gids());
        refs
    }

    /// TOML values a user's supplementary groups may name.
    fn supplementary_refs(&self) -> Vec<String> {
        let mut refs: Vec<String> = self.group_names().into_iter().map(quoted).collect();
        refs.extend(self.fixed_gids());
        // gid 0 exists when the root group does; 4242 never does and must be rejected.
        refs.push("0".to_owned());
        refs.push("4242".to_owned());
        refs
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for (&g, gid) in &self.groups {
            out.push_str(&format!("[groups.{}]\n", GROUP_NAMES[g]));
            if let Some(gid) = gid {
                out.push_str(&format!("gid = {}\n", FIXED_GIDS[*gid]));
            }
            out.push('\n');
        }
        let (primary, supplementary) = (self.primary_refs(), self.supplementary_refs());
        for (&u, user) in &self.users {
            out.push_str(&format!("[users.{}]\n", USER_NAMES[u]));
            if let Some(uid) = user.uid {
                out.push_str(&format!("uid = {}\n", FIXED_UIDS[uid]));
            }
            if let Some(group) = user.group.as_ref().filter(|_| !primary.is_empty()) {
                out.push_str(&format!("group = {}\n", group.get(&primary)));
            }
            if !user.groups.is_empty() && !supplementary.is_empty() {
                let groups: BTreeSet<&String> = user.groups.iter().map(|g| g.get(&supplementary)).collect();
                let groups: Vec<&str> = groups.into_iter().map(String::as_str).collect();
                out.push_str(&format!("groups = [{}]\n", groups.join(", ")));
            }
            if let Some(comment) = user.comment {
                out.push_str(&format!("comment = \"{}\"\n", COMMENTS[comment]));
            }
            if user.shell {
                out.push_str("shell = \"/bin/false\"\n");
            }
            out.push('\n');
        }
        let (groups, users) = (self.group_refs(), self.user_refs());
        for (&p, dir) in &self.dirs {
            out.push_str(&format!("[[directories]]\npath = \"{}\"\n", PATHS[p]));
            if let Some(owner) = &dir.owner {
                out.push_str(&format!("owner = {}\n", owner.get(&users)));
            }
            if let Some(group) = &dir.group {
                out.push_str(&format!("group = {}\n", group.get(&groups)));
            }
            let (setgid, u, g, o) = dir.mode;
            let bits = if setgid { 0o2000 } else { 0 } | u << 6 | g << 3 | o;
            out.push_str(&format!("mode = \"{bits:04o}\"\n"));
            let entries: Vec<String> = dir
                .acl
                .iter()
                .map(|acl| {
                    let group_who = unquoted(acl.who.get::<String>(&groups));
                    let user_who = unquoted(acl.who.get::<String>(&users));
                    if acl.default {
                        let perms = perms_text(acl.perms);
                        match acl.tag {
                            0 => format!("default:group:{group_who}:{perms}"),
                            1 => format!("default:user:{user_who}:{perms}"),
                            2 => format!("default:group::{perms}"),
                            _ => {
                                let base = ["user", "other", "mask"][acl.who.index(3)];
                                format!("default:{base}::{perms}")
                            }
                        }
                    } else {
                        // Access entries stay within the mode's group bits (the mask).
                        let perms = perms_text(acl.perms & g as u8);
                        match acl.tag {
                            0 | 3 => format!("group:{group_who}:{perms}"),
                            1 => format!("user:{user_who}:{perms}"),
                            _ => format!("group::{perms}"),
                        }
                    }
                })
                .map(|entry| quoted(&entry))
                .collect();
            if !entries.is_empty() {
                out.push_str(&format!("acl = [{}]\n", entries.join(", ")));
            }
            if !dir.children.is_empty() {
                let children: Vec<String> = dir.children.iter().map(|&c| quoted(CHILDREN[c])).collect();
                out.push_str(&format!("children = [{}]\n", children.join(", ")));
            }
            if dir.recursive {
                out.push_str("recursive = true\n");
            }
            out.push('\n');
        }
        out
    }
}

// ---------------------------------------------------------------------------------------
// Starting states.

#[derive(Debug, Clone)]
struct StateSk {
    files_present: bool,
    root: bool,
    extras: bool,
    group_present: Vec<bool>,
    user_present: Vec<bool>,
    own_primary: Vec<bool>,
    fallback_gid: Vec<u32>,
    shells: Vec<bool>,
    comments: Vec<Option<usize>>,
    memberships: Vec<(Index, Index)>,
    path_is_dir: Vec<bool>,
    path_missing_recorded: Vec<bool>,
    dirs: Vec<DirState>,
    contents: Vec<Option<Vec<ContentEntry>>>,
}

fn id() -> impl Strategy<Value = u32> {
    select(SOME_IDS.to_vec())
}

fn mode() -> impl Strategy<Value = Mode> {
    (select(vec![0u32, 0o1000, 0o2000, 0o4000, 0o3000]), 0u32..0o1000).prop_map(|(high, low)| Mode::new(high | low))
}

fn resolved(access: bool) -> impl Strategy<Value = ResolvedEntry> {
    let tag = if access {
        prop_oneof![Just(Tag::GroupObj), id().prop_map(Tag::User), id().prop_map(Tag::Group)].boxed()
    } else {
        prop_oneof![
            Just(Tag::UserObj),
            id().prop_map(Tag::User),
            Just(Tag::GroupObj),
            id().prop_map(Tag::Group),
            Just(Tag::Mask),
            Just(Tag::Other),
        ]
        .boxed()
    };
    (tag, 0u8..8).prop_map(|(tag, perms)| ResolvedEntry { tag, perms: Perms(perms) })
}

fn acl_list(access: bool) -> impl Strategy<Value = Vec<ResolvedEntry>> {
    vec(resolved(access), 0..4).prop_map(|mut entries| {
        entries.sort();
        entries.dedup_by(|a, b| a.tag == b.tag);
        entries
    })
}

fn dir_state() -> impl Strategy<Value = DirState> {
    (id(), id(), mode(), option::weighted(0.3, acl_list(true)), option::weighted(0.3, acl_list(false))).prop_map(
        |(uid, gid, mode, acl, default_acl)| DirState {
            uid,
            gid,
            mode,
            acl: acl.unwrap_or_default(),
            default_acl: default_acl.unwrap_or_default(),
        },
    )
}

fn contents() -> impl Strategy<Value = Vec<ContentEntry>> {
    btree_map(select(vec!["n1", "n2", "n3/inner"]), (any::<bool>(), id(), id(), mode()), 0..3).prop_map(|entries| {
        entries
            .into_iter()
            .map(|(path, (is_dir, uid, gid, mode))| ContentEntry {
                path: PathBuf::from(path).into(),
                is_dir,
                uid,
                gid,
                mode,
            })
            .collect()
    })
}

fn state_sk() -> impl Strategy<Value = StateSk> {
    (
        (prop::bool::weighted(0.85), prop::bool::weighted(0.9), any::<bool>()),
        (
            vec(any::<bool>(), MAX_GROUPS),
            vec(any::<bool>(), USER_NAMES.len()),
            vec(any::<bool>(), USER_NAMES.len()),
            vec(select(vec![100u32, 3001, 65534]), USER_NAMES.len()),
            vec(prop::bool::weighted(0.7), USER_NAMES.len()),
            vec(option::of(0..COMMENTS.len()), USER_NAMES.len()),
            vec((any::<Index>(), any::<Index>()), 0..4),
        ),
        (
            vec(prop::bool::weighted(0.6), MAX_UNIVERSE),
            vec(any::<bool>(), MAX_UNIVERSE),
            vec(dir_state(), MAX_UNIVERSE),
            vec(option::weighted(0.7, contents()), MAX_UNIVERSE),
        ),
    )
        .prop_map(
            |(
                (files_present, root, extras),
                (group_present, user_present, own_primary, fallback_gid, shells, comments, memberships),
                (path_is_dir, path_missing_recorded, dirs, contents),
            )| StateSk {
                files_present,
                root,
                extras,
                group_present,
                user_present,
                own_primary,
                fallback_gid,
                shells,
                comments,
                memberships,
                path_is_dir,
                path_missing_recorded,
                dirs,
                contents,
            },
        )
}

/// Declared paths and their ancestors, top down.
fn universe(spec: &PermsSpec) -> Vec<AbsPath> {
    let mut all = BTreeSet::new();
    for dir in spec.directories() {
        all.extend(dir.path.ancestors());
        all.insert(dir.path);
    }
    all.into_iter().collect()
}

fn parent(path: &AbsPath) -> Option<AbsPath> {
    path.ancestors().pop()
}

fn build_accounts(spec: &PermsSpec, sk: &StateSk) -> Accounts {
    let mut accounts = Accounts { files_present: sk.files_present, ..Accounts::default() };
    if !sk.files_present {
        return accounts;
    }
    let entry = |uid, gid, comment: &str, home: &str, shell: &str| UserEntry {
        uid,
        gid,
        comment: comment.into(),
        home: home.into(),
        shell: shell.into(),
    };
    if sk.root {
        accounts.users.insert("root".into(), entry(0, 0, "root", "/root", "/bin/bash"));
        accounts.groups.insert("root".into(), GroupEntry { gid: 0, members: vec![] });
    }
    if sk.extras {
        accounts.users.insert("nobody".into(), entry(65534, 65534, "nobody", "/nonexistent", "/usr/sbin/nologin"));
        accounts.groups.insert("nogroup".into(), GroupEntry { gid: 65534, members: vec![] });
        accounts.groups.insert("users".into(), GroupEntry { gid: 100, members: vec![] });
    }
    for (index, (name, fixed)) in spec.groups_to_ensure().into_iter().enumerate() {
        if sk.group_present[index] {
            // Groups allocated earlier got ids no fixed gid of the spec uses.
            let gid = fixed.unwrap_or(3001 + index as u32);
            accounts.groups.insert(name, GroupEntry { gid, members: vec![] });
        }
    }
    for (index, user) in spec.users().into_iter().enumerate() {
        if !sk.user_present[index] {
            continue;
        }
        let explicit = spec.users[&user.name].get_ref().group.is_some();
        let spec_gid = |group: &Principal| match group {
            Principal::Id(gid) => Some(*gid),
            Principal::Name(name) => spec.groups.get(name).and_then(|g| g.get_ref().gid),
        };
        let gid = match (explicit, accounts.gid(&user.group).or_else(|| spec_gid(&user.group))) {
            (true, Some(gid)) => gid,
            // An existing user whose declared primary group cannot be known yet is not
            // a state jts can adopt (check refuses it); leave the user out.
            (true, None) => continue,
            (false, Some(gid)) if sk.own_primary[index] => gid,
            (false, _) => sk.fallback_gid[index],
        };
        let uid = user.uid.unwrap_or(4000 + index as u32);
        let shell = if sk.shells[index] { "/usr/sbin/nologin" } else { "/bin/sh" };
        let comment = sk.comments[index].map_or("", |c| COMMENTS[c]);
        accounts.users.insert(user.name.clone(), entry(uid, gid, comment, "/nonexistent", shell));
    }
    if !accounts.users.is_empty() && !accounts.groups.is_empty() {
        let users: Vec<String> = accounts.users.keys().cloned().collect();
        let groups: Vec<String> = accounts.groups.keys().cloned().collect();
        for (user, group) in &sk.memberships {
            let (user, group) = (user.get(&users), group.get(&groups));
            let members = &mut accounts.groups.get_mut(group).expect("listed group").members;
            if !members.contains(user) {
                members.push(user.clone());
            }
        }
    }
    accounts
}

fn build_state(spec: &PermsSpec, sk: &StateSk) -> Observed {
    let mut observed = Observed { accounts: build_accounts(spec, sk), ..Observed::default() };
    let recursive: BTreeSet<AbsPath> = spec.directories().into_iter().filter(|d| d.recursive).map(|d| d.path).collect();
    for (index, path) in universe(spec).into_iter().enumerate() {
        let parent_is_dir =
            parent(&path).is_none_or(|p| matches!(observed.paths.get(&p), Some(PathState::Directory(_))));
        if !parent_is_dir {
            continue;
        }
        if sk.path_is_dir[index] {
            observed.paths.insert(path.clone(), PathState::Directory(sk.dirs[index].clone()));
            if let (true, Some(contents)) = (recursive.contains(&path), &sk.contents[index]) {
                observed.contents.insert(path, std::sync::Arc::new(contents.clone()));
            }
        } else if sk.path_missing_recorded[index] {
            observed.paths.insert(path, PathState::Missing);
        }
    }
    observed
}

/// One generated input: the spec's TOML text, the parsed spec and a starting state.
#[derive(Clone)]
struct Case {
    text: String,
    spec: PermsSpec,
    observed: Observed,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = serde_json::to_string_pretty(&self.observed).map_err(|_| fmt::Error)?;
        write!(f, "\n--- spec ---\n{}--- observed ---\n{state}\n", self.text)
    }
}

fn case() -> impl Strategy<Value = Case> {
    (spec_sk(), state_sk()).prop_map(|(spec_sk, state_sk)| {
        let text = spec_sk.render();
        let spec: PermsSpec =
            toml::from_str(&text).unwrap_or_else(|err| panic!("generated spec does not parse: {err}\n{text}"));
        let observed = build_state(&spec, &state_sk);
        Case { text, spec, observed }
    })
}

/// A case whose state has one or two symlinks, files or special files among the
/// declared paths and their ancestors.
fn blocked_case() -> impl Strategy<Value = (Case, Vec<AbsPath>)> {
    let blocker = prop_oneof![
        Just(PathState::Symlink { target: "/etc".into() }),
        Just(PathState::File),
        Just(PathState::Special),
    ];
    (case(), vec((any::<Index>(), blocker), 1..=2)).prop_filter_map(
        "the spec declares no directory",
        |(mut case, blockers)| {
            let all = universe(&case.spec);
            if all.is_empty() {
                return None;
            }
            for (at, state) in blockers {
                let path = at.get(&all).clone();
                // Reachable: the ancestors were walked as directories, and nothing is
                // observed below a non-directory.
                for ancestor in path.ancestors() {
                    let entry = case.observed.paths.entry(ancestor).or_insert(PathState::Missing);
                    if !matches!(entry, PathState::Directory(_)) {
                        *entry = PathState::Directory(DirState {
                            uid: 0,
                            gid: 0,
                            mode: Mode::new(0o755),
                            acl: vec![],
                            default_acl: vec![],
                        });
                    }
                }
                let below = |p: &AbsPath| p.as_path().starts_with(path.as_path()) && *p != path;
                case.observed.paths.retain(|p, _| !below(p));
                case.observed.contents.retain(|p, _| !below(p) && *p != path);
                case.observed.paths.insert(path, state);
            }
            let blocked: Vec<AbsPath> = case
                .observed
                .paths
                .iter()
                .filter(|(_, s)| matches!(s, PathState::Symlink { .. } | PathState::File | PathState::Special))
                .map(|(p, _)| p.clone())
                .collect();
            Some((case, blocked))
        },
    )
}

// ---------------------------------------------------------------------------------------
// Properties.

fn step_path(step: &PermsStep) -> Option<PathBuf> {
    step.info(&Root::host()).drift.and_then(|drift| drift.path)
}

/// Steps that may be simulated twice without changing anything. Creating a group or
/// user is not: `groupadd`/`useradd` on an existing account fails, so their simulation
/// allocates a fresh id and starts an empty member list.
fn is_idempotent(step: &PermsStep) -> bool {
    !matches!(step, PermsStep::CreateGroup { .. } | PermsStep::CreateUser(_))
}

fn assert_common(case: &Case, steps: &Plan<PermsStep>) -> Result<(), TestCaseError> {
    for step in &steps.steps {
        let info = step.info(&Root::host());
        prop_assert!(!info.destructive, "destructive step {:?} for {:?}", info, case);
    }
    prop_assert_eq!(steps, &plan(&case.spec, &case.observed), "planning twice differs");
    let json = serde_json::to_string(&case.observed).expect("state serializes");
    let reread: Observed = serde_json::from_str(&json).expect("state deserializes");
    prop_assert_eq!(&reread, &case.observed, "JSON round trip of the state");
    prop_assert_eq!(steps, &plan(&case.spec, &reread), "planning from the JSON state differs");
    Ok(())
}

/// Ids the real tools would refuse to hand out twice.
fn duplicate_ids(accounts: &Accounts) -> Option<String> {
    let mut gids: BTreeMap<u32, &str> = BTreeMap::new();
    for (name, group) in &accounts.groups {
        if let Some(other) = gids.insert(group.gid, name) {
            return Some(format!("groups {other} and {name} share gid {}", group.gid));
        }
    }
    let mut uids: BTreeMap<u32, &str> = BTreeMap::new();
    for (name, user) in &accounts.users {
        if let Some(other) = uids.insert(user.uid, name) {
            return Some(format!("users {other} and {name} share uid {}", user.uid));
        }
    }
    None
}

fn below_or_at(path: &Path, top: &AbsPath) -> bool {
    path.starts_with(top.as_path())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        max_global_rejects: 4096,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Properties 1, 2 and 4.
    #[test]
    fn plans_converge(case in case()) {
        let errors = check(&case.spec, &case.observed.accounts);
        prop_assume!(errors.is_empty());
        let first = plan(&case.spec, &case.observed);
        prop_assert!(first.refused.is_empty(), "refusals without a blocker: {:?}", first.refused);
        assert_common(&case, &first)?;

        let mut after = case.observed.clone();
        first.simulate(&mut after);
        let second = plan(&case.spec, &after);
        prop_assert!(
            second.is_empty(),
            "not converged.\nfirst plan: {:#?}\nsecond plan: {:#?}\nafter: {}",
            first.steps,
            second,
            serde_json::to_string_pretty(&after).unwrap_or_default()
        );

        let mut again = after.clone();
        second.simulate(&mut again);
        prop_assert_eq!(&again, &after, "simulating the empty plan changed the state");
        for step in first.steps.iter().filter(|s| is_idempotent(s)) {
            step.simulate(&mut again);
        }
        prop_assert_eq!(&again, &after, "re-simulating the plan's idempotent steps changed the state");
    }

    /// The simulated accounts are ones the real tools could produce: no id handed out twice.
    #[test]
    fn allocated_ids_are_unique(case in case()) {
        prop_assume!(check(&case.spec, &case.observed.accounts).is_empty());
        prop_assume!(duplicate_ids(&case.observed.accounts).is_none());
        let mut after = case.observed.clone();
        plan(&case.spec, &case.observed).simulate(&mut after);
        let duplicate = duplicate_ids(&after.accounts);
        prop_assert!(duplicate.is_none(), "{}", duplicate.unwrap_or_default());
    }

    /// Properties 2, 3 and 4.
    #[test]
    fn blockers_are_refused_and_never_touched((case, blocked) in blocked_case()) {
        prop_assume!(check(&case.spec, &case.observed.accounts).is_empty());
        let steps = plan(&case.spec, &case.observed);
        assert_common(&case, &steps)?;
        let declared: BTreeSet<AbsPath> = case.spec.directories().into_iter().map(|d| d.path).collect();
        for blocker in &blocked {
            for path in declared.iter().filter(|p| below_or_at(p.as_path(), blocker)) {
                prop_assert!(
                    steps.refused.iter().any(|r| r.path.as_deref() == Some(path.as_path())),
                    "no refusal for {} (blocked at {}): {:#?}",
                    path,
                    blocker,
                    steps.refused
                );
            }
            for step in &steps.steps {
                if let Some(path) = step_path(step) {
                    prop_assert!(!below_or_at(&path, blocker), "step {:?} touches blocked {}", step, blocker);
                }
            }
        }
        // Every refusal is explained by a blocker.
        for refusal in &steps.refused {
            let path = refusal.path.as_deref().expect("directory refusals name their path");
            prop_assert!(blocked.iter().any(|b| below_or_at(path, b)), "unexplained refusal {:?}", refusal);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Minimal cases of library bugs the properties above found, kept as regressions.

fn parse(text: &str) -> PermsSpec {
    toml::from_str(text).expect("spec parses")
}

fn check_messages(text: &str, observed: &Observed) -> String {
    check(&parse(text), &observed.accounts).iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

/// `kafka` exists with primary group `users` (gid 100) and no group `kafka`. An adopted
/// user keeps its primary group, so no group `kafka` is created, and a directory naming
/// it must be rejected by `check` (it used to pass and then never converge).
#[test]
fn regression_adopted_user_has_no_implicit_group() {
    let mut observed = Observed::default();
    observed.accounts.files_present = true;
    observed.accounts.groups.insert("users".into(), GroupEntry { gid: 100, members: vec![] });
    observed.accounts.users.insert(
        "kafka".into(),
        UserEntry {
            uid: 4000,
            gid: 100,
            comment: String::new(),
            home: "/nonexistent".into(),
            shell: "/usr/sbin/nologin".into(),
        },
    );
    let errors = check_messages("[users.kafka]\n\n[[directories]]\npath = \"/d\"\ngroup = \"kafka\"\n", &observed);
    assert!(errors.contains("group kafka is neither declared"), "{errors}");
}

/// `groups = [4242]`: no group has gid 4242, so `useradd --groups 4242` would fail;
/// `check` must say so (it used to accept any number).
#[test]
fn regression_numeric_supplementary_group_must_exist() {
    let errors = check_messages("[users.postgres]\ngroups = [4242]\n", &Observed::default());
    assert!(errors.contains("supplementary group 4242"), "{errors}");
}

/// Accounts with fixed ids are created before allocated ones, so `groupadd`/`useradd`
/// never hand out an id the spec fixes (they used to be created in name order).
#[test]
fn regression_allocated_id_never_collides_with_fixed_id() {
    for text in [
        "[groups.backup]\n\n[groups.dba]\ngid = 999\n",
        "[groups.svc]\ngid = 2001\n\n[users.a]\ngroup = \"svc\"\n\n[users.b]\ngroup = \"svc\"\nuid = 999\n",
    ] {
        let spec = parse(text);
        let mut observed = Observed::default();
        assert!(check(&spec, &observed.accounts).is_empty(), "check accepts the spec");
        plan(&spec, &observed).simulate(&mut observed);
        assert_eq!(duplicate_ids(&observed.accounts), None, "spec:\n{text}");
    }
}
