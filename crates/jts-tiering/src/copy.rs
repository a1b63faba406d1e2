//! Copying one file's content and metadata, hashing what was read.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;

use nix::fcntl::PosixFadviseAdvice;
use nix::sys::stat::{FileStat, Mode, fchmod};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchown};
use xattr::FileExt;

use crate::rules::Compression;

/// The size of one read.
const CHUNK: usize = 1 << 20;

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
    buffer.resize(CHUNK, 0);
    let mut hasher = blake3::Hasher::new();
    let mut total = 0u64;
    let mut sink: Box<dyn Write + '_> = match compress {
        None => Box::new(&mut *dest),
        Some(Compression::Zstd) => Box::new(zstd::stream::Encoder::new(&mut *dest, 3)?.auto_finish()),
    };
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
/// compressed.
pub fn content_hash(file: &mut File, compressed: bool, buffer: &mut Vec<u8>) -> io::Result<Hash> {
    buffer.resize(CHUNK, 0);
    let mut hasher = blake3::Hasher::new();
    let mut reader: Box<dyn Read + '_> =
        if compressed { Box::new(zstd::stream::Decoder::new(&mut *file)?) } else { Box::new(&mut *file) };
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
