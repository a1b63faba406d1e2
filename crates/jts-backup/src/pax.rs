//! Tar entries as POSIX pax: a ustar header preceded by a pax extended header with the
//! exact path, link target, nanosecond mtime, large ids and sizes, every extended
//! attribute (`SCHILY.xattr.NAME`, POSIX ACLs included, as GNU tar and star write
//! them), and sparse files in GNU's pax format 1.0 (`GNU.sparse.*`), which GNU tar
//! restores with their holes.

use std::io::Write;

/// Tar's block size.
pub const BLOCK: u64 = 512;
/// The largest value a ustar octal size field holds.
const USTAR_MAX_SIZE: u64 = 0o77_777_777_777;
/// The largest id a ustar octal uid/gid field holds.
const USTAR_MAX_ID: u64 = 0o7_777_777;
/// The pax key prefix of an extended attribute.
pub const XATTR_PREFIX: &str = "SCHILY.xattr.";

/// What kind of file an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Directory,
    /// A regular file; `sparse` lists its data segments `(offset, length)` when it has holes.
    File {
        /// The data segments of a file with holes.
        sparse: Option<Vec<(u64, u64)>>,
    },
    /// A symbolic link to this target.
    Symlink(Vec<u8>),
    /// A hard link to an earlier entry's path.
    HardLink(String),
    /// A FIFO.
    Fifo,
    /// A character device.
    Char(u32, u32),
    /// A block device.
    Block(u32, u32),
}

/// One entry's metadata.
#[derive(Debug, Clone)]
pub struct Meta {
    /// The tar path (`./etc/x`).
    pub path: String,
    /// What it is.
    pub kind: Kind,
    /// Permission bits with setuid, setgid and sticky.
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Modification time: seconds and nanoseconds.
    pub mtime: (i64, u32),
    /// The file's size (its apparent size, holes included).
    pub size: u64,
    /// Extended attributes, POSIX ACLs included.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

/// The sparse map of GNU pax format 1.0 that opens a sparse entry's data: the number of
/// segments, then each offset and length, one decimal number a line, padded with zeros
/// to a block.
pub fn sparse_map(segments: &[(u64, u64)]) -> Vec<u8> {
    let mut map = format!("{}\n", segments.len());
    for (offset, len) in segments {
        map.push_str(&format!("{offset}\n{len}\n"));
    }
    let mut bytes = map.into_bytes();
    bytes.resize(padded(bytes.len() as u64) as usize, 0);
    bytes
}

/// `len` rounded up to whole blocks.
pub fn padded(len: u64) -> u64 {
    len.div_ceil(BLOCK) * BLOCK
}

/// The segments of a sparse file with GNU's convention: a file that ends in a hole gets
/// a last, empty segment at its size.
pub fn sparse_segments(mut data: Vec<(u64, u64)>, size: u64) -> Vec<(u64, u64)> {
    if data.last().is_none_or(|(offset, len)| offset + len < size) {
        data.push((size, 0));
    }
    data
}

/// Writes `meta`'s pax and ustar headers; the caller writes exactly [`data_len`] bytes
/// of data after it, then pads to a block.
pub fn write_header(builder: &mut tar::Builder<impl Write>, meta: &Meta) -> std::io::Result<()> {
    let mut records: Vec<(String, Vec<u8>)> = Vec::new();
    let mut name = meta.path.clone();
    match &meta.kind {
        Kind::File { sparse: Some(_) } => {
            records.push(("GNU.sparse.major".into(), b"1".to_vec()));
            records.push(("GNU.sparse.minor".into(), b"0".to_vec()));
            records.push(("GNU.sparse.name".into(), meta.path.clone().into_bytes()));
            records.push(("GNU.sparse.realsize".into(), meta.size.to_string().into_bytes()));
            let base = meta.path.rsplit('/').next().unwrap_or("file");
            name = format!("./GNUSparseFile.0/{base}");
        }
        _ => records.push(("path".into(), meta.path.clone().into_bytes())),
    }
    match &meta.kind {
        Kind::Symlink(target) => records.push(("linkpath".into(), target.clone())),
        Kind::HardLink(target) => records.push(("linkpath".into(), target.clone().into_bytes())),
        _ => {}
    }
    records.push(("mtime".into(), format!("{}.{:09}", meta.mtime.0, meta.mtime.1).into_bytes()));
    let size = data_len(meta);
    if size > USTAR_MAX_SIZE {
        records.push(("size".into(), size.to_string().into_bytes()));
    }
    for (key, id) in [("uid", meta.uid), ("gid", meta.gid)] {
        if id > USTAR_MAX_ID {
            records.push((key.into(), id.to_string().into_bytes()));
        }
    }
    for (key, value) in &meta.xattrs {
        records.push((format!("{XATTR_PREFIX}{key}"), value.clone()));
    }
    builder.append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), v.as_slice())))?;

    let mut header = tar::Header::new_ustar();
    let field = &mut header.as_old_mut().name;
    let cut = truncate(&name, field.len() - 1);
    field[..cut.len()].copy_from_slice(cut.as_bytes());
    let (entry_type, link) = match &meta.kind {
        Kind::Directory => (tar::EntryType::Directory, None),
        Kind::File { .. } => (tar::EntryType::Regular, None),
        Kind::Symlink(target) => (tar::EntryType::Symlink, Some(target.clone())),
        Kind::HardLink(target) => (tar::EntryType::Link, Some(target.clone().into_bytes())),
        Kind::Fifo => (tar::EntryType::Fifo, None),
        Kind::Char(..) => (tar::EntryType::Char, None),
        Kind::Block(..) => (tar::EntryType::Block, None),
    };
    header.set_entry_type(entry_type);
    if let Some(link) = link {
        let field = &mut header.as_old_mut().linkname;
        let text = String::from_utf8_lossy(&link).into_owned();
        let cut = truncate(&text, field.len() - 1);
        field[..cut.len()].copy_from_slice(cut.as_bytes());
    }
    if let Kind::Char(major, minor) | Kind::Block(major, minor) = meta.kind {
        header.set_device_major(major)?;
        header.set_device_minor(minor)?;
    }
    header.set_mode(meta.mode);
    header.set_uid(meta.uid.min(USTAR_MAX_ID));
    header.set_gid(meta.gid.min(USTAR_MAX_ID));
    header.set_mtime(u64::try_from(meta.mtime.0).unwrap_or(0));
    header.set_size(size.min(USTAR_MAX_SIZE));
    header.set_cksum();
    builder.append(&header, std::io::empty())
}

/// The bytes of data that follow `meta`'s header: the content of a file (for a sparse
/// file, its map and data segments), nothing for other kinds.
pub fn data_len(meta: &Meta) -> u64 {
    match &meta.kind {
        Kind::File { sparse: None } => meta.size,
        Kind::File { sparse: Some(segments) } => {
            sparse_map(segments).len() as u64 + segments.iter().map(|(_, len)| len).sum::<u64>()
        }
        _ => 0,
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character.
fn truncate(text: &str, max: usize) -> &str {
    let end = (0..=max.min(text.len())).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
    &text[..end]
}

/// Parses a sparse map from the start of an entry's data (a whole number of blocks):
/// the data segments that follow it.
pub fn parse_sparse_map(read: &mut impl std::io::Read) -> std::io::Result<Vec<(u64, u64)>> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("sparse map: {what}"));
    let mut block = [0u8; BLOCK as usize];
    let mut pending = String::new();
    let mut numbers: Vec<u64> = Vec::new();
    let mut wanted: Option<u64> = None;
    loop {
        read.read_exact(&mut block)?;
        for &byte in &block {
            if wanted.is_some_and(|n| numbers.len() as u64 == 1 + 2 * n) {
                break;
            }
            match byte {
                b'\n' => {
                    numbers.push(pending.parse().map_err(|_| bad("not a number"))?);
                    pending.clear();
                    if wanted.is_none() {
                        let n = numbers[0];
                        if n > 1 << 24 {
                            return Err(bad("too many segments"));
                        }
                        wanted = Some(n);
                    }
                }
                b'0'..=b'9' if pending.len() < 20 => pending.push(char::from(byte)),
                _ => return Err(bad("unexpected byte")),
            }
        }
        if wanted.is_some_and(|n| numbers.len() as u64 == 1 + 2 * n) {
            let segments = numbers[1..].chunks(2).map(|pair| (pair[0], pair[1])).collect();
            return Ok(segments);
        }
    }
}
