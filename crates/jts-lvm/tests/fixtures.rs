//! The parsers and planners on real output of lvm2 2.03.16 and util-linux 2.38
//! (Debian 12), captured in a virtme-ng guest (see `fixtures/README.md`).

use std::time::{Duration, UNIX_EPOCH};

use jts_core::{AbsPath, CmdOutput, RecordingRunner, Root, Step};
use jts_lvm::{
    DeviceInfo, LvmObserved, LvmSpec, Percent, VolumeType, list_snapshots, observe, parse_lvs, parse_pvs, parse_vgs,
    parse_wipefs, plan, plan_prune, plan_snapshots,
};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// The guest's clock when the fixtures were taken: 2026-11-22 22:31:30 UTC.
fn capture_time() -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_386_690)
}

/// The "full" capture: vg_jts on three PVs with lv_kafka, lv_pg (two snapshots) and
/// lv_small, whose 8 MiB snapshot overflowed.
fn full_state() -> LvmObserved {
    let mut observed = LvmObserved {
        pvs: parse_pvs(&fixture("pvs-full.json")).unwrap(),
        vgs: parse_vgs(&fixture("vgs-full.json")).unwrap(),
        lvs: parse_lvs(&fixture("lvs-full.json")).unwrap(),
        ..LvmObserved::default()
    };
    let pv = parse_wipefs(&fixture("wipefs-pv.json")).unwrap();
    for (device, size) in [("/dev/vda", 2_147_483_648), ("/dev/vdb", 1_073_741_824), ("/dev/vdc", 1_078_988_800)] {
        let info = DeviceInfo { present: true, size, signatures: pv.clone() };
        observed.devices.insert(AbsPath::new(device).unwrap(), info);
    }
    observed
}

#[test]
fn empty_reports_parse_to_nothing() {
    assert!(parse_pvs(&fixture("pvs-empty.json")).unwrap().is_empty());
    assert!(parse_vgs(&fixture("vgs-empty.json")).unwrap().is_empty());
    assert!(parse_lvs(&fixture("lvs-empty.json")).unwrap().is_empty());
}

#[test]
fn pvs_orphans_and_members() {
    let orphans = parse_pvs(&fixture("pvs-orphans.json")).unwrap();
    assert_eq!(orphans.len(), 3);
    assert!(orphans.iter().all(|pv| pv.vg.is_none() && pv.pe_count == 0));
    assert_eq!((orphans[0].pe_start, orphans[1].pe_start), (4 << 20, 1 << 20), "--dataalignment 4m and 1m");
    let members = parse_pvs(&fixture("pvs-vg_only.json")).unwrap();
    assert_eq!(members[0].vg.as_deref(), Some("vg_jts"));
    assert_eq!((members[0].pe_count, members[0].size), (511, 511 * (4 << 20)));
    assert_eq!(members[2].vg, None, "/dev/vdc is still an orphan");
}

#[test]
fn vgs_counts() {
    let vgs = parse_vgs(&fixture("vgs-full.json")).unwrap();
    let vg = &vgs[0];
    assert_eq!(vg.name, "vg_jts");
    assert_eq!((vg.extent_size, vg.extent_count, vg.free_count), (4 << 20, 1023, 835));
    assert_eq!((vg.pv_count, vg.lv_count), (3, 6));
}

#[test]
fn lvs_decode_snapshots_and_the_invalid_one() {
    let lvs = parse_lvs(&fixture("lvs-full.json")).unwrap();
    let names: Vec<&str> = lvs.iter().map(|lv| lv.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "lv_kafka",
            "lv_pg",
            "lv_pg-snap-20260101T000000Z",
            "lv_pg-snap-20260102T000000Z",
            "lv_small",
            "lv_small-snap-20260103T000000Z"
        ]
    );
    let pg = &lvs[1];
    assert_eq!((pg.attr.volume_type, pg.attr.active, pg.origin.as_deref()), (VolumeType::Origin, true, None));
    assert_eq!(pg.created, Some(1_795_386_659), "lv_time as seconds");
    let snap = &lvs[2];
    assert_eq!(snap.attr.raw, "swi-a-s---");
    assert_eq!(snap.origin.as_deref(), Some("lv_pg"));
    assert_eq!(snap.data_percent, Some(Percent::from_hundredths(1257)));
    let invalid = &lvs[5];
    assert_eq!(invalid.attr.raw, "swi-I-s---");
    assert!(invalid.attr.invalid_snapshot && !invalid.attr.active);
    assert_eq!(invalid.data_percent, Some(Percent::FULL));
    assert_eq!(lvs[0].data_percent, None, "\"\" is not applicable");
}

#[test]
fn wipefs_signatures() {
    assert!(parse_wipefs(&fixture("wipefs-blank.json")).unwrap().is_empty());
    let ext4 = parse_wipefs(&fixture("wipefs-ext4.json")).unwrap();
    assert_eq!((ext4[0].kind.as_str(), ext4[0].offset.as_str()), ("ext4", "0x438"));
    let pv = parse_wipefs(&fixture("wipefs-pv.json")).unwrap();
    assert_eq!((pv[0].kind.as_str(), pv[0].offset.as_str()), ("LVM2_member", "0x218"));
}

#[test]
fn a_partition_table_is_erased_only_as_a_destructive_step() {
    let gpt = parse_wipefs(&fixture("wipefs-gpt.json")).unwrap();
    let kinds: Vec<&str> = gpt.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(kinds, ["gpt", "gpt", "PMBR"], "both GPT headers and the protective MBR");
    let spec: LvmSpec = toml::from_str("[volume_groups.vg]\ndevices = [\"/dev/vdb\"]\n").unwrap();
    let mut observed = LvmObserved::default();
    let info = DeviceInfo { present: true, size: 1 << 30, signatures: gpt };
    observed.devices.insert(AbsPath::new("/dev/vdb").unwrap(), info);
    let steps = plan(&spec, &observed).unwrap();
    let info = steps.steps[0].info(&Root::host());
    assert!(info.destructive);
    assert_eq!(info.object, "/dev/vdb");
    assert_eq!(info.commands, ["wipefs --all /dev/vdb", "pvcreate --dataalignment 1m /dev/vdb"]);
    assert!(info.description.starts_with("ERASE gpt at 0x200, gpt at 0x3ffffe00, PMBR at 0x1fe on /dev/vdb"));
}

#[test]
fn observe_runs_the_captured_commands() {
    let spec: LvmSpec = toml::from_str("[volume_groups.vg_jts]\ndevices = [\"/dev/vda\"]\n").unwrap();
    let ok = |stdout: String| Ok(CmdOutput { stdout, stderr: String::new() });
    let runner = RecordingRunner::new()
        .reply(ok(fixture("pvs-full.json")))
        .reply(ok(fixture("vgs-full.json")))
        .reply(ok(fixture("lvs-full.json")))
        .reply(ok("2147483648\n".into()))
        .reply(ok(fixture("wipefs-pv.json")));
    let observed = observe(&spec, &runner).unwrap();
    assert_eq!(observed.pvs.len(), 3, "all PVs of the spec'd VG");
    assert_eq!(observed.lvs.len(), 6);
    let json = serde_json::to_string_pretty(&observed).unwrap();
    let back: LvmObserved = serde_json::from_str(&json).unwrap();
    assert_eq!(back, observed, "the observed state round-trips through JSON");
    assert_eq!(serde_json::to_string_pretty(&back).unwrap(), json, "deterministically");
}

#[test]
fn snapshots_are_listed_with_age_fill_and_validity() {
    let list = list_snapshots(&full_state(), capture_time());
    let rows: Vec<(&str, &str, Option<i64>, bool)> =
        list.iter().map(|s| (s.name.as_str(), s.origin.as_str(), s.created, s.valid)).collect();
    assert_eq!(
        rows,
        [
            ("lv_pg-snap-20260101T000000Z", "lv_pg", Some(1_767_225_600), true),
            ("lv_pg-snap-20260102T000000Z", "lv_pg", Some(1_767_312_000), true),
            ("lv_small-snap-20260103T000000Z", "lv_small", Some(1_767_398_400), false),
        ]
    );
    assert_eq!(list[2].cow_fill_percent, Some(Percent::FULL));
}

const SPEC: &str = r#"
    [volume_groups.vg_jts]
    devices = ["/dev/vda", "/dev/vdb", "/dev/vdc"]
    reserve = "100MiB"
    [volume_groups.vg_jts.volumes.lv_pg]
    size = "480MiB"
    [volume_groups.vg_jts.volumes.lv_kafka]
    size = "160MiB"
    filesystem = "xfs"
    [volume_groups.vg_jts.volumes.lv_small]
    size = "64MiB"
    [snapshots.lv_pg]
    volume_group = "vg_jts"
    size = "32MiB"
    keep_last = 1
    max_age = "400d"
    [snapshots.lv_small]
    volume_group = "vg_jts"
    size = "8MiB"
    keep_last = 3
    max_age = "400d"
"#;

#[test]
fn the_captured_state_is_adopted_as_it_is() {
    let spec: LvmSpec = toml::from_str(SPEC).unwrap();
    assert!(jts_lvm::check(&spec).is_empty());
    let steps = plan(&spec, &full_state()).unwrap();
    assert!(steps.is_empty(), "{steps:?}");
}

#[test]
fn resizing_a_snapshot_origin_is_refused() {
    let spec: LvmSpec = toml::from_str(&SPEC.replace("480MiB", "520MiB")).unwrap();
    let steps = plan(&spec, &full_state()).unwrap();
    assert!(steps.steps.is_empty());
    assert!(steps.refused[0].reason.contains("lvm2 cannot resize an active snapshot origin"), "{steps:?}");
}

#[test]
fn shrinking_is_destructive_and_names_the_volume() {
    let spec: LvmSpec = toml::from_str(&SPEC.replace("160MiB", "120MiB")).unwrap();
    let steps = plan(&spec, &full_state()).unwrap();
    let info = steps.steps[0].info(&Root::host());
    assert!(info.destructive);
    assert_eq!((info.kind, info.object.as_str()), ("ReduceLv", "lv_kafka"));
    assert_eq!(info.commands, ["lvreduce --yes --extents 30 vg_jts/lv_kafka"]);
    assert_eq!(steps.steps[0].volume(), Some(("vg_jts", "lv_kafka", jts_fs::FsKind::Xfs)));
}

#[test]
fn prune_drops_the_overflowed_and_the_surplus() {
    let spec: LvmSpec = toml::from_str(SPEC).unwrap();
    let state = full_state();
    let steps = plan_prune(&spec, &state, None, capture_time()).unwrap();
    let lines: Vec<(String, String)> = steps
        .steps
        .iter()
        .map(|s| {
            let info = s.info(&Root::host());
            assert!(!info.destructive, "snapshot removal is governed by the policy");
            (info.commands[0].clone(), info.description)
        })
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].0, "lvremove --yes vg_jts/lv_pg-snap-20260101T000000Z");
    assert!(lines[0].1.ends_with("beyond keep_last = 1 newer valid snapshots"), "{lines:?}");
    assert_eq!(lines[1].0, "lvremove --yes vg_jts/lv_small-snap-20260103T000000Z");
    assert!(lines[1].1.ends_with("invalid: its copy-on-write space is 100.00% full"), "{lines:?}");

    let mut after = state.clone();
    steps.simulate(&mut after);
    assert!(plan_prune(&spec, &after, None, capture_time()).unwrap().is_empty(), "pruning twice = pruning once");
    assert_eq!(after.lv("vg_jts", "lv_small").unwrap().attr.volume_type, VolumeType::Plain, "no snapshots left");
    assert_eq!(after.vg("vg_jts").unwrap().free_count, 835 + 8 + 2);
}

#[test]
fn snapshot_create_names_sizes_and_refuses_clearly() {
    let spec: LvmSpec = toml::from_str(SPEC).unwrap();
    let state = full_state();
    let steps = plan_snapshots(&spec, &state, Some("lv_pg"), capture_time()).unwrap();
    let info = steps.steps[0].info(&Root::host());
    assert_eq!(info.commands, ["lvcreate --snapshot --size 32m --name lv_pg-snap-20261122T223130Z vg_jts/lv_pg"]);
    assert!(info.preconditions.contains(&"vg_jts has at least 8 free extents".to_owned()), "{info:?}");
    let mut after = state.clone();
    steps.simulate(&mut after);
    let again = plan_snapshots(&spec, &after, Some("lv_pg"), capture_time()).unwrap();
    assert!(again.steps.is_empty() && again.refused[0].reason.contains("exists already"), "{again:?}");

    let err = plan_snapshots(&spec, &state, Some("lv_nope"), capture_time()).unwrap_err().to_string();
    assert!(err.contains("declare [snapshots.lv_nope] or pick one of: lv_pg, lv_small"), "{err}");
}

#[test]
fn one_volume_is_planned_alone_and_a_volume_without_a_policy_is_named() {
    let spec: LvmSpec = toml::from_str(SPEC).unwrap();
    let state = full_state();
    let only_pg = plan_prune(&spec, &state, Some("lv_pg"), capture_time()).unwrap();
    let removed: Vec<String> = only_pg.steps.iter().map(|s| s.info(&Root::host()).commands[0].clone()).collect();
    assert_eq!(removed, ["lvremove --yes vg_jts/lv_pg-snap-20260101T000000Z"], "lv_small's snapshot is not pruned");
    let created = plan_snapshots(&spec, &state, Some("lv_pg"), capture_time()).unwrap();
    let objects: Vec<String> = created.steps.iter().map(|s| s.info(&Root::host()).object).collect();
    assert!(objects.len() == 1 && objects[0].starts_with("lv_pg-snap-"), "{objects:?}");

    // Create's error for an unknown volume is checked with its other refusals above.
    let err = plan_prune(&spec, &state, Some("lv_nope"), capture_time()).unwrap_err().to_string();
    assert!(
        err.contains(
            "no snapshot policy for volume \"lv_nope\"; declare [snapshots.lv_nope] or pick one of: lv_pg, lv_small"
        ),
        "{err}"
    );
}
