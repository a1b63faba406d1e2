//! System integration: the files jts renders from the spec, written under `--root` by
//! [`jts_core::ManagedFile`] steps and printed by `jts-provision render`.
//!
//! What is rendered, all of it from the spec alone (nothing observed):
//!
//! - **`RequiresMountsFor=` drop-ins**, `/etc/systemd/system/UNIT.d/jts-mounts.conf`, for
//!   each of [`jts_mounts::DATABASE_UNITS`] whose data lives on a managed mount, and for
//!   `docker.service` when Docker's data root (`[systemd] docker_data_root`, default
//!   `/var/lib/docker`) does. A unit's data is its package's default data directory
//!   ([`DATA_DIRS`]); it lives on a mount when that directory is the mount point or below
//!   it. A managed mount point *below* a data directory (e.g.
//!   `/var/lib/postgresql/16/main`) counts too: the unit needs that mount as well. A
//!   `[[directories]]` entry with `required_by = ["UNIT"]` adds its path to UNIT's
//!   drop-in (a container's bind-mounted data under `docker.service`, say). Units with no
//!   data on a managed mount get no drop-in: a database is held back by its own mount,
//!   never by another's.
//! - **The NVMe scheduler udev rule** (`none` for NVMe namespaces) when any LVM physical
//!   device or `[filesystems.*]` device is an NVMe device (`/dev/nvme…`).
//! - **jts's own services and timers** ([`crate::units`]): health every minute, the daily
//!   tier run, the weekly trim, and each `[snapshots.LV]` schedule. `apply` enables the
//!   timers ([`crate::units::timer_units`]) unless `[systemd] enable_timers = false`.
//!
//! `.mount` units are not rendered: /etc/fstab stays the one source of truth for mounts,
//! and systemd's fstab generator already gives every line its `.mount` unit.

use jts_core::AbsPath;
use jts_mounts::{MountTarget, RenderedFile, nvme_scheduler_rule, requires_mounts_dropins};

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

/// Docker's default data root, for `docker.service`'s drop-in.
pub const DOCKER_DATA_ROOT: &str = "/var/lib/docker";

/// Every file the spec renders, in a stable order (drop-ins by unit, udev, then jts's
/// own units).
pub fn rendered_files(spec: &HostSpec) -> Vec<RenderedFile> {
    let targets = mount_targets(spec);
    let mut pairs = data_paths(&targets);
    let docker =
        spec.systemd.docker_data_root.clone().unwrap_or_else(|| AbsPath::new(DOCKER_DATA_ROOT).expect("absolute"));
    pairs.push(("docker.service", docker));
    for directory in &spec.perms.directories {
        for unit in &directory.required_by {
            pairs.push((unit.get_ref().as_str(), directory.path.get_ref().clone()));
        }
    }
    let mut files = requires_mounts_dropins(&pairs, &targets);
    if has_nvme_device(spec) {
        files.push(nvme_scheduler_rule());
    }
    files.extend(crate::units::jts_units(spec, &targets));
    files.extend(crate::sysctl::drop_in(&spec.sysctl));
    files
}

/// The `(unit, path)` pairs to wait for: each unit's data directory, and each managed
/// mount point below it.
fn data_paths(targets: &[MountTarget]) -> Vec<(&str, AbsPath)> {
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
        let spec = spec("[health.directory_budgets]\n\"/data/postgresql\" = \"800GiB\"\n");
        let config = spec.systemd.config.clone().unwrap();
        let files = rendered_files(&spec);
        assert_eq!(paths(&files), [HEALTH_SERVICE, HEALTH_TIMER]);
        let service = &files[0].contents;
        let exec = format!(
            "\nExecStart=/usr/bin/jts-provision --config {config} health --textfile \
             /var/lib/prometheus/node-exporter/jts.prom\n"
        );
        assert!(service.contains(&exec), "the packaged binary and the spec loaded:\n{service}");
        assert!(service.contains("\nType=oneshot\n") && service.contains("\nSuccessExitStatus=1 2 3\n"), "{service}");
        let timer = &files[1].contents;
        assert!(timer.contains("\nOnBootSec=1min\nOnUnitActiveSec=1min\nAccuracySec=1s\n"), "{timer}");
        assert!(timer.ends_with("[Install]\nWantedBy=timers.target\n"), "{timer}");
    }

    #[test]
    fn units_run_the_binary_and_spec_they_are_given() {
        let spec =
            spec("[health.directory_budgets]\n\"/d\" = \"1GiB\"\n[systemd]\nconfig = \"/etc/jts/my spec.toml\"\n")
                .with_default_binary(Some(AbsPath::new("/opt/jts/bin/jts-provision").unwrap()));
        let service = &rendered_files(&spec)[0].contents;
        assert!(
            service.contains("\nExecStart=/opt/jts/bin/jts-provision --config \"/etc/jts/my spec.toml\" health "),
            "{service}"
        );
        let pinned =
            self::spec("[health.directory_budgets]\n\"/d\" = \"1GiB\"\n[systemd]\nbinary = \"/usr/local/bin/jts\"\n")
                .with_default_binary(Some(AbsPath::new("/opt/other").unwrap()));
        assert!(
            rendered_files(&pinned)[0].contents.contains("\nExecStart=/usr/local/bin/jts --config "),
            "the spec wins"
        );
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
        assert!(service.contains(" tier run --json\n"), "{service}");
        assert!(tier[1].contents.contains("\nOnCalendar=*-*-* 02:30:00\nRandomizedDelaySec=30min\nPersistent=true\n"));
        let none = rendered_files(&spec("[[directories]]\npath = \"/srv/x\"\n"));
        assert!(none.iter().all(|f| !f.path.to_string().contains("jts-tier")), "no rules, no tier units");
    }

    #[test]
    fn snapshot_schedules_get_a_service_that_takes_then_prunes() {
        let spec = spec(
            "[volume_groups.vg]\ndevices = [\"/dev/sdb\"]\n[volume_groups.vg.volumes.lv_pg]\nsize = \"10GiB\"\n\
             [snapshots.lv_pg]\nvolume_group = \"vg\"\nsize = \"1GiB\"\nkeep_last = 3\nmax_age = \"7d\"\n\
             schedule = \"Mon..Fri *-*-* 18:30:00\"\n",
        );
        let files = rendered_files(&spec);
        let service = files.iter().find(|f| f.path.to_string() == "/etc/systemd/system/jts-snapshot-lv_pg.service");
        let service = &service.expect("a snapshot service").contents;
        let create = service.find(" snapshot create --volume lv_pg\n").expect(service);
        let prune = service.find(" snapshot prune --volume lv_pg\n").expect(service);
        assert!(create < prune, "take, then prune:\n{service}");
        let timer =
            files.iter().find(|f| f.path.to_string() == "/etc/systemd/system/jts-snapshot-lv_pg.timer").unwrap();
        assert!(
            timer.contents.contains("\nOnCalendar=Mon..Fri *-*-* 18:30:00\nPersistent=true\n"),
            "{}",
            timer.contents
        );
        assert_eq!(
            crate::units::timer_units(&files),
            ["jts-health.timer", "jts-snapshot-lv_pg.timer"],
            "the timers apply enables"
        );
    }

    #[test]
    fn docker_waits_for_its_data_root_and_for_directories_that_name_it() {
        let spec = spec(
            "[filesystems.data]\ndevice = \"/dev/sdb1\"\nfilesystem = \"xfs\"\nmount_point = \"/data\"\n\
             [systemd]\ndocker_data_root = \"/data/docker\"\n\
             [[directories]]\npath = \"/data/pg\"\nrequired_by = [\"docker.service\", \"app.service\"]\n",
        );
        let files = rendered_files(&spec);
        let docker =
            files.iter().find(|f| f.path.to_string() == "/etc/systemd/system/docker.service.d/jts-mounts.conf");
        assert!(docker.expect("docker's drop-in").contents.ends_with("RequiresMountsFor=/data/docker /data/pg\n"));
        assert!(files.iter().any(|f| f.path.to_string() == "/etc/systemd/system/app.service.d/jts-mounts.conf"));
        let elsewhere =
            self::spec("[filesystems.data]\ndevice = \"/dev/sdb1\"\nfilesystem = \"xfs\"\nmount_point = \"/data\"\n");
        assert!(
            rendered_files(&elsewhere).iter().all(|f| !f.path.to_string().contains("docker")),
            "/var/lib/docker is on no managed mount"
        );
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
        expected.push(dropin("docker.service"));
        expected.sort();
        expected.extend([
            "/etc/udev/rules.d/60-jts-nvme-scheduler.rules".into(),
            HEALTH_SERVICE.into(),
            HEALTH_TIMER.into(),
            "/etc/systemd/system/jts-fstrim.service".into(),
            "/etc/systemd/system/jts-fstrim.timer".into(),
        ]);
        assert_eq!(paths(&files), expected, "every data dir is below /var/lib");
        let pg = files.iter().find(|f| f.path.to_string() == dropin("postgresql.service")).unwrap();
        assert!(
            pg.contents.ends_with("RequiresMountsFor=/var/lib/postgresql/16/main /var/lib/postgresql\n"),
            "{}",
            pg.contents
        );
        let trim = files.iter().find(|f| f.path.to_string() == "/etc/systemd/system/jts-fstrim.service").unwrap();
        assert!(trim.contents.contains(" trim\n") && !trim.contents.contains("RequiresMountsFor"), "{}", trim.contents);
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
