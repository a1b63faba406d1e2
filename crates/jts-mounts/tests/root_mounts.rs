//! Root tier: real ext4, xfs and btrfs on loop devices, mounted through the plan under a
//! temp `--root` with its own fstab.
//!
//! Every test is named `root_*`, is ignored unless asked for, fails when asked for
//! without root (docs/architecture.md, "Testing tiers"), and unmounts and detaches its
//! loop devices through jts-testkit's drop guards, also when it fails.

use std::path::PathBuf;

use jts_core::{AbsPath, Context, Root, Step, SystemRunner, execute};
use jts_mounts::{
    Fstab, IdentifyBy, MountFs, MountStep, MountTarget, compare_options, mount_at, observe, plan, read_mountinfo,
    rebase, write_fstab,
};
use jts_testkit::{LoopDevice, MIB, UnmountBelow, require_root, tool};

/// A 320 MiB loop device made into a filesystem by `mkfs ARGS`.
fn formatted(mkfs: &str, args: &[&str]) -> LoopDevice {
    LoopDevice::new(320 * MIB).formatted(mkfs, args)
}

fn abs(device: &LoopDevice) -> AbsPath {
    AbsPath::new(device.path()).unwrap()
}

fn opts(list: &[&str]) -> Vec<String> {
    list.iter().map(|o| (*o).to_owned()).collect()
}

/// Observe, plan, refuse nothing, execute; returns the kinds of the steps run.
fn apply(root: &Root, targets: &[MountTarget], forget_uuid_of: Option<&AbsPath>) -> Vec<&'static str> {
    let mut observed = observe(root, targets, &SystemRunner).unwrap();
    if let Some(device) = forget_uuid_of {
        // As if the filesystem were made earlier in the same apply: the UUID is read
        // only when fstab is written.
        observed.devices.get_mut(device).unwrap().uuid = None;
    }
    let planned = plan(targets, &observed);
    assert!(planned.refused.is_empty(), "{:?}", planned.refused);
    let ctx = Context { root, runner: &SystemRunner };
    let report = execute(&planned.steps, &ctx, None).unwrap();
    assert!(report.failed.is_none(), "{:?}", report.failed);
    planned.steps.iter().map(|s| s.info(root).kind).collect()
}

fn replan(root: &Root, targets: &[MountTarget]) -> jts_core::Plan<MountStep> {
    plan(targets, &observe(root, targets, &SystemRunner).unwrap())
}

fn blkid(device: &LoopDevice, tag: &str) -> String {
    let run = tool("blkid", &["-s", tag, "-o", "value", device.device()]);
    run.expect_code(0);
    run.stdout.trim().to_owned()
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_ext4_xfs_btrfs_mount_converge_and_recover_from_umount_and_drift() {
    require_root();
    let ext4 = formatted("mkfs.ext4", &["-q", "-F", "-L", "jts-pg"]);
    let xfs = formatted("mkfs.xfs", &["-q", "-f", "-L", "jts-kafka"]);
    let btrfs = formatted("mkfs.btrfs", &["-q", "-f", "-L", "jts-warm"]);
    let dir = jts_testkit::tempdir();
    let _unmount = UnmountBelow(dir.path().to_path_buf());
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    let original = include_str!("fixtures/fstab/debian-default.fstab");
    std::fs::write(dir.path().join("etc/fstab"), original).unwrap();
    let root = Root::new(dir.path()).unwrap();
    let mp = |p: &str| AbsPath::new(p).unwrap();
    let targets = vec![
        MountTarget::block(
            "warm",
            abs(&btrfs),
            MountFs::Btrfs,
            mp("/data/warm-storage"),
            opts(&["compress=zstd:3", "noatime"]),
        )
        .identified_by(IdentifyBy::Path),
        // Nested in the btrfs mount: must be mounted after it.
        MountTarget::block(
            "pg",
            abs(&ext4),
            MountFs::Ext4,
            mp("/data/warm-storage/pg"),
            opts(&["noatime", "commit=10", "nodev", "data=ordered"]),
        ),
        MountTarget::block(
            "kafka",
            abs(&xfs),
            MountFs::Xfs,
            mp("/var/lib/kafka"),
            opts(&["noatime", "logbufs=8", "logbsize=256k", "nofail"]),
        )
        .identified_by(IdentifyBy::Label),
    ];

    let first = apply(&root, &targets, Some(&abs(&ext4)));
    assert_eq!(first.iter().filter(|k| **k == "Mount").count(), 3, "{first:?}");
    assert_eq!(first.last(), Some(&"WriteFstab"), "fstab is written once the mounts worked");

    // The kernel agrees with the spec.
    let mounts = rebase(&root, read_mountinfo().unwrap());
    for target in &targets {
        let mount = mount_at(&mounts, &target.mount_point.to_string()).unwrap_or_else(|| panic!("{target:?}"));
        assert_eq!(compare_options(target.fs(), &target.options, mount), [], "{}", target.name);
        assert_eq!(mount.fstype, target.fstype());
    }
    let warm = mount_at(&mounts, "/data/warm-storage").unwrap();
    assert!(warm.super_options.iter().any(|o| o == "compress=zstd:3"), "{:?}", warm.super_options);
    let pg = mount_at(&mounts, "/data/warm-storage/pg").unwrap();
    assert_eq!(pg.parent_id, warm.mount_id, "the child is mounted on the parent");

    // Nothing left to do, and a second apply changes nothing.
    assert!(replan(&root, &targets).is_empty(), "{:?}", replan(&root, &targets));
    assert!(apply(&root, &targets, None).is_empty());

    // fstab: the original lines untouched, exactly one line per mount point, by UUID,
    // label and path as asked; one backup for the one write.
    let text = std::fs::read_to_string(dir.path().join("etc/fstab")).unwrap();
    assert!(text.starts_with(original), "the original lines changed");
    let fstab = Fstab::parse(&text);
    for target in &targets {
        let count = fstab.entries().filter(|e| e.mount_point == target.mount_point.to_string()).count();
        assert_eq!(count, 1, "{}", target.name);
    }
    assert_eq!(fstab.get("/data/warm-storage/pg").unwrap().source, format!("UUID={}", blkid(&ext4, "UUID")));
    assert_eq!(fstab.get("/var/lib/kafka").unwrap().source, "LABEL=jts-kafka");
    assert_eq!(fstab.get("/data/warm-storage").unwrap().source, btrfs.device());
    let backups = std::fs::read_dir(dir.path().join("etc"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("fstab.jts-backup-"))
        .count();
    assert_eq!(backups, 1);

    // An umount by hand: the plan mounts it again, and only it.
    let kafka_at = root.resolve(&mp("/var/lib/kafka"));
    tool("umount", &[&kafka_at]).expect_code(0);
    let again = replan(&root, &targets);
    assert_eq!(again.steps.len(), 1, "{:?}", again.steps);
    assert!(matches!(&again.steps[0], MountStep::Mount { target } if target.name == "kafka"));
    apply(&root, &targets, None);
    assert!(replan(&root, &targets).is_empty());

    // Option drift by hand. (`remount,atime` does not clear noatime with util-linux
    // 2.38's mount, so strictatime is what really drifts.)
    let warm_at = root.resolve(&mp("/data/warm-storage"));
    tool("mount", &["-o".as_ref(), "remount,strictatime".as_ref(), warm_at.as_os_str()]).expect_code(0);
    let drifted = replan(&root, &targets);
    let MountStep::Remount { diffs, .. } = &drifted.steps[0] else { panic!("{:?}", drifted.steps) };
    assert_eq!((diffs[0].option.as_str(), diffs[0].actual.as_str()), ("noatime", "strictatime"));
    assert_eq!(apply(&root, &targets, None), ["Remount"]);
    assert!(replan(&root, &targets).is_empty(), "the remount restored noatime");
}

/// Clears the immutable flag on drop so the temp dir can be removed.
struct Immutable(PathBuf);

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = tool("chattr", &["-i".as_ref(), self.0.as_os_str()]);
    }
}

/// The rename of the new fstab fails (the old file is immutable): the old content stays
/// under the final name, no temp file is left, and the backup holds the old content.
#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_a_failed_rename_leaves_the_old_fstab() {
    require_root();
    let dir = tempfile::Builder::new().prefix("jts-mounts-root").tempdir_in("/var/tmp").unwrap();
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    let fstab_path = dir.path().join("etc/fstab");
    std::fs::write(&fstab_path, "/dev/a /a ext4 defaults 0 2\n").unwrap();
    let immutable = tool("chattr", &["+i".as_ref(), fstab_path.as_os_str()]);
    assert_eq!(immutable.code, 0, "chattr +i must work on /var/tmp for this test:{immutable:?}");
    let _guard = Immutable(fstab_path.clone());
    let root = Root::new(dir.path()).unwrap();
    let mut fstab = Fstab::parse("/dev/a /a ext4 defaults 0 2\n");
    fstab.upsert(jts_mounts::FstabEntry::new("/dev/b", "/b", "xfs", &[]));
    let err = write_fstab(&root, &fstab).unwrap_err();
    assert!(err.to_string().contains("rename"), "{err}");
    assert_eq!(std::fs::read_to_string(&fstab_path).unwrap(), "/dev/a /a ext4 defaults 0 2\n");
    let names: Vec<String> = std::fs::read_dir(dir.path().join("etc"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("jts-tmp"))
        .collect();
    assert!(names.is_empty(), "temp files left: {names:?}");
}
