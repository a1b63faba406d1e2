//! The `[backups.NAME]` spec section (README, "Backups and restores") and its checks.

use std::collections::BTreeMap;
use std::ops::Range;

use jts_core::{AbsPath, Size, SpecDuration, SpecError};
use jts_fs::FsKind;
use serde::Deserialize;
use serde_spanned::Spanned;

use crate::retention::KeepPolicy;

/// The zstd level of an archive when `compress` is not given (what `zstd` uses).
pub const DEFAULT_LEVEL: i32 = 3;

/// How long a `command` source may run when `timeout` is not given.
pub const DEFAULT_COMMAND_TIMEOUT: SpecDuration = SpecDuration::from_secs(6 * 3600);

/// How long one hook may run when `hooks.timeout` is not given.
pub const DEFAULT_HOOK_TIMEOUT: SpecDuration = SpecDuration::from_secs(300);

/// The member a `command` source's output is stored as when `member` is not given.
pub const DEFAULT_MEMBER: &str = "dump";

/// `[backups.NAME]`: one backup, with exactly one source.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSpec {
    /// An LV of the spec, archived through a temporary read-only snapshot.
    pub volume: Option<Spanned<String>>,
    /// A directory read live.
    pub path: Option<Spanned<AbsPath>>,
    /// A command whose standard output is the dump (absolute argv).
    pub command: Option<Spanned<Vec<String>>>,
    /// The user a `command` runs as (default root).
    pub user: Option<Spanned<String>>,
    /// The archive member a `command`'s output is stored as (default `dump`).
    pub member: Option<Spanned<String>>,
    /// How long a `command` may run (default 6h).
    pub timeout: Option<Spanned<SpecDuration>>,
    /// The existing directory archives are written to (the warm tier).
    pub to: Spanned<AbsPath>,
    /// Commands run before and after the source is read.
    #[serde(default)]
    pub hooks: Option<Spanned<Hooks>>,
    /// What a failed hook does (default `abort`).
    pub on_hook_failure: Option<Spanned<OnHookFailure>>,
    /// The COW space of a `volume` source's temporary snapshot.
    pub snapshot_size: Option<Spanned<Size>>,
    /// The snapshot's COW fill (percent) past which the backup fails.
    pub max_cow_percent: Option<Spanned<u8>>,
    /// Calendar retention.
    #[serde(default)]
    pub keep: Option<Spanned<KeepPolicy>>,
    /// The zstd level (1–19, default 3).
    pub compress: Option<Spanned<i32>>,
    /// An `OnCalendar=` value for the rendered timer.
    pub schedule: Option<Spanned<String>>,
}

/// `hooks`: one argv run before the source is read and one after.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hooks {
    /// Run before the source is read, e.g. `["/usr/bin/psql", "-c", "CHECKPOINT"]`.
    pub before: Option<Spanned<Vec<String>>>,
    /// Run after, whenever `before` ran.
    pub after: Option<Spanned<Vec<String>>>,
    /// How long each hook may take (default 5m).
    pub timeout: Option<Spanned<SpecDuration>>,
    /// The user the hooks run as (default root), e.g. `"postgres"` for `psql`.
    pub user: Option<Spanned<String>>,
}

/// The hooks of a checked backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookCommands {
    /// Run before the source is read.
    pub before: Option<Vec<String>>,
    /// Run after, whenever `before` ran.
    pub after: Option<Vec<String>>,
    /// How long each may take.
    pub timeout: SpecDuration,
    /// The user they run as (`None`: as jts itself).
    pub user: Option<String>,
}

impl Default for HookCommands {
    /// No hooks, with the default timeout.
    fn default() -> Self {
        Self { before: None, after: None, timeout: DEFAULT_HOOK_TIMEOUT, user: None }
    }
}

/// What a failed `hooks.before` does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnHookFailure {
    /// Fail the backup (no archive is kept); `hooks.after` still runs.
    #[default]
    Abort,
    /// Record the failure in the manifest and go on.
    Continue,
}

/// The COW fill past which a `volume` backup fails when `max_cow_percent` is not given.
pub const DEFAULT_MAX_COW_PERCENT: u8 = 90;

/// What a backup reads, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An LV of the spec, through a temporary snapshot.
    Volume(VolumeSource),
    /// A live directory.
    Path {
        /// The directory.
        path: AbsPath,
    },
    /// A command's standard output.
    Command {
        /// Its absolute argv.
        argv: Vec<String>,
        /// The user it runs as (`None`: as jts itself).
        user: Option<String>,
        /// The member its output is stored as.
        member: String,
        /// How long it may run.
        timeout: SpecDuration,
    },
}

impl Source {
    /// `"volume"`, `"path"` or `"command"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Volume(_) => "volume",
            Self::Path { .. } => "path",
            Self::Command { .. } => "command",
        }
    }
}

/// A `volume` source, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSource {
    /// The LV's VG.
    pub vg: String,
    /// The LV's name.
    pub lv: String,
    /// The filesystem on it (ext4 or xfs), which says how to mount the snapshot.
    pub filesystem: FsKind,
    /// The snapshot's COW space (`None`: a tenth of the origin).
    pub snapshot_size: Option<Size>,
    /// The COW fill, in percent, past which the backup fails.
    pub max_cow_percent: u8,
}

/// A checked backup, ready to run: what [`BackupSpec::compile`] makes of a `[backups.NAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// The backup's name: the prefix of its archives' names.
    pub name: String,
    /// What it reads.
    pub source: Source,
    /// Where its archives are written.
    pub to: AbsPath,
    /// Retention.
    pub keep: KeepPolicy,
    /// The zstd level.
    pub level: i32,
    /// `hooks.before`, `hooks.after`, their timeout and user.
    pub hooks: HookCommands,
    /// What a failed hook does.
    pub on_hook_failure: OnHookFailure,
}

impl BackupSpec {
    /// The runnable backup; `None` when [`check`] reports a problem with its source.
    pub fn compile(&self, name: &str, context: &SpecContext) -> Option<Backup> {
        let source = match (&self.volume, &self.path, &self.command) {
            (Some(lv), None, None) => {
                let volume = context.volumes.iter().find(|v| v.name == *lv.get_ref())?;
                Source::Volume(VolumeSource {
                    vg: volume.vg.clone(),
                    lv: volume.name.clone(),
                    filesystem: volume.filesystem,
                    snapshot_size: self.snapshot_size.as_ref().map(|s| *s.get_ref()),
                    max_cow_percent: self.max_cow_percent.as_ref().map_or(DEFAULT_MAX_COW_PERCENT, |p| *p.get_ref()),
                })
            }
            (None, Some(path), None) => Source::Path { path: path.get_ref().clone() },
            (None, None, Some(argv)) => Source::Command {
                argv: argv.get_ref().clone(),
                user: self.user.as_ref().map(|u| u.get_ref().clone()),
                member: self.member.as_ref().map_or_else(|| DEFAULT_MEMBER.to_owned(), |m| m.get_ref().clone()),
                timeout: self.timeout.as_ref().map_or(DEFAULT_COMMAND_TIMEOUT, |t| *t.get_ref()),
            },
            _ => return None,
        };
        let hooks = self.hooks.as_ref().map(|h| h.get_ref().clone()).unwrap_or_default();
        Some(Backup {
            name: name.to_owned(),
            source,
            to: self.to.get_ref().clone(),
            keep: self.keep.as_ref().map(|k| k.get_ref().clone()).unwrap_or_default(),
            level: self.compress.as_ref().map_or(DEFAULT_LEVEL, |c| *c.get_ref()),
            hooks: HookCommands {
                before: hooks.before.map(Spanned::into_inner),
                after: hooks.after.map(Spanned::into_inner),
                timeout: hooks.timeout.map_or(DEFAULT_HOOK_TIMEOUT, Spanned::into_inner),
                user: hooks.user.map(Spanned::into_inner),
            },
            on_hook_failure: self.on_hook_failure.as_ref().map(|o| *o.get_ref()).unwrap_or_default(),
        })
    }
}

/// What the rest of the spec tells the backup checks: the LVs it declares, and the
/// `[[rules]]` that move or delete files (by `from`, `action` and `compress`).
#[derive(Debug, Clone, Default)]
pub struct SpecContext {
    /// Every LV declared under `[volume_groups.VG.volumes]`.
    pub volumes: Vec<VolumeView>,
    /// Each rule: its name, its `from`, whether it deletes, and whether it compresses.
    pub rules: Vec<RuleView>,
}

/// The parts of an LV declaration a `volume` source needs.
#[derive(Debug, Clone)]
pub struct VolumeView {
    /// Its VG.
    pub vg: String,
    /// The LV's name.
    pub name: String,
    /// The filesystem the spec makes on it.
    pub filesystem: FsKind,
}

/// The parts of a `[[rules]]` entry the backup checks need.
#[derive(Debug, Clone)]
pub struct RuleView {
    /// The rule's name.
    pub name: String,
    /// Its `from`.
    pub from: AbsPath,
    /// Its `to`, for a move.
    pub to: Option<AbsPath>,
    /// `action = "delete"`.
    pub deletes: bool,
    /// `compress` is set.
    pub compresses: bool,
}

/// Directories `to` may not be: the system itself, and jts's own state.
const FORBIDDEN_TO: [&str; 12] =
    ["/", "/bin", "/boot", "/dev", "/etc", "/lib", "/proc", "/run", "/sbin", "/sys", "/usr", "/var"];

fn span<T>(value: &Spanned<T>) -> Option<Range<usize>> {
    Some(value.span())
}

/// Whether `name` can prefix an archive's file name and a unit's instance.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['.', '-'])
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Checks `[backups]`: names, exactly one source, absolute argv and hooks, `to` outside
/// the system and not shared, volume-only and command-only keys, levels, budgets,
/// retention, and the `[[rules]]` that would touch archives. Each message says the fix.
pub fn check(backups: &BTreeMap<String, Spanned<BackupSpec>>, context: &SpecContext) -> Vec<SpecError> {
    let mut errors = Vec::new();
    let mut destinations: BTreeMap<&AbsPath, &str> = BTreeMap::new();
    for (name, entry) in backups {
        let backup = entry.get_ref();
        let key =
            |field: &str| if field.is_empty() { format!("backups.{name}") } else { format!("backups.{name}.{field}") };
        let mut push = |at: Option<Range<usize>>, field: &str, message: String| {
            errors.push(SpecError::new(at.or_else(|| Some(entry.span())), key(field), message));
        };
        if !valid_name(name) {
            push(
                None,
                "",
                format!(
                    "backup name {name:?} starts every archive's file name; use at most 64 letters, digits, `-`, `_` \
                     and `.`, not first"
                ),
            );
        }
        check_source(backup, context, &mut push);
        let to = backup.to.get_ref();
        if let Some(system) = FORBIDDEN_TO.iter().find(|dir| to.as_path() == std::path::Path::new(dir)) {
            push(span(&backup.to), "to", format!("{system} is a system directory; name a directory on the warm tier"));
        } else if to.as_path().starts_with("/var/lib/jts") || to.as_path().starts_with("/proc") {
            push(
                span(&backup.to),
                "to",
                format!("{to} is jts's or the kernel's own; name a directory on the warm tier"),
            );
        }
        if let Some(path) = &backup.path {
            let source = path.get_ref().as_path();
            if to.as_path().starts_with(source) {
                push(
                    span(&backup.to),
                    "to",
                    format!(
                        "`to` ({to}) is inside the source {source:?}: each run would archive the archives; put it outside"
                    ),
                );
            }
        }
        if let Some(other) = destinations.insert(to, name) {
            push(
                span(&backup.to),
                "to",
                format!("{to} is also `to` of backups.{other}; give each backup its own directory, e.g. {to}/{name}"),
            );
        }
        for rule in &context.rules {
            let covers = to.as_path().starts_with(rule.from.as_path());
            if covers && rule.deletes {
                push(
                    span(&backup.to),
                    "to",
                    format!(
                        "rule {} deletes files under {} by age, archives included, whatever `keep` says; narrow its \
                         `from`, or let `keep` expire the archives",
                        rule.name, rule.from
                    ),
                );
            } else if covers && rule.compresses {
                push(
                    span(&backup.to),
                    "to",
                    format!(
                        "rule {} compresses what it moves from {}, but an archive is already zstd and would no longer \
                         be found under its name; remove `compress` from that rule",
                        rule.name, rule.from
                    ),
                );
            }
        }
        if let Some(level) = &backup.compress {
            if !(1..=19).contains(level.get_ref()) {
                push(
                    span(level),
                    "compress",
                    format!("zstd level {} is out of range; use 1 to 19 (3 is zstd's default)", level.get_ref()),
                );
            }
        }
        if let Some(percent) = &backup.max_cow_percent {
            if !(1..=99).contains(percent.get_ref()) {
                push(
                    span(percent),
                    "max_cow_percent",
                    format!("{}% is no budget; use 1 to 99, e.g. 80", percent.get_ref()),
                );
            }
        }
        if let Some(schedule) = &backup.schedule {
            let text = schedule.get_ref();
            if text.trim().is_empty() || text.contains(['\n', '\r']) {
                push(span(schedule), "schedule", "give an OnCalendar= value, e.g. \"Mon..Fri 22:30\"".to_owned());
            }
        }
        if let Some(keep) = &backup.keep {
            if let Err(message) = keep.get_ref().check() {
                push(span(keep), "keep", message);
            }
        }
        if let Some(hooks) = &backup.hooks {
            let hooks = hooks.get_ref();
            for (field, argv) in [("hooks.before", &hooks.before), ("hooks.after", &hooks.after)] {
                if let Some(argv) = argv {
                    if let Err(message) = check_argv(argv.get_ref()) {
                        push(span(argv), field, message);
                    }
                }
            }
        }
    }
    errors
}

/// The source keys: exactly one of `volume`, `path` and `command`, and the keys that
/// belong to only one of them.
fn check_source(backup: &BackupSpec, context: &SpecContext, push: &mut impl FnMut(Option<Range<usize>>, &str, String)) {
    let given: Vec<&str> = [
        backup.volume.as_ref().map(|_| "volume"),
        backup.path.as_ref().map(|_| "path"),
        backup.command.as_ref().map(|_| "command"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if given.len() != 1 {
        let what = if given.is_empty() {
            "no source".to_owned()
        } else {
            format!("{} sources ({})", given.len(), given.join(", "))
        };
        push(
            None,
            "",
            format!(
                "{what}; give exactly one of `volume = \"lv_postgres\"`, `path = \"/etc/jts\"` or \
                 `command = [\"/usr/bin/pg_dump\", \"-Fc\", \"trading\"]`"
            ),
        );
    }
    if let Some(lv) = &backup.volume {
        match context.volumes.iter().find(|v| v.name == *lv.get_ref()) {
            None => push(
                span(lv),
                "volume",
                format!(
                    "{} is no volume of this spec; name an LV declared under [volume_groups.VG.volumes]",
                    lv.get_ref()
                ),
            ),
            Some(VolumeView { filesystem: FsKind::Ext4 | FsKind::Xfs, .. }) => {}
            Some(VolumeView { filesystem: FsKind::Btrfs, .. }) => push(
                span(lv),
                "volume",
                format!(
                    "{} holds btrfs, whose LVM snapshot cannot be mounted beside its origin (both have one fsid); \
                     use a `path` source on a btrfs read-only subvolume snapshot instead",
                    lv.get_ref()
                ),
            ),
            Some(VolumeView { filesystem: FsKind::None, .. }) => push(
                span(lv),
                "volume",
                format!(
                    "{} is a raw volume with no filesystem to archive; use a `command` source that dumps it",
                    lv.get_ref()
                ),
            ),
        }
    }
    if let Some(argv) = &backup.command {
        if let Err(message) = check_argv(argv.get_ref()) {
            push(span(argv), "command", message);
        }
    }
    if let Some(member) = &backup.member {
        let m = member.get_ref();
        if m.is_empty() || m.contains('/') || m.starts_with('.') {
            push(span(member), "member", format!("{m:?} is not a plain file name; e.g. \"trading.dump\""));
        }
    }
    let command_only = [
        ("user", backup.user.as_ref().map(Spanned::span)),
        ("member", backup.member.as_ref().map(Spanned::span)),
        ("timeout", backup.timeout.as_ref().map(Spanned::span)),
    ];
    if backup.command.is_none() {
        for (field, at) in command_only.into_iter().filter_map(|(f, at)| Some((f, at?))) {
            push(Some(at), field, format!("`{field}` applies to a `command` source only; remove it"));
        }
    }
    let volume_only = [
        ("snapshot_size", backup.snapshot_size.as_ref().map(Spanned::span)),
        ("max_cow_percent", backup.max_cow_percent.as_ref().map(Spanned::span)),
    ];
    if backup.volume.is_none() {
        for (field, at) in volume_only.into_iter().filter_map(|(f, at)| Some((f, at?))) {
            push(Some(at), field, format!("`{field}` applies to a `volume` source only; remove it"));
        }
    }
}

/// An argv must be non-empty with an absolute program: it runs without a shell or PATH.
fn check_argv(argv: &[String]) -> Result<(), String> {
    match argv.first() {
        None => Err("empty command; give an argv such as [\"/usr/bin/psql\", \"-c\", \"CHECKPOINT\"]".to_owned()),
        Some(program) if !program.starts_with('/') => Err(format!(
            "{program:?} is not an absolute path; the command runs without a shell or PATH: write e.g. \"/usr/bin/{program}\""
        )),
        Some(_) => Ok(()),
    }
}
