//! Reading and writing `/etc/fstab` under a [`Root`]: atomically, never through a
//! symlink, with a timestamped backup of the previous content.

use std::path::PathBuf;
use std::time::SystemTime;

use jts_core::nofollow::{FileKind, Lookup, lookup};
use jts_core::{AbsPath, Root, write_atomic};

use crate::error::{Error, Result};
use crate::fstab::Fstab;

/// The path of the file, as a spec path.
pub const FSTAB: &str = "/etc/fstab";

fn fstab_path() -> AbsPath {
    AbsPath::new(FSTAB).expect("constant path is valid")
}

/// Reads a file we own under `root` without following a symlink; `None` if it is missing.
pub(crate) fn read_owned(root: &Root, path: &AbsPath) -> Result<Option<(String, u32)>> {
    let target = root.resolve(path);
    match lookup(root, path)? {
        Lookup::Found(node) if node.kind() == FileKind::File => {
            let bytes =
                std::fs::read(node.proc_path()).map_err(|source| Error::Read { path: target.clone(), source })?;
            Ok(Some((decode_lines(&bytes), node.mode())))
        }
        Lookup::Found(node) => Err(jts_core::Error::NotADirectory { path: target, found: node.kind().name() }.into()),
        Lookup::Missing => Ok(None),
        Lookup::Blocked { at, kind } => {
            Err(jts_core::Error::NotADirectory { path: root.resolve(&at), found: kind.name() }.into())
        }
    }
}

/// Marks a line that is not UTF-8, as [`decode_lines`] writes it: the marker, then the
/// line's bytes in hex.
const RAW_LINE: &str = "# jts: a line that is not UTF-8, kept byte for byte: ";

/// The file's text with every line that is not UTF-8 (the kernel and mount accept any
/// bytes) replaced by a comment holding its bytes, so that it is kept as a foreign line
/// and [`encode_lines`] writes it back exactly.
fn decode_lines(bytes: &[u8]) -> String {
    bytes
        .split_inclusive(|byte| *byte == b'\n')
        .map(|line| match std::str::from_utf8(line) {
            Ok(text) => text.to_owned(),
            Err(_) => {
                let (body, newline) = line.strip_suffix(b"\n").map_or((line, ""), |body| (body, "\n"));
                let hex: String = body.iter().map(|byte| format!("{byte:02x}")).collect();
                format!("{RAW_LINE}{hex}{newline}")
            }
        })
        .collect()
}

/// The bytes of `text` as read by [`decode_lines`]: each marked line is its bytes again.
fn encode_lines(text: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, newline) = line.strip_suffix('\n').map_or((line, ""), |body| (body, "\n"));
        match body.strip_prefix(RAW_LINE).and_then(unhex) {
            Some(raw) => bytes.extend(raw),
            None => bytes.extend(body.as_bytes()),
        }
        bytes.extend(newline.as_bytes());
    }
    bytes
}

fn unhex(hex: &str) -> Option<Vec<u8>> {
    (hex.len() % 2 == 0)
        .then(|| (0..hex.len()).step_by(2).map(|at| u8::from_str_radix(hex.get(at..at + 2)?, 16).ok()).collect())
        .flatten()
}

/// Reads `/etc/fstab` under `root`; `None` when there is none. A symlink there is refused.
pub fn read_fstab(root: &Root) -> Result<Option<String>> {
    Ok(read_owned(root, &fstab_path())?.map(|(text, _)| text))
}

/// The backup name for a write at `time`: `/etc/fstab.jts-backup-YYYYMMDDTHHMMSSZ`.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// assert_eq!(jts_mounts::backup_path(at).to_string(), "/etc/fstab.jts-backup-20231114T221320Z");
/// ```
pub fn backup_path(time: SystemTime) -> AbsPath {
    let stamp: String =
        humantime::format_rfc3339_seconds(time).to_string().chars().filter(|c| !matches!(c, '-' | ':')).collect();
    AbsPath::new(format!("{FSTAB}.jts-backup-{stamp}")).expect("constant prefix is absolute")
}

/// Writes `fstab` to `/etc/fstab` under `root`.
///
/// Nothing happens when the file already holds exactly that text. Otherwise the current
/// file (if any) is first copied to a timestamped backup (with its mode), then the new
/// text replaces it atomically with [`write_atomic`]: a temp file in `/etc`, fsync,
/// rename, fsync of `/etc`. A crash leaves the old file or the new one under the final
/// name, never a mix. Returns the backup written, if any, as a path on this machine.
pub fn write_fstab(root: &Root, fstab: &Fstab) -> Result<Option<PathBuf>> {
    let path = fstab_path();
    let text = fstab.render();
    let current = read_owned(root, &path)?;
    if current.as_ref().is_some_and(|(old, _)| *old == text) {
        return Ok(None);
    }
    let mode = current.as_ref().map_or(0o644, |(_, mode)| *mode);
    let backup = match &current {
        Some((old, mode)) => {
            let backup = free_backup_name(root, backup_path(SystemTime::now()))?;
            write_atomic(root, &backup, &encode_lines(old), *mode)?;
            Some(root.resolve(&backup))
        }
        None => None,
    };
    write_atomic(root, &path, &encode_lines(&text), mode)?;
    tracing::info!(path = %root.resolve(&path).display(), "fstab written");
    Ok(backup)
}

/// `wanted`, or `wanted.1`, `wanted.2`, … when two writes fall in the same second.
fn free_backup_name(root: &Root, wanted: AbsPath) -> Result<AbsPath> {
    let mut candidate = wanted.clone();
    let mut n = 0;
    while !matches!(lookup(root, &candidate)?, Lookup::Missing) {
        n += 1;
        candidate = AbsPath::new(format!("{wanted}.{n}")).expect("suffixed absolute path");
    }
    Ok(candidate)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;
    use crate::fstab::FstabEntry;

    fn scratch() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        let root = Root::new(dir.path()).unwrap();
        (dir, root)
    }

    fn backups(dir: &std::path::Path) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir.join("etc"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("fstab.jts-backup-"))
            .collect();
        found.sort();
        found
    }

    #[test]
    fn writes_with_a_backup_only_when_the_content_changes() {
        let (dir, root) = scratch();
        let old = "# keep me\n/dev/a /a ext4 defaults 0 2\n";
        std::fs::write(dir.path().join("etc/fstab"), old).unwrap();
        let mut fstab = Fstab::parse(&read_fstab(&root).unwrap().unwrap());
        fstab.upsert(FstabEntry::new("/dev/b", "/b", "xfs", &[]));
        let backup = write_fstab(&root, &fstab).unwrap().unwrap();
        assert_eq!(std::fs::read_to_string(&backup).unwrap(), old);
        assert_eq!(std::fs::read_to_string(dir.path().join("etc/fstab")).unwrap(), fstab.render());
        assert_eq!(write_fstab(&root, &fstab).unwrap(), None, "same content: no write, no backup");
        assert_eq!(backups(dir.path()).len(), 1);
        fstab.upsert(FstabEntry::new("/dev/c", "/c", "xfs", &[]));
        write_fstab(&root, &fstab).unwrap().unwrap();
        assert_eq!(backups(dir.path()).len(), 2, "a second write in the same second gets its own backup");
    }

    #[test]
    fn a_missing_file_is_created_without_backup() {
        let (dir, root) = scratch();
        assert_eq!(read_fstab(&root).unwrap(), None);
        let fstab = Fstab::parse("/dev/b /b xfs defaults 0 0\n");
        assert_eq!(write_fstab(&root, &fstab).unwrap(), None);
        assert!(backups(dir.path()).is_empty());
        assert_eq!(read_fstab(&root).unwrap().unwrap(), fstab.render());
    }

    #[test]
    fn a_symlinked_fstab_is_refused_and_its_target_untouched() {
        let (dir, root) = scratch();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "x").unwrap();
        symlink(&victim, dir.path().join("etc/fstab")).unwrap();
        assert!(read_fstab(&root).unwrap_err().to_string().contains("symlink"));
        assert!(write_fstab(&root, &Fstab::parse("y\n")).is_err());
        assert_eq!(std::fs::read_to_string(victim).unwrap(), "x");
    }

    #[test]
    fn lines_that_are_not_utf8_are_kept_byte_for_byte() {
        let (dir, root) = scratch();
        let file = dir.path().join("etc/fstab");
        let foreign = b"# caf\xe9\n/dev/sdz1 /caf\xe9 ext4 defaults 0 2\nLABEL=x /x ext4 defaults 0 2".to_vec();
        std::fs::write(&file, &foreign).unwrap();
        let mut fstab = Fstab::parse(&read_fstab(&root).unwrap().unwrap());
        write_fstab(&root, &fstab).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), foreign, "an unchanged table is not rewritten");
        let added = crate::fstab::FstabEntry::new("LABEL=jts", "/data", "xfs", &["noatime".to_owned()]);
        fstab.upsert(added);
        write_fstab(&root, &fstab).unwrap();
        let written = std::fs::read(&file).unwrap();
        assert!(
            written.starts_with(&foreign),
            "foreign lines kept byte for byte: {:?}",
            String::from_utf8_lossy(&written)
        );
        assert!(String::from_utf8_lossy(&written).contains("LABEL=jts /data xfs noatime"));
        let backups: Vec<_> = std::fs::read_dir(dir.path().join("etc"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("fstab.jts-backup"))
            .collect();
        assert_eq!(backups.len(), 1, "one backup, for the one change");
        assert_eq!(std::fs::read(backups[0].path()).unwrap(), foreign);
    }

    #[test]
    fn raw_lines_round_trip() {
        for bytes in [&b"\xff\n"[..], b"a\n\xfe\xfd", b"", b"plain\n"] {
            assert_eq!(encode_lines(&decode_lines(bytes)), bytes);
        }
    }
}
