//! The planner: orders, refusals, seed fstab lines, and the convergence property.

use jts_core::{AbsPath, Root, Step};
use jts_mounts::{DeviceIds, MountFs, MountInfo, MountStep, MountTarget, Observed, PathKind, plan};
use proptest::prelude::*;

fn path(p: &str) -> AbsPath {
    AbsPath::new(p).unwrap()
}

fn opts(list: &[&str]) -> Vec<String> {
    list.iter().map(|o| (*o).to_owned()).collect()
}

fn warm() -> MountTarget {
    MountTarget::block(
        "filesystems.warm",
        path("/dev/sda2"),
        MountFs::Btrfs,
        path("/data/warm-storage"),
        opts(&["compress=zstd:3", "noatime"]),
    )
}

fn inner() -> MountTarget {
    MountTarget::block("lv_pg", path("/dev/vg/pg"), MountFs::Ext4, path("/data/warm-storage/pg"), opts(&["noatime"]))
}

fn cold() -> MountTarget {
    MountTarget::nfs(
        "nfs_mounts.cold",
        "nas:/volume1/jts",
        path("/mnt/synology"),
        opts(&["vers=4.2", "hard", "_netdev"]),
    )
}

fn uuid(id: &str) -> DeviceIds {
    DeviceIds { uuid: Some(id.into()), fstype: Some("btrfs".into()), ..DeviceIds::default() }
}

fn kinds(steps: &[MountStep]) -> Vec<String> {
    steps.iter().map(|s| format!("{} {}", s.info(&Root::host()).kind, s.info(&Root::host()).object)).collect()
}

fn mounted(mp: &str, source: &str, fstype: &str, mount_options: &str, super_options: &str) -> MountInfo {
    MountInfo::parse(&format!("40 1 8:2 / {mp} {mount_options} - {fstype} {source} {super_options}")).unwrap()
}

#[test]
fn a_blank_machine_mounts_parents_first_then_writes_fstab_once() {
    let mut observed = Observed { fstab: Some("# fstab\n".into()), ..Observed::default() };
    observed.devices.insert(path("/dev/sda2"), uuid("u-warm"));
    let targets = [inner(), cold(), warm()];
    let planned = plan(&targets, &observed);
    assert_eq!(
        kinds(&planned.steps),
        [
            "CreateMountPoint /data/warm-storage",
            "Mount mount /data/warm-storage",
            "CreateMountPoint /data/warm-storage/pg",
            "Mount mount /data/warm-storage/pg",
            "CreateMountPoint /mnt/synology",
            "Mount mount /mnt/synology",
            "WriteFstab /etc/fstab",
        ]
    );
    let MountStep::WriteFstab { new_text, pending, .. } = &planned.steps[6] else { panic!() };
    assert_eq!(
        new_text,
        "# fstab\nUUID=u-warm /data/warm-storage btrfs compress=zstd:3,noatime 0 0\n\
         /dev/vg/pg /data/warm-storage/pg ext4 noatime 0 2\n\
         nas:/volume1/jts /mnt/synology nfs4 vers=4.2,hard,_netdev 0 0\n"
    );
    assert_eq!(pending.len(), 1, "the LV's UUID is read when fstab is written");
    assert_eq!(pending[0].device, path("/dev/vg/pg"));
    let info = planned.steps[5].info(&Root::new("/tmp/r").unwrap());
    assert_eq!(info.commands, ["mount -t nfs4 -o 'vers=4.2,hard' nas:/volume1/jts /tmp/r/mnt/synology"]);
    assert!(!info.destructive);
}

#[test]
fn the_seed_duplicated_line_is_replaced_once_and_nothing_else_moves() {
    let seed = "/dev/sda2 /data/warm-storage btrfs defaults,compress=zstd:3,autodefrag,noatime 0 2\n";
    let text = format!("# keep\n{seed}UUID=r / ext4 defaults 0 1\n{seed}");
    let mut observed = Observed { fstab: Some(text), ..Observed::default() };
    observed.devices.insert(path("/dev/sda2"), uuid("u-warm"));
    let planned = plan(&[warm()], &observed);
    let Some(MountStep::WriteFstab { new_text, changed_lines, .. }) = planned.steps.last() else { panic!() };
    assert_eq!(
        new_text,
        "# keep\nUUID=u-warm /data/warm-storage btrfs compress=zstd:3,noatime 0 0\nUUID=r / ext4 defaults 0 1\n"
    );
    assert_eq!(changed_lines[0].before.as_deref(), Some(seed.trim_end()));
}

#[test]
fn mounted_from_another_device_is_refused_never_unmounted() {
    let mut observed = Observed::default();
    observed.devices.insert(path("/dev/sda2"), uuid("u-warm"));
    observed.mounts.push(mounted("/data/warm-storage", "/dev/sdz", "btrfs", "rw,noatime", "rw,compress=zstd:3"));
    let planned = plan(&[warm()], &observed);
    assert!(planned.steps.iter().all(|s| !matches!(s, MountStep::Mount { .. } | MountStep::Remount { .. })));
    assert_eq!(planned.refused.len(), 1);
    assert!(planned.refused[0].reason.contains("mounted from /dev/sdz"), "{:?}", planned.refused);
    assert!(planned.refused[0].fix.contains("umount"));
}

#[test]
fn drift_is_a_remount_when_possible_and_a_refusal_otherwise() {
    let mut observed = Observed::default();
    observed.devices.insert(path("/dev/sda2"), uuid("u-warm"));
    observed.mounts.push(mounted("/data/warm-storage", "/dev/sda2", "btrfs", "rw,relatime", "rw,compress=zstd:1"));
    let planned = plan(&[warm()], &observed);
    let remount = planned.steps.iter().find(|s| matches!(s, MountStep::Remount { .. })).unwrap();
    let drift = remount.info(&Root::host()).drift.unwrap();
    assert_eq!(drift.expected, "noatime=noatime, compress=zstd:3=compress=zstd:3");
    assert_eq!(drift.actual, "noatime=relatime, compress=zstd:3=compress=zstd:1");

    let pg = MountTarget::block("pg", path("/dev/sdb"), MountFs::Ext4, path("/pg"), opts(&["data=journal"]));
    let mut observed = Observed::default();
    observed.mounts.push(mounted("/pg", "/dev/sdb", "ext4", "rw,relatime", "rw"));
    let planned = plan(&[pg], &observed);
    assert!(planned.steps.iter().all(|s| !matches!(s, MountStep::Remount { .. })));
    assert!(planned.refused[0].reason.contains("data=journal cannot change on remount"), "{:?}", planned.refused);
}

#[test]
fn a_symlink_at_the_mount_point_is_refused() {
    let mut observed = Observed::default();
    observed.paths.insert(path("/mnt/synology"), PathKind::Blocked { what: "symlink at /mnt".into() });
    let planned = plan(&[cold()], &observed);
    assert!(planned.steps.iter().all(|s| !matches!(s, MountStep::Mount { .. })));
    assert!(planned.refused[0].reason.contains("symlink at /mnt"));
}

/// Any reachable start: fstab with or without lines for the targets, mounts present or
/// not (with remountable drift), UUIDs known or not.
fn start() -> impl Strategy<Value = (Vec<MountTarget>, Observed)> {
    let fstab = prop::option::of(prop::sample::select(vec![
        String::new(),
        "# x\n".to_owned(),
        "/dev/sda2 /data/warm-storage btrfs defaults 0 2\n/dev/sda2 /data/warm-storage btrfs defaults 0 2".to_owned(),
        "nas:/volume1/jts /mnt/synology nfs rw,hard,intr 0 0\nproc /proc proc defaults 0 0\n".to_owned(),
    ]));
    (
        prop::sample::subsequence(vec![warm(), inner(), cold()], 0..=3),
        fstab,
        any::<bool>(),
        prop::collection::vec(any::<bool>(), 3),
        prop::collection::vec(prop::sample::select(vec!["rw,noatime", "rw,relatime", "rw"]), 3),
        prop::collection::vec(any::<bool>(), 3),
    )
        .prop_map(|(targets, fstab, known_uuid, is_mounted, atime, dirs)| {
            let mut observed = Observed { fstab, ..Observed::default() };
            if known_uuid {
                observed.devices.insert(path("/dev/sda2"), uuid("u-warm"));
            }
            for (i, target) in targets.iter().enumerate() {
                if dirs[i] {
                    observed.paths.insert(target.mount_point.clone(), PathKind::Directory);
                }
                if is_mounted[i] {
                    let super_options = match target.fs() {
                        MountFs::Nfs => "rw,vers=4.2,hard",
                        MountFs::Btrfs => "rw,compress=zstd:3",
                        _ => "rw",
                    };
                    let mp = target.mount_point.to_string();
                    observed.mounts.push(mounted(&mp, &target.what(), target.fstype(), atime[i], super_options));
                }
            }
            (targets, observed)
        })
}

proptest! {
    #[test]
    fn simulating_the_plan_converges((targets, observed) in start()) {
        let first = plan(&targets, &observed);
        prop_assert!(first.refused.is_empty(), "{:?}", first.refused);
        let mut after = observed.clone();
        first.simulate(&mut after);
        let second = plan(&targets, &after);
        prop_assert!(second.is_empty(), "second plan: {:?}", kinds(&second.steps));
        let fstab = jts_mounts::Fstab::parse(after.fstab.as_deref().unwrap_or(""));
        for target in &targets {
            let count = fstab.entries().filter(|e| e.mount_point == target.mount_point.to_string()).count();
            prop_assert_eq!(count, 1);
        }
    }
}
