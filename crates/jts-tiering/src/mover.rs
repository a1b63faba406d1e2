//! Moving a rule's files between filesystems without ever losing one.
//!
//! The guarantee: at every instant, each file exists complete at its source, or complete
//! and verified under its final name at the destination; a partial file is only ever
//! under a [temporary name](crate::names::TEMP_PREFIX). Files go in batches
//! (docs/architecture.md, "The mover": group commit):
//!
//! 1. `begin` is journaled with the temporary names; each file is copied to its
//!    temporary, hashing what is read, and given the source's owner, xattrs/ACLs, mode
//!    and times;
//! 2. `syncfs` on the destination; with `verify = "readback"` each copy is dropped from
//!    the page cache and read back from the device, and its hash compared;
//! 3. final names are chosen (a different file of the same name is never replaced: the
//!    copy gets a `.conflict-N` name; identical content is a duplicate and not copied),
//!    and `copied` is journaled;
//! 4. temporaries are renamed with `RENAME_NOREPLACE`; `syncfs`; `renamed` is journaled;
//! 5. sources still identical to what was copied are unlinked; `syncfs` on the source;
//!    `done` is journaled and the journal emptied.
//!
//! Steps 1 ([`Mover::copy`]) and 2–5 ([`Mover::commit`]) of consecutive batches overlap:
//! batch N+1 copies while batch N syncs, reads back and renames. Each batch in flight has
//! its own journal, so at most two batches, of disjoint files, are ever unfinished.
//!
//! A restart finds the last record of an unfinished batch and rolls it back (`begin`:
//! the temporaries are removed) or forward (`copied`, `renamed`), see [`recover`].
//! Within one filesystem and without compression a move is a `rename`, which is atomic.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::Seek;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use jts_core::nofollow::FileKind;
use jts_core::{AbsPath, Root};

use crate::copy::{Hash, content_hash, copy_content, copy_metadata, unchanged};
use crate::delete::prune_empty_dirs;
use crate::dir::{Dir, DirCache, Renamed, split};
use crate::error::{Error, Result};
use crate::journal::{Batch, Entry, Identity, Journal, Record};
use crate::names::{conflict_name, dest_path, temp_name};
use crate::report::{Conflict, RuleReport};
use crate::rules::{Compression, Verify};
use crate::run::{Context, Progress};
use crate::scan::Candidate;

/// Space for a file's metadata, on top of its bytes, when checking free space.
const METADATA_SLACK: u64 = 4096;

/// Moves of one rule (or of one recovered batch) between two directories.
pub(crate) struct Mover<'a> {
    from: Dir,
    to: Dir,
    to_dev: u64,
    batch_from: AbsPath,
    batch_to: AbsPath,
    compress: Option<Compression>,
    report: Mutex<&'a mut RuleReport>,
    context: &'a Context<'a>,
    /// Remove the source directories a batch empties (`prune_empty_dirs`).
    prune: bool,
    /// Write copies with `O_DIRECT`: on NFS, so that no dirty page of ours is ever left
    /// for a later call to wait on, uninterruptibly, when the server stops answering.
    direct_io: bool,
    from_dirs: DirCache,
    to_dirs: DirCache,
    seq: AtomicU64,
}

/// A batch whose files are copied to temporaries, for [`Mover::commit`].
pub(crate) struct Copying {
    number: u64,
    files: Vec<Entry>,
    outcomes: Vec<Outcome>,
    copy_time: std::time::Duration,
}

/// What happened to one file of a batch.
enum Outcome {
    Copied(Hash),
    Duplicate(Hash),
    Skipped(String),
    Failed(Error),
    NotAttempted,
}

/// Per-worker state: a read buffer and the directories of the previous file.
#[derive(Default)]
struct WorkerCache {
    buffer: Vec<u8>,
    source: DirCache,
    dest: DirCache,
}

/// Free space on the destination, shared by a batch's workers.
struct Ledger {
    available: u64,
    reserve: u64,
    used: AtomicU64,
}

impl Ledger {
    fn take(&self, bytes: u64, path: &Path) -> Result<()> {
        let need = bytes.saturating_add(METADATA_SLACK);
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                let total = used.checked_add(need)?.checked_add(self.reserve)?;
                (total <= self.available).then_some(used + need)
            })
            .map(drop)
            .map_err(|used| Error::DestinationFull {
                path: path.to_path_buf(),
                needed: bytes,
                available: self.available.saturating_sub(used),
                reserve: self.reserve,
            })
    }
}

impl<'a> Mover<'a> {
    /// A mover from `from` to `to` under `root`.
    pub fn new(
        root: &Root,
        (from, to): (&AbsPath, &AbsPath),
        compress: Option<Compression>,
        prune: bool,
        report: &'a mut RuleReport,
        context: &'a Context<'a>,
    ) -> Result<Self> {
        let from_dir = Dir::open(root, from)?;
        let to_dir = Dir::open(root, to)?;
        let to_dev = to_dir.stat()?.st_dev;
        let direct_io = to_dir.is_nfs()?;
        Ok(Self {
            from: from_dir,
            to: to_dir,
            to_dev,
            batch_from: from.clone(),
            batch_to: to.clone(),
            compress,
            report: Mutex::new(report),
            context,
            prune,
            direct_io,
            from_dirs: DirCache::default(),
            to_dirs: DirCache::default(),
            seq: AtomicU64::new(0),
        })
    }

    /// Whether a move is a plain rename: same filesystem, no compression.
    pub fn same_filesystem(&self) -> Result<bool> {
        Ok(self.compress.is_none() && self.from.stat()?.st_dev == self.to_dev)
    }

    /// The rule's report, for an update.
    fn report(&self) -> std::sync::MutexGuard<'_, &'a mut RuleReport> {
        self.report.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// First half of a batch: journals `begin`, then copies `candidates` to temporaries.
    /// The second half, [`Mover::commit`], may run while the next batch copies.
    pub fn copy(&self, number: u64, candidates: &[Candidate], reserve: u64, journal: &mut Journal) -> Result<Copying> {
        let files: Vec<Entry> = candidates.iter().map(|candidate| self.entry_for(candidate)).collect();
        let started = std::time::Instant::now();
        journal.append(&Record::Begin(self.batch(number, files.clone())))?;
        let ledger = Ledger { available: self.to.available_bytes()?, reserve, used: AtomicU64::new(0) };
        let stop = AtomicBool::new(false);
        let outcomes = parallel_map(&files, self.context.options.workers, |cache, entry| {
            if stop.load(Ordering::Relaxed) || self.context.cancelled() {
                return Outcome::NotAttempted;
            }
            let outcome = self.copy_one(cache, entry, &ledger).unwrap_or_else(Outcome::Failed);
            if matches!(outcome, Outcome::Failed(_)) {
                stop.store(true, Ordering::Relaxed);
            }
            outcome
        });
        Ok(Copying { number, files, outcomes, copy_time: started.elapsed() })
    }

    /// Second half of a batch: `syncfs`, read-back verification, final names, `copied`,
    /// renames, `syncfs`, `renamed`, unlinks, `syncfs`, `done`. Returns the error that
    /// stopped the copy, if one did, once the files copied before it are committed.
    pub fn commit(&self, copying: Copying, verify: Verify, journal: &mut Journal) -> Result<()> {
        let Copying { number, files, mut outcomes, copy_time } = copying;
        let started = std::time::Instant::now();
        self.to.sync_filesystem()?;
        let synced_at = started.elapsed();
        if verify == Verify::Readback {
            let copied: Vec<(usize, Hash)> = outcomes
                .iter()
                .enumerate()
                .filter_map(|(index, outcome)| match outcome {
                    Outcome::Copied(hash) => Some((index, *hash)),
                    _ => None,
                })
                .collect();
            let verified = parallel_map(&copied, self.context.options.workers, |cache, &(index, hash)| {
                self.read_back(cache, &files[index], hash).unwrap_or_else(Outcome::Failed)
            });
            for ((index, _), outcome) in copied.into_iter().zip(verified) {
                outcomes[index] = outcome;
            }
        }
        let mut fatal = None;
        let mut moving = Vec::with_capacity(files.len());
        for (mut entry, outcome) in files.into_iter().zip(outcomes) {
            match outcome {
                Outcome::Copied(hash) => {
                    entry.hash = Some(hash.to_hex().to_string());
                    self.choose_free_name(&mut entry)?;
                    moving.push(entry);
                    continue;
                }
                Outcome::Duplicate(hash) => {
                    entry.hash = Some(hash.to_hex().to_string());
                    entry.duplicate = true;
                    moving.push(entry);
                    continue;
                }
                Outcome::Skipped(reason) => self.report().skip(&entry.source, reason),
                Outcome::Failed(err) => fatal = fatal.or(Some(err)),
                Outcome::NotAttempted => {}
            }
            none_behind_a_non_directory(self.remove_temp(&entry))?;
        }
        let verified_at = started.elapsed();
        journal.append(&Record::Copied(self.batch(number, moving.clone())))?;
        let count = moving.len();
        self.finish(journal, number, moving)?;
        tracing::debug!(
            "batch {number}: {count} files; copy {copy_time:?}, syncfs {synced_at:?}, verify {:?}, \
             rename+syncfs+unlink+syncfs {:?}",
            verified_at - synced_at,
            started.elapsed() - verified_at
        );
        fatal.map_or(Ok(()), Err)
    }

    fn entry_for(&self, candidate: &Candidate) -> Entry {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let dest = dest_path(&candidate.path, self.compress);
        let (dir, _) = split(&dest);
        Entry {
            source: candidate.path.clone(),
            temp: dir.join(temp_name(&self.context.run_id, seq)),
            dest,
            identity: candidate.identity(),
            hash: None,
            duplicate: false,
        }
    }

    fn batch(&self, number: u64, files: Vec<Entry>) -> Batch {
        Batch { number, from: self.batch_from.clone(), to: self.batch_to.clone(), compress: self.compress, files }
    }

    /// The destination directory at `relative`, created like the source's if missing
    /// and `create` is set, and refused if it is on another filesystem than `to` (its
    /// `syncfs` would not cover it).
    fn dest_dir(&self, relative: &Path, create: bool) -> Result<Option<Dir>> {
        let dir = if create {
            self.to.descend_creating(relative, &self.from)?
        } else {
            match self.to.descend(relative)? {
                Some(dir) => dir,
                None => return Ok(None),
            }
        };
        if dir.stat()?.st_dev != self.to_dev {
            return Err(Error::io(
                "move into",
                dir.path(),
                std::io::Error::other("another filesystem is mounted there"),
            ));
        }
        Ok(Some(dir))
    }

    fn copy_one(&self, cache: &mut WorkerCache, entry: &Entry, ledger: &Ledger) -> Result<Outcome> {
        let (source_dir, source_name) = split(&entry.source);
        let Some(source_dir) = cache.source.get(source_dir, |p| self.from.descend(p))? else {
            return Ok(Outcome::Skipped("vanished before it was copied".into()));
        };
        let Some(mut source) = source_dir.open_file(source_name)? else {
            return Ok(Outcome::Skipped("vanished before it was copied".into()));
        };
        let source_path = || self.from.path().join(&entry.source);
        let stat = nix::sys::stat::fstat(&source).map_err(|err| Error::io("stat", source_path(), err))?;
        if FileKind::of(&stat) != FileKind::File || Identity::of(&stat) != entry.identity {
            return Ok(Outcome::Skipped("changed since the scan".into()));
        }
        let (dest_relative, dest_name) = split(&entry.dest);
        let buffer = &mut cache.buffer;
        // A duplicate needs no room: look for one before reserving space or creating
        // directories, so a full destination is left without empty directories.
        if let Some(dir) = cache.dest.get(dest_relative, |p| self.dest_dir(p, false))?
            && dir.lstat(dest_name)?.is_some_and(|existing| FileKind::of(&existing) == FileKind::File)
        {
            if let Some(hash) = self.same_content(&dir, dest_name, &mut source, buffer)? {
                return Ok(Outcome::Duplicate(hash));
            }
            source.rewind().map_err(|err| Error::io("seek", source_path(), err))?;
        }
        ledger.take(entry.identity.size, &self.to.path().join(dest_relative))?;
        let Some(dest_dir) = cache.dest.get(dest_relative, |p| self.dest_dir(p, true))? else {
            return Ok(Outcome::Skipped("destination directory vanished".into()));
        };
        let (_, temp_name) = split(&entry.temp);
        let mut temp = dest_dir.create_new(temp_name, self.direct_io)?;
        let progress: &Progress = self.context.progress;
        let copied = copy_content(&mut source, &mut temp, self.compress, buffer, &|bytes| progress.add_bytes(bytes))
            .and_then(|copied| copy_metadata(&source, &stat, &temp).map(|()| copied));
        let outcome = match copied {
            Ok((hash, bytes)) => {
                let same = unchanged(&source, &stat).map_err(|err| Error::io("stat", source_path(), err))?;
                let stored = temp.metadata().map_err(|err| Error::io("stat", dest_dir.path().join(temp_name), err))?;
                if !(bytes == entry.identity.size && same) {
                    Outcome::Skipped("changed while being copied".into())
                } else if self.compress.is_none() && stored.len() != bytes {
                    Outcome::Skipped(format!("copy has {} bytes on disk, {bytes} were read", stored.len()))
                } else {
                    Outcome::Copied(hash)
                }
            }
            Err(err) if matches!(err.raw_os_error(), Some(nix::libc::ENOSPC | nix::libc::EDQUOT)) => {
                Outcome::Failed(Error::DestinationFull {
                    path: dest_dir.path().to_path_buf(),
                    needed: entry.identity.size,
                    available: self.to.available_bytes().unwrap_or(0),
                    reserve: ledger.reserve,
                })
            }
            Err(err) => Outcome::Failed(Error::io("copy", source_path(), err)),
        };
        if !matches!(outcome, Outcome::Copied(_)) {
            drop(temp);
            dest_dir.unlink(temp_name)?;
        }
        Ok(outcome)
    }

    /// The hash of `source` if the destination file `name` in `dir` has the same content.
    fn same_content(&self, dir: &Dir, name: &OsStr, source: &mut File, buffer: &mut Vec<u8>) -> Result<Option<Hash>> {
        let Some(mut existing) = dir.open_file(name)? else { return Ok(None) };
        let path = || dir.path().join(name);
        let theirs = match content_hash(&mut existing, self.compress.is_some(), false, buffer) {
            Ok(hash) => hash,
            // Not a valid zstd stream: not the same content.
            Err(err) if err.kind() != std::io::ErrorKind::Other => return Err(Error::io("read", path(), err)),
            Err(_) => return Ok(None),
        };
        let ours = content_hash(source, false, false, buffer).map_err(|err| Error::io("read", path(), err))?;
        Ok((ours == theirs).then_some(ours))
    }

    fn read_back(&self, cache: &mut WorkerCache, entry: &Entry, expected: Hash) -> Result<Outcome> {
        let (dir, temp_name) = split(&entry.temp);
        let Some(dir) = cache.dest.get(dir, |p| self.to.descend(p))? else {
            return Ok(Outcome::Skipped("destination directory vanished".into()));
        };
        let Some(mut copy) = dir.open_file(temp_name)? else {
            return Ok(Outcome::Skipped("copy vanished before it was verified".into()));
        };
        let read = content_hash(&mut copy, self.compress.is_some(), true, &mut cache.buffer)
            .map_err(|err| Error::io("read back", dir.path().join(temp_name), err))?;
        Ok(if read == expected {
            Outcome::Copied(expected)
        } else {
            Outcome::Skipped(format!("verification failed: read back {read}, copied {expected}"))
        })
    }

    fn remove_temp(&self, entry: &Entry) -> Result<()> {
        let (dir, temp_name) = split(&entry.temp);
        if let Some(dir) = self.to_dirs.get(dir, |p| self.to.descend(p))? {
            dir.unlink(temp_name)?;
        }
        Ok(())
    }

    /// Gives `entry` a final name nothing has yet.
    fn choose_free_name(&self, entry: &mut Entry) -> Result<()> {
        let (relative, name) = split(&entry.dest);
        let Some(dir) = self.to_dirs.get(relative, |p| self.to.descend(p))? else { return Ok(()) };
        if dir.lstat(name)?.is_none() {
            return Ok(());
        }
        self.rename_after_conflict(&dir, entry)
    }

    /// Gives `entry` the first `.conflict-N` name of its intended name that is free.
    fn rename_after_conflict(&self, dir: &Dir, entry: &mut Entry) -> Result<()> {
        let intended = dest_path(&entry.source, self.compress);
        let (relative, name) = split(&intended);
        let mut n = 1;
        let fresh = loop {
            let candidate = conflict_name(name, n);
            if dir.lstat(&candidate)?.is_none() {
                break candidate;
            }
            n += 1;
        };
        entry.dest = relative.join(fresh);
        Ok(())
    }

    /// Counts a file as moved, and as a conflict if it is not under its intended name.
    fn record_placed(&self, entry: &Entry) {
        if entry.dest != dest_path(&entry.source, self.compress) && !entry.duplicate {
            self.report().conflicts.push(Conflict { source: entry.source.clone(), kept_as: entry.dest.clone() });
        }
    }

    /// Renames the batch's copies into place, makes that durable, then unlinks the
    /// sources. Idempotent, so a restart can run it again on the same entries.
    pub fn finish(&self, journal: &mut Journal, number: u64, mut files: Vec<Entry>) -> Result<()> {
        let mut placed = Vec::with_capacity(files.len());
        for index in 0..files.len() {
            if self.place(journal, number, &mut files, index)? {
                placed.push(files[index].clone());
            }
        }
        self.to.sync_filesystem()?;
        journal.append(&Record::Renamed(self.batch(number, placed.clone())))?;
        self.unlink_sources(journal, number, &placed)
    }

    /// Puts one copy under its final name; `false` if it cannot be, and then the source
    /// is kept.
    fn place(&self, journal: &mut Journal, number: u64, files: &mut [Entry], index: usize) -> Result<bool> {
        let (relative, temp) = split(&files[index].temp);
        let temp = temp.to_owned();
        let Some(dir) = self.to_dirs.get(relative, |p| self.to.descend(p))? else {
            self.report().skip(&files[index].source, "destination directory vanished; source kept");
            return Ok(false);
        };
        if files[index].duplicate {
            let holds = self.dest_holds(&dir, &files[index])?;
            if !holds {
                self.report().skip(&files[index].source, "destination changed before the duplicate was removed; kept");
            }
            return Ok(holds);
        }
        loop {
            let (_, dest) = split(&files[index].dest);
            match dir.rename_noreplace(&temp, &dir, dest)? {
                Renamed::Done => return Ok(true),
                Renamed::Missing => {
                    // Renamed before an interruption: the content must be at the final name.
                    let holds = self.dest_holds(&dir, &files[index])?;
                    if !holds {
                        self.report().skip(&files[index].source, "copy lost before it was renamed; source kept");
                    }
                    return Ok(holds);
                }
                Renamed::Exists if same_inode(&dir, &temp, dest)? => {
                    // A link-then-unlink rename (NFS) interrupted between its two calls.
                    dir.unlink(&temp)?;
                    return Ok(true);
                }
                Renamed::Exists => {
                    // Another file took the name since it was chosen: keep both, and
                    // journal the new name before using it.
                    let mut entry = files[index].clone();
                    self.rename_after_conflict(&dir, &mut entry)?;
                    files[index] = entry;
                    journal.append(&Record::Copied(self.batch(number, files.to_vec())))?;
                }
            }
        }
    }

    /// Whether the final name of `entry` in `dir` holds exactly the journaled content.
    fn dest_holds(&self, dir: &Dir, entry: &Entry) -> Result<bool> {
        let (_, name) = split(&entry.dest);
        let Some(mut file) = dir.open_file(name)? else { return Ok(false) };
        let mut buffer = Vec::new();
        match content_hash(&mut file, self.compress.is_some(), false, &mut buffer) {
            Ok(hash) => Ok(entry.hash.as_deref() == Some(hash.to_hex().as_str())),
            Err(err) if err.kind() == std::io::ErrorKind::Other => Ok(false),
            Err(err) => Err(Error::io("read", dir.path().join(name), err)),
        }
    }

    /// Unlinks the sources of `files` that are still what was copied, makes that durable,
    /// and closes the batch.
    pub fn unlink_sources(&self, journal: &mut Journal, number: u64, files: &[Entry]) -> Result<()> {
        let mut emptied = BTreeSet::new();
        for entry in files {
            let (relative, name) = split(&entry.source);
            let Some(dir) = self.from_dirs.get(relative, |p| self.from.descend(p))? else { continue };
            match dir.lstat(name)? {
                Some(stat) if Identity::of(&stat) == entry.identity => {
                    dir.unlink(name)?;
                }
                Some(_) => {
                    self.report()
                        .skip(&entry.source, "changed after it was copied; the copy and the source are both kept");
                    continue;
                }
                // Unlinked before an interruption.
                None => {}
            }
            self.record_placed(entry);
            self.count_moved(entry);
            emptied.insert(relative.to_path_buf());
        }
        self.prune_batch(&emptied)?;
        self.from.sync_filesystem()?;
        journal.append(&Record::Done { batch: number })?;
        journal.clear()
    }

    fn count_moved(&self, entry: &Entry) {
        let mut report = self.report();
        if entry.duplicate {
            report.duplicates += 1;
        } else {
            report.moved_files += 1;
            report.moved_bytes += entry.identity.size;
        }
        self.context.progress.add_file(if entry.duplicate { 0 } else { entry.identity.size });
    }

    /// Moves `candidates` within one filesystem: `rename`s, never replacing a file.
    pub fn rename_batch(&self, candidates: &[Candidate]) -> Result<()> {
        let mut buffer = Vec::new();
        let mut emptied = BTreeSet::new();
        for candidate in candidates {
            if self.context.cancelled() {
                break;
            }
            let (relative, name) = split(&candidate.path);
            let Some(source_dir) = self.from_dirs.get(relative, |p| self.from.descend(p))? else { continue };
            if source_dir.lstat(name)?.map(|stat| Identity::of(&stat)) != Some(candidate.identity()) {
                self.report().skip(&candidate.path, "changed since the scan");
                continue;
            }
            let Some(dest_dir) = self.to_dirs.get(relative, |p| self.dest_dir(p, true))? else { continue };
            let mut entry = self.entry_for(candidate);
            let mut compared = false;
            loop {
                let (_, dest_name) = split(&entry.dest);
                match source_dir.rename_noreplace(name, &dest_dir, dest_name)? {
                    Renamed::Done => {
                        self.record_placed(&entry);
                        self.count_moved(&entry);
                        emptied.insert(relative.to_path_buf());
                        break;
                    }
                    Renamed::Missing => {
                        self.report().skip(&candidate.path, "vanished before it was moved");
                        break;
                    }
                    Renamed::Exists if !compared => {
                        compared = true;
                        let Some(mut source) = source_dir.open_file(name)? else { continue };
                        if self.same_content(&dest_dir, dest_name, &mut source, &mut buffer)?.is_some() {
                            entry.duplicate = true;
                            if source_dir.lstat(name)?.map(|stat| Identity::of(&stat)) == Some(entry.identity) {
                                source_dir.unlink(name)?;
                                self.count_moved(&entry);
                                emptied.insert(relative.to_path_buf());
                            }
                            break;
                        }
                        self.rename_after_conflict(&dest_dir, &mut entry)?;
                    }
                    Renamed::Exists => self.rename_after_conflict(&dest_dir, &mut entry)?,
                }
            }
        }
        self.prune_batch(&emptied)?;
        self.to.sync_filesystem()
    }

    /// With `prune_empty_dirs`, removes the source directories a batch left empty, before
    /// the batch is closed, so that a restart finishing the batch prunes them too.
    fn prune_batch(&self, emptied: &BTreeSet<PathBuf>) -> Result<()> {
        if self.prune && !emptied.is_empty() {
            let pruned = prune_empty_dirs(&self.from, emptied)?;
            self.report().pruned_dirs += pruned;
            // A cached directory may be one just removed.
            self.from_dirs.clear();
        }
        Ok(())
    }
}

impl Candidate {
    /// The identity the journal records for this file.
    pub fn identity(&self) -> Identity {
        Identity { dev: self.dev, ino: self.ino, size: self.size, mtime: self.mtime, mtime_nsec: self.mtime_nsec }
    }
}

fn same_inode(dir: &Dir, a: &OsStr, b: &OsStr) -> Result<bool> {
    Ok(match (dir.lstat(a)?, dir.lstat(b)?) {
        (Some(a), Some(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
        _ => false,
    })
}

/// `f` over `items` on `workers` threads, results in order.
fn parallel_map<T: Sync, R: Send>(items: &[T], workers: usize, f: impl Fn(&mut WorkerCache, &T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, items.len().max(1)) {
            scope.spawn(|| {
                let mut cache = WorkerCache::default();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(index) else { break };
                    let result = f(&mut cache, item);
                    results.lock().unwrap_or_else(std::sync::PoisonError::into_inner)[index] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .map(|result| result.expect("every item is processed"))
        .collect()
}

/// Finishes or rolls back the batch a previous run left unfinished in `journal`; says
/// what it did.
pub(crate) fn recover(
    root: &Root,
    prune: bool,
    journal: &mut Journal,
    report: &mut RuleReport,
    context: &Context<'_>,
) -> Result<Option<String>> {
    let Some(record) = journal.unfinished()? else { return Ok(None) };
    let (number, from, to, compress) = match &record {
        Record::Begin(b) | Record::Copied(b) | Record::Renamed(b) => {
            (b.number, b.from.clone(), b.to.clone(), b.compress)
        }
        Record::Done { .. } => return Ok(None),
    };
    let mover = Mover::new(root, (&from, &to), compress, prune, report, context)?;
    let said = match record {
        Record::Begin(batch) => {
            for entry in &batch.files {
                none_behind_a_non_directory(mover.remove_temp(entry))?;
            }
            mover.to.sync_filesystem()?;
            journal.append(&Record::Done { batch: number })?;
            journal.clear()?;
            format!("rolled back interrupted batch {number}: its temporary copies removed, sources untouched")
        }
        Record::Copied(batch) => {
            let count = batch.files.len();
            mover.finish(journal, number, batch.files)?;
            format!("finished interrupted batch {number} ({count} files)")
        }
        Record::Renamed(batch) => {
            let count = batch.files.len();
            mover.unlink_sources(journal, number, &batch.files)?;
            format!("finished interrupted batch {number} ({count} files already in place)")
        }
        Record::Done { .. } => unreachable!("filtered above"),
    };
    tracing::info!("{said}");
    Ok(Some(said))
}

/// The result of removing a temporary, where a symlink (or another non-directory) in
/// place of its directory means there is none: temporaries are only ever created in
/// directories opened without following symlinks.
fn none_behind_a_non_directory(result: Result<()>) -> Result<()> {
    match result {
        Err(Error::Core(jts_core::Error::NotADirectory { .. })) => Ok(()),
        other => other,
    }
}
