//! The per-rule batch journal that makes a move resumable after `kill -9` or power loss.
//!
//! One JSON record per line, each `fdatasync`ed before the step it announces:
//!
//! | record | written | a restart finding it last |
//! |---|---|---|
//! | `begin` | before any temporary file is created | unlinks the batch's temporaries |
//! | `copied` | after the copies are durable and verified | renames them, then unlinks sources |
//! | `renamed` | after the final names are durable | unlinks the sources |
//!
//! Entries record each source's [`Identity`] as it was copied. A restart renames a copy
//! and unlinks its source only while the source still matches it; the copy of a source
//! that changed meanwhile is removed, from its temporary or from its final name, and the
//! source is left for the next run (`mover.rs` says how).
//! | `done` | after the unlinks are durable | nothing; the journal is emptied |
//!
//! A journal only ever holds its current batch: it is emptied after `done`, so its size
//! is bounded by one batch whatever the number of files moved. A rule has one journal per
//! batch in flight (`RULE.journal`, `RULE.journal-2`, `RULE.journal-3`). A torn last line
//! (a crash mid-write) is the same as no line: the step it announced never started.

use std::borrow::Cow;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use jts_core::{AbsPath, Root};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Where journals, the lock and the last-run status live (re-rooted under `--root`).
pub const STATE_DIR: &str = "/var/lib/jts/tier";

/// One file of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The source, relative to the rule's `from`.
    #[serde(with = "path_bytes")]
    pub source: PathBuf,
    /// The temporary copy, relative to the rule's `to`.
    #[serde(with = "path_bytes")]
    pub temp: PathBuf,
    /// The final name, relative to `to` (set in `copied`).
    #[serde(with = "path_bytes")]
    pub dest: PathBuf,
    /// The source's identity when it was copied: unlinked only if it still is that file.
    pub identity: Identity,
    /// Hex blake3 of the content (set in `copied`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// The destination already held this content; no copy was made.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

/// What identifies a source file, as the scan saw it and as it was copied: a source is
/// renamed into place and unlinked only while it still [matches](Identity::matches) this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, seconds.
    pub mtime: i64,
    /// Modification time, nanoseconds.
    pub mtime_nsec: i64,
    /// Status change time, seconds and nanoseconds: moved by every write, `chmod`, `chown`
    /// or xattr change, and by setting the mtime, so a rewrite that restores the size and
    /// the mtime still shows. Absent from journals written before it was recorded, and
    /// then not compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctime: Option<(i64, i64)>,
}

impl Identity {
    /// The identity of the file `stat` describes.
    pub fn of(stat: &nix::sys::stat::FileStat) -> Self {
        Self {
            dev: stat.st_dev,
            ino: stat.st_ino,
            size: u64::try_from(stat.st_size).unwrap_or(u64::MAX),
            mtime: stat.st_mtime,
            mtime_nsec: stat.st_mtime_nsec,
            ctime: Some((stat.st_ctime, stat.st_ctime_nsec)),
        }
    }

    /// Whether the file is still the one this identity recorded, `now` being its identity
    /// now: same inode, size and mtime, and the same ctime where both have one.
    pub fn matches(&self, now: &Self) -> bool {
        (self.dev, self.ino, self.size, self.mtime, self.mtime_nsec)
            == (now.dev, now.ino, now.size, now.mtime, now.mtime_nsec)
            && (self.ctime.is_none() || now.ctime.is_none() || self.ctime == now.ctime)
    }
}

/// One batch of a rule: where from, where to, which files (borrowed to be written,
/// owned once read back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch<'a> {
    /// Batch number within the run.
    pub number: u64,
    /// The rule's `from` when the batch began (a restart uses it even if the spec changed).
    pub from: AbsPath,
    /// The rule's `to` when the batch began.
    pub to: AbsPath,
    /// The compression of the copies (their content hash is of the uncompressed bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compress: Option<crate::rules::Compression>,
    /// The files.
    pub files: Cow<'a, [Entry]>,
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "lowercase")]
pub enum Record<'a> {
    /// Temporaries are about to be created (their names are in the entries).
    Begin(Batch<'a>),
    /// Temporaries are durable and verified; final names and hashes are set. Files
    /// skipped during the copy are left out.
    Copied(Batch<'a>),
    /// Final names are durable; these sources are to be unlinked.
    Renamed(Batch<'a>),
    /// Sources are unlinked, durably.
    Done {
        /// Batch number.
        batch: u64,
    },
}

/// The journal file of one rule.
#[derive(Debug)]
pub struct Journal {
    file: nix::fcntl::Flock<File>,
    path: PathBuf,
}

/// How long [`Journal::open`] waits for another holder of the journal to let go: a killed
/// run's process is gone in milliseconds, unless a dead NFS server holds it in the kernel.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl Journal {
    /// Opens (creating it and [`STATE_DIR`] if needed) and locks the journal of rule
    /// `rule`, waiting a little for a previous holder that is still going away.
    pub fn open(root: &Root, rule: &str) -> Result<Self> {
        Self::open_slot(root, rule, 0)
    }

    /// Opens journal number `slot` of rule `rule`: a rule has one per batch in flight,
    /// `RULE.journal`, `RULE.journal-2`, … (names of slot 0 all end in `.journal`, so no
    /// rule's slot 0 is another rule's slot 1).
    pub fn open_slot(root: &Root, rule: &str, slot: usize) -> Result<Self> {
        let state = AbsPath::new(STATE_DIR).map_err(Error::Core)?;
        let dir = jts_core::nofollow::create_dir_all(root, &state, 0o700)?;
        let dir = jts_core::nofollow::reopen_dir(&dir)?;
        let name = match slot {
            0 => format!("{rule}.journal"),
            n => format!("{rule}.journal-{}", n + 1),
        };
        let path = root.resolve(&state).join(&name);
        let flags = nix::fcntl::OFlag::O_RDWR
            | nix::fcntl::OFlag::O_CREAT
            | nix::fcntl::OFlag::O_APPEND
            | nix::fcntl::OFlag::O_NOFOLLOW
            | nix::fcntl::OFlag::O_CLOEXEC;
        let fd = nix::fcntl::openat(&dir, name.as_str(), flags, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .map_err(|err| Error::io("open", &path, err))?;
        // Whoever runs the rule holds its journal: never two batches of one rule at once.
        let started = std::time::Instant::now();
        let mut file = File::from(fd);
        let file = loop {
            match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
                Ok(locked) => break locked,
                Err((again, nix::errno::Errno::EWOULDBLOCK)) if started.elapsed() < LOCK_WAIT => {
                    file = again;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err((_, nix::errno::Errno::EWOULDBLOCK)) => return Err(Error::Locked { path }),
                Err((_, errno)) => return Err(Error::io("lock", &path, errno)),
            }
        };
        Ok(Self { file, path })
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The last record, unless it is `done` or the journal is empty: the batch a
    /// previous run left unfinished.
    pub fn unfinished(&mut self) -> Result<Option<Record<'static>>> {
        let mut text = String::new();
        self.file.seek(SeekFrom::Start(0)).map_err(|err| self.error(err))?;
        self.file.read_to_string(&mut text).map_err(|err| self.error(err))?;
        // Only complete lines count: a torn last line announced a step that never began.
        let complete = text.rfind('\n').map_or("", |end| &text[..=end]);
        if complete.len() < text.len() {
            // Cut the torn tail so the next record starts on a line of its own.
            let keep = complete.len() as u64;
            self.file.set_len(keep).and_then(|()| self.file.sync_data()).map_err(|err| self.error(err))?;
        }
        let Some(last) = complete.lines().rev().find(|line| !line.trim().is_empty()) else { return Ok(None) };
        let record: Record<'static> = serde_json::from_str(last).map_err(|err| Error::Journal {
            path: self.path.clone(),
            message: format!("unreadable record ({err}); move the file aside after checking its batch by hand"),
        })?;
        Ok((!matches!(record, Record::Done { .. })).then_some(record))
    }

    /// Appends `record` and makes it durable before returning.
    pub fn append(&mut self, record: &Record<'_>) -> Result<()> {
        let mut line = serde_json::to_vec(record).map_err(|err| self.error(err.into()))?;
        line.push(b'\n');
        self.file.write_all(&line).and_then(|()| self.file.sync_data()).map_err(|err| self.error(err))
    }

    /// Empties the journal (after `done`), durably.
    pub fn clear(&mut self) -> Result<()> {
        self.file.set_len(0).and_then(|()| self.file.sync_data()).map_err(|err| self.error(err))
    }

    fn error(&self, err: std::io::Error) -> Error {
        Error::Journal { path: self.path.clone(), message: err.to_string() }
    }
}

/// Paths as JSON strings when they are UTF-8, else as arrays of bytes: file names are
/// bytes on Linux and the journal must name every file exactly.
mod path_bytes {
    use std::ffi::OsString;
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    use std::path::{Path, PathBuf};

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Repr<'a> {
        Text(std::borrow::Cow<'a, str>),
        Bytes(Vec<u8>),
    }

    pub fn serialize<S: Serializer>(path: &Path, serializer: S) -> Result<S::Ok, S::Error> {
        match path.to_str() {
            Some(text) => Repr::Text(text.into()),
            None => Repr::Bytes(path.as_os_str().as_bytes().to_vec()),
        }
        .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<PathBuf, D::Error> {
        Ok(match Repr::deserialize(deserializer)? {
            Repr::Text(text) => PathBuf::from(text.into_owned()),
            Repr::Bytes(bytes) => PathBuf::from(OsString::from_vec(bytes)),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    use super::*;

    fn entry(name: &[u8]) -> Entry {
        Entry {
            source: PathBuf::from(OsStr::from_bytes(name)),
            temp: PathBuf::from(".jts-tmp.1.0"),
            dest: PathBuf::from(OsStr::from_bytes(name)),
            identity: Identity { dev: 1, ino: 2, size: 3, mtime: 4, mtime_nsec: 5, ctime: Some((6, 7)) },
            hash: None,
            duplicate: false,
        }
    }

    fn batch(number: u64, files: Vec<Entry>) -> Batch<'static> {
        let (from, to) = (AbsPath::new("/hot").unwrap(), AbsPath::new("/warm").unwrap());
        Batch { number, from, to, compress: None, files: files.into() }
    }

    #[test]
    fn records_round_trip_and_only_an_unfinished_batch_is_returned() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path()).unwrap();
        let mut journal = Journal::open(&root, "logs").unwrap();
        assert_eq!(journal.unfinished().unwrap(), None);
        let begin = Record::Begin(batch(1, vec![entry(b"a/b.log"), entry(b"caf\xe9.log")]));
        journal.append(&begin).unwrap();
        assert_eq!(journal.unfinished().unwrap(), Some(begin));
        journal.append(&Record::Done { batch: 1 }).unwrap();
        assert_eq!(journal.unfinished().unwrap(), None);
        journal.clear().unwrap();
        assert_eq!(std::fs::metadata(journal.path()).unwrap().len(), 0);
    }

    #[test]
    fn an_identity_without_ctime_from_an_older_journal_is_compared_without_it() {
        let old: Identity = serde_json::from_str(r#"{"dev":1,"ino":2,"size":3,"mtime":4,"mtime_nsec":5}"#).unwrap();
        assert_eq!(old.ctime, None);
        let now = Identity { ctime: Some((6, 7)), ..old };
        assert!(old.matches(&now) && now.matches(&old));
        assert!(now.matches(&now));
        assert!(!now.matches(&Identity { ctime: Some((6, 8)), ..now }), "a ctime change is a change");
        assert!(!old.matches(&Identity { size: 4, ..now }), "so is a size change, ctime or not");
        let text = serde_json::to_string(&now).unwrap();
        assert!(text.ends_with(r#""ctime":[6,7]}"#), "{text}");
        assert_eq!(serde_json::from_str::<Identity>(&text).unwrap(), now);
    }

    #[test]
    fn a_torn_last_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path()).unwrap();
        let mut journal = Journal::open(&root, "logs").unwrap();
        let begin = Record::Begin(batch(7, vec![entry(b"x")]));
        journal.append(&begin).unwrap();
        let path = journal.path().to_path_buf();
        let mut file = File::options().append(true).open(&path).unwrap();
        file.write_all(br#"{"phase":"copied","batch":7,"fi"#).unwrap();
        drop(journal); // the run that tore the line ends, and lets go of the journal
        let mut journal = Journal::open(&root, "logs").unwrap();
        assert_eq!(journal.unfinished().unwrap(), Some(begin));
        journal.append(&Record::Done { batch: 7 }).unwrap();
        assert_eq!(journal.unfinished().unwrap(), None, "the torn tail was cut, so `done` is a line of its own");
    }
}
