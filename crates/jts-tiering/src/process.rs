//! Each rule of a tier run in a process of its own.
//!
//! A thread blocked on a dead NFS server cannot be killed, and a process holding such a
//! thread, or merely an open file on that server, cannot finish exiting: even `kill -9`
//! leaves it waiting in the kernel (an NFSv4 CLOSE at exit) until the server answers. So
//! the run holds the run lock and starts each rule as a child ([`run_in_child`]), which
//! prints its progress as JSON lines on stdout while anything moves, then its report
//! ([`run_here`]). A child silent for the I/O timeout is killed and its rule reported as
//! not responding; the parent goes on with the next rule and finishes on time. The killed
//! child may linger in the kernel until the NAS answers; it runs no further step, and the
//! rule's journal lets the next run finish or roll back the batch it was in.
//!
//! # The re-exec entry point
//!
//! The child is this very program (`/proc/self/exe`), started with
//! [`RuleCommand::prefix`] followed by
//!
//! ```text
//! --rule NAME --parent-pid PID [--max-files N] [--max-bytes BYTES] --batch-files N
//! ```
//!
//! The program must accept exactly these flags after the prefix, load the same spec, and
//! call [`run_here`] with the named rule and the limits. `jts-provision` does it with its
//! hidden `tier run-rule` subcommand.

use std::ffi::OsString;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jts_core::{Heard, Root, WatchedChild};
use serde::{Deserialize, Serialize};

use crate::{Error, Progress, Result, Rule, RuleReport, RunOptions, RunReport};

/// How often the child reports progress (when there is any).
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// One line from the child.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Message {
    /// Something moved since the last line.
    Progress(Counts),
    /// The rule is over.
    Report(Box<RuleReport>),
}

/// The child's counters.
#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize)]
struct Counts {
    /// Files moved or deleted.
    files: u64,
    /// Bytes copied.
    bytes: u64,
    /// Bytes of the files moved or deleted.
    done_bytes: u64,
}

/// What a run has done so far over all its rules: files moved or deleted, bytes copied.
/// Called whenever a rule's process reports progress.
pub type OnProgress<'a> = &'a dyn Fn(u64, u64);

/// The child's side: runs `rule`, handing `line` a JSON progress line while anything
/// happens, then the report line. Killed when `parent` ends (a run killed with `kill -9`
/// takes its rule with it, so no rule ever runs twice at once), and does nothing if
/// `parent` is already gone.
pub fn run_here(
    root: &Root,
    rule: &Rule,
    options: &RunOptions,
    parent: Option<u32>,
    line: &(dyn Fn(&str) + Sync),
) -> Result<()> {
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .map_err(|errno| Error::io("set PR_SET_PDEATHSIG on", "/proc/self", errno))?;
    if parent.is_some_and(|pid| pid != std::os::unix::process::parent_id()) {
        return Err(Error::ParentGone);
    }
    let progress = Arc::new(Progress::default());
    let done = AtomicBool::new(false);
    let report = std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut last_beat = progress.heartbeat();
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(PROGRESS_EVERY);
                let beat = progress.heartbeat();
                if beat != last_beat {
                    last_beat = beat;
                    let counts =
                        Counts { files: progress.files(), bytes: progress.bytes(), done_bytes: progress.done_bytes() };
                    line(&serde_json::to_string(&Message::Progress(counts)).unwrap_or_default());
                }
            }
        });
        let report = crate::run::run_one(root, rule, options, &progress);
        done.store(true, Ordering::Relaxed);
        report
    });
    line(&serde_json::to_string(&Message::Report(Box::new(report))).unwrap_or_default());
    Ok(())
}

/// How the parent starts each rule's child.
#[derive(Debug, Clone)]
pub struct RuleCommand {
    /// The arguments that lead to the re-exec entry point (global flags and the
    /// subcommand), before the flags of the module docs.
    pub prefix: Vec<OsString>,
    /// Give up on a child silent for this long.
    pub io_timeout: Duration,
    /// Files per batch.
    pub batch_files: usize,
}

/// A whole `tier run` with each rule in a child: holds the run lock
/// ([`crate::run::lock`]; another run holding it is [`jts_core::Error::Locked`]), runs
/// the rules one child at a time within the limits over the whole run, writes
/// [`crate::run::STATUS_FILE`] and returns the report.
pub fn run_all_in_children(
    root: &Root,
    command: &RuleCommand,
    rules: &[Rule],
    limits: (Option<u64>, Option<u64>),
    on_progress: OnProgress<'_>,
) -> Result<RunReport> {
    let _lock = crate::run::lock(root)?;
    let started_at = crate::run::unix_now();
    let report = RunReport::finished(started_at, run_in_children(command, rules, limits, on_progress));
    crate::run::write_status(root, &report)?;
    Ok(report)
}

/// Runs every rule, one child at a time, within `max_files` and `max_bytes` over the
/// whole run, telling `on_progress` the run's totals; a rule that fails does not stop
/// the next.
fn run_in_children(
    command: &RuleCommand,
    rules: &[Rule],
    (max_files, max_bytes): (Option<u64>, Option<u64>),
    on_progress: OnProgress<'_>,
) -> Vec<RuleReport> {
    let (mut files_left, mut bytes_left) = (max_files, max_bytes);
    let (mut files_done, mut bytes_done) = (0, 0);
    let mut reports = Vec::with_capacity(rules.len());
    for rule in rules {
        let so_far = |files, bytes| on_progress(files_done + files, bytes_done + bytes);
        let report = run_in_child(command, rule, (files_left, bytes_left), &so_far);
        let files = report.moved_files + report.duplicates + report.deleted_files;
        (files_done, bytes_done) = (files_done + files, bytes_done + report.moved_bytes);
        files_left = files_left.map(|max| max.saturating_sub(files));
        bytes_left = bytes_left.map(|max| max.saturating_sub(report.moved_bytes + report.deleted_bytes));
        reports.push(report);
    }
    reports
}

/// The parent's side: runs `rule` in a child within `limits` (files, bytes), telling
/// `on_progress` the rule's files done and bytes copied, and returns its report: the child's own, or one made here when the
/// child went silent (killed, "not responding") or ended without one.
pub fn run_in_child(
    command: &RuleCommand,
    rule: &Rule,
    limits: (Option<u64>, Option<u64>),
    on_progress: OnProgress<'_>,
) -> RuleReport {
    let failed = |error: String, counts: Counts| RuleReport::stopped(rule, error, counts.files, counts.done_bytes);
    let mut child = match WatchedChild::spawn_self(&child_argv(command, rule, limits)) {
        Ok(child) => child,
        Err(err) => return failed(format!("could not start the rule's process: {err}"), Counts::default()),
    };
    let mut counts = Counts::default();
    let mut quiet_since = std::time::Instant::now();
    loop {
        match child.listen(PROGRESS_EVERY) {
            Heard::Line(line) => {
                quiet_since = std::time::Instant::now();
                match serde_json::from_str::<Message>(&line) {
                    Ok(Message::Progress(now)) => {
                        counts = now;
                        on_progress(now.files, now.bytes);
                    }
                    Ok(Message::Report(report)) => {
                        child.wait();
                        on_progress(report.moved_files + report.duplicates + report.deleted_files, report.moved_bytes);
                        return *report;
                    }
                    Err(_) => tracing::warn!("rule {}: unexpected output: {line}", rule.name),
                }
            }
            Heard::Ended(status) => {
                return failed(format!("the rule's process ended without a report ({status})"), counts);
            }
            Heard::Silence if quiet_since.elapsed() >= command.io_timeout => {
                child.kill(Duration::from_secs(1));
                let error = format!(
                    "rule {}: no progress for {}s, source or destination not responding; {} files were done before \
                     it stopped",
                    rule.name,
                    command.io_timeout.as_secs(),
                    counts.files
                );
                return failed(error, counts);
            }
            Heard::Silence => {}
        }
    }
}

fn child_argv(command: &RuleCommand, rule: &Rule, (max_files, max_bytes): (Option<u64>, Option<u64>)) -> Vec<OsString> {
    let mut argv = command.prefix.clone();
    argv.extend(["--rule".into(), rule.name.clone().into()]);
    argv.extend(["--parent-pid".into(), std::process::id().to_string().into()]);
    for (flag, value) in [("--max-files", max_files), ("--max-bytes", max_bytes)] {
        if let Some(value) = value {
            argv.extend([flag.into(), value.to_string().into()]);
        }
    }
    argv.extend(["--batch-files".into(), command.batch_files.to_string().into()]);
    argv
}
