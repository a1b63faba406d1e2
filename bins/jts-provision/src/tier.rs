//! `tier plan`, `tier run` and the hidden `tier run-rule`: the spec's `[[rules]]` through
//! jts-tiering, each rule of a run in a child process (`jts_tiering::process`).

use std::ffi::OsString;
use std::time::Duration;

use jts_core::{Root, human_bytes};
use jts_tiering::process::RuleCommand;
use jts_tiering::{Rule, RulePlan, RunOptions, RunReport};

use crate::Exit;
use crate::cli::{GlobalArgs, TierCommand, TierRunArgs};
use crate::commands::load_checked;
use crate::output::say;

/// Runs `tier plan`, `tier run` or `tier run-rule`.
pub fn run(global: &GlobalArgs, root: &Root, command: &TierCommand) -> anyhow::Result<Exit> {
    let select = match command {
        TierCommand::Plan(args) => args,
        TierCommand::Run(args) | TierCommand::RunRule(args) => &args.select,
    };
    let spec = load_checked(global, root)?;
    let rules = match jts_tiering::rules::select(&spec.rules, &select.rules) {
        Ok(rules) => rules,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(Exit::Invalid);
        }
    };
    let io_timeout = Duration::from(select.io_timeout);
    match command {
        TierCommand::Plan(_) => {
            let plans = jts_tiering::plan(root, &rules, io_timeout);
            print_plan(&plans, global.json);
            Ok(if plans.iter().all(|p| p.error.is_none()) { Exit::Ok } else { Exit::Failed })
        }
        TierCommand::Run(args) => run_rules(global, root, &rules, args),
        TierCommand::RunRule(args) => {
            let [rule] = rules.as_slice() else {
                eprintln!("error: run-rule takes exactly one --rule");
                return Ok(Exit::Invalid);
            };
            let options = RunOptions {
                max_files: args.max_files,
                max_bytes: args.max_bytes.map(jts_core::Size::bytes),
                io_timeout,
                batch_files: args.batch_files,
                ..RunOptions::default()
            };
            jts_tiering::process::run_here(root, rule, &options, args.parent_pid, &|line| say!("{line}"))?;
            Ok(Exit::Ok)
        }
    }
}

/// `tier run`: holds the lock, runs each rule in a child process within what is left of
/// the limits, writes the status file and prints the report.
fn run_rules(global: &GlobalArgs, root: &Root, rules: &[Rule], args: &TierRunArgs) -> anyhow::Result<Exit> {
    let bar = crate::output::progress_bar(
        global,
        "{spinner} {elapsed} {binary_bytes} copied ({binary_bytes_per_sec}), {msg}",
    );
    let command = RuleCommand {
        prefix: child_prefix(global),
        io_timeout: Duration::from(args.select.io_timeout),
        batch_files: args.batch_files,
    };
    let limits = (args.max_files, args.max_bytes.map(jts_core::Size::bytes));
    let on_progress = |files, bytes| {
        if let Some(bar) = &bar {
            bar.set_position(bytes);
            bar.set_message(format!("{files} files done"));
        }
    };
    let ran = jts_tiering::process::run_all_in_children(root, &command, rules, limits, &on_progress);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let report = match ran {
        Ok(report) => report,
        Err(err @ jts_tiering::Error::Core(jts_core::Error::Locked { .. })) => {
            eprintln!("error: {err}");
            return Ok(Exit::Failed);
        }
        Err(err) => return Err(err.into()),
    };
    print_run(&report, global.json);
    Ok(if report.ok { Exit::Ok } else { Exit::Failed })
}

/// The re-exec entry point of a rule's process: this run's global flags, then `tier run-rule`.
fn child_prefix(global: &GlobalArgs) -> Vec<OsString> {
    let mut argv: Vec<OsString> = vec!["--config".into(), global.config.clone().into()];
    if let Some(root) = &global.root {
        argv.extend(["--root".into(), root.clone().into()]);
    }
    if global.quiet {
        argv.push("-q".into());
    }
    argv.extend((0..global.verbose).map(|_| OsString::from("-v")));
    argv.extend(["tier", "run-rule"].map(OsString::from));
    argv
}

fn print_plan(plans: &[RulePlan], json: bool) {
    if json {
        say!("{}", serde_json::json!({ "rules": plans }));
        return;
    }
    say!("{:<24} {:<7} {:>10} {:>12}  destination", "RULE", "ACTION", "FILES", "BYTES");
    for plan in plans {
        let room = match (plan.fits, plan.destination_available) {
            (Some(true), Some(free)) => format!("fits ({} free)", human_bytes(free)),
            (Some(false), Some(free)) => format!("DOES NOT FIT above the reserve ({} free)", human_bytes(free)),
            _ => String::new(),
        };
        say!("{:<24} {:<7} {:>10} {:>12}  {room}", plan.name, plan.action, plan.files, human_bytes(plan.bytes));
        if let Some(error) = &plan.error {
            say!("  error: {error}");
        }
        if let Some(idle) = &plan.idle {
            say!("  idle: {idle}");
        }
        for path in &plan.examples {
            say!("  {}", path.display());
        }
        if plan.files > plan.examples.len() as u64 {
            say!("  … and {} more", plan.files - plan.examples.len() as u64);
        }
        for path in plan.open_for_writing.iter().take(LISTED) {
            say!("  open for writing, left alone: {}", path.display());
        }
    }
}

/// How many conflicts and skipped files are listed per rule in the human summary.
const LISTED: usize = 20;

fn print_run(report: &RunReport, json: bool) {
    if json {
        say!("{}", serde_json::to_string(report).unwrap_or_default());
        return;
    }
    say!(
        "{:<24} {:<7} {:>8} {:>12} {:>6} {:>9} {:>7}  seconds",
        "RULE",
        "ACTION",
        "FILES",
        "BYTES",
        "DUPS",
        "CONFLICTS",
        "SKIPPED"
    );
    for rule in &report.rules {
        let (files, bytes) = match rule.action.as_str() {
            "delete" => (rule.deleted_files, rule.deleted_bytes),
            _ => (rule.moved_files, rule.moved_bytes),
        };
        say!(
            "{:<24} {:<7} {files:>8} {:>12} {:>6} {:>9} {:>7}  {:.1}",
            rule.name,
            rule.action,
            human_bytes(bytes),
            rule.duplicates,
            rule.conflicts.len(),
            rule.skipped.len(),
            rule.seconds
        );
        if let Some(recovered) = &rule.recovered {
            say!("  recovered: {recovered}");
        }
        if let Some(idle) = &rule.idle {
            say!("  idle: {idle}");
        }
        for conflict in rule.conflicts.iter().take(LISTED) {
            say!("  kept both: {} → {}", conflict.source.display(), conflict.kept_as.display());
        }
        for skipped in rule.skipped.iter().take(LISTED) {
            say!("  skipped: {}: {}", skipped.path.display(), skipped.reason);
        }
        if let Some(error) = &rule.error {
            say!("  ERROR: {error}");
        }
    }
}
