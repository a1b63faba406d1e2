//! The plan of the whole host: each concern's steps composed in execution order, with
//! the refusals of the concerns and of consent.
//!
//! Order of execution: physical volumes, volume groups and logical volumes first, then
//! the filesystems on them, their fstab lines and mounts, then the rendered system
//! integration files ([`crate::render`]) and the timers among them enabled
//! ([`crate::timers`]), then accounts and directories (which may live on the mounts).

use std::collections::BTreeSet;
use std::path::Path;

use jts_core::{Drift, ManagedFile, Plan, PlanReport, Refusal, Root, SpecError, Step};
use jts_fs::{FsKind, FsObserved, FsStep};
use jts_lvm::LvmStep;

use crate::consent::refuse_without_consent;
use crate::observe::HostObserved;
use crate::render::{RENDERED_MODE, rendered_files};
use crate::spec::HostSpec;
use crate::step::HostStep;
use crate::targets::{formatted_devices, mount_targets};

/// How much a [`HostPlan`]'s report says about each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Every command of every step: what `plan` and `apply --dry-run` print.
    Commands,
    /// Without per-file commands ([`Step::brief`]): what an apply that runs, and
    /// `validate`, need; a million-file repair is then not described line by line.
    Brief,
}

/// A plan with its report (descriptions, commands, refusals) under a root.
#[derive(Debug)]
pub struct HostPlan {
    /// The steps to run and the refusals.
    pub plan: Plan<HostStep>,
    /// What `plan` prints: every step's description and commands, every refusal.
    pub report: PlanReport,
    /// What the plan leaves wrong but must not change: declared directories whose owner
    /// cannot reach them through an ancestor jts does not manage.
    pub warnings: Vec<String>,
}

/// Plans `spec` against `observed` and refuses every destructive step that the spec's
/// `allow_destroy` and the operator's `cli_allows` do not both name. A spec that does not
/// fit its disks is an error located in the spec file.
pub fn plan_with_consent(
    spec: &HostSpec,
    observed: &HostObserved,
    root: &Root,
    cli_allows: &[String],
    detail: Detail,
) -> Result<HostPlan, crate::ConfigError> {
    let mut plan = plan(spec, observed).map_err(|errors| spec.located(errors))?;
    let mut report = match detail {
        Detail::Commands => plan.report(root),
        Detail::Brief => plan.brief_report(root),
    };
    let refused = refuse_without_consent(&report.steps, &spec.allow_destroy, cli_allows);
    plan.refused.extend(refused.iter().cloned());
    report.refused.extend(refused);
    // What the steps leave, for the reach check: the contents of recursive directories
    // (a million entries, maybe) play no part in it and are not copied.
    let mut after = jts_perms::Observed {
        accounts: observed.perms.accounts.clone(),
        paths: observed.perms.paths.clone(),
        contents: Default::default(),
    };
    for step in &plan.steps {
        if let HostStep::Perms(step) = step {
            step.simulate(&mut after);
        }
    }
    let mut warnings: Vec<String> =
        jts_perms::unreachable(&spec.perms, &after).iter().map(ToString::to_string).collect();
    warnings.extend(crate::adopted::adoption_warnings(spec, observed));
    warnings.extend(observed.timers.last_run_failed.iter().map(|(service, result)| {
        format!("{service}: its last run failed ({result}); `journalctl -u {service}` says why")
    }));
    Ok(HostPlan { plan, report, warnings })
}

/// Every difference between the spec and the machine a plan found, as `validate` lists
/// them: each pending step's drift, and each refusal as a path that is not the directory
/// it should be.
pub fn drift(report: &PlanReport) -> Vec<Drift> {
    let steps = report.steps.iter().filter_map(|step| step.drift.clone());
    let refused = report.refused.iter().map(|r| Drift {
        object: r.object.clone(),
        path: r.path.clone(),
        expected: "directory".into(),
        actual: r.reason.clone(),
    });
    steps.chain(refused).collect()
}

/// Plans every concern in execution order. A spec that does not fit its disks is an
/// error located in the spec.
pub fn plan(spec: &HostSpec, observed: &HostObserved) -> Result<Plan<HostStep>, Vec<SpecError>> {
    let lvm = jts_lvm::plan(&spec.lvm, &observed.lvm).map_err(|err| err.spec_errors(&spec.lvm))?;
    let unmountable = options_the_filesystems_refuse(spec, &observed.fs);
    if !unmountable.is_empty() {
        return Err(unmountable);
    }
    let mut refused = lvm.refused.clone();
    refused.extend(shrink_refusals(&lvm.steps, &observed.fs));
    let grown: BTreeSet<&str> = lvm
        .steps
        .iter()
        .filter_map(|step| match step {
            LvmStep::ExtendLv { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    let fs = plan_filesystems(spec, &observed.fs, &grown);
    let mounts = jts_mounts::plan(&mount_targets(spec), &observed.mounts);
    refused.extend(mounts.refused);
    // Directories are planned against the state the mounts leave behind.
    let mut after_mounts = observed.clone();
    for step in &mounts.steps {
        HostStep::Mount(step.clone()).simulate(&mut after_mounts);
    }
    let rendered = rendered_files(spec);
    let files: Vec<ManagedFile> = rendered
        .iter()
        .filter_map(|file| ManagedFile::plan(&file.path, &file.contents, RENDERED_MODE, &observed.files))
        .collect();
    let units_written = files.iter().any(|file| file.path.as_path().starts_with("/etc/systemd/system"));
    let timers = if spec.systemd.enable_timers == Some(false) {
        None
    } else {
        crate::timers::plan_timers(&crate::units::timer_units(&rendered), &observed.timers, units_written)
    };
    let perms = jts_perms::plan(&spec.perms, &after_mounts.perms);
    refused.extend(perms.refused);
    let steps = lvm
        .steps
        .into_iter()
        .map(HostStep::Lvm)
        .chain(fs.into_iter().map(HostStep::Fs))
        .chain(mounts.steps.into_iter().map(HostStep::Mount))
        .chain(files.into_iter().map(HostStep::File))
        .chain(timers.map(HostStep::Timers))
        .chain(crate::sysctl::plan_sysctl(&spec.sysctl, &observed.sysctl).into_iter().map(HostStep::Sysctl))
        .chain(perms.steps.into_iter().map(HostStep::Perms))
        .collect();
    Ok(Plan { steps, refused })
}

/// Mount options the filesystem already on a device cannot take
/// ([`jts_fs::refused_by_features`]), located at its volume or `[filesystems.*]` entry:
/// the kernel would refuse the mount at apply, and the line at every boot.
fn options_the_filesystems_refuse(spec: &HostSpec, fs: &FsObserved) -> Vec<SpecError> {
    let mut errors = Vec::new();
    for target in mount_targets(spec) {
        let jts_mounts::MountSource::Block { device, .. } = &target.source else { continue };
        let Some(observed) = fs.get(device.as_path()) else { continue };
        let Some(kind) = observed.signature.as_ref().and_then(|s| s.kind()) else { continue };
        for (option, reason) in jts_fs::refused_by_features(kind, &observed.features, &target.options) {
            let (span, key) = declared_at(spec, &target.name);
            let message = format!(
                "mount option {option:?} cannot be used on {device}: {reason}; drop the option (set it in \
                 mount_options, or choose another preset, if the preset adds it), or give the filesystem a journal \
                 first (`tune2fs -O has_journal {device}` while it is unmounted)"
            );
            errors.push(SpecError::new(span, key, message));
        }
    }
    errors
}

/// Where the spec declares the mount `name` (an LV, or `filesystems.NAME`).
fn declared_at(spec: &HostSpec, name: &str) -> (Option<std::ops::Range<usize>>, String) {
    if let Some(fs) = name.strip_prefix("filesystems.").and_then(|n| spec.mounts.filesystems.get(n)) {
        return (Some(fs.span()), format!("{name}.mount_options"));
    }
    for (vg, spanned) in &spec.lvm.volume_groups {
        if let Some(volume) = spanned.get_ref().volumes.get(name) {
            return (Some(volume.span()), format!("volume_groups.{vg}.volumes.{name}.mount_options"));
        }
    }
    (None, name.to_owned())
}

/// Mkfs on volumes without a filesystem (over a different one only with consent: the
/// step is destructive) and growth where the volume grows or outgrew its filesystem.
fn plan_filesystems(spec: &HostSpec, fs: &FsObserved, grown: &BTreeSet<&str>) -> Vec<FsStep> {
    let mut steps = Vec::new();
    for (lv, device, format) in formatted_devices(spec) {
        let current = fs.get(&device);
        match current.and_then(|d| d.signature.as_ref()) {
            None => steps.push(FsStep::Mkfs { object: lv, device, format, overwrite: false }),
            Some(signature) if signature.kind() != Some(format.filesystem) => {
                steps.push(FsStep::Mkfs { object: lv, device, format, overwrite: true });
            }
            Some(_) if grown.contains(lv.as_str()) || current.is_some_and(jts_fs::DeviceFs::needs_grow) => {
                let mount_point = current.and_then(|d| d.mounted_at.clone());
                steps.push(FsStep::Grow { object: lv, device, kind: format.filesystem, mount_point });
            }
            Some(_) => {}
        }
    }
    steps
}

/// A volume is shrunk only when its filesystem can shrink: never XFS, ext4 only while
/// unmounted (lvm2's fsadm shrinks it first), btrfs not by jts.
fn shrink_refusals(steps: &[LvmStep], fs: &FsObserved) -> Vec<Refusal> {
    steps
        .iter()
        .filter_map(|step| match step {
            LvmStep::ReduceLv { vg, name, filesystem, .. } => Some((vg, name, *filesystem)),
            _ => None,
        })
        .filter_map(|(vg, name, kind)| {
            let device = jts_lvm::lv_path(vg, name);
            let mounted = fs.get(Path::new(&device)).and_then(|d| d.mounted_at.clone());
            let reason = match kind {
                FsKind::Btrfs => {
                    Some("jts does not shrink btrfs; shrink it with `btrfs filesystem resize` first".into())
                }
                kind => jts_fs::can_shrink(kind, mounted.is_some()).err(),
            }?;
            Some(Refusal {
                object: name.clone(),
                path: Some(device.into()),
                reason: format!("{name} ({kind}) cannot be shrunk: {reason}"),
                fix: "keep the volume's size in the spec, or move the data off and recreate the volume".into(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLANK_4TB: &str = r#"{"lvm":{"pvs":[],"vgs":[],"lvs":[],"devices":{"/dev/nvme0n1":{"present":true,"size":4000000000000,"signatures":[]}}},
        "perms":{"accounts":{"files_present":true,"users":{},"groups":{}},"paths":{}}}"#;

    fn example(edit: impl Fn(String) -> String) -> HostSpec {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hot-lvm.toml");
        let text = edit(std::fs::read_to_string(&path).unwrap());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("storage.toml");
        std::fs::write(&file, text).unwrap();
        crate::spec::load(&file).unwrap_or_else(|err| panic!("{:?}", err.lines()))
    }

    fn kinds(plan: &Plan<HostStep>) -> Vec<&'static str> {
        plan.steps.iter().map(|step| step.info(&Root::host()).kind).collect()
    }

    #[test]
    fn a_timer_whose_last_run_failed_is_a_warning_naming_its_journal() {
        let spec = example(|text| text);
        let mut state: HostObserved = serde_json::from_str(BLANK_4TB).unwrap();
        state.timers.live = true;
        state.timers.last_run_failed.insert("jts-health.service".into(), "exit-code".into());
        let planned = plan_with_consent(&spec, &state, &Root::host(), &[], Detail::Commands).unwrap();
        let warning = planned.warnings.iter().find(|w| w.contains("jts-health.service")).expect("a warning");
        assert!(warning.contains("exit-code") && warning.contains("journalctl -u jts-health.service"), "{warning}");
    }

    #[test]
    fn volumes_and_filesystems_converge_in_simulation() {
        let spec = example(|text| text);
        let mut state: HostObserved = serde_json::from_str(BLANK_4TB).unwrap();
        let first = plan(&spec, &state).unwrap();
        assert!(first.refused.is_empty(), "{:?}", first.refused);
        first.simulate(&mut state);
        let second = plan(&spec, &state).unwrap();
        assert!(second.steps.is_empty() && second.refused.is_empty(), "{:?}", kinds(&second));
    }

    #[test]
    fn growing_a_volume_grows_its_filesystem_then_converges() {
        let smaller = example(|text| text.replace("size = \"800GiB\"", "size = \"700GiB\""));
        let mut state: HostObserved = serde_json::from_str(BLANK_4TB).unwrap();
        plan(&smaller, &state).unwrap().simulate(&mut state);
        let spec = example(|text| text);
        let grow = plan(&spec, &state).unwrap();
        assert!(grow.refused.is_empty(), "{:?}", grow.refused);
        let kinds = kinds(&grow);
        assert!(kinds.contains(&"ExtendLv") && kinds.contains(&"GrowFs"), "{kinds:?}");
        assert!(kinds.contains(&"ReduceLv"), "the rest volume gives up the space: {kinds:?}");
        grow.simulate(&mut state);
        assert!(plan(&spec, &state).unwrap().steps.is_empty());
    }

    #[test]
    fn xfs_and_btrfs_volumes_are_never_shrunk() {
        let mut state: HostObserved = serde_json::from_str(BLANK_4TB).unwrap();
        plan(&example(|text| text), &state).unwrap().simulate(&mut state);
        let smaller = example(|text| text.replace("size = \"550GiB\"", "size = \"500GiB\""));
        let refused = plan(&smaller, &state).unwrap().refused;
        assert!(refused.iter().any(|r| r.object == "lv_kafka" && r.reason.contains("xfs")), "{refused:?}");
    }

    /// A spec of up to four volumes with random sizes (absolute, percent or rest) and
    /// filesystems on one disk, rendered as TOML like an operator would write it.
    fn random_spec() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let size = prop_oneof![(1u32..400).prop_map(|g| format!("{g}GiB")), (1u32..30).prop_map(|p| format!("{p}%"))];
        let fs = prop::sample::select(vec!["ext4", "xfs", "btrfs", "none"]);
        (prop::collection::vec((size, fs), 1..5), any::<bool>(), 0u32..20).prop_map(|(volumes, rest, reserve)| {
            let mut text =
                format!("version = 1\n[volume_groups.vg_t]\ndevices = [\"/dev/nvme0n1\"]\nreserve = \"{reserve}%\"\n");
            for (index, (size, fs)) in volumes.iter().enumerate() {
                let size = if rest && index == 0 { "rest" } else { size.as_str() };
                text.push_str(&format!(
                    "[volume_groups.vg_t.volumes.lv_{index}]\nsize = \"{size}\"\nfilesystem = \"{fs}\"\n"
                ));
            }
            text
        })
    }

    fn spec_from(text: &str) -> Option<HostSpec> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("storage.toml");
        std::fs::write(&file, text).unwrap();
        let spec = crate::spec::load(&file).ok()?;
        let (fs_errors, _) = crate::check_filesystems(&spec);
        (jts_lvm::check(&spec.lvm).is_empty() && fs_errors.is_empty()).then_some(spec)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 128, failure_persistence: None, ..Default::default() })]

        /// From a blank disk, and from the state another spec left behind, simulating the
        /// plan of LVM and filesystem steps leaves nothing to do.
        #[test]
        fn lvm_and_filesystem_plans_converge(before in random_spec(), after in random_spec()) {
            let mut state: HostObserved = serde_json::from_str(BLANK_4TB).unwrap();
            for text in [before, after] {
                let Some(spec) = spec_from(&text) else { continue };
                let Ok(first) = plan(&spec, &state) else { continue };
                if !first.refused.is_empty() {
                    continue;
                }
                first.simulate(&mut state);
                let second = plan(&spec, &state).expect("the state after a plan still fits");
                proptest::prop_assert!(second.steps.is_empty() && second.refused.is_empty(),
                    "not converged:\n{text}\n{:?}", kinds(&second));
            }
        }
    }
}
