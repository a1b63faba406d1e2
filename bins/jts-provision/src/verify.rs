//! `verify access` (and its hidden probe) and `verify performance`: the access matrix and
//! the fio figures from jts-host, printed; and `scrub`, the other half of proving the
//! storage sound.

use std::collections::BTreeMap;
use std::ffi::OsString;

use jts_core::{AbsPath, Root, SystemRunner};
use jts_host::AccessReport;

use crate::Exit;
use crate::cli::{GlobalArgs, PerformanceArgs, ScrubArgs, VerifyCommand};
use crate::commands::load_checked;
use crate::output::say;

/// Runs a `verify` subcommand.
pub fn run(global: &GlobalArgs, root: &Root, command: &VerifyCommand) -> anyhow::Result<Exit> {
    match command {
        VerifyCommand::Access => {
            let spec = load_checked(global, root)?;
            let mut probe_argv: Vec<OsString> = vec!["verify".into(), "access-probe".into()];
            if !root.is_host() {
                probe_argv.extend(["--root".into(), root.dir().into()]);
            }
            let report = jts_host::verify_access(&spec, root, &SystemRunner, &probe_argv)?;
            print_access(&report, global.json)?;
            Ok(if report.clean() { Exit::Ok } else { Exit::Pending })
        }
        VerifyCommand::Performance(args) => performance(global, root, args),
        VerifyCommand::AccessProbe { paths } => {
            let paths = paths.iter().map(AbsPath::new).collect::<Result<Vec<_>, _>>()?;
            say!("{}", serde_json::to_string(&jts_host::run_probes(root, &paths))?);
            Ok(Exit::Ok)
        }
    }
}

fn print_access(report: &AccessReport, json: bool) -> anyhow::Result<()> {
    if json {
        let mismatches = report.mismatches().count();
        let value = serde_json::json!({ "users": report.users, "cells": report.cells, "mismatches": mismatches,
            "missing_users": report.missing_users, "left_behind": report.left_behind });
        say!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let cells: BTreeMap<(&AbsPath, &str), String> = report
        .cells
        .iter()
        .map(|c| {
            let text = if c.ok() { c.actual.to_string() } else { format!("{} ({})", c.actual, c.expected) };
            ((&c.path, c.user.as_str()), text)
        })
        .collect();
    let path_width = report.directories.iter().map(|d| d.to_string().len()).max().unwrap_or(9).max(9);
    let widths: Vec<usize> = report
        .users
        .iter()
        .map(|user| {
            let widest = cells.iter().filter(|((_, u), _)| u == user).map(|(_, t)| t.len()).max().unwrap_or(3);
            widest.max(user.len())
        })
        .collect();
    let mut header = format!("{:<path_width$}", "DIRECTORY");
    for (user, width) in report.users.iter().zip(&widths) {
        header.push_str(&format!("  {user:<width$}"));
    }
    say!("{}", header.trim_end());
    for dir in &report.directories {
        let mut line = format!("{:<path_width$}", dir.to_string());
        for (user, width) in report.users.iter().zip(&widths) {
            let cell = cells.get(&(dir, user.as_str())).map_or("?", String::as_str);
            line.push_str(&format!("  {cell:<width$}"));
        }
        say!("{}", line.trim_end());
    }
    let mismatches: Vec<_> = report.mismatches().collect();
    if !mismatches.is_empty() {
        say!("");
        say!("{} cell(s) differ from the spec:", mismatches.len());
        for cell in mismatches {
            say!(
                "  {} on {}: expected {} ({}), got {}: {}",
                cell.user,
                cell.path,
                cell.expected,
                cell.basis,
                cell.actual,
                cell.reasons.join("; ")
            );
        }
    }
    for user in &report.missing_users {
        say!("user {user} does not exist yet: run `jts-provision apply`, then verify again");
    }
    for path in &report.left_behind {
        say!("probe file {} could not be removed: delete it by hand", path.display());
    }
    if report.clean() {
        say!("");
        say!("ok: {} users × {} directories as the spec means", report.users.len(), report.directories.len());
    }
    Ok(())
}

fn performance(global: &GlobalArgs, root: &Root, args: &PerformanceArgs) -> anyhow::Result<Exit> {
    let spec = load_checked(global, root)?;
    let known: Vec<String> = jts_host::mount_targets(&spec).iter().map(|t| short_name(&t.name)).collect();
    if let Some(unknown) = args.mounts.iter().find(|m| !known.contains(m)) {
        eprintln!("error: --mount {unknown}: no such mount in the spec; use one of: {}", known.join(", "));
        return Ok(Exit::Invalid);
    }
    let report = jts_host::verify_performance(&spec, root, &SystemRunner, &args.mounts)?;
    if let Some(file) = &args.textfile {
        let file = AbsPath::new(std::path::absolute(file)?)?;
        jts_core::write_atomic(&Root::host(), &file, report.to_prometheus().as_bytes(), 0o644)?;
    }
    if args.prometheus {
        say!("{}", report.to_prometheus().trim_end());
    } else if global.json {
        say!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_performance(&report);
    }
    Ok(if report.failed() {
        Exit::Failed
    } else if report.missed() {
        Exit::Pending
    } else {
        Exit::Ok
    })
}

/// `filesystems.warm` → `warm`, as `[performance.NAME]` and `--mount` name it.
fn short_name(target: &str) -> String {
    target.trim_start_matches("filesystems.").trim_start_matches("nfs_mounts.").to_owned()
}

fn print_performance(report: &jts_host::PerfReport) {
    use jts_host::{Latency, Outcome};
    say!(
        "{:<14} {:<11} {:<6} {:>10} {:>12} {:>10} {:>10}",
        "MOUNT",
        "PROFILE",
        "DIR",
        "IOPS",
        "BANDWIDTH",
        "P50",
        "P99"
    );
    for mount in &report.mounts {
        let profile = mount.profile.map_or("-", jts_host::Profile::name);
        match &mount.outcome {
            Outcome::Measured { figures, misses } => {
                for (direction, figures) in [("read", figures.read), ("write", figures.write)] {
                    let Some(d) = figures else { continue };
                    say!(
                        "{:<14} {:<11} {:<6} {:>10.0} {:>10}/s {:>10} {:>10}",
                        mount.name,
                        profile,
                        direction,
                        d.iops,
                        jts_core::human_bytes(d.bandwidth),
                        Latency(d.p50_ns).to_string(),
                        Latency(d.p99_ns).to_string()
                    );
                }
                for miss in misses {
                    say!("  MISSED {miss}");
                }
            }
            Outcome::Skipped { reason } => say!("{:<14} {:<11} skipped: {reason}", mount.name, profile),
            Outcome::Refused { reason } => say!("{:<14} {:<11} REFUSED: {reason}", mount.name, profile),
            Outcome::Failed { error } => say!("{:<14} {:<11} FAILED: {error}", mount.name, profile),
        }
        for line in &mount.context {
            say!("  {line}");
        }
    }
}

/// `scrub`: every managed btrfs mount, its counters printed (and written for node_exporter).
pub fn scrub(global: &GlobalArgs, root: &Root, args: &ScrubArgs) -> anyhow::Result<Exit> {
    use jts_host::ScrubOutcome;
    let spec = load_checked(global, root)?;
    let results = jts_host::scrub(&spec, root, &SystemRunner)?;
    if let Some(file) = &args.textfile {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let file = AbsPath::new(std::path::absolute(file)?)?;
        jts_core::write_atomic(&Root::host(), &file, jts_host::scrub_prometheus(&results, now).as_bytes(), 0o644)?;
    }
    if global.json {
        say!("{}", serde_json::to_string_pretty(&results)?);
    } else if results.is_empty() {
        say!("no btrfs filesystem to scrub");
    }
    for result in results.iter().filter(|_| !global.json) {
        let (name, at) = (&result.name, result.mount_point.display());
        match &result.outcome {
            ScrubOutcome::Scrubbed(f) if f.errors == 0 && f.uncorrectable == 0 => {
                say!("{name} ({at}): {} scrubbed, no errors", jts_core::human_bytes(f.bytes_scrubbed));
            }
            ScrubOutcome::Scrubbed(f) => say!(
                "{name} ({at}): {} ERRORS ({} corrected, {} uncorrectable): see `btrfs scrub status -d {at}` and the kernel log (journalctl -k); restore what is uncorrectable from a backup",
                f.errors,
                f.corrected,
                f.uncorrectable
            ),
            ScrubOutcome::NotMounted => say!("{name} ({at}): not mounted, skipped"),
            ScrubOutcome::Failed { error } => say!("{name} ({at}): FAILED: {error}"),
        }
    }
    Ok(if results.iter().any(jts_host::Scrubbed::needs_attention) { Exit::Failed } else { Exit::Ok })
}
