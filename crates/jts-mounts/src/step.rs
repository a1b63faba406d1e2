//! [`MountStep`]: each change to fstab and mounts, with its description, commands and
//! simulated effect. Execution lives in [`crate::apply`].

use jts_core::{AbsPath, Drift, Root, StepInfo, quote};
use serde::{Deserialize, Serialize};

use crate::apply::{MountCall, mount_call};
use crate::fstab_file::FSTAB;
use crate::mountinfo::MountInfo;
use crate::options::{OptionDiff, simulated_options};
use crate::spec::{IdentifyBy, MountTarget};
use crate::state::{Observed, PathKind};

/// One fstab line the write changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangedLine {
    /// The mount point of the line.
    pub mount_point: AbsPath,
    /// The line before, if there was one.
    pub before: Option<String>,
    /// The line after.
    pub after: String,
}

/// A device identifier the fstab write reads right before writing, because the
/// filesystem did not exist when the plan was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingId {
    /// The line's mount point.
    pub mount_point: AbsPath,
    /// The device.
    pub device: AbsPath,
    /// What to read: UUID or label.
    pub by: IdentifyBy,
}

/// One change to fstab or the mount table. Nothing here unmounts or destroys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountStep {
    /// Write `/etc/fstab` once, with every edit, after a timestamped backup.
    WriteFstab {
        /// The text observed; the write is refused if the file changed since.
        old_text: Option<String>,
        /// The text to write (device paths stand for pending identifiers).
        new_text: String,
        /// The lines that change.
        changed_lines: Vec<ChangedLine>,
        /// Identifiers read with blkid right before writing.
        pending: Vec<PendingId>,
    },
    /// Create a mount point directory (and missing parents), `root:root 0755`, without
    /// following symlinks.
    CreateMountPoint {
        /// The directory.
        path: AbsPath,
    },
    /// Mount a target: mount(2) for local filesystems, mount.nfs for NFS.
    Mount {
        /// What to mount.
        target: MountTarget,
    },
    /// Change the options of a mounted target with a remount.
    Remount {
        /// The target with the options it should have.
        target: MountTarget,
        /// What differs now.
        diffs: Vec<OptionDiff>,
    },
}

impl MountStep {
    fn kind(&self) -> &'static str {
        match self {
            Self::WriteFstab { .. } => "WriteFstab",
            Self::CreateMountPoint { .. } => "CreateMountPoint",
            Self::Mount { .. } => "Mount",
            Self::Remount { .. } => "Remount",
        }
    }

    fn object(&self) -> String {
        match self {
            Self::WriteFstab { .. } => FSTAB.to_owned(),
            Self::CreateMountPoint { path } => path.to_string(),
            Self::Mount { target } | Self::Remount { target, .. } => format!("mount {}", target.mount_point),
        }
    }

    fn description(&self) -> String {
        match self {
            Self::WriteFstab { changed_lines, .. } => {
                let points: Vec<String> = changed_lines.iter().map(|l| l.mount_point.to_string()).collect();
                format!("write {FSTAB}: {} line(s) for {}", changed_lines.len(), points.join(", "))
            }
            Self::CreateMountPoint { path } => format!("create mount point {path} root:root 0755"),
            Self::Mount { target } => format!(
                "mount {} ({}) on {} with {}",
                target.what(),
                target.fstype(),
                target.mount_point,
                joined(&target.options)
            ),
            Self::Remount { target, diffs } => {
                let what: Vec<&str> = diffs.iter().map(|d| d.option.as_str()).collect();
                format!("remount {} to restore {}", target.mount_point, what.join(", "))
            }
        }
    }

    fn commands(&self, root: &Root) -> Vec<String> {
        let at = |path: &AbsPath| quote(root.resolve(path).as_os_str());
        match self {
            Self::WriteFstab { changed_lines, pending, .. } => {
                let fstab = quote(root.dir().join(&FSTAB[1..]).as_os_str());
                let mut lines =
                    vec![format!("cp --preserve=mode {fstab} {fstab}.jts-backup-<UTC timestamp> (if it exists)")];
                for id in pending {
                    let what = if id.by == IdentifyBy::Label { "LABEL" } else { "UUID" };
                    lines.push(format!(
                        "blkid -p -o export {} (read {what} for the {} line)",
                        id.device, id.mount_point
                    ));
                }
                for line in changed_lines {
                    match &line.before {
                        Some(before) => lines.push(format!("fstab: replace {before:?} with {:?}", line.after)),
                        None => lines.push(format!("fstab: append {:?}", line.after)),
                    }
                }
                lines.push(format!("write-atomic {fstab} (temp file, fsync, rename, fsync /etc)"));
                lines
            }
            Self::CreateMountPoint { path } => vec![format!("mkdir -p -m 0755 {} (no symlinks followed)", at(path))],
            Self::Mount { target } => vec![mount_call(target, root, false).describe()],
            Self::Remount { target, .. } => vec![mount_call(target, root, true).describe()],
        }
    }

    fn preconditions(&self, root: &Root) -> Vec<String> {
        let at = |path: &AbsPath| root.resolve(path).display().to_string();
        match self {
            Self::WriteFstab { old_text: Some(_), .. } => {
                vec![format!("{} is unchanged since it was observed", root.dir().join(&FSTAB[1..]).display())]
            }
            Self::WriteFstab { old_text: None, .. } => {
                vec![format!("{} does not exist", root.dir().join(&FSTAB[1..]).display())]
            }
            Self::CreateMountPoint { path } => {
                vec![format!("{} is missing or a directory, reached without symlinks", at(path))]
            }
            Self::Mount { target } => {
                let mut facts = vec![
                    format!("{} is a directory reached without symlinks", at(&target.mount_point)),
                    format!("nothing is mounted on {}", at(&target.mount_point)),
                ];
                if let MountCall::Syscall { .. } = mount_call(target, root, false) {
                    facts.push(format!("{} is a block device", target.what()));
                }
                facts
            }
            Self::Remount { target, .. } => {
                vec![format!("{} is mounted from {}", at(&target.mount_point), target.what())]
            }
        }
    }

    fn drift(&self) -> Drift {
        let path = match self {
            Self::WriteFstab { .. } => Some(std::path::PathBuf::from(FSTAB)),
            Self::CreateMountPoint { path } => Some(path.as_path().to_path_buf()),
            Self::Mount { target } | Self::Remount { target, .. } => Some(target.mount_point.as_path().to_path_buf()),
        };
        let (expected, actual) = match self {
            Self::WriteFstab { changed_lines, .. } => (
                changed_lines.iter().map(|l| l.after.clone()).collect::<Vec<_>>().join("\n"),
                changed_lines
                    .iter()
                    .map(|l| l.before.clone().unwrap_or_else(|| "no line".into()))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            Self::CreateMountPoint { .. } => ("directory".into(), "missing".into()),
            Self::Mount { target } => {
                (format!("{} mounted ({})", target.what(), joined(&target.options)), "not mounted".into())
            }
            Self::Remount { diffs, .. } => (
                diffs.iter().map(|d| format!("{}={}", d.option, d.expected)).collect::<Vec<_>>().join(", "),
                diffs.iter().map(|d| format!("{}={}", d.option, d.actual)).collect::<Vec<_>>().join(", "),
            ),
        };
        Drift { object: self.object(), path, expected, actual }
    }
}

fn joined(options: &[String]) -> String {
    if options.is_empty() { "defaults".into() } else { options.join(",") }
}

/// The mount a target gets, as the kernel would show it: for simulation.
fn simulated_mount(target: &MountTarget, state: &Observed) -> MountInfo {
    let (mount_options, super_options) = simulated_options(target.fs(), &target.options);
    let next_id = state.mounts.iter().map(|m| m.mount_id).max().unwrap_or(0) + 1;
    MountInfo {
        mount_id: next_id,
        parent_id: 0,
        major: 0,
        minor: 0,
        root: "/".into(),
        mount_point: target.mount_point.to_string(),
        mount_options,
        optional_fields: Vec::new(),
        fstype: target.fstype().to_owned(),
        source: target.what(),
        super_options,
    }
}

impl jts_core::Step for MountStep {
    type State = Observed;
    type Error = crate::error::Error;

    fn info(&self, root: &Root) -> StepInfo {
        StepInfo {
            kind: self.kind(),
            object: self.object(),
            description: self.description(),
            destructive: false,
            commands: self.commands(root),
            preconditions: self.preconditions(root),
            drift: Some(self.drift()),
        }
    }

    fn simulate(&self, state: &mut Observed) {
        match self {
            Self::WriteFstab { new_text, .. } => state.fstab = Some(new_text.clone()),
            Self::CreateMountPoint { path } => {
                state.paths.insert(path.clone(), PathKind::Directory);
            }
            Self::Mount { target } => {
                // What lies below the new mount is now on the new filesystem: unknown.
                for (path, kind) in state.paths.iter_mut() {
                    if path.ancestors().contains(&target.mount_point) {
                        *kind = PathKind::Missing;
                    }
                }
                let mount = simulated_mount(target, state);
                state.mounts.push(mount);
            }
            Self::Remount { target, .. } => {
                let fresh = simulated_mount(target, state);
                let at = target.mount_point.to_string();
                if let Some(mount) = state.mounts.iter_mut().rev().find(|m| m.mount_point == at) {
                    mount.mount_options = fresh.mount_options;
                    mount.super_options = fresh.super_options;
                }
            }
        }
    }

    fn recheck(&self, ctx: &jts_core::Context<'_>) -> Result<(), Self::Error> {
        crate::apply::recheck(self, ctx)
    }

    fn execute(&self, ctx: &jts_core::Context<'_>) -> Result<(), Self::Error> {
        crate::apply::execute(self, ctx)
    }
}
