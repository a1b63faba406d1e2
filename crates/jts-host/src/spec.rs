//! Loading the host spec: TOML into [`HostSpec`], every problem located as `file:line:col`.
//!
//! Each concern crate owns the serde types of its own section (`jts_perms::UserSpec`,
//! `jts_lvm::VgSpec`, `jts_tiering::rules::RuleSpec`, …); this module composes them. A
//! new section is one field in [`RawHostSpec`] and one in [`HostSpec`].

use std::path::{Path, PathBuf};

use jts_core::SpecError;
use jts_perms::{DirectorySpec, GroupSpec, PermsSpec, UserSpec};
use serde::Deserialize;
use toml::Spanned;

/// The spec format this library reads.
const SUPPORTED_VERSION: u32 = 1;

/// The whole host spec, version 1.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHostSpec {
    version: Spanned<u32>,
    #[serde(default)]
    allow_destroy: Vec<String>,
    #[serde(default)]
    groups: std::collections::BTreeMap<String, Spanned<GroupSpec>>,
    #[serde(default)]
    users: std::collections::BTreeMap<String, Spanned<UserSpec>>,
    #[serde(default)]
    directories: Vec<DirectorySpec>,
    #[serde(default)]
    volume_groups: std::collections::BTreeMap<String, Spanned<jts_lvm::VgSpec>>,
    #[serde(default)]
    snapshots: std::collections::BTreeMap<String, Spanned<jts_lvm::SnapshotPolicy>>,
    #[serde(default)]
    filesystems: std::collections::BTreeMap<String, Spanned<jts_mounts::FilesystemSpec>>,
    #[serde(default)]
    nfs_mounts: std::collections::BTreeMap<String, Spanned<jts_mounts::NfsMountSpec>>,
    health: Option<Spanned<HealthSection>>,
    #[serde(default)]
    rules: Vec<jts_tiering::rules::RuleSpec>,
    #[serde(default)]
    backups: std::collections::BTreeMap<String, Spanned<jts_backup::BackupSpec>>,
    #[serde(default)]
    boot: BootSection,
    #[serde(default)]
    systemd: SystemdSection,
    #[serde(default)]
    performance: std::collections::BTreeMap<String, Spanned<crate::perf::PerformanceSpec>>,
    #[serde(default)]
    sysctl: std::collections::BTreeMap<String, Spanned<crate::sysctl::SysctlValue>>,
    #[serde(default)]
    upkeep: std::collections::BTreeMap<String, Spanned<crate::upkeep::UpkeepSpec>>,
}

/// `[boot]`: what a managed mount that fails at boot does (see [`jts_mounts::BootPolicy`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootSection {
    /// Whether a failed data mount lets the boot go on (`nofail`; default true).
    pub nofail: Option<bool>,
    /// How long a local mount waits for its device (default 10s).
    pub device_timeout: Option<jts_core::SpecDuration>,
    /// How long the NAS mount may take at boot (default 30s).
    pub nas_mount_timeout: Option<jts_core::SpecDuration>,
}

impl BootSection {
    fn policy(&self) -> jts_mounts::BootPolicy {
        let default = jts_mounts::BootPolicy::default();
        jts_mounts::BootPolicy {
            nofail: self.nofail.unwrap_or(default.nofail),
            device_timeout: self.device_timeout.map_or(default.device_timeout, Into::into),
            nas_mount_timeout: self.nas_mount_timeout.map_or(default.nas_mount_timeout, Into::into),
        }
    }
}

/// `[systemd]`: how the rendered units run jts, and whether `apply` turns their timers on.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemdSection {
    /// The jts-provision the units run (default: the binary that applies the spec).
    pub binary: Option<jts_core::AbsPath>,
    /// The spec path the units pass to `--config` (default: the spec file applied).
    pub config: Option<jts_core::AbsPath>,
    /// Whether `apply` enables the rendered timers (and starts them on a live host).
    /// Default true; false for image builds that enable units themselves.
    pub enable_timers: Option<bool>,
    /// Docker's data root (`data-root` in /etc/docker/daemon.json; default
    /// `/var/lib/docker`): on a managed mount, `docker.service` waits for it.
    pub docker_data_root: Option<jts_core::AbsPath>,
}

/// `[health]`: thresholds and the probe timeout of `jts-provision health`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthSection {
    /// Usage at or above this percentage is WARNING (default 80).
    pub warn_percent: Option<f64>,
    /// Usage at or above this percentage is CRITICAL (default 90).
    pub crit_percent: Option<f64>,
    /// How long one probe may take before its mount is "not responding" (default 2s).
    pub probe_timeout: Option<jts_core::SpecDuration>,
    /// A volume group with this percentage free or less is WARNING (default 10).
    pub vg_free_warn_percent: Option<f64>,
    /// A volume group with this percentage free or less is CRITICAL (default 5).
    pub vg_free_crit_percent: Option<f64>,
    /// A snapshot whose COW space is this full or more is WARNING (default 80).
    pub snapshot_warn_percent: Option<f64>,
    /// A snapshot whose COW space is this full or more is CRITICAL (default 90).
    pub snapshot_crit_percent: Option<f64>,
    /// A last successful tier run older than this is WARNING (default 36h).
    pub tier_run_warn_age: Option<jts_core::SpecDuration>,
    /// A last successful tier run older than this is CRITICAL (default 72h).
    pub tier_run_crit_age: Option<jts_core::SpecDuration>,
    /// How long `vgs` and `lvs` may take before the VGs are UNKNOWN (default 10s).
    pub lvm_timeout: Option<jts_core::SpecDuration>,
    /// A backup whose last archive is older than this is WARNING (default 36h).
    pub backup_warn_age: Option<jts_core::SpecDuration>,
    /// A backup whose last archive is older than this is CRITICAL (default 72h).
    pub backup_crit_age: Option<jts_core::SpecDuration>,
    /// How long the directory usage scans may take together (default 10s).
    pub directory_time_budget: Option<jts_core::SpecDuration>,
    /// `[health.directory_budgets]`: directory path = planned size, e.g.
    /// `"/data/postgresql" = "800GiB"`; each is scanned (as `du -sx`) by every `health`.
    #[serde(default)]
    pub directory_budgets: std::collections::BTreeMap<String, jts_core::Size>,
}

/// The LVM, directory and tier-run levels of `[health]`, checked.
#[derive(Debug, Clone)]
pub struct HealthLevels {
    /// Volume group free-space levels.
    pub vg_free: jts_health::FreeThresholds,
    /// Snapshot COW fill levels.
    pub snapshot_fill: jts_health::Thresholds,
    /// Tier-run ages (warn, crit).
    pub tier_run_ages: (std::time::Duration, std::time::Duration),
    /// Directory scans' time budget.
    pub directory_time_budget: std::time::Duration,
    /// How long `vgs` and `lvs` may take.
    pub lvm_timeout: std::time::Duration,
    /// Directories and their budgets in bytes.
    pub directory_budgets: Vec<(jts_core::AbsPath, u64)>,
    /// Backup ages (warn, crit).
    pub backup_ages: (std::time::Duration, std::time::Duration),
}

impl HealthSection {
    /// Checks the levels; the error says which key and how to fix it.
    pub fn levels(&self) -> Result<HealthLevels, String> {
        let vg_free = jts_health::FreeThresholds::new(
            self.vg_free_warn_percent.unwrap_or(10.0),
            self.vg_free_crit_percent.unwrap_or(5.0),
        )
        .map_err(|err| err.to_string())?;
        let snapshot_fill = jts_health::Thresholds::new(
            self.snapshot_warn_percent.unwrap_or(80.0),
            self.snapshot_crit_percent.unwrap_or(90.0),
        )
        .map_err(|err| format!("snapshot_warn_percent/snapshot_crit_percent: {err}"))?;
        let age = |d: Option<jts_core::SpecDuration>, default: u64| {
            d.map_or(std::time::Duration::from_secs(default), std::time::Duration::from)
        };
        let tier_run_ages = (age(self.tier_run_warn_age, 36 * 3600), age(self.tier_run_crit_age, 72 * 3600));
        if tier_run_ages.0 > tier_run_ages.1 {
            return Err("tier_run_warn_age is above tier_run_crit_age; e.g. \"36h\" and \"72h\"".to_owned());
        }
        let backup_ages = (age(self.backup_warn_age, 36 * 3600), age(self.backup_crit_age, 72 * 3600));
        if backup_ages.0 > backup_ages.1 {
            return Err("backup_warn_age is above backup_crit_age; e.g. \"36h\" and \"72h\"".to_owned());
        }
        let directory_budgets = self
            .directory_budgets
            .iter()
            .map(|(path, size)| {
                jts_core::AbsPath::new(path)
                    .map(|p| (p, size.bytes()))
                    .map_err(|err| format!("directory_budgets: {path}: {err}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(HealthLevels {
            vg_free,
            snapshot_fill,
            tier_run_ages,
            directory_time_budget: age(self.directory_time_budget, 10),
            lvm_timeout: age(self.lvm_timeout, 10),
            directory_budgets,
            backup_ages,
        })
    }
}

/// A parsed host spec.
#[derive(Debug)]
pub struct HostSpec {
    /// Objects the spec allows to be destroyed (the CLI must name them too).
    pub allow_destroy: Vec<String>,
    /// Accounts and directories.
    pub perms: PermsSpec,
    /// Volume groups, volumes and snapshot policies.
    pub lvm: jts_lvm::LvmSpec,
    /// Filesystems on plain devices, and NFS mounts.
    pub mounts: jts_mounts::MountsSpec,
    /// Health thresholds, already checked.
    pub health: jts_health::Thresholds,
    /// How long one health probe may take.
    pub probe_timeout: std::time::Duration,
    /// The LVM, directory and tier-run levels of `[health]`, checked.
    pub health_levels: HealthLevels,
    /// Lifecycle rules between tiers (`[[rules]]`).
    pub rules: Vec<jts_tiering::rules::RuleSpec>,
    /// Backups (`[backups.NAME]`).
    pub backups: std::collections::BTreeMap<String, Spanned<jts_backup::BackupSpec>>,
    /// What a managed mount that fails at boot does (`[boot]`).
    pub boot: jts_mounts::BootPolicy,
    /// How the rendered units run jts (`[systemd]`).
    pub systemd: SystemdSection,
    /// Warm-tier upkeep by btrfs mount name (`[upkeep.NAME]`).
    pub upkeep: std::collections::BTreeMap<String, crate::upkeep::UpkeepSpec>,
    /// Warnings found while loading (e.g. an opt-in to defragmentation), for `check`.
    pub warnings: Vec<String>,
    /// Kernel settings (`[sysctl]`), key → value as `sysctl.conf` writes it.
    pub sysctl: std::collections::BTreeMap<String, String>,
    /// `verify performance` limits and thresholds, by mount name (`[performance.NAME]`).
    pub performance: std::collections::BTreeMap<String, crate::perf::PerformanceSpec>,
    /// The file it was read from and its text, to locate problems found later.
    pub source: SpecSource,
}

/// Where a spec came from: its file and text.
#[derive(Debug, Clone)]
pub struct SpecSource {
    /// The spec file.
    pub file: PathBuf,
    /// Its text as read.
    pub text: String,
}

impl HostSpec {
    /// The jts-provision the rendered units run: `[systemd] binary`, else `running` (the
    /// front end's own path, when it is jts-provision), else the package's path.
    pub fn with_default_binary(mut self, running: Option<jts_core::AbsPath>) -> Self {
        if self.systemd.binary.is_none() {
            self.systemd.binary = running;
        }
        self
    }

    /// `errors` found in this spec (while checking or planning it), located in its file.
    pub fn located(&self, errors: Vec<SpecError>) -> ConfigError {
        ConfigError { file: self.source.file.clone(), source_text: self.source.text.clone(), errors }
    }
}

/// A spec that could not be loaded: where, and every problem found.
#[derive(Debug)]
pub struct ConfigError {
    /// The spec file.
    pub file: PathBuf,
    /// Its text (empty if it could not be read).
    pub source_text: String,
    /// Every problem found.
    pub errors: Vec<SpecError>,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.lines().join("\n"))
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// One `file:line:col: key: message` line per problem.
    pub fn lines(&self) -> Vec<String> {
        self.errors
            .iter()
            .map(|err| match err.line_col(&self.source_text) {
                Some((line, col)) => format!("{}:{line}:{col}: {err}", self.file.display()),
                None => format!("{}: {err}", self.file.display()),
            })
            .collect()
    }
}

/// Reads and parses the spec file; does not consult the machine. See
/// [`crate::load_checked`] for the checks against the account files and rules tables.
pub fn load(file: &Path) -> Result<HostSpec, ConfigError> {
    let (spec, errors) = load_partial(file)?;
    if errors.is_empty() { Ok(spec) } else { Err(spec.located(errors)) }
}

/// Reads and parses the spec file, every problem reported: the spec as far as it could
/// be read (entries in error left out) with the problems found, or `Err` when nothing
/// could be read.
pub(crate) fn load_partial(file: &Path) -> Result<(HostSpec, Vec<SpecError>), ConfigError> {
    let fail = |source_text: String, errors| ConfigError { file: file.to_path_buf(), source_text, errors };
    let text = crate::parse::read_text(file).map_err(|(text, error)| fail(text, vec![error]))?;
    let (raw, mut errors) = crate::parse::parse_every_error::<RawHostSpec>(&text);
    let Some(raw) = raw else { return Err(fail(text, errors)) };
    if *raw.version.get_ref() != SUPPORTED_VERSION {
        let message = format!("unsupported spec version {}; this jts-provision reads version 1", raw.version.get_ref());
        errors.push(SpecError::new(Some(raw.version.span()), "version", message));
        return Err(fail(text, errors));
    }
    let perms = PermsSpec { groups: raw.groups, users: raw.users, directories: raw.directories };
    let lvm = jts_lvm::LvmSpec { volume_groups: raw.volume_groups, snapshots: raw.snapshots };
    let mounts = jts_mounts::MountsSpec { filesystems: raw.filesystems, nfs_mounts: raw.nfs_mounts };
    let section = raw.health.as_ref().map(|h| h.get_ref().clone());
    let health_span = raw.health.as_ref().map(Spanned::span);
    let warn = section.as_ref().and_then(|h| h.warn_percent).unwrap_or(80.0);
    let crit = section.as_ref().and_then(|h| h.crit_percent).unwrap_or(90.0);
    let health = jts_health::Thresholds::new(warn, crit).unwrap_or_else(|err| {
        let message = format!("{err}; e.g. warn_percent = 80, crit_percent = 90");
        errors.push(SpecError::new(health_span.clone(), "health", message));
        jts_health::Thresholds::default()
    });
    let health_levels = section.clone().unwrap_or_default().levels().unwrap_or_else(|message| {
        errors.push(SpecError::new(health_span.clone(), "health", message));
        HealthSection::default().levels().expect("the default levels are valid")
    });
    let probe_timeout =
        section.and_then(|h| h.probe_timeout).map_or(jts_health::DEFAULT_TIMEOUT, std::time::Duration::from);
    let mut spec = HostSpec {
        allow_destroy: raw.allow_destroy,
        perms,
        lvm,
        mounts,
        health,
        probe_timeout,
        health_levels,
        rules: raw.rules,
        backups: raw.backups,
        boot: raw.boot.policy(),
        systemd: SystemdSection {
            config: raw
                .systemd
                .config
                .clone()
                .or_else(|| std::path::absolute(file).ok().and_then(|path| jts_core::AbsPath::new(path).ok())),
            ..raw.systemd
        },
        sysctl: crate::sysctl::settings(&raw.sysctl),
        upkeep: raw.upkeep.iter().map(|(name, section)| (name.clone(), section.get_ref().clone())).collect(),
        warnings: Vec::new(),
        performance: raw.performance.iter().map(|(name, section)| (name.clone(), section.get_ref().clone())).collect(),
        source: SpecSource { file: file.to_path_buf(), text },
    };
    errors.extend(crate::perf::check_performance(&spec, &raw.performance));
    errors.extend(crate::sysctl::check_sysctl(&raw.sysctl));
    let (upkeep_errors, upkeep_warnings) = crate::upkeep::check_upkeep(&spec, &raw.upkeep);
    errors.extend(upkeep_errors);
    spec.warnings = upkeep_warnings;
    spec.perms.directories.extend(mount_root_directories(&spec));
    Ok((spec, errors))
}

/// The `owner`/`group`/`mode` of mounted filesystems, as directory entries applied by
/// jts-perms once the filesystems are mounted (a mount point's own directory is hidden).
fn mount_root_directories(spec: &HostSpec) -> Vec<DirectorySpec> {
    let volumes = spec.lvm.volume_groups.values().flat_map(|vg| vg.get_ref().volumes.values()).filter_map(|volume| {
        let fields = volume.get_ref();
        let root = (fields.mount_point.clone()?, fields.owner.clone(), fields.group.clone(), fields.mode);
        Some((volume.span(), root))
    });
    let filesystems = spec.mounts.filesystems.values().map(|fs| {
        let fields = fs.get_ref();
        let principal = |p: &Option<Spanned<jts_perms::Principal>>| p.as_ref().map(|p| p.get_ref().clone());
        (
            fs.span(),
            (fields.mount_point.get_ref().clone(), principal(&fields.owner), principal(&fields.group), fields.mode),
        )
    });
    volumes
        .chain(filesystems)
        .filter(|(_, (_, owner, group, mode))| owner.is_some() || group.is_some() || mode.is_some())
        .map(|(span, (path, owner, group, mode))| DirectorySpec {
            path: Spanned::new(span.clone(), path),
            owner: owner.map(|o| Spanned::new(span.clone(), o)),
            group: group.map(|g| Spanned::new(span.clone(), g)),
            mode,
            acl: Vec::new(),
            children: Vec::new(),
            recursive: false,
            required_by: Vec::new(),
            access: std::collections::BTreeMap::new(),
        })
        .collect()
}
