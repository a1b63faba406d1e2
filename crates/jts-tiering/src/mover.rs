//! Moving a rule's files between filesystems without ever losing one.
//!
//! The guarantee: at every instant, each file exists complete at its source, or complete
//! and verified under its final name at the destination; a partial file is only ever
//! under a [temporary name](crate::names::TEMP_PREFIX). A source that changes while it is
//! moved (a writer that closes and reopens it appends a record, say) keeps its final name
//! free of a stale copy: the copy is removed, from its temporary or from the final name
//! it was just given, and the source stays, whole, for the next run. Files go in batches
//! (docs/architecture.md, "The mover": group commit):
//!
//! 1. `begin` is journaled with the temporary names; each file is copied to its
//!    temporary, hashing what is read, and given the source's owner, xattrs/ACLs, mode
//!    and times;
//! 2. `syncfs` on the destination; with `verify = "readback"` every copy of the batch is
//!    dropped from the page cache (the reads of the small ones queued together), then
//!    each is read back from the device and its hash compared;
//! 3. final names are chosen (a different file of the same name is never replaced: the
//!    copy gets a `.conflict-N` name; identical content is a duplicate and not copied),
//!    and `copied` is journaled;
//! 4. each source is checked once more (inode, size, mtime, ctime): one that changed
//!    since it was copied has its temporary removed and is skipped; the others'
//!    temporaries are renamed with `RENAME_NOREPLACE`; `syncfs`; `renamed` is journaled;
//! 5. sources still identical to what was copied are unlinked. One that changed after
//!    its copy was renamed into place is not: its copy, stale, is taken back out of the
//!    final name (renamed back to its temporary name, checked to be that copy, and
//!    unlinked), so the file is never both at its source and, older, at its destination.
//!    `syncfs` on the source (and on the destination after such a removal); `done` is
//!    journaled and the journal emptied. (A write that lands between that last check and
//!    the unlink, two system calls apart, goes with the unlinked inode: no lease is taken
//!    on a source.)
//!
//! Step 1 ([`Mover::copy`]), steps 2–4 ([`Mover::commit`]) and step 5 ([`Mover::unlink`])
//! of consecutive batches overlap: batch N+2 copies while batch N+1 syncs, reads back and
//! renames, and batch N unlinks its sources. Each batch in flight has its own journal, so
//! at most three batches, of disjoint files, are ever unfinished.
//!
//! A restart finds the last record of an unfinished batch and rolls it back (`begin`:
//! the temporaries are removed) or forward (`copied`, `renamed`), see [`recover`]. Rolling
//! forward checks each source against the identity journaled with it, as steps 4 and 5
//! do, so a source that changed while the mover was down is left with no copy either.
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

use crate::copy::{
    DIRECT_READ_MIN, Hash, content_hash, copy_content, copy_metadata, evict, read_ahead, read_direct, unchanged,
};
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

/// Copies up to this size are read back with their reads queued together (a larger one
/// is read ahead by the kernel as it is read).
const READ_AHEAD_FILE_MAX: u64 = 1 << 20;

/// How many files ahead of the copy workers their sources are read ahead.
const LOOKAHEAD: usize = 128;

/// The read-ahead thread, parked at [`LOOKAHEAD`], is woken each time the workers have
/// taken this many more files: one wake-up for a run of reads, not one per file.
const WAKE_READER_EVERY: usize = LOOKAHEAD / 4;

/// At most this many bytes of a batch's copies are queued for reading back at once.
const READ_AHEAD_BATCH_MAX: u64 = 64 << 20;

/// Why a file whose source changed between its copy and the unlink of its source is
/// skipped (its copy removed).
const CHANGED: &str = "changed while it was being moved; left for the next run";

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

/// A batch whose copies are under their final names, durably (`renamed` is journaled),
/// for [`Mover::unlink`].
pub(crate) struct Placed {
    pub(crate) number: u64,
    files: Vec<Entry>,
    /// The error that stopped the batch's copy, if one did: the batch's result once its
    /// sources are unlinked.
    fatal: Option<Error>,
}

impl Placed {
    /// Whether an error stopped the batch's copy: the rule stops once the batch is done.
    pub(crate) fn copy_failed(&self) -> bool {
        self.fatal.is_some()
    }
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
        journal.append(&Record::Begin(self.batch(number, &files)))?;
        let ledger = Ledger { available: self.to.available_bytes()?, reserve, used: AtomicU64::new(0) };
        let stop = AtomicBool::new(false);
        let sources = DirCache::default();
        let read_ahead_source = |entry: &Entry| self.read_ahead_source(&sources, entry);
        let outcomes = parallel_map(&files, self.context.options.workers, Some(&read_ahead_source), |cache, entry| {
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

    /// Second part of a batch: `syncfs`, read-back verification, final names, `copied`,
    /// renames, `syncfs`, `renamed`. The last part, [`Mover::unlink`], may run while the
    /// next batch commits.
    pub fn commit(&self, copying: Copying, verify: Verify, journal: &mut Journal) -> Result<Placed> {
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
            let evicted = self.evict_copies(&files, &copied);
            let work: Vec<_> = copied.iter().zip(evicted).collect();
            let verified =
                parallel_map(&work, self.context.options.workers, None, |cache, &(&(index, hash), evicted)| {
                    self.read_back(cache, &files[index], hash, evicted).unwrap_or_else(Outcome::Failed)
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
        journal.append(&Record::Copied(self.batch(number, &moving)))?;
        let count = moving.len();
        let files = self.rename_into_place(journal, number, moving)?;
        tracing::debug!(
            "batch {number}: {count} files; copy {copy_time:?}, syncfs {synced_at:?}, verify {:?}, rename+syncfs {:?}",
            verified_at - synced_at,
            started.elapsed() - verified_at
        );
        Ok(Placed { number, files, fatal })
    }

    /// Last part of a batch: its sources unlinked, `syncfs`, `done`. Returns the error
    /// that stopped the batch's copy, if one did, now that the files copied before it
    /// are moved.
    pub fn unlink(&self, placed: Placed, journal: &mut Journal) -> Result<()> {
        let Placed { number, files, fatal } = placed;
        let started = std::time::Instant::now();
        self.unlink_sources(journal, number, &files)?;
        tracing::debug!("batch {number}: unlink+syncfs {:?}", started.elapsed());
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

    fn batch<'e>(&self, number: u64, files: &'e [Entry]) -> Batch<'e> {
        let files = files.into();
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
        if FileKind::of(&stat) != FileKind::File || !entry.identity.matches(&Identity::of(&stat)) {
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
        if reads_direct(entry) {
            read_direct(&source);
        }
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

    /// Starts reading a small source into the page cache before a worker copies it: one
    /// small file after another, each worker would wait for each read in turn, the
    /// device left with one request per worker. (A large source is read direct.) Only a
    /// hint: what goes wrong here, the worker finds again.
    fn read_ahead_source(&self, dirs: &DirCache, entry: &Entry) {
        if reads_direct(entry) {
            return;
        }
        let (dir, name) = split(&entry.source);
        if let Ok(Some(dir)) = dirs.get(dir, |p| self.from.descend(p))
            && let Ok(Some(source)) = dir.open_file(name)
        {
            let _ = read_ahead(&source);
        }
    }

    /// The hash of `source` if the destination file `name` in `dir` has the same content.
    fn same_content(&self, dir: &Dir, name: &OsStr, source: &mut File, buffer: &mut Vec<u8>) -> Result<Option<Hash>> {
        let Some(mut existing) = dir.open_file(name)? else { return Ok(None) };
        let path = || dir.path().join(name);
        let theirs = match content_hash(&mut existing, self.compress.is_some(), buffer) {
            Ok(hash) => hash,
            // Not a valid zstd stream: not the same content.
            Err(err) if err.kind() != std::io::ErrorKind::Other => return Err(Error::io("read", path(), err)),
            Err(_) => return Ok(None),
        };
        let ours = content_hash(source, false, buffer).map_err(|err| Error::io("read", path(), err))?;
        Ok((ours == theirs).then_some(ours))
    }

    /// Drops every synced copy of a batch from the page cache, so that reading it back
    /// reads the device, and queues the reads of the small ones at once: each is a single
    /// read, and read one after another they would leave the device idle between them.
    /// Says, for each copy, whether its pages were dropped; [`Mover::read_back`] drops
    /// those that were not.
    fn evict_copies(&self, files: &[Entry], copied: &[(usize, Hash)]) -> Vec<bool> {
        let dirs = DirCache::default();
        let mut queued = 0u64;
        let evict_one = |entry: &Entry, queued: &mut u64| -> Result<bool> {
            let (dir, name) = split(&entry.temp);
            let Some(dir) = dirs.get(dir, |p| self.to.descend(p))? else { return Ok(false) };
            let Some(copy) = dir.open_file(name)? else { return Ok(false) };
            if evict(&copy).is_err() {
                return Ok(false);
            }
            let size = entry.identity.size;
            if size <= READ_AHEAD_FILE_MAX && *queued + size <= READ_AHEAD_BATCH_MAX && read_ahead(&copy).is_ok() {
                *queued += size;
            }
            Ok(true)
        };
        copied.iter().map(|&(index, _)| evict_one(&files[index], &mut queued).unwrap_or(false)).collect()
    }

    /// Reads the copy of `entry` back and compares its hash with the one taken while it
    /// was copied; its cached pages are dropped first unless `evicted` says they were.
    fn read_back(&self, cache: &mut WorkerCache, entry: &Entry, expected: Hash, evicted: bool) -> Result<Outcome> {
        let (dir, temp_name) = split(&entry.temp);
        let Some(dir) = cache.dest.get(dir, |p| self.to.descend(p))? else {
            return Ok(Outcome::Skipped("destination directory vanished".into()));
        };
        let Some(mut copy) = dir.open_file(temp_name)? else {
            return Ok(Outcome::Skipped("copy vanished before it was verified".into()));
        };
        let path = || dir.path().join(temp_name);
        if !evicted {
            evict(&copy).map_err(|err| Error::io("read back", path(), err))?;
        }
        // From the device, and not through the cache (which it was evicted from) again;
        // a compressed copy is smaller, and read through the cache.
        if reads_direct(entry) && self.compress.is_none() {
            read_direct(&copy);
        }
        let read = content_hash(&mut copy, self.compress.is_some(), &mut cache.buffer)
            .map_err(|err| Error::io("read back", path(), err))?;
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

    /// Renames the batch's copies into place and makes that durable; returns those now
    /// under their final names. Idempotent, so a restart can run it again on the same
    /// entries.
    fn rename_into_place(&self, journal: &mut Journal, number: u64, mut files: Vec<Entry>) -> Result<Vec<Entry>> {
        let mut placed = Vec::with_capacity(files.len());
        for index in 0..files.len() {
            if self.place(journal, number, &mut files, index)? {
                placed.push(files[index].clone());
            }
        }
        self.to.sync_filesystem()?;
        journal.append(&Record::Renamed(self.batch(number, &placed)))?;
        Ok(placed)
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
        // The last look at the source before its copy takes the name: a source that
        // changed since it was copied must never have that stale copy under its name.
        if self.source_changed(&files[index])? {
            none_behind_a_non_directory(self.withdraw(&files[index]))?;
            self.report().skip(&files[index].source, CHANGED);
            return Ok(false);
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
                    journal.append(&Record::Copied(self.batch(number, files)))?;
                }
            }
        }
    }

    /// Whether the final name of `entry` in `dir` holds exactly the journaled content.
    fn dest_holds(&self, dir: &Dir, entry: &Entry) -> Result<bool> {
        let (_, name) = split(&entry.dest);
        Ok(self.copy_under(dir, name, entry)?.is_some())
    }

    /// The inode of `name` in `dir` if it is a regular file holding exactly the journaled
    /// content of `entry`.
    fn copy_under(&self, dir: &Dir, name: &OsStr, entry: &Entry) -> Result<Option<u64>> {
        let Some(mut file) = dir.open_file(name)? else { return Ok(None) };
        let stat = nix::sys::stat::fstat(&file).map_err(|err| Error::io("stat", dir.path().join(name), err))?;
        if FileKind::of(&stat) != FileKind::File {
            return Ok(None);
        }
        let mut buffer = Vec::new();
        match content_hash(&mut file, self.compress.is_some(), &mut buffer) {
            Ok(hash) => Ok((entry.hash.as_deref() == Some(hash.to_hex().as_str())).then_some(stat.st_ino)),
            Err(err) if err.kind() == std::io::ErrorKind::Other => Ok(None),
            Err(err) => Err(Error::io("read", dir.path().join(name), err)),
        }
    }

    /// Whether the source of `entry` is no longer the file that was copied: another inode,
    /// size, mtime or ctime. A source that is gone has not changed: its copy, complete and
    /// verified, is all there is of it.
    fn source_changed(&self, entry: &Entry) -> Result<bool> {
        let (relative, name) = split(&entry.source);
        let Some(dir) = self.from_dirs.get(relative, |p| self.from.descend(p))? else { return Ok(false) };
        Ok(dir.lstat(name)?.is_some_and(|stat| !entry.identity.matches(&Identity::of(&stat))))
    }

    /// Removes the copy of `entry`, whose source changed after it was copied, from the
    /// destination: from its temporary name, or from its final name if it was renamed
    /// there already. Then the file is only at its source, and a later run moves it as it
    /// is then, under its own name. Idempotent, for a restart.
    fn withdraw(&self, entry: &Entry) -> Result<()> {
        if entry.duplicate {
            // The destination's file was there before; nothing of it is this batch's.
            return Ok(());
        }
        let (relative, temp) = split(&entry.temp);
        let (_, dest) = split(&entry.dest);
        let Some(dir) = self.to_dirs.get(relative, |p| self.to.descend(p))? else { return Ok(()) };
        if dir.lstat(temp)?.is_some() {
            // Not renamed; or a link-then-unlink rename (NFS) was interrupted between its
            // two calls, and then the final name is the same file.
            if same_inode(&dir, temp, dest)? {
                dir.unlink(dest)?;
            }
            dir.unlink(temp)?;
            return Ok(());
        }
        // Renamed: the final name holds the copy if it holds exactly the copied content.
        // It is renamed back to its temporary name first and checked to be the file that
        // was hashed, so a file that took the name meanwhile is never the one unlinked.
        let Some(ino) = self.copy_under(&dir, dest, entry)? else { return Ok(()) };
        if dir.rename_noreplace(dest, &dir, temp)? != Renamed::Done {
            return Ok(());
        }
        if dir.lstat(temp)?.is_some_and(|stat| stat.st_ino == ino) {
            dir.unlink(temp)?;
            return Ok(());
        }
        // Another file took the final name between the check and the rename: it goes
        // back, beside a newer one under a conflict name if need be.
        let mut back = entry.clone();
        loop {
            let (_, name) = split(&back.dest);
            match dir.rename_noreplace(temp, &dir, name)? {
                Renamed::Done | Renamed::Missing => return Ok(()),
                Renamed::Exists => self.rename_after_conflict(&dir, &mut back)?,
            }
        }
    }

    /// Unlinks the sources of `files` that are still what was copied, takes the copies of
    /// those that changed back out of the destination, makes that durable, and closes
    /// the batch.
    fn unlink_sources(&self, journal: &mut Journal, number: u64, files: &[Entry]) -> Result<()> {
        let mut emptied = BTreeSet::new();
        let mut withdrawn = false;
        for entry in files {
            let (relative, name) = split(&entry.source);
            let Some(dir) = self.from_dirs.get(relative, |p| self.from.descend(p))? else { continue };
            match dir.lstat(name)? {
                Some(stat) if entry.identity.matches(&Identity::of(&stat)) => {
                    dir.unlink(name)?;
                }
                Some(_) => {
                    // Changed after its copy took the final name: that copy is stale. It
                    // is taken back out, so the file is once, at its source, as it is now.
                    none_behind_a_non_directory(self.withdraw(entry))?;
                    withdrawn = true;
                    self.report().skip(&entry.source, CHANGED);
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
        if withdrawn {
            self.to.sync_filesystem()?;
        }
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
            if !source_dir.lstat(name)?.is_some_and(|stat| candidate.identity().matches(&Identity::of(&stat))) {
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
                            if source_dir.lstat(name)?.is_some_and(|stat| entry.identity.matches(&Identity::of(&stat)))
                            {
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
        Identity {
            dev: self.dev,
            ino: self.ino,
            size: self.size,
            mtime: self.mtime,
            mtime_nsec: self.mtime_nsec,
            ctime: Some((self.ctime, self.ctime_nsec)),
        }
    }
}

fn same_inode(dir: &Dir, a: &OsStr, b: &OsStr) -> Result<bool> {
    Ok(match (dir.lstat(a)?, dir.lstat(b)?) {
        (Some(a), Some(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
        _ => false,
    })
}

/// `f` over `items` on `workers` threads, results in order. `ahead`, if given, is called
/// on one more thread for the items the workers will take next, at most [`LOOKAHEAD`]
/// of them ahead (and none they have taken).
fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    ahead: Option<&(dyn Fn(&T) + Sync)>,
    f: impl Fn(&mut WorkerCache, &T) -> R + Sync,
) -> Vec<R> {
    let next = &AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    let (f, slots) = (&f, &results);
    std::thread::scope(|scope| {
        // Parked when it is far enough ahead; woken every few items the workers take, to
        // read those ahead at once.
        let reader = ahead.map(|ahead| {
            let reader = scope.spawn(move || {
                let mut index = 0;
                while index < items.len() {
                    let taken = next.load(Ordering::Relaxed);
                    index = index.max(taken);
                    if index >= taken + LOOKAHEAD {
                        std::thread::park();
                        continue;
                    }
                    if let Some(item) = items.get(index) {
                        ahead(item);
                    }
                    index += 1;
                }
            });
            reader.thread().clone()
        });
        for _ in 0..workers.clamp(1, items.len().max(1)) {
            let reader = reader.clone();
            scope.spawn(move || {
                let _ends_all_on_panic = EndOnPanic { next, reader: reader.clone() };
                let mut cache = WorkerCache::default();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if let Some(reader) = reader.as_ref().filter(|_| index % WAKE_READER_EVERY == 0) {
                        reader.unpark();
                    }
                    let Some(item) = items.get(index) else { break };
                    let result = f(&mut cache, item);
                    slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner)[index] = Some(result);
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

/// Ends a [`parallel_map`] whose worker panics: the other workers take no more items and
/// the read-ahead thread, which may be parked waiting for them, is woken to see that and
/// exit, so the scope ends and passes the panic on (instead of waiting for ever when
/// every worker has panicked).
struct EndOnPanic<'a> {
    next: &'a AtomicUsize,
    reader: Option<std::thread::Thread>,
}

impl Drop for EndOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.next.store(usize::MAX / 2, Ordering::Relaxed);
            if let Some(reader) = &self.reader {
                reader.unpark();
            }
        }
    }
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
            for entry in batch.files.iter() {
                none_behind_a_non_directory(mover.remove_temp(entry))?;
            }
            mover.to.sync_filesystem()?;
            journal.append(&Record::Done { batch: number })?;
            journal.clear()?;
            format!("rolled back interrupted batch {number}: its temporary copies removed, sources untouched")
        }
        Record::Copied(batch) => {
            let count = batch.files.len();
            let placed = mover.rename_into_place(journal, number, batch.files.into_owned())?;
            mover.unlink_sources(journal, number, &placed)?;
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

/// Whether the source of `entry` is large enough to be read with `O_DIRECT` (and so its
/// copy read back that way); a smaller one is read ahead through the page cache.
fn reads_direct(entry: &Entry) -> bool {
    entry.identity.size >= DIRECT_READ_MIN
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;
    use std::time::{Duration, SystemTime};

    use jts_core::SpecDuration;

    use super::*;
    use crate::rules::Compression;
    use crate::run::RunOptions;
    use crate::scan::{Selector, scan};

    const FROM: &str = "/hot";
    const TO: &str = "/warm";

    /// A hot and a warm directory on one filesystem. Moves are compressed (zstd), so they
    /// go by copy, journal and rename, as between two filesystems, not by `rename`.
    struct Tiers {
        dir: tempfile::TempDir,
        root: Root,
    }

    impl Tiers {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let root = Root::new(dir.path()).unwrap();
            for tier in [FROM, TO] {
                std::fs::create_dir_all(root.resolve(&AbsPath::new(tier).unwrap())).unwrap();
            }
            Self { dir, root }
        }

        fn hot(&self, relative: &str) -> PathBuf {
            self.dir.path().join("hot").join(relative)
        }

        /// Writes `content` at `hot/relative`, 30 days old.
        fn old_file(&self, relative: &str, content: &[u8]) {
            let path = self.hot(relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, content).unwrap();
            age(&path);
        }

        /// What a scan of `hot` selects now (files older than a day).
        fn candidates(&self) -> Vec<Candidate> {
            let from = jts_core::nofollow::open_dir(&self.root, &AbsPath::new(FROM).unwrap()).unwrap();
            let selector = Selector {
                include: Vec::new(),
                exclude: Vec::new(),
                older_than: SpecDuration::from_secs(86_400),
                larger_than: None,
            };
            scan(&from, &selector, SystemTime::now(), &BTreeSet::new()).unwrap().iter().collect()
        }

        /// Every file below `warm`: final names decompressed, temporaries as they are.
        fn warm_files(&self) -> BTreeMap<PathBuf, Vec<u8>> {
            let mut files = BTreeMap::new();
            let mut stack = vec![PathBuf::new()];
            while let Some(relative) = stack.pop() {
                for entry in std::fs::read_dir(self.dir.path().join("warm").join(&relative)).unwrap() {
                    let entry = entry.unwrap();
                    let path = relative.join(entry.file_name());
                    if entry.file_type().unwrap().is_dir() {
                        stack.push(path);
                        continue;
                    }
                    let content = std::fs::read(entry.path()).unwrap();
                    let temp = crate::names::is_temp_name(&entry.file_name());
                    files.insert(path, if temp { content } else { zstd::decode_all(&content[..]).unwrap() });
                }
            }
            files
        }

        /// The rule's journal (slot 0), locked until dropped.
        fn journal(&self) -> Journal {
            Journal::open(&self.root, "test").unwrap()
        }
    }

    /// Makes `path` 30 days old.
    fn age(path: &Path) {
        let old = SystemTime::now() - Duration::from_secs(30 * 86_400);
        File::options().write(true).open(path).unwrap().set_modified(old).unwrap();
    }

    /// What a writer that closes and reopens its file does: open, append, close.
    fn append(path: &Path, bytes: &[u8]) {
        File::options().append(true).open(path).unwrap().write_all(bytes).unwrap();
    }

    fn skipped(report: &RuleReport) -> Vec<(String, String)> {
        report.skipped.iter().map(|s| (s.path.display().to_string(), s.reason.clone())).collect()
    }

    fn warm(entries: &[(&str, &[u8])]) -> BTreeMap<PathBuf, Vec<u8>> {
        entries.iter().map(|(path, content)| (PathBuf::from(path), content.to_vec())).collect()
    }

    /// Runs `f` with a mover from `hot` to `warm` (zstd); returns what it returned and
    /// the rule's report.
    fn with_mover<T>(tiers: &Tiers, f: impl FnOnce(&Mover<'_>) -> T) -> (T, RuleReport) {
        let (progress, options, cancel) = (Progress::default(), RunOptions::default(), AtomicBool::new(false));
        let context = Context::for_test(&progress, &options, &cancel);
        let mut report = RuleReport::default();
        let (from, to) = (AbsPath::new(FROM).unwrap(), AbsPath::new(TO).unwrap());
        let out = {
            let mover =
                Mover::new(&tiers.root, (&from, &to), Some(Compression::Zstd), false, &mut report, &context).unwrap();
            f(&mover)
        };
        (out, report)
    }

    /// One batch of what a scan selects now: copied, then `between` runs, then committed
    /// (sync, final names, renames, unlinks).
    fn move_batch(tiers: &Tiers, between: impl FnOnce()) -> RuleReport {
        let candidates = tiers.candidates();
        let mut journal = tiers.journal();
        with_mover(tiers, |mover| {
            let copying = mover.copy(1, &candidates, 0, &mut journal).unwrap();
            between();
            let placed = mover.commit(copying, Verify::Copy, &mut journal).unwrap();
            mover.unlink(placed, &mut journal).unwrap();
        })
        .1
    }

    /// What `commit` journals as `copied` for a batch whose files were all copied: the
    /// hashes and the final names.
    fn copied_entries(mover: &Mover<'_>, copying: Copying) -> Vec<Entry> {
        mover.to.sync_filesystem().unwrap();
        copying
            .files
            .into_iter()
            .zip(copying.outcomes)
            .map(|(mut entry, outcome)| {
                let Outcome::Copied(hash) = outcome else { panic!("{} was not copied", entry.source.display()) };
                entry.hash = Some(hash.to_hex().to_string());
                mover.choose_free_name(&mut entry).unwrap();
                entry
            })
            .collect()
    }

    #[test]
    fn a_source_appended_to_between_its_copy_and_its_rename_is_left_for_the_next_run() {
        let tiers = Tiers::new();
        tiers.old_file("a/x.log", b"record 1\n");
        let report = move_batch(&tiers, || append(&tiers.hot("a/x.log"), b"record 2\n"));
        assert_eq!(tiers.warm_files(), warm(&[]), "no stale copy under its name, no temporary: {report:?}");
        assert_eq!(std::fs::read(tiers.hot("a/x.log")).unwrap(), b"record 1\nrecord 2\n");
        assert_eq!(report.moved_files, 0);
        assert_eq!(skipped(&report), [("a/x.log".into(), CHANGED.into())]);

        // Once old again, the next run moves it once, under its own name.
        age(&tiers.hot("a/x.log"));
        let report = move_batch(&tiers, || {});
        assert_eq!((report.moved_files, report.conflicts.len(), report.skipped.len()), (1, 0, 0), "{report:?}");
        assert_eq!(tiers.warm_files(), warm(&[("a/x.log.zst", b"record 1\nrecord 2\n")]));
        assert!(!tiers.hot("a/x.log").exists());
    }

    #[test]
    fn a_source_rewritten_to_the_same_size_and_mtime_is_told_apart_by_its_ctime() {
        let tiers = Tiers::new();
        tiers.old_file("y.log", b"version 1");
        let path = tiers.hot("y.log");
        let report = move_batch(&tiers, || {
            let before = std::fs::metadata(&path).unwrap();
            std::fs::write(&path, b"version 2").unwrap();
            File::options().write(true).open(&path).unwrap().set_modified(before.modified().unwrap()).unwrap();
            let after = std::fs::metadata(&path).unwrap();
            let same = |m: &std::fs::Metadata| (m.ino(), m.size(), m.mtime(), m.mtime_nsec());
            assert_eq!(same(&after), same(&before), "only the ctime tells the change");
        });
        assert_eq!(tiers.warm_files(), warm(&[]), "{report:?}");
        assert_eq!(std::fs::read(&path).unwrap(), b"version 2", "the new content is kept");
        assert_eq!(skipped(&report), [("y.log".into(), CHANGED.into())]);
    }

    #[test]
    fn a_source_appended_to_after_its_copy_was_renamed_is_kept_and_the_copy_taken_back() {
        let tiers = Tiers::new();
        tiers.old_file("z.log", b"record 1\n");
        let candidates = tiers.candidates();
        let mut journal = tiers.journal();
        let ((), report) = with_mover(&tiers, |mover| {
            let copying = mover.copy(1, &candidates, 0, &mut journal).unwrap();
            let mut files = copied_entries(mover, copying);
            journal.append(&Record::Copied(mover.batch(1, &files))).unwrap();
            assert!(mover.place(&mut journal, 1, &mut files, 0).unwrap());
            assert_eq!(tiers.warm_files(), warm(&[("z.log.zst", b"record 1\n")]), "renamed into place");
            mover.to.sync_filesystem().unwrap();
            journal.append(&Record::Renamed(mover.batch(1, &files))).unwrap();
            append(&tiers.hot("z.log"), b"record 2\n");
            mover.unlink_sources(&mut journal, 1, &files).unwrap();
        });
        assert_eq!(tiers.warm_files(), warm(&[]), "the stale copy is taken back: {report:?}");
        assert_eq!(std::fs::read(tiers.hot("z.log")).unwrap(), b"record 1\nrecord 2\n");
        assert_eq!(skipped(&report), [("z.log".into(), CHANGED.into())]);
        assert_eq!((report.moved_files, journal.unfinished().unwrap()), (0, None));
    }

    /// The bytes of `path` in the page cache, as `fincore` (util-linux) counts them.
    fn cached_bytes(path: &Path) -> u64 {
        use jts_core::{CmdSpec, Runner, SystemRunner};
        let fincore = CmdSpec::new("fincore").arg("--bytes").arg("--noheadings").opt("--output", "RES").arg(path);
        SystemRunner.run(&fincore).unwrap().stdout.trim().parse().unwrap()
    }

    #[test]
    fn every_copy_is_dropped_from_the_page_cache_before_it_is_read_back() {
        let tiers = Tiers::new();
        // Random bytes, so the zstd copies are as large as their sources: one above the
        // size whose read is queued ahead, one below.
        let noise = |len: usize, seed: u8| -> Vec<u8> {
            let mut bytes = Vec::with_capacity(len);
            let mut hash = blake3::hash(&[seed]);
            while bytes.len() < len {
                bytes.extend_from_slice(hash.as_bytes());
                hash = blake3::hash(hash.as_bytes());
            }
            bytes
        };
        tiers.old_file("large.log", &noise(4 << 20, 1));
        tiers.old_file("small.log", &noise(100_000, 2));
        let candidates = tiers.candidates();
        let mut journal = tiers.journal();
        with_mover(&tiers, |mover| {
            let copying = mover.copy(1, &candidates, 0, &mut journal).unwrap();
            mover.to.sync_filesystem().unwrap();
            let temp = |entry: &Entry| tiers.dir.path().join("warm").join(&entry.temp);
            let large = copying.files.iter().find(|entry| entry.source == Path::new("large.log")).unwrap();
            assert!(cached_bytes(&temp(large)) > 0, "a copy just written is in the page cache");
            let copied: Vec<(usize, Hash)> = copying
                .outcomes
                .iter()
                .enumerate()
                .map(|(index, outcome)| match outcome {
                    Outcome::Copied(hash) => (index, *hash),
                    _ => panic!("{} was not copied", copying.files[index].source.display()),
                })
                .collect();
            assert_eq!(mover.evict_copies(&copying.files, &copied), [true, true]);
            assert_eq!(cached_bytes(&temp(large)), 0, "read back from the device, not from the cache");
        });
    }

    /// Where a kill stopped a batch.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Killed {
        /// After `copied` was journaled, before any rename.
        Copied,
        /// After the rename, before `renamed` was journaled.
        CopiedAndRenamed,
        /// After `renamed` was journaled, before the unlink.
        Renamed,
    }

    #[test]
    fn recovery_never_renames_nor_keeps_the_copy_of_a_source_that_changed_after_the_kill() {
        for killed in [Killed::Copied, Killed::CopiedAndRenamed, Killed::Renamed] {
            for grows in [false, true] {
                let tiers = Tiers::new();
                tiers.old_file("k.log", b"record 1\n");
                let candidates = tiers.candidates();
                let mut journal = tiers.journal();
                with_mover(&tiers, |mover| {
                    let copying = mover.copy(1, &candidates, 0, &mut journal).unwrap();
                    let mut files = copied_entries(mover, copying);
                    journal.append(&Record::Copied(mover.batch(1, &files))).unwrap();
                    if killed != Killed::Copied {
                        assert!(mover.place(&mut journal, 1, &mut files, 0).unwrap());
                    }
                    if killed == Killed::Renamed {
                        mover.to.sync_filesystem().unwrap();
                        journal.append(&Record::Renamed(mover.batch(1, &files))).unwrap();
                    }
                });
                drop(journal); // killed: the next run takes the journal over
                if grows {
                    append(&tiers.hot("k.log"), b"record 2\n");
                }
                let (progress, options, cancel) = (Progress::default(), RunOptions::default(), AtomicBool::new(false));
                let context = Context::for_test(&progress, &options, &cancel);
                let mut report = RuleReport::default();
                let mut journal = tiers.journal();
                let said = recover(&tiers.root, false, &mut journal, &mut report, &context).unwrap();
                assert!(said.is_some_and(|said| said.contains("batch 1")), "{killed:?}");
                assert_eq!(journal.unfinished().unwrap(), None, "{killed:?}: the batch is closed");
                if grows {
                    let what = format!("{killed:?}, then the source grew: {report:?}");
                    assert_eq!(tiers.warm_files(), warm(&[]), "{what}");
                    assert_eq!(std::fs::read(tiers.hot("k.log")).unwrap(), b"record 1\nrecord 2\n", "{what}");
                    assert_eq!(skipped(&report), [("k.log".into(), CHANGED.into())], "{what}");
                } else {
                    let what = format!("{killed:?}, source unchanged: {report:?}");
                    assert_eq!(tiers.warm_files(), warm(&[("k.log.zst", b"record 1\n")]), "{what}");
                    assert!(!tiers.hot("k.log").exists(), "{what}");
                    assert_eq!((report.moved_files, report.skipped.len()), (1, 0), "{what}");
                }
            }
        }
    }

    #[test]
    fn a_parallel_map_whose_every_worker_panics_ends_and_passes_the_panic_on() {
        // With the read-ahead thread parked far ahead of workers that all panicked, the
        // scope used to wait for ever. A liveness check, not a timing: a minute is ample.
        let (done, ended) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let items: Vec<usize> = (0..10 * LOOKAHEAD).collect();
            let outcome = std::panic::catch_unwind(|| {
                parallel_map(&items, 2, Some(&|_: &usize| {}), |_, &item| -> usize { panic!("worker on item {item}") })
            });
            done.send(outcome.is_err()).unwrap();
        });
        let panicked = ended.recv_timeout(Duration::from_secs(60)).expect("parallel_map ended within a minute");
        assert!(panicked, "the workers' panic reaches the caller");
    }
}
