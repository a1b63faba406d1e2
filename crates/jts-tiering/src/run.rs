//! A whole `tier run`: one run at a time, each rule under a watchdog, the run's limits,
//! and the status file that monitoring reads.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jts_core::{AbsPath, Root, StateLock};
use serde::{Deserialize, Serialize};

use crate::copy::DIRECT_READ_MIN;
use crate::delete::{delete_files, prune_empty_dirs};
use crate::dir::Dir;
use crate::error::{Error, Result};
use crate::journal::{Journal, STATE_DIR};
use crate::mover::{Mover, Placed, recover};
use crate::report::{RuleReport, RunReport};
use crate::rules::{Rule, RuleAction};
use crate::scan::{Candidate, Selection, open_for_write_files, scan_with_heartbeat};

/// The status file: written atomically after every run, read by `jts-provision health`.
pub const STATUS_FILE: &str = "/var/lib/jts/tier/last-run.json";

/// Files per batch unless the operator asks otherwise: each batch costs three `syncfs`
/// calls and three journal records, so larger batches write less over the data; 4096
/// keeps a 1,000,000-file move under 100 MiB of memory.
pub const DEFAULT_BATCH_FILES: usize = 4096;

/// How a run goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    /// Move or delete at most this many files in the whole run.
    pub max_files: Option<u64>,
    /// Move or delete at most this many bytes in the whole run.
    pub max_bytes: Option<u64>,
    /// A rule that makes no progress for this long is abandoned as not responding.
    pub io_timeout: Duration,
    /// Copy workers per batch.
    pub workers: usize,
    /// Files per batch (one group commit).
    pub batch_files: usize,
    /// Bytes per batch.
    pub batch_bytes: u64,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            max_files: None,
            max_bytes: None,
            io_timeout: Duration::from_secs(60),
            workers: 2,
            batch_files: DEFAULT_BATCH_FILES,
            batch_bytes: 256 << 20,
        }
    }
}

/// Live counters of a run, for a progress bar and the watchdog.
#[derive(Debug, Default)]
pub struct Progress {
    files: AtomicU64,
    bytes: AtomicU64,
    done_bytes: AtomicU64,
    heartbeat: AtomicU64,
}

impl Progress {
    /// Files moved or deleted so far.
    pub fn files(&self) -> u64 {
        self.files.load(Ordering::Relaxed)
    }

    /// Bytes copied so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Bytes of the files moved or deleted so far.
    pub fn done_bytes(&self) -> u64 {
        self.done_bytes.load(Ordering::Relaxed)
    }

    /// A counter that moves whenever anything happens: a watchdog's pulse.
    pub fn heartbeat(&self) -> u64 {
        self.heartbeat.load(Ordering::Relaxed)
    }

    pub(crate) fn add_bytes(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.beat();
    }

    /// One more file moved (`bytes` of it; 0 for a duplicate) or deleted.
    pub(crate) fn add_file(&self, bytes: u64) {
        self.files.fetch_add(1, Ordering::Relaxed);
        self.done_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.beat();
    }

    fn beat(&self) {
        self.heartbeat.fetch_add(1, Ordering::Relaxed);
    }
}

/// What the parts of one rule's run share.
pub(crate) struct Context<'a> {
    pub progress: &'a Progress,
    pub options: &'a RunOptions,
    /// Part of every temporary name of this run.
    pub run_id: String,
    cancel: &'a AtomicBool,
}

impl Context<'_> {
    /// The watchdog gave up on this rule: stop at the next file.
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
impl<'a> Context<'a> {
    /// A context for unit tests that drive the mover's steps one at a time.
    pub(crate) fn for_test(progress: &'a Progress, options: &'a RunOptions, cancel: &'a AtomicBool) -> Self {
        Self { progress, options, run_id: run_id(), cancel }
    }
}

/// Runs `rules` in order under `root`, each in its own thread under a watchdog: a rule
/// whose source or destination stops answering for `options.io_timeout` is reported as
/// timed out and the run goes on with the next rule. Holds the run lock throughout and
/// writes [`STATUS_FILE`] at the end.
pub fn run(root: &Root, rules: &[Rule], options: &RunOptions, progress: &Arc<Progress>) -> Result<RunReport> {
    let _lock = lock(root)?;
    let started_at = unix_now();
    let open_for_write = Arc::new(open_for_write_files());
    let run_id = format!(
        "{:x}{:x}",
        std::process::id(),
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().subsec_nanos()
    );
    let mut limits = Limits { files: options.max_files, bytes: options.max_bytes };
    let mut reports = Vec::with_capacity(rules.len());
    for rule in rules {
        let job = {
            let (root, rule, options, progress) = (root.clone(), rule.clone(), options.clone(), Arc::clone(progress));
            let (open_for_write, run_id) = (Arc::clone(&open_for_write), run_id.clone());
            move |cancel: &AtomicBool| {
                let context = Context { progress: &progress, options: &options, run_id, cancel };
                run_rule(&root, &rule, &context, &open_for_write, limits)
            }
        };
        let before = (progress.files(), progress.done_bytes.load(Ordering::Relaxed));
        let report = supervise(&rule.name, options.io_timeout, progress, job).unwrap_or_else(|err| {
            // The rule's own report stays with its thread: count from the run's counters.
            let files = progress.files() - before.0;
            let bytes = progress.done_bytes.load(Ordering::Relaxed) - before.1;
            RuleReport::stopped(rule, format!("{err}; {files} files were done before it stopped"), files, bytes)
        });
        limits.consume(&report);
        reports.push(report);
    }
    let report = RunReport::finished(started_at, reports);
    write_status(root, &report)?;
    Ok(report)
}

/// Runs one rule in the calling thread, without a watchdog or the lock: for a caller that
/// holds [`lock`] and supervises each rule itself (`jts-provision tier run` runs each rule
/// in a process of its own, which it can give up on even when a dead NFS server keeps
/// that process from exiting). `options.max_files`/`max_bytes` limit this rule alone.
pub fn run_one(root: &Root, rule: &Rule, options: &RunOptions, progress: &Progress) -> RuleReport {
    let cancel = AtomicBool::new(false);
    let context = Context { progress, options, run_id: run_id(), cancel: &cancel };
    let limits = Limits { files: options.max_files, bytes: options.max_bytes };
    run_rule(root, rule, &context, &open_for_write_files(), limits)
}

/// The part of every temporary name that is unique to this run.
fn run_id() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    format!("{:x}{nanos:x}", std::process::id())
}

/// Runs `job` on its own thread; gives up with [`Error::TimedOut`] when `progress` has
/// not moved for `timeout`, setting the job's cancel flag so it stops if it ever wakes.
/// A thread stuck in a hung NFS call cannot be killed: it is left behind, and ends with
/// the process.
pub(crate) fn supervise<T: Send + 'static>(
    name: &str,
    timeout: Duration,
    progress: &Progress,
    job: impl FnOnce(&AtomicBool) -> T + Send + 'static,
) -> Result<T> {
    let cancel = Arc::new(AtomicBool::new(false));
    let (sender, receiver) = mpsc::channel();
    let flag = Arc::clone(&cancel);
    std::thread::Builder::new()
        .name(format!("tier {name}"))
        .spawn(move || {
            let _ = sender.send(job(&flag));
        })
        .map_err(|err| Error::io("spawn", name, err))?;
    let mut last_beat = progress.heartbeat.load(Ordering::Relaxed);
    let mut quiet_since = Instant::now();
    loop {
        match receiver.recv_timeout(Duration::from_millis(50)) {
            Ok(result) => return Ok(result),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let beat = progress.heartbeat.load(Ordering::Relaxed);
                if beat != last_beat {
                    (last_beat, quiet_since) = (beat, Instant::now());
                } else if quiet_since.elapsed() >= timeout {
                    cancel.store(true, Ordering::Relaxed);
                    return Err(Error::TimedOut { rule: name.to_owned(), after: timeout });
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Error::io("run rule", name, std::io::Error::other("the rule's thread panicked")));
            }
        }
    }
}

/// What is left of the run's `--max-files` / `--max-bytes`.
#[derive(Debug, Clone, Copy)]
struct Limits {
    files: Option<u64>,
    bytes: Option<u64>,
}

impl Limits {
    /// Keeps the first candidates that fit.
    fn apply(self, selection: &mut Selection) {
        let (mut files, mut bytes) = (0u64, 0u64);
        selection.keep_while(|candidate| {
            files += 1;
            bytes = bytes.saturating_add(candidate.size);
            self.files.is_none_or(|max| files <= max) && self.bytes.is_none_or(|max| bytes <= max)
        });
    }

    fn consume(&mut self, report: &RuleReport) {
        let files = report.moved_files + report.duplicates + report.deleted_files;
        let bytes = report.moved_bytes + report.deleted_bytes;
        self.files = self.files.map(|max| max.saturating_sub(files));
        self.bytes = self.bytes.map(|max| max.saturating_sub(bytes));
    }
}

fn run_rule(
    root: &Root,
    rule: &Rule,
    context: &Context<'_>,
    open_for_write: &BTreeSet<(u64, u64)>,
    limits: Limits,
) -> RuleReport {
    let started = Instant::now();
    let mut report =
        RuleReport { name: rule.name.clone(), action: rule.action.name().to_owned(), ..RuleReport::default() };
    if let Err(err) = run_rule_into(root, rule, context, open_for_write, limits, &mut report) {
        tracing::debug!("rule {}: {err}", rule.name); // the report carries it to the front end
        report.error = Some(err.to_string());
    }
    report.seconds = started.elapsed().as_secs_f64();
    report
}

fn run_rule_into(
    root: &Root,
    rule: &Rule,
    context: &Context<'_>,
    open_for_write: &BTreeSet<(u64, u64)>,
    limits: Limits,
    report: &mut RuleReport,
) -> Result<()> {
    let mut journals =
        (0..BATCHES_IN_FLIGHT).map(|slot| Journal::open_slot(root, &rule.name, slot)).collect::<Result<Vec<_>>>()?;
    let mut recovered = Vec::new();
    for journal in &mut journals {
        recovered.extend(recover(root, rule.prune_empty_dirs, journal, report, context)?);
    }
    report.recovered = (!recovered.is_empty()).then(|| recovered.join("; "));
    if let Some(idle) = idle(root, rule)? {
        report.idle = Some(idle);
        return Ok(());
    }
    let mut selection = select(root, rule, open_for_write, context.progress)?;
    for busy in selection.take_open_for_writing() {
        report.skip(&busy, "open for writing by a process; left for a later run");
    }
    report.selected_files = selection.len() as u64;
    report.selected_bytes = selection.bytes();
    limits.apply(&mut selection);
    match &rule.action {
        RuleAction::Delete => {
            let from = Dir::open(root, &rule.from)?;
            let emptied = delete_files(&from, selection.iter(), report, context)?;
            if rule.prune_empty_dirs {
                report.pruned_dirs = prune_empty_dirs(&from, &emptied)?;
            }
        }
        RuleAction::Move { to, compress, verify, reserve } => {
            let mover = Mover::new(root, (&rule.from, to), *compress, rule.prune_empty_dirs, report, context)?;
            let files_only = RunOptions { batch_bytes: u64::MAX, ..context.options.clone() };
            if mover.same_filesystem()? {
                for chunk in batches(selection.iter(), &files_only) {
                    mover.rename_batch(&chunk)?;
                }
            } else {
                selection.spread_large_files(DIRECT_READ_MIN);
                let batches = batches(selection.iter(), context.options);
                copy_pipelined(&mover, batches, &mut journals, (*verify, *reserve), &rule.name, context)?;
            }
        }
    }
    Ok(())
}

/// Batches in flight at once: one copying, one committing, one unlinking its sources.
const BATCHES_IN_FLIGHT: usize = 3;

/// Copies batch N+2 while batch N+1 commits (sync, read back, rename) and batch N
/// unlinks its sources: the copy keeps the CPUs and the page cache busy, the commit
/// mostly the destination, the unlinks the source. Each batch in flight has its own
/// journal, so a restart finds at most three unfinished batches, of disjoint files, and
/// settles each on its own.
fn copy_pipelined(
    mover: &Mover<'_>,
    batches: impl Iterator<Item = Vec<Candidate>>,
    journals: &mut [Journal],
    (verify, reserve): (crate::rules::Verify, u64),
    rule: &str,
    context: &Context<'_>,
) -> Result<()> {
    let slots: Vec<_> = journals.iter_mut().map(std::sync::Mutex::new).collect();
    // Batch 1 in `RULE.journal`, batch 2 in `RULE.journal-2`, …, and round again.
    let journal = |number: u64| {
        slots[(number as usize - 1) % slots.len()].lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    let unlink = |placed: Placed| {
        let number = placed.number;
        mover.unlink(placed, &mut journal(number))
    };
    // A committed batch (if there was one) taken to its end.
    let finish = |placed: Result<Option<Placed>>| placed.and_then(|placed| placed.map_or(Ok(()), unlink));
    std::thread::scope(|scope| {
        let mut committing = None;
        let mut unlinking = None;
        // Settles the batches still in flight, the older first; the first error.
        let settle = |committing, unlinking| joined(unlinking, rule).map(drop).and(finish(joined(committing, rule)));
        for (number, batch) in (1u64..).zip(batches) {
            if context.cancelled() {
                settle(committing, unlinking)?;
                return Err(Error::Cancelled { rule: rule.to_owned() });
            }
            let copied = match mover.copy(number, &batch, reserve, &mut journal(number)) {
                Ok(copied) => copied,
                Err(err) => return settle(committing, unlinking).and(Err(err)),
            };
            // Before this one commits, the batch before it has committed and the one
            // before that unlinked. If either failed (the destination full, say), what is
            // in flight is finished as far as it got, so that no temporary is left behind,
            // and the rule stops with the first error.
            let unlinked = joined(unlinking.take(), rule).map(drop);
            match (unlinked, joined(committing.take(), rule)) {
                (Ok(()), Ok(None)) => {}
                (Ok(()), Ok(Some(placed))) if !placed.copy_failed() => {
                    unlinking = Some(scope.spawn(move || unlink(placed)));
                }
                (unlinked, placed) => {
                    let placed = finish(placed);
                    let committed = mover.commit(copied, verify, &mut journal(number));
                    let _ = finish(committed.map(Some));
                    return unlinked.and(placed);
                }
            }
            committing = Some(scope.spawn(move || mover.commit(copied, verify, &mut journal(number))));
        }
        settle(committing, unlinking)
    })
}

/// The result of a stage of `rule`'s pipeline run on its own thread, if one was running.
fn joined<T>(stage: Option<std::thread::ScopedJoinHandle<'_, Result<T>>>, rule: &str) -> Result<Option<T>> {
    let panicked = || Error::io("commit", rule, std::io::Error::other("panicked"));
    stage.map(|stage| stage.join().unwrap_or_else(|_| Err(panicked()))).transpose()
}

/// Why `rule` has nothing to do now, if its `when_source_above_percent` does not fire;
/// first, that its `from` and `to` are there ([`Error::MissingEnd`] says which is not).
pub(crate) fn idle(root: &Root, rule: &Rule) -> Result<Option<String>> {
    let to = match &rule.action {
        RuleAction::Move { to, .. } => Some(("to", to)),
        RuleAction::Delete => None,
    };
    for (end, path) in std::iter::once(("from", &rule.from)).chain(to) {
        if matches!(jts_core::nofollow::lookup(root, path)?, jts_core::nofollow::Lookup::Missing) {
            return Err(Error::MissingEnd { rule: rule.name.clone(), end, path: root.resolve(path) });
        }
    }
    let Some(threshold) = rule.when_source_above_percent else { return Ok(None) };
    let used = Dir::open(root, &rule.from)?.used_percent()?;
    Ok((used < f64::from(threshold)).then(|| {
        format!("the filesystem of {} is {used:.1}% full, below when_source_above_percent = {threshold}", rule.from)
    }))
}

/// The files `rule` selects now, in [`Selection`] order, including those open for
/// writing (marked).
pub(crate) fn select(
    root: &Root,
    rule: &Rule,
    open_for_write: &BTreeSet<(u64, u64)>,
    progress: &Progress,
) -> Result<Selection> {
    let from = jts_core::nofollow::open_dir(root, &rule.from)?;
    Ok(scan_with_heartbeat(&from, &rule.selector, SystemTime::now(), open_for_write, &|| progress.beat())?)
}

/// Consecutive batches of at most `batch_files` files and `batch_bytes` bytes (at least
/// one file each), made as they are asked for.
fn batches(
    mut candidates: impl Iterator<Item = Candidate>,
    options: &RunOptions,
) -> impl Iterator<Item = Vec<Candidate>> {
    let (max_files, max_bytes) = (options.batch_files.max(1), options.batch_bytes);
    let mut next = candidates.next();
    std::iter::from_fn(move || {
        let mut batch = vec![next.take()?];
        let mut bytes = batch[0].size;
        while batch.len() < max_files {
            let Some(candidate) = candidates.next() else { break };
            if bytes.saturating_add(candidate.size) > max_bytes {
                next = Some(candidate);
                return Some(batch);
            }
            bytes += candidate.size;
            batch.push(candidate);
        }
        next = candidates.next();
        Some(batch)
    })
}

/// Takes the run lock (`/var/lib/jts/tier/lock`), held for the whole of a run: one run
/// at a time. Another run holding it is [`jts_core::Error::Locked`], naming its process.
pub fn lock(root: &Root) -> Result<StateLock> {
    let state = AbsPath::new(STATE_DIR).map_err(Error::Core)?;
    Ok(StateLock::take(root, &state, "lock", 0o700, "tier run")?)
}

/// Seconds since the epoch, now.
pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The content of [`STATUS_FILE`] (documented in the README).
#[derive(Debug, Serialize, Deserialize)]
pub struct Status {
    /// Format version, 1.
    pub version: u32,
    /// Unix seconds the last run started.
    pub started_at: i64,
    /// Unix seconds the last run finished.
    pub finished_at: i64,
    /// Whether every rule of the last run succeeded.
    pub ok: bool,
    /// Unix seconds at the end of the last run in which every rule succeeded.
    pub last_success_at: Option<i64>,
    /// Per rule: name, counts and error of the last run.
    pub rules: Vec<StatusRule>,
}

/// One rule's line in [`Status`].
#[derive(Debug, Serialize, Deserialize)]
pub struct StatusRule {
    /// The rule's name.
    pub name: String,
    /// Files moved (duplicates included) or deleted.
    pub files: u64,
    /// Bytes moved or deleted.
    pub bytes: u64,
    /// Why the rule stopped early.
    pub error: Option<String>,
}

/// Reads [`STATUS_FILE`]; `None` if there is none or it is unreadable.
pub fn read_status(root: &Root) -> Option<Status> {
    let path = root.resolve(&AbsPath::new(STATUS_FILE).ok()?);
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Writes [`STATUS_FILE`] atomically for `report`, keeping the last success of earlier runs.
pub fn write_status(root: &Root, report: &RunReport) -> Result<()> {
    let previous = read_status(root).and_then(|status| status.last_success_at);
    let status = Status {
        version: 1,
        started_at: report.started_at,
        finished_at: report.finished_at,
        ok: report.ok,
        last_success_at: if report.ok { Some(report.finished_at) } else { previous },
        rules: report
            .rules
            .iter()
            .map(|rule| StatusRule {
                name: rule.name.clone(),
                files: rule.moved_files + rule.duplicates + rule.deleted_files,
                bytes: rule.moved_bytes + rule.deleted_bytes,
                error: rule.error.clone(),
            })
            .collect(),
    };
    let mut text = serde_json::to_vec_pretty(&status).map_err(|err| Error::io("encode", STATUS_FILE, err))?;
    text.push(b'\n');
    jts_core::write_atomic(root, &AbsPath::new(STATUS_FILE).map_err(Error::Core)?, &text, 0o644)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn candidates(sizes: &[u64]) -> Vec<Candidate> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| Candidate {
                path: PathBuf::from(format!("f{i}")),
                size,
                mtime: 0,
                mtime_nsec: 0,
                ctime: 0,
                ctime_nsec: 0,
                dev: 1,
                ino: i as u64,
                open_for_writing: false,
            })
            .collect()
    }

    #[test]
    fn a_job_without_progress_times_out_and_is_cancelled() {
        let progress = Progress::default();
        let seen_cancel = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&seen_cancel);
        let result = supervise("stuck", Duration::from_millis(200), &progress, move |cancel| {
            while !cancel.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(5));
            }
            seen.store(cancel.load(Ordering::Relaxed), Ordering::Relaxed);
        });
        assert!(matches!(result, Err(Error::TimedOut { .. })), "{result:?}");
        std::thread::sleep(Duration::from_millis(100));
        assert!(seen_cancel.load(Ordering::Relaxed), "the job saw its cancel flag");
    }

    #[test]
    fn a_job_that_keeps_making_progress_is_not_timed_out() {
        let progress = Arc::new(Progress::default());
        let beating = Arc::clone(&progress);
        let result = supervise("busy", Duration::from_millis(100), &progress, move |_| {
            for _ in 0..30 {
                beating.add_bytes(1);
                std::thread::sleep(Duration::from_millis(10));
            }
            "done"
        });
        assert_eq!(result.unwrap(), "done", "300 ms of work with progress every 10 ms");
    }

    #[test]
    fn batches_respect_files_and_bytes_and_never_come_out_empty() {
        let options = RunOptions { batch_files: 3, batch_bytes: 100, ..RunOptions::default() };
        let all = candidates(&[10, 10, 10, 10, 90, 500, 1, 1]);
        let sizes: Vec<Vec<u64>> =
            batches(all.into_iter(), &options).map(|b| b.iter().map(|c| c.size).collect()).collect();
        assert_eq!(sizes, [vec![10, 10, 10], vec![10, 90], vec![500], vec![1, 1]]);
    }

    #[test]
    fn limits_keep_the_first_candidates_that_fit_and_are_consumed_by_what_was_done() {
        let mut some = Selection::of(&[("a", 5), ("b", 5), ("c", 5), ("d", 5)]);
        Limits { files: Some(3), bytes: Some(12) }.apply(&mut some);
        let kept: Vec<PathBuf> = some.iter().map(|c| c.path).collect();
        assert_eq!(kept, [PathBuf::from("a"), PathBuf::from("b")], "the third file would make 15 bytes");
        let mut limits = Limits { files: Some(3), bytes: None };
        limits.consume(&RuleReport { moved_files: 1, duplicates: 1, ..RuleReport::default() });
        assert_eq!(limits.files, Some(1));
    }
}
