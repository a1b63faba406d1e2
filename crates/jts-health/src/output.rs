//! The report for humans (a table), for programs (JSON) and for Prometheus (the text
//! exposition format, written atomically for node_exporter's textfile collector).

use std::fmt::Write as _;

use jts_core::{AbsPath, Root};

use crate::check::{HealthReport, human_bytes};
use crate::error::Result;

impl HealthReport {
    /// A table for a terminal, one line per mount, then the overall status.
    ///
    /// ```text
    /// TIER  MOUNT           STATUS    USE%   SIZE  AVAIL  INODE%  MESSAGE
    /// hot   /data/postgres  WARNING   85.2%  9.8G  1.4G   0.1%    space 85.2% used (warn 80%, crit 90%)
    /// overall: WARNING (hot WARNING) in 0.004s
    /// ```
    pub fn to_table(&self) -> String {
        let header = ["TIER", "MOUNT", "STATUS", "USE%", "SIZE", "AVAIL", "INODE%", "MESSAGE"].map(str::to_owned);
        let mut rows = vec![header];
        for probe in &self.probes {
            let (used, size, avail, inodes) = match &probe.values {
                Some(u) => (
                    format!("{:.1}%", u.used_ratio * 100.0),
                    human_bytes(u.bytes_total),
                    human_bytes(u.bytes_available),
                    u.inodes_used_ratio.map_or_else(|| "-".to_owned(), |r| format!("{:.1}%", r * 100.0)),
                ),
                None => ("-".into(), "-".into(), "-".into(), "-".into()),
            };
            rows.push([
                probe.tier.clone(),
                probe.mount.clone(),
                probe.status.to_string(),
                used,
                size,
                avail,
                inodes,
                probe.message.clone(),
            ]);
        }
        let pct = |ratio: Option<f64>| ratio.map_or_else(|| "-".to_owned(), |r| format!("{:.1}%", r * 100.0));
        let bytes = |b: Option<u64>| b.map_or_else(|| "-".to_owned(), human_bytes);
        for vg in &self.volume_groups {
            rows.push([
                vg.tier.clone(),
                format!("vg {}", vg.name),
                vg.status.to_string(),
                pct(vg.free_ratio.map(|r| 1.0 - r)),
                bytes(vg.size_bytes),
                bytes(vg.free_bytes),
                "-".into(),
                vg.message.clone(),
            ]);
        }
        for snap in &self.snapshots {
            rows.push([
                snap.tier.clone(),
                format!("snapshot {}/{}", snap.vg, snap.name),
                snap.status.to_string(),
                pct(snap.cow_used_ratio),
                "-".into(),
                "-".into(),
                "-".into(),
                snap.message.clone(),
            ]);
        }
        for dir in &self.directories {
            rows.push([
                dir.tier.clone(),
                format!("dir {}", dir.path),
                dir.status.to_string(),
                pct(dir.budget_used_ratio),
                human_bytes(dir.budget_bytes),
                human_bytes(dir.budget_bytes.saturating_sub(dir.bytes_used)),
                "-".into(),
                dir.message.clone(),
            ]);
        }
        if let Some(run) = &self.tier_run {
            let row = ["-", "tier run", run.status.as_str(), "-", "-", "-", "-", run.message.as_str()];
            rows.push(row.map(str::to_owned));
        }
        for backup in &self.backups {
            let name = format!("backup {}", backup.name);
            let row = ["-", name.as_str(), backup.status.as_str(), "-", "-", "-", "-", backup.message.as_str()];
            rows.push(row.map(str::to_owned));
        }
        let widths: Vec<usize> =
            (0..8).map(|col| rows.iter().map(|row| row[col].chars().count()).max().unwrap_or(0)).collect();
        let mut out = String::new();
        for row in &rows {
            let mut line = String::new();
            for (col, cell) in row.iter().enumerate() {
                if col == 7 {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:<width$}  ", width = widths[col]);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        let tiers: Vec<String> = self.tiers.iter().map(|(tier, status)| format!("{tier} {status}")).collect();
        let _ = writeln!(out, "overall: {} ({}) in {:.3}s", self.status, tiers.join(", "), self.elapsed.as_secs_f64());
        out
    }

    /// The report as pretty-printed JSON, in the schema documented in the crate root.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// The report in the Prometheus text exposition format (version 0.0.4).
    ///
    /// Every family has `# HELP` and `# TYPE` lines and all are gauges. Mount families are
    /// labelled `tier` and `mount`; usage families are present only for mounts that
    /// answered, so a hung mount has `jts_mount_responding 0` and no stale figures.
    /// Status values are the plugin codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        let mut family = |name: &str, help: &str, samples: Vec<(String, String)>| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} gauge");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let labels = |tier: &str, mount: &str| format!("{{tier=\"{}\",mount=\"{}\"}}", escape(tier), escape(mount));
        let mounts = |value: &dyn Fn(&crate::ProbeResult) -> Option<String>| -> Vec<(String, String)> {
            self.probes.iter().filter_map(|p| value(p).map(|v| (labels(&p.tier, &p.mount), v))).collect()
        };
        family(
            "jts_health_status",
            "Overall storage health: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
            vec![(String::new(), self.status.code().to_string())],
        );
        family(
            "jts_tier_status",
            "Worst status of a storage tier: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
            self.tiers
                .iter()
                .map(|(tier, s)| (format!("{{tier=\"{}\"}}", escape(tier)), s.code().to_string()))
                .collect(),
        );
        family(
            "jts_mount_status",
            "Worst status of a mount's checks: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
            mounts(&|p| Some(p.status.code().to_string())),
        );
        family(
            "jts_mount_check_status",
            "Status of one check of a mount (check: mounted, source, read_write, options, responding, bytes, \
             inodes, reachable): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
            self.probes
                .iter()
                .flat_map(|p| {
                    p.findings.iter().map(|f| {
                        let labels = format!(
                            "{{tier=\"{}\",mount=\"{}\",check=\"{}\"}}",
                            escape(&p.tier),
                            escape(&p.mount),
                            f.check.as_str()
                        );
                        (labels, f.status.code().to_string())
                    })
                })
                .collect(),
        );
        family(
            "jts_mount_responding",
            "1 if stat and statvfs of the mount answered within the timeout, else 0.",
            mounts(&|p| Some(u8::from(p.values.is_some()).to_string())),
        );
        family(
            "jts_mount_bytes_used",
            "Bytes used on the filesystem, (f_blocks - f_bfree) * f_frsize.",
            mounts(&|p| p.values.map(|u| u.bytes_used.to_string())),
        );
        family(
            "jts_mount_bytes_available",
            "Bytes free for unprivileged writers, f_bavail * f_frsize.",
            mounts(&|p| p.values.map(|u| u.bytes_available.to_string())),
        );
        family(
            "jts_mount_size_bytes",
            "Size of the filesystem in bytes, f_blocks * f_frsize.",
            mounts(&|p| p.values.map(|u| u.bytes_total.to_string())),
        );
        family(
            "jts_mount_used_ratio",
            "Used / (used + available), as df's Use%, between 0 and 1.",
            mounts(&|p| p.values.map(|u| float(u.used_ratio))),
        );
        family(
            "jts_mount_inodes_used",
            "Inodes in use on the filesystem.",
            mounts(&|p| p.values.map(|u| u.inodes_used.to_string())),
        );
        family(
            "jts_mount_inodes",
            "Inodes on the filesystem (0 where there is no fixed count).",
            mounts(&|p| p.values.map(|u| u.inodes_total.to_string())),
        );
        family(
            "jts_mount_probe_duration_seconds",
            "Time the stat and statvfs of the mount root took.",
            mounts(&|p| p.values.map(|u| float(u.probe_seconds))),
        );
        self.extra_families(&mut family);
        family(
            "jts_check_duration_seconds",
            "Time the whole health check took.",
            vec![(String::new(), float(self.elapsed.as_secs_f64()))],
        );
        out
    }
}

type Samples = Vec<(String, String)>;

impl HealthReport {
    /// The families of the NAS, LVM, directory and tier-run probes; each only when the
    /// report has such results.
    fn extra_families(&self, family: &mut dyn FnMut(&str, &str, Samples)) {
        let mut some = |name: &str, help: &str, samples: Samples| {
            if !samples.is_empty() {
                family(name, help, samples);
            }
        };
        let nas: Vec<_> = self.probes.iter().filter_map(|p| p.nas.as_ref().map(|n| (p, n))).collect();
        let nas_labels = |p: &crate::ProbeResult, host: &str| {
            format!("{{tier=\"{}\",mount=\"{}\",host=\"{}\"}}", escape(&p.tier), escape(&p.mount), escape(host))
        };
        some(
            "jts_nas_reachable",
            "1 if the NAS behind an NFS mount accepted a TCP connection on its NFS port within the timeout, else 0.",
            nas.iter().map(|(p, n)| (nas_labels(p, &n.host), u8::from(n.reachable).to_string())).collect(),
        );
        some(
            "jts_nas_connect_duration_seconds",
            "Time the TCP connect to the NAS took (or was waited for).",
            nas.iter().map(|(p, n)| (nas_labels(p, &n.host), float(n.connect_seconds))).collect(),
        );
        let vg = |v: &crate::VgResult| format!("{{tier=\"{}\",vg=\"{}\"}}", escape(&v.tier), escape(&v.name));
        let vgs = |value: &dyn Fn(&crate::VgResult) -> Option<String>| -> Samples {
            self.volume_groups.iter().filter_map(|v| value(v).map(|x| (vg(v), x))).collect()
        };
        some(
            "jts_vg_status",
            "Status of a volume group's free space: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
            vgs(&|v| Some(v.status.code().to_string())),
        );
        some("jts_vg_size_bytes", "Size of the volume group in bytes.", vgs(&|v| v.size_bytes.map(|b| b.to_string())));
        some(
            "jts_vg_free_bytes",
            "Unallocated bytes in the volume group.",
            vgs(&|v| v.free_bytes.map(|b| b.to_string())),
        );
        some(
            "jts_vg_free_ratio",
            "Free / size of the volume group, between 0 and 1.",
            vgs(&|v| v.free_ratio.map(float)),
        );
        let snap = |s: &crate::SnapshotResult| {
            format!(
                "{{tier=\"{}\",vg=\"{}\",volume=\"{}\",origin=\"{}\"}}",
                escape(&s.tier),
                escape(&s.vg),
                escape(&s.name),
                escape(&s.origin)
            )
        };
        let snaps = |value: &dyn Fn(&crate::SnapshotResult) -> Option<String>| -> Samples {
            self.snapshots.iter().filter_map(|s| value(s).map(|x| (snap(s), x))).collect()
        };
        some(
            "jts_snapshot_status",
            "Status of a snapshot's copy-on-write fill: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
            snaps(&|s| Some(s.status.code().to_string())),
        );
        some(
            "jts_snapshot_cow_used_ratio",
            "Copy-on-write space used by a snapshot (lvm2 data_percent / 100), between 0 and 1.",
            snaps(&|s| s.cow_used_ratio.map(float)),
        );
        some(
            "jts_snapshot_valid",
            "1 if the snapshot is usable, 0 if lvm2 invalidated it (COW space overflowed).",
            snaps(&|s| Some(u8::from(s.valid).to_string())),
        );
        let dir =
            |d: &crate::DirectoryResult| format!("{{tier=\"{}\",directory=\"{}\"}}", escape(&d.tier), escape(&d.path));
        let dirs = |value: &dyn Fn(&crate::DirectoryResult) -> Option<String>| -> Samples {
            self.directories.iter().filter_map(|d| value(d).map(|x| (dir(d), x))).collect()
        };
        some(
            "jts_directory_status",
            "Status of a directory's usage against its budget: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
            dirs(&|d| Some(d.status.code().to_string())),
        );
        some(
            "jts_directory_bytes_used",
            "Allocated bytes under the directory, as du -sx (a lower bound when partial).",
            dirs(&|d| Some(d.bytes_used.to_string())),
        );
        some(
            "jts_directory_budget_bytes",
            "The directory's planned size in bytes.",
            dirs(&|d| Some(d.budget_bytes.to_string())),
        );
        some(
            "jts_directory_budget_used_ratio",
            "Bytes used / budget (may exceed 1).",
            dirs(&|d| d.budget_used_ratio.map(float)),
        );
        some("jts_directory_files", "Entries counted under the directory.", dirs(&|d| Some(d.files.to_string())));
        some(
            "jts_directory_partial",
            "1 if the scan ran out of its time budget and the figures are a lower bound, else 0.",
            dirs(&|d| Some(u8::from(d.partial).to_string())),
        );
        some(
            "jts_directory_scan_duration_seconds",
            "Time the directory scan took.",
            dirs(&|d| Some(float(d.scan_seconds))),
        );
        if let Some(run) = &self.tier_run {
            some(
                "jts_tier_run_status",
                "Status of the age of the last successful tier run: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
                vec![(String::new(), run.status.code().to_string())],
            );
            some(
                "jts_tier_run_last_success_timestamp_seconds",
                "Unix time of the last fully successful tier run.",
                run.last_success_at.map(|t| (String::new(), t.to_string())).into_iter().collect(),
            );
            some(
                "jts_tier_run_age_seconds",
                "Seconds since the last fully successful tier run.",
                run.age_seconds.map(|a| (String::new(), a.to_string())).into_iter().collect(),
            );
        }
        let backups = |value: &dyn Fn(&crate::BackupResult) -> Option<String>| -> Samples {
            self.backups
                .iter()
                .filter_map(|b| Some((format!("{{backup=\"{}\"}}", escape(&b.name)), value(b)?)))
                .collect()
        };
        some(
            "jts_backup_status",
            "Status of the backup (last archive's age, last verification): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
            backups(&|b| Some(b.status.code().to_string())),
        );
        some(
            "jts_backup_last_success_timestamp_seconds",
            "Unix time of the backup's last run that kept an archive.",
            backups(&|b| b.last_success_at.map(|t| t.to_string())),
        );
        some(
            "jts_backup_age_seconds",
            "Seconds since the backup's last run that kept an archive.",
            backups(&|b| b.age_seconds.map(|a| a.to_string())),
        );
        some(
            "jts_backup_last_verify_ok",
            "1 if the backup's most recent verification passed, 0 if it failed (absent: never verified).",
            backups(&|b| b.last_verify_ok.map(|ok| u8::from(ok).to_string())),
        );
        some(
            "jts_backup_last_verify_timestamp_seconds",
            "Unix time of the backup's most recent verification.",
            backups(&|b| b.last_verify_at.map(|t| t.to_string())),
        );
    }
}

/// Escapes a label value: backslash, double quote and newline.
fn escape(value: &str) -> String {
    value.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")
}

/// A float as Prometheus reads it.
fn float(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf".to_owned() } else { "-Inf".to_owned() }
    } else {
        format!("{value}")
    }
}

/// Writes the report's Prometheus text to `path` (under `root`) atomically, mode 0644, for
/// node_exporter's textfile collector: e.g. `/var/lib/node_exporter/textfile/jts.prom`.
/// The temporary file does not end in `.prom`, so the collector never reads a half file.
pub fn write_textfile(report: &HealthReport, root: &Root, path: &AbsPath) -> Result<()> {
    jts_core::write_atomic(root, path, report.to_prometheus().as_bytes(), 0o644)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), r#"a\"b\\c\nd"#);
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(0.5), "0.5");
        assert_eq!(float(f64::INFINITY), "+Inf");
    }
}
