//! Warm-tier upkeep: `btrfs scrub` of every managed btrfs mount, and its figures as
//! Prometheus text for node_exporter's textfile collector (the metric a monthly
//! `jts-scrub.timer` keeps fresh and an alert watches).
//!
//! A scrub reads every block and checks it against its checksum; on a single-device
//! filesystem it can only report a bad block, with DUP or RAID1 it also repairs it from
//! the good copy. Defragmentation is not part of it: `btrfs filesystem defragment`
//! unshares extents shared with snapshots and reflinked copies, so it is an explicit
//! opt-in (`[upkeep.NAME] defragment = true`, see `crate::upkeep`).

use std::path::PathBuf;

use jts_core::{CmdSpec, Root, Runner};
use jts_mounts::MountFs;
use serde::Serialize;

use crate::spec::HostSpec;
use crate::targets::mount_targets;

/// The counters of one finished scrub, from `btrfs scrub start -B -R`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScrubFigures {
    /// Bytes of data and metadata read.
    pub bytes_scrubbed: u64,
    /// Errors found: read, checksum, verify, superblock and allocation errors.
    pub errors: u64,
    /// Errors repaired from a good copy.
    pub corrected: u64,
    /// Errors that could not be repaired (data lost unless restored from a backup).
    pub uncorrectable: u64,
}

/// How one mount's scrub ended.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ScrubOutcome {
    /// The scrub finished.
    Scrubbed(ScrubFigures),
    /// Not mounted: nothing to scrub.
    NotMounted,
    /// `btrfs scrub` failed to run or finish.
    Failed {
        /// What went wrong.
        error: String,
    },
}

/// One btrfs mount's scrub.
#[derive(Debug, Clone, Serialize)]
pub struct Scrubbed {
    /// The mount's name in the spec (`warm`, `lv_backups`).
    pub name: String,
    /// Where it is mounted on this machine.
    pub mount_point: PathBuf,
    /// What happened.
    #[serde(flatten)]
    pub outcome: ScrubOutcome,
}

impl Scrubbed {
    /// Whether this mount needs an operator: errors found, or the scrub failed.
    pub fn needs_attention(&self) -> bool {
        match &self.outcome {
            ScrubOutcome::Scrubbed(figures) => figures.errors > 0 || figures.uncorrectable > 0,
            ScrubOutcome::NotMounted => false,
            ScrubOutcome::Failed { .. } => true,
        }
    }
}

impl std::fmt::Display for Scrubbed {
    /// One line for a terminal, with what to do about errors.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (name, at) = (&self.name, self.mount_point.display());
        match &self.outcome {
            ScrubOutcome::Scrubbed(s) if s.errors == 0 && s.uncorrectable == 0 => {
                write!(f, "{name} ({at}): {} scrubbed, no errors", jts_core::human_bytes(s.bytes_scrubbed))
            }
            ScrubOutcome::Scrubbed(s) => write!(
                f,
                "{name} ({at}): {} ERRORS ({} corrected, {} uncorrectable): see `btrfs scrub status -d {at}` and the \
                 kernel log (journalctl -k); restore what is uncorrectable from a backup",
                s.errors, s.corrected, s.uncorrectable
            ),
            ScrubOutcome::NotMounted => write!(f, "{name} ({at}): not mounted, skipped"),
            ScrubOutcome::Failed { error } => write!(f, "{name} ({at}): FAILED: {error}"),
        }
    }
}

/// The managed btrfs mounts, by name and mount point.
pub(crate) fn btrfs_mounts(spec: &HostSpec) -> Vec<(String, jts_core::AbsPath)> {
    mount_targets(spec)
        .into_iter()
        .filter(|t| t.fs() == MountFs::Btrfs)
        .map(|t| (t.name.trim_start_matches("filesystems.").to_owned(), t.mount_point))
        .collect()
}

/// Scrubs every managed btrfs mount that is mounted (but those whose `[upkeep.NAME]`
/// says `scrub = false`), one after the other, in the
/// foreground (`btrfs scrub start -B -R`).
pub fn scrub(spec: &HostSpec, root: &Root, runner: &dyn Runner) -> crate::Result<Vec<Scrubbed>> {
    let mounted = jts_mounts::read_mountinfo()?;
    let mut results = Vec::new();
    for (name, mount_point) in crate::upkeep::to_scrub(spec) {
        let path = root.resolve(&mount_point);
        let outcome = if jts_mounts::mount_at(&mounted, &path.to_string_lossy()).is_none() {
            ScrubOutcome::NotMounted
        } else {
            let cmd = CmdSpec::new("btrfs").arg("scrub").arg("start").arg("-B").arg("-R").arg(&path);
            match runner.run(&cmd) {
                Ok(output) => parse_raw(&output.stdout)
                    .map_or_else(|| ScrubOutcome::Failed { error: unreadable(&output.stdout) }, ScrubOutcome::Scrubbed),
                // btrfs exits 3 when the scrub found errors; its counters are still printed.
                Err(jts_core::Error::Command(failure)) => match parse_raw(&failure.stdout) {
                    Some(figures) if figures.errors > 0 || figures.uncorrectable > 0 => ScrubOutcome::Scrubbed(figures),
                    _ => ScrubOutcome::Failed { error: failure.to_string() },
                },
                Err(err) => ScrubOutcome::Failed { error: err.to_string() },
            }
        };
        results.push(Scrubbed { name, mount_point: path, outcome });
    }
    Ok(results)
}

fn unreadable(stdout: &str) -> String {
    format!("`btrfs scrub start -B -R` printed no counters: {}", stdout.trim())
}

/// The counters of `btrfs scrub start -B -R`'s `name: value` lines.
fn parse_raw(stdout: &str) -> Option<ScrubFigures> {
    let value = |key: &str| {
        stdout.lines().find_map(|line| line.trim().strip_prefix(key)?.strip_prefix(':')?.trim().parse::<u64>().ok())
    };
    let errors = ["read_errors", "csum_errors", "verify_errors", "super_errors", "malloc_errors"]
        .iter()
        .map(|key| value(key))
        .collect::<Option<Vec<u64>>>()?
        .into_iter()
        .sum();
    Some(ScrubFigures {
        bytes_scrubbed: value("data_bytes_scrubbed")? + value("tree_bytes_scrubbed")?,
        errors,
        corrected: value("corrected_errors")?,
        uncorrectable: value("uncorrectable_errors")?,
    })
}

/// The Prometheus text of `results`, stamped `now` (seconds since the epoch).
pub fn scrub_prometheus(results: &[Scrubbed], now: u64) -> String {
    let mut out = String::new();
    let metrics = [
        ("jts_btrfs_scrub_errors", "Errors the last btrfs scrub found (read, checksum, verify, super, allocation)."),
        ("jts_btrfs_scrub_uncorrectable_errors", "Errors the last btrfs scrub could not repair."),
        ("jts_btrfs_scrub_corrected_errors", "Errors the last btrfs scrub repaired from a good copy."),
        ("jts_btrfs_scrub_bytes", "Bytes the last btrfs scrub read."),
        ("jts_btrfs_scrub_last_run_timestamp_seconds", "When the last btrfs scrub finished."),
        ("jts_btrfs_scrub_success", "Whether the last btrfs scrub ran to the end (1) or failed (0)."),
    ];
    for (metric, help) in metrics {
        out.push_str(&format!("# HELP {metric} {help}\n# TYPE {metric} gauge\n"));
        for result in results {
            let value = match (&result.outcome, metric) {
                (ScrubOutcome::NotMounted, _) => continue,
                (ScrubOutcome::Failed { .. }, "jts_btrfs_scrub_success") => 0,
                (ScrubOutcome::Failed { .. }, "jts_btrfs_scrub_last_run_timestamp_seconds") => now,
                (ScrubOutcome::Failed { .. }, _) => continue,
                (ScrubOutcome::Scrubbed(f), "jts_btrfs_scrub_errors") => f.errors,
                (ScrubOutcome::Scrubbed(f), "jts_btrfs_scrub_uncorrectable_errors") => f.uncorrectable,
                (ScrubOutcome::Scrubbed(f), "jts_btrfs_scrub_corrected_errors") => f.corrected,
                (ScrubOutcome::Scrubbed(f), "jts_btrfs_scrub_bytes") => f.bytes_scrubbed,
                (ScrubOutcome::Scrubbed(_), "jts_btrfs_scrub_success") => 1,
                (ScrubOutcome::Scrubbed(_), _) => now,
            };
            out.push_str(&format!("{metric}{{mount=\"{}\"}} {value}\n", result.name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: &str = "scrub done for 97032c40\nStatus:           finished\n\tdata_extents_scrubbed: 80\n\
        \ttree_extents_scrubbed: 18\n\tdata_bytes_scrubbed: 5242880\n\ttree_bytes_scrubbed: 294912\n\tread_errors: 0\n\
        \tcsum_errors: 3\n\tverify_errors: 0\n\tno_csum: 0\n\tcsum_discards: 0\n\tsuper_errors: 0\n\tmalloc_errors: 0\n\
        \tuncorrectable_errors: 3\n\tunverified_errors: 0\n\tcorrected_errors: 0\n\tlast_physical: 72613888\n";

    #[test]
    fn reads_the_raw_counters_btrfs_progs_prints() {
        let figures = parse_raw(RAW).unwrap();
        assert_eq!(figures, ScrubFigures { bytes_scrubbed: 5_537_792, errors: 3, corrected: 0, uncorrectable: 3 });
        assert_eq!(parse_raw("ERROR: cannot access"), None);
    }

    #[test]
    fn prometheus_text_has_one_sample_per_scrubbed_mount() {
        let results = [
            Scrubbed {
                name: "warm".into(),
                mount_point: "/w".into(),
                outcome: ScrubOutcome::Scrubbed(parse_raw(RAW).unwrap()),
            },
            Scrubbed { name: "off".into(), mount_point: "/o".into(), outcome: ScrubOutcome::NotMounted },
        ];
        let text = scrub_prometheus(&results, 1_700_000_000);
        assert!(text.contains("jts_btrfs_scrub_errors{mount=\"warm\"} 3\n"), "{text}");
        assert!(text.contains("jts_btrfs_scrub_last_run_timestamp_seconds{mount=\"warm\"} 1700000000\n"), "{text}");
        assert!(!text.contains("mount=\"off\""), "{text}");
    }
}
