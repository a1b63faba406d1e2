//! `verify access` (and its hidden probe) and `verify performance`: the access matrix and
//! the fio figures from jts-host, printed; and `scrub`, the other half of proving the
//! storage sound.

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
    } else {
        say!("{}", report.to_table().trim_end());
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
        say!("{}", report.to_table().trim_end());
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

/// `scrub`: every managed btrfs mount, its counters printed (and written for node_exporter).
pub fn scrub(global: &GlobalArgs, root: &Root, args: &ScrubArgs) -> anyhow::Result<Exit> {
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
        say!("{result}");
    }
    Ok(if results.iter().any(jts_host::Scrubbed::needs_attention) { Exit::Failed } else { Exit::Ok })
}
