//! Re-checking a step's preconditions against a fresh observation, through the runner:
//! each step re-reads just the reports it relies on.

use jts_core::{AbsPath, Runner};

use crate::error::{Error, Result};
use crate::observe::{read_device, read_lvs, read_pvs, read_vgs};
use crate::state::{LvInfo, PvInfo, Signature, VgInfo};
use crate::step::{LvmStep, signatures_text};

fn stale(message: String) -> Error {
    Error::Stale(message)
}

fn find_vg<'a>(vgs: &'a [VgInfo], name: &str) -> Result<&'a VgInfo> {
    vgs.iter().find(|vg| vg.name == name).ok_or_else(|| stale(format!("volume group {name} does not exist")))
}

fn find_lv<'a>(lvs: &'a [LvInfo], vg: &str, name: &str) -> Option<&'a LvInfo> {
    lvs.iter().find(|lv| lv.vg == vg && lv.name == name)
}

fn free_extents(vg: &VgInfo, needed: u64) -> Result<()> {
    if vg.free_count < needed {
        return Err(stale(format!("{} has {} free extents, {needed} are needed", vg.name, vg.free_count)));
    }
    Ok(())
}

fn orphan(pvs: &[PvInfo], device: &AbsPath) -> Result<()> {
    match pvs.iter().find(|pv| pv.name == device.to_string()) {
        None => Err(stale(format!("{device} is not a PV"))),
        Some(PvInfo { vg: Some(vg), .. }) => Err(stale(format!("{device} belongs to volume group {vg} now"))),
        Some(_) => Ok(()),
    }
}

fn extents_of(lv: &LvInfo, vg: &VgInfo) -> u64 {
    lv.size / vg.extent_size.max(1)
}

fn has_snapshots(lvs: &[LvInfo], vg: &str, name: &str) -> bool {
    lvs.iter().any(|lv| lv.vg == vg && lv.origin.as_deref() == Some(name) && lv.attr.is_cow_snapshot())
}

/// Sizes an LV the step expects at `from` extents, without snapshots (lvm2 cannot
/// resize an active snapshot origin).
fn resizable(runner: &dyn Runner, vg: &str, name: &str, from: u64) -> Result<(VgInfo, Vec<LvInfo>)> {
    let vgs = read_vgs(runner)?;
    let info = find_vg(&vgs, vg)?.clone();
    let lvs = read_lvs(runner)?;
    let lv = find_lv(&lvs, vg, name).ok_or_else(|| stale(format!("{vg}/{name} does not exist")))?;
    if extents_of(lv, &info) != from {
        return Err(stale(format!("{vg}/{name} has {} extents, not {from}", extents_of(lv, &info))));
    }
    if has_snapshots(&lvs, vg, name) {
        return Err(stale(format!("{vg}/{name} has snapshots now; lvm2 cannot resize an active snapshot origin")));
    }
    Ok((info, lvs))
}

/// Checks that what `step` relies on still holds.
pub fn recheck(step: &LvmStep, runner: &dyn Runner) -> Result<()> {
    match step {
        LvmStep::CreatePv { device, wipe, .. } => {
            let info = read_device(runner, device)?;
            if !info.present {
                return Err(stale(format!("{device} does not exist")));
            }
            if read_pvs(runner)?.iter().any(|pv| pv.name == device.to_string()) {
                return Err(stale(format!("{device} is a PV now")));
            }
            let sorted = |list: &[Signature]| {
                let mut list: Vec<(String, String)> = list.iter().map(|s| (s.kind.clone(), s.offset.clone())).collect();
                list.sort();
                list
            };
            if sorted(&info.signatures) != sorted(wipe) {
                return Err(stale(format!(
                    "the signatures on {device} changed: planned for [{}], found [{}]",
                    signatures_text(wipe),
                    signatures_text(&info.signatures)
                )));
            }
            Ok(())
        }
        LvmStep::CreateVg { name, devices, .. } => {
            if read_vgs(runner)?.iter().any(|vg| vg.name == *name) {
                return Err(stale(format!("volume group {name} exists now")));
            }
            let pvs = read_pvs(runner)?;
            devices.iter().try_for_each(|device| orphan(&pvs, device))
        }
        LvmStep::ExtendVg { vg, device } => {
            find_vg(&read_vgs(runner)?, vg)?;
            orphan(&read_pvs(runner)?, device)
        }
        LvmStep::CreateLv { vg, name, extents, .. } => {
            free_extents(find_vg(&read_vgs(runner)?, vg)?, *extents)?;
            match find_lv(&read_lvs(runner)?, vg, name) {
                Some(_) => Err(stale(format!("{vg}/{name} exists now"))),
                None => Ok(()),
            }
        }
        LvmStep::ExtendLv { vg, name, from, to, .. } => {
            let (info, _) = resizable(runner, vg, name, *from)?;
            free_extents(&info, to - from)
        }
        LvmStep::ReduceLv { vg, name, from, .. } => resizable(runner, vg, name, *from).map(drop),
        LvmStep::CreateSnapshot { vg, origin, name, extents, .. } => {
            free_extents(find_vg(&read_vgs(runner)?, vg)?, *extents)?;
            let lvs = read_lvs(runner)?;
            match find_lv(&lvs, vg, origin) {
                None => return Err(stale(format!("{vg}/{origin} does not exist"))),
                Some(lv) if lv.attr.is_cow_snapshot() => {
                    return Err(stale(format!("{vg}/{origin} is itself a snapshot")));
                }
                Some(_) => {}
            }
            match find_lv(&lvs, vg, name) {
                Some(_) => Err(stale(format!("{vg}/{name} exists already"))),
                None => Ok(()),
            }
        }
        LvmStep::RemoveSnapshot { vg, origin, name, .. } => {
            let lvs = read_lvs(runner)?;
            match find_lv(&lvs, vg, name) {
                Some(lv) if lv.attr.is_cow_snapshot() && lv.origin.as_deref() == Some(origin.as_str()) => Ok(()),
                Some(_) => Err(stale(format!("{vg}/{name} is not a snapshot of {origin}; it is never removed"))),
                None => Err(stale(format!("{vg}/{name} does not exist"))),
            }
        }
        LvmStep::MergeSnapshot { vg, origin, name, .. } => {
            let lvs = read_lvs(runner)?;
            match find_lv(&lvs, vg, name) {
                Some(lv)
                    if lv.attr.volume_type == crate::VolumeType::Snapshot
                        && !lv.attr.invalid_snapshot
                        && lv.origin.as_deref() == Some(origin.as_str()) =>
                {
                    Ok(())
                }
                Some(_) => Err(stale(format!("{vg}/{name} is no longer a valid snapshot of {origin}"))),
                None => Err(stale(format!("{vg}/{name} does not exist"))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use jts_core::{CmdOutput, RecordingRunner, Size};
    use jts_fs::FsKind;

    use super::*;

    fn ok(stdout: &str) -> jts_core::Reply {
        Ok(CmdOutput { stdout: stdout.into(), stderr: String::new() })
    }

    const VGS: &str = include_str!("../tests/fixtures/vgs-full.json");
    const LVS: &str = include_str!("../tests/fixtures/lvs-full.json");

    #[test]
    fn a_snapshot_origin_is_not_resized() {
        let step = LvmStep::ExtendLv {
            vg: "vg_jts".into(),
            name: "lv_pg".into(),
            from: 120,
            to: 130,
            extent_size: 4 << 20,
            filesystem: FsKind::Ext4,
        };
        let runner = RecordingRunner::new().reply(ok(VGS)).reply(ok(LVS));
        let err = recheck(&step, &runner).unwrap_err().to_string();
        assert!(err.contains("vg_jts/lv_pg has snapshots now"), "{err}");
    }

    #[test]
    fn only_a_snapshot_of_the_origin_is_removed() {
        let remove = |name: &str, origin: &str| LvmStep::RemoveSnapshot {
            vg: "vg_jts".into(),
            origin: origin.into(),
            name: name.into(),
            reason: "test".into(),
        };
        let check = |step: &LvmStep| recheck(step, &RecordingRunner::new().reply(ok(LVS)));
        assert!(check(&remove("lv_small-snap-20260103T000000Z", "lv_small")).is_ok());
        let err = check(&remove("lv_pg", "lv_pg")).unwrap_err().to_string();
        assert!(err.contains("is not a snapshot of lv_pg; it is never removed"), "{err}");
        assert!(check(&remove("lv_small-snap-20260103T000000Z", "lv_pg")).is_err(), "another origin's snapshot");
    }

    #[test]
    fn a_new_signature_stops_pvcreate() {
        let step = LvmStep::CreatePv {
            device: AbsPath::new("/dev/vdc").unwrap(),
            data_alignment: Size::from_bytes(1 << 20),
            wipe: vec![],
        };
        let wipefs = include_str!("../tests/fixtures/wipefs-ext4.json");
        let runner = RecordingRunner::new()
            .reply(ok("1078988800\n"))
            .reply(ok(wipefs))
            .reply(ok(include_str!("../tests/fixtures/pvs-empty.json")));
        let err = recheck(&step, &runner).unwrap_err().to_string();
        assert!(err.contains("planned for [], found [ext4 at 0x438]"), "{err}");
    }

    #[test]
    fn free_extents_are_rechecked() {
        let step = LvmStep::CreateLv {
            vg: "vg_jts".into(),
            name: "lv_new".into(),
            extents: 836,
            extent_size: 4 << 20,
            filesystem: FsKind::None,
        };
        let err = recheck(&step, &RecordingRunner::new().reply(ok(VGS))).unwrap_err().to_string();
        assert!(err.contains("vg_jts has 835 free extents, 836 are needed"), "{err}");
    }
}
