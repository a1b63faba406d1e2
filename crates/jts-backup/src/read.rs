//! Reading an archive back: every entry's metadata, and its content as a reader (for a
//! sparse file, its data segments one after the other). Used by verify and restore; any
//! damage is reported with the archive and the member being read.

use std::io::Read;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use crate::error::{Error, Result};
use crate::pax::{Kind, XATTR_PREFIX, parse_sparse_map};

/// One entry as read from an archive.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its path relative to the archive's root (`""` for the root itself).
    pub path: String,
    /// What it is; a sparse file carries its segments.
    pub kind: Kind,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time: seconds and nanoseconds.
    pub mtime: (i64, u32),
    /// The apparent size of a regular file.
    pub size: u64,
    /// Extended attributes, POSIX ACLs included.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

/// Strips `./` and checks that a member path stays inside the archive's root.
fn relative(raw: &str, archive: &Path) -> Result<String> {
    let path = raw.trim_start_matches("./").trim_end_matches('/');
    let path = if path == "." { "" } else { path };
    let escapes = path.starts_with('/') || path.split('/').any(|part| part == ".." || part == ".");
    if escapes || path.contains('\0') {
        return Err(Error::damaged(archive, format!("member {raw:?} would land outside the restore target")));
    }
    Ok(path.to_owned())
}

fn ns_time(text: &str) -> Option<(i64, u32)> {
    let (secs, frac) = text.split_once('.').unwrap_or((text, "0"));
    let mut digits: String = frac.chars().take(9).collect();
    while digits.len() < 9 {
        digits.push('0');
    }
    Some((secs.parse().ok()?, digits.parse().ok()?))
}

/// How many decompressed chunks the decoding thread may run ahead.
const CHUNKS_AHEAD: usize = 4;
/// The size of one decompressed chunk.
const CHUNK: usize = 1 << 20;

/// The archive's tar stream, decompressed on a thread of its own a few chunks ahead, so
/// that reading the tar, hashing and writing files run beside zstd's decoding (as
/// `tar --zstd` runs `zstd -d` in a second process).
/// Chunks go back to the decoder once read, so their memory is reused, not faulted in
/// afresh.
struct Decompressed {
    chunks: Receiver<std::io::Result<Vec<u8>>>,
    spent: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    at: usize,
}

impl Read for Decompressed {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.current.len() {
            match self.chunks.recv() {
                Ok(chunk) => {
                    let spent = std::mem::replace(&mut self.current, chunk?);
                    let _ = self.spent.try_send(spent);
                    self.at = 0;
                }
                // The decoder reached the end of the stream.
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Decompresses `file` into `chunks` (reusing the `spent` ones) until its end, an error,
/// or a reader that stopped.
fn decode(file: std::fs::File, chunks: &SyncSender<std::io::Result<Vec<u8>>>, spent: &Receiver<Vec<u8>>) {
    let mut decoder = match zstd::stream::read::Decoder::new(file) {
        Ok(decoder) => decoder,
        Err(err) => {
            let _ = chunks.send(Err(err));
            return;
        }
    };
    loop {
        let mut chunk = spent.try_recv().unwrap_or_default();
        chunk.resize(CHUNK, 0);
        let mut filled = 0;
        while filled < CHUNK {
            match decoder.read(&mut chunk[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => {
                    let _ = chunks.send(Err(err));
                    return;
                }
            }
        }
        chunk.truncate(filled);
        if filled == 0 || chunks.send(Ok(chunk)).is_err() {
            return;
        }
    }
}

/// Calls `visit` with each entry of the archive `file` (at `archive`, for messages) and
/// a reader of its content. The content not read by `visit` is skipped.
pub fn for_each_entry(
    file: std::fs::File,
    archive: &Path,
    visit: impl FnMut(&Entry, &mut dyn Read) -> Result<()>,
) -> Result<()> {
    std::thread::scope(|scope| {
        let (sender, chunks) = sync_channel(CHUNKS_AHEAD);
        let (spent, recycled) = sync_channel(CHUNKS_AHEAD + 2);
        scope.spawn(move || decode(file, &sender, &recycled));
        walk(Decompressed { chunks, spent, current: Vec::new(), at: 0 }, archive, visit)
    })
}

/// [`for_each_entry`] over the decompressed tar stream.
fn walk(stream: impl Read, archive: &Path, mut visit: impl FnMut(&Entry, &mut dyn Read) -> Result<()>) -> Result<()> {
    let mut tar = tar::Archive::new(stream);
    let mut last = String::from("(the first member)");
    let entries = tar.entries().map_err(|err| Error::damaged(archive, format!("cannot read it as tar: {err}")))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|err| Error::damaged(archive, format!("unreadable after member {last}: {err}")))?;
        let header = entry.header().clone();
        let mut records: Vec<(String, Vec<u8>)> = Vec::new();
        if let Some(pax) =
            entry.pax_extensions().map_err(|err| Error::damaged(archive, format!("after {last}: {err}")))?
        {
            for record in pax {
                let record = record.map_err(|err| Error::damaged(archive, format!("after {last}: {err}")))?;
                let key = record.key().map_err(|err| Error::damaged(archive, format!("after {last}: {err}")))?;
                records.push((key.to_owned(), record.value_bytes().to_vec()));
            }
        }
        let find =
            |key: &str| records.iter().find(|(k, _)| k == key).map(|(_, v)| String::from_utf8_lossy(v).into_owned());
        let sparse_name = find("GNU.sparse.name");
        let raw_path = match &sparse_name {
            Some(name) => name.clone(),
            None => String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
        };
        let path = relative(&raw_path, archive)?;
        last = raw_path.clone();
        let bad_header = |what: &str| Error::damaged(archive, format!("member {raw_path}: {what}"));
        let link =
            || entry.link_name_bytes().map(|l| l.into_owned()).ok_or_else(|| bad_header("a link without a target"));
        let device = || -> Result<(u32, u32)> {
            let major = header.device_major().ok().flatten().unwrap_or(0);
            let minor = header.device_minor().ok().flatten().unwrap_or(0);
            Ok((major, minor))
        };
        let mut size = entry.size();
        let kind = match header.entry_type() {
            tar::EntryType::Directory => Kind::Directory,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if sparse_name.is_some() {
                    let segments = parse_sparse_map(&mut entry)
                        .map_err(|err| Error::damaged(archive, format!("member {raw_path}: {err}")))?;
                    size = find("GNU.sparse.realsize")
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| bad_header("sparse without realsize"))?;
                    Kind::File { sparse: Some(segments) }
                } else {
                    Kind::File { sparse: None }
                }
            }
            tar::EntryType::Symlink => Kind::Symlink(link()?),
            tar::EntryType::Link => {
                let target = String::from_utf8_lossy(&link()?).into_owned();
                Kind::HardLink(relative(&target, archive)?)
            }
            tar::EntryType::Fifo => Kind::Fifo,
            tar::EntryType::Char => {
                let (major, minor) = device()?;
                Kind::Char(major, minor)
            }
            tar::EntryType::Block => {
                let (major, minor) = device()?;
                Kind::Block(major, minor)
            }
            other => return Err(bad_header(&format!("entry type {other:?} is not one jts writes"))),
        };
        let mtime = find("mtime").and_then(|t| ns_time(&t)).unwrap_or((header.mtime().map_or(0, |t| t as i64), 0));
        let xattrs =
            records.iter().filter_map(|(k, v)| Some((k.strip_prefix(XATTR_PREFIX)?.to_owned(), v.clone()))).collect();
        let id = |value: std::io::Result<u64>| {
            value.ok().and_then(|v| u32::try_from(v).ok()).ok_or_else(|| bad_header("bad owner"))
        };
        let meta = Entry {
            path,
            kind,
            mode: header.mode().map_err(|_| bad_header("bad mode"))? & 0o7777,
            uid: id(header.uid())?,
            gid: id(header.gid())?,
            mtime,
            size,
            xattrs,
        };
        visit(&meta, &mut entry)?;
    }
    Ok(())
}
