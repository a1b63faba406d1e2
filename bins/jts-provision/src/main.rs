//! `jts-provision`: the operator CLI of jts-storage.
//!
//! A thin binary: it parses arguments, loads the spec, and drives the library crates
//! through check → observe → plan → apply → verify. All printing happens here.

mod cli;
mod commands;
mod config;
mod consent;
mod host;
mod output;
mod render;
mod rule_process;
mod tier;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;

/// The exit codes of the CLI contract (DESIGN.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Ok, or nothing to do.
    Ok = 0,
    /// A step or probe failed at run time.
    Failed = 1,
    /// Invalid config or arguments; nothing touched.
    Invalid = 2,
    /// Refused; nothing touched.
    Refused = 3,
    /// Drift or changes pending.
    Pending = 4,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { Exit::Invalid as u8 } else { Exit::Ok as u8 });
        }
    };
    init_logging(cli.global.verbose, cli.global.quiet);
    let exit = commands::run(&cli).unwrap_or_else(|err| {
        eprintln!("error: {err:#}");
        Exit::Failed
    });
    ExitCode::from(exit as u8)
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("JTS_LOG").unwrap_or_else(|_| level.into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}
