//! One fio run per mount, in a scratch directory of its own that is always removed, and
//! what makes the numbers: the I/O scheduler in effect, discard support, PV alignment.

use std::path::{Path, PathBuf};

use jts_core::{AbsPath, Root, Runner, SystemRunner};
use serde::Serialize;

use super::fio::{FioFigures, fio_command, parse_fio};
use super::spec::{DEFAULT_RUNTIME, DEFAULT_SIZE, Latency, PerformanceSpec, Profile};
use crate::error::Result;
use crate::spec::HostSpec;

/// The start of every scratch directory's name: `.jts-perf.PID.NANOS`. A directory of
/// this name whose process is gone was left by a killed run and is removed by the next.
pub const SCRATCH_PREFIX: &str = ".jts-perf.";

/// A mount `verify performance` can test.
#[derive(Debug, Clone)]
pub(crate) struct PerfMount {
    /// Its name in the spec: `lv_postgres`, `warm`, `cold`.
    pub name: String,
    /// Where it is mounted (spec path).
    pub mount_point: AbsPath,
    /// The profile its preset implies (`nas` for NFS).
    pub profile: Option<Profile>,
    /// The VG of an LV.
    pub volume_group: Option<String>,
}

/// Every managed mount, with the profile its preset implies.
pub(crate) fn perf_mounts(spec: &HostSpec) -> Vec<PerfMount> {
    let volumes = spec.lvm.volumes().filter_map(|(vg, lv, volume)| {
        Some(PerfMount {
            name: lv.to_owned(),
            mount_point: volume.mount_point.clone()?,
            profile: volume.preset.and_then(Profile::of_preset),
            volume_group: Some(vg.to_owned()),
        })
    });
    let filesystems = spec.mounts.filesystems.iter().map(|(name, fs)| PerfMount {
        name: name.clone(),
        mount_point: fs.get_ref().mount_point.get_ref().clone(),
        profile: fs.get_ref().preset.and_then(Profile::of_preset),
        volume_group: None,
    });
    let nfs = spec.mounts.nfs_mounts.iter().map(|(name, nfs)| PerfMount {
        name: name.clone(),
        mount_point: nfs.get_ref().mount_point.get_ref().clone(),
        profile: Some(Profile::Nas),
        volume_group: None,
    });
    volumes.chain(filesystems).chain(nfs).collect()
}

/// How one mount's run ended.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// fio ran; `misses` lists the thresholds it missed.
    Measured {
        /// The figures.
        figures: FioFigures,
        /// Each threshold missed, e.g. `"min_iops 100000: measured 2310"`.
        misses: Vec<String>,
    },
    /// Not run: the mount is not mounted, or has no profile.
    Skipped {
        /// Why.
        reason: String,
    },
    /// Not run: the test would fill the mount past the `[health]` warning level.
    Refused {
        /// Why, with the figures.
        reason: String,
    },
    /// fio could not run or its report was unreadable.
    Failed {
        /// What went wrong.
        error: String,
    },
}

/// One mount's result.
#[derive(Debug, Clone, Serialize)]
pub struct MountResult {
    /// The mount's name in the spec.
    pub name: String,
    /// Where it is mounted (on this machine).
    pub mount_point: PathBuf,
    /// The workload.
    pub profile: Option<Profile>,
    /// The test size, bytes.
    pub size: u64,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// What makes the numbers: scheduler, discard, PV alignment.
    pub context: Vec<String>,
}

/// Every selected mount's result.
#[derive(Debug, Clone, Serialize)]
pub struct PerfReport {
    /// In spec order: volumes, filesystems, NFS mounts.
    pub mounts: Vec<MountResult>,
}

impl PerfReport {
    /// Any threshold missed.
    pub fn missed(&self) -> bool {
        self.mounts.iter().any(|m| matches!(&m.outcome, Outcome::Measured { misses, .. } if !misses.is_empty()))
    }

    /// Any run failed or refused.
    pub fn failed(&self) -> bool {
        self.mounts.iter().any(|m| matches!(m.outcome, Outcome::Failed { .. } | Outcome::Refused { .. }))
    }

    /// A table for a terminal: a row per mount and direction, then each missed threshold
    /// and what makes the numbers.
    pub fn to_table(&self) -> String {
        let mut out = format!(
            "{:<14} {:<11} {:<6} {:>10} {:>12} {:>10} {:>10}\n",
            "MOUNT", "PROFILE", "DIR", "IOPS", "BANDWIDTH", "P50", "P99"
        );
        for mount in &self.mounts {
            let (name, profile) = (&mount.name, mount.profile.map_or("-", Profile::name));
            match &mount.outcome {
                Outcome::Measured { figures, misses } => {
                    for (direction, figures) in [("read", figures.read), ("write", figures.write)] {
                        let Some(d) = figures else { continue };
                        let bandwidth = format!("{}/s", jts_core::human_bytes(d.bandwidth));
                        out.push_str(&format!(
                            "{name:<14} {profile:<11} {direction:<6} {:>10.0} {bandwidth:>12} {:>10} {:>10}\n",
                            d.iops,
                            Latency(d.p50_ns).to_string(),
                            Latency(d.p99_ns).to_string()
                        ));
                    }
                    for miss in misses {
                        out.push_str(&format!("  MISSED {miss}\n"));
                    }
                }
                Outcome::Skipped { reason } => out.push_str(&format!("{name:<14} {profile:<11} skipped: {reason}\n")),
                Outcome::Refused { reason } => out.push_str(&format!("{name:<14} {profile:<11} REFUSED: {reason}\n")),
                Outcome::Failed { error } => out.push_str(&format!("{name:<14} {profile:<11} FAILED: {error}\n")),
            }
            for line in &mount.context {
                out.push_str(&format!("  {line}\n"));
            }
        }
        out
    }

    /// The Prometheus text exposition, for node_exporter's textfile collector.
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        let metrics = [
            ("jts_perf_iops", "Operations per second measured by verify performance."),
            ("jts_perf_bandwidth_bytes", "Bytes per second measured by verify performance."),
            ("jts_perf_latency_seconds", "Completion latency quantiles measured by verify performance."),
        ];
        for (index, (metric, help)) in metrics.iter().enumerate() {
            out.push_str(&format!("# HELP {metric} {help}\n# TYPE {metric} gauge\n"));
            for mount in &self.mounts {
                let Outcome::Measured { figures, .. } = &mount.outcome else { continue };
                let profile = mount.profile.map_or("", Profile::name);
                for (direction, figures) in [("read", figures.read), ("write", figures.write)] {
                    let Some(d) = figures else { continue };
                    let labels = format!("mount=\"{}\",profile=\"{profile}\",direction=\"{direction}\"", mount.name);
                    match index {
                        0 => out.push_str(&format!("{metric}{{{labels}}} {}\n", d.iops)),
                        1 => out.push_str(&format!("{metric}{{{labels}}} {}\n", d.bandwidth)),
                        _ => {
                            for (quantile, ns) in [("0.5", d.p50_ns), ("0.99", d.p99_ns)] {
                                let seconds = ns as f64 / 1e9;
                                out.push_str(&format!("{metric}{{{labels},quantile=\"{quantile}\"}} {seconds}\n"));
                            }
                        }
                    }
                }
            }
        }
        out.push_str(
            "# HELP jts_perf_thresholds_met Whether the mount met its [performance] thresholds (1) or not (0).\n",
        );
        out.push_str("# TYPE jts_perf_thresholds_met gauge\n");
        for mount in &self.mounts {
            if let Outcome::Measured { misses, .. } = &mount.outcome {
                out.push_str(&format!(
                    "jts_perf_thresholds_met{{mount=\"{}\"}} {}\n",
                    mount.name,
                    u8::from(misses.is_empty())
                ));
            }
        }
        out
    }
}

/// Runs the fio profile of every managed mount (or of those named in `only`), each in a
/// scratch directory removed afterwards.
pub fn verify_performance(spec: &HostSpec, root: &Root, runner: &dyn Runner, only: &[String]) -> Result<PerfReport> {
    let mounted = jts_mounts::read_mountinfo()?;
    let mounts: Vec<PerfMount> =
        perf_mounts(spec).into_iter().filter(|m| only.is_empty() || only.contains(&m.name)).collect();
    let pvs = if mounts.iter().any(|m| m.volume_group.is_some()) {
        jts_lvm::observe(&spec.lvm, runner).map(|observed| observed.pvs).unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut results = Vec::new();
    for mount in mounts {
        let section = spec.performance.get(&mount.name).cloned().unwrap_or_default();
        let path = root.resolve(&mount.mount_point);
        let profile = section.profile.or(mount.profile);
        let size = section.size.map_or(DEFAULT_SIZE, |s| s.bytes());
        let runtime = section.runtime.map_or(DEFAULT_RUNTIME, |d| std::time::Duration::from(d).as_secs().max(1));
        let info = jts_mounts::mount_at(&mounted, &path.to_string_lossy()).cloned();
        let mut context = Vec::new();
        if let Some(info) = &info {
            context.extend(device_context(info));
        }
        if let Some(vg) = &mount.volume_group {
            context.extend(alignment_context(spec, vg, &pvs));
        }
        let outcome = match (profile, &info) {
            (None, _) => Outcome::Skipped { reason: "no profile: set [performance.NAME] profile".into() },
            (_, None) => Outcome::Skipped { reason: format!("{} is not mounted", path.display()) },
            (Some(profile), Some(_)) => {
                run_one(&path, profile, size, runtime, &section, spec.health.warn_percent(), runner)
            }
        };
        results.push(MountResult { name: mount.name, mount_point: path, profile, size, outcome, context });
    }
    Ok(PerfReport { mounts: results })
}

fn run_one(
    path: &Path,
    profile: Profile,
    size: u64,
    runtime: u64,
    section: &PerformanceSpec,
    warn_percent: f64,
    runner: &dyn Runner,
) -> Outcome {
    remove_stale_scratch(path);
    if let Some(reason) = too_full(path, size, warn_percent) {
        return Outcome::Refused { reason };
    }
    let fio = match SystemRunner::resolve("fio") {
        Ok(fio) => fio,
        Err(err) => return Outcome::Failed { error: format!("{err}; install fio (apt-get install fio)") },
    };
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let scratch = path.join(format!("{SCRATCH_PREFIX}{}.{nanos}", std::process::id()));
    if let Err(err) = std::fs::DirBuilder::new().mode_0700().create(&scratch) {
        return Outcome::Failed { error: format!("creating {}: {err}", scratch.display()) };
    }
    let ran = runner.run(&fio_command(&fio, profile, &scratch.join("data"), size, runtime));
    let removed = std::fs::remove_dir_all(&scratch);
    let outcome = match ran {
        Err(err) => Outcome::Failed { error: err.to_string() },
        Ok(output) => match parse_fio(&output.stdout) {
            Err(error) => Outcome::Failed { error },
            Ok(figures) => Outcome::Measured { misses: misses(&figures, section), figures },
        },
    };
    match removed {
        Err(err) => Outcome::Failed { error: format!("removing {}: {err}; delete it by hand", scratch.display()) },
        Ok(()) => outcome,
    }
}

trait DirBuilderExt {
    fn mode_0700(&mut self) -> &mut Self;
}

impl DirBuilderExt for std::fs::DirBuilder {
    fn mode_0700(&mut self) -> &mut Self {
        std::os::unix::fs::DirBuilderExt::mode(self, 0o700)
    }
}

/// Removes the scratch directories of runs whose process is gone (a `kill -9`); never
/// anything without the prefix, never through a symlink.
fn remove_stale_scratch(path: &Path) {
    let Ok(entries) = std::fs::read_dir(path) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(SCRATCH_PREFIX) else { continue };
        let Some(pid) = rest.split('.').next().and_then(|pid| pid.parse::<u32>().ok()) else { continue };
        let is_dir = entry.file_type().is_ok_and(|kind| kind.is_dir());
        if is_dir && !Path::new(&format!("/proc/{pid}")).exists() {
            match std::fs::remove_dir_all(entry.path()) {
                Ok(()) => tracing::warn!("removed {}, left by a killed run", entry.path().display()),
                Err(err) => tracing::warn!("could not remove {}: {err}", entry.path().display()),
            }
        }
    }
}

/// Why the test may not run: `size` more bytes would take the mount to the warning level.
fn too_full(path: &Path, size: u64, warn_percent: f64) -> Option<String> {
    let stat = nix::sys::statvfs::statvfs(path).ok()?;
    let block = stat.fragment_size();
    let total = stat.blocks() * block;
    let used = total.saturating_sub(stat.blocks_free() * block);
    let after = (used + size) as f64 * 100.0 / total.max(1) as f64;
    (after >= warn_percent).then(|| {
        format!(
            "a {} test would take {} to {after:.0}% used, past the [health] warning level of {warn_percent}%; free space or set a smaller [performance.NAME] size",
            jts_core::human_bytes(size),
            path.display()
        )
    })
}

fn misses(figures: &FioFigures, section: &PerformanceSpec) -> Vec<String> {
    let mut misses = Vec::new();
    if let Some(min) = section.min_iops.filter(|min| figures.total_iops() < *min as f64) {
        misses.push(format!("min_iops {min}: measured {:.0}", figures.total_iops()));
    }
    if let Some(min) = section.min_bandwidth.filter(|min| figures.total_bandwidth() < min.bytes()) {
        misses.push(format!(
            "min_bandwidth {}/s: measured {}/s",
            jts_core::human_bytes(min.bytes()),
            jts_core::human_bytes(figures.total_bandwidth())
        ));
    }
    if let Some(max) = section.max_p99_latency.filter(|max| figures.worst_p99_ns() > max.nanos()) {
        misses.push(format!("max_p99_latency {max}: measured {}", Latency(figures.worst_p99_ns())));
    }
    misses
}

/// The scheduler in effect and discard support of the mount's block device, from sysfs
/// (what `lsblk -D` and `cat /sys/block/DEV/queue/scheduler` show).
fn device_context(info: &jts_mounts::MountInfo) -> Vec<String> {
    if info.major == 0 {
        return Vec::new();
    }
    let Ok(dev) = std::fs::canonicalize(format!("/sys/dev/block/{}", info.devno())) else { return Vec::new() };
    // A partition has no queue of its own: its disk's is the one in effect.
    let queue = [dev.join("queue"), dev.join("../queue")].into_iter().find(|q| q.is_dir());
    let Some(queue) = queue else { return Vec::new() };
    let read = |name: &str| std::fs::read_to_string(queue.join(name)).map(|s| s.trim().to_owned()).ok();
    let mut context = Vec::new();
    if let Some(line) = read("scheduler") {
        let active =
            line.split_whitespace().find(|s| s.starts_with('[')).map_or(line.as_str(), |s| s.trim_matches(['[', ']']));
        context.push(format!("{} scheduler {active}", info.source));
    }
    if let Some(max) = read("discard_max_bytes").and_then(|m| m.parse::<u64>().ok()) {
        context.push(if max > 0 {
            format!("{} supports discard (up to {} per request)", info.source, jts_core::human_bytes(max))
        } else {
            format!("{} does not support discard: no TRIM reaches the device", info.source)
        });
    }
    context
}

/// Whether the VG's PVs start their data on its `data_alignment` (`pvs -o +pe_start`).
fn alignment_context(spec: &HostSpec, vg: &str, pvs: &[jts_lvm::PvInfo]) -> Vec<String> {
    let Some(alignment) = spec.lvm.volume_groups.get(vg).map(|v| v.get_ref().data_alignment().bytes()) else {
        return Vec::new();
    };
    pvs.iter()
        .filter(|pv| pv.vg.as_deref() == Some(vg))
        .map(|pv| {
            let verdict = if alignment > 0 && pv.pe_start % alignment == 0 { "aligned" } else { "MISALIGNED" };
            format!(
                "PV {} pe_start {} ({verdict} to data_alignment {})",
                pv.name,
                jts_core::human_bytes(pv.pe_start),
                jts_core::human_bytes(alignment)
            )
        })
        .collect()
}
