//! The host: each concern's observed state and steps, composed into one plan.
//!
//! Order of execution: physical volumes, volume groups and logical volumes first, then
//! the filesystems on them, their fstab lines and mounts, then the rendered system
//! integration files ([`crate::render`]), then accounts and directories (which may live
//! on the mounts).

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use jts_core::{AbsPath, Context, ManagedFile, ObservedFiles, Plan, Refusal, Root, Runner, SpecError, Step, StepInfo};
use jts_fs::{FormatSpec, FsKind, FsObserved, FsStep};
use jts_lvm::{LvmObserved, LvmStep, VolumeSpec};
use jts_mounts::{MountFs, MountStep, MountTarget};
use jts_perms::PermsStep;
use serde::{Deserialize, Serialize};

use crate::config::HostSpec;
use crate::render::{RENDERED_MODE, rendered_files};

/// Everything observed on the machine that the spec talks about.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HostObserved {
    /// PVs, VGs, LVs and the spec's devices.
    #[serde(default)]
    pub lvm: LvmObserved,
    /// What is on each volume the spec formats.
    #[serde(default)]
    pub fs: FsObserved,
    /// fstab, the mounts, and the devices and mount points the spec names.
    #[serde(default)]
    pub mounts: jts_mounts::Observed,
    /// The current contents of each rendered system integration file (`null`: missing).
    #[serde(default)]
    pub files: ObservedFiles,
    /// Accounts and directories.
    pub perms: jts_perms::Observed,
}

/// One step of any concern.
#[derive(Debug, Clone)]
pub enum HostStep {
    /// An LVM change.
    Lvm(LvmStep),
    /// A filesystem change.
    Fs(FsStep),
    /// An fstab or mount change.
    Mount(MountStep),
    /// A rendered system integration file (unit drop-in, timer, udev rule) to write.
    File(ManagedFile),
    /// An account or directory change.
    Perms(PermsStep),
}

/// A step failure of any concern.
#[derive(Debug)]
pub enum HostStepError {
    /// From an LVM step.
    Lvm(jts_lvm::Error),
    /// From a filesystem step.
    Fs(jts_fs::Error),
    /// From an fstab or mount step.
    Mount(jts_mounts::Error),
    /// From writing a rendered file.
    File(jts_core::Error),
    /// From an account or directory step.
    Perms(jts_perms::Error),
}

impl fmt::Display for HostStepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Lvm(err) => err.fmt(f),
            Self::Fs(err) => err.fmt(f),
            Self::Mount(err) => err.fmt(f),
            Self::File(err) => err.fmt(f),
            Self::Perms(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for HostStepError {}

impl Step for HostStep {
    type State = HostObserved;
    type Error = HostStepError;

    fn info(&self, root: &Root) -> StepInfo {
        match self {
            Self::Lvm(step) => step.info(root),
            Self::Fs(step) => step.info(root),
            Self::Mount(step) => step.info(root),
            Self::File(step) => step.info(root),
            Self::Perms(step) => step.info(root),
        }
    }

    fn simulate(&self, state: &mut HostObserved) {
        match self {
            Self::Lvm(step) => step.simulate(&mut state.lvm),
            Self::Fs(step) => step.simulate(&mut state.fs),
            Self::Mount(step) => {
                step.simulate(&mut state.mounts);
                match step {
                    MountStep::CreateMountPoint { path } => created_by_mkdir_p(&mut state.perms, path),
                    MountStep::Mount { target } => fresh_mount_root(&mut state.perms, &target.mount_point),
                    _ => {}
                }
            }
            Self::File(step) => step.simulate(&mut state.files),
            Self::Perms(step) => step.simulate(&mut state.perms),
        }
    }

    fn recheck(&self, ctx: &Context<'_>) -> Result<(), HostStepError> {
        match self {
            Self::Lvm(step) => step.recheck(ctx).map_err(HostStepError::Lvm),
            Self::Fs(step) => step.recheck(ctx).map_err(HostStepError::Fs),
            Self::Mount(step) => step.recheck(ctx).map_err(HostStepError::Mount),
            Self::File(step) => step.recheck(ctx).map_err(HostStepError::File),
            Self::Perms(step) => step.recheck(ctx).map_err(HostStepError::Perms),
        }
    }

    fn execute(&self, ctx: &Context<'_>) -> Result<(), HostStepError> {
        match self {
            Self::Lvm(step) => step.execute(ctx).map_err(HostStepError::Lvm),
            Self::Fs(step) => step.execute(ctx).map_err(HostStepError::Fs),
            Self::Mount(step) => step.execute(ctx).map_err(HostStepError::Mount),
            Self::File(step) => step.execute(ctx).map_err(HostStepError::File),
            Self::Perms(step) => step.execute(ctx).map_err(HostStepError::Perms),
        }
    }
}

/// The format the spec asks for on a volume; `None` for a raw volume.
pub fn format_of(volume: &VolumeSpec) -> Option<FormatSpec> {
    (volume.filesystem != FsKind::None).then(|| FormatSpec {
        filesystem: volume.filesystem,
        preset: volume.preset,
        mkfs_options: volume.mkfs_options.clone(),
        label: volume.label.clone(),
    })
}

/// Checks the spec's filesystems and mounts against the rules tables (mkfs arguments,
/// labels, sizes given in absolute terms, mount and NFS options, mount points);
/// warnings are returned apart from errors.
pub fn check_filesystems(spec: &HostSpec) -> (Vec<SpecError>, Vec<String>) {
    let volumes = volume_mount_targets(spec);
    let mut errors = jts_mounts::check(&spec.mounts, &volumes);
    let mut warnings: Vec<String> =
        jts_mounts::check_warnings(&spec.mounts, &volumes).iter().map(ToString::to_string).collect();
    for (vg_name, vg) in &spec.lvm.volume_groups {
        for (lv, volume) in &vg.get_ref().volumes {
            let Some(format) = format_of(volume.get_ref()) else { continue };
            let size = match volume.get_ref().size {
                jts_lvm::SizeRequest::Size(size) => Some(size.bytes()),
                _ => None,
            };
            for problem in jts_fs::check_filesystem(&format, &volume.get_ref().mount_options, size) {
                let key = format!("volume_groups.{vg_name}.volumes.{lv}");
                match problem.severity {
                    jts_fs::Severity::Error => {
                        errors.push(SpecError::new(Some(volume.span()), key, problem.to_string()))
                    }
                    jts_fs::Severity::Warning => warnings.push(format!("{key}: {problem}")),
                }
            }
        }
    }
    (errors, warnings)
}

/// Observes everything the spec names. LVM tools run only when the spec has volume groups.
pub fn observe(spec: &HostSpec, root: &Root, runner: &dyn Runner) -> anyhow::Result<HostObserved> {
    let lvm =
        if spec.lvm.volume_groups.is_empty() { LvmObserved::default() } else { jts_lvm::observe(&spec.lvm, runner)? };
    let devices: Vec<PathBuf> = formatted_devices(spec).map(|(_, device, _)| device).filter(|d| d.exists()).collect();
    let fs = FsObserved::observe(runner, devices.iter().map(PathBuf::as_path))?;
    let targets = mount_targets(spec);
    let mounts =
        if targets.is_empty() { jts_mounts::Observed::default() } else { jts_mounts::observe(root, &targets, runner)? };
    let files = jts_core::observe_files(root, rendered_files(spec).iter().map(|file| &file.path))?;
    Ok(HostObserved { lvm, fs, mounts, files, perms: jts_perms::observe(&spec.perms, root)? })
}

/// Each device the spec formats: its object name (LV or `filesystems.NAME`), device
/// path and format.
fn formatted_devices(spec: &HostSpec) -> impl Iterator<Item = (String, PathBuf, FormatSpec)> + '_ {
    let volumes = spec.lvm.volumes().filter_map(|(vg, lv, volume)| {
        format_of(volume).map(|format| (lv.to_owned(), PathBuf::from(jts_lvm::lv_path(vg, lv)), format))
    });
    let filesystems = spec.mounts.filesystems.iter().map(|(name, fs)| {
        let fs = fs.get_ref();
        let format = FormatSpec {
            filesystem: *fs.filesystem.get_ref(),
            preset: fs.preset,
            mkfs_options: fs.mkfs_options.clone(),
            label: fs.label.as_ref().map(|label| label.get_ref().clone()),
        };
        (format!("filesystems.{name}"), fs.device.get_ref().as_path().to_path_buf(), format)
    });
    volumes.chain(filesystems)
}

/// Every mount the spec asks for: `[filesystems.*]`, `[nfs_mounts.*]` and volumes with a
/// `mount_point`.
pub fn mount_targets(spec: &HostSpec) -> Vec<MountTarget> {
    let mut targets = spec.mounts.targets();
    targets.extend(volume_mount_targets(spec));
    targets
}

/// Every managed mount with its tier for health checks: volumes are `hot`, a
/// `[filesystems.NAME]` or `[nfs_mounts.NAME]` is tier `NAME` (e.g. `warm`, `cold`).
pub fn health_targets(spec: &HostSpec) -> Vec<(String, MountTarget)> {
    let named = spec.mounts.targets().into_iter().map(|target| {
        let tier = target.name.rsplit('.').next().unwrap_or("other").to_owned();
        (tier, target)
    });
    named.chain(volume_mount_targets(spec).into_iter().map(|target| ("hot".to_owned(), target))).collect()
}

/// The whole health config of the spec, paths under `root`: the managed mounts (NFS ones
/// with a TCP connect to their server), the volume groups and their snapshots when there
/// are any, the `[health.directory_budgets]` directories (tier: the mount they are on), and
/// the tier-run age when there are `[[rules]]` (the mover's status file under `root`).
pub fn health_config(spec: &HostSpec, root: &Root) -> Result<jts_health::HealthConfig, jts_health::Error> {
    let levels = &spec.health_levels;
    let mut builder = jts_health::HealthConfig::builder()
        .thresholds(spec.health)
        .timeout(spec.probe_timeout)
        .directory_budget(levels.directory_time_budget);
    let targets = health_targets(spec);
    for (tier, target) in &targets {
        let mut target = target.clone();
        target.mount_point = AbsPath::new(root.resolve(&target.mount_point))?;
        builder = builder.mount(jts_health::MountCheck::from_target(tier, &target));
    }
    if !spec.lvm.volume_groups.is_empty() {
        let mut lvm = jts_health::LvmCheck::new(spec.lvm.volume_groups.keys());
        lvm.vg_free = levels.vg_free;
        lvm.snapshot_fill = levels.snapshot_fill;
        lvm.timeout = Some(levels.lvm_timeout);
        builder = builder.lvm(lvm);
    }
    for (path, budget) in &levels.directory_budgets {
        let tier = targets
            .iter()
            .filter(|(_, t)| path.as_path().starts_with(t.mount_point.as_path()))
            .max_by_key(|(_, t)| t.mount_point.as_path().components().count())
            .map_or("other", |(tier, _)| tier.as_str());
        let resolved = root.resolve(path);
        let resolved =
            resolved.to_str().ok_or_else(|| jts_health::Error::InvalidConfig(format!("{path}: not UTF-8")))?;
        builder = builder.directory(jts_health::DirectoryCheck::new(tier, resolved, *budget)?.name_as(path));
    }
    if !spec.rules.is_empty() {
        let status_file = AbsPath::new(jts_health::DEFAULT_STATUS_FILE)?;
        builder = builder.tier_run(jts_health::TierRunCheck {
            status_file: root.resolve(&status_file),
            warn_age: levels.tier_run_ages.0,
            crit_age: levels.tier_run_ages.1,
        });
    }
    builder.build()
}

/// The mounts of logical volumes that have a `mount_point`.
fn volume_mount_targets(spec: &HostSpec) -> Vec<MountTarget> {
    spec.lvm
        .volumes()
        .filter_map(|(vg, lv, volume)| {
            let mount_point = volume.mount_point.clone()?;
            let fs = MountFs::local(volume.filesystem)?;
            let device = AbsPath::new(jts_lvm::lv_path(vg, lv)).ok()?;
            let options = jts_fs::effective_mount_options(volume.preset, volume.filesystem, &volume.mount_options);
            Some(MountTarget::block(lv, device, fs, mount_point, options))
        })
        .collect()
}

/// `mkdir -p` of a mount point leaves it and its missing ancestors `root:root 0755`.
fn created_by_mkdir_p(perms: &mut jts_perms::Observed, path: &AbsPath) {
    for dir in path.ancestors().into_iter().chain(std::iter::once(path.clone())) {
        let state = perms.paths.entry(dir).or_insert(jts_perms::PathState::Missing);
        if *state == jts_perms::PathState::Missing {
            *state = jts_perms::PathState::Directory(fresh_root_dir());
        }
    }
}

fn fresh_root_dir() -> jts_perms::DirState {
    jts_perms::DirState { uid: 0, gid: 0, mode: jts_perms::Mode::new(0o755), acl: Vec::new(), default_acl: Vec::new() }
}

/// A freshly mounted filesystem's root replaces whatever was at its mount point: as far
/// as the directory planner can know, it is `root:root 0755` with nothing below it.
fn fresh_mount_root(perms: &mut jts_perms::Observed, mount_point: &AbsPath) {
    let below = |path: &AbsPath| path.as_path().starts_with(mount_point.as_path()) && path != mount_point;
    perms.paths.retain(|path, _| !below(path));
    perms.contents.retain(|path, _| !below(path) && path != mount_point);
    perms.paths.insert(mount_point.clone(), jts_perms::PathState::Directory(fresh_root_dir()));
}

/// Plans every concern in execution order. A spec that does not fit its disks is an
/// error located in the spec.
pub fn plan(spec: &HostSpec, observed: &HostObserved) -> Result<Plan<HostStep>, Vec<SpecError>> {
    let lvm = jts_lvm::plan(&spec.lvm, &observed.lvm).map_err(|err| err.spec_errors(&spec.lvm))?;
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
    let files = rendered_files(spec)
        .into_iter()
        .filter_map(|file| ManagedFile::plan(&file.path, &file.contents, RENDERED_MODE, &observed.files));
    let perms = jts_perms::plan(&spec.perms, &after_mounts.perms);
    refused.extend(perms.refused);
    let steps = lvm
        .steps
        .into_iter()
        .map(HostStep::Lvm)
        .chain(fs.into_iter().map(HostStep::Fs))
        .chain(mounts.steps.into_iter().map(HostStep::Mount))
        .chain(files.map(HostStep::File))
        .chain(perms.steps.into_iter().map(HostStep::Perms))
        .collect();
    Ok(Plan { steps, refused })
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
        crate::config::load(&file).unwrap_or_else(|err| panic!("{:?}", err.lines())).0
    }

    fn kinds(plan: &Plan<HostStep>) -> Vec<&'static str> {
        plan.steps.iter().map(|step| step.info(&Root::host()).kind).collect()
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
        let spec = crate::config::load(&file).ok()?.0;
        let (fs_errors, _) = check_filesystems(&spec);
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
