//! Finding a backup's archives wherever they lie: its `to`, and every directory where
//! `[[rules]]` move them ([`Locations`]). Each archive is read only at its footer.

use std::path::PathBuf;

use jts_core::Root;
use jts_core::nofollow::{self, FileKind, Lookup};
use serde::Serialize;

use crate::calendar::parse_archive_id;
use crate::error::{Error, Result};
use crate::footer::read_footer;
use crate::manifest::FileTally;
use crate::names::{Locations, parse_archive};
use crate::state::VerifyRecord;

/// One archive found.
#[derive(Debug, Clone, Serialize)]
pub struct ArchiveInfo {
    /// The backup.
    pub backup: String,
    /// Its id (UTC time, `YYYYMMDDTHHMMSSZ`).
    pub id: String,
    /// When it was taken (Unix seconds).
    pub time: i64,
    /// Where it lies.
    pub path: PathBuf,
    /// Its size on disk.
    pub size: u64,
    /// Its inode, to make sure prune removes the file it listed.
    #[serde(skip)]
    pub inode: (u64, u64),
    /// The location (spec path) it lies in.
    #[serde(skip)]
    pub dir: Option<jts_core::AbsPath>,
    /// Files in it (from its footer), if the footer could be read.
    pub files: Option<usize>,
    /// Bytes of content in it.
    pub bytes: Option<u64>,
    /// Why its footer could not be read: such an archive is never pruned.
    pub problem: Option<String>,
    /// Its last verification.
    pub verified: Option<VerifyRecord>,
}

/// The archive `id` of `archives` (as [`list_archives`] found them), or the newest, among
/// those whose footer could be read; `None` when there is none.
pub fn choose_archive<'a>(archives: &'a [ArchiveInfo], id: Option<&str>) -> Option<&'a ArchiveInfo> {
    let mut readable = archives.iter().filter(|a| a.problem.is_none());
    match id {
        Some(id) => readable.rfind(|a| a.id == id),
        None => readable.next_back(),
    }
}

/// Every archive of `backup` in `locations`, oldest first; a location that does not
/// exist holds none. `to` itself must exist.
pub fn list_archives(root: &Root, backup: &str, locations: &Locations) -> Result<Vec<ArchiveInfo>> {
    let mut found = Vec::new();
    let records = crate::state::read_verified(root);
    for (index, dir) in locations.dirs.iter().enumerate() {
        let path = root.resolve(dir);
        let node = match nofollow::lookup(root, dir)? {
            Lookup::Found(node) if node.kind() == FileKind::Directory => node,
            Lookup::Missing if index > 0 => continue,
            Lookup::Missing => return Err(Error::MissingDestination { backup: backup.to_owned(), path }),
            _ => nofollow::open_dir(root, dir)?,
        };
        let fd = nofollow::reopen_dir(&node)?;
        let listing = nix::dir::Dir::from_fd(fd).map_err(|err| Error::io("read directory", &path, err))?;
        for entry in listing.into_iter() {
            let entry = entry.map_err(|err| Error::io("read directory", &path, err))?;
            let Ok(name) = entry.file_name().to_str() else { continue };
            let Some(id) = parse_archive(backup, name) else { continue };
            let file_path = path.join(name);
            let Some(child) = node.child(std::ffi::OsStr::new(name))? else { continue };
            if child.kind() != FileKind::File {
                continue;
            }
            let stat = child.stat();
            let (files, bytes, problem) = match std::fs::File::open(child.proc_path())
                .map_err(|err| Error::io("open", &file_path, err))
                .and_then(|mut file| read_footer::<FileTally>(&mut file, &file_path))
            {
                Ok(manifest) => (Some(manifest.files.files), Some(manifest.files.bytes), None),
                Err(err) => (None, None, Some(err.to_string())),
            };
            found.push(ArchiveInfo {
                backup: backup.to_owned(),
                time: parse_archive_id(&id).unwrap_or(0),
                verified: records.get(backup).and_then(|r| r.get(&id)).cloned(),
                id,
                path: file_path,
                size: u64::try_from(stat.st_size).unwrap_or(0),
                inode: (stat.st_dev, stat.st_ino),
                dir: Some(dir.clone()),
                files,
                bytes,
                problem,
            });
        }
    }
    found.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.path.cmp(&b.path)));
    Ok(found)
}
