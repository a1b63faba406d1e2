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

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::error::{Error, Result};
use crate::manifest::Manifest;

/// zstd reserves 0x184D2A50–0x184D2A5F for skippable frames.
const SKIPPABLE_MAGIC: u32 = 0x184D_2A5E;
/// The last eight bytes of every archive.
const FOOTER_MAGIC: &[u8; 8] = b"JTSMANIF";
/// Bytes after the manifest: hash, length, magic.
pub const TRAILER_LEN: u64 = 48;

/// Writes `manifest` as the footer frame.
pub fn write_footer(out: &mut impl Write, manifest: &[u8]) -> std::io::Result<()> {
    let len = manifest.len() as u64;
    let frame = u32::try_from(len + TRAILER_LEN).map_err(|_| std::io::Error::other("manifest over 4 GiB"))?;
    out.write_all(&SKIPPABLE_MAGIC.to_le_bytes())?;
    out.write_all(&frame.to_le_bytes())?;
    out.write_all(manifest)?;
    out.write_all(blake3::hash(manifest).as_bytes())?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(FOOTER_MAGIC)
}

/// Reads the manifest from the footer of the archive `file` (at `path`, for messages).
pub fn read_footer(file: &mut (impl Read + Seek), path: &Path) -> Result<Manifest> {
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
    let start = total - TRAILER_LEN - len - 8;
    file.seek(SeekFrom::Start(start)).map_err(io)?;
    let mut frame = vec![0u8; usize::try_from(len + 8).map_err(|_| damaged("manifest too large"))?];
    file.read_exact(&mut frame).map_err(io)?;
    let magic = u32::from_le_bytes(frame[..4].try_into().expect("4 bytes"));
    let size = u64::from(u32::from_le_bytes(frame[4..8].try_into().expect("4 bytes")));
    if magic != SKIPPABLE_MAGIC || size != len + TRAILER_LEN {
        return Err(damaged("the footer frame's header does not match its trailer"));
    }
    let json = &frame[8..];
    if blake3::hash(json).as_bytes() != &trailer[..32] {
        return Err(Error::damaged(
            path,
            "the manifest in the footer does not match its blake3 (bit rot or tampering)",
        ));
    }
    serde_json::from_slice(json)
        .map_err(|err| Error::damaged(path, format!("the footer's manifest is not valid: {err}")))
}
