//! Carrying out [`MountStep`]s: the fstab write, mkdir without following symlinks,
//! mount(2) for local filesystems, `mount` through the Runner for NFS.

use std::path::PathBuf;

use jts_core::nofollow::{FileKind, Lookup, create_dir_all, lookup, open_dir};
use jts_core::{AbsPath, CmdSpec, Context, Root, quote};
use nix::mount::MsFlags;

use crate::error::{Error, Result};
use crate::fstab::Fstab;
use crate::fstab_file::{read_fstab, write_fstab};
use crate::mountinfo::{mount_at, read_mountinfo};
use crate::observe::rebase;
use crate::options::{is_userspace_only, remountable};
use crate::spec::{IdentifyBy, MountSource, MountTarget};
use crate::step::MountStep;

/// `MS_NOSYMFOLLOW` (Linux 5.10), which nix does not name.
const MS_NOSYMFOLLOW: u64 = 256;

/// How a target is mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MountCall {
    /// mount(2): the flags the VFS takes, the rest as the filesystem's data string.
    Syscall {
        /// The device.
        source: String,
        /// The mount point on this machine (the call itself goes through an `O_PATH`
        /// descriptor of it, so no symlink is followed).
        target: PathBuf,
        /// `ext4`, `xfs` or `btrfs`.
        fstype: &'static str,
        /// `MS_*` flags.
        flags: MsFlags,
        /// Comma-separated filesystem options.
        data: String,
    },
    /// An external command (NFS).
    Command(CmdSpec),
}

impl MountCall {
    /// The call as one line for plans.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Syscall { source, target, fstype, flags, data } => format!(
                "mount(2) source={} target={} fstype={fstype} flags={flags:?} data={}",
                quote(source.as_ref()),
                quote(target.as_os_str()),
                quote(data.as_ref())
            ),
            Self::Command(cmd) => cmd.to_shell(),
        }
    }
}

/// Splits options into `MS_*` flags and the filesystem's data; userspace-only options
/// are dropped. For a remount, only options that can change on remount go in the data.
fn flags_and_data(target: &MountTarget, remount: bool) -> (MsFlags, String) {
    let mut flags = if remount { MsFlags::MS_REMOUNT } else { MsFlags::empty() };
    let mut data = Vec::new();
    let atime = MsFlags::MS_NOATIME | MsFlags::MS_RELATIME | MsFlags::MS_STRICTATIME;
    for option in target.options.iter().filter(|o| !is_userspace_only(o)) {
        let (set, clear) = match option.as_str() {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "noatime" => (MsFlags::MS_NOATIME, atime),
            "relatime" | "nostrictatime" => (MsFlags::MS_RELATIME, atime),
            "strictatime" | "atime" | "norelatime" => (MsFlags::MS_STRICTATIME, atime),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "lazytime" => (MsFlags::MS_LAZYTIME, MsFlags::empty()),
            "nolazytime" => (MsFlags::empty(), MsFlags::MS_LAZYTIME),
            "nosymfollow" => (MsFlags::from_bits_retain(MS_NOSYMFOLLOW), MsFlags::empty()),
            "mand" | "nomand" | "silent" | "loud" => continue,
            other => {
                if !remount || remountable(target.fs(), other) {
                    data.push(other.to_owned());
                }
                continue;
            }
        };
        flags.remove(clear);
        flags.insert(set);
    }
    (flags, data.join(","))
}

/// The call that mounts (or remounts) `target` under `root`.
pub(crate) fn mount_call(target: &MountTarget, root: &Root, remount: bool) -> MountCall {
    let at = root.resolve(&target.mount_point);
    match &target.source {
        MountSource::Block { device, .. } => {
            let (flags, data) = flags_and_data(target, remount);
            MountCall::Syscall { source: device.to_string(), target: at, fstype: target.fstype(), flags, data }
        }
        MountSource::Nfs { source } => {
            let options: Vec<&str> =
                target.options.iter().map(String::as_str).filter(|o| !is_userspace_only(o)).collect();
            let cmd = if remount {
                CmdSpec::new("mount").opt("-o", format!("remount,{}", options.join(","))).arg(&at)
            } else {
                let mut cmd = CmdSpec::new("mount").opt("-t", target.fstype());
                if !options.is_empty() {
                    cmd = cmd.opt("-o", options.join(","));
                }
                cmd.arg(source).arg(&at)
            };
            MountCall::Command(cmd)
        }
    }
}

fn is_mounted(root: &Root, target: &MountTarget) -> Result<bool> {
    Ok(mount_at(&rebase(root, read_mountinfo()?), &target.mount_point.to_string()).is_some())
}

/// Re-checks a step's preconditions against the machine as it is now.
pub(crate) fn recheck(step: &MountStep, ctx: &Context<'_>) -> Result<()> {
    let root = ctx.root;
    match step {
        MountStep::WriteFstab { old_text, .. } => {
            if read_fstab(root)? != *old_text {
                return Err(Error::Stale(format!(
                    "{} changed since it was observed",
                    root.dir().join("etc/fstab").display()
                )));
            }
        }
        MountStep::CreateMountPoint { path } => match lookup(root, path)? {
            Lookup::Missing => {}
            Lookup::Found(node) if node.kind() == FileKind::Directory => {}
            Lookup::Found(node) => return Err(Error::Stale(format!("{path} is now a {}", node.kind().name()))),
            Lookup::Blocked { at, kind } => return Err(Error::Stale(format!("{at} is now a {}", kind.name()))),
        },
        MountStep::Mount { target } => {
            open_dir(root, &target.mount_point)?;
            if is_mounted(root, target)? {
                return Err(Error::Stale(format!("something is now mounted on {}", target.mount_point)));
            }
            if let MountSource::Block { device, .. } = &target.source {
                use std::os::unix::fs::FileTypeExt;
                let block = std::fs::metadata(device.as_path()).is_ok_and(|m| m.file_type().is_block_device());
                if !block {
                    return Err(Error::Stale(format!("{device} is not a block device")));
                }
            }
        }
        MountStep::Remount { target, .. } => {
            if !is_mounted(root, target)? {
                return Err(Error::Stale(format!("{} is no longer mounted", target.mount_point)));
            }
        }
    }
    Ok(())
}

/// Carries a step out.
pub(crate) fn execute(step: &MountStep, ctx: &Context<'_>) -> Result<()> {
    let root = ctx.root;
    match step {
        MountStep::WriteFstab { new_text, pending, changed_lines, .. } => {
            let mut fstab = Fstab::parse(new_text);
            for id in pending {
                let signature = jts_fs::probe_signature(ctx.runner, id.device.as_path())?;
                let (what, value) = match id.by {
                    IdentifyBy::Label => ("LABEL", signature.and_then(|s| s.label)),
                    IdentifyBy::Uuid | IdentifyBy::Path => ("UUID", signature.and_then(|s| s.uuid)),
                };
                let value = value.ok_or_else(|| Error::NoIdentifier { device: id.device.as_path().into(), what })?;
                if let Some(mut entry) = fstab.get(&id.mount_point.to_string()).cloned() {
                    entry.source = format!("{what}={value}");
                    fstab.upsert(entry);
                }
            }
            let ours: Vec<&AbsPath> = changed_lines.iter().map(|line| &line.mount_point).collect();
            verify_lines(ctx, &fstab, &ours)?;
            write_fstab(root, &fstab)?;
        }
        MountStep::CreateMountPoint { path } => {
            create_dir_all(root, path, 0o755)?;
        }
        MountStep::Mount { target } => run(mount_call(target, root, false), root, target, ctx)?,
        MountStep::Remount { target, .. } => run(mount_call(target, root, true), root, target, ctx)?,
    }
    Ok(())
}

/// `findmnt --verify` of the lines a write changes, each target as this machine sees it
/// (under the root). They were mounted just before, so every source and target must
/// resolve: an `[E]` is a line that would fail at boot, and the write is refused.
fn verify_lines(ctx: &Context<'_>, fstab: &Fstab, ours: &[&AbsPath]) -> Result<()> {
    use std::io::Write;
    let mut candidate = String::new();
    for mount_point in ours {
        if let Some(mut entry) = fstab.get(&mount_point.to_string()).cloned() {
            entry.mount_point = ctx.root.resolve(mount_point).to_string_lossy().into_owned();
            candidate.push_str(&entry.render());
            candidate.push('\n');
        }
    }
    let mut file = tempfile::Builder::new()
        .prefix("jts-fstab-candidate")
        .tempfile()
        .map_err(|source| Error::Read { path: std::env::temp_dir(), source })?;
    file.write_all(candidate.as_bytes()).map_err(|source| Error::Read { path: file.path().to_path_buf(), source })?;
    let cmd = CmdSpec::new("findmnt").arg("--verify").arg("--tab-file").arg(file.path());
    match ctx.runner.run(&cmd) {
        Ok(_) => Ok(()),
        Err(jts_core::Error::Command(failure)) => {
            let mut reasons = Vec::new();
            let mut target = "";
            for line in failure.stdout.lines() {
                match line.trim_start().strip_prefix("[E] ") {
                    Some(reason) => reasons.push(format!("{target}: {reason}")),
                    None if !line.starts_with(' ') => target = line.trim(),
                    None => {}
                }
            }
            reasons.extend(failure.stderr.lines().filter(|l| l.contains("parse error")).map(str::to_owned));
            if reasons.is_empty() {
                reasons.push(failure.to_string());
            }
            Err(Error::FstabRejected { reasons: reasons.join("; ") })
        }
        Err(err) => Err(err.into()),
    }
}

fn run(call: MountCall, root: &Root, target: &MountTarget, ctx: &Context<'_>) -> Result<()> {
    match call {
        MountCall::Syscall { source, target: at, fstype, flags, data } => {
            // Through the O_PATH descriptor: a symlink swapped in after the check is
            // never followed.
            let node = open_dir(root, &target.mount_point)?;
            let data = (!data.is_empty()).then_some(data.as_str());
            let what = if flags.contains(MsFlags::MS_REMOUNT) { "remount" } else { "mount" };
            let source_arg = (!flags.contains(MsFlags::MS_REMOUNT)).then_some(source.as_str());
            nix::mount::mount(source_arg, &node.proc_path(), Some(fstype), flags, data)
                .map_err(|errno| Error::Mount { what, source_dev: source, target: at, errno })?;
            tracing::info!(target = %target.mount_point, what, "mounted");
        }
        MountCall::Command(cmd) => {
            ctx.runner.run(&cmd)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use jts_core::AbsPath;

    use super::*;
    use crate::spec::MountFs;

    fn target(fs: MountFs, options: &[&str]) -> MountTarget {
        let options = options.iter().map(|o| (*o).to_owned()).collect();
        let mp = AbsPath::new("/srv/x").unwrap();
        match fs {
            MountFs::Nfs => MountTarget::nfs("cold", "127.0.0.1:/", mp, options),
            _ => MountTarget::block("x", AbsPath::new("/dev/sdb").unwrap(), fs, mp, options),
        }
    }

    #[test]
    fn vfs_options_become_flags_and_the_rest_data() {
        let t = target(MountFs::Ext4, &["defaults", "noatime", "nodev", "commit=10", "data=ordered", "x-systemd.a"]);
        let (flags, data) = flags_and_data(&t, false);
        assert_eq!(flags, MsFlags::MS_NOATIME | MsFlags::MS_NODEV);
        assert_eq!(data, "commit=10,data=ordered");
        let (flags, data) = flags_and_data(&t, true);
        assert_eq!(flags, MsFlags::MS_REMOUNT | MsFlags::MS_NOATIME | MsFlags::MS_NODEV);
        assert_eq!(data, "commit=10", "data= cannot change on remount and is left out");
        let (flags, _) = flags_and_data(&target(MountFs::Xfs, &["noatime", "relatime"]), false);
        assert_eq!(flags, MsFlags::MS_RELATIME, "the last atime option wins");
    }

    #[test]
    fn a_line_findmnt_rejects_is_not_written_and_the_reason_is_named() {
        use crate::fstab::FstabEntry;
        let root = Root::new("/tmp/r").unwrap();
        let mut fstab = Fstab::parse("# fstab\n");
        fstab.upsert(FstabEntry::new("UUID=0a1b", "/data/pg", "ext4", &["noatime".into()]));
        let failure = jts_core::CmdFailure {
            command: "findmnt --verify".into(),
            status: "exited with status 1".into(),
            stderr: "\n0 parse errors, 1 error, 0 warnings\n".into(),
            stdout: "/tmp/r/data/pg\n   [ ] target exists\n   [E] unreachable on boot required source: UUID=0a1b\n"
                .into(),
        };
        let runner = jts_core::RecordingRunner::new().reply(Err(failure));
        let ctx = Context { root: &root, runner: &runner };
        let mp = AbsPath::new("/data/pg").unwrap();
        let err = verify_lines(&ctx, &fstab, &[&mp]).unwrap_err().to_string();
        assert!(err.contains("/tmp/r/data/pg: unreachable on boot required source: UUID=0a1b"), "{err}");
        assert!(err.contains("/etc/fstab was not changed"), "{err}");
        let call = runner.calls()[0].to_shell();
        assert!(call.starts_with("findmnt --verify --tab-file "), "{call}");
    }

    #[test]
    fn nfs_mounts_and_remounts_through_the_runner() {
        let root = Root::new("/tmp/r").unwrap();
        let t = target(MountFs::Nfs, &["vers=4.2", "hard", "_netdev", "nofail"]);
        let MountCall::Command(cmd) = mount_call(&t, &root, false) else { panic!() };
        assert_eq!(cmd.to_shell(), "mount -t nfs4 -o 'vers=4.2,hard' 127.0.0.1:/ /tmp/r/srv/x");
        let MountCall::Command(cmd) = mount_call(&t, &root, true) else { panic!() };
        assert_eq!(cmd.to_shell(), "mount -o 'remount,vers=4.2,hard' /tmp/r/srv/x");
    }
}
