//! `jts-provision`: the operator CLI of jts-storage.
//!
//! A thin binary over jts-host: it parses arguments, calls the library for check →
//! observe → plan → apply → verify, tiering, snapshots and health, and prints. All
//! printing, logging setup and progress bars happen here.

mod backup;
mod cli;
mod commands;
mod output;
mod tier;
mod verify;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;

/// The exit codes of the CLI contract (README, "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Ok, or nothing to do.
    Ok,
    /// A step or probe failed at run time.
    Failed,
    /// Invalid config or arguments; nothing touched.
    Invalid,
    /// Refused; nothing touched.
    Refused,
    /// Drift or changes pending.
    Pending,
    /// `health`: the monitoring-plugin code of its report (0 OK … 3 UNKNOWN).
    Plugin(u8),
}

impl Exit {
    /// The process exit status.
    fn code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Failed => 1,
            Self::Invalid => 2,
            Self::Refused => 3,
            Self::Pending => 4,
            Self::Plugin(code) => code,
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { Exit::Invalid } else { Exit::Ok }.code());
        }
    };
    init_logging(cli.global.verbose, cli.global.quiet);
    let exit = std::panic::catch_unwind(|| commands::run(&cli));
    let exit = match exit {
        Ok(Ok(exit)) => exit,
        Ok(Err(err)) => {
            eprintln!("error: {err}{}", hint(&err));
            Exit::Failed
        }
        // stdout was closed (`| head`): end quietly, as a program killed by SIGPIPE would.
        Err(payload) if payload.is::<output::BrokenPipe>() => return ExitCode::from(141),
        Err(payload) => std::panic::resume_unwind(payload),
    };
    ExitCode::from(exit.code())
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("JTS_LOG").unwrap_or_else(|_| level.into());
    // Colour only for a person at a terminal, and never when NO_COLOR is set (no-color.org).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(colour)
        .init();
}

/// What to do about an error the message alone does not say how to fix: permission denied
/// to a user other than root.
fn hint(err: &anyhow::Error) -> &'static str {
    let denied = err.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied)
    });
    let root = std::fs::metadata("/proc/self").is_ok_and(|me| std::os::unix::fs::MetadataExt::uid(&me) == 0);
    if denied && !root {
        "; this command changes or reads what only root may: run it as root (e.g. with sudo)"
    } else {
        ""
    }
}
