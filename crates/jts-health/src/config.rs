//! [`HealthConfig`]: which mounts to check, on which tier, against what, how long to wait.

use std::collections::BTreeSet;
use std::time::Duration;

use jts_core::AbsPath;
use jts_mounts::{MountFs, MountTarget};

use crate::backups::BackupCheck;
use crate::error::{Error, Result};
use crate::lvm::LvmCheck;
use crate::nas::NasTarget;
use crate::status::Thresholds;
use crate::tierrun::TierRunCheck;

/// How long a check waits for the filesystem probes, unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long directory usage scans may take, unless told otherwise.
pub const DEFAULT_DIRECTORY_BUDGET: Duration = Duration::from_secs(10);

/// What a check is asked to look at. Build one with [`HealthConfig::builder`].
///
/// ```
/// use std::time::Duration;
/// use jts_health::{HealthConfig, MountCheck, Thresholds};
///
/// let config = HealthConfig::builder()
///     .timeout(Duration::from_millis(500))
///     .thresholds(Thresholds::new(80.0, 90.0).unwrap())
///     .mount(MountCheck::new("hot", "/data/postgresql").unwrap().source("/dev/vg_jts/lv_postgres"))
///     .mount(MountCheck::new("cold", "/mnt/nas").unwrap().thresholds(Thresholds::new(90.0, 97.0).unwrap()))
///     .build()
///     .unwrap();
/// assert_eq!(config.mounts().len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HealthConfig {
    mounts: Vec<MountCheck>,
    timeout: Duration,
    thresholds: Thresholds,
    lvm: Option<LvmCheck>,
    directories: Vec<DirectoryCheck>,
    directory_budget: Duration,
    tier_run: Option<TierRunCheck>,
    backups: Vec<BackupCheck>,
}

impl HealthConfig {
    /// A builder with no mounts, [`DEFAULT_TIMEOUT`] and the default thresholds (80/90).
    pub fn builder() -> HealthConfigBuilder {
        HealthConfigBuilder::default()
    }

    /// The mounts to check, in the order given.
    pub fn mounts(&self) -> &[MountCheck] {
        &self.mounts
    }

    /// How long the check waits for all filesystem probes together.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The thresholds for mounts without their own.
    pub fn thresholds(&self) -> Thresholds {
        self.thresholds
    }

    /// The thresholds that apply to `mount`: its own, or the config's.
    pub fn thresholds_for(&self, mount: &MountCheck) -> Thresholds {
        mount.thresholds.unwrap_or(self.thresholds)
    }

    /// The volume groups and snapshots to check, if any.
    pub fn lvm(&self) -> Option<&LvmCheck> {
        self.lvm.as_ref()
    }

    /// The directories whose usage is scanned against a budget (none unless asked for:
    /// scans read every inode and are not part of a millisecond check).
    pub fn directories(&self) -> &[DirectoryCheck] {
        &self.directories
    }

    /// How long the directory scans may take together.
    pub fn directory_budget(&self) -> Duration {
        self.directory_budget
    }

    /// The tier-run age check, if any.
    pub fn tier_run(&self) -> Option<&TierRunCheck> {
        self.tier_run.as_ref()
    }

    /// The backups to check.
    pub fn backups(&self) -> &[BackupCheck] {
        &self.backups
    }
}

/// Builds a [`HealthConfig`]; [`HealthConfigBuilder::build`] validates it.
#[derive(Debug, Clone)]
pub struct HealthConfigBuilder {
    mounts: Vec<MountCheck>,
    timeout: Duration,
    thresholds: Thresholds,
    lvm: Option<LvmCheck>,
    directories: Vec<DirectoryCheck>,
    directory_budget: Duration,
    tier_run: Option<TierRunCheck>,
    backups: Vec<BackupCheck>,
}

impl Default for HealthConfigBuilder {
    fn default() -> Self {
        Self {
            mounts: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            thresholds: Thresholds::default(),
            lvm: None,
            directories: Vec::new(),
            directory_budget: DEFAULT_DIRECTORY_BUDGET,
            tier_run: None,
            backups: Vec::new(),
        }
    }
}

impl HealthConfigBuilder {
    /// Adds a mount to check.
    #[must_use]
    pub fn mount(mut self, mount: MountCheck) -> Self {
        self.mounts.push(mount);
        self
    }

    /// Adds several mounts.
    #[must_use]
    pub fn mounts(mut self, mounts: impl IntoIterator<Item = MountCheck>) -> Self {
        self.mounts.extend(mounts);
        self
    }

    /// How long the check waits for the filesystem probes (all run in parallel).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Thresholds for every mount that has none of its own.
    #[must_use]
    pub fn thresholds(mut self, thresholds: Thresholds) -> Self {
        self.thresholds = thresholds;
        self
    }

    /// Checks volume group free space and snapshot COW fill (needs `vgs` and `lvs`).
    #[must_use]
    pub fn lvm(mut self, lvm: LvmCheck) -> Self {
        self.lvm = Some(lvm);
        self
    }

    /// Adds a directory whose usage is scanned against its budget.
    #[must_use]
    pub fn directory(mut self, directory: DirectoryCheck) -> Self {
        self.directories.push(directory);
        self
    }

    /// How long all directory scans may take ([`DEFAULT_DIRECTORY_BUDGET`] unless set);
    /// a scan still running then is reported partial.
    #[must_use]
    pub fn directory_budget(mut self, budget: Duration) -> Self {
        self.directory_budget = budget;
        self
    }

    /// Checks the age of the last successful tier run.
    #[must_use]
    pub fn tier_run(mut self, tier_run: TierRunCheck) -> Self {
        self.tier_run = Some(tier_run);
        self
    }

    /// Checks the age of one backup's last archive and its last verification.
    #[must_use]
    pub fn backup(mut self, backup: BackupCheck) -> Self {
        self.backups.push(backup);
        self
    }

    /// Checks the config: a non-zero timeout, no mount path twice, no empty tier or name.
    pub fn build(self) -> Result<HealthConfig> {
        if self.timeout.is_zero() {
            return Err(Error::InvalidConfig("timeout is zero; give the probes some time, e.g. 2s".to_owned()));
        }
        let mut seen = BTreeSet::new();
        for mount in &self.mounts {
            if !seen.insert(&mount.path) {
                return Err(Error::InvalidConfig(format!("{} is listed twice; list each mount once", mount.path)));
            }
            if mount.tier.is_empty() || mount.name.is_empty() {
                return Err(Error::InvalidConfig(format!("{} has an empty tier or name", mount.path)));
            }
        }
        let mut dirs = BTreeSet::new();
        for dir in &self.directories {
            if !dirs.insert(&dir.path) {
                return Err(Error::InvalidConfig(format!("directory {} is listed twice", dir.path)));
            }
        }
        if let Some(run) = &self.tier_run {
            if run.warn_age > run.crit_age {
                return Err(Error::InvalidConfig(format!(
                    "tier run warn age {:?} is above its critical age {:?}; e.g. 36h and 72h",
                    run.warn_age, run.crit_age
                )));
            }
        }
        Ok(HealthConfig {
            mounts: self.mounts,
            timeout: self.timeout,
            thresholds: self.thresholds,
            lvm: self.lvm,
            directories: self.directories,
            directory_budget: self.directory_budget,
            tier_run: self.tier_run,
            backups: self.backups,
        })
    }
}

/// One mount to check, and what is expected of it.
///
/// By default the path must be a mount point, mounted read-write; the source, options
/// and thresholds are checked only when given.
#[derive(Debug, Clone, PartialEq)]
pub struct MountCheck {
    /// A name for messages; the path unless set.
    pub name: String,
    /// The tier label, e.g. `hot`, `warm` or `cold`.
    pub tier: String,
    /// The mount point.
    pub path: AbsPath,
    /// The expected device (`/dev/…`, compared by device number too) or NFS export.
    pub source: Option<String>,
    /// The filesystem, for option rules; taken from the mount table when not given.
    pub fs: Option<MountFs>,
    /// Options it must be mounted with (compared as `jts_mounts::compare_options` does).
    pub options: Vec<String>,
    /// Thresholds for this mount instead of the config's.
    pub thresholds: Option<Thresholds>,
    /// Whether `path` must be a mount point (true unless [`MountCheck::not_a_mount_point`]).
    pub must_be_mount_point: bool,
    /// The NAS to reach over TCP (NFS mounts: the server on port 2049).
    pub nas: Option<NasTarget>,
}

impl MountCheck {
    /// A check of the mount at `path` on `tier`; `path` must be absolute and normal.
    pub fn new(tier: &str, path: &str) -> Result<Self> {
        let path = AbsPath::new(path)?;
        Ok(Self {
            name: path.to_string(),
            tier: tier.to_owned(),
            path,
            source: None,
            fs: None,
            options: Vec::new(),
            thresholds: None,
            must_be_mount_point: true,
            nas: None,
        })
    }

    /// A check of a mount jts manages: its source, filesystem and options are expected.
    /// An NFS target also gets a reachability check of its server on port 2049.
    pub fn from_target(tier: &str, target: &MountTarget) -> Self {
        let nas = (target.fs() == MountFs::Nfs).then(|| NasTarget::from_nfs_source(&target.what())).flatten();
        Self {
            name: target.name.clone(),
            tier: tier.to_owned(),
            path: target.mount_point.clone(),
            source: Some(target.what()),
            fs: Some(target.fs()),
            options: target.options.clone(),
            thresholds: None,
            must_be_mount_point: true,
            nas,
        }
    }

    /// Names the mount in messages and metrics.
    #[must_use]
    pub fn name(mut self, name: &str) -> Self {
        name.clone_into(&mut self.name);
        self
    }

    /// Expects the mount to come from `source`.
    #[must_use]
    pub fn source(mut self, source: &str) -> Self {
        self.source = Some(source.to_owned());
        self
    }

    /// Expects the mount to have `options`.
    #[must_use]
    pub fn options<S: AsRef<str>>(mut self, options: impl IntoIterator<Item = S>) -> Self {
        self.options = options.into_iter().map(|o| o.as_ref().to_owned()).collect();
        self
    }

    /// Uses `thresholds` for this mount.
    #[must_use]
    pub fn thresholds(mut self, thresholds: Thresholds) -> Self {
        self.thresholds = Some(thresholds);
        self
    }

    /// Checks usage of `path` even when it is a directory on another mount (e.g. the plain
    /// directory tree `/data/jts/hot`); the mount checks are then skipped.
    #[must_use]
    pub fn not_a_mount_point(mut self) -> Self {
        self.must_be_mount_point = false;
        self
    }

    /// Also connects to `nas` (a TCP connect, with the check's timeout).
    #[must_use]
    pub fn nas(mut self, nas: NasTarget) -> Self {
        self.nas = Some(nas);
        self
    }
}

/// A directory whose usage (as `du -s`) is compared to a budget, e.g. PostgreSQL's
/// `/data/postgresql` against its planned 800 GiB.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectoryCheck {
    /// A name for messages; the path unless set.
    pub name: String,
    /// The tier label.
    pub tier: String,
    /// The directory.
    pub path: AbsPath,
    /// The planned size, in bytes.
    pub budget_bytes: u64,
    /// Levels of usage against the budget, instead of the config's.
    pub thresholds: Option<Thresholds>,
}

impl DirectoryCheck {
    /// A check of `path` on `tier` against `budget_bytes`.
    pub fn new(tier: &str, path: &str, budget_bytes: u64) -> Result<Self> {
        let path = AbsPath::new(path)?;
        Ok(Self { name: path.to_string(), tier: tier.to_owned(), path, budget_bytes, thresholds: None })
    }

    /// Names the directory in messages (e.g. its path without `--root`).
    #[must_use]
    pub fn name_as(mut self, name: impl ToString) -> Self {
        self.name = name.to_string();
        self
    }

    /// Uses `thresholds` for this directory.
    #[must_use]
    pub fn thresholds(mut self, thresholds: Thresholds) -> Self {
        self.thresholds = Some(thresholds);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_refuses_duplicates_zero_timeout_and_relative_paths() {
        let m = || MountCheck::new("hot", "/data").unwrap();
        let err = HealthConfig::builder().mount(m()).mount(m()).build().unwrap_err().to_string();
        assert!(err.contains("/data is listed twice"), "{err}");
        assert!(HealthConfig::builder().timeout(Duration::ZERO).build().is_err());
        assert!(MountCheck::new("hot", "data").is_err());
        assert!(HealthConfig::builder().mount(m().name("")).build().is_err());
    }

    #[test]
    fn per_mount_thresholds_override_the_default() {
        let own = Thresholds::new(50.0, 60.0).unwrap();
        let config = HealthConfig::builder()
            .mount(MountCheck::new("hot", "/a").unwrap())
            .mount(MountCheck::new("hot", "/b").unwrap().thresholds(own))
            .build()
            .unwrap();
        assert_eq!(config.thresholds_for(&config.mounts()[0]), Thresholds::default());
        assert_eq!(config.thresholds_for(&config.mounts()[1]), own);
    }

    #[test]
    fn a_managed_target_brings_its_expectations() {
        let target = MountTarget::block(
            "lv_postgres",
            AbsPath::new("/dev/vg_jts/lv_postgres").unwrap(),
            MountFs::Ext4,
            AbsPath::new("/data/postgresql").unwrap(),
            vec!["noatime".into()],
        );
        let check = MountCheck::from_target("hot", &target);
        assert_eq!(check.source.as_deref(), Some("/dev/vg_jts/lv_postgres"));
        assert_eq!(
            (check.name.as_str(), check.fs, check.options.as_slice()),
            ("lv_postgres", Some(MountFs::Ext4), &["noatime".to_owned()][..])
        );
    }
}
