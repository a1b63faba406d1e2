//! `backup run`: one backup into one new archive, written under a temporary name,
//! synced, then renamed into place; nothing is left behind on failure.

use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use jts_core::nofollow::{self, FileKind, Lookup};
use jts_core::{AbsPath, Root, Runner, StateLock};
use nix::fcntl::{OFlag, RenameFlags, openat, renameat2};
use nix::sys::stat::Mode;
use nix::unistd::{UnlinkatFlags, unlinkat};
use serde::Serialize;

use crate::calendar::archive_id;
use crate::child::{Ended, command_as, run_streaming};
use crate::error::{Error, Result};
use crate::manifest::{FileTally, HookRecord, MANIFEST_FORMAT, Manifest, SourceIdentity};
use crate::names::{archive_name, parse_temp, scratch_names, spool_name, temp_name};
use crate::records::unnamed_file;
use crate::spec::{Backup, HookCommands, OnHookFailure, Source};
use crate::state;
use crate::volume::Volume;
use crate::write::ArchiveWriter;

/// What one backup run made.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The backup.
    pub backup: String,
    /// The new archive's id.
    pub id: String,
    /// The new archive.
    pub archive: PathBuf,
    /// Files archived.
    pub files: usize,
    /// Bytes of content read.
    pub bytes: u64,
    /// The archive's size on disk.
    pub archive_bytes: u64,
    /// Files that changed while they were read.
    pub changed: Vec<String>,
    /// Temporaries of interrupted runs that were removed first.
    pub cleaned: Vec<String>,
    /// What the hooks did.
    pub hooks: Vec<HookRecord>,
    /// What was read.
    pub source: SourceIdentity,
}

/// Takes the backup lock (`/var/lib/jts/backup/lock`) for `command`. While another
/// process holds it, tries again every second for up to `wait`, then fails naming the
/// holder.
pub fn lock(root: &Root, command: &str, wait: Duration) -> Result<StateLock> {
    Ok(StateLock::take_waiting(root, &AbsPath::new(state::STATE_DIR)?, "lock", 0o755, command, wait)?)
}

/// Opens `backup`'s `to` directory, refusing a symlink on the way.
pub(crate) fn open_to(root: &Root, backup: &Backup) -> Result<(OwnedFd, PathBuf)> {
    let path = root.resolve(&backup.to);
    match nofollow::lookup(root, &backup.to)? {
        Lookup::Missing => Err(Error::MissingDestination { backup: backup.name.clone(), path }),
        _ => Ok((nofollow::reopen_dir(&nofollow::open_dir(root, &backup.to)?)?, path)),
    }
}

/// Removes the temporaries of `backup`'s interrupted runs from `dir` (only names
/// [`parse_temp`] recognises, only regular files); returns their names.
fn clean_temporaries(dir: &OwnedFd, dir_path: &Path, backup: &str) -> Result<Vec<String>> {
    let mut cleaned = Vec::new();
    let listing =
        nix::dir::Dir::openat(dir, ".", OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|err| Error::io("read directory", dir_path, err))?;
    for entry in listing.into_iter() {
        let entry = entry.map_err(|err| Error::io("read directory", dir_path, err))?;
        let Ok(name) = entry.file_name().to_str() else { continue };
        if parse_temp(backup, name).is_none() {
            continue;
        }
        let stat = nix::sys::stat::fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
            .map_err(|err| Error::io("stat", dir_path.join(name), err))?;
        if FileKind::of(&stat) == FileKind::File {
            unlinkat(dir, name, UnlinkatFlags::NoRemoveDir)
                .map_err(|err| Error::io("remove", dir_path.join(name), err))?;
            tracing::info!(file = %dir_path.join(name).display(), "removed the temporary of an interrupted run");
            cleaned.push(name.to_owned());
        }
    }
    Ok(cleaned)
}

/// Runs `backup` now, as [`run`] does, and records how it went in its last-run file
/// ([`crate::state::record_run`]), which `health`'s backup check reads: what a front end
/// that runs backups calls. The outer error is a failure to record; the inner result is
/// the run's.
pub fn run_and_record(
    runner: &dyn Runner,
    root: &Root,
    backup: &Backup,
    now: SystemTime,
    progress: &dyn Fn(u64),
) -> Result<Result<RunReport>> {
    let result = run(runner, root, backup, now, progress);
    let outcome = result.as_ref().map(|report| report.archive.as_path()).map_err(ToString::to_string);
    crate::state::record_run(root, &backup.name, unix(SystemTime::now()), outcome)?;
    Ok(result)
}

/// Runs `backup` now: a new archive in its `to`. The caller holds [`lock`].
/// `progress` hears the bytes read so far.
///
/// `hooks.before` runs first; `hooks.after` runs whenever it ran, once the source is
/// read. A failed hook fails the backup when `on_hook_failure = "abort"`. A failed
/// source, or a failed hook that aborts, keeps no archive.
pub fn run(
    runner: &dyn Runner,
    root: &Root,
    backup: &Backup,
    now: SystemTime,
    progress: &dyn Fn(u64),
) -> Result<RunReport> {
    let (dir, to) = open_to(root, backup)?;
    let mut cleaned = clean_temporaries(&dir, &to, &backup.name)?;
    if let Source::Volume(source) = &backup.source {
        cleaned.extend(Volume { backup: &backup.name, source }.clean_leftovers(runner, root)?);
    }
    let started = unix(now);
    let id = archive_id(started);
    let final_name = archive_name(&backup.name, &id);
    if nix::sys::stat::fstatat(&dir, final_name.as_str(), nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW).is_ok() {
        return Err(Error::Source {
            backup: backup.name.clone(),
            what: format!(
                "{} already exists (a run finished within this second); run it again",
                to.join(&final_name).display()
            ),
        });
    }
    let target = Target { dir: &dir, to: &to, id: &id };
    let mut hooks = Vec::new();
    let hooks_spec = &backup.hooks;
    let (before, after) = (&hooks_spec.before, &hooks_spec.after);
    let abort = backup.on_hook_failure == OnHookFailure::Abort;
    if let Some(argv) = before {
        let record = run_hook("before", argv, hooks_spec);
        let failed = !record.ok;
        hooks.push(record.record);
        if failed && abort {
            let mut what = format!("hooks.before failed: {}", describe_hook(&hooks[0]));
            if let Some(argv) = after {
                let after = run_hook("after", argv, hooks_spec);
                what.push_str(&format!("; hooks.after ran: {}", describe_hook(&after.record)));
            }
            return Err(Error::Source { backup: backup.name.clone(), what });
        }
    }
    let after_hook = || after.as_ref().map(|argv| run_hook("after", argv, hooks_spec));
    let (manifest, archive_bytes) = write_archive(runner, root, backup, &target, started, progress, hooks, after_hook)?;
    Ok(RunReport {
        backup: backup.name.clone(),
        id,
        archive: to.join(final_name),
        files: manifest.files.files,
        bytes: manifest.files.bytes,
        archive_bytes,
        changed: manifest.changed,
        cleaned,
        hooks: manifest.hooks,
        source: manifest.source,
    })
}

/// Where a run writes: `to` (open), its path, and the new archive's id.
struct Target<'a> {
    dir: &'a OwnedFd,
    to: &'a Path,
    id: &'a str,
}

/// A hook's run, and whether it succeeded.
struct HookRun {
    record: HookRecord,
    ok: bool,
}

fn describe_hook(record: &HookRecord) -> String {
    let output = record.output.trim();
    let shown = if output.is_empty() { String::new() } else { format!(": {output}") };
    format!("`{}` {}{shown}", record.argv.join(" "), record.status)
}

/// Runs one hook as the hooks' user (or jts itself), within their timeout, its output
/// kept (the tail).
fn run_hook(phase: &str, argv: &[String], hooks: &HookCommands) -> HookRun {
    let mut output: Vec<u8> = Vec::new();
    let ended = match command_as(argv, hooks.user.as_deref()) {
        Ok(cmd) => run_streaming(&cmd, hooks.timeout.into(), &mut output).unwrap_or_else(|failed| Ended {
            status: format!("its output could not be kept: {}", failed.0),
            ok: false,
            stderr: String::new(),
            bytes: 0,
        }),
        Err(message) => Ended { status: message, ok: false, stderr: String::new(), bytes: 0 },
    };
    let mut text = String::from_utf8_lossy(&output).into_owned();
    if !ended.stderr.is_empty() {
        text.push_str(&ended.stderr);
    }
    let start = text.len().saturating_sub(4096);
    let start = (start..text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(0);
    tracing::info!(phase, status = %ended.status, "hook ran");
    HookRun {
        record: HookRecord {
            phase: phase.to_owned(),
            argv: argv.to_vec(),
            status: ended.status,
            output: text[start..].trim().to_owned(),
        },
        ok: ended.ok,
    }
}

/// Writes the archive of `backup` under its temporary name, the source read, the after
/// hook run, the manifest last; syncs and renames it. Removes the temporary (and a
/// dump's spool) on any failure.
#[allow(clippy::too_many_arguments, reason = "one call site; the pieces of one run")]
fn write_archive(
    runner: &dyn Runner,
    root: &Root,
    backup: &Backup,
    target: &Target<'_>,
    started: i64,
    progress: &dyn Fn(u64),
    mut hooks: Vec<HookRecord>,
    after_hook: impl FnOnce() -> Option<HookRun>,
) -> Result<(Manifest<FileTally>, u64)> {
    let temp = temp_name(&backup.name, target.id);
    let temp_path = target.to.join(&temp);
    let final_name = archive_name(&backup.name, target.id);
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = openat(target.dir, temp.as_str(), flags, Mode::from_bits_truncate(0o600))
        .map_err(|err| Error::io("create", &temp_path, err))?;
    let [records_name, manifest_name] = scratch_names(&backup.name, target.id);
    let result = (|| {
        let records = unnamed_file(target.dir, target.to, &records_name)?;
        let mut writer = ArchiveWriter::new(
            File::from(fd),
            records,
            temp_path.clone(),
            target.to.to_path_buf(),
            &backup.name,
            backup.level,
            progress,
        )?;
        let read = read_source(runner, root, backup, target, &mut writer);
        let after = after_hook();
        let source = read?;
        if let Some(after) = after {
            let failed = !after.ok;
            let what = format!("hooks.after failed: {}", describe_hook(&after.record));
            hooks.push(after.record);
            if failed && backup.on_hook_failure == OnHookFailure::Abort {
                return Err(Error::Source { backup: backup.name.clone(), what });
            }
        }
        let head = Manifest {
            format: MANIFEST_FORMAT,
            backup: backup.name.clone(),
            id: target.id.to_owned(),
            jts_version: env!("CARGO_PKG_VERSION").to_owned(),
            source,
            started,
            finished: unix(SystemTime::now()),
            files: (),
            changed: Vec::new(),
            hooks,
        };
        let (file, manifest) = writer.finish(head, unnamed_file(target.dir, target.to, &manifest_name)?)?;
        file.sync_all().map_err(|err| Error::io("fsync", &temp_path, err))?;
        let archive_bytes = file.metadata().map_err(|err| Error::io("stat", &temp_path, err))?.len();
        renameat2(target.dir, temp.as_str(), target.dir, final_name.as_str(), RenameFlags::RENAME_NOREPLACE)
            .map_err(|err| Error::io("rename", target.to.join(&final_name), err))?;
        nix::unistd::fsync(target.dir).map_err(|err| Error::io("fsync", target.to, err))?;
        Ok((manifest, archive_bytes))
    })();
    if result.is_err() {
        remove_quietly(target, &temp);
    }
    result
}

/// Removes one of this run's temporaries; one that cannot be removed is left for the
/// next run's cleanup.
fn remove_quietly(target: &Target<'_>, name: &str) {
    match unlinkat(target.dir, name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(nix::errno::Errno::ENOENT) => {}
        Err(err) => {
            tracing::warn!(file = %target.to.join(name).display(), "could not remove: {err}; the next run will")
        }
    }
}

/// Reads `backup`'s source into `writer`, returning its identity for the manifest.
fn read_source(
    runner: &dyn Runner,
    root: &Root,
    backup: &Backup,
    target: &Target<'_>,
    writer: &mut ArchiveWriter<'_>,
) -> Result<SourceIdentity> {
    match &backup.source {
        Source::Path { path } => {
            let source_dir = nofollow::open_dir(root, path).map_err(|err| Error::Source {
                backup: backup.name.clone(),
                what: format!("cannot open the source: {err}"),
            })?;
            writer.add_tree_fd(nofollow::reopen_dir(&source_dir)?, &root.resolve(path))?;
            Ok(SourceIdentity::Path { path: path.to_string() })
        }
        Source::Command { argv, user, member, timeout } => {
            let spool = spool_name(&backup.name, target.id);
            let result = dump(backup, target, &spool, argv, user.as_deref(), member, (*timeout).into(), writer);
            remove_quietly(target, &spool);
            result
        }
        Source::Volume(source) => Volume { backup: &backup.name, source }.read(runner, root, target.id, writer),
    }
}

/// Runs a `command` source into the spool file `spool` in `to`, then archives the spool
/// as `member`. A non-zero exit, a signal, a timeout or no output at all fails.
#[allow(clippy::too_many_arguments, reason = "one call site; the pieces of one dump")]
fn dump(
    backup: &Backup,
    target: &Target<'_>,
    spool: &str,
    argv: &[String],
    user: Option<&str>,
    member: &str,
    timeout: Duration,
    writer: &mut ArchiveWriter<'_>,
) -> Result<SourceIdentity> {
    let fail = |what: String| Error::Source { backup: backup.name.clone(), what };
    let cmd = command_as(argv, user).map_err(fail)?;
    let spool_path = target.to.join(spool);
    let flags = OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = openat(target.dir, spool, flags, Mode::from_bits_truncate(0o600))
        .map_err(|err| Error::io("create", &spool_path, err))?;
    let mut file = File::from(fd);
    let full = |err: std::io::Error| {
        if matches!(err.raw_os_error(), Some(c) if c == nix::errno::Errno::ENOSPC as i32 || c == nix::errno::Errno::EDQUOT as i32)
        {
            Error::DestinationFull { backup: backup.name.clone(), path: target.to.to_path_buf(), source: err }
        } else {
            Error::io("write", &spool_path, err)
        }
    };
    let ended = {
        let mut sink = std::io::BufWriter::with_capacity(1 << 20, &mut file);
        let ended = run_streaming(&cmd, timeout, &mut sink).map_err(|failed| full(failed.0))?;
        sink.flush().map_err(full)?;
        ended
    };
    let command = argv.join(" ");
    let stderr = if ended.stderr.is_empty() { String::new() } else { format!("; its stderr: {}", ended.stderr) };
    if !ended.ok {
        return Err(fail(format!("the dump `{command}` {}{stderr}", ended.status)));
    }
    if ended.bytes == 0 {
        return Err(fail(format!("the dump `{command}` printed nothing, which is no backup{stderr}")));
    }
    let stat = nix::sys::stat::fstat(&file).map_err(|err| Error::io("stat", &spool_path, err))?;
    writer.add_file(file, &stat, &spool_path, &format!("./{member}"))?;
    Ok(SourceIdentity::Command {
        argv: argv.to_vec(),
        user: user.map(str::to_owned),
        status: ended.status,
        stderr: ended.stderr,
    })
}

/// Unix seconds of `time`.
pub fn unix(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
