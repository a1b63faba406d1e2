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
            "jts_mount_bytes_total",
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
            "jts_mount_inodes_total",
            "Inodes on the filesystem (0 where there is no fixed count).",
            mounts(&|p| p.values.map(|u| u.inodes_total.to_string())),
        );
        family(
            "jts_mount_probe_duration_seconds",
            "Time the stat and statvfs of the mount root took.",
            mounts(&|p| p.values.map(|u| float(u.probe_seconds))),
        );
        family(
            "jts_check_duration_seconds",
            "Time the whole health check took.",
            vec![(String::new(), float(self.elapsed.as_secs_f64()))],
        );
        out
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
