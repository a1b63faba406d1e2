//! [`FsStep`]: making and growing filesystems, as plan steps.

use std::path::PathBuf;

use jts_core::{CmdSpec, Context, Drift, Root, Step, StepInfo};

use crate::error::{Error, Result};
use crate::format::FormatSpec;
use crate::grow::{fsck_command, grow_commands};
use crate::kind::FsKind;
use crate::mkfs::mkfs_command;
use crate::observe::{FsObserved, Signature, key, probe_signature};

/// One change to a filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsStep {
    /// Make a filesystem. Destructive when `overwrite` is set, that is when the device
    /// already carries a signature the operator consented to destroy.
    Mkfs {
        /// The object consent names: the volume name (`lv_kafka`) or the device.
        object: String,
        /// The block device.
        device: PathBuf,
        /// What to make.
        format: FormatSpec,
        /// Force mkfs over an existing signature.
        overwrite: bool,
    },
    /// Grow a filesystem to fill its (grown) device.
    Grow {
        /// The volume name or the device.
        object: String,
        /// The block device.
        device: PathBuf,
        /// The filesystem on it.
        kind: FsKind,
        /// Where it is mounted, if it is.
        mount_point: Option<PathBuf>,
    },
}

impl FsStep {
    /// The commands the step runs, in order; exactly what [`Step::info`] shows.
    pub fn commands(&self) -> Result<Vec<CmdSpec>> {
        match self {
            Self::Mkfs { device, format, overwrite, .. } => Ok(vec![mkfs_command(format, device, *overwrite)?]),
            Self::Grow { device, kind, mount_point, .. } => grow_commands(*kind, device, mount_point.as_deref()),
        }
    }

    fn device(&self) -> &PathBuf {
        match self {
            Self::Mkfs { device, .. } | Self::Grow { device, .. } => device,
        }
    }

    fn description(&self) -> String {
        match self {
            Self::Mkfs { device, format, overwrite, .. } => {
                let mut extras = Vec::new();
                if let Some(preset) = format.preset {
                    extras.push(format!("preset {preset}"));
                }
                if let Some(label) = &format.label {
                    extras.push(format!("label {label}"));
                }
                let extras = if extras.is_empty() { String::new() } else { format!(" ({})", extras.join(", ")) };
                let destroy = if *overwrite { ", destroying the signature on it" } else { "" };
                format!("make {}{extras} on {}{destroy}", format.filesystem, device.display())
            }
            Self::Grow { device, kind, mount_point, .. } => match mount_point {
                Some(at) => format!(
                    "grow {kind} on {} to fill the device (online, mounted at {})",
                    device.display(),
                    at.display()
                ),
                None => format!("grow {kind} on {} to fill the device (unmounted)", device.display()),
            },
        }
    }

    fn preconditions(&self) -> Vec<String> {
        match self {
            Self::Mkfs { device, overwrite: false, .. } => vec![format!("{} has no signature", device.display())],
            Self::Mkfs { device, overwrite: true, .. } => {
                vec![format!("{} exists; destroying its signature was consented to", device.display())]
            }
            Self::Grow { device, kind, mount_point, .. } => {
                let mut facts = vec![format!("{} carries {kind}", device.display())];
                facts.extend(mount_point.as_ref().map(|at| format!("it is mounted at {}", at.display())));
                facts
            }
        }
    }

    fn drift(&self) -> Drift {
        let (expected, actual) = match self {
            Self::Mkfs { format, overwrite, .. } => (
                format!("{} filesystem", format.filesystem),
                if *overwrite { "another signature".to_owned() } else { "no filesystem".to_owned() },
            ),
            Self::Grow { kind, .. } => {
                (format!("{kind} filling the device"), format!("{kind} smaller than the device"))
            }
        };
        Drift { object: self.object().to_owned(), path: Some(self.device().clone()), expected, actual }
    }

    fn object(&self) -> &str {
        match self {
            Self::Mkfs { object, .. } | Self::Grow { object, .. } => object,
        }
    }
}

impl Step for FsStep {
    type State = FsObserved;
    type Error = Error;

    fn info(&self, _root: &Root) -> StepInfo {
        StepInfo {
            kind: match self {
                Self::Mkfs { .. } => "Mkfs",
                Self::Grow { .. } => "GrowFs",
            },
            object: self.object().to_owned(),
            description: self.description(),
            destructive: matches!(self, Self::Mkfs { overwrite: true, .. }),
            commands: self.commands().map(|cmds| cmds.iter().map(CmdSpec::to_shell).collect()).unwrap_or_default(),
            preconditions: self.preconditions(),
            drift: Some(self.drift()),
        }
    }

    fn simulate(&self, state: &mut FsObserved) {
        let entry = state.devices.entry(key(self.device())).or_default();
        match self {
            Self::Mkfs { format, .. } => {
                let Some(fstype) = format.filesystem.blkid_type() else { return };
                entry.signature =
                    Some(Signature { fstype: fstype.to_owned(), uuid: None, label: format.label.clone() });
                entry.fs_size = entry.device_size;
            }
            Self::Grow { .. } => entry.fs_size = entry.device_size,
        }
    }

    fn recheck(&self, ctx: &Context<'_>) -> Result<()> {
        let device = self.device();
        let signature = probe_signature(ctx.runner, device)?;
        match (self, signature) {
            (Self::Mkfs { overwrite: false, .. }, Some(found)) => Err(Error::Stale(format!(
                "{} now carries a {} signature; mkfs would destroy it",
                device.display(),
                found.fstype
            ))),
            (Self::Mkfs { .. }, _) => Ok(()),
            (Self::Grow { kind, .. }, found) if found.as_ref().and_then(Signature::kind) != Some(*kind) => {
                let found = found.map_or_else(|| "no signature".to_owned(), |sig| sig.fstype);
                Err(Error::Stale(format!("{} carries {found}, not {kind}", device.display())))
            }
            (Self::Grow { .. }, _) => Ok(()),
        }
    }

    fn execute(&self, ctx: &Context<'_>) -> Result<()> {
        let fsck = fsck_command(self.device());
        for cmd in self.commands()? {
            match ctx.runner.run(&cmd) {
                Ok(_) => {}
                // e2fsck -p exits 1 when it corrected errors: the filesystem is now clean.
                Err(jts_core::Error::Command(failure)) if cmd == fsck && failure.status == "exited with status 1" => {
                    tracing::warn!(device = %self.device().display(), stderr = %failure.stderr, "e2fsck corrected errors");
                }
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use jts_core::{CmdFailure, CmdOutput, RecordingRunner};

    use super::*;
    use crate::kind::Preset;
    use crate::observe::DeviceFs;

    fn mkfs(overwrite: bool) -> FsStep {
        FsStep::Mkfs {
            object: "lv_postgres".into(),
            device: "/dev/vg_jts/lv_postgres".into(),
            format: FormatSpec::new(FsKind::Ext4).with_preset(Preset::Postgresql).with_label("jts-pg"),
            overwrite,
        }
    }

    fn grow(mount_point: Option<&str>) -> FsStep {
        FsStep::Grow {
            object: "lv_kafka".into(),
            device: "/dev/vg_jts/lv_kafka".into(),
            kind: FsKind::Ext4,
            mount_point: mount_point.map(PathBuf::from),
        }
    }

    fn root() -> Root {
        Root::default()
    }

    fn run(step: &FsStep, runner: &RecordingRunner) -> Result<()> {
        let root = root();
        step.execute(&Context { root: &root, runner })
    }

    fn recheck(step: &FsStep, runner: &RecordingRunner) -> Result<()> {
        let root = root();
        step.recheck(&Context { root: &root, runner })
    }

    fn no_signature() -> jts_core::Reply {
        Err(CmdFailure {
            command: "blkid".into(),
            status: "exited with status 2".into(),
            stderr: String::new(),
            stdout: String::new(),
        })
    }

    fn ext4_signature() -> jts_core::Reply {
        Ok(CmdOutput { stdout: "TYPE=ext4\n".into(), stderr: String::new() })
    }

    #[test]
    fn info_shows_exactly_what_execute_runs() {
        for step in [mkfs(false), mkfs(true), grow(None), grow(Some("/var/lib/kafka"))] {
            let info = step.info(&root());
            let runner = RecordingRunner::new();
            run(&step, &runner).unwrap();
            let ran: Vec<String> = runner.calls().iter().map(CmdSpec::to_shell).collect();
            assert_eq!(info.commands, ran, "{step:?}");
            assert!(!info.commands.is_empty());
        }
    }

    #[test]
    fn mkfs_is_destructive_only_over_a_signature() {
        let info = mkfs(false).info(&root());
        assert!(!info.destructive);
        assert_eq!(info.kind, "Mkfs");
        assert_eq!(info.object, "lv_postgres");
        assert_eq!(info.description, "make ext4 (preset postgresql, label jts-pg) on /dev/vg_jts/lv_postgres");
        assert_eq!(info.preconditions, ["/dev/vg_jts/lv_postgres has no signature"]);
        let info = mkfs(true).info(&root());
        assert!(info.destructive);
        assert!(info.commands[0].starts_with("mkfs.ext4 -q -F -L jts-pg"), "{}", info.commands[0]);
        assert!(!grow(None).info(&root()).destructive);
    }

    #[test]
    fn recheck_refuses_a_new_signature_without_consent() {
        assert!(recheck(&mkfs(false), &RecordingRunner::new().reply(no_signature())).is_ok());
        let err = recheck(&mkfs(false), &RecordingRunner::new().reply(ext4_signature())).unwrap_err();
        assert!(err.to_string().contains("now carries a ext4 signature"), "{err}");
        assert!(recheck(&mkfs(true), &RecordingRunner::new().reply(ext4_signature())).is_ok());
    }

    #[test]
    fn recheck_wants_the_filesystem_to_grow() {
        assert!(recheck(&grow(None), &RecordingRunner::new().reply(ext4_signature())).is_ok());
        let err = recheck(&grow(None), &RecordingRunner::new().reply(no_signature())).unwrap_err();
        assert!(err.to_string().contains("carries no signature, not ext4"), "{err}");
    }

    #[test]
    fn e2fsck_corrections_do_not_stop_the_grow() {
        let corrected = Err(CmdFailure {
            command: "e2fsck".into(),
            status: "exited with status 1".into(),
            stderr: "fixed".into(),
            stdout: String::new(),
        });
        let runner = RecordingRunner::new().reply(corrected);
        run(&grow(None), &runner).unwrap();
        assert_eq!(runner.calls().len(), 2);
        let broken = Err(CmdFailure {
            command: "e2fsck".into(),
            status: "exited with status 4".into(),
            stderr: String::new(),
            stdout: String::new(),
        });
        let runner = RecordingRunner::new().reply(broken);
        assert!(run(&grow(None), &runner).is_err());
        assert_eq!(runner.calls().len(), 1, "resize2fs must not run after an uncorrected e2fsck");
    }

    #[test]
    fn simulate_formats_and_grows() {
        let mut state = FsObserved::default();
        state
            .devices
            .insert("/dev/vg_jts/lv_postgres".into(), DeviceFs { device_size: Some(1 << 30), ..DeviceFs::default() });
        mkfs(false).simulate(&mut state);
        let fs = &state.devices["/dev/vg_jts/lv_postgres"];
        assert_eq!(fs.signature.as_ref().and_then(Signature::kind), Some(FsKind::Ext4));
        assert_eq!(fs.signature.as_ref().unwrap().label.as_deref(), Some("jts-pg"));
        assert_eq!(fs.fs_size, Some(1 << 30));
        state.devices.insert(
            "/dev/vg_jts/lv_kafka".into(),
            DeviceFs { fs_size: Some(1 << 30), device_size: Some(2 << 30), ..DeviceFs::default() },
        );
        assert!(state.devices["/dev/vg_jts/lv_kafka"].needs_grow());
        grow(None).simulate(&mut state);
        assert!(!state.devices["/dev/vg_jts/lv_kafka"].needs_grow());
    }

    #[test]
    fn a_raw_volume_step_shows_no_command_and_fails() {
        let step = FsStep::Mkfs {
            object: "lv_raw".into(),
            device: "/dev/vg/raw".into(),
            format: FormatSpec::new(FsKind::None),
            overwrite: false,
        };
        assert!(step.info(&root()).commands.is_empty());
        assert!(matches!(run(&step, &RecordingRunner::new()), Err(Error::RawVolume { .. })));
        let mut state = FsObserved::default();
        step.simulate(&mut state);
        assert_eq!(state.devices["/dev/vg/raw"].signature, None);
    }
}
