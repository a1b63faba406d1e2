//! System integration, rendered as files for the caller to write under `--root`:
//! `RequiresMountsFor=` drop-ins for database units, the udev rule for the NVMe scheduler, and optional `.mount` units. All pure.

use std::collections::BTreeMap;

use jts_core::AbsPath;

use crate::plan::fstab_entry;
use crate::spec::{MountSource, MountTarget};
use crate::state::Observed;

/// The database units the seeds run.
pub const DATABASE_UNITS: [&str; 5] =
    ["postgresql.service", "clickhouse-server.service", "kafka.service", "mongod.service", "redis-server.service"];

/// A file to write: where (a spec path, to re-root) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// The path, e.g. `/etc/systemd/system/jts-fstrim.timer`.
    pub path: AbsPath,
    /// The contents.
    pub contents: String,
}

fn file(path: String, contents: String) -> RenderedFile {
    RenderedFile { path: AbsPath::new(path).expect("rendered paths are absolute"), contents }
}

/// Escapes a path as `systemd-escape --path` does: slashes become `-`, every byte other
/// than ASCII letters, digits, `:`, `_` and `.` (and a leading `.`) becomes `\xNN`.
///
/// ```
/// use jts_core::AbsPath;
/// let path = AbsPath::new("/var/lib/jts-hot").unwrap();
/// assert_eq!(jts_mounts::systemd_escape_path(&path), r"var-lib-jts\x2dhot");
/// assert_eq!(jts_mounts::systemd_escape_path(&AbsPath::new("/").unwrap()), "-");
/// ```
pub fn systemd_escape_path(path: &AbsPath) -> String {
    let text = path.to_string();
    let trimmed = text.trim_matches('/');
    if trimmed.is_empty() {
        return "-".to_owned();
    }
    let mut out = String::with_capacity(trimmed.len());
    for (i, byte) in trimmed.bytes().enumerate() {
        match byte {
            b'/' => out.push('-'),
            b'.' if i == 0 => out.push_str("\\x2e"),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b':' | b'_' | b'.' => out.push(byte as char),
            other => out.push_str(&format!("\\x{other:02x}")),
        }
    }
    out
}

/// The `.mount` unit name of a mount point, e.g. `var-lib-postgresql.mount`.
pub fn mount_unit_name(mount_point: &AbsPath) -> String {
    format!("{}.mount", systemd_escape_path(mount_point))
}

/// A path in a space-separated unit setting, quoted when it holds a space or quote.
pub fn unit_path(path: &AbsPath) -> String {
    let text = path.to_string();
    if text.contains([' ', '"', '\\', '\t']) {
        format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        text
    }
}

/// `/etc/systemd/system/<unit>.d/jts-mounts.conf` with `RequiresMountsFor=` for each
/// `(unit, data path)` whose path lives on a managed mount (the mount point or below it).
/// Pairs whose path is on no managed mount get nothing: nothing to wait for.
pub fn requires_mounts_dropins(pairs: &[(&str, AbsPath)], targets: &[MountTarget]) -> Vec<RenderedFile> {
    let mut by_unit: BTreeMap<&str, Vec<&AbsPath>> = BTreeMap::new();
    for (unit, path) in pairs {
        let managed = targets.iter().any(|t| t.mount_point == *path || path.ancestors().contains(&t.mount_point));
        if managed {
            let paths = by_unit.entry(unit).or_default();
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
    }
    by_unit
        .into_iter()
        .map(|(unit, paths)| {
            let list: Vec<String> = paths.iter().map(|p| unit_path(p)).collect();
            file(
                format!("/etc/systemd/system/{unit}.d/jts-mounts.conf"),
                format!(
                    "# Written by jts-provision: {unit} starts only once its data is mounted.\n\
                     [Unit]\nRequiresMountsFor={}\n",
                    list.join(" ")
                ),
            )
        })
        .collect()
}

/// `/etc/udev/rules.d/60-jts-nvme-scheduler.rules`: the `none` I/O scheduler for NVMe
/// namespaces (whole disks, not partitions), which have their own deep queues.
pub fn nvme_scheduler_rule() -> RenderedFile {
    file(
        "/etc/udev/rules.d/60-jts-nvme-scheduler.rules".into(),
        "# Written by jts-provision: NVMe queues schedule themselves.\n\
         ACTION==\"add|change\", SUBSYSTEM==\"block\", KERNEL==\"nvme[0-9]*n[0-9]*\", ENV{DEVTYPE}==\"disk\", \
         ATTR{queue/scheduler}=\"none\"\n"
            .into(),
    )
}

/// A `.mount` unit for `target`, an alternative to its fstab line. The device is named
/// as the fstab line would name it (`UUID=` becomes `/dev/disk/by-uuid/…`).
pub fn mount_unit(target: &MountTarget, observed: &Observed) -> RenderedFile {
    let (entry, _) = fstab_entry(target, observed);
    let what = if let Some(uuid) = entry.source.strip_prefix("UUID=") {
        format!("/dev/disk/by-uuid/{uuid}")
    } else if let Some(label) = entry.source.strip_prefix("LABEL=") {
        format!("/dev/disk/by-label/{}", label.replace('/', "\\x2f").replace(' ', "\\x20"))
    } else {
        entry.source.clone()
    };
    let (network, wanted_by) = match target.source {
        MountSource::Nfs { .. } => ("After=network-online.target\nWants=network-online.target\n", "remote-fs.target"),
        MountSource::Block { .. } => ("", "local-fs.target"),
    };
    let options: Vec<&str> = target.options.iter().map(String::as_str).filter(|o| *o != "defaults").collect();
    let options = if options.is_empty() { String::new() } else { format!("Options={}\n", options.join(",")) };
    file(
        format!("/etc/systemd/system/{}", mount_unit_name(&target.mount_point)),
        format!(
            "# Written by jts-provision.\n[Unit]\nDescription=jts mount {}\n{network}\n[Mount]\nWhat={what}\n\
             Where={}\nType={}\n{options}\n[Install]\nWantedBy={wanted_by}\n",
            target.name,
            target.mount_point,
            target.fstype()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::MountFs;
    use crate::state::DeviceIds;

    fn path(p: &str) -> AbsPath {
        AbsPath::new(p).unwrap()
    }

    fn targets() -> Vec<MountTarget> {
        vec![
            MountTarget::block(
                "lv_postgres",
                path("/dev/vg_jts/lv_postgres"),
                MountFs::Ext4,
                path("/var/lib/postgresql"),
                vec!["noatime".into()],
            ),
            MountTarget::nfs(
                "cold",
                "nas:/volume1/jts",
                path("/mnt/synology"),
                vec!["vers=4.2".into(), "_netdev".into()],
            ),
        ]
    }

    #[test]
    fn escaping_follows_systemd() {
        assert_eq!(systemd_escape_path(&path("/var/lib/postgresql")), "var-lib-postgresql");
        assert_eq!(systemd_escape_path(&path("/data/warm-storage")), r"data-warm\x2dstorage");
        assert_eq!(systemd_escape_path(&path("/.hidden/a.b/.x")), r"\x2ehidden-a.b-.x");
        assert_eq!(systemd_escape_path(&path("/srv/pg data/ü")), r"srv-pg\x20data-\xc3\xbc");
        assert_eq!(mount_unit_name(&path("/var/lib/postgresql")), "var-lib-postgresql.mount");
    }

    #[test]
    fn dropins_only_for_data_on_managed_mounts() {
        let pairs = [
            ("postgresql.service", path("/var/lib/postgresql/16/main")),
            ("redis-server.service", path("/var/lib/redis")),
            ("postgresql.service", path("/mnt/synology/archives")),
        ];
        let files = requires_mounts_dropins(&pairs, &targets());
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].path.to_string(), "/etc/systemd/system/postgresql.service.d/jts-mounts.conf");
        assert!(
            files[0]
                .contents
                .ends_with("[Unit]\nRequiresMountsFor=/var/lib/postgresql/16/main /mnt/synology/archives\n")
        );
    }

    #[test]
    fn mount_units_name_devices_as_fstab_would() {
        let mut observed = Observed::default();
        observed
            .devices
            .insert(path("/dev/vg_jts/lv_postgres"), DeviceIds { uuid: Some("ab-12".into()), ..DeviceIds::default() });
        let unit = mount_unit(&targets()[0], &observed);
        assert_eq!(unit.path.to_string(), "/etc/systemd/system/var-lib-postgresql.mount");
        assert!(
            unit.contents
                .contains("What=/dev/disk/by-uuid/ab-12\nWhere=/var/lib/postgresql\nType=ext4\nOptions=noatime\n")
        );
        let nfs = mount_unit(&targets()[1], &observed);
        assert!(
            nfs.contents.contains("Wants=network-online.target") && nfs.contents.contains("WantedBy=remote-fs.target")
        );
        assert!(nvme_scheduler_rule().contents.contains("ATTR{queue/scheduler}=\"none\""));
    }
}
