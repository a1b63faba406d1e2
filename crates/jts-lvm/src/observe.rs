//! Reads LVM and the spec'd devices into an [`LvmObserved`], through a [`Runner`] only.
//!
//! Every command is read-only and deterministic: explicit fields, bytes without suffix,
//! JSON, and creation times as seconds since the epoch. lvm2's "file descriptor leaked"
//! warnings (printed when a parent leaks descriptors, as virtme-ng's console does) go to
//! stderr and do not change the reports.

use std::collections::BTreeSet;

use jts_core::{AbsPath, CmdSpec, Runner};

use crate::error::Result;
use crate::report::{parse_lvs, parse_pvs, parse_size64, parse_vgs, parse_wipefs};
use crate::spec::LvmSpec;
use crate::state::{DeviceInfo, LvInfo, LvmObserved, PvInfo, VgInfo};

/// The fields `pvs` is asked for.
pub const PV_FIELDS: &str = "pv_name,vg_name,pv_uuid,dev_size,pv_size,pv_free,pe_start,pv_pe_count,pv_pe_alloc_count";
/// The fields `vgs` is asked for.
pub const VG_FIELDS: &str =
    "vg_name,vg_uuid,vg_size,vg_free,vg_extent_size,vg_extent_count,vg_free_count,pv_count,lv_count";
/// The fields `lvs` is asked for.
pub const LV_FIELDS: &str = "vg_name,lv_name,lv_uuid,lv_size,lv_attr,origin,data_percent,snap_percent,lv_time";

fn report(program: &str) -> CmdSpec {
    CmdSpec::new(program).opt("--reportformat", "json").opt("--units", "b").arg("--nosuffix")
}

/// `pvs --reportformat json --units b --nosuffix -o …`
pub fn pvs_command() -> CmdSpec {
    report("pvs").opt("-o", PV_FIELDS)
}

/// `vgs --reportformat json --units b --nosuffix -o …`
pub fn vgs_command() -> CmdSpec {
    report("vgs").opt("-o", VG_FIELDS)
}

/// `lvs --reportformat json --units b --nosuffix --config 'report/time_format="%s"' -o …`
pub fn lvs_command() -> CmdSpec {
    report("lvs").opt("--config", "report/time_format=\"%s\"").opt("-o", LV_FIELDS)
}

/// `wipefs --no-act --json DEVICE`: lists every signature, changes nothing.
pub fn wipefs_command(device: &AbsPath) -> CmdSpec {
    CmdSpec::new("wipefs").arg("--no-act").arg("--json").arg(device.as_path())
}

/// `blockdev --getsize64 DEVICE`.
pub fn size_command(device: &AbsPath) -> CmdSpec {
    CmdSpec::new("blockdev").arg("--getsize64").arg(device.as_path())
}

pub(crate) fn read_pvs(runner: &dyn Runner) -> Result<Vec<PvInfo>> {
    parse_pvs(&runner.run(&pvs_command())?.stdout)
}

pub(crate) fn read_vgs(runner: &dyn Runner) -> Result<Vec<VgInfo>> {
    parse_vgs(&runner.run(&vgs_command())?.stdout)
}

pub(crate) fn read_lvs(runner: &dyn Runner) -> Result<Vec<LvInfo>> {
    parse_lvs(&runner.run(&lvs_command())?.stdout)
}

/// Observes one device: absent when `blockdev` says there is no such file.
pub(crate) fn read_device(runner: &dyn Runner, device: &AbsPath) -> Result<DeviceInfo> {
    let size = match runner.run(&size_command(device)) {
        Ok(output) => parse_size64(&output.stdout)?,
        Err(jts_core::Error::Command(failure)) if failure.stderr.contains("No such file or directory") => {
            tracing::debug!(%device, "device is absent");
            return Ok(DeviceInfo::default());
        }
        Err(err) => return Err(err.into()),
    };
    let signatures = parse_wipefs(&runner.run(&wipefs_command(device))?.stdout)?;
    Ok(DeviceInfo { present: true, size, signatures })
}

/// Observes the spec's devices, and the PVs, VGs and LVs that concern it: PVs on spec'd
/// devices or in spec'd VGs, spec'd VGs, and every LV of those (snapshots and volumes
/// the spec does not declare included: they take space).
pub fn observe(spec: &LvmSpec, runner: &dyn Runner) -> Result<LvmObserved> {
    let vg_names: BTreeSet<&str> = spec.volume_groups.keys().map(String::as_str).collect();
    let devices: BTreeSet<&AbsPath> =
        spec.volume_groups.values().flat_map(|vg| vg.get_ref().devices.iter().map(|d| d.get_ref())).collect();
    let device_names: BTreeSet<String> = devices.iter().map(ToString::to_string).collect();
    let in_spec = |vg: &Option<String>| vg.as_deref().is_some_and(|vg| vg_names.contains(vg));
    let mut observed = LvmObserved {
        pvs: read_pvs(runner)?.into_iter().filter(|pv| device_names.contains(&pv.name) || in_spec(&pv.vg)).collect(),
        vgs: read_vgs(runner)?.into_iter().filter(|vg| vg_names.contains(vg.name.as_str())).collect(),
        lvs: read_lvs(runner)?.into_iter().filter(|lv| vg_names.contains(lv.vg.as_str())).collect(),
        ..LvmObserved::default()
    };
    for device in devices {
        observed.devices.insert(device.clone(), read_device(runner, device)?);
    }
    observed.sort();
    Ok(observed)
}

#[cfg(test)]
mod tests {
    use jts_core::{CmdFailure, CmdOutput, RecordingRunner};

    use super::*;

    fn ok(stdout: &str) -> jts_core::Reply {
        Ok(CmdOutput { stdout: stdout.into(), stderr: String::new() })
    }

    #[test]
    fn commands_are_exact() {
        assert_eq!(
            lvs_command().to_shell(),
            "lvs --reportformat json --units b --nosuffix --config 'report/time_format=\"%s\"' -o \
             'vg_name,lv_name,lv_uuid,lv_size,lv_attr,origin,data_percent,snap_percent,lv_time'"
        );
        let dev = AbsPath::new("/dev/vdb").unwrap();
        assert_eq!(wipefs_command(&dev).to_shell(), "wipefs --no-act --json /dev/vdb");
        assert_eq!(size_command(&dev).to_shell(), "blockdev --getsize64 /dev/vdb");
    }

    #[test]
    fn an_absent_device_is_observed_as_absent() {
        let failure = CmdFailure {
            command: "blockdev --getsize64 /dev/vdz".into(),
            status: "exited with status 1".into(),
            stderr: "blockdev: cannot open /dev/vdz: No such file or directory\n".into(),
            stdout: String::new(),
        };
        let runner = RecordingRunner::new().reply(Err(failure));
        let info = read_device(&runner, &AbsPath::new("/dev/vdz").unwrap()).unwrap();
        assert_eq!(info, DeviceInfo::default());
        assert_eq!(runner.calls().len(), 1, "no wipefs on an absent device");
    }

    #[test]
    fn other_failures_are_errors() {
        let failure = CmdFailure {
            command: "blockdev --getsize64 /dev/vdb".into(),
            status: "exited with status 1".into(),
            stderr: "blockdev: cannot open /dev/vdb: Permission denied\n".into(),
            stdout: String::new(),
        };
        let runner = RecordingRunner::new().reply(Err(failure));
        let err = read_device(&runner, &AbsPath::new("/dev/vdb").unwrap()).unwrap_err().to_string();
        assert!(err.contains("Permission denied"), "{err}");
    }

    #[test]
    fn observe_keeps_what_the_spec_talks_about() {
        let spec: LvmSpec = toml::from_str("[volume_groups.vg_jts]\ndevices = [\"/dev/vdb\"]\n").unwrap();
        let pvs = r#"{"report":[{"pv":[
            {"pv_name":"/dev/vda","vg_name":"vg_sys","pv_uuid":"a","dev_size":"1","pv_size":"1","pv_free":"0","pe_start":"1","pv_pe_count":"0","pv_pe_alloc_count":"0"},
            {"pv_name":"/dev/vdb","vg_name":"","pv_uuid":"b","dev_size":"1","pv_size":"1","pv_free":"1","pe_start":"1","pv_pe_count":"0","pv_pe_alloc_count":"0"}]}]}"#;
        let vgs = r#"{"report":[{"vg":[{"vg_name":"vg_sys","vg_uuid":"u","vg_size":"1","vg_free":"0","vg_extent_size":"4194304","vg_extent_count":"1","vg_free_count":"0","pv_count":"1","lv_count":"1"}]}]}"#;
        let lvs = r#"{"report":[{"lv":[{"vg_name":"vg_sys","lv_name":"root","lv_uuid":"r","lv_size":"4194304","lv_attr":"-wi-ao----","origin":"","data_percent":"","snap_percent":"","lv_time":"1"}]}]}"#;
        let runner =
            RecordingRunner::new().reply(ok(pvs)).reply(ok(vgs)).reply(ok(lvs)).reply(ok("1073741824\n")).reply(ok(""));
        let observed = observe(&spec, &runner).unwrap();
        assert_eq!(observed.pvs.len(), 1, "the system VG's PV is not ours");
        assert_eq!(observed.pvs[0].vg, None);
        assert!(observed.vgs.is_empty() && observed.lvs.is_empty());
        let device = &observed.devices[&AbsPath::new("/dev/vdb").unwrap()];
        assert_eq!((device.present, device.size, device.signatures.len()), (true, 1 << 30, 0));
        let lines: Vec<String> = runner.calls().iter().map(CmdSpec::to_shell).collect();
        assert_eq!(lines[0], pvs_command().to_shell());
        assert_eq!(lines[4], "wipefs --no-act --json /dev/vdb");
    }
}
