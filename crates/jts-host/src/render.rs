//! System integration: the files jts renders from the spec, written under `--root` by
//! [`jts_core::ManagedFile`] steps and printed by `jts-provision render`.
//!
//! What is rendered, all of it from the spec alone (nothing observed):
//!
//! - **`RequiresMountsFor=` drop-ins**, `/etc/systemd/system/UNIT.d/jts-mounts.conf`, for
//!   each of [`jts_mounts::DATABASE_UNITS`] whose data lives on a managed mount. A unit's
//!   data is its package's default data directory ([`DATA_DIRS`]); it lives on a mount
//!   when that directory is the mount point or below it. A managed mount point *below*
//!   a data directory (e.g. `/var/lib/postgresql/16/main`) counts too: the unit needs
//!   that mount as well. Units with no data on a managed mount get no drop-in.
//! - **A weekly fstrim** (`jts-fstrim.service` and `jts-fstrim.timer`) over the managed
//!   mounts that support discard (local filesystems; NFS has nothing to trim), when
//!   there is at least one.
//! - **The NVMe scheduler udev rule** (`none` for NVMe namespaces) when any LVM physical
//!   device or `[filesystems.*]` device is an NVMe device (`/dev/nvme…`).
//!
//! - **A health timer** (`jts-health.service` and `jts-health.timer`) that refreshes the
//!   Prometheus textfile [`HEALTH_TEXTFILE`] for node_exporter every minute, when the spec
//!   has anything to monitor (a mount, a volume group, a directory budget or a rule). The
//!   service runs `jts-provision --config` [`HEALTH_CONFIG`] (the CLI's default spec path:
//!   the spec is expected there on a host) and treats the plugin codes 1, 2 and 3 as
//!   success, so a WARNING does not mark the unit failed.
//!
//! - **A daily tier run** (`jts-tier.service` and `jts-tier.timer`) when the spec has
//!   `[[rules]]`: `tier run --json` at 02:30 (spread over 30 minutes, caught up after a
//!   boot that missed it), `RequiresMountsFor=` every rule's `from` and `to` so the tiers
//!   (the NAS included) are mounted first, at the lowest best-effort I/O priority so the
//!   databases keep theirs.
//!
//! `.mount` units are not rendered: /etc/fstab stays the one source of truth for mounts,
//! and systemd's fstab generator already gives every line its `.mount` unit.
//!
//! The timer is written, not enabled: `systemctl enable --now jts-fstrim.timer` is left
//! to the operator (or the image build), as is `udevadm trigger` for the rule.

use jts_core::AbsPath;
use jts_mounts::{MountTarget, RenderedFile, fstrim_units, nvme_scheduler_rule, requires_mounts_dropins};

use crate::spec::HostSpec;
use crate::targets::mount_targets;

/// The mode of every rendered file.
pub const RENDERED_MODE: u32 = 0o644;

/// Each database unit's default data directory, as its Debian/Ubuntu package sets it.
pub const DATA_DIRS: [(&str, &str); 5] = [
    ("postgresql.service", "/var/lib/postgresql"),
    ("clickhouse-server.service", "/var/lib/clickhouse"),
    ("kafka.service", "/var/lib/kafka"),
    ("mongod.service", "/var/lib/mongodb"),
    ("redis-server.service", "/var/lib/redis"),
];

/// The spec path the health service passes to `--config`: the CLI's default.
pub const HEALTH_CONFIG: &str = "/etc/jts/storage.toml";

/// Where the health service writes the Prometheus text: the directory Debian's
/// `prometheus-node-exporter` reads with its textfile collector.
pub const HEALTH_TEXTFILE: &str = "/var/lib/prometheus/node-exporter/jts.prom";

/// Every file the spec renders, in a stable order (drop-ins by unit, fstrim, udev, health).
pub fn rendered_files(spec: &HostSpec) -> Vec<RenderedFile> {
    let targets = mount_targets(spec);
    let mut files = requires_mounts_dropins(&data_paths(&targets), &targets);
    files.extend(fstrim_units(&targets));
    if has_nvme_device(spec) {
        files.push(nvme_scheduler_rule());
    }
    if has_anything_to_monitor(spec) {
        files.extend(health_units());
    }
    if !spec.rules.is_empty() {
        files.extend(tier_units(spec));
    }
    files
}

/// `jts-tier.service` (one `tier run`, after every rule's directories are mounted) and
/// `jts-tier.timer` (daily).
fn tier_units(spec: &HostSpec) -> [RenderedFile; 2] {
    let mut paths: Vec<String> = Vec::new();
    for rule in &spec.rules {
        let ends = std::iter::once(rule.from.get_ref()).chain(rule.to.as_ref().map(|to| to.get_ref()));
        for path in ends.map(ToString::to_string) {
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
    }
    let service = format!(
        "# Written by jts-provision.\n[Unit]\nDescription=Move aged files between the jts storage tiers\n\
         After=local-fs.target remote-fs.target\nRequiresMountsFor={}\n\n\
         [Service]\nType=oneshot\n\
         ExecStart=/usr/local/bin/jts-provision --config {HEALTH_CONFIG} tier run --json\n\
         Nice=10\nIOSchedulingClass=best-effort\nIOSchedulingPriority=7\n",
        paths.join(" ")
    );
    let timer = "# Written by jts-provision.\n[Unit]\nDescription=Move aged files between the jts storage tiers daily\n\n\
                 [Timer]\nOnCalendar=*-*-* 02:30:00\nRandomizedDelaySec=30min\nPersistent=true\n\n\
                 [Install]\nWantedBy=timers.target\n";
    let file = |path: &str, contents: String| RenderedFile {
        path: AbsPath::new(path).expect("constant paths are absolute"),
        contents,
    };
    [
        file("/etc/systemd/system/jts-tier.service", service),
        file("/etc/systemd/system/jts-tier.timer", timer.to_owned()),
    ]
}

fn has_anything_to_monitor(spec: &HostSpec) -> bool {
    !crate::health::health_targets(spec).is_empty()
        || !spec.lvm.volume_groups.is_empty()
        || !spec.rules.is_empty()
        || !spec.health_levels.directory_budgets.is_empty()
}

/// `jts-health.service` (one `health --textfile`, exit codes 0–3 all success) and
/// `jts-health.timer` (every minute).
fn health_units() -> [RenderedFile; 2] {
    let service = format!(
        "# Written by jts-provision.\n[Unit]\nDescription=Refresh the jts storage health metrics for node_exporter\n\
         After=local-fs.target remote-fs.target\n\n\
         [Service]\nType=oneshot\n\
         ExecStart=/usr/local/bin/jts-provision --config {HEALTH_CONFIG} health --textfile {HEALTH_TEXTFILE}\n\
         # health exits 1 WARNING, 2 CRITICAL, 3 UNKNOWN: reported in the metrics, not a unit failure.\n\
         SuccessExitStatus=1 2 3\nStandardOutput=null\nTimeoutStartSec=5min\nNice=10\nIOSchedulingClass=idle\n"
    );
    let timer = "# Written by jts-provision.\n[Unit]\nDescription=Refresh the jts storage health metrics every minute\n\n\
                 [Timer]\nOnBootSec=1min\nOnUnitActiveSec=1min\nAccuracySec=1s\n\n\
                 [Install]\nWantedBy=timers.target\n";
    let file = |path: &str, contents: String| RenderedFile {
        path: AbsPath::new(path).expect("constant paths are absolute"),
        contents,
    };
    [
        file("/etc/systemd/system/jts-health.service", service),
        file("/etc/systemd/system/jts-health.timer", timer.to_owned()),
    ]
}

/// The `(unit, path)` pairs to wait for: each unit's data directory, and each managed
/// mount point below it.
fn data_paths(targets: &[MountTarget]) -> Vec<(&'static str, AbsPath)> {
    let mut pairs = Vec::new();
    for (unit, dir) in DATA_DIRS {
        let dir = AbsPath::new(dir).expect("constant paths are absolute");
        for target in targets.iter().filter(|t| t.mount_point.ancestors().contains(&dir)) {
            pairs.push((unit, target.mount_point.clone()));
        }
        pairs.push((unit, dir));
    }
    pairs
}

/// Whether an LVM physical device or a `[filesystems.*]` device is an NVMe device.
fn has_nvme_device(spec: &HostSpec) -> bool {
    let pvs = spec.lvm.volume_groups.values().flat_map(|vg| vg.get_ref().devices.iter().map(|d| d.get_ref()));
    let filesystems = spec.mounts.filesystems.values().map(|fs| fs.get_ref().device.get_ref());
    pvs.chain(filesystems).any(is_nvme)
}

fn is_nvme(device: &AbsPath) -> bool {
    device.as_path().strip_prefix("/dev").is_ok_and(|rest| rest.to_string_lossy().starts_with("nvme"))
}

#[cfg(test)]
mod tests {
    use jts_mounts::DATABASE_UNITS;

    use super::*;

    fn spec(text: &str) -> HostSpec {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("storage.toml");
        std::fs::write(&file, format!("version = 1\n{text}")).unwrap();
        crate::spec::load(&file).unwrap_or_else(|err| panic!("{:?}", err.lines()))
    }

    fn paths(files: &[RenderedFile]) -> Vec<String> {
        files.iter().map(|f| f.path.to_string()).collect()
    }

    const HEALTH_SERVICE: &str = "/etc/systemd/system/jts-health.service";
    const HEALTH_TIMER: &str = "/etc/systemd/system/jts-health.timer";

    #[test]
    fn the_health_timer_refreshes_the_textfile_and_tolerates_plugin_codes() {
        let files = rendered_files(&spec("[[directories]]\npath = \"/srv/x\"\n"));
        assert!(files.is_empty(), "a directory alone is nothing to monitor");
        let files = rendered_files(&spec("[health.directory_budgets]\n\"/data/postgresql\" = \"800GiB\"\n"));
        assert_eq!(paths(&files), [HEALTH_SERVICE, HEALTH_TIMER]);
        let service = &files[0].contents;
        assert!(
            service.contains(
                "\nExecStart=/usr/local/bin/jts-provision --config /etc/jts/storage.toml health \
                 --textfile /var/lib/prometheus/node-exporter/jts.prom\n"
            ),
            "{service}"
        );
        assert!(service.contains("\nType=oneshot\n") && service.contains("\nSuccessExitStatus=1 2 3\n"), "{service}");
        let timer = &files[1].contents;
        assert!(timer.contains("\nOnBootSec=1min\nOnUnitActiveSec=1min\nAccuracySec=1s\n"), "{timer}");
        assert!(timer.ends_with("[Install]\nWantedBy=timers.target\n"), "{timer}");
    }

    #[test]
    fn rules_get_a_daily_tier_run_after_their_mounts() {
        let rules = "[[rules]]\nname = \"a\"\nfrom = \"/hot/logs\"\nto = \"/mnt/nas/logs\"\nolder_than = \"7d\"\naction = \"move\"\n\
                     [[rules]]\nname = \"b\"\nfrom = \"/hot/logs\"\nolder_than = \"30d\"\naction = \"delete\"\n";
        let files = rendered_files(&spec(rules));
        let tier: Vec<&RenderedFile> = files.iter().filter(|f| f.path.to_string().contains("jts-tier")).collect();
        assert_eq!(
            tier.iter().map(|f| f.path.to_string()).collect::<Vec<_>>(),
            ["/etc/systemd/system/jts-tier.service", "/etc/systemd/system/jts-tier.timer"]
        );
        let service = &tier[0].contents;
        assert!(service.contains("\nRequiresMountsFor=/hot/logs /mnt/nas/logs\n"), "each path once:\n{service}");
        assert!(
            service
                .contains("\nExecStart=/usr/local/bin/jts-provision --config /etc/jts/storage.toml tier run --json\n"),
            "{service}"
        );
        assert!(tier[1].contents.contains("\nOnCalendar=*-*-* 02:30:00\nRandomizedDelaySec=30min\nPersistent=true\n"));
        let none = rendered_files(&spec("[[directories]]\npath = \"/srv/x\"\n"));
        assert!(none.iter().all(|f| !f.path.to_string().contains("jts-tier")), "no rules, no tier units");
    }

    #[test]
    fn one_data_dir_per_database_unit() {
        assert!(DATA_DIRS.iter().map(|(unit, _)| unit).eq(DATABASE_UNITS.iter()));
    }

    #[test]
    fn nothing_managed_renders_nothing() {
        assert!(rendered_files(&spec("")).is_empty());
        let sda = spec("[volume_groups.vg]\ndevices = [\"/dev/sda\"]\n");
        assert_eq!(
            paths(&rendered_files(&sda)),
            [HEALTH_SERVICE, HEALTH_TIMER],
            "no mounts, no NVMe: only the VG to monitor"
        );
    }

    #[test]
    fn dropins_for_data_on_or_below_a_mount_fstrim_for_local_and_udev_for_nvme() {
        let spec = spec(
            r#"
[filesystems.pg]
device = "/dev/nvme1n1p1"
filesystem = "ext4"
mount_point = "/var/lib/postgresql/16/main"

[filesystems.redis]
device = "/dev/sdb1"
filesystem = "xfs"
mount_point = "/var/lib"

[nfs_mounts.cold]
source = "nas:/volume1/jts"
mount_point = "/mnt/synology"
options = ["vers=4.2"]
"#,
        );
        let files = rendered_files(&spec);
        let dropin = |unit: &str| format!("/etc/systemd/system/{unit}.d/jts-mounts.conf");
        let mut expected: Vec<String> = DATABASE_UNITS.iter().map(|unit| dropin(unit)).collect();
        expected.sort();
        expected.extend([
            "/etc/systemd/system/jts-fstrim.service".into(),
            "/etc/systemd/system/jts-fstrim.timer".into(),
            "/etc/udev/rules.d/60-jts-nvme-scheduler.rules".into(),
            HEALTH_SERVICE.into(),
            HEALTH_TIMER.into(),
        ]);
        assert_eq!(paths(&files), expected, "every data dir is below /var/lib");
        let pg = files.iter().find(|f| f.path.to_string() == dropin("postgresql.service")).unwrap();
        assert!(
            pg.contents.ends_with("RequiresMountsFor=/var/lib/postgresql/16/main /var/lib/postgresql\n"),
            "{}",
            pg.contents
        );
        let service = &files[DATABASE_UNITS.len()].contents;
        assert!(
            service.contains("fstrim -v /var/lib\n") && service.contains("fstrim -v /var/lib/postgresql/16/main\n")
        );
        assert!(!service.contains("synology"), "NFS is not trimmed:\n{service}");
    }

    #[test]
    fn only_nfs_gets_no_fstrim_and_nvme_is_recognised_by_path() {
        let spec = spec(
            "[nfs_mounts.cold]\nsource = \"nas:/jts\"\nmount_point = \"/var/lib/kafka\"\n\
             [volume_groups.vg]\ndevices = [\"/dev/nvme0n1\"]\n",
        );
        assert_eq!(
            paths(&rendered_files(&spec)),
            [
                "/etc/systemd/system/kafka.service.d/jts-mounts.conf",
                "/etc/udev/rules.d/60-jts-nvme-scheduler.rules",
                HEALTH_SERVICE,
                HEALTH_TIMER
            ]
        );
        assert!(is_nvme(&AbsPath::new("/dev/nvme0n1").unwrap()));
        assert!(!is_nvme(&AbsPath::new("/dev/sda").unwrap()) && !is_nvme(&AbsPath::new("/srv/nvme0").unwrap()));
    }
}
