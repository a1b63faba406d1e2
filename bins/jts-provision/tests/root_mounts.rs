//! Root tier: a `[filesystems.*]` entry end to end through the binary, on a real loop
//! device: mkfs, fstab under `--root`, the mount, the mounted root's owner and mode, a
//! directory tree on the mounted filesystem, idempotence, and a hand `umount` repaired.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::{Loop, jts_at, skip_unless_root, tempdir, tool, write_file};

fn mounted_at(path: &Path) -> Option<String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mountinfo.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        (fields.get(4) == Some(&path.to_str().unwrap())).then(|| line.to_owned())
    })
}

#[test]
fn root_a_filesystem_is_made_written_to_fstab_mounted_and_kept_mounted() {
    if skip_unless_root("root_a_filesystem_is_made_written_to_fstab_mounted_and_kept_mounted") {
        return;
    }
    let work = tempdir();
    let root = work.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    let original_fstab = "# /etc/fstab: static file system information.\nproc /proc proc defaults 0 0\n";
    std::fs::write(root.join("etc/fstab"), original_fstab).unwrap();
    let mut disk = Loop::new(work.path(), "400M");
    let spec = write_file(
        work.path(),
        "storage.toml",
        &format!(
            r#"version = 1
[filesystems.warm]
device = "{}"
filesystem = "btrfs"
label = "jts-warm"
mount_point = "/data/warm-storage"
mount_options = ["compress=zstd:3", "noatime"]
group = 34
mode = "2775"

[[directories]]
path = "/data/warm-storage/logs"
group = 34
mode = "2770"
"#,
            disk.device
        ),
    );
    let mount_point = root.join("data/warm-storage");
    disk.mounts.push(mount_point.clone());

    let first = jts_at(&spec, &root, &["apply", "--json"]);
    first.expect_code(0);
    let line = mounted_at(&mount_point).unwrap_or_else(|| panic!("not mounted:{first:?}"));
    assert!(line.contains(" - btrfs ") && line.contains("compress=zstd:3") && line.contains("noatime"), "{line}");
    let fstab = std::fs::read_to_string(root.join("etc/fstab")).unwrap();
    assert!(fstab.starts_with(original_fstab), "lines jts did not write are kept:\n{fstab}");
    let ours: Vec<&str> = fstab.lines().filter(|l| l.contains("/data/warm-storage")).collect();
    assert_eq!(ours.len(), 1, "{fstab}");
    assert!(ours[0].starts_with("UUID="), "identified by UUID: {fstab}");
    let top = std::fs::metadata(&mount_point).unwrap();
    assert_eq!((top.gid(), top.mode() & 0o7777), (34, 0o2775), "the mounted root's group and mode");
    let logs = std::fs::metadata(mount_point.join("logs")).unwrap();
    assert_eq!(logs.dev(), top.dev(), "the directory was made on the mounted filesystem");
    assert_eq!(logs.mode() & 0o7777, 0o2770);

    let second = jts_at(&spec, &root, &["apply", "--json"]);
    second.expect_code(0);
    assert_eq!(second.json()["changes"], 0, "{second:?}");
    jts_at(&spec, &root, &["validate"]).expect_code(0);
    assert_eq!(std::fs::read_to_string(root.join("etc/fstab")).unwrap(), fstab, "fstab untouched by a no-op");

    tool("umount", &[mount_point.to_str().unwrap()]).expect_code(0);
    let drift = jts_at(&spec, &root, &["validate"]);
    drift.expect_code(4);
    assert!(drift.stdout.contains("/data/warm-storage"), "{drift:?}");
    jts_at(&spec, &root, &["apply"]).expect_code(0);
    assert!(mounted_at(&mount_point).is_some(), "mounted again");
    jts_at(&spec, &root, &["validate"]).expect_code(0);
    let fstab_after = std::fs::read_to_string(root.join("etc/fstab")).unwrap();
    assert_eq!(fstab_after.lines().filter(|l| l.contains("/data/warm-storage")).count(), 1, "{fstab_after}");
}
