//! jts's own services and timers: what runs unattended once `apply` is done.
//!
//! Every service runs the jts-provision that applied the spec (`[systemd] binary`
//! overrides it) with `--config` the spec that was applied (`[systemd] config`
//! overrides it), so units written by a package's `/usr/bin/jts-provision` run that
//! binary, and a spec kept outside `/etc/jts` is still the one read. Each timer is
//! listed by [`timer_units`] for `apply` to enable.

use jts_core::AbsPath;
use jts_mounts::{MountTarget, RenderedFile};

use crate::spec::HostSpec;

/// The package's path of jts-provision: the units' binary when no front end says which.
pub const PACKAGED_BINARY: &str = "/usr/bin/jts-provision";

/// Where the health service writes the Prometheus text: the directory Debian's
/// `prometheus-node-exporter` reads with its textfile collector.
pub const HEALTH_TEXTFILE: &str = "/var/lib/prometheus/node-exporter/jts.prom";

/// Where the scrub service writes its Prometheus text, beside the health metrics.
pub const SCRUB_TEXTFILE: &str = "/var/lib/prometheus/node-exporter/jts-scrub.prom";

const HEADER: &str = "# Written by jts-provision.\n";

/// How a unit runs jts: the binary and the spec, quoted for `ExecStart=`.
struct Invocation {
    prefix: String,
}

impl Invocation {
    fn of(spec: &HostSpec) -> Self {
        let binary = spec.systemd.binary.as_ref().map_or_else(|| PACKAGED_BINARY.to_owned(), ToString::to_string);
        let config =
            spec.systemd.config.as_ref().map_or_else(|| spec.source.file.display().to_string(), ToString::to_string);
        Self { prefix: format!("{} --config {}", exec_word(&binary), exec_word(&config)) }
    }

    /// `ExecStart=` running jts-provision with `args`.
    fn exec(&self, args: &str) -> String {
        format!("ExecStart={} {args}\n", self.prefix)
    }
}

/// One word of an `ExecStart=` line: `%` and `$` escaped (systemd expands both),
/// quoted when it holds whitespace, a quote or a backslash.
fn exec_word(word: &str) -> String {
    let escaped = word.replace('%', "%%").replace('$', "$$");
    if escaped.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '\\') {
        format!("\"{}\"", escaped.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        escaped
    }
}

fn file(path: &str, contents: String) -> RenderedFile {
    RenderedFile { path: AbsPath::new(path).expect("unit paths are absolute"), contents }
}

fn timer(unit: &str, description: &str, schedule: &str) -> RenderedFile {
    file(
        &format!("/etc/systemd/system/{unit}.timer"),
        format!(
            "{HEADER}[Unit]\nDescription={description}\n\n[Timer]\n{schedule}\n\n[Install]\nWantedBy=timers.target\n"
        ),
    )
}

/// Every service and timer of jts the spec calls for, in a stable order: health, tier,
/// trim, snapshots.
pub(crate) fn jts_units(spec: &HostSpec, targets: &[MountTarget]) -> Vec<RenderedFile> {
    let run = Invocation::of(spec);
    let mut files = Vec::new();
    if has_anything_to_monitor(spec) {
        files.extend(health_units(&run));
    }
    if !spec.rules.is_empty() {
        files.extend(tier_units(spec, &run));
    }
    if targets.iter().any(|t| t.fs().supports_discard()) {
        files.extend(trim_units(&run));
    }
    for (volume, policy) in &spec.lvm.snapshots {
        if let Some(schedule) = &policy.get_ref().schedule {
            files.extend(snapshot_units(volume, schedule, &run));
        }
    }
    let scrubbed = crate::upkeep::to_scrub(spec);
    if !scrubbed.is_empty() {
        files.extend(scrub_units(&scrubbed, &run));
    }
    let defragmented = crate::upkeep::to_defragment(spec);
    if !defragmented.is_empty() {
        files.extend(defragment_units(&defragmented));
    }
    for (name, backup) in &spec.backups {
        if let (Some(schedule), Some(compiled)) =
            (&backup.get_ref().schedule, backup.get_ref().compile(name, &crate::backups::context(spec)))
        {
            files.extend(backup_units(spec, &compiled, schedule.get_ref(), &run));
        }
    }
    files
}

/// `jts-scrub.service` (`jts-provision scrub`: every btrfs mount, its counters written for
/// node_exporter) and a monthly timer, at idle I/O priority.
fn scrub_units(mounts: &[(String, AbsPath)], run: &Invocation) -> [RenderedFile; 2] {
    let paths: Vec<String> = mounts.iter().map(|(_, path)| jts_mounts::unit_path(path)).collect();
    let service = format!(
        "{HEADER}[Unit]\nDescription=Scrub the jts btrfs filesystems: read every block, check its checksum\n\
         Documentation=man:btrfs-scrub(8)\nAfter=local-fs.target\nRequiresMountsFor={}\n\n\
         [Service]\nType=oneshot\n{}Nice=19\nIOSchedulingClass=idle\n",
        paths.join(" "),
        run.exec(&format!("scrub --textfile {SCRUB_TEXTFILE}"))
    );
    [
        file("/etc/systemd/system/jts-scrub.service", service),
        timer(
            "jts-scrub",
            "Monthly scrub of the jts btrfs filesystems",
            "OnCalendar=monthly\nAccuracySec=1h\nPersistent=true\nRandomizedDelaySec=6h",
        ),
    ]
}

/// `jts-defragment.service` (`btrfs filesystem defragment -r`, each opted-in mount) and
/// a monthly timer: only for mounts whose `[upkeep.NAME]` says `defragment = true`.
fn defragment_units(mounts: &[(String, AbsPath)]) -> [RenderedFile; 2] {
    let paths: Vec<String> = mounts.iter().map(|(_, path)| jts_mounts::unit_path(path)).collect();
    let exec: String = mounts
        .iter()
        .map(|(_, path)| {
            format!("ExecStart=/usr/bin/btrfs filesystem defragment -r {}\n", exec_word(&path.to_string()))
        })
        .collect();
    let service = format!(
        "{HEADER}[Unit]\nDescription=Defragment the opted-in jts btrfs filesystems (unshares snapshot and reflink extents)\n\
         Documentation=man:btrfs-filesystem(8)\nAfter=local-fs.target jts-scrub.service\nRequiresMountsFor={}\n\n\
         [Service]\nType=oneshot\n{exec}Nice=19\nIOSchedulingClass=idle\n",
        paths.join(" ")
    );
    [
        file("/etc/systemd/system/jts-defragment.service", service),
        timer(
            "jts-defragment",
            "Monthly defragmentation of the opted-in jts btrfs filesystems",
            "OnCalendar=monthly\nAccuracySec=1h\nPersistent=true\nRandomizedDelaySec=6h",
        ),
    ]
}

/// The timers among `files`, by unit name, for `apply` to enable.
pub fn timer_units(files: &[RenderedFile]) -> Vec<String> {
    files
        .iter()
        .filter_map(|f| f.path.as_path().strip_prefix("/etc/systemd/system").ok())
        .filter_map(|name| name.to_str().filter(|n| n.ends_with(".timer") && !n.contains('/')).map(str::to_owned))
        .collect()
}

fn has_anything_to_monitor(spec: &HostSpec) -> bool {
    !crate::health::health_targets(spec).is_empty()
        || !spec.lvm.volume_groups.is_empty()
        || !spec.rules.is_empty()
        || !spec.health_levels.directory_budgets.is_empty()
        || !spec.backups.is_empty()
}

/// `jts-health.service` (one `health --textfile`, exit codes 0–3 all success) and
/// `jts-health.timer` (every minute).
fn health_units(run: &Invocation) -> [RenderedFile; 2] {
    let service = format!(
        "{HEADER}[Unit]\nDescription=Refresh the jts storage health metrics for node_exporter\n\
         After=local-fs.target remote-fs.target\n\n\
         [Service]\nType=oneshot\n{}\
         # health exits 1 WARNING, 2 CRITICAL, 3 UNKNOWN: reported in the metrics, not a unit failure.\n\
         SuccessExitStatus=1 2 3\nStandardOutput=null\nTimeoutStartSec=5min\nNice=10\nIOSchedulingClass=idle\n",
        run.exec(&format!("health --textfile {HEALTH_TEXTFILE}"))
    );
    [
        file("/etc/systemd/system/jts-health.service", service),
        timer(
            "jts-health",
            "Refresh the jts storage health metrics every minute",
            "OnBootSec=1min\nOnUnitActiveSec=1min\nAccuracySec=1s",
        ),
    ]
}

/// `jts-tier.service` (one `tier run`, after every rule's directories are mounted) and
/// `jts-tier.timer` (daily at 02:30, spread over 30 minutes, caught up after a boot that
/// missed it), at the lowest best-effort I/O priority so the databases keep theirs.
fn tier_units(spec: &HostSpec, run: &Invocation) -> [RenderedFile; 2] {
    let mut paths: Vec<String> = Vec::new();
    for rule in &spec.rules {
        let ends = std::iter::once(rule.from.get_ref()).chain(rule.to.as_ref().map(|to| to.get_ref()));
        for path in ends.map(jts_mounts::unit_path) {
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
    }
    let service = format!(
        "{HEADER}[Unit]\nDescription=Move aged files between the jts storage tiers\n\
         After=local-fs.target remote-fs.target\nRequiresMountsFor={}\n\n\
         [Service]\nType=oneshot\n{}Nice=10\nIOSchedulingClass=best-effort\nIOSchedulingPriority=7\n",
        paths.join(" "),
        run.exec("tier run --json")
    );
    [
        file("/etc/systemd/system/jts-tier.service", service),
        timer(
            "jts-tier",
            "Move aged files between the jts storage tiers daily",
            "OnCalendar=*-*-* 02:30:00\nRandomizedDelaySec=30min\nPersistent=true",
        ),
    ]
}

/// `jts-fstrim.service` (`jts-provision trim`: every managed local mount, one that
/// cannot discard or is not mounted never stopping the others) and a weekly timer.
///
/// No `RequiresMountsFor=`: a mount that failed at boot (`nofail`) would stop the trim
/// of all the others; `trim` skips what is not mounted instead.
fn trim_units(run: &Invocation) -> [RenderedFile; 2] {
    let service = format!(
        "{HEADER}[Unit]\nDescription=Discard unused blocks on the jts-managed filesystems\n\
         Documentation=man:fstrim(8)\nConditionVirtualization=!container\nAfter=local-fs.target\n\n\
         [Service]\nType=oneshot\n{}Nice=19\nIOSchedulingClass=idle\n",
        run.exec("trim")
    );
    [
        file("/etc/systemd/system/jts-fstrim.service", service),
        timer(
            "jts-fstrim",
            "Weekly fstrim of the jts-managed filesystems",
            "OnCalendar=weekly\nAccuracySec=1h\nPersistent=true\nRandomizedDelaySec=100min",
        ),
    ]
}

/// `jts-snapshot-LV.service` (take a snapshot of LV, then prune by its retention) and
/// `jts-snapshot-LV.timer` at the policy's `schedule`.
fn snapshot_units(volume: &str, schedule: &str, run: &Invocation) -> [RenderedFile; 2] {
    let unit = format!("jts-snapshot-{}", unit_name_part(volume));
    let service = format!(
        "{HEADER}[Unit]\nDescription=Take an LVM snapshot of {volume} and prune by its retention\n\
         After=local-fs.target\n\n\
         [Service]\nType=oneshot\n{}{}",
        run.exec(&format!("snapshot create --volume {volume}")),
        run.exec(&format!("snapshot prune --volume {volume}"))
    );
    [
        file(&format!("/etc/systemd/system/{unit}.service"), service),
        timer(&unit, &format!("LVM snapshots of {volume}"), &format!("OnCalendar={schedule}\nPersistent=true")),
    ]
}

/// How long a rendered backup unit waits for another backup to release the lock.
const BACKUP_LOCK_WAIT: &str = "6h";

/// `jts-backup-NAME.service` (`backup run NAME`, then `backup prune NAME` when it has a
/// `keep`) and `jts-backup-NAME.timer` at its `schedule`: one pair per backup, as each
/// has its own schedule and mounts. It waits for the source, `to` and every tier its
/// archives move to, and reads and writes at the lowest best-effort I/O priority.
fn backup_units(spec: &HostSpec, backup: &jts_backup::Backup, schedule: &str, run: &Invocation) -> [RenderedFile; 2] {
    let unit = format!("jts-backup-{}", unit_name_part(&backup.name));
    let mut paths: Vec<String> = Vec::new();
    if let jts_backup::Source::Path { path } = &backup.source {
        paths.push(jts_mounts::unit_path(path));
    }
    for dir in crate::backups::backup_locations(spec, backup).dirs {
        let path = jts_mounts::unit_path(&dir);
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    // Backups scheduled at the same minute take the backup lock one after the other.
    let prune = if backup.keep.is_empty() {
        String::new()
    } else {
        run.exec(&format!("backup prune {} --wait {BACKUP_LOCK_WAIT}", backup.name))
    };
    let service = format!(
        "{HEADER}[Unit]\nDescription=Back up {name} (jts) and prune its archives\n\
         After=local-fs.target remote-fs.target\nRequiresMountsFor={}\n\n\
         [Service]\nType=oneshot\n{}{prune}Nice=10\nIOSchedulingClass=best-effort\nIOSchedulingPriority=7\n",
        paths.join(" "),
        run.exec(&format!("backup run {} --wait {BACKUP_LOCK_WAIT}", backup.name)),
        name = backup.name,
    );
    [
        file(&format!("/etc/systemd/system/{unit}.service"), service),
        timer(&unit, &format!("jts backups of {}", backup.name), &format!("OnCalendar={schedule}\nPersistent=true")),
    ]
}

/// `name` as part of a unit name: systemd allows ASCII letters, digits, `:`, `-`, `_`
/// and `.`; anything else (an LV name may hold `+`) becomes `\xNN`, as systemd-escape
/// writes it.
fn unit_name_part(name: &str) -> String {
    name.bytes()
        .map(|byte| match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b':' | b'-' | b'_' | b'.' => (byte as char).to_string(),
            other => format!("\\x{other:02x}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_words_escape_what_systemd_expands_and_quote_spaces() {
        assert_eq!(exec_word("/usr/bin/jts-provision"), "/usr/bin/jts-provision");
        assert_eq!(exec_word("/srv/100%/$HOME"), "/srv/100%%/$$HOME");
        assert_eq!(exec_word("/opt/my jts/bin"), "\"/opt/my jts/bin\"");
    }

    #[test]
    fn volume_names_become_valid_unit_names() {
        assert_eq!(unit_name_part("lv_pg-2.x"), "lv_pg-2.x");
        assert_eq!(unit_name_part("lv+a"), "lv\\x2ba");
    }
}
