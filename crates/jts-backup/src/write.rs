//! Writing an archive: a directory tree (or one dump file) as pax entries through zstd
//! into a temporary file, every regular file hashed with blake3 as it is read, the
//! manifest last, then the footer.
//!
//! The tree is walked with `openat(O_NOFOLLOW)` from the source's descriptor: a symlink
//! is archived as a symlink, never followed, and a directory swapped for a symlink while
//! the walk runs is refused. The walk stays on the source's filesystem.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, readlinkat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};
use xattr::FileExt as _;

use crate::error::{Error, Result};
use crate::footer::write_footer;
use crate::manifest::{FileRecord, FileTally, MANIFEST_MEMBER, Manifest};
use crate::pax::{Kind, Meta, data_len, padded, sparse_map, sparse_segments, write_header};
use crate::records::RecordSpool;
use crate::verify::hash_zeros;

/// Bytes read from a source file at a time.
const CHUNK: usize = 1 << 20;

type Encoder = zstd::stream::write::Encoder<'static, BufWriter<File>>;

/// An archive being written to its temporary file.
pub struct ArchiveWriter<'p> {
    builder: tar::Builder<Encoder>,
    temp: PathBuf,
    backup: String,
    to: PathBuf,
    records: RecordSpool,
    changed: Vec<String>,
    links: HashMap<(u64, u64), String>,
    bytes: u64,
    progress: &'p dyn Fn(u64),
    stop: Option<Arc<AtomicBool>>,
    buffer: Vec<u8>,
}

/// Whether an I/O error means the destination is out of space or inodes.
fn no_space(err: &std::io::Error) -> bool {
    matches!(err.raw_os_error(), Some(code) if code == Errno::ENOSPC as i32 || code == Errno::EDQUOT as i32)
}

impl<'p> ArchiveWriter<'p> {
    /// Starts an archive in `file`, the temporary file `temp` in the directory `to`,
    /// compressed at zstd `level`, the file records spooled to the unnamed file
    /// `records`; `progress` hears the source bytes read so far.
    #[allow(clippy::too_many_arguments, reason = "one call site; the pieces of one archive")]
    pub fn new(
        file: File,
        records: File,
        temp: PathBuf,
        to: PathBuf,
        backup: &str,
        level: i32,
        progress: &'p dyn Fn(u64),
    ) -> Result<Self> {
        let mut encoder = zstd::stream::write::Encoder::new(BufWriter::with_capacity(CHUNK, file), level)
            .map_err(|err| Error::io("zstd", &temp, err))?;
        encoder.include_checksum(true).map_err(|err| Error::io("zstd", &temp, err))?;
        // One compression worker per core, as `zstd -T0`; reading stays on this thread.
        let workers = std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(1));
        encoder.multithread(workers).map_err(|err| Error::io("zstd", &temp, err))?;
        let mut builder = tar::Builder::new(encoder);
        builder.mode(tar::HeaderMode::Complete);
        Ok(Self {
            builder,
            temp,
            backup: backup.to_owned(),
            to,
            records: RecordSpool::new(records),
            changed: Vec::new(),
            links: HashMap::new(),
            bytes: 0,
            progress,
            stop: None,
            buffer: vec![0; CHUNK],
        })
    }

    /// Stops reading at the next chunk once `flag` is set (with [`Error::Stopped`]).
    pub fn stop_when(&mut self, flag: Arc<AtomicBool>) {
        self.stop = Some(flag);
    }

    /// An error writing the archive: out of space, or another I/O error on the temporary.
    fn write_error(&self, err: std::io::Error) -> Error {
        if no_space(&err) {
            Error::DestinationFull { backup: self.backup.clone(), path: self.to.clone(), source: err }
        } else {
            Error::io("write", &self.temp, err)
        }
    }

    fn header(&mut self, meta: &Meta) -> Result<()> {
        write_header(&mut self.builder, meta).map_err(|err| self.write_error(err))
    }

    fn out(&mut self, bytes: &[u8]) -> Result<()> {
        self.builder.get_mut().write_all(bytes).map_err(|err| self.write_error(err))
    }

    /// Archives the tree of the open directory `fd` (at `source`, for messages) as `./…`.
    pub fn add_tree_fd(&mut self, fd: OwnedFd, source: &Path) -> Result<()> {
        let stat = fstat(&fd).map_err(|err| Error::io("stat", source, err))?;
        self.add_dir(fd, &stat, source, "./", stat.st_dev)
    }

    fn add_dir(&mut self, fd: OwnedFd, stat: &FileStat, path: &Path, tar_path: &str, device: u64) -> Result<()> {
        let file = File::from(fd);
        let meta = Meta { path: tar_path.to_owned(), kind: Kind::Directory, ..meta_of(stat, fd_xattrs(&file, path)?) };
        self.header(&meta)?;
        if stat.st_dev != device {
            tracing::info!(path = %path.display(), "not descending into another filesystem");
            return Ok(());
        }
        let mut names: Vec<OsString> = Vec::new();
        let dir_fd = file.as_fd().try_clone_to_owned().map_err(|err| Error::io("dup", path, err))?;
        let mut dir = nix::dir::Dir::from_fd(dir_fd).map_err(|err| Error::io("read directory", path, err))?;
        for entry in dir.iter() {
            let entry = entry.map_err(|err| Error::io("read directory", path, err))?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            if name != "." && name != ".." {
                names.push(name.to_owned());
            }
        }
        names.sort();
        for name in names {
            let child_path = path.join(&name);
            let Some(text) = name.to_str() else {
                return Err(Error::Source {
                    backup: self.backup.clone(),
                    what: format!(
                        "{} is not a UTF-8 file name, which jts archives cannot hold yet; rename it",
                        child_path.display()
                    ),
                });
            };
            let child_tar = if tar_path == "./" { format!("./{text}") } else { format!("{tar_path}/{text}") };
            self.add_child(&file, &name, &child_path, &child_tar, device)?;
        }
        Ok(())
    }

    fn add_child(&mut self, dir: &File, name: &OsStr, path: &Path, tar_path: &str, device: u64) -> Result<()> {
        let stat = match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            Err(Errno::ENOENT) => {
                self.changed.push(format!("{tar_path} (deleted while the backup ran)"));
                return Ok(());
            }
            Err(err) => return Err(Error::io("stat", path, err)),
        };
        let kind = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT;
        match kind {
            SFlag::S_IFDIR => {
                let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
                let fd = match openat(dir, name, flags, Mode::empty()) {
                    Ok(fd) => fd,
                    Err(Errno::ENOENT | Errno::ELOOP | Errno::ENOTDIR) => {
                        self.changed.push(format!("{tar_path} (replaced while the backup ran)"));
                        return Ok(());
                    }
                    Err(err) => return Err(Error::io("open", path, err)),
                };
                let stat = fstat(&fd).map_err(|err| Error::io("stat", path, err))?;
                self.add_dir(fd, &stat, path, tar_path, device)
            }
            SFlag::S_IFREG => {
                let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
                let fd = match openat(dir, name, flags, Mode::empty()) {
                    Ok(fd) => fd,
                    Err(Errno::ENOENT | Errno::ELOOP) => {
                        self.changed.push(format!("{tar_path} (replaced while the backup ran)"));
                        return Ok(());
                    }
                    Err(err) => return Err(Error::io("open", path, err)),
                };
                let stat = fstat(&fd).map_err(|err| Error::io("stat", path, err))?;
                if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
                    self.changed.push(format!("{tar_path} (replaced while the backup ran)"));
                    return Ok(());
                }
                self.add_file(File::from(fd), &stat, path, tar_path)
            }
            SFlag::S_IFLNK => {
                let target = readlinkat(dir, name).map_err(|err| Error::io("readlink", path, err))?;
                let meta = Meta {
                    path: tar_path.to_owned(),
                    kind: Kind::Symlink(target.as_bytes().to_vec()),
                    ..meta_of(&stat, path_xattrs(path)?)
                };
                self.header(&meta)
            }
            SFlag::S_IFIFO | SFlag::S_IFCHR | SFlag::S_IFBLK => {
                let (major, minor) = (nix::sys::stat::major(stat.st_rdev), nix::sys::stat::minor(stat.st_rdev));
                let (major, minor) = (u32::try_from(major).unwrap_or(0), u32::try_from(minor).unwrap_or(0));
                let kind = match kind {
                    SFlag::S_IFIFO => Kind::Fifo,
                    SFlag::S_IFCHR => Kind::Char(major, minor),
                    _ => Kind::Block(major, minor),
                };
                let meta = Meta { path: tar_path.to_owned(), kind, ..meta_of(&stat, path_xattrs(path)?) };
                self.header(&meta)
            }
            _ => {
                tracing::info!(path = %path.display(), "skipping a socket");
                Ok(())
            }
        }
    }

    /// Archives the open regular file `file` as `tar_path`, hashing what it reads.
    pub fn add_file(&mut self, file: File, stat: &FileStat, path: &Path, tar_path: &str) -> Result<()> {
        let key = (stat.st_dev, stat.st_ino);
        let base = meta_of(stat, fd_xattrs(&file, path)?);
        if stat.st_nlink > 1 {
            if let Some(first) = self.links.get(&key) {
                let meta = Meta { path: tar_path.to_owned(), kind: Kind::HardLink(first.clone()), size: 0, ..base };
                return self.header(&meta);
            }
            self.links.insert(key, tar_path.to_owned());
        }
        let size = base.size;
        let sparse = holes(&file, stat).map_err(|err| Error::io("seek", path, err))?;
        let meta = Meta { path: tar_path.to_owned(), kind: Kind::File { sparse: sparse.clone() }, ..base };
        self.header(&meta)?;
        let segments = match &sparse {
            Some(segments) => {
                let map = sparse_map(segments);
                self.out(&map)?;
                segments.clone()
            }
            None => vec![(0, size)],
        };
        let mut hasher = blake3::Hasher::new();
        let mut buffer = std::mem::take(&mut self.buffer);
        let mut short = false;
        let mut at = 0u64;
        for (offset, len) in segments {
            hash_zeros(&mut hasher, offset - at);
            let mut done = 0u64;
            while done < len {
                if self.stop.as_ref().is_some_and(|flag| flag.load(Ordering::Relaxed)) {
                    return Err(Error::Stopped);
                }
                let want = usize::try_from((len - done).min(CHUNK as u64)).unwrap_or(CHUNK);
                let got = if short { 0 } else { read_at(&file, &mut buffer[..want], offset + done, path)? };
                if got == 0 {
                    // The file shrank while it was read: the entry keeps its declared size.
                    short = true;
                    buffer[..want].fill(0);
                }
                let got = if got == 0 { want } else { got };
                hasher.update(&buffer[..got]);
                self.out(&buffer[..got])?;
                done += got as u64;
                self.bytes += got as u64;
                (self.progress)(self.bytes);
            }
            at = offset + len;
        }
        hash_zeros(&mut hasher, size - at);
        self.buffer = buffer;
        let pad = padded(data_len(&meta)) - data_len(&meta);
        self.out(&vec![0u8; usize::try_from(pad).unwrap_or(0)])?;
        let after = fstat(&file).map_err(|err| Error::io("stat", path, err))?;
        let rel = tar_path.trim_start_matches("./").to_owned();
        if short
            || after.st_size != stat.st_size
            || after.st_mtime_nsec != stat.st_mtime_nsec
            || after.st_mtime != stat.st_mtime
            || after.st_ctime != stat.st_ctime
            || after.st_ctime_nsec != stat.st_ctime_nsec
        {
            tracing::warn!(path = %path.display(), "changed while it was read");
            self.changed.push(rel.clone());
        }
        let record = FileRecord { path: rel, size, blake3: hasher.finalize().to_hex().to_string() };
        self.records.push(&record).map_err(|err| self.write_error(err))
    }

    /// Appends the manifest (`head`, with the spooled records and the changed files)
    /// as the last member, ends the tar and the zstd frame, writes the footer and
    /// returns the temporary file, flushed but not yet synced, with the manifest as
    /// written, its files counted. The manifest's JSON goes through `scratch`, an unnamed
    /// temporary file, so its size is known before its tar header is written and nothing
    /// of it is held in memory.
    pub fn finish(mut self, head: Manifest<()>, scratch: File) -> Result<(File, Manifest<FileTally>)> {
        let temp = self.temp.clone();
        let encode = |err: std::io::Error| Error::io("write the manifest of", &temp, err);
        let manifest = head.with_files(self.records.records().map_err(encode)?);
        let manifest = Manifest { changed: std::mem::take(&mut self.changed), ..manifest };
        let mut json = BufWriter::with_capacity(1 << 16, scratch);
        serde_json::to_writer(&mut json, &manifest).map_err(|err| encode(err.into()))?;
        let mut json = json.into_inner().map_err(|err| encode(err.into_error()))?;
        let len = json.stream_position().map_err(&encode)?;
        let meta = Meta {
            path: format!("./{MANIFEST_MEMBER}"),
            kind: Kind::File { sparse: None },
            mode: 0o600,
            uid: 0,
            gid: 0,
            mtime: (manifest.finished, 0),
            size: len,
            xattrs: Vec::new(),
        };
        self.header(&meta)?;
        json.rewind().map_err(&encode)?;
        std::io::copy(&mut json, self.builder.get_mut()).map_err(|err| self.write_error(err))?;
        let pad = padded(len) - len;
        self.out(&vec![0u8; usize::try_from(pad).unwrap_or(0)])?;
        let result = (|| {
            let encoder = self.builder.into_inner()?;
            let mut out = encoder.finish()?;
            json.rewind()?;
            write_footer(&mut out, &mut json, len)?;
            out.into_inner().map_err(std::io::IntoInnerError::into_error)
        })();
        let (files, bytes) = self.records.tally();
        let result = result.map(|file| (file, manifest.with_files(FileTally { files, bytes })));
        result.map_err(|err| {
            if no_space(&err) {
                Error::DestinationFull { backup: self.backup.clone(), path: self.to.clone(), source: err }
            } else {
                Error::io("write", &self.temp, err)
            }
        })
    }
}

fn read_at(file: &File, buf: &mut [u8], offset: u64, path: &Path) -> Result<usize> {
    loop {
        match file.read_at(buf, offset) {
            Ok(n) => return Ok(n),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(Error::io("read", path, err)),
        }
    }
}

/// The data segments of a file with holes (`SEEK_DATA`/`SEEK_HOLE`); `None` for a file
/// without any, or on a filesystem that cannot tell.
fn holes(file: &File, stat: &FileStat) -> std::io::Result<Option<Vec<(u64, u64)>>> {
    let size = u64::try_from(stat.st_size).unwrap_or(0);
    if size == 0 || u64::try_from(stat.st_blocks).unwrap_or(0) * 512 >= size {
        return Ok(None);
    }
    let mut segments = Vec::new();
    let mut at = 0i64;
    let end = stat.st_size;
    while at < end {
        let data = match nix::unistd::lseek(file, at, nix::unistd::Whence::SeekData) {
            Ok(data) => data,
            Err(Errno::ENXIO) => break,
            Err(Errno::EINVAL) => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        let hole = nix::unistd::lseek(file, data, nix::unistd::Whence::SeekHole)?.min(end);
        if hole > data {
            segments.push((u64::try_from(data).unwrap_or(0), u64::try_from(hole - data).unwrap_or(0)));
        }
        at = hole;
    }
    let data: u64 = segments.iter().map(|(_, len)| len).sum();
    Ok((data < size).then(|| sparse_segments(segments, size)))
}

/// Metadata of a `stat` (the path and kind are the caller's).
fn meta_of(stat: &FileStat, xattrs: Vec<(String, Vec<u8>)>) -> Meta {
    Meta {
        path: String::new(),
        kind: Kind::Directory,
        mode: stat.st_mode & 0o7777,
        uid: u64::from(stat.st_uid),
        gid: u64::from(stat.st_gid),
        mtime: (stat.st_mtime, u32::try_from(stat.st_mtime_nsec).unwrap_or(0)),
        size: u64::try_from(stat.st_size).unwrap_or(0),
        xattrs,
    }
}

/// The extended attributes of an open file or directory, POSIX ACLs included.
fn fd_xattrs(file: &File, path: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let names = match file.list_xattr() {
        Ok(names) => names,
        Err(err) if err.raw_os_error() == Some(Errno::EOPNOTSUPP as i32) => return Ok(Vec::new()),
        Err(err) => return Err(Error::io("list xattrs of", path, err)),
    };
    let mut out = Vec::new();
    for name in names {
        if let Some(value) = file.get_xattr(&name).map_err(|err| Error::io("read xattr of", path, err))? {
            out.push((name.to_string_lossy().into_owned(), value));
        }
    }
    out.sort();
    Ok(out)
}

/// The extended attributes of a symlink or special file, read without following or
/// opening it.
fn path_xattrs(path: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let names = match xattr::list(path) {
        Ok(names) => names,
        Err(err) if err.raw_os_error() == Some(Errno::EOPNOTSUPP as i32) => return Ok(Vec::new()),
        Err(err) => return Err(Error::io("list xattrs of", path, err)),
    };
    let mut out = Vec::new();
    for name in names {
        if let Some(value) = xattr::get(path, &name).map_err(|err| Error::io("read xattr of", path, err))? {
            out.push((name.to_string_lossy().into_owned(), value));
        }
    }
    out.sort();
    Ok(out)
}
