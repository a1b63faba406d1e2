//! The manifest's per-file records, spooled to an unnamed temporary file beside the
//! archive as they are made and read back while the manifest is serialized, so that a
//! backup of millions of files keeps its memory flat.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::Mode;
use nix::unistd::{UnlinkatFlags, unlinkat};
use serde::ser::{Error as _, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::error::{Error, Result};
use crate::manifest::FileRecord;

/// An unnamed file in the directory `dir` (at `dir_path`): `O_TMPFILE`, gone with its
/// descriptor however the process ends. Where the filesystem has no `O_TMPFILE` (NFS),
/// the file is made as `fallback` and unlinked at once; a crash in between leaves that
/// name, which the next run's cleanup recognises.
pub(crate) fn unnamed_file(dir: &OwnedFd, dir_path: &Path, fallback: &str) -> Result<File> {
    let mode = Mode::from_bits_truncate(0o600);
    match openat(dir, ".", OFlag::O_TMPFILE | OFlag::O_RDWR | OFlag::O_CLOEXEC, mode) {
        Ok(fd) => return Ok(File::from(fd)),
        Err(Errno::EOPNOTSUPP | Errno::EISDIR | Errno::EINVAL) => {}
        Err(err) => return Err(Error::io("create a temporary file in", dir_path, err)),
    }
    let flags = OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = openat(dir, fallback, flags, mode).map_err(|err| Error::io("create", dir_path.join(fallback), err))?;
    unlinkat(dir, fallback, UnlinkatFlags::NoRemoveDir)
        .map_err(|err| Error::io("remove", dir_path.join(fallback), err))?;
    Ok(File::from(fd))
}

/// Records being spooled: one JSON line each (a name's newline is escaped in JSON).
pub(crate) struct RecordSpool {
    out: BufWriter<File>,
    files: usize,
    bytes: u64,
}

impl RecordSpool {
    /// Spools into `file`, an unnamed temporary file.
    pub(crate) fn new(file: File) -> Self {
        Self { out: BufWriter::with_capacity(1 << 16, file), files: 0, bytes: 0 }
    }

    /// Appends `record`.
    pub(crate) fn push(&mut self, record: &FileRecord) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, record)?;
        self.out.write_all(b"\n")?;
        self.files += 1;
        self.bytes += record.size;
        Ok(())
    }

    /// Files spooled so far, and their bytes of content.
    pub(crate) fn tally(&self) -> (usize, u64) {
        (self.files, self.bytes)
    }

    /// The records so far, to serialize as a manifest's `files`.
    pub(crate) fn records(&mut self) -> std::io::Result<SpooledRecords> {
        self.out.flush()?;
        let mut file = self.out.get_ref().try_clone()?;
        file.rewind()?;
        Ok(SpooledRecords(RefCell::new(BufReader::with_capacity(1 << 16, file))))
    }
}

/// Spooled records, serialized as a sequence read from the spool, one at a time.
pub struct SpooledRecords(RefCell<BufReader<File>>);

impl Serialize for SpooledRecords {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut spool = self.0.borrow_mut();
        spool.rewind().map_err(S::Error::custom)?;
        let mut seq = serializer.serialize_seq(None)?;
        let mut line = String::new();
        loop {
            line.clear();
            if spool.read_line(&mut line).map_err(S::Error::custom)? == 0 {
                break;
            }
            let record: FileRecord = serde_json::from_str(&line).map_err(S::Error::custom)?;
            seq.serialize_element(&record)?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spooled_records_serialize_as_the_list_they_were() {
        let dir = tempfile::tempdir().unwrap();
        let fd = nix::fcntl::open(dir.path(), OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        let records = vec![
            FileRecord { path: "a\nb".into(), size: 3, blake3: "00".into() },
            FileRecord { path: "c".into(), size: 4, blake3: "11".into() },
        ];
        let mut spool = RecordSpool::new(unnamed_file(&fd, dir.path(), ".x.tmp").unwrap());
        for record in &records {
            spool.push(record).unwrap();
        }
        assert_eq!(spool.tally(), (2, 7));
        let spooled = spool.records().unwrap();
        assert_eq!(serde_json::to_string(&spooled).unwrap(), serde_json::to_string(&records).unwrap());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing named is left");
    }
}
