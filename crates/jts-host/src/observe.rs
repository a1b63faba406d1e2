//! What the machine has of everything the spec names: [`HostObserved`], read by
//! [`observe`] or from a state saved by `probe`, and the [`Observer`] apply uses.

use std::path::PathBuf;

use jts_core::{ObservedFiles, Root, Runner};
use jts_fs::FsObserved;
use jts_lvm::LvmObserved;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::render::rendered_files;
use crate::spec::HostSpec;
use crate::targets::{formatted_devices, mount_targets};

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
    /// Which rendered timers are enabled.
    #[serde(default)]
    pub timers: crate::timers::TimersObserved,
    /// The live values of the `[sysctl]` keys (a live host only).
    #[serde(default)]
    pub sysctl: crate::sysctl::SysctlObserved,
    /// Accounts and directories.
    pub perms: jts_perms::Observed,
}

/// Observes everything the spec names: what `probe` saves, to plan from elsewhere. LVM
/// tools run only when the spec has volume groups.
pub fn observe(spec: &HostSpec, root: &Root, runner: &dyn Runner) -> Result<HostObserved> {
    observe_with(spec, root, runner, jts_perms::observe)
}

/// [`observe`] for a plan made here and now: of the contents of `recursive` directories,
/// only the entries to fix are kept ([`jts_perms::observe_to_plan`] says why).
pub fn observe_to_plan(spec: &HostSpec, root: &Root, runner: &dyn Runner) -> Result<HostObserved> {
    observe_with(spec, root, runner, jts_perms::observe_to_plan)
}

fn observe_with(
    spec: &HostSpec,
    root: &Root,
    runner: &dyn Runner,
    perms: fn(&jts_perms::PermsSpec, &Root) -> jts_perms::Result<jts_perms::Observed>,
) -> Result<HostObserved> {
    let lvm =
        if spec.lvm.volume_groups.is_empty() { LvmObserved::default() } else { jts_lvm::observe(&spec.lvm, runner)? };
    let devices: Vec<PathBuf> = formatted_devices(spec).map(|(_, device, _)| device).filter(|d| d.exists()).collect();
    let fs = FsObserved::observe(runner, devices.iter().map(PathBuf::as_path))?;
    let targets = mount_targets(spec);
    let mounts =
        if targets.is_empty() { jts_mounts::Observed::default() } else { jts_mounts::observe(root, &targets, runner)? };
    let rendered = rendered_files(spec);
    let files = jts_core::observe_files(root, rendered.iter().map(|file| &file.path))?;
    let timers = crate::timers::observe_timers(root, &crate::units::timer_units(&rendered), runner)?;
    let sysctl = crate::sysctl::observe_sysctl(root, &spec.sysctl);
    Ok(HostObserved { lvm, fs, mounts, files, timers, sysctl, perms: perms(&spec.perms, root)? })
}

/// Where [`crate::apply()`] gets the machine's state from between its phases and to verify.
pub trait Observer {
    /// What the machine has now of everything `spec` names, as a plan needs it (the
    /// machine keeps only the entries to fix of `recursive` directories: [`observe_to_plan`]).
    fn observe(&self, spec: &HostSpec) -> Result<HostObserved>;

    /// What verification after an apply reads: by default [`Observer::observe`]. The
    /// machine leaves out the contents of `recursive` directories
    /// ([`jts_perms::observe_without_contents`] says why).
    fn observe_to_verify(&self, spec: &HostSpec) -> Result<HostObserved> {
        self.observe(spec)
    }
}

/// The machine itself under a root, observed through a runner.
#[derive(Clone, Copy)]
pub struct MachineObserver<'a> {
    /// The system observed.
    pub root: &'a Root,
    /// Runs the read-only tools (`pvs`, `blkid`, …).
    pub runner: &'a dyn Runner,
}

impl Observer for MachineObserver<'_> {
    fn observe(&self, spec: &HostSpec) -> Result<HostObserved> {
        observe_to_plan(spec, self.root, self.runner)
    }

    fn observe_to_verify(&self, spec: &HostSpec) -> Result<HostObserved> {
        observe_with(spec, self.root, self.runner, jts_perms::observe_without_contents)
    }
}

/// Reads a state saved by `jts-provision probe` (or written by hand, as the tests do).
pub fn read_state(file: &std::path::Path) -> Result<HostObserved> {
    let text =
        std::fs::read_to_string(file).map_err(|source| crate::Error::ReadState { file: file.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|source| crate::Error::BadState { file: file.to_path_buf(), source })
}
