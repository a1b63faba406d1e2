//! The pure planner: `plan(&LvmSpec, &LvmObserved) -> Plan<LvmStep>`. No I/O, no clock.
//!
//! Per volume group, in order: PVs on new devices, the VG (created, or extended with the
//! new PVs), then its volumes: shrinks first (they free extents), then growths, then
//! creations. Existing PVs, VGs and LVs are adopted, never recreated. LVs the spec does
//! not declare are never touched and their extents count as taken; PVs of the VG that
//! the spec does not list stay in it, and their extents count too.

use jts_core::{AbsPath, Plan, Refusal};

use crate::sizing::{CapacityError, Occupant, VgShortfall, estimate_extents, layout, pe_start_for};
use crate::spec::{LvmSpec, VgSpec};
use crate::state::LvmObserved;
use crate::step::LvmStep;

/// The signature type of an LVM PV label.
const LVM_LABEL: &str = "LVM2_member";

/// Plans the steps that take `observed` to what `spec` declares.
///
/// The spec must have passed [`crate::check()`]. A VG whose volumes do not fit makes the
/// whole plan fail with a [`CapacityError`] that states needed and available space.
/// Situations jts will not resolve by itself (a device that is missing or belongs to
/// another VG, an extent size that differs from the spec, a volume that is a snapshot
/// origin and must be resized) are returned as refusals, and the VG gets no steps.
pub fn plan(spec: &LvmSpec, observed: &LvmObserved) -> Result<Plan<LvmStep>, CapacityError> {
    let mut plan = Plan::default();
    let mut shortfalls = Vec::new();
    for (name, vg) in &spec.volume_groups {
        if let Err(shortfall) = plan_vg(name, vg.get_ref(), observed, &mut plan) {
            shortfalls.push(*shortfall);
        }
    }
    if shortfalls.is_empty() { Ok(plan) } else { Err(CapacityError { shortfalls }) }
}

fn refusal(object: impl Into<String>, device: Option<&AbsPath>, reason: String, fix: String) -> Refusal {
    Refusal { object: object.into(), path: device.map(|d| d.as_path().to_path_buf()), reason, fix }
}

/// What the VG's devices need, or why they cannot be used.
struct Devices<'a> {
    create_pvs: Vec<LvmStep>,
    joining: Vec<&'a AbsPath>,
    new_extents: u64,
    refused: Vec<Refusal>,
}

fn plan_devices<'a>(name: &str, spec: &'a VgSpec, observed: &LvmObserved, extent_size: u64) -> Devices<'a> {
    let mut found = Devices { create_pvs: Vec::new(), joining: Vec::new(), new_extents: 0, refused: Vec::new() };
    for device in spec.devices.iter().map(|d| d.get_ref()) {
        let info = observed.devices.get(device).filter(|info| info.present);
        match (observed.pv(&device.to_string()), info) {
            (Some(pv), _) => match &pv.vg {
                Some(vg) if vg == name => {}
                Some(other) => found.refused.push(refusal(
                    device.to_string(),
                    Some(device),
                    format!("{device} is a PV of volume group {other}"),
                    format!(
                        "jts never moves a PV between volume groups: free it from {other} by hand (vgreduce), or list another device"
                    ),
                )),
                None => {
                    found.joining.push(device);
                    found.new_extents += estimate_extents(pv.dev_size, pv.pe_start, extent_size);
                }
            },
            (None, Some(info)) if info.signatures.iter().any(|s| s.kind == LVM_LABEL) => {
                found.refused.push(refusal(
                    device.to_string(),
                    Some(device),
                    format!("{device} carries an LVM PV label, but `pvs` does not list a PV of that name"),
                    "name the device as `pvs` names it (not through a symlink), or check lvm.conf devices/filter".into(),
                ));
            }
            (None, Some(info)) => {
                let alignment = spec.data_alignment();
                found.create_pvs.push(LvmStep::CreatePv {
                    device: device.clone(),
                    data_alignment: alignment,
                    wipe: info.signatures.clone(),
                });
                found.joining.push(device);
                found.new_extents += estimate_extents(info.size, pe_start_for(alignment.bytes()), extent_size);
            }
            (None, None) => found.refused.push(refusal(
                device.to_string(),
                Some(device),
                format!("{device} does not exist"),
                "attach the device, or correct the path in the spec".into(),
            )),
        }
    }
    found
}

fn plan_vg(
    name: &str,
    spec: &VgSpec,
    observed: &LvmObserved,
    plan: &mut Plan<LvmStep>,
) -> Result<(), Box<VgShortfall>> {
    let existing = observed.vg(name);
    if let Some(vg) = existing.filter(|vg| vg.extent_size != spec.extent_size.bytes()) {
        let actual = jts_core::Size::from_bytes(vg.extent_size);
        plan.refused.push(refusal(
            name,
            None,
            format!("volume group {name} exists with {actual} extents, not {}", spec.extent_size),
            format!("jts never changes the extent size of an existing volume group: set extent_size = \"{actual}\""),
        ));
        return Ok(());
    }
    let extent_size = spec.extent_size.bytes();
    let devices = plan_devices(name, spec, observed, extent_size);
    if !devices.refused.is_empty() {
        plan.refused.extend(devices.refused);
        return Ok(());
    }
    let mut others = Vec::new();
    let mut refused = Vec::new();
    for lv in observed.lvs_of(name) {
        let extents = lv.size / extent_size;
        let declared = spec.volumes.contains_key(&lv.name);
        if declared && lv.attr.is_cow_snapshot() {
            refused.push(refusal(
                &lv.name,
                None,
                format!("{name}/{} exists as a snapshot, not a volume", lv.name),
                "rename the volume in the spec, or remove the snapshot".into(),
            ));
        } else if !declared {
            others.push(Occupant { name: lv.name.clone(), extents, snapshot: lv.attr.is_cow_snapshot() });
        }
    }
    if !refused.is_empty() {
        plan.refused.extend(refused);
        return Ok(());
    }
    let (total, estimated) = match existing {
        Some(vg) => (vg.extent_count + devices.new_extents, devices.new_extents > 0),
        None => (devices.new_extents, true),
    };
    let sizes = layout(name, spec, extent_size, total, &others, estimated)?;

    let mut steps = devices.create_pvs;
    match existing {
        None => steps.push(LvmStep::CreateVg {
            name: name.to_owned(),
            devices: devices.joining.into_iter().cloned().collect(),
            extent_size: spec.extent_size,
        }),
        Some(_) => steps.extend(
            devices.joining.into_iter().map(|device| LvmStep::ExtendVg { vg: name.to_owned(), device: device.clone() }),
        ),
    }
    let (mut shrink, mut grow, mut create) = (Vec::new(), Vec::new(), Vec::new());
    for (lv, &to) in &sizes.volumes {
        let filesystem = spec.volumes[lv].get_ref().filesystem;
        let (vg, name_lv) = (name.to_owned(), lv.clone());
        let Some(current) = observed.lv(name, lv) else {
            create.push(LvmStep::CreateLv { vg, name: name_lv, extents: to, extent_size, filesystem });
            continue;
        };
        let from = current.size / extent_size;
        if from == to {
            continue;
        }
        if observed.lvs_of(name).any(|s| s.origin.as_deref() == Some(lv.as_str()) && s.attr.is_cow_snapshot()) {
            plan.refused.push(refusal(
                lv,
                None,
                format!("{name}/{lv} must be resized from {from} to {to} extents, but it has snapshots, and lvm2 cannot resize an active snapshot origin"),
                format!("remove the snapshots of {lv} (lvremove {name}/SNAPSHOT), then re-run"),
            ));
            continue;
        }
        if to < from {
            shrink.push(LvmStep::ReduceLv { vg, name: name_lv, from, to, extent_size, filesystem });
        } else {
            grow.push(LvmStep::ExtendLv { vg, name: name_lv, from, to, extent_size, filesystem });
        }
    }
    steps.extend(shrink.into_iter().chain(grow).chain(create));
    plan.steps.extend(steps);
    Ok(())
}

#[cfg(test)]
mod tests {
    use jts_core::{Root, Step};

    use super::*;
    use crate::state::{DeviceInfo, Signature};

    fn spec(text: &str) -> LvmSpec {
        toml::from_str(text).unwrap()
    }

    fn blank(size: u64) -> DeviceInfo {
        DeviceInfo { present: true, size, signatures: vec![] }
    }

    fn dev(path: &str) -> AbsPath {
        AbsPath::new(path).unwrap()
    }

    const SPEC: &str = r#"
        [volume_groups.vg_jts]
        devices = ["/dev/vda", "/dev/vdb"]
        data_alignment = "4MiB"
        reserve = "5%"
        [volume_groups.vg_jts.volumes.lv_pg]
        size = "400MiB"
        filesystem = "ext4"
        [volume_groups.vg_jts.volumes.lv_data]
        size = "rest"
        filesystem = "xfs"
    "#;

    #[test]
    fn a_blank_machine_gets_pvs_vg_and_lvs() {
        let mut observed = LvmObserved::default();
        observed.devices.insert(dev("/dev/vda"), blank(2 << 30));
        observed.devices.insert(dev("/dev/vdb"), blank(1 << 30));
        let steps = plan(&spec(SPEC), &observed).unwrap();
        assert!(steps.refused.is_empty());
        let lines: Vec<String> = steps.steps.iter().flat_map(|s| s.info(&Root::host()).commands).collect();
        assert_eq!(
            lines,
            [
                "pvcreate --dataalignment 4m /dev/vda",
                "pvcreate --dataalignment 4m /dev/vdb",
                "vgcreate --physicalextentsize 4m vg_jts /dev/vda /dev/vdb",
                // 511 + 255 = 766 extents; reserve 5% = 39 (38.3 rounded up); 727 usable.
                "lvcreate --yes --wipesignatures y --zero y --activate y --extents 627 --name lv_data vg_jts",
                "lvcreate --yes --wipesignatures y --zero y --activate y --extents 100 --name lv_pg vg_jts",
            ]
        );
        let mut after = observed.clone();
        steps.simulate(&mut after);
        assert_eq!(after.vg("vg_jts").unwrap().extent_count, 766, "as lvm2 2.03.16 made it (vgs-vg_only.json)");
        assert!(plan(&spec(SPEC), &after).unwrap().is_empty());
    }

    #[test]
    fn a_used_device_is_destructive_and_a_foreign_pv_refused() {
        let mut observed = LvmObserved::default();
        let ext4 = Signature { kind: "ext4".into(), offset: "0x438".into() };
        observed.devices.insert(dev("/dev/vda"), DeviceInfo { signatures: vec![ext4], ..blank(2 << 30) });
        observed.devices.insert(dev("/dev/vdb"), blank(1 << 30));
        let steps = plan(&spec(SPEC), &observed).unwrap();
        let first = steps.steps[0].info(&Root::host());
        assert!(first.destructive && first.object == "/dev/vda", "{first:?}");
        assert_eq!(first.commands, ["wipefs --all /dev/vda", "pvcreate --dataalignment 4m /dev/vda"]);

        let pvs = crate::report::parse_pvs(include_str!("../tests/fixtures/pvs-full.json")).unwrap();
        observed.pvs = pvs.into_iter().map(|pv| crate::state::PvInfo { vg: Some("vg_other".into()), ..pv }).collect();
        let steps = plan(&spec(SPEC), &observed).unwrap();
        assert!(steps.steps.is_empty());
        assert_eq!(steps.refused.len(), 2);
        assert!(steps.refused[0].reason.contains("/dev/vda is a PV of volume group vg_other"), "{:?}", steps.refused);
    }

    #[test]
    fn a_different_extent_size_is_refused() {
        let vgs = crate::report::parse_vgs(include_str!("../tests/fixtures/vgs-full.json")).unwrap();
        let observed = LvmObserved { vgs, ..LvmObserved::default() };
        let text = SPEC.replace("reserve = \"5%\"", "extent_size = \"8MiB\"");
        let steps = plan(&spec(&text), &observed).unwrap();
        assert!(steps.steps.is_empty());
        assert!(steps.refused[0].fix.contains("set extent_size = \"4MiB\""), "{:?}", steps.refused);
    }

    #[test]
    fn too_big_a_spec_fails_with_needed_and_available() {
        let mut observed = LvmObserved::default();
        observed.devices.insert(dev("/dev/vda"), blank(2 << 30));
        observed.devices.insert(dev("/dev/vdb"), blank(1 << 30));
        let err = plan(&spec(&SPEC.replace("400MiB", "4GiB")), &observed).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("its volumes need 4.00 GiB (1025 extents) but only 2.83 GiB (727 extents) are usable"),
            "{text}"
        );
        let located = err.spec_errors(&spec(SPEC));
        assert_eq!(located[0].key, "volume_groups.vg_jts");
    }
}
