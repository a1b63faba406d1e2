//! The pure planner: `plan(&[MountTarget], &Observed) -> Plan<MountStep>`. No I/O.

use jts_core::{Plan, Refusal};

use crate::fstab::{Fstab, FstabEntry};
use crate::mountinfo::{MountInfo, mount_at};
use crate::options::compare_options;
use crate::spec::{IdentifyBy, MountFs, MountSource, MountTarget};
use crate::state::{Observed, PathKind};
use crate::step::{ChangedLine, MountStep, PendingId};

/// Plans the steps that take `observed` to the `targets`, mounted and in fstab.
///
/// Order: for each target from the top down (parents before children)
/// `CreateMountPoint` and `Mount`, or `Remount` for drifted options that a remount can
/// change; then one `WriteFstab` for every fstab edit. A line is written only after its
/// filesystem mounted with exactly the line's options, so a mount the kernel refuses
/// stops the apply before fstab changes and can never hold up the next boot. Nothing is
/// ever unmounted: a mount from the wrong device, or drift that needs a fresh mount, is
/// refused with the way out.
pub fn plan(targets: &[MountTarget], observed: &Observed) -> Plan<MountStep> {
    let mut targets: Vec<&MountTarget> = targets.iter().collect();
    targets.sort_by(|a, b| a.mount_point.names().cmp(b.mount_point.names()));
    let mut plan = Plan::default();
    let mut state = observed.clone();
    for target in &targets {
        plan_mount(target, &mut state, &mut plan);
    }
    if let Some(step) = plan_fstab(&targets, observed) {
        push(&mut plan, &mut state, step);
    }
    plan
}

fn push(plan: &mut Plan<MountStep>, state: &mut Observed, step: MountStep) {
    use jts_core::Step;
    step.simulate(state);
    plan.steps.push(step);
}

/// The fstab line of `target`, and the identifier still to be read when the device has
/// no filesystem yet (it is made earlier in the same apply): the line then names the
/// device path until the step reads the UUID or label.
pub fn fstab_entry(target: &MountTarget, observed: &Observed) -> (FstabEntry, Option<PendingId>) {
    let mount_point = target.mount_point.to_string();
    let (source, pending, passno) = match &target.source {
        MountSource::Nfs { source } => (source.clone(), None, 0),
        MountSource::Block { device, filesystem, identify_by } => {
            let ids = observed.devices.get(device);
            let known = match identify_by {
                IdentifyBy::Uuid => ids.and_then(|i| i.uuid.as_ref()).map(|uuid| format!("UUID={uuid}")),
                IdentifyBy::Label => ids.and_then(|i| i.label.as_ref()).map(|label| format!("LABEL={label}")),
                IdentifyBy::Path => Some(device.to_string()),
            };
            // fsck.btrfs does nothing; Debian gives btrfs pass 0.
            let passno = if *filesystem == MountFs::Btrfs { 0 } else { 2 };
            match known {
                Some(source) => (source, None, passno),
                None => {
                    let pending =
                        PendingId { mount_point: target.mount_point.clone(), device: device.clone(), by: *identify_by };
                    (device.to_string(), Some(pending), passno)
                }
            }
        }
    };
    (FstabEntry::new(&source, &mount_point, target.fstype(), &target.options).with_passno(passno), pending)
}

fn plan_fstab(targets: &[&MountTarget], observed: &Observed) -> Option<MountStep> {
    let old = observed.fstab.clone().unwrap_or_default();
    let mut fstab = Fstab::parse(&old);
    let mut changed_lines = Vec::new();
    let mut pending = Vec::new();
    for target in targets {
        let (entry, id) = fstab_entry(target, observed);
        let mount_point = target.mount_point.to_string();
        let before = fstab.line_of(&mount_point).map(str::to_owned);
        if fstab.upsert(entry) {
            let after = fstab.line_of(&mount_point).unwrap_or_default().to_owned();
            changed_lines.push(ChangedLine { mount_point: target.mount_point.clone(), before, after });
        }
        pending.extend(id);
    }
    (!changed_lines.is_empty()).then(|| MountStep::WriteFstab {
        old_text: observed.fstab.clone(),
        new_text: fstab.render(),
        changed_lines,
        pending,
    })
}

fn refusal(target: &MountTarget, reason: String, fix: String) -> Refusal {
    Refusal {
        object: format!("mount {}", target.mount_point),
        path: Some(target.mount_point.as_path().to_path_buf()),
        reason,
        fix,
    }
}

fn plan_mount(target: &MountTarget, state: &mut Observed, plan: &mut Plan<MountStep>) {
    let mp = &target.mount_point;
    let Some(mount) = mount_at(&state.mounts, &mp.to_string()).cloned() else {
        match state.paths.get(mp).unwrap_or(&PathKind::Missing) {
            PathKind::Blocked { what } => {
                let reason = format!("cannot mount on {mp}: there is a {what}, which jts never follows");
                plan.refused.push(refusal(target, reason, format!("make {mp} a plain directory")));
                return;
            }
            PathKind::Missing => push(plan, state, MountStep::CreateMountPoint { path: mp.clone() }),
            PathKind::Directory => {}
        }
        if let Some(reason) = wrong_filesystem(target, state) {
            plan.refused.push(refusal(target, reason, "make the filesystem the spec names first".into()));
            return;
        }
        push(plan, state, MountStep::Mount { target: target.clone() });
        return;
    };
    if let Some(reason) = mounted_elsewhere(target, &mount, state) {
        let fix = format!("umount {mp} by hand, then re-run apply; jts never unmounts");
        plan.refused.push(refusal(target, reason, fix));
        return;
    }
    let diffs = compare_options(target.fs(), &target.options, &mount);
    if diffs.is_empty() {
        return;
    }
    let fixed: Vec<&str> = diffs.iter().filter(|d| !d.remountable).map(|d| d.option.as_str()).collect();
    if fixed.is_empty() {
        push(plan, state, MountStep::Remount { target: target.clone(), diffs });
    } else {
        let what: Vec<String> =
            diffs.iter().map(|d| format!("{}: expected {}, found {}", d.option, d.expected, d.actual)).collect();
        plan.refused.push(refusal(
            target,
            format!("mount options drifted ({}); {} cannot change on remount", what.join("; "), fixed.join(", ")),
            format!("umount {mp} by hand when its users are stopped, then re-run apply to mount it afresh"),
        ));
    }
}

/// Why the device cannot be mounted as the target says, if it holds another filesystem.
fn wrong_filesystem(target: &MountTarget, state: &Observed) -> Option<String> {
    let MountSource::Block { device, .. } = &target.source else { return None };
    let found = state.devices.get(device)?.fstype.as_deref()?;
    (found != target.fstype()).then(|| format!("{device} holds {found}, but the spec mounts it as {}", target.fstype()))
}

/// Why the mount at the target's mount point is not the target's, if it is not.
fn mounted_elsewhere(target: &MountTarget, mount: &MountInfo, state: &Observed) -> Option<String> {
    let same_source = match &target.source {
        MountSource::Nfs { source } => mount.source.trim_end_matches('/') == source.trim_end_matches('/'),
        MountSource::Block { device, filesystem, .. } => {
            let ids = state.devices.get(device);
            mount.source == device.to_string()
                || ids.and_then(|i| i.canonical.as_deref()) == Some(mount.source.as_str())
                // btrfs shows an anonymous device number, so only its source path counts.
                || (*filesystem != MountFs::Btrfs && ids.and_then(|i| i.devno.clone()) == Some(mount.devno()))
        }
    };
    let same_type = mount.fstype == target.fstype();
    if same_source && same_type {
        return None;
    }
    Some(format!(
        "{} is mounted from {} ({}), but the spec mounts {} ({})",
        target.mount_point,
        mount.source,
        mount.fstype,
        target.what(),
        target.fstype()
    ))
}
