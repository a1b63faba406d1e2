//! Each rule of `tier run` in a process of its own.
//!
//! A thread blocked on a dead NFS server cannot be killed, and a process holding such a
//! thread, or merely an open file on that server, cannot finish exiting: even `kill -9`
//! leaves it waiting in the kernel (an NFSv4 CLOSE at exit) until the server answers. So
//! `tier run` holds the run lock and starts each rule as a child, `jts-provision tier
//! run-rule`, which prints its progress as JSON lines on stdout while anything moves, then
//! its report. A child silent for `--io-timeout` is killed and its rule reported as not
//! responding; the parent goes on with the next rule, writes the status file, prints the
//! report and exits on time. The killed child may linger in the kernel until the NAS
//! answers; it runs no further step, and the rule's journal lets the next run finish or
//! roll back the batch it was in.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use jts_core::{Root, SystemRunner};
use jts_tiering::{Progress, Rule, RuleReport, RunOptions};
use serde::{Deserialize, Serialize};

use crate::cli::GlobalArgs;
use crate::output::say;

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

/// Counters of the whole run, for the progress line.
#[derive(Debug, Default)]
pub struct LiveCounts {
    files: AtomicU64,
    bytes: AtomicU64,
}

impl LiveCounts {
    /// Files moved or deleted so far.
    pub fn files(&self) -> u64 {
        self.files.load(Ordering::Relaxed)
    }

    /// Bytes copied so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

/// The child's side (`tier run-rule`): runs `rule`, printing [`Message::Progress`] while
/// anything happens, then [`Message::Report`]. Killed when `parent` ends (a `tier run`
/// killed with `kill -9` takes its rule with it, so no rule ever runs twice at once),
/// and does nothing if `parent` is already gone.
pub fn run_here(root: &Root, rule: &Rule, options: &RunOptions, parent: Option<u32>) -> anyhow::Result<()> {
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
    if parent.is_some_and(|pid| pid != std::os::unix::process::parent_id()) {
        anyhow::bail!("the tier run that started this rule has already ended");
    }
    let progress = Arc::new(Progress::default());
    let done = Arc::new(AtomicBool::new(false));
    let printer = {
        let (progress, done) = (Arc::clone(&progress), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut last_beat = progress.heartbeat();
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(PROGRESS_EVERY);
                let beat = progress.heartbeat();
                if beat != last_beat {
                    last_beat = beat;
                    let counts =
                        Counts { files: progress.files(), bytes: progress.bytes(), done_bytes: progress.done_bytes() };
                    say!("{}", serde_json::to_string(&Message::Progress(counts)).unwrap_or_default());
                }
            }
        })
    };
    let report = jts_tiering::run::run_one(root, rule, options, &progress);
    done.store(true, Ordering::Relaxed);
    let _ = printer.join();
    say!("{}", serde_json::to_string(&Message::Report(Box::new(report))).unwrap_or_default());
    Ok(())
}

/// What the parent passes on to each child.
pub struct ChildArgs<'a> {
    /// The parent's global flags (`--config`, `--root`, verbosity).
    pub global: &'a GlobalArgs,
    /// Give up on a child silent for this long.
    pub io_timeout: Duration,
    /// `--batch-files`, if given.
    pub batch_files: Option<u64>,
}

/// The parent's side: runs `rule` in a child within `limits` (files, bytes), adding its
/// progress to `live`, and returns its report: the child's own, or one made here when the
/// child went silent (killed, "not responding") or ended without one.
pub fn run_in_child(
    args: &ChildArgs<'_>,
    rule: &Rule,
    limits: (Option<u64>, Option<u64>),
    live: &LiveCounts,
) -> RuleReport {
    let failed = |error: String, counts: Counts| RuleReport::stopped(rule, error, counts.files, counts.done_bytes);
    let mut child = match SystemRunner::spawn_self(&child_argv(args, rule, limits)) {
        Ok(child) => child,
        Err(err) => return failed(format!("could not start the rule's process: {err}"), Counts::default()),
    };
    let Some(stdout) = child.stdout.take() else {
        return failed("the rule's process has no stdout".into(), Counts::default());
    };
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let (base_files, base_bytes) = (live.files(), live.bytes());
    let mut counts = Counts::default();
    let mut quiet_since = Instant::now();
    loop {
        match lines.recv_timeout(PROGRESS_EVERY) {
            Ok(Ok(line)) => {
                quiet_since = Instant::now();
                match serde_json::from_str::<Message>(&line) {
                    Ok(Message::Progress(now)) => {
                        counts = now;
                        live.files.store(base_files + now.files, Ordering::Relaxed);
                        live.bytes.store(base_bytes + now.bytes, Ordering::Relaxed);
                    }
                    Ok(Message::Report(report)) => {
                        let _ = child.wait();
                        live.files.store(
                            base_files + report.moved_files + report.duplicates + report.deleted_files,
                            Ordering::Relaxed,
                        );
                        return *report;
                    }
                    Err(_) => tracing::warn!("rule {}: unexpected output: {line}", rule.name),
                }
            }
            Ok(Err(_)) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().map_or_else(|err| err.to_string(), |status| status.to_string());
                return failed(format!("the rule's process ended without a report ({status})"), counts);
            }
            Err(mpsc::RecvTimeoutError::Timeout) if quiet_since.elapsed() >= args.io_timeout => {
                let _ = child.kill();
                // Reaped if it can exit; if a dead NFS server holds it in the kernel, it
                // is left behind and ends when the server answers.
                let deadline = Instant::now() + Duration::from_secs(1);
                while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                let error = format!(
                    "rule {}: no progress for {}s, source or destination not responding; {} files were done before \
                     it stopped",
                    rule.name,
                    args.io_timeout.as_secs(),
                    counts.files
                );
                return failed(error, counts);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

fn child_argv(args: &ChildArgs<'_>, rule: &Rule, (max_files, max_bytes): (Option<u64>, Option<u64>)) -> Vec<OsString> {
    let global = args.global;
    let mut argv: Vec<OsString> = vec!["--config".into(), global.config.clone().into()];
    if let Some(root) = &global.root {
        argv.extend(["--root".into(), root.clone().into()]);
    }
    if global.quiet {
        argv.push("-q".into());
    }
    argv.extend((0..global.verbose).map(|_| OsString::from("-v")));
    argv.extend(["tier", "run-rule", "--rule"].map(OsString::from));
    argv.push(rule.name.clone().into());
    argv.extend(["--parent-pid".into(), std::process::id().to_string().into()]);
    let numbers = [("--max-files", max_files), ("--max-bytes", max_bytes), ("--batch-files", args.batch_files)];
    for (flag, value) in numbers {
        if let Some(value) = value {
            argv.extend([flag.into(), value.to_string().into()]);
        }
    }
    argv
}
