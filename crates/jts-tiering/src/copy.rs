//! Copying one file's content and metadata, hashing what was read.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;

use nix::fcntl::{FcntlArg, OFlag, PosixFadviseAdvice, fcntl};
use nix::sys::stat::{FileStat, Mode, fchmod};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchown};
use xattr::FileExt;

use crate::rules::Compression;

/// The size of one read.
const CHUNK: usize = 1 << 20;

/// Reads bypassing the page cache use a buffer, offsets and lengths aligned to this
/// (the largest logical block size of a Linux block device).
const DIRECT_ALIGN: usize = 4096;

/// Sources of at least this size are read with `O_DIRECT` (see [`read_direct`]).
pub const DIRECT_READ_MIN: u64 = 1 << 20;

/// The blake3 hash of a file's content, as read from the source (before compression).
pub type Hash = blake3::Hash;

/// Copies all of `source` into `dest`, compressed if asked, and returns the hash of what
/// was read and how many bytes that was. `tick` is called after every chunk with its size.
pub fn copy_content(
    source: &mut File,
    dest: &mut File,
    compress: Option<Compression>,
    buffer: &mut Vec<u8>,
    tick: &dyn Fn(u64),
) -> io::Result<(Hash, u64)> {
    let buffer = aligned_chunk(buffer);
    let mut hasher = blake3::Hasher::new();
    let mut total = 0u64;
    let mut sink: Box<dyn Write + '_> = match compress {
        None => Box::new(&mut *dest),
        Some(Compression::Zstd) => Box::new(zstd::stream::Encoder::new(&mut *dest, 3)?.auto_finish()),
    };
    let mut source = DirectOrCached(source);
    loop {
        let read = match source.read(buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        hasher.update(&buffer[..read]);
        sink.write_all(&buffer[..read])?;
        total += read as u64;
        tick(read as u64);
    }
    sink.flush()?;
    drop(sink);
    Ok((hasher.finalize(), total))
}

/// Makes reads of `source` bypass the page cache (`O_DIRECT`), where its filesystem
/// allows it: a large file read once for a move then neither costs a copy into the
/// cache nor pushes out what the host's databases keep there. `false` if it stays cached.
/// A read the filesystem then refuses (for its alignment) is made again through the cache.
pub fn read_direct(source: &File) -> bool {
    set_direct(source, true).unwrap_or(false)
}

/// A file read direct ([`read_direct`]) as long as its filesystem takes the reads, then
/// through the page cache.
struct DirectOrCached<'a>(&'a mut File);

impl Read for DirectOrCached<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.0.read(buffer) {
                // Refused (for an alignment the filesystem requires, say), nothing read:
                // the same read again through the page cache.
                Err(err) if err.raw_os_error() == Some(nix::libc::EINVAL) && set_direct(self.0, false)? => {}
                other => return other,
            }
        }
    }
}

/// Turns `O_DIRECT` on or off for `file`; whether that changed it.
fn set_direct(file: &File, on: bool) -> io::Result<bool> {
    let flags = OFlag::from_bits_retain(fcntl(file, FcntlArg::F_GETFL)?);
    if flags.contains(OFlag::O_DIRECT) == on {
        return Ok(false);
    }
    fcntl(file, FcntlArg::F_SETFL(flags ^ OFlag::O_DIRECT))?;
    Ok(true)
}

/// `CHUNK` bytes of `buffer` starting at an address aligned for direct reads.
fn aligned_chunk(buffer: &mut Vec<u8>) -> &mut [u8] {
    buffer.resize(CHUNK + DIRECT_ALIGN, 0);
    let start = (DIRECT_ALIGN - buffer.as_ptr().addr() % DIRECT_ALIGN) % DIRECT_ALIGN;
    &mut buffer[start..start + CHUNK]
}

/// Drops the cached pages of `file`, which must be clean (synced), so that what is read
/// of it next comes from the device.
pub fn evict(file: &File) -> io::Result<()> {
    nix::fcntl::posix_fadvise(file, 0, 0, PosixFadviseAdvice::POSIX_FADV_DONTNEED).map_err(io::Error::from)
}

/// Asks the kernel to start reading all of `file` into the page cache, without waiting.
pub fn read_ahead(file: &File) -> io::Result<()> {
    nix::fcntl::posix_fadvise(file, 0, 0, PosixFadviseAdvice::POSIX_FADV_WILLNEED).map_err(io::Error::from)
}

/// The hash of a file's content read from the start, decompressed if it was stored
/// compressed; direct if [`read_direct`] made it so.
pub fn content_hash(file: &mut File, compressed: bool, buffer: &mut Vec<u8>) -> io::Result<Hash> {
    let buffer = aligned_chunk(buffer);
    let mut hasher = blake3::Hasher::new();
    let mut reader: Box<dyn Read + '_> =
        if compressed { Box::new(zstd::stream::Decoder::new(&mut *file)?) } else { Box::new(DirectOrCached(file)) };
    loop {
        match reader.read(buffer) {
            Ok(0) => break,
            Ok(read) => {
                hasher.update(&buffer[..read]);
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        }
    }
    Ok(hasher.finalize())
}

/// Gives `dest` the owner, extended attributes (POSIX ACLs included), permission bits and
/// times of the source file (`source`, whose `stat` is `stat`). The owner goes first
/// because `chown` clears setuid bits; the times go last because the other calls change
/// the ctime only.
pub fn copy_metadata(source: &File, stat: &FileStat, dest: &File) -> io::Result<()> {
    fchown(dest, Some(Uid::from_raw(stat.st_uid)), Some(Gid::from_raw(stat.st_gid)))?;
    for name in source.list_xattr()? {
        if let Some(value) = source.get_xattr(&name)? {
            match dest.set_xattr(&name, &value) {
                // The destination cannot hold this attribute (an ACL on NFS, say): the
                // permission bits still carry the owner/group/other access.
                Err(err) if err.raw_os_error() == Some(nix::libc::EOPNOTSUPP) => {
                    tracing::warn!("extended attribute {name:?} not kept: destination does not support it");
                }
                other => other?,
            }
        }
    }
    fchmod(dest, Mode::from_bits_truncate(stat.st_mode & 0o7777))?;
    let atime = TimeSpec::new(stat.st_atime, stat.st_atime_nsec);
    let mtime = TimeSpec::new(stat.st_mtime, stat.st_mtime_nsec);
    nix::sys::stat::futimens(dest, &atime, &mtime)?;
    Ok(())
}

/// Whether the open file still is what `stat` described: same inode, size, mtime and ctime.
pub fn unchanged(file: &File, stat: &FileStat) -> io::Result<bool> {
    let now = file.metadata()?;
    Ok(now.dev() == stat.st_dev
        && now.ino() == stat.st_ino
        && now.size() == u64::try_from(stat.st_size).unwrap_or(u64::MAX)
        && now.mtime() == stat.st_mtime
        && now.mtime_nsec() == stat.st_mtime_nsec
        && now.ctime() == stat.st_ctime
        && now.ctime_nsec() == stat.st_ctime_nsec)
}

#[cfg(test)]
mod tests {
    use std::io::{Seek, SeekFrom};

    use super::*;

    fn round_trip(compress: Option<Compression>) {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.path().join("src"), &data).unwrap();
        let mut source = File::open(dir.path().join("src")).unwrap();
        let mut dest = File::options().read(true).write(true).create_new(true).open(dir.path().join("dst")).unwrap();
        let mut buffer = Vec::new();
        let ticks = std::cell::Cell::new(0);
        let (hash, bytes) =
            copy_content(&mut source, &mut dest, compress, &mut buffer, &|n| ticks.set(ticks.get() + n)).unwrap();
        assert_eq!(bytes, data.len() as u64);
        assert_eq!(ticks.get(), bytes);
        assert_eq!(hash, blake3::hash(&data));
        dest.seek(SeekFrom::Start(0)).unwrap();
        assert_eq!(content_hash(&mut dest, compress.is_some(), &mut buffer).unwrap(), hash);
        let stored = std::fs::metadata(dir.path().join("dst")).unwrap().len();
        if compress.is_some() {
            assert!(stored < bytes / 10, "repetitive data compresses: {stored}");
        } else {
            assert_eq!(stored, bytes);
        }
    }

    #[test]
    fn plain_copy_hashes_what_was_read_and_reads_back_the_same() {
        round_trip(None);
    }

    #[test]
    fn zstd_copy_reads_back_to_the_hash_of_the_original() {
        round_trip(Some(Compression::Zstd));
    }

    fn direct(file: &File) -> bool {
        OFlag::from_bits_retain(fcntl(file, FcntlArg::F_GETFL).unwrap()).contains(OFlag::O_DIRECT)
    }

    /// Copies `data` from a source opened for direct reads and positioned at `start`:
    /// the hash, the bytes, and whether the source was still read direct at the end.
    /// `None` where the filesystem has no `O_DIRECT`.
    fn copy_direct(data: &[u8], start: u64) -> Option<(Hash, u64, bool)> {
        let dir = tempfile::tempdir().unwrap();
        // Still dirty in the page cache: a direct read must see it all the same.
        std::fs::write(dir.path().join("src"), data).unwrap();
        let mut source = File::open(dir.path().join("src")).unwrap();
        let mut dest = File::create(dir.path().join("dst")).unwrap();
        if !read_direct(&source) {
            eprintln!("skipped: {} has no O_DIRECT", dir.path().display());
            return None;
        }
        source.seek(SeekFrom::Start(start)).unwrap();
        let (hash, bytes) = copy_content(&mut source, &mut dest, None, &mut Vec::new(), &|_| {}).unwrap();
        Some((hash, bytes, direct(&source)))
    }

    #[test]
    fn a_direct_read_goes_to_an_unaligned_end_without_falling_back() {
        let data: Vec<u8> = (0..3_000_001u32).map(|i| (i % 253) as u8).collect();
        let Some((hash, bytes, still_direct)) = copy_direct(&data, 0) else { return };
        assert_eq!((hash, bytes), (blake3::hash(&data), data.len() as u64));
        assert!(still_direct, "aligned reads never needed the page cache");
    }

    #[test]
    fn a_copy_read_back_direct_hashes_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..2_500_123u32).map(|i| (i % 239) as u8).collect();
        std::fs::write(dir.path().join("copy"), &data).unwrap();
        let mut copy = File::open(dir.path().join("copy")).unwrap();
        if !read_direct(&copy) {
            return;
        }
        assert_eq!(content_hash(&mut copy, false, &mut Vec::new()).unwrap(), blake3::hash(&data));
        assert!(direct(&copy), "read back past the page cache to its end");
    }

    #[test]
    fn a_direct_read_the_filesystem_refuses_is_read_again_through_the_page_cache() {
        // Offset 1 is not aligned: the direct read fails with EINVAL.
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 241) as u8).collect();
        let Some((hash, bytes, still_direct)) = copy_direct(&data, 1) else { return };
        assert_eq!((hash, bytes), (blake3::hash(&data[1..]), data.len() as u64 - 1));
        assert!(!still_direct);
    }

    #[test]
    fn metadata_is_copied_and_a_later_change_is_noticed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::write(&src, b"x").unwrap();
        std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o640)).unwrap();
        let source = File::open(&src).unwrap();
        let stat = nix::sys::stat::fstat(&source).unwrap();
        let dest = File::create(dir.path().join("dst")).unwrap();
        copy_metadata(&source, &stat, &dest).unwrap();
        let meta = std::fs::metadata(dir.path().join("dst")).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o640);
        assert_eq!((meta.mtime(), meta.mtime_nsec()), (stat.st_mtime, stat.st_mtime_nsec));
        assert!(unchanged(&source, &stat).unwrap());
        std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(!unchanged(&source, &stat).unwrap(), "a chmod moves the ctime: the copy's mode would be stale");
        std::fs::write(&src, b"longer").unwrap();
        assert!(!unchanged(&source, &stat).unwrap());
    }
}
