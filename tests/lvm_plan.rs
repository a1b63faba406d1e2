//! LVM and filesystem planning through the binary, offline: `plan --state` with a saved
//! state of blank disks. No root and no devices needed.

use jts_testkit::{example, jts, tempdir, write_file};

fn blank_nvme_state(bytes: u64) -> String {
    format!(
        r#"{{"lvm":{{"pvs":[],"vgs":[],"lvs":[],"devices":{{"/dev/nvme0n1":{{"present":true,"size":{bytes},"signatures":[]}}}}}},
            "perms":{{"accounts":{{"files_present":true,"users":{{}},"groups":{{}}}},"paths":{{}}}}}}"#
    )
}

#[test]
fn the_hot_lvm_example_plans_pv_vg_volumes_and_filesystems_on_a_4tb_disk() {
    let dir = tempdir();
    let state = write_file(dir.path(), "state.json", &blank_nvme_state(4_000_000_000_000));
    let run = jts(&[
        "--config",
        example("hot-lvm.toml").to_str().unwrap(),
        "plan",
        "--json",
        "--state",
        state.to_str().unwrap(),
    ]);
    run.expect_code(0);
    let plan = run.json();
    let kinds: Vec<&str> = plan["steps"].as_array().unwrap().iter().map(|s| s["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "CreateLv").count(), 7, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "Mkfs").count(), 7, "{kinds:?}");
    assert_eq!(&kinds[..2], ["CreatePv", "CreateVg"], "PV and VG come first");
    let last_lv = kinds.iter().rposition(|k| *k == "CreateLv").unwrap();
    let first_mkfs = kinds.iter().position(|k| *k == "Mkfs").unwrap();
    assert!(last_lv < first_mkfs, "volumes exist before mkfs runs: {kinds:?}");
    let commands: Vec<String> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["commands"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()))
        .collect();
    assert!(commands.contains(&"pvcreate --dataalignment 4m /dev/nvme0n1".to_owned()), "{commands:#?}");
    assert!(commands.iter().any(|c| c == "mkfs.xfs -L jts-kafka /dev/vg_jts/lv_kafka"), "{commands:#?}");
    assert!(plan["steps"].as_array().unwrap().iter().all(|s| s["destructive"] == false));
}

#[test]
fn volumes_that_do_not_fit_are_rejected_with_needed_and_available_sizes() {
    let dir = tempdir();
    let state = write_file(dir.path(), "state.json", &blank_nvme_state(3_000_000_000_000));
    let run = jts(&["--config", example("hot-lvm.toml").to_str().unwrap(), "plan", "--state", state.to_str().unwrap()]);
    run.expect_code(2);
    assert!(run.stdout.is_empty(), "{run:?}");
    let text = &run.stderr;
    assert!(text.contains("hot-lvm.toml:"), "located in the spec: {run:?}");
    assert!(text.contains("does not fit") && text.contains("GiB") && text.contains("usable"), "{run:?}");
    assert!(text.contains("lv_clickhouse") && text.contains("1300.00 GiB"), "per volume: {run:?}");
    assert!(text.contains("fix:"), "{run:?}");
}

#[test]
fn a_used_device_is_refused_without_consent() {
    let dir = tempdir();
    let state = blank_nvme_state(4_000_000_000_000)
        .replace(r#""signatures":[]"#, r#""signatures":[{"kind":"ext4","offset":"0x438"}]"#);
    let state = write_file(dir.path(), "state.json", &state);
    let run = jts(&["--config", example("hot-lvm.toml").to_str().unwrap(), "plan", "--state", state.to_str().unwrap()]);
    run.expect_code(3);
    assert!(run.stdout.contains("/dev/nvme0n1") && run.stdout.contains("allow_destroy"), "{run:?}");
}

#[test]
fn the_seed_option_sets_are_rejected_at_check_time() {
    let dir = tempdir();
    let spec = write_file(
        dir.path(),
        "spec.toml",
        r#"version = 1
[volume_groups.vg_jts]
devices = ["/dev/nvme0n1"]
[volume_groups.vg_jts.volumes.lv_kafka]
size = "600GiB"
filesystem = "xfs"
mkfs_options = ["-d", "agcount=32,su=64k,sw=1", "-m", "1"]
"#,
    );
    let run = jts(&["--config", spec.to_str().unwrap(), "check"]);
    run.expect_code(2);
    assert!(run.stderr.contains("spec.toml:4:1:"), "{run:?}");
    assert!(run.stderr.contains("-m"), "the ext4-only option is named: {run:?}");
}
