//! Verifying an archive: its footer, every member re-read and every file's blake3
//! checked against the manifest, and the manifest member against the footer's copy.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::footer::read_footer;
use crate::manifest::{FileRecord, MANIFEST_MEMBER, Manifest};
use crate::pax::Kind;
use crate::read::{Entry, for_each_entry};

/// What a verify found in a sound archive.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    /// Files checked.
    pub files: usize,
    /// Bytes of content checked.
    pub bytes: u64,
}

/// Reads `size` bytes of an entry's content (for a sparse file, its segments, holes
/// counted as zeros) into `sink`, returning their blake3.
pub(crate) fn hash_content(
    entry: &Entry,
    data: &mut dyn Read,
    archive: &Path,
    mut sink: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<blake3::Hash> {
    let segments = match &entry.kind {
        Kind::File { sparse: Some(segments) } => segments.clone(),
        _ => vec![(0, entry.size)],
    };
    let mut hasher = blake3::Hasher::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut at = 0u64;
    let damaged =
        |err: std::io::Error| Error::damaged(archive, format!("member {}: cannot be read back: {err}", entry.path));
    for (offset, len) in segments {
        if offset < at {
            return Err(Error::damaged(archive, format!("member {}: its sparse map goes backwards", entry.path)));
        }
        hash_zeros(&mut hasher, offset - at);
        let mut done = 0u64;
        while done < len {
            let want = usize::try_from((len - done).min(buffer.len() as u64)).unwrap_or(buffer.len());
            data.read_exact(&mut buffer[..want]).map_err(damaged)?;
            hasher.update(&buffer[..want]);
            sink(offset + done, &buffer[..want])?;
            done += want as u64;
        }
        at = offset + len;
    }
    hash_zeros(&mut hasher, entry.size.saturating_sub(at));
    Ok(hasher.finalize())
}

/// Feeds `len` zero bytes (a hole) to `hasher`.
pub(crate) fn hash_zeros(hasher: &mut blake3::Hasher, mut len: u64) {
    static ZEROS: [u8; 65_536] = [0; 65_536];
    while len > 0 {
        let n = len.min(ZEROS.len() as u64);
        hasher.update(&ZEROS[..usize::try_from(n).unwrap_or(0)]);
        len -= n;
    }
}

/// Checks one archive's content against its manifest, as it is read: the map of files
/// still expected, and what was seen.
pub(crate) struct Checker<'a> {
    archive: &'a Path,
    expected: BTreeMap<&'a str, &'a FileRecord>,
    manifest: &'a Manifest,
    /// Files whose content did not match.
    pub mismatched: Vec<String>,
    /// Whether the manifest member was seen and matched the footer.
    pub manifest_seen: bool,
    /// Files and bytes checked.
    pub verified: Verified,
}

impl<'a> Checker<'a> {
    pub(crate) fn new(archive: &'a Path, manifest: &'a Manifest) -> Self {
        let expected = manifest.files.iter().map(|f| (f.path.as_str(), f)).collect();
        Self {
            archive,
            expected,
            manifest,
            mismatched: Vec::new(),
            manifest_seen: false,
            verified: Verified { files: 0, bytes: 0 },
        }
    }

    /// Checks a file's hash; the manifest member is compared with the footer instead.
    pub(crate) fn file(&mut self, entry: &Entry, hash: Option<blake3::Hash>, member: Option<&[u8]>) -> Result<()> {
        if entry.path == MANIFEST_MEMBER {
            let parsed: Option<Manifest> = member.and_then(|bytes| serde_json::from_slice(bytes).ok());
            if parsed.as_ref() != Some(self.manifest) {
                return Err(Error::damaged(self.archive, "the manifest member differs from the footer's copy"));
            }
            self.manifest_seen = true;
            return Ok(());
        }
        let Some(record) = self.expected.remove(entry.path.as_str()) else {
            return Err(Error::damaged(self.archive, format!("member {} is not in the manifest", entry.path)));
        };
        self.verified.files += 1;
        self.verified.bytes += entry.size;
        let hash = hash.map(|h| h.to_hex().to_string());
        if record.size != entry.size || hash.as_deref() != Some(record.blake3.as_str()) {
            self.mismatched.push(entry.path.clone());
        }
        Ok(())
    }

    /// The verdict once every member was read.
    pub(crate) fn finish(self) -> Result<Verified> {
        if let Some(first) = self.mismatched.first() {
            let more = self.mismatched.len() - 1;
            let more = if more > 0 { format!(" (and {more} more files)") } else { String::new() };
            return Err(Error::damaged(
                self.archive,
                format!(
                    "file {first}{more}: content does not match the manifest's blake3; restore from another archive"
                ),
            ));
        }
        if let Some(missing) = self.expected.keys().next() {
            return Err(Error::damaged(
                self.archive,
                format!("file {missing} is in the manifest but not in the archive"),
            ));
        }
        if !self.manifest_seen {
            return Err(Error::damaged(self.archive, "the manifest member is missing"));
        }
        Ok(self.verified)
    }
}

/// Verifies the archive at `path`: Ok with what was checked, or [`Error::Damaged`]
/// naming the archive and the first file that failed.
pub fn verify_archive(path: &Path) -> Result<Verified> {
    let mut file = std::fs::File::open(path).map_err(|err| Error::io("open", path, err))?;
    let manifest = read_footer(&mut file, path)?;
    std::io::Seek::rewind(&mut file).map_err(|err| Error::io("read", path, err))?;
    let mut checker = Checker::new(path, &manifest);
    let walked = for_each_entry(file, path, |entry, data| {
        if !matches!(entry.kind, Kind::File { .. }) {
            return Ok(());
        }
        if entry.path == MANIFEST_MEMBER {
            let mut bytes = Vec::new();
            data.read_to_end(&mut bytes).map_err(|err| Error::damaged(path, format!("the manifest member: {err}")))?;
            return checker.file(entry, None, Some(&bytes));
        }
        let hash = hash_content(entry, data, path, |_, _| Ok(()))?;
        checker.file(entry, Some(hash), None)
    });
    // A damaged file is named first, before a stream error (the zstd checksum) it causes.
    if checker.mismatched.is_empty() {
        walked?;
    }
    checker.finish()
}

/// Which of `archives` (ids) a `--sample PERCENT` verify reads: the rounded-up share,
/// never-verified first, then those verified longest ago (`last_verified` gives the
/// time), so that repeated runs cover every archive in turn.
pub fn rolling_sample(archives: &[String], percent: u8, last_verified: impl Fn(&str) -> Option<i64>) -> Vec<&String> {
    let count = (archives.len() * usize::from(percent.min(100))).div_ceil(100);
    let mut order: Vec<&String> = archives.iter().collect();
    order.sort_by_key(|id| (last_verified(id).unwrap_or(i64::MIN), (*id).clone()));
    order.truncate(count);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rolling_sample_covers_every_archive_in_turn() {
        let ids: Vec<String> = (0..10).map(|n| format!("a{n}")).collect();
        let mut verified: BTreeMap<String, i64> = BTreeMap::new();
        let mut seen = std::collections::BTreeSet::new();
        for night in 0..4 {
            let sample: Vec<String> =
                rolling_sample(&ids, 30, |id| verified.get(id).copied()).into_iter().cloned().collect();
            assert_eq!(sample.len(), 3);
            for id in sample {
                verified.insert(id.clone(), night);
                seen.insert(id);
            }
        }
        assert_eq!(seen.len(), 10, "four nights of 30% cover all ten");
    }
}
