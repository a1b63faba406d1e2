//! [`PermsStep`]: each change to accounts and directories, with its description,
//! commands and simulated effect. Execution lives in [`crate::apply`].

use std::path::Path;
use std::sync::Arc;

use jts_core::{AbsPath, CmdSpec, Drift, Root, StepInfo, quote};

use crate::accounts::{GroupEntry, UserEntry};
use crate::acl::AclEntry;
use crate::desired::{AclKind, expected_observation, full_acl, full_acl_text};
use crate::spec::{Directory, User};
use crate::state::{DirState, Observed, PathState};
use jts_core::Mode;
use jts_core::Principal;

/// The seed account files a fresh `--root` gets, so that shadow's tools can work there.
pub const SEED_ACCOUNT_FILES: [(&str, &str, u32); 4] = [
    ("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n", 0o644),
    ("/etc/group", "root:x:0:\n", 0o644),
    ("/etc/shadow", "root:*:20000:0:99999:7:::\n", 0o600),
    ("/etc/gshadow", "root:*::\n", 0o600),
];

/// One change to accounts or directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermsStep {
    /// Seed `/etc/passwd`, `/etc/group`, `/etc/shadow` and `/etc/gshadow` of a fresh root.
    InitAccountFiles,
    /// `groupadd --system`.
    CreateGroup {
        /// Group name.
        name: String,
        /// Fixed gid, or allocated.
        gid: Option<u32>,
    },
    /// `useradd --system`.
    CreateUser(User),
    /// `usermod` on an existing user: add supplementary groups, enforce spec'd fields.
    ModifyUser {
        /// User name.
        name: String,
        /// Supplementary groups to add.
        add_groups: Vec<Principal>,
        /// New shell.
        shell: Option<AbsPath>,
        /// New home (not moved).
        home: Option<AbsPath>,
        /// New comment.
        comment: Option<String>,
        /// What differs.
        drift: (String, String),
    },
    /// Create a directory with owner, mode and ACLs. `managed: false` is a missing
    /// ancestor, created `root:root 0755` like `mkdir -p`.
    CreateDirectory {
        /// What to create.
        dir: Directory,
        /// Whether the spec declares it.
        managed: bool,
    },
    /// Change owner and group of a directory.
    Chown {
        /// Where.
        path: AbsPath,
        /// New owner.
        owner: Principal,
        /// New group.
        group: Principal,
        /// Observed `uid:gid`.
        from: (u32, u32),
    },
    /// Change the mode of a directory.
    Chmod {
        /// Where.
        path: AbsPath,
        /// New mode.
        mode: Mode,
        /// Observed mode.
        from: Mode,
    },
    /// Write the access or default ACL.
    SetAcl {
        /// Where.
        path: AbsPath,
        /// Which ACL.
        kind: AclKind,
        /// The spec's entries (both kinds; only `kind`'s are used).
        entries: Vec<AclEntry>,
        /// The directory's mode, for the base entries.
        mode: Mode,
        /// The observed entries, for the record.
        from: Vec<String>,
    },
    /// Remove the access or default ACL.
    RemoveAcl {
        /// Where.
        path: AbsPath,
        /// Which ACL.
        kind: AclKind,
        /// The observed entries, for the record.
        from: Vec<String>,
    },
    /// Fix owner, group and mode of existing contents of a `recursive` directory.
    FixContents {
        /// The recursive directory.
        path: AbsPath,
        /// Owner for everything inside.
        owner: Principal,
        /// Group for everything inside.
        group: Principal,
        /// Each entry that differs.
        fixes: Vec<ContentFix>,
    },
}

/// One entry of a [`PermsStep::FixContents`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentFix {
    /// Path relative to the recursive directory (the observed entry's).
    pub path: Arc<Path>,
    /// Whether it is a directory.
    pub is_dir: bool,
    /// Whether owner or group differ.
    pub chown: bool,
    /// The mode to set, if it differs.
    pub mode: Option<Mode>,
}

fn comma(items: &[Principal]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

fn with_prefix(cmd: CmdSpec, root: &Root) -> CmdSpec {
    match root.prefix() {
        Some(prefix) => cmd.opt("--prefix", prefix),
        None => cmd,
    }
}

impl PermsStep {
    /// The external command this step runs, for steps that run one.
    pub fn command(&self, root: &Root) -> Option<CmdSpec> {
        let cmd = match self {
            Self::CreateGroup { name, gid } => {
                let cmd = CmdSpec::new("groupadd").arg("--system");
                let cmd = match gid {
                    Some(gid) => cmd.opt("--gid", gid.to_string()),
                    None => cmd,
                };
                with_prefix(cmd, root).arg(name)
            }
            Self::CreateUser(user) => {
                let mut cmd = CmdSpec::new("useradd")
                    .arg("--system")
                    .arg("--no-create-home")
                    .arg("--no-user-group")
                    .opt("--gid", user.group.to_string());
                if !user.groups.is_empty() {
                    cmd = cmd.opt("--groups", comma(&user.groups));
                }
                cmd = cmd.opt("--home-dir", user.home.0.as_path()).opt("--shell", user.shell.0.as_path());
                if let Some(comment) = &user.comment {
                    cmd = cmd.opt("--comment", comment);
                }
                if let Some(uid) = user.uid {
                    cmd = cmd.opt("--uid", uid.to_string());
                }
                with_prefix(cmd, root).arg(&user.name)
            }
            Self::ModifyUser { name, add_groups, shell, home, comment, .. } => {
                let mut cmd = CmdSpec::new("usermod");
                if !add_groups.is_empty() {
                    cmd = cmd.arg("--append").opt("--groups", comma(add_groups));
                }
                if let Some(shell) = shell {
                    cmd = cmd.opt("--shell", shell.as_path());
                }
                if let Some(home) = home {
                    cmd = cmd.opt("--home", home.as_path());
                }
                if let Some(comment) = comment {
                    cmd = cmd.opt("--comment", comment);
                }
                with_prefix(cmd, root).arg(name)
            }
            _ => return None,
        };
        Some(cmd)
    }

    fn object(&self) -> String {
        match self {
            Self::InitAccountFiles => "account files".into(),
            Self::CreateGroup { name, .. } => format!("group {name}"),
            Self::CreateUser(user) => format!("user {}", user.name),
            Self::ModifyUser { name, .. } => format!("user {name}"),
            Self::CreateDirectory { dir, .. } => dir.path.to_string(),
            Self::Chown { path, .. }
            | Self::Chmod { path, .. }
            | Self::SetAcl { path, .. }
            | Self::RemoveAcl { path, .. }
            | Self::FixContents { path, .. } => path.to_string(),
        }
    }

    fn path(&self) -> Option<&AbsPath> {
        match self {
            Self::CreateDirectory { dir, .. } => Some(&dir.path),
            Self::Chown { path, .. }
            | Self::Chmod { path, .. }
            | Self::SetAcl { path, .. }
            | Self::RemoveAcl { path, .. }
            | Self::FixContents { path, .. } => Some(path),
            _ => None,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::InitAccountFiles => "InitAccountFiles",
            Self::CreateGroup { .. } => "CreateGroup",
            Self::CreateUser(_) => "CreateUser",
            Self::ModifyUser { .. } => "ModifyUser",
            Self::CreateDirectory { .. } => "CreateDirectory",
            Self::Chown { .. } => "Chown",
            Self::Chmod { .. } => "Chmod",
            Self::SetAcl { .. } => "SetAcl",
            Self::RemoveAcl { .. } => "RemoveAcl",
            Self::FixContents { .. } => "FixContents",
        }
    }

    fn description(&self) -> String {
        match self {
            Self::InitAccountFiles => {
                "seed /etc/passwd, group, shadow and gshadow of the new root with root only".into()
            }
            Self::CreateGroup { name, gid } => match gid {
                Some(gid) => format!("create system group {name} (gid {gid})"),
                None => format!("create system group {name} (gid allocated)"),
            },
            Self::CreateUser(user) => {
                let uid = user.uid.map_or("uid allocated".to_owned(), |uid| format!("uid {uid}"));
                let groups =
                    if user.groups.is_empty() { String::new() } else { format!(", groups {}", comma(&user.groups)) };
                format!(
                    "create system user {} ({uid}, group {}{groups}, shell {})",
                    user.name, user.group, user.shell.0
                )
            }
            Self::ModifyUser { name, drift, .. } => format!("update user {name}: {} -> {}", drift.1, drift.0),
            Self::CreateDirectory { dir, managed: true } => {
                let acl = if dir.acl.is_empty() { String::new() } else { format!(" +{} ACL entries", dir.acl.len()) };
                format!("create directory {} {}:{} {}{acl}", dir.path, dir.owner, dir.group, dir.mode)
            }
            Self::CreateDirectory { dir, managed: false } => {
                format!("create parent directory {} root:root 0755", dir.path)
            }
            Self::Chown { path, owner, group, from } => {
                format!("chown {path}: {}:{} -> {owner}:{group}", from.0, from.1)
            }
            Self::Chmod { path, mode, from } => format!("chmod {path}: {from} -> {mode}"),
            Self::SetAcl { path, kind, entries, .. } => {
                let wanted: Vec<String> = entries
                    .iter()
                    .filter(|e| e.default == (*kind == AclKind::Default))
                    .map(ToString::to_string)
                    .collect();
                format!("set {} ACL of {path}: {}", kind.name(), wanted.join(","))
            }
            Self::RemoveAcl { path, kind, .. } => format!("remove {} ACL of {path}", kind.name()),
            Self::FixContents { path, owner, group, fixes } => {
                format!("fix owner {owner}:{group} and mode of {} existing entries below {path}", fixes.len())
            }
        }
    }

    fn shell_commands(&self, root: &Root) -> Vec<String> {
        if let Some(cmd) = self.command(root) {
            return vec![cmd.to_shell()];
        }
        let at = |path: &AbsPath| quote(root.resolve(path).as_os_str());
        match self {
            Self::InitAccountFiles => SEED_ACCOUNT_FILES
                .iter()
                .map(|(file, _, mode)| {
                    format!(
                        "write-atomic {} (mode {:04o}, if missing)",
                        quote(root.dir().join(&file[1..]).as_os_str()),
                        mode
                    )
                })
                .collect(),
            Self::CreateDirectory { dir, managed } => {
                let mut lines = vec![format!("mkdir -m 0700 {}", at(&dir.path))];
                lines.push(format!("chown --no-dereference {}:{} {}", dir.owner, dir.group, at(&dir.path)));
                lines.push(format!("chmod {} {}", dir.mode, at(&dir.path)));
                if *managed {
                    for kind in [AclKind::Access, AclKind::Default] {
                        if dir.acl.iter().any(|e| e.default == (kind == AclKind::Default)) {
                            lines.push(setfacl_line(kind, &dir.acl, dir.mode, &at(&dir.path)));
                        }
                    }
                }
                lines
            }
            Self::Chown { path, owner, group, .. } => {
                vec![format!("chown --no-dereference {owner}:{group} {}", at(path))]
            }
            Self::Chmod { path, mode, .. } => vec![format!("chmod {mode} {}", at(path))],
            Self::SetAcl { path, kind, entries, mode, .. } => vec![setfacl_line(*kind, entries, *mode, &at(path))],
            Self::RemoveAcl { path, kind: AclKind::Access, .. } => vec![format!("setfacl --remove-all {}", at(path))],
            Self::RemoveAcl { path, kind: AclKind::Default, .. } => {
                vec![format!("setfacl --remove-default {}", at(path))]
            }
            Self::FixContents { path, owner, group, fixes } => {
                let top = root.resolve(path);
                fixes
                    .iter()
                    .flat_map(|fix| {
                        let target = quote(top.join(&fix.path).as_os_str());
                        let chown = fix.chown.then(|| format!("chown --no-dereference {owner}:{group} {target}"));
                        let chmod = fix.mode.map(|mode| format!("chmod {mode} {target}"));
                        chown.into_iter().chain(chmod)
                    })
                    .collect()
            }
            Self::CreateGroup { .. } | Self::CreateUser(_) | Self::ModifyUser { .. } => Vec::new(),
        }
    }

    fn preconditions(&self, root: &Root) -> Vec<String> {
        let at = |path: &AbsPath| root.resolve(path).display().to_string();
        match self {
            Self::InitAccountFiles => vec![format!("{} has no account files", root.dir().display())],
            Self::CreateGroup { name, .. } => vec![format!("group {name} does not exist")],
            Self::CreateUser(user) => vec![format!("user {} does not exist", user.name)],
            Self::ModifyUser { name, .. } => vec![format!("user {name} exists")],
            Self::CreateDirectory { dir, .. } => {
                vec![format!("{} does not exist and its parent is a directory reached without symlinks", at(&dir.path))]
            }
            _ => self
                .path()
                .map(|path| vec![format!("{} is a directory reached without symlinks", at(path))])
                .unwrap_or_default(),
        }
    }

    fn drift(&self) -> Drift {
        let path = self.path().map(|p| p.as_path().to_path_buf());
        let (expected, actual) = match self {
            Self::InitAccountFiles => ("/etc/passwd and /etc/group".into(), "missing".into()),
            Self::CreateGroup { .. } | Self::CreateUser(_) => ("present".into(), "missing".into()),
            Self::ModifyUser { drift, .. } => drift.clone(),
            Self::CreateDirectory { dir, .. } => {
                (format!("directory {}:{} {}", dir.owner, dir.group, dir.mode), "missing".into())
            }
            Self::Chown { owner, group, from, .. } => {
                (format!("owner {owner}:{group}"), format!("owner {}:{}", from.0, from.1))
            }
            Self::Chmod { mode, from, .. } => (format!("mode {mode}"), format!("mode {from}")),
            Self::SetAcl { kind, entries, from, .. } => {
                let wanted: Vec<String> = entries
                    .iter()
                    .filter(|e| e.default == (*kind == AclKind::Default))
                    .map(|e| e.to_string())
                    .collect();
                (
                    format!("{} ACL {}", kind.name(), wanted.join(",")),
                    format!("{} ACL {}", kind.name(), none_if_empty(from)),
                )
            }
            Self::RemoveAcl { kind, from, .. } => {
                (format!("no {} ACL", kind.name()), format!("{} ACL {}", kind.name(), from.join(",")))
            }
            Self::FixContents { owner, group, fixes, .. } => (
                format!("all contents owned {owner}:{group} with the directory's mode"),
                format!(
                    "{} entries differ, first {}",
                    fixes.len(),
                    fixes.first().map_or(String::new(), |f| f.path.display().to_string())
                ),
            ),
        };
        Drift { object: self.object(), path, expected, actual }
    }
}

fn none_if_empty(items: &[String]) -> String {
    if items.is_empty() { "none".into() } else { items.join(",") }
}

fn setfacl_line(kind: AclKind, entries: &[AclEntry], mode: Mode, target: &str) -> String {
    let flag = if kind == AclKind::Default { "--default --set" } else { "--set" };
    format!("setfacl {flag} {} {target}", quote(std::ffi::OsStr::new(&full_acl_text(kind, entries, mode))))
}

impl jts_core::Step for PermsStep {
    type State = Observed;
    type Error = crate::error::Error;

    fn record(&self, _: &Root) -> jts_core::StepRecord {
        jts_core::StepRecord { kind: self.kind(), object: self.object(), description: self.description() }
    }

    fn info(&self, root: &Root) -> StepInfo {
        StepInfo { commands: self.shell_commands(root), ..self.brief(root) }
    }

    /// Without the two shell lines per entry of a [`PermsStep::FixContents`] (nor any
    /// other step's): what an apply that is no dry run needs.
    fn brief(&self, root: &Root) -> StepInfo {
        StepInfo {
            kind: self.kind(),
            object: self.object(),
            description: self.description(),
            destructive: false,
            commands: Vec::new(),
            preconditions: self.preconditions(root),
            drift: Some(self.drift()),
        }
    }

    fn simulate(&self, state: &mut Observed) {
        match self {
            Self::InitAccountFiles => {
                state.accounts.files_present = true;
                state.accounts.users.entry("root".into()).or_insert(UserEntry {
                    uid: 0,
                    gid: 0,
                    comment: "root".into(),
                    home: "/root".into(),
                    shell: "/bin/bash".into(),
                });
                state.accounts.groups.entry("root".into()).or_insert(GroupEntry { gid: 0, members: vec![] });
                // Seeding makes /etc like `mkdir -p`: a declared /etc is then fixed, not created.
                let etc = AbsPath::new("/etc").expect("constant path");
                if let Some(path @ PathState::Missing) = state.paths.get_mut(&etc) {
                    *path = PathState::Directory(DirState {
                        uid: 0,
                        gid: 0,
                        mode: Mode::new(jts_core::nofollow::PARENT_MODE),
                        acl: Vec::new(),
                        default_acl: Vec::new(),
                    });
                }
            }
            Self::CreateGroup { name, gid } => {
                let gid = gid.unwrap_or_else(|| state.accounts.next_system_gid());
                state.accounts.groups.insert(name.clone(), GroupEntry { gid, members: vec![] });
            }
            Self::CreateUser(user) => {
                let uid = user.uid.unwrap_or_else(|| state.accounts.next_system_uid());
                let gid = state.accounts.gid(&user.group).unwrap_or(u32::MAX);
                state.accounts.users.insert(
                    user.name.clone(),
                    UserEntry {
                        uid,
                        gid,
                        comment: user.comment.clone().unwrap_or_default(),
                        home: user.home.0.to_string(),
                        shell: user.shell.0.to_string(),
                    },
                );
                add_memberships(state, &user.name, &user.groups);
            }
            Self::ModifyUser { name, add_groups, shell, home, comment, .. } => {
                if let Some(entry) = state.accounts.users.get_mut(name) {
                    if let Some(shell) = shell {
                        entry.shell = shell.to_string();
                    }
                    if let Some(home) = home {
                        entry.home = home.to_string();
                    }
                    if let Some(comment) = comment {
                        entry.comment.clone_from(comment);
                    }
                }
                add_memberships(state, name, add_groups);
            }
            Self::CreateDirectory { dir, .. } => {
                let uid = state.accounts.uid(&dir.owner).unwrap_or(u32::MAX);
                let gid = state.accounts.gid(&dir.group).unwrap_or(u32::MAX);
                let acl_of = |kind| {
                    full_acl(kind, &dir.acl, dir.mode, &state.accounts)
                        .map(|full| expected_observation(kind, &full))
                        .unwrap_or_default()
                };
                let new = DirState {
                    uid,
                    gid,
                    mode: dir.mode,
                    acl: acl_of(AclKind::Access),
                    default_acl: acl_of(AclKind::Default),
                };
                state.paths.insert(dir.path.clone(), PathState::Directory(new));
            }
            Self::Chown { path, owner, group, .. } => {
                let (uid, gid) = (state.accounts.uid(owner), state.accounts.gid(group));
                if let Some(dir) = dir_mut(state, path) {
                    dir.uid = uid.unwrap_or(u32::MAX);
                    dir.gid = gid.unwrap_or(u32::MAX);
                }
            }
            Self::Chmod { path, mode, .. } => {
                if let Some(dir) = dir_mut(state, path) {
                    dir.mode = *mode;
                }
            }
            Self::SetAcl { path, kind, entries, mode, .. } => {
                let full = full_acl(*kind, entries, *mode, &state.accounts).unwrap_or_default();
                set_observed_acl(state, path, *kind, expected_observation(*kind, &full));
            }
            Self::RemoveAcl { path, kind, .. } => set_observed_acl(state, path, *kind, Vec::new()),
            Self::FixContents { path, owner, group, fixes } => {
                let (uid, gid) =
                    (state.accounts.uid(owner).unwrap_or(u32::MAX), state.accounts.gid(group).unwrap_or(u32::MAX));
                let Some(entries) = state.contents.get_mut(path) else { return };
                // Both lists are in path order (the fixes are made from the entries), so one
                // merge walk finds every fix's entry.
                let mut entries = Arc::make_mut(entries).iter_mut();
                for fix in fixes {
                    let Some(entry) = entries.by_ref().find(|e| e.path == fix.path) else { break };
                    if fix.chown {
                        (entry.uid, entry.gid) = (uid, gid);
                    }
                    if let Some(mode) = fix.mode {
                        entry.mode = mode;
                    }
                }
            }
        }
    }

    fn recheck(&self, ctx: &jts_core::Context<'_>) -> Result<(), Self::Error> {
        crate::apply::recheck(self, ctx)
    }

    fn execute(&self, ctx: &jts_core::Context<'_>) -> Result<(), Self::Error> {
        crate::apply::execute(self, ctx)
    }
}

fn add_memberships(state: &mut Observed, user: &str, groups: &[Principal]) {
    for group in groups {
        let entry = match group {
            Principal::Name(name) => state.accounts.groups.get_mut(name),
            Principal::Id(gid) => state.accounts.groups.values_mut().find(|g| g.gid == *gid),
        };
        if let Some(entry) = entry.filter(|g| !g.members.iter().any(|m| m == user)) {
            entry.members.push(user.to_owned());
        }
    }
}

fn dir_mut<'a>(state: &'a mut Observed, path: &AbsPath) -> Option<&'a mut DirState> {
    match state.paths.get_mut(path) {
        Some(PathState::Directory(dir)) => Some(dir),
        _ => None,
    }
}

fn set_observed_acl(state: &mut Observed, path: &AbsPath, kind: AclKind, entries: Vec<crate::acl::ResolvedEntry>) {
    if let Some(dir) = dir_mut(state, path) {
        match kind {
            AclKind::Access => dir.acl = entries,
            AclKind::Default => dir.default_acl = entries,
        }
    }
}

#[cfg(test)]
mod tests {
    use jts_core::{Context, RecordingRunner, Step};

    use super::*;
    use crate::spec::PermsSpec;

    fn spec() -> PermsSpec {
        toml::from_str(
            r#"
            [groups.backup]
            gid = 2001
            [users.postgres]
            uid = 2100
            groups = ["backup"]
            comment = "PostgreSQL server"
            "#,
        )
        .unwrap()
    }

    #[test]
    fn account_steps_run_shadow_tools_with_prefix_under_root() {
        let root = Root::new("/scratch").unwrap();
        let observed =
            Observed { accounts: crate::Accounts { files_present: true, ..Default::default() }, ..Default::default() };
        let plan = crate::plan(&spec(), &observed);
        let runner = RecordingRunner::new();
        let ctx = Context { root: &root, runner: &runner };
        for step in &plan.steps {
            step.execute(&ctx).unwrap();
        }
        let lines: Vec<String> = runner.calls().iter().map(CmdSpec::to_shell).collect();
        assert_eq!(
            lines,
            [
                "groupadd --system --gid 2001 --prefix /scratch backup",
                "groupadd --system --prefix /scratch postgres",
                "useradd --system --no-create-home --no-user-group --gid postgres --groups backup --home-dir /nonexistent \
                 --shell /usr/sbin/nologin --comment 'PostgreSQL server' --uid 2100 --prefix /scratch postgres",
            ]
        );
        let infos: Vec<StepInfo> = plan.steps.iter().map(|s| s.info(&root)).collect();
        assert_eq!(infos[2].commands, [lines[2].clone()], "the plan shows exactly what runs");
    }

    #[test]
    fn host_commands_have_no_prefix() {
        let step = PermsStep::CreateGroup { name: "dba".into(), gid: None };
        assert_eq!(step.command(&Root::host()).unwrap().to_shell(), "groupadd --system dba");
    }

    #[test]
    fn existing_user_gets_missing_groups_and_spec_fields_only() {
        let mut observed = Observed::default();
        observed.accounts.files_present = true;
        observed.accounts.groups.insert("backup".into(), GroupEntry { gid: 2001, members: vec![] });
        observed.accounts.groups.insert("postgres".into(), GroupEntry { gid: 2100, members: vec![] });
        observed.accounts.users.insert(
            "postgres".into(),
            UserEntry {
                uid: 2100,
                gid: 2100,
                comment: "old".into(),
                home: "/var/lib/postgresql".into(),
                shell: "/bin/bash".into(),
            },
        );
        let plan = crate::plan(&spec(), &observed);
        assert_eq!(plan.steps.len(), 1, "{plan:?}");
        let cmd = plan.steps[0].command(&Root::host()).unwrap().to_shell();
        assert_eq!(cmd, "usermod --append --groups backup --comment 'PostgreSQL server' postgres");
    }
}
