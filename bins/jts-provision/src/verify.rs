//! `verify access` (and its hidden probe): the access matrix from jts-host, printed.

use std::collections::BTreeMap;
use std::ffi::OsString;

use jts_core::{AbsPath, Root, SystemRunner};
use jts_host::AccessReport;

use crate::Exit;
use crate::cli::{GlobalArgs, VerifyCommand};
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
