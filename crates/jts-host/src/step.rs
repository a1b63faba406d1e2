//! [`HostStep`]: one step of any concern, and how it changes the observed state.

use std::fmt;

use jts_core::{AbsPath, Context, ManagedFile, Root, Step, StepInfo, StepRecord};
use jts_fs::FsStep;
use jts_lvm::LvmStep;
use jts_mounts::MountStep;
use jts_perms::PermsStep;

use crate::observe::HostObserved;

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
    /// Rendered timers to enable (and on a live host, systemd to reload).
    Timers(crate::timers::EnableTimers),
    /// A kernel setting to apply now (a live host).
    Sysctl(crate::sysctl::SetSysctl),
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
    /// From enabling timers.
    Timers(jts_core::Error),
    /// From applying a kernel setting.
    Sysctl(jts_core::Error),
    /// From an account or directory step.
    Perms(jts_perms::Error),
}

impl fmt::Display for HostStepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Lvm(err) => err.fmt(f),
            Self::Fs(err) => err.fmt(f),
            Self::Mount(err) => err.fmt(f),
            Self::File(err) | Self::Timers(err) | Self::Sysctl(err) => err.fmt(f),
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
            Self::Timers(step) => step.info(root),
            Self::Sysctl(step) => step.info(root),
            Self::Perms(step) => step.info(root),
        }
    }

    fn brief(&self, root: &Root) -> StepInfo {
        match self {
            Self::Perms(step) => step.brief(root),
            _ => self.info(root),
        }
    }

    fn record(&self, root: &Root) -> StepRecord {
        match self {
            Self::Perms(step) => step.record(root),
            _ => {
                let StepInfo { kind, object, description, .. } = self.info(root);
                StepRecord { kind, object, description }
            }
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
            Self::Timers(step) => step.simulate(&mut state.timers),
            Self::Sysctl(step) => step.simulate(&mut state.sysctl),
            Self::Perms(step) => step.simulate(&mut state.perms),
        }
    }

    fn recheck(&self, ctx: &Context<'_>) -> Result<(), HostStepError> {
        match self {
            Self::Lvm(step) => step.recheck(ctx).map_err(HostStepError::Lvm),
            Self::Fs(step) => step.recheck(ctx).map_err(HostStepError::Fs),
            Self::Mount(step) => step.recheck(ctx).map_err(HostStepError::Mount),
            Self::File(step) => step.recheck(ctx).map_err(HostStepError::File),
            Self::Timers(step) => step.recheck(ctx).map_err(HostStepError::Timers),
            Self::Sysctl(step) => step.recheck(ctx).map_err(HostStepError::Sysctl),
            Self::Perms(step) => step.recheck(ctx).map_err(HostStepError::Perms),
        }
    }

    fn execute(&self, ctx: &Context<'_>) -> Result<(), HostStepError> {
        match self {
            Self::Lvm(step) => step.execute(ctx).map_err(HostStepError::Lvm),
            Self::Fs(step) => step.execute(ctx).map_err(HostStepError::Fs),
            Self::Mount(step) => step.execute(ctx).map_err(HostStepError::Mount),
            Self::File(step) => step.execute(ctx).map_err(HostStepError::File),
            Self::Timers(step) => step.execute(ctx).map_err(HostStepError::Timers),
            Self::Sysctl(step) => step.execute(ctx).map_err(HostStepError::Sysctl),
            Self::Perms(step) => step.execute(ctx).map_err(HostStepError::Perms),
        }
    }
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
