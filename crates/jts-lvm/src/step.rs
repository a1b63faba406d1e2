//! [`LvmStep`]: each change to LVM, with its description, exact commands, preconditions
//! and simulated effect. Re-checking and execution live in [`crate::apply`].
//!
//! Every command is non-interactive by construction, never by answering prompts blindly:
//! only `lvcreate` of a new volume (whose stale signatures must go), `lvreduce` (a
//! consented destructive step) and `lvremove` of a snapshot pass `--yes`. `pvcreate`
//! never gets `--yes` or `--force`: should a signature appear after planning, it asks,
//! reads end-of-file from the runner's closed stdin, and fails.

use jts_core::{AbsPath, CmdSpec, Drift, Root, Size, StepInfo};
use jts_fs::FsKind;

use crate::attr::LvAttr;
use crate::sizing::{estimate_extents, pe_start_for};
use crate::snapshot::parse_snapshot_name;
use crate::state::{LvInfo, LvmObserved, Percent, PvInfo, Signature, VgInfo};

/// The signature `pvcreate` writes, as `wipefs` reports it.
const PV_SIGNATURE: (&str, &str) = ("LVM2_member", "0x218");

/// One change to LVM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LvmStep {
    /// `pvcreate --dataalignment A DEVICE`, after `wipefs --all DEVICE` when `wipe` lists
    /// signatures. With signatures it is destructive: whatever they belong to is lost.
    CreatePv {
        /// The device.
        device: AbsPath,
        /// `--dataalignment`.
        data_alignment: Size,
        /// The signatures on the device that `wipefs --all` erases first; empty for a
        /// blank device.
        wipe: Vec<Signature>,
    },
    /// `vgcreate --physicalextentsize S NAME DEVICE…`.
    CreateVg {
        /// The VG.
        name: String,
        /// Its PVs, all orphans by now.
        devices: Vec<AbsPath>,
        /// The extent size.
        extent_size: Size,
    },
    /// `vgextend VG DEVICE`.
    ExtendVg {
        /// The VG.
        vg: String,
        /// The new PV, an orphan by now.
        device: AbsPath,
    },
    /// `lvcreate … --extents N --name NAME VG`, wiping stale signatures in the new space.
    CreateLv {
        /// The VG.
        vg: String,
        /// The LV.
        name: String,
        /// Its extents.
        extents: u64,
        /// The VG's extent size, bytes.
        extent_size: u64,
        /// The filesystem the spec wants on it, for the steps that follow.
        filesystem: FsKind,
    },
    /// `lvextend --extents N VG/NAME`. The filesystem is grown by the filesystem steps.
    ExtendLv {
        /// The VG.
        vg: String,
        /// The LV.
        name: String,
        /// Current extents.
        from: u64,
        /// New extents.
        to: u64,
        /// The VG's extent size, bytes.
        extent_size: u64,
        /// The filesystem the spec wants on it: grow it after this step.
        filesystem: FsKind,
    },
    /// `lvreduce --yes [--resizefs] --extents N VG/NAME`: destructive. An ext4 volume is
    /// shrunk with `--resizefs` (lvm2's fsadm runs e2fsck and resize2fs first). Whether
    /// the filesystem can shrink at all (XFS never; ext4 only unmounted) is for the
    /// caller to decide from `filesystem`, before this step is planned.
    ReduceLv {
        /// The VG.
        vg: String,
        /// The LV.
        name: String,
        /// Current extents.
        from: u64,
        /// New extents.
        to: u64,
        /// The VG's extent size, bytes.
        extent_size: u64,
        /// The filesystem the spec declares on it.
        filesystem: FsKind,
    },
    /// `lvcreate --snapshot --size S --name NAME VG/ORIGIN`.
    CreateSnapshot {
        /// The VG.
        vg: String,
        /// The LV it is a snapshot of.
        origin: String,
        /// The snapshot's name, from [`crate::snapshot_name`].
        name: String,
        /// COW space.
        size: Size,
        /// The extents that takes in the VG.
        extents: u64,
    },
    /// `lvremove --yes VG/NAME` of a snapshot the retention policy drops.
    ///
    /// Not destructive in the consent sense: it removes a point-in-time copy, never the
    /// origin's data, and the `[snapshots.ORIGIN]` policy the operator wrote is the
    /// consent. Its precondition re-checks, right before it runs, that `NAME` is still a
    /// snapshot of `ORIGIN`; anything else is never removed.
    RemoveSnapshot {
        /// The VG.
        vg: String,
        /// The LV it is a snapshot of.
        origin: String,
        /// The snapshot.
        name: String,
        /// Why the policy drops it.
        reason: String,
    },
    /// `lvconvert --merge --yes VG/NAME`: rolls `ORIGIN` back to the snapshot `NAME`,
    /// which is consumed. Destructive, with `ORIGIN` as its object: everything written
    /// to it since the snapshot is lost.
    MergeSnapshot {
        /// The VG.
        vg: String,
        /// The LV rolled back.
        origin: String,
        /// The snapshot merged into it.
        name: String,
        /// The origin is open (mounted) when planned: lvm2 then merges at its next
        /// activation instead of now.
        origin_open: bool,
    },
}

/// A size as an lvm2 argument: the largest of `t`, `g`, `m`, `k` that divides it
/// (lvm2 reads all of them as powers of 1024), rounded up to whole KiB.
pub fn lvm_size(size: Size) -> String {
    let kib = size.bytes().div_ceil(1024);
    for (unit, factor) in [("t", 1u64 << 30), ("g", 1 << 20), ("m", 1 << 10)] {
        if kib != 0 && kib % factor == 0 {
            return format!("{}{unit}", kib / factor);
        }
    }
    format!("{kib}k")
}

fn vg_lv(vg: &str, name: &str) -> String {
    format!("{vg}/{name}")
}

fn human(extents: u64, extent_size: u64) -> String {
    format!("{} ({extents} extents)", Size::from_bytes(extents.saturating_mul(extent_size)))
}

pub(crate) fn signatures_text(signatures: &[Signature]) -> String {
    let parts: Vec<String> = signatures.iter().map(|s| format!("{} at {}", s.kind, s.offset)).collect();
    parts.join(", ")
}

impl LvmStep {
    /// The commands this step runs, in order.
    pub fn commands(&self) -> Vec<CmdSpec> {
        match self {
            Self::CreatePv { device, data_alignment, wipe } => {
                let wipefs = (!wipe.is_empty()).then(|| CmdSpec::new("wipefs").arg("--all").arg(device.as_path()));
                let pvcreate =
                    CmdSpec::new("pvcreate").opt("--dataalignment", lvm_size(*data_alignment)).arg(device.as_path());
                wipefs.into_iter().chain([pvcreate]).collect()
            }
            Self::CreateVg { name, devices, extent_size } => {
                let cmd = CmdSpec::new("vgcreate").opt("--physicalextentsize", lvm_size(*extent_size)).arg(name);
                vec![devices.iter().fold(cmd, |cmd, device| cmd.arg(device.as_path()))]
            }
            Self::ExtendVg { vg, device } => vec![CmdSpec::new("vgextend").arg(vg).arg(device.as_path())],
            Self::CreateLv { vg, name, extents, .. } => vec![
                CmdSpec::new("lvcreate")
                    .arg("--yes")
                    .opt("--wipesignatures", "y")
                    .opt("--zero", "y")
                    .opt("--activate", "y")
                    .opt("--extents", extents.to_string())
                    .opt("--name", name)
                    .arg(vg),
            ],
            Self::ExtendLv { vg, name, to, .. } => {
                vec![CmdSpec::new("lvextend").opt("--extents", to.to_string()).arg(vg_lv(vg, name))]
            }
            Self::ReduceLv { vg, name, to, filesystem, .. } => {
                let cmd = CmdSpec::new("lvreduce").arg("--yes");
                // ext4 is shrunk first by lvm2's fsadm (e2fsck, then resize2fs); callers
                // refuse the filesystems that cannot shrink before planning this step.
                let cmd = if *filesystem == FsKind::Ext4 { cmd.arg("--resizefs") } else { cmd };
                vec![cmd.opt("--extents", to.to_string()).arg(vg_lv(vg, name))]
            }
            Self::CreateSnapshot { vg, origin, name, size, .. } => vec![
                CmdSpec::new("lvcreate")
                    .arg("--snapshot")
                    .opt("--size", lvm_size(*size))
                    .opt("--name", name)
                    .arg(vg_lv(vg, origin)),
            ],
            Self::RemoveSnapshot { vg, name, .. } => vec![CmdSpec::new("lvremove").arg("--yes").arg(vg_lv(vg, name))],
            Self::MergeSnapshot { vg, name, .. } => {
                vec![CmdSpec::new("lvconvert").arg("--merge").arg("--yes").arg(vg_lv(vg, name))]
            }
        }
    }

    /// The step type, e.g. `"CreateLv"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CreatePv { .. } => "CreatePv",
            Self::CreateVg { .. } => "CreateVg",
            Self::ExtendVg { .. } => "ExtendVg",
            Self::CreateLv { .. } => "CreateLv",
            Self::ExtendLv { .. } => "ExtendLv",
            Self::ReduceLv { .. } => "ReduceLv",
            Self::CreateSnapshot { .. } => "CreateSnapshot",
            Self::RemoveSnapshot { .. } => "RemoveSnapshot",
            Self::MergeSnapshot { .. } => "MergeSnapshot",
        }
    }

    /// The object the consent gate matches: a device path, a VG name, an LV name or a
    /// snapshot name.
    pub fn object(&self) -> String {
        match self {
            Self::CreatePv { device, .. } => device.to_string(),
            Self::CreateVg { name, .. } => name.clone(),
            Self::ExtendVg { vg, .. } => vg.clone(),
            Self::CreateLv { name, .. }
            | Self::ExtendLv { name, .. }
            | Self::ReduceLv { name, .. }
            | Self::CreateSnapshot { name, .. }
            | Self::RemoveSnapshot { name, .. } => name.clone(),
            Self::MergeSnapshot { origin, .. } => origin.clone(),
        }
    }

    /// Whether it can destroy data: `pvcreate` over signatures, `lvreduce`, and a
    /// rollback (`lvconvert --merge`).
    pub fn destructive(&self) -> bool {
        match self {
            Self::CreatePv { wipe, .. } => !wipe.is_empty(),
            Self::ReduceLv { .. } | Self::MergeSnapshot { .. } => true,
            _ => false,
        }
    }

    /// For LV steps, the VG, LV and the filesystem the spec declares on it.
    pub fn volume(&self) -> Option<(&str, &str, FsKind)> {
        match self {
            Self::CreateLv { vg, name, filesystem, .. }
            | Self::ExtendLv { vg, name, filesystem, .. }
            | Self::ReduceLv { vg, name, filesystem, .. } => Some((vg, name, *filesystem)),
            _ => None,
        }
    }

    fn description(&self) -> String {
        match self {
            Self::CreatePv { device, data_alignment, wipe } if wipe.is_empty() => {
                format!("create PV on {device} (data alignment {data_alignment})")
            }
            Self::CreatePv { device, data_alignment, wipe } => {
                format!("ERASE {} on {device}, then create PV (data alignment {data_alignment})", signatures_text(wipe))
            }
            Self::CreateVg { name, devices, extent_size } => {
                let names: Vec<String> = devices.iter().map(ToString::to_string).collect();
                format!("create volume group {name} on {} with {extent_size} extents", names.join(", "))
            }
            Self::ExtendVg { vg, device } => format!("add {device} to volume group {vg}"),
            Self::CreateLv { vg, name, extents, extent_size, .. } => {
                format!("create logical volume {} of {}", vg_lv(vg, name), human(*extents, *extent_size))
            }
            Self::ExtendLv { vg, name, from, to, extent_size, .. } => format!(
                "grow logical volume {} from {} to {}",
                vg_lv(vg, name),
                human(*from, *extent_size),
                human(*to, *extent_size)
            ),
            Self::ReduceLv { vg, name, from, to, extent_size, filesystem } => format!(
                "SHRINK logical volume {} ({}) from {} to {}, losing everything past the new end",
                vg_lv(vg, name),
                match filesystem {
                    FsKind::None => "raw volume".to_owned(),
                    fs => format!("{fs} filesystem"),
                },
                human(*from, *extent_size),
                human(*to, *extent_size)
            ),
            Self::CreateSnapshot { vg, origin, name, size, .. } => {
                format!("snapshot {} as {name} with {size} of copy-on-write space", vg_lv(vg, origin))
            }
            Self::RemoveSnapshot { vg, origin, name, reason } => {
                format!("remove snapshot {} of {origin}: {reason}", vg_lv(vg, name))
            }
            Self::MergeSnapshot { vg, origin, name, origin_open } => format!(
                "ROLL BACK {} to snapshot {name}, losing everything written to it since; the snapshot is consumed. \
                 The merge starts {}",
                vg_lv(vg, origin),
                if *origin_open {
                    "at the next activation of the volume: it is open (mounted) now"
                } else {
                    "now: the volume is not open"
                }
            ),
        }
    }

    /// The observed facts it relies on, re-checked by [`crate::apply::recheck`].
    fn preconditions(&self) -> Vec<String> {
        let orphan = |device: &AbsPath| format!("{device} is a PV in no volume group");
        match self {
            Self::CreatePv { device, wipe, .. } if wipe.is_empty() => {
                vec![format!("{device} exists and is not a PV"), format!("{device} has no signature")]
            }
            Self::CreatePv { device, wipe, .. } => vec![
                format!("{device} exists and is not a PV"),
                format!("{device} has exactly these signatures: {}", signatures_text(wipe)),
            ],
            Self::CreateVg { name, devices, .. } => std::iter::once(format!("volume group {name} does not exist"))
                .chain(devices.iter().map(orphan))
                .collect(),
            Self::ExtendVg { vg, device } => vec![format!("volume group {vg} exists"), orphan(device)],
            Self::CreateLv { vg, name, extents, .. } => {
                vec![format!("{vg} has no LV {name}"), format!("{vg} has at least {extents} free extents")]
            }
            Self::ExtendLv { vg, name, from, to, .. } => vec![
                format!("{} has {from} extents and no snapshots", vg_lv(vg, name)),
                format!("{vg} has at least {} free extents", to - from),
            ],
            Self::ReduceLv { vg, name, from, .. } => {
                vec![format!("{} has {from} extents and no snapshots", vg_lv(vg, name))]
            }
            Self::CreateSnapshot { vg, origin, name, extents, .. } => vec![
                format!("{} exists and is not a snapshot", vg_lv(vg, origin)),
                format!("{vg} has no LV {name}"),
                format!("{vg} has at least {extents} free extents"),
            ],
            Self::RemoveSnapshot { vg, origin, name, .. } => {
                vec![format!("{} is a snapshot of {origin}", vg_lv(vg, name))]
            }
            Self::MergeSnapshot { vg, origin, name, .. } => {
                vec![format!("{} is a valid snapshot of {origin}, not merging", vg_lv(vg, name))]
            }
        }
    }

    fn drift(&self) -> Option<Drift> {
        let (expected, actual) = match self {
            Self::CreatePv { device, wipe, .. } => {
                let actual = if wipe.is_empty() { "blank device".to_owned() } else { signatures_text(wipe) };
                (format!("PV on {device}"), actual)
            }
            Self::CreateVg { name, .. } => (format!("volume group {name}"), "missing".to_owned()),
            Self::ExtendVg { vg, device } => (format!("{device} in {vg}"), format!("{device} not in {vg}")),
            Self::CreateLv { extents, extent_size, .. } => (human(*extents, *extent_size), "missing".to_owned()),
            Self::ExtendLv { from, to, extent_size, .. } | Self::ReduceLv { from, to, extent_size, .. } => {
                (human(*to, *extent_size), human(*from, *extent_size))
            }
            Self::CreateSnapshot { .. } | Self::RemoveSnapshot { .. } | Self::MergeSnapshot { .. } => return None,
        };
        Some(Drift { object: self.object(), path: None, expected, actual })
    }

    /// Applies the step's effect to `state`. Counts are kept per VG (extents, free
    /// extents, LVs); which PV an LV's extents come from is not modelled.
    fn apply_to(&self, state: &mut LvmObserved) {
        match self {
            Self::CreatePv { device, data_alignment, .. } => {
                let dev_size = state.devices.get(device).map_or(0, |d| d.size);
                if let Some(info) = state.devices.get_mut(device) {
                    info.signatures =
                        vec![Signature { kind: PV_SIGNATURE.0.to_owned(), offset: PV_SIGNATURE.1.to_owned() }];
                }
                state.pvs.retain(|pv| pv.name != device.to_string());
                state.pvs.push(PvInfo {
                    name: device.to_string(),
                    vg: None,
                    uuid: String::new(),
                    dev_size,
                    size: dev_size,
                    free: dev_size,
                    pe_start: pe_start_for(data_alignment.bytes()),
                    pe_count: 0,
                    pe_alloc_count: 0,
                });
            }
            Self::CreateVg { name, devices, extent_size } => {
                let extent = extent_size.bytes();
                state.vgs.retain(|vg| vg.name != *name);
                state.vgs.push(VgInfo {
                    name: name.clone(),
                    uuid: String::new(),
                    size: 0,
                    free: 0,
                    extent_size: extent,
                    extent_count: 0,
                    free_count: 0,
                    pv_count: 0,
                    lv_count: 0,
                });
                for device in devices {
                    join_vg(state, name, device);
                }
            }
            Self::ExtendVg { vg, device } => join_vg(state, vg, device),
            Self::CreateLv { vg, name, extents, extent_size, .. } => {
                state.lvs.push(LvInfo {
                    vg: vg.clone(),
                    name: name.clone(),
                    uuid: String::new(),
                    size: extents.saturating_mul(*extent_size),
                    attr: LvAttr::decode("-wi-a-----"),
                    origin: None,
                    data_percent: None,
                    created: None,
                });
                allocate(state, vg, i128::from(*extents), 1);
            }
            Self::ExtendLv { vg, name, from, to, extent_size, .. }
            | Self::ReduceLv { vg, name, from, to, extent_size, .. } => {
                if let Some(lv) = state.lv_mut(vg, name) {
                    lv.size = to.saturating_mul(*extent_size);
                }
                allocate(state, vg, i128::from(*to) - i128::from(*from), 0);
            }
            Self::CreateSnapshot { vg, origin, name, extents, .. } => {
                let extent_size = state.vg(vg).map_or(0, |v| v.extent_size);
                if let Some(lv) = state.lv_mut(vg, origin) {
                    lv.attr = lv.attr.with_type('o');
                }
                state.lvs.push(LvInfo {
                    vg: vg.clone(),
                    name: name.clone(),
                    uuid: String::new(),
                    size: extents.saturating_mul(extent_size),
                    attr: LvAttr::decode("swi-a-s---"),
                    origin: Some(origin.clone()),
                    data_percent: Some(Percent::from_hundredths(0)),
                    created: parse_snapshot_name(name).map(|(_, created)| created),
                });
                allocate(state, vg, i128::from(*extents), 1);
            }
            Self::RemoveSnapshot { vg, origin, name, .. } | Self::MergeSnapshot { vg, origin, name, .. } => {
                let Some(index) = state.lvs.iter().position(|lv| lv.vg == *vg && lv.name == *name) else { return };
                let removed = state.lvs.remove(index);
                let extent_size = state.vg(vg).map_or(1, |v| v.extent_size.max(1));
                allocate(state, vg, -i128::from(removed.size / extent_size), -1);
                let still_origin = state.lvs_of(vg).any(|lv| lv.origin.as_deref() == Some(origin.as_str()));
                if let Some(lv) = state.lv_mut(vg, origin).filter(|_| !still_origin) {
                    lv.attr = lv.attr.with_type('-');
                }
            }
        }
        state.sort();
    }
}

/// Moves an orphan PV into `vg`, with the extents lvm2 would give it.
fn join_vg(state: &mut LvmObserved, vg: &str, device: &AbsPath) {
    let Some(extent_size) = state.vg(vg).map(|v| v.extent_size) else { return };
    let Some(pv) = state.pvs.iter_mut().find(|pv| pv.name == device.to_string()) else { return };
    let extents = estimate_extents(pv.dev_size, pv.pe_start, extent_size);
    pv.vg = Some(vg.to_owned());
    pv.pe_count = extents;
    pv.size = extents.saturating_mul(extent_size);
    pv.free = pv.size;
    if let Some(info) = state.vg_mut(vg) {
        info.extent_count = info.extent_count.saturating_add(extents);
        info.free_count = info.free_count.saturating_add(extents);
        info.pv_count += 1;
        info.size = info.extent_count.saturating_mul(extent_size);
        info.free = info.free_count.saturating_mul(extent_size);
    }
}

/// Takes `extents` (negative: gives back) from `vg`'s free extents and adds `lvs` LVs.
fn allocate(state: &mut LvmObserved, vg: &str, extents: i128, lvs: i64) {
    if let Some(info) = state.vg_mut(vg) {
        let free = (i128::from(info.free_count) - extents).clamp(0, i128::from(info.extent_count));
        info.free_count = u64::try_from(free).unwrap_or(0);
        info.free = info.free_count.saturating_mul(info.extent_size);
        info.lv_count = info.lv_count.saturating_add_signed(lvs);
    }
}

impl jts_core::Step for LvmStep {
    type State = LvmObserved;
    type Error = crate::error::Error;

    /// LVM is host-wide: `root` changes nothing.
    fn info(&self, _root: &Root) -> StepInfo {
        StepInfo {
            kind: self.kind(),
            object: self.object(),
            description: self.description(),
            destructive: self.destructive(),
            commands: self.commands().iter().map(CmdSpec::to_shell).collect(),
            preconditions: self.preconditions(),
            drift: self.drift(),
        }
    }

    fn simulate(&self, state: &mut LvmObserved) {
        self.apply_to(state);
    }

    fn recheck(&self, ctx: &jts_core::Context<'_>) -> Result<(), Self::Error> {
        crate::apply::recheck(self, ctx.runner)
    }

    fn execute(&self, ctx: &jts_core::Context<'_>) -> Result<(), Self::Error> {
        for cmd in self.commands() {
            ctx.runner.run(&cmd)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use jts_core::{Context, RecordingRunner, Step};

    use super::*;

    fn dev(path: &str) -> AbsPath {
        AbsPath::new(path).unwrap()
    }

    #[test]
    fn sizes_are_written_as_lvm_reads_them() {
        assert_eq!(lvm_size(Size::from_bytes(4 << 20)), "4m");
        assert_eq!(lvm_size(Size::from_bytes(5 << 30)), "5g");
        assert_eq!(lvm_size(Size::from_bytes(2 << 40)), "2t");
        assert_eq!(lvm_size(Size::from_bytes(64 << 10)), "64k");
        assert_eq!(lvm_size(Size::from_bytes(1536 << 20)), "1536m");
        assert_eq!(lvm_size(Size::from_bytes(1000)), "1k", "rounded up to whole KiB");
    }

    #[test]
    fn info_shows_exactly_what_execute_runs() {
        let steps = [
            LvmStep::CreatePv {
                device: dev("/dev/vdc"),
                data_alignment: Size::from_bytes(4 << 20),
                wipe: vec![Signature { kind: "ext4".into(), offset: "0x438".into() }],
            },
            LvmStep::CreateVg {
                name: "vg_jts".into(),
                devices: vec![dev("/dev/vda"), dev("/dev/vdc")],
                extent_size: Size::from_bytes(4 << 20),
            },
            LvmStep::ExtendVg { vg: "vg_jts".into(), device: dev("/dev/vdb") },
            LvmStep::CreateLv {
                vg: "vg_jts".into(),
                name: "lv_pg".into(),
                extents: 100,
                extent_size: 4 << 20,
                filesystem: FsKind::Ext4,
            },
            LvmStep::ExtendLv {
                vg: "vg_jts".into(),
                name: "lv_pg".into(),
                from: 100,
                to: 120,
                extent_size: 4 << 20,
                filesystem: FsKind::Ext4,
            },
            LvmStep::ReduceLv {
                vg: "vg_jts".into(),
                name: "lv_kafka".into(),
                from: 50,
                to: 40,
                extent_size: 4 << 20,
                filesystem: FsKind::Xfs,
            },
            LvmStep::CreateSnapshot {
                vg: "vg_jts".into(),
                origin: "lv_pg".into(),
                name: "lv_pg-snap-20260101T000000Z".into(),
                size: Size::from_bytes(32 << 20),
                extents: 8,
            },
            LvmStep::RemoveSnapshot {
                vg: "vg_jts".into(),
                origin: "lv_pg".into(),
                name: "lv_pg-snap-20260101T000000Z".into(),
                reason: "invalid".into(),
            },
        ];
        let root = Root::host();
        let runner = RecordingRunner::new();
        let ctx = Context { root: &root, runner: &runner };
        let mut shown = Vec::new();
        for step in &steps {
            shown.extend(step.info(&root).commands);
            step.execute(&ctx).unwrap();
        }
        let ran: Vec<String> = runner.calls().iter().map(CmdSpec::to_shell).collect();
        assert_eq!(shown, ran);
        assert_eq!(
            ran,
            [
                "wipefs --all /dev/vdc",
                "pvcreate --dataalignment 4m /dev/vdc",
                "vgcreate --physicalextentsize 4m vg_jts /dev/vda /dev/vdc",
                "vgextend vg_jts /dev/vdb",
                "lvcreate --yes --wipesignatures y --zero y --activate y --extents 100 --name lv_pg vg_jts",
                "lvextend --extents 120 vg_jts/lv_pg",
                "lvreduce --yes --extents 40 vg_jts/lv_kafka",
                "lvcreate --snapshot --size 32m --name lv_pg-snap-20260101T000000Z vg_jts/lv_pg",
                "lvremove --yes vg_jts/lv_pg-snap-20260101T000000Z",
            ]
        );
        let destructive: Vec<(&str, String)> =
            steps.iter().filter(|s| s.destructive()).map(|s| (s.kind(), s.object())).collect();
        assert_eq!(destructive, [("CreatePv", "/dev/vdc".to_owned()), ("ReduceLv", "lv_kafka".to_owned())]);
        let info = steps[5].info(&root);
        assert!(
            info.description
                .contains("SHRINK logical volume vg_jts/lv_kafka (xfs filesystem) from 200MiB (50 extents)")
        );
        assert_eq!(steps[5].volume(), Some(("vg_jts", "lv_kafka", FsKind::Xfs)));
        assert_eq!(steps[0].info(&root).preconditions[1], "/dev/vdc has exactly these signatures: ext4 at 0x438");
    }
}
