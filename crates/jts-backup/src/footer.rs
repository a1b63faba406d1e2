//! The footer: a copy of the manifest at the very end of the archive file, in a zstd
//! skippable frame, so that listing reads a few kilobytes from the end and decompresses
//! nothing. Stock `zstd -d` and `tar --zstd -x` skip the frame.
//!
//! ```text
//! … zstd frame(s) of the tar …
//! u32 LE 0x184D2A5E         skippable frame magic
//! u32 LE len + 48           frame size
//! len bytes                 the manifest, JSON
//! 32 bytes                  blake3 of the manifest
//! u64 LE len
//! 8 bytes "JTSMANIF"        the footer's own magic, last in the file
//! ```

use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::error::{Error, Result};
use serde::de::DeserializeOwned;

use crate::manifest::Manifest;

/// zstd reserves 0x184D2A50–0x184D2A5F for skippable frames.
const SKIPPABLE_MAGIC: u32 = 0x184D_2A5E;
/// The last eight bytes of every archive.
const FOOTER_MAGIC: &[u8; 8] = b"JTSMANIF";
/// Bytes after the manifest: hash, length, magic.
pub const TRAILER_LEN: u64 = 48;

/// Writes the footer frame: the `len` bytes of manifest JSON read from `manifest`.
pub fn write_footer(out: &mut impl Write, manifest: &mut impl Read, len: u64) -> std::io::Result<()> {
    let frame = u32::try_from(len + TRAILER_LEN).map_err(|_| std::io::Error::other("manifest over 4 GiB"))?;
    out.write_all(&SKIPPABLE_MAGIC.to_le_bytes())?;
    out.write_all(&frame.to_le_bytes())?;
    let mut hashing = Hashing { inner: manifest.take(len), hasher: blake3::Hasher::new() };
    let copied = std::io::copy(&mut hashing, out)?;
    if copied != len {
        return Err(std::io::Error::other(format!("the manifest ended after {copied} of {len} bytes")));
    }
    out.write_all(hashing.hasher.finalize().as_bytes())?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(FOOTER_MAGIC)
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: blake3::Hasher,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Reads the manifest from the footer of the archive `file` (at `path`, for messages),
/// parsing it as it is read: with `F = FileTally` the files are counted, not kept, so
/// listing an archive of millions of files needs little memory.
pub fn read_footer<F: DeserializeOwned>(file: &mut (impl Read + Seek), path: &Path) -> Result<Manifest<F>> {
    read_footer_hashed(file, path).map(|(manifest, _)| manifest)
}

/// [`read_footer`], with the blake3 of the manifest's JSON (checked against the footer).
pub fn read_footer_hashed<F: DeserializeOwned>(
    file: &mut (impl Read + Seek),
    path: &Path,
) -> Result<(Manifest<F>, blake3::Hash)> {
    let damaged = |what: &str| Error::damaged(path, format!("{what}; it is not a finished jts archive"));
    let io = |err| Error::io("read", path, err);
    let total = file.seek(SeekFrom::End(0)).map_err(io)?;
    if total < TRAILER_LEN + 8 {
        return Err(damaged("too short for a footer"));
    }
    let mut trailer = [0u8; TRAILER_LEN as usize];
    file.seek(SeekFrom::Start(total - TRAILER_LEN)).map_err(io)?;
    file.read_exact(&mut trailer).map_err(io)?;
    if &trailer[40..] != FOOTER_MAGIC {
        return Err(damaged("no manifest footer at its end"));
    }
    let len = u64::from_le_bytes(trailer[32..40].try_into().expect("8 bytes"));
    if len > total - TRAILER_LEN - 8 {
        return Err(damaged("the footer's length is larger than the file"));
    }
    file.seek(SeekFrom::Start(total - TRAILER_LEN - len - 8)).map_err(io)?;
    let mut header = [0u8; 8];
    file.read_exact(&mut header).map_err(io)?;
    let magic = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
    let size = u64::from(u32::from_le_bytes(header[4..].try_into().expect("4 bytes")));
    if magic != SKIPPABLE_MAGIC || size != len + TRAILER_LEN {
        return Err(damaged("the footer frame's header does not match its trailer"));
    }
    let mut json = Hashing { inner: BufReader::with_capacity(1 << 16, file.take(len)), hasher: blake3::Hasher::new() };
    let parsed: std::result::Result<Manifest<F>, _> = serde_json::from_reader(&mut json);
    // The hash decides first: a damaged manifest is reported as such, however it parses.
    std::io::copy(&mut json, &mut std::io::sink()).map_err(io)?;
    let hash = json.hasher.finalize();
    if hash.as_bytes() != &trailer[..32] {
        return Err(Error::damaged(
            path,
            "the manifest in the footer does not match its blake3 (bit rot or tampering)",
        ));
    }
    let manifest = parsed.map_err(|err| Error::damaged(path, format!("the footer's manifest is not valid: {err}")))?;
    Ok((manifest, hash))
}
