//! VM tier: real LVM, mkfs and snapshots on virtual disks, inside the qemu guest that
//! `scripts/vm-test.sh` boots (this machine's kernel has no device-mapper). Outside the
//! guest every test fails, saying so; they are ignored unless asked for.
//!
//! The tests share the guest's two disks (`/dev/vda` 3 GiB, `/dev/vdb` 2 GiB) and run
//! one at a time (`--test-threads=1`); each starts by wiping them, and wipes them again
//! when it ends ([`BlankDisks`]).

use std::path::{Path, PathBuf};

use jts_testkit::{BlankDisks, MIB, SpecDir, require_vm_guest, tool, two_disks};

const VG: &str = "vg_vm";
/// Where the tests mount the volumes to look at them.
const MOUNTS: &str = "/tmp/jts-vm-mnt";

/// A scaled-down hot-lvm.toml on the two virtual disks. `backup` is `"rest"` or a size:
/// growing another volume shrinks a `rest` volume, so the resize tests fix its size.
fn hot_spec(pg: &str, kafka: &str, backup: &str, extra: &str) -> String {
    let [vda, vdb] = two_disks();
    format!(
        r#"version = 1
{extra}
[volume_groups.{VG}]
devices = ["{vda}", "{vdb}"]
extent_size = "4MiB"
data_alignment = "4MiB"
reserve = "10%"

[volume_groups.{VG}.volumes.lv_pg]
size = "{pg}"
filesystem = "ext4"
preset = "postgresql"
label = "jts-pg"

[volume_groups.{VG}.volumes.lv_kafka]
size = "{kafka}"
filesystem = "xfs"
preset = "kafka"
label = "jts-kafka"

[volume_groups.{VG}.volumes.lv_redis]
size = "256MiB"
filesystem = "ext4"
preset = "redis"

[volume_groups.{VG}.volumes.lv_backup]
size = "{backup}"
filesystem = "btrfs"
preset = "backup"

[snapshots.lv_pg]
volume_group = "{VG}"
size = "64MiB"
keep_last = 2
max_age = "7d"
"#
    )
}

/// `lvs` as name -> (size in bytes, attr).
fn lvs() -> std::collections::BTreeMap<String, (u64, String)> {
    let run =
        tool("lvs", &["--reportformat", "json", "--units", "b", "--nosuffix", "-o", "lv_name,lv_size,lv_attr", VG]);
    run.expect_code(0);
    let json = run.json();
    json["report"][0]["lv"]
        .as_array()
        .expect("lv array")
        .iter()
        .map(|lv| {
            let size = lv["lv_size"].as_str().unwrap().parse().unwrap();
            (lv["lv_name"].as_str().unwrap().to_owned(), (size, lv["lv_attr"].as_str().unwrap().to_owned()))
        })
        .collect()
}

fn blkid(device: &str, tag: &str) -> String {
    tool("blkid", &["-p", "-o", "value", "-s", tag, device]).stdout.trim().to_owned()
}

/// Filesystem size in bytes, as `df` reports it.
fn fs_size(mount_point: &Path) -> u64 {
    let run = tool("df", &["--block-size=1", "--output=size", mount_point.to_str().unwrap()]);
    run.expect_code(0);
    run.stdout.lines().nth(1).unwrap().trim().parse().unwrap()
}

fn mount(device: &str, name: &str) -> PathBuf {
    let target = Path::new(MOUNTS).join(name);
    std::fs::create_dir_all(&target).unwrap();
    tool("mount", &[device, target.to_str().unwrap()]).expect_code(0);
    target
}

#[test]
#[ignore = "VM tier: run by scripts/vm-test.sh"]
fn vm_apply_creates_volumes_and_filesystems_then_is_a_no_op() {
    require_vm_guest();
    let _blank = BlankDisks::new(&[MOUNTS]);
    let scratch = SpecDir::new();
    let spec = scratch.spec(&hot_spec("1GiB", "512MiB", "rest", ""));
    scratch.run(&spec, &["plan"]).expect_code(0);
    let first = scratch.run(&spec, &["apply", "--json"]);
    first.expect_code(0);
    let lvs = lvs();
    assert_eq!(lvs["lv_pg"].0, 1024 * MIB, "{lvs:?}");
    assert_eq!(lvs["lv_kafka"].0, 512 * MIB, "{lvs:?}");
    assert_eq!(lvs["lv_redis"].0, 256 * MIB, "{lvs:?}");
    assert!(lvs["lv_backup"].0 > 2048 * MIB, "rest takes what is left after the reserve: {lvs:?}");
    for (lv, fstype, label) in [
        ("lv_pg", "ext4", "jts-pg"),
        ("lv_kafka", "xfs", "jts-kafka"),
        ("lv_redis", "ext4", ""),
        ("lv_backup", "btrfs", ""),
    ] {
        let device = format!("/dev/{VG}/{lv}");
        assert_eq!(blkid(&device, "TYPE"), fstype, "{device}");
        assert_eq!(blkid(&device, "LABEL"), label, "{device}");
    }
    let second = scratch.run(&spec, &["apply", "--json"]);
    second.expect_code(0);
    assert_eq!(second.json()["changes"], 0, "{second:?}");
    let plan = scratch.run(&spec, &["plan", "--json"]);
    assert_eq!(plan.json()["steps"].as_array().map(Vec::len), Some(0), "{plan:?}");
    scratch.run(&spec, &["validate"]).expect_code(0);
}

#[test]
#[ignore = "VM tier: run by scripts/vm-test.sh"]
fn vm_growing_a_volume_grows_its_mounted_filesystem_online() {
    require_vm_guest();
    let _blank = BlankDisks::new(&[MOUNTS]);
    let scratch = SpecDir::new();
    scratch.run(&scratch.spec(&hot_spec("512MiB", "512MiB", "1GiB", "")), &["apply"]).expect_code(0);
    let pg = mount(&format!("/dev/{VG}/lv_pg"), "pg");
    let kafka = mount(&format!("/dev/{VG}/lv_kafka"), "kafka");
    let (pg_before, kafka_before) = (fs_size(&pg), fs_size(&kafka));
    let grown = scratch.spec(&hot_spec("768MiB", "640MiB", "1GiB", ""));
    scratch.run(&grown, &["apply"]).expect_code(0);
    let lvs = lvs();
    assert_eq!((lvs["lv_pg"].0, lvs["lv_kafka"].0), (768 * MIB, 640 * MIB), "{lvs:?}");
    assert!(fs_size(&pg) > pg_before + 200 * MIB, "ext4 grew online: {pg_before} -> {}", fs_size(&pg));
    assert!(fs_size(&kafka) > kafka_before + 100 * MIB, "xfs grew online: {kafka_before} -> {}", fs_size(&kafka));
    scratch.run(&grown, &["validate"]).expect_code(0);
}

#[test]
#[ignore = "VM tier: run by scripts/vm-test.sh"]
fn vm_shrinking_needs_consent_and_a_filesystem_that_can_shrink() {
    require_vm_guest();
    let _blank = BlankDisks::new(&[MOUNTS]);
    let scratch = SpecDir::new();
    scratch.run(&scratch.spec(&hot_spec("768MiB", "640MiB", "1GiB", "")), &["apply"]).expect_code(0);
    let before = lvs();

    let smaller = scratch.spec(&hot_spec("512MiB", "640MiB", "1GiB", ""));
    let refused = scratch.run(&smaller, &["apply"]);
    refused.expect_code(3);
    assert!(refused.all_output().contains("lv_pg"), "{refused:?}");
    assert_eq!(lvs(), before, "nothing changed");

    let xfs_smaller = scratch.spec(&hot_spec("768MiB", "512MiB", "1GiB", "allow_destroy = [\"lv_kafka\"]"));
    let refused = scratch.run(&xfs_smaller, &["apply", "--allow-destroy", "lv_kafka"]);
    refused.expect_code(3);
    assert!(refused.all_output().contains("xfs"), "the reason names xfs: {refused:?}");
    assert_eq!(lvs(), before, "nothing changed");

    // ext4, unmounted, with consent on both sides: shrunk filesystem first, then the LV.
    let ext4_smaller = scratch.spec(&hot_spec("512MiB", "640MiB", "1GiB", "allow_destroy = [\"lv_pg\"]"));
    scratch.run(&ext4_smaller, &["apply", "--allow-destroy", "lv_pg"]).expect_code(0);
    assert_eq!(lvs()["lv_pg"].0, 512 * MIB);
    tool("e2fsck", &["-f", "-n", &format!("/dev/{VG}/lv_pg")]).expect_code(0);
    scratch.run(&ext4_smaller, &["validate"]).expect_code(0);
}

#[test]
#[ignore = "VM tier: run by scripts/vm-test.sh"]
fn vm_snapshots_are_created_listed_and_pruned() {
    require_vm_guest();
    let _blank = BlankDisks::new(&[MOUNTS]);
    let scratch = SpecDir::new();
    let spec = scratch.spec(&hot_spec("512MiB", "512MiB", "1GiB", ""));
    scratch.run(&spec, &["apply"]).expect_code(0);
    for _ in 0..3 {
        scratch.run(&spec, &["snapshot", "create", "--volume", "lv_pg"]).expect_code(0);
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    let listed = scratch.run(&spec, &["snapshot", "list", "--json"]);
    listed.expect_code(0);
    let mut names: Vec<String> =
        listed.json()["snapshots"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_owned()).collect();
    names.sort();
    assert_eq!(names.len(), 3, "{listed:?}");
    scratch.run(&spec, &["snapshot", "prune"]).expect_code(0);
    let left: Vec<String> = lvs().into_keys().filter(|name| name.contains("snap")).collect();
    assert_eq!(left, names[1..].to_vec(), "keep_last = 2 keeps the two newest");

    // Exhaust the newest snapshot's copy-on-write space: it becomes invalid and is pruned.
    let pg = mount(&format!("/dev/{VG}/lv_pg"), "pg-cow");
    tool("dd", &["if=/dev/urandom", &format!("of={}/fill", pg.display()), "bs=1M", "count=128", "conv=fsync"]);
    let listed = scratch.run(&spec, &["snapshot", "list", "--json"]);
    let invalid = listed.json()["snapshots"].as_array().unwrap().iter().filter(|s| s["valid"] == false).count();
    assert!(invalid > 0, "a snapshot overflowed: {listed:?}");
    scratch.run(&spec, &["snapshot", "prune"]).expect_code(0);
    let after = scratch.run(&spec, &["snapshot", "list", "--json"]);
    assert!(after.json()["snapshots"].as_array().unwrap().iter().all(|s| s["valid"] == true), "{after:?}");
}

#[test]
#[ignore = "VM tier: run by scripts/vm-test.sh"]
fn vm_a_used_device_is_never_made_a_pv_without_consent() {
    require_vm_guest();
    let _blank = BlankDisks::new(&[MOUNTS]);
    let [_, vdb] = two_disks();
    tool("mkfs.ext4", &["-q", "-L", "precious", &vdb]).expect_code(0);
    let scratch = SpecDir::new();
    let spec = scratch.spec(&hot_spec("512MiB", "512MiB", "1GiB", ""));
    let refused = scratch.run(&spec, &["apply"]);
    refused.expect_code(3);
    assert!(refused.all_output().contains(vdb.as_str()), "names the device: {refused:?}");
    assert_eq!(blkid(&vdb, "LABEL"), "precious", "the filesystem is untouched");
    assert!(tool("vgs", &[VG]).code != 0, "no VG was created");
}

/// Seed 002's "automated LVM snapshot creation (systemd timers)": `apply` renders
/// jts-snapshot-lv_pg.service and its timer from the policy's `schedule` and enables the
/// timer; the service's `ExecStart=` lines, run in order as systemd runs a oneshot
/// service, take a snapshot and prune by the policy (`keep_last = 2`).
#[test]
#[ignore = "VM tier: run by scripts/vm-test.sh"]
fn vm_the_rendered_snapshot_service_takes_snapshots_and_prunes_them() {
    require_vm_guest();
    let _blank = BlankDisks::new(&[MOUNTS]);
    let scratch = SpecDir::new();
    let spec = scratch.spec(
        &hot_spec("512MiB", "512MiB", "1GiB", "")
            .replace("max_age = \"7d\"", "max_age = \"7d\"\nschedule = \"Mon..Fri *-*-* 18:30:00\""),
    );
    scratch.run(&spec, &["apply"]).expect_code(0);
    let unit = Path::new("/etc/systemd/system/jts-snapshot-lv_pg.service");
    let service = std::fs::read_to_string(unit).unwrap_or_else(|err| panic!("{}: {err}", unit.display()));
    let timer = std::fs::read_to_string("/etc/systemd/system/jts-snapshot-lv_pg.timer").unwrap();
    assert!(timer.contains("\nOnCalendar=Mon..Fri *-*-* 18:30:00\n"), "{timer}");
    let enabled = tool("systemctl", &["--root", "/", "is-enabled", "jts-snapshot-lv_pg.timer"]);
    assert_eq!(enabled.stdout.trim(), "enabled", "{enabled:?}");

    let commands: Vec<Vec<String>> = service
        .lines()
        .filter_map(|line| line.strip_prefix("ExecStart="))
        .map(|line| line.split_whitespace().map(str::to_owned).collect())
        .collect();
    assert_eq!(commands.len(), 2, "take, then prune:\n{service}");
    let mut taken = Vec::new();
    for _ in 0..3 {
        for command in &commands {
            tool(&command[0], &command[1..]).expect_code(0);
        }
        let new: Vec<String> =
            lvs().into_keys().filter(|name| name.contains("snap") && !taken.contains(name)).collect();
        taken.extend(new);
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    assert_eq!(taken.len(), 3, "one snapshot per run: {taken:?}");
    let left: Vec<String> = lvs().into_keys().filter(|name| name.contains("snap")).collect();
    taken.sort();
    assert_eq!(left, taken[1..].to_vec(), "keep_last = 2: the two newest are kept");
}
