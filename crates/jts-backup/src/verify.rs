//! Verifying an archive: its footer, every member re-read and every file's blake3
//! checked against the manifest, and the manifest member against the footer's copy.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use jts_core::Root;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::footer::read_footer_hashed;
use crate::list::list_archives;
use crate::manifest::{FileRecord, MANIFEST_MEMBER, Manifest};
use crate::names::Locations;
use crate::pax::Kind;
use crate::read::{Entry, for_each_entry};
use crate::state::{VerifyRecord, VerifyRecords};

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
    // Sized to the file: zeroing a 1 MiB buffer for each small file costs more than
    // reading it.
    let mut buffer = vec![0u8; usize::try_from(entry.size.clamp(1, 1 << 20)).unwrap_or(1 << 20)];
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

/// Checks one archive's content against its manifest, as it is read. The writer records
/// every regular file in archive order, so the files are expected in the manifest's
/// order, one after the other, and nothing is looked up. The manifest member is hashed
/// as it streams by and compared with the footer's blake3: the writer made both from the
/// same bytes.
pub(crate) struct Checker<'a> {
    archive: &'a Path,
    files: &'a [FileRecord],
    next: usize,
    footer_hash: blake3::Hash,
    /// Files whose content did not match.
    pub mismatched: Vec<String>,
    /// Whether the manifest member was seen and matched the footer.
    pub manifest_seen: bool,
    /// Files and bytes checked.
    pub verified: Verified,
}

impl<'a> Checker<'a> {
    /// Checks against `manifest`, read from the footer whose JSON hashed to `footer_hash`.
    pub(crate) fn new(archive: &'a Path, manifest: &'a Manifest, footer_hash: blake3::Hash) -> Self {
        Self {
            archive,
            files: &manifest.files,
            next: 0,
            footer_hash,
            mismatched: Vec::new(),
            manifest_seen: false,
            verified: Verified { files: 0, bytes: 0 },
        }
    }

    /// Checks the manifest member, read from `data`, against the footer's copy.
    pub(crate) fn manifest_member(&mut self, data: &mut dyn Read) -> Result<()> {
        let mut hasher = blake3::Hasher::new();
        std::io::copy(data, &mut hasher)
            .map_err(|err| Error::damaged(self.archive, format!("the manifest member: {err}")))?;
        if hasher.finalize() != self.footer_hash {
            return Err(Error::damaged(self.archive, "the manifest member differs from the footer's copy"));
        }
        self.manifest_seen = true;
        Ok(())
    }

    /// Checks a regular file's size and hash against the next record of the manifest.
    pub(crate) fn file(&mut self, entry: &Entry, hash: blake3::Hash) -> Result<()> {
        let Some(record) = self.files.get(self.next).filter(|record| record.path == entry.path) else {
            let known = self.files.iter().any(|record| record.path == entry.path);
            let what = if known { "is out of the manifest's order" } else { "is not in the manifest" };
            return Err(Error::damaged(self.archive, format!("member {} {what}", entry.path)));
        };
        self.next += 1;
        self.verified.files += 1;
        self.verified.bytes += entry.size;
        if record.size != entry.size || hash.to_hex().as_str() != record.blake3 {
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
        if let Some(missing) = self.files.get(self.next).map(|record| &record.path) {
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
    let (manifest, footer_hash) = read_footer_hashed(&mut file, path)?;
    std::io::Seek::rewind(&mut file).map_err(|err| Error::io("read", path, err))?;
    let mut checker = Checker::new(path, &manifest, footer_hash);
    let walked = for_each_entry(file, path, |entry, data| {
        if !matches!(entry.kind, Kind::File { .. }) {
            return Ok(());
        }
        if entry.path == MANIFEST_MEMBER {
            return checker.manifest_member(data);
        }
        let hash = hash_content(entry, data, path, |_, _| Ok(()))?;
        checker.file(entry, hash)
    });
    // A damaged file is named first, before a stream error (the zstd checksum) it causes.
    if checker.mismatched.is_empty() {
        walked?;
    }
    checker.finish()
}

/// One archive's verification, as `backup verify` reports it.
#[derive(Debug)]
pub struct VerifyOutcome {
    /// The archive.
    pub archive: PathBuf,
    /// What was checked, or the first problem, naming the archive and the file.
    pub result: Result<Verified>,
}

/// `backup verify` of one backup: its archives in `locations` (every one, or a rolling
/// `sample` percent: those verified longest ago first), each re-read and checked, each
/// result recorded in `records` at the time it ended (the caller writes them).
pub fn verify_backup(
    root: &Root,
    backup: &str,
    locations: &Locations,
    sample: Option<u8>,
    records: &mut VerifyRecords,
) -> Result<Vec<VerifyOutcome>> {
    let found = list_archives(root, backup, locations)?;
    let ids: Vec<String> = found.iter().map(|a| a.id.clone()).collect();
    let chosen: std::collections::BTreeSet<&String> = match sample {
        Some(percent) => {
            let seen = records.get(backup);
            rolling_sample(&ids, percent, |id| seen.and_then(|r| r.get(id)).map(|r| r.at)).into_iter().collect()
        }
        None => ids.iter().collect(),
    };
    let mut outcomes = Vec::new();
    for archive in found.iter().filter(|a| chosen.contains(&a.id)) {
        let result = verify_archive(&archive.path);
        let record = VerifyRecord {
            at: crate::unix(SystemTime::now()),
            ok: result.is_ok(),
            problem: result.as_ref().err().map(ToString::to_string),
        };
        records.entry(backup.to_owned()).or_default().insert(archive.id.clone(), record);
        outcomes.push(VerifyOutcome { archive: archive.path.clone(), result });
    }
    Ok(outcomes)
}

/// Which of `archives` (ids) a `--sample PERCENT` verify reads: the rounded-up share,
/// never-verified first, then those verified longest ago (`last_verified` gives the
/// time), so that repeated runs cover every archive in turn.
pub fn rolling_sample(archives: &[String], percent: u8, last_verified: impl Fn(&str) -> Option<i64>) -> Vec<&String> {
    let count = (archives.len() * usize::from(percent.min(100))).div_ceil(100);
    let mut order: Vec<&String> = archives.iter().collect();
    order.sort_by_cached_key(|id| (last_verified(id).unwrap_or(i64::MIN), *id));
    order.truncate(count);
    order
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

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
