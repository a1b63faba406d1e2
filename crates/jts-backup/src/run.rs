//! `backup run`: one backup into one new archive, written under a temporary name,
//! synced, then renamed into place; nothing is left behind on failure.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use jts_core::nofollow::{self, FileKind, Lookup};
use jts_core::{AbsPath, Root, StateLock};
use nix::fcntl::{OFlag, RenameFlags, openat, renameat2};
use nix::sys::stat::Mode;
use nix::unistd::{UnlinkatFlags, unlinkat};
use serde::Serialize;

use crate::calendar::archive_id;
use crate::error::{Error, Result};
use crate::manifest::{MANIFEST_FORMAT, Manifest, SourceIdentity};
use crate::names::{archive_name, parse_temp, temp_name};
use crate::spec::{Backup, Source};
use crate::state;
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
}

/// Takes the backup lock (`/var/lib/jts/backup/lock`), naming its holder if taken.
pub fn lock(root: &Root, command: &str) -> Result<StateLock> {
    Ok(StateLock::take(root, &AbsPath::new(state::STATE_DIR)?, "lock", 0o755, command)?)
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

/// Runs `backup` now: a new archive in its `to`. The caller holds [`lock`].
/// `progress` hears the bytes read so far.
pub fn run(root: &Root, backup: &Backup, now: SystemTime, progress: &dyn Fn(u64)) -> Result<RunReport> {
    let source_path = match &backup.source {
        Source::Path { path } => path.clone(),
        Source::Volume { .. } | Source::Command { .. } => {
            return Err(Error::Source {
                backup: backup.name.clone(),
                what: format!(
                    "{} sources are not supported by this version yet; use a `path` source",
                    backup.source.kind()
                ),
            });
        }
    };
    let (dir, to) = open_to(root, backup)?;
    let cleaned = clean_temporaries(&dir, &to, &backup.name)?;
    let started = unix(now);
    let id = archive_id(started);
    let final_name = archive_name(&backup.name, &id);
    let temp = temp_name(&backup.name, &id);
    let temp_path = to.join(&temp);
    if nix::sys::stat::fstatat(&dir, final_name.as_str(), nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW).is_ok() {
        return Err(Error::Source {
            backup: backup.name.clone(),
            what: format!(
                "{} already exists (a run finished within this second); run it again",
                to.join(&final_name).display()
            ),
        });
    }
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = openat(&dir, temp.as_str(), flags, Mode::from_bits_truncate(0o600))
        .map_err(|err| Error::io("create", &temp_path, err))?;
    let result = (|| {
        let mut writer =
            ArchiveWriter::new(File::from(fd), temp_path.clone(), to.clone(), &backup.name, backup.level, progress)?;
        let source_dir = nofollow::open_dir(root, &source_path).map_err(|err| Error::Source {
            backup: backup.name.clone(),
            what: format!("cannot open the source: {err}"),
        })?;
        writer.add_tree_fd(nofollow::reopen_dir(&source_dir)?, &root.resolve(&source_path))?;
        let (files, changed) = writer.take_records();
        let manifest = Manifest {
            format: MANIFEST_FORMAT,
            backup: backup.name.clone(),
            id: id.clone(),
            jts_version: env!("CARGO_PKG_VERSION").to_owned(),
            source: SourceIdentity::Path { path: source_path.to_string() },
            started,
            finished: unix(SystemTime::now()),
            files,
            changed,
            hooks: Vec::new(),
        };
        let file = writer.finish(&manifest)?;
        file.sync_all().map_err(|err| Error::io("fsync", &temp_path, err))?;
        let archive_bytes = file.metadata().map_err(|err| Error::io("stat", &temp_path, err))?.len();
        renameat2(&dir, temp.as_str(), &dir, final_name.as_str(), RenameFlags::RENAME_NOREPLACE)
            .map_err(|err| Error::io("rename", to.join(&final_name), err))?;
        nix::unistd::fsync(&dir).map_err(|err| Error::io("fsync", &to, err))?;
        Ok((manifest, archive_bytes))
    })();
    match result {
        Ok((manifest, archive_bytes)) => Ok(RunReport {
            backup: backup.name.clone(),
            id,
            archive: to.join(final_name),
            files: manifest.files.len(),
            bytes: manifest.bytes(),
            archive_bytes,
            changed: manifest.changed,
            cleaned,
        }),
        Err(err) => {
            if let Err(remove) = unlinkat(&dir, temp.as_str(), UnlinkatFlags::NoRemoveDir) {
                tracing::warn!(file = %temp_path.display(), "could not remove the temporary: {remove}; the next run will");
            }
            Err(err)
        }
    }
}

/// Unix seconds of `time`.
pub fn unix(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
