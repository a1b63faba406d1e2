//! [`check`]: probe every configured mount and roll the results up into a [`HealthReport`].

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use jts_mounts::{MountFs, MountInfo, compare_options, is_userspace_only, mount_at};
use serde::{Deserialize, Serialize};

use crate::backups::{BackupResult, backup_result};
use crate::config::{HealthConfig, MountCheck};
use crate::dirsize::{DirectoryResult, RunningScan, directory_result};
use crate::lvm::{LvmReport, SnapshotResult, VgResult, lvm_results};
use crate::nas::{NasResult, start_connect};
use crate::probe::{FsStats, Outcome, Prober};
use crate::status::{Status, Thresholds};
use crate::tierrun::{TierRunResult, tier_run_result};

/// The version of the JSON schema of [`HealthReport`]; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// The result of one check. Its JSON form is the stable schema documented in the crate
/// root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthReport {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The worst status of all probes.
    pub status: Status,
    /// The worst status of each tier's probes, by tier label.
    pub tiers: BTreeMap<String, Status>,
    /// One result per configured mount, in the configured order.
    pub probes: Vec<ProbeResult>,
    /// Free space of each configured volume group.
    #[serde(default)]
    pub volume_groups: Vec<VgResult>,
    /// COW fill of each snapshot in the configured volume groups.
    #[serde(default)]
    pub snapshots: Vec<SnapshotResult>,
    /// Usage of each configured directory against its budget.
    #[serde(default)]
    pub directories: Vec<DirectoryResult>,
    /// Age of the last successful tier run, when checked.
    #[serde(default)]
    pub tier_run: Option<TierRunResult>,
    /// Each backup's last archive and last verification.
    #[serde(default)]
    pub backups: Vec<BackupResult>,
    /// How long the check took.
    #[serde(rename = "elapsed_seconds", with = "seconds")]
    pub elapsed: Duration,
}

impl HealthReport {
    /// The monitoring-plugin exit code of the overall status: 0, 1, 2 or 3.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.status.code())
    }
}

/// The result of probing one mount.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeResult {
    /// The mount's name (its path unless named).
    pub name: String,
    /// Its tier label.
    pub tier: String,
    /// Its mount point.
    pub mount: String,
    /// The worst status of its findings.
    pub status: Status,
    /// One line for a human: the non-OK findings, or a usage summary when all is well.
    pub message: String,
    /// Usage, when the filesystem answered.
    pub values: Option<Usage>,
    /// Every check made on this mount, OK or not.
    pub findings: Vec<Finding>,
    /// The TCP connect to the NAS behind an NFS mount, when checked.
    #[serde(default)]
    pub nas: Option<NasResult>,
}

/// Usage figures of one filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    /// Bytes in use, `(f_blocks - f_bfree) × f_frsize`.
    pub bytes_used: u64,
    /// Bytes free for unprivileged writers, `f_bavail × f_frsize`.
    pub bytes_available: u64,
    /// Size of the filesystem, `f_blocks × f_frsize`.
    pub bytes_total: u64,
    /// `bytes_used / (bytes_used + bytes_available)`, as `df`'s Use% (root's reserve
    /// counts as unavailable, so 1.0 means unprivileged writes fail); 0 for an empty size.
    pub used_ratio: f64,
    /// Inodes in use.
    pub inodes_used: u64,
    /// Inodes in total; 0 for filesystems without a fixed count (btrfs).
    pub inodes_total: u64,
    /// `inodes_used / inodes_total`, absent when `inodes_total` is 0.
    pub inodes_used_ratio: Option<f64>,
    /// How long the stat and statvfs of the mount root took.
    pub probe_seconds: f64,
}

impl Usage {
    fn new(stats: &FsStats, took: Duration) -> Self {
        let (used, available) = (stats.bytes_used(), stats.bytes_available());
        let usable = used.saturating_add(available);
        Self {
            bytes_used: used,
            bytes_available: available,
            bytes_total: stats.bytes_total(),
            used_ratio: if usable == 0 { 0.0 } else { ratio(used, usable) },
            inodes_used: stats.inodes_used(),
            inodes_total: stats.files,
            inodes_used_ratio: (stats.files > 0).then(|| ratio(stats.inodes_used(), stats.files)),
            probe_seconds: took.as_secs_f64(),
        }
    }
}
fn ratio(part: u64, whole: u64) -> f64 {
    part as f64 / whole as f64
}

/// What one finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// Whether the path is a mount point.
    Mounted,
    /// Whether it is mounted from the expected device or export.
    Source,
    /// Whether it is read-write (unless `ro` was asked for).
    ReadWrite,
    /// Whether it has the expected options.
    Options,
    /// Whether the filesystem answered stat and statvfs in time.
    Responding,
    /// Bytes used against the thresholds.
    Bytes,
    /// Inodes used against the thresholds.
    Inodes,
    /// Whether the NAS behind an NFS mount accepts a TCP connection on its NFS port.
    Reachable,
}

impl CheckKind {
    /// Its name in JSON and in the `check` label of `jts_mount_check_status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mounted => "mounted",
            Self::Source => "source",
            Self::ReadWrite => "read_write",
            Self::Options => "options",
            Self::Responding => "responding",
            Self::Bytes => "bytes",
            Self::Inodes => "inodes",
            Self::Reachable => "reachable",
        }
    }
}

/// One check made on one mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// What was checked.
    pub check: CheckKind,
    /// Its status.
    pub status: Status,
    /// What was found.
    pub message: String,
}

impl Finding {
    fn new(check: CheckKind, status: Status, message: impl Into<String>) -> Self {
        Self { check, status, message: message.into() }
    }
}

/// Checks every mount of `config` with the process-wide [`Prober`]. Never blocks longer
/// than about the config's timeout, whatever the mounts do; see [`crate::probe`].
///
/// With [`HealthConfig::lvm`], `vgs` and `lvs` are run through [`jts_core::SystemRunner`];
/// use [`check_with_lvm`] to read the LVM report another way.
pub fn check(config: &HealthConfig) -> HealthReport {
    Prober::shared().check(config)
}

/// Like [`check`], with the LVM report read by `read_lvm` (on a thread of its own, waited
/// for until the timeout).
pub fn check_with_lvm(
    config: &HealthConfig,
    read_lvm: impl FnOnce() -> Result<LvmReport, String> + Send + 'static,
) -> HealthReport {
    Prober::shared().check_with_lvm(config, read_lvm)
}

impl Prober {
    /// Checks every mount of `config` with this prober's workers (LVM read with
    /// [`jts_core::SystemRunner`] when configured).
    pub fn check(&self, config: &HealthConfig) -> HealthReport {
        self.check_with_lvm(config, || LvmReport::read(&jts_core::SystemRunner))
    }

    /// Checks everything `config` asks for, the LVM report (if configured) from `read_lvm`.
    pub fn check_with_lvm(
        &self,
        config: &HealthConfig,
        read_lvm: impl FnOnce() -> Result<LvmReport, String> + Send + 'static,
    ) -> HealthReport {
        let start = Instant::now();
        let deadline = start + config.timeout();
        let lvm = config.lvm().map(|_| self.start_lvm(read_lvm));
        let dir_deadline = start + config.directory_budget();
        let scans: Vec<_> =
            config.directories().iter().map(|d| RunningScan::start(d.path.as_path(), dir_deadline)).collect();
        let connects: Vec<_> =
            config.mounts().iter().map(|m| m.nas.as_ref().map(|nas| start_connect(nas, deadline))).collect();
        let table = self.mount_table();
        let paths: Vec<&Path> = config.mounts().iter().map(|m| m.path.as_path()).collect();
        let mut findings: Vec<Vec<Finding>> = Vec::with_capacity(paths.len());
        let mut pending = Vec::with_capacity(paths.len());
        for mount in config.mounts() {
            let (found, probe) = match &table {
                Ok(table) => mount_findings(mount, table),
                Err(err) => {
                    (vec![Finding::new(CheckKind::Mounted, Status::Unknown, format!("mount table: {err}"))], true)
                }
            };
            // The mount as the table shows it, when it must be one (a plain directory's
            // filesystem is not looked up: it gets a worker).
            let info = table.as_ref().ok().and_then(|table| {
                let info = mount_at(table, &mount.path.to_string()).filter(|_| mount.must_be_mount_point)?;
                Some((info, table.as_slice()))
            });
            pending.push(probe.then(|| self.start_probe(mount.path.as_path(), info, &paths, deadline)));
            findings.push(found);
        }
        let probes = config
            .mounts()
            .iter()
            .zip(pending)
            .zip(findings)
            .zip(connects)
            .map(|(((mount, pending), mut found), connect)| {
                let values = pending
                    .map(|p| p.wait(deadline))
                    .and_then(|outcome| usage_findings(mount, config.thresholds_for(mount), outcome, &mut found));
                let nas = connect.map(|c| c.wait(deadline));
                if let Some(nas) = &nas {
                    found.push(nas_finding(mount, nas));
                }
                let mut result = result(mount, values, found);
                result.nas = nas;
                result
            })
            .collect::<Vec<_>>();
        let (volume_groups, snapshots) = match (config.lvm(), lvm) {
            (Some(check), Some(pending)) => {
                let report = pending.wait(start + check.timeout.unwrap_or(config.timeout()));
                lvm_results(check, report.as_ref().map_err(String::as_str), std::time::SystemTime::now())
            }
            _ => (Vec::new(), Vec::new()),
        };
        let directories = config
            .directories()
            .iter()
            .zip(scans)
            .map(|(dir, scan)| {
                let thresholds = dir.thresholds.unwrap_or(config.thresholds());
                match scan {
                    // A little grace past the budget for the scan to notice and return.
                    Ok(scan) => {
                        let (answer, took) = scan.wait(dir_deadline + DIRECTORY_GRACE);
                        directory_result(dir, thresholds, answer, took)
                    }
                    Err(err) => directory_result(dir, thresholds, Err(err), Duration::ZERO),
                }
            })
            .collect::<Vec<_>>();
        let tier_run = config
            .tier_run()
            .map(|run| tier_run_result(run, std::fs::read_to_string(&run.status_file), std::time::SystemTime::now()));
        let backups: Vec<BackupResult> = config
            .backups()
            .iter()
            .map(|b| {
                let (run, verified) =
                    (std::fs::read_to_string(&b.status_file), std::fs::read_to_string(&b.verified_file));
                backup_result(b, run, verified, std::time::SystemTime::now())
            })
            .collect();
        let mut tiers = BTreeMap::<String, Status>::new();
        let tiered = probes
            .iter()
            .map(|p| (&p.tier, p.status))
            .chain(volume_groups.iter().map(|v| (&v.tier, v.status)))
            .chain(snapshots.iter().map(|s| (&s.tier, s.status)))
            .chain(directories.iter().map(|d| (&d.tier, d.status)));
        for (name, status) in tiered {
            let tier = tiers.entry(name.clone()).or_default();
            *tier = tier.and(status);
        }
        let status = Status::worst(
            tiers.values().copied().chain(tier_run.iter().map(|r| r.status)).chain(backups.iter().map(|b| b.status)),
        );
        let report = HealthReport {
            schema_version: SCHEMA_VERSION,
            status,
            tiers,
            probes,
            volume_groups,
            snapshots,
            directories,
            tier_run,
            backups,
            elapsed: start.elapsed(),
        };
        tracing::debug!(status = %report.status, elapsed = ?report.elapsed, "health check done");
        report
    }
}

/// How long after the directory budget a check waits for scans to notice and return.
const DIRECTORY_GRACE: Duration = Duration::from_millis(50);

fn nas_finding(mount: &MountCheck, nas: &NasResult) -> Finding {
    let target = mount.nas.as_ref().map_or_else(|| nas.host.clone(), crate::nas::NasTarget::display);
    match &nas.error {
        None => Finding::new(
            CheckKind::Reachable,
            Status::Ok,
            format!("NAS {target} reachable in {:.3}s", nas.connect_seconds),
        ),
        Some(err) => Finding::new(CheckKind::Reachable, Status::Critical, format!("NAS {target} unreachable: {err}")),
    }
}

/// The mount-table findings, and whether to probe usage.
fn mount_findings(mount: &MountCheck, table: &[MountInfo]) -> (Vec<Finding>, bool) {
    let path = mount.path.to_string();
    if !mount.must_be_mount_point {
        return (Vec::new(), true);
    }
    let Some(info) = mount_at(table, &path) else {
        let finding = Finding::new(CheckKind::Mounted, Status::Critical, format!("{path} is not mounted"));
        return (vec![finding], false);
    };
    let mut found =
        vec![Finding::new(CheckKind::Mounted, Status::Ok, format!("{} {} on {path}", info.fstype, info.source))];
    if let Some(expected) = &mount.source {
        found.push(if same_source(expected, info) {
            Finding::new(CheckKind::Source, Status::Ok, format!("from {expected}"))
        } else {
            Finding::new(
                CheckKind::Source,
                Status::Critical,
                format!("mounted from {}, expected {expected}", info.source),
            )
        });
    }
    let want_ro = mount.options.iter().rev().find(|o| matches!(o.as_str(), "ro" | "rw")).is_some_and(|o| o == "ro");
    found.push(match (info.read_only(), want_ro) {
        (true, false) => Finding::new(
            CheckKind::ReadWrite,
            Status::Critical,
            "mounted read-only (after an I/O or filesystem error the kernel may remount it so); writes fail",
        ),
        (false, true) => Finding::new(CheckKind::ReadWrite, Status::Warning, "mounted read-write, expected ro"),
        (ro, _) => Finding::new(CheckKind::ReadWrite, Status::Ok, if ro { "read-only" } else { "read-write" }),
    });
    let asked: Vec<String> =
        mount.options.iter().filter(|o| !matches!(o.as_str(), "ro" | "rw") && !is_userspace_only(o)).cloned().collect();
    if !asked.is_empty() {
        let diffs: Vec<String> = match mount.fs.or_else(|| fs_of(&info.fstype)) {
            Some(fs) => compare_options(fs, &asked, info)
                .into_iter()
                .filter(|d| !matches!(d.option.as_str(), "ro" | "rw"))
                .map(|d| format!("{} (expected {}, shows {})", d.option, d.expected, d.actual))
                .collect(),
            // A filesystem without jts option rules: each option must be shown as asked.
            None => asked
                .iter()
                .filter(|o| !info.mount_options.contains(o) && !info.super_options.contains(o))
                .map(|o| format!("{o} (not shown)"))
                .collect(),
        };
        found.push(if diffs.is_empty() {
            Finding::new(CheckKind::Options, Status::Ok, format!("options {}", asked.join(",")))
        } else {
            Finding::new(CheckKind::Options, Status::Warning, format!("options differ: {}", diffs.join("; ")))
        });
    }
    (found, true)
}

fn fs_of(fstype: &str) -> Option<MountFs> {
    match fstype {
        "ext4" => Some(MountFs::Ext4),
        "xfs" => Some(MountFs::Xfs),
        "btrfs" => Some(MountFs::Btrfs),
        "nfs" | "nfs4" => Some(MountFs::Nfs),
        _ => None,
    }
}

/// Whether the mount comes from `expected`: the same name, the same canonical device, or
/// (except btrfs, which shows an anonymous device number) the same device number.
fn same_source(expected: &str, info: &MountInfo) -> bool {
    if expected.trim_end_matches('/') == info.source.trim_end_matches('/') {
        return true;
    }
    if !expected.starts_with("/dev/") {
        return false;
    }
    let canonical = |p: &str| std::fs::canonicalize(p).ok();
    if canonical(expected).is_some_and(|c| Some(c) == canonical(&info.source)) {
        return true;
    }
    info.fstype != "btrfs"
        && nix::sys::stat::stat(expected).is_ok_and(|st| {
            (nix::sys::stat::major(st.st_rdev), nix::sys::stat::minor(st.st_rdev))
                == (u64::from(info.major), u64::from(info.minor))
        })
}

/// Adds the responding, bytes and inodes findings; returns the usage when there is one.
fn usage_findings(
    mount: &MountCheck,
    thresholds: Thresholds,
    outcome: Outcome,
    found: &mut Vec<Finding>,
) -> Option<Usage> {
    let path = &mount.path;
    let (stats, took) = match outcome {
        Outcome::Answered(Ok(stats), took) => (stats, took),
        Outcome::Answered(Err(err), _) => {
            found.push(Finding::new(CheckKind::Responding, Status::Critical, format!("statvfs {path}: {err}")));
            return None;
        }
        Outcome::TimedOut(took) => {
            tracing::warn!(mount = %path, ?took, "filesystem not responding");
            let message = format!("not responding: stat/statvfs of {path} gave no answer in {}", secs(took));
            found.push(Finding::new(CheckKind::Responding, Status::Critical, message));
            return None;
        }
        Outcome::StillStuck(since) => {
            let message = format!("still not responding: the probe of {path} started {} ago is blocked", secs(since));
            found.push(Finding::new(CheckKind::Responding, Status::Critical, message));
            return None;
        }
        Outcome::NotRun(reason) => {
            found.push(Finding::new(CheckKind::Responding, Status::Unknown, reason));
            return None;
        }
    };
    let usage = Usage::new(&stats, took);
    found.push(Finding::new(CheckKind::Responding, Status::Ok, format!("answered in {}", secs(took))));
    let level = |what: &str, ratio: f64| {
        let percent = ratio * 100.0;
        let status = thresholds.classify(percent);
        let message = format!(
            "{what} {percent:.1}% used (warn {}%, crit {}%)",
            thresholds.warn_percent(),
            thresholds.crit_percent()
        );
        (status, message)
    };
    let (status, message) = level("space", usage.used_ratio);
    found.push(Finding::new(CheckKind::Bytes, status, message));
    if let Some(ratio) = usage.inodes_used_ratio {
        let (status, message) = level("inodes", ratio);
        found.push(Finding::new(CheckKind::Inodes, status, message));
    }
    Some(usage)
}

fn result(mount: &MountCheck, values: Option<Usage>, findings: Vec<Finding>) -> ProbeResult {
    let status = Status::worst(findings.iter().map(|f| f.status));
    let message = if status == Status::Ok {
        match &values {
            Some(u) => format!(
                "ok: {:.1}% of {} used{}",
                u.used_ratio * 100.0,
                human_bytes(u.bytes_total),
                u.inodes_used_ratio.map(|r| format!(", {:.1}% of inodes", r * 100.0)).unwrap_or_default()
            ),
            None => "ok".to_owned(),
        }
    } else {
        let bad: Vec<&str> = findings.iter().filter(|f| f.status != Status::Ok).map(|f| f.message.as_str()).collect();
        bad.join("; ")
    };
    ProbeResult {
        name: mount.name.clone(),
        tier: mount.tier.clone(),
        mount: mount.path.to_string(),
        status,
        message,
        values,
        findings,
        nas: None,
    }
}

fn secs(duration: Duration) -> String {
    format!("{:.3}s", duration.as_secs_f64())
}

/// `df -h`-style bytes: `1.5G`, `800M`, `12K`.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "K", "M", "G", "T", "P"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || value >= 10.0 { format!("{value:.0}{}", UNITS[unit]) } else { format!("{value:.1}{}", UNITS[unit]) }
}

/// `Duration` as fractional seconds in JSON.
mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(duration.as_secs_f64())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(deserializer)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}
