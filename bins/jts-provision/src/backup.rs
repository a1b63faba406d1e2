//! `backup run`, `list`, `verify`, `prune` and `restore`: the spec's `[backups.NAME]`
//! through jts-backup, printed.

use std::time::{Duration, SystemTime};

use jts_backup::state::{VerifyRecord, read_verified, write_verified};
use jts_backup::{ArchiveInfo, Backup};
use jts_core::{Root, human_bytes};
use jts_host::HostSpec;
use serde_json::json;

use crate::Exit;
use crate::cli::{BackupCommand, GlobalArgs};
use crate::commands::load_checked;
use crate::output::say;

/// Runs a `backup` subcommand.
pub fn run(global: &GlobalArgs, root: &Root, command: &BackupCommand) -> anyhow::Result<Exit> {
    let spec = load_checked(global, root)?;
    let names: Vec<String> = match command {
        BackupCommand::Run { names, .. } | BackupCommand::List { names } => names.clone(),
        BackupCommand::Verify { name, .. } | BackupCommand::Prune { name, .. } => name.iter().cloned().collect(),
        BackupCommand::Restore { name, .. } => vec![name.clone()],
    };
    let backups = match jts_host::backups(&spec, &names) {
        Ok(backups) => backups,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(Exit::Invalid);
        }
    };
    match command {
        BackupCommand::Run { lock, .. } => run_backups(global, root, &backups, lock.wait.into()),
        BackupCommand::List { .. } => list(global, root, &spec, &backups),
        BackupCommand::Verify { sample, lock, .. } => verify(global, root, &spec, &backups, *sample, lock.wait.into()),
        BackupCommand::Prune { dry_run, lock, .. } => prune(global, root, &spec, &backups, *dry_run, lock.wait.into()),
        BackupCommand::Restore { archive, to, .. } => restore(global, root, &spec, &backups[0], archive.as_deref(), to),
    }
}

fn run_backups(global: &GlobalArgs, root: &Root, backups: &[Backup], wait: Duration) -> anyhow::Result<Exit> {
    let _lock = match jts_backup::lock(root, "jts-provision backup run", wait) {
        Ok(lock) => lock,
        Err(err @ jts_backup::Error::Core(jts_core::Error::Locked { .. })) => {
            eprintln!("error: {err}");
            return Ok(Exit::Failed);
        }
        Err(err) => return Err(err.into()),
    };
    let mut exit = Exit::Ok;
    let mut reports = Vec::new();
    for backup in backups {
        let bar =
            crate::output::progress_bar(global, "{spinner} {elapsed} {binary_bytes} read ({binary_bytes_per_sec})");
        let progress = |bytes| {
            if let Some(bar) = &bar {
                bar.set_position(bytes);
            }
        };
        let recorded = jts_backup::run_and_record(&jts_core::SystemRunner, root, backup, SystemTime::now(), &progress);
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let result = recorded?;
        match result {
            Ok(report) => {
                if !global.json {
                    say!(
                        "{}: {} ({} files, {} read, {} written)",
                        report.backup,
                        report.archive.display(),
                        report.files,
                        human_bytes(report.bytes),
                        human_bytes(report.archive_bytes)
                    );
                    for changed in &report.changed {
                        say!("  changed while read: {changed}");
                    }
                }
                reports.push(json!({ "backup": backup.name, "ok": true, "report": report }));
            }
            Err(err) => {
                eprintln!("error: {err}");
                reports.push(json!({ "backup": backup.name, "ok": false, "error": err.to_string() }));
                exit = Exit::Failed;
            }
        }
    }
    if global.json {
        say!("{}", json!({ "backups": reports }));
    }
    Ok(exit)
}

/// Every archive of `backup`, on every tier.
fn archives(root: &Root, spec: &HostSpec, backup: &Backup) -> jts_backup::Result<Vec<ArchiveInfo>> {
    jts_backup::list_archives(root, &backup.name, &jts_host::backup_locations(spec, backup))
}

fn list(global: &GlobalArgs, root: &Root, spec: &HostSpec, backups: &[Backup]) -> anyhow::Result<Exit> {
    let now = jts_backup::unix(SystemTime::now());
    let mut all = Vec::new();
    let mut exit = Exit::Ok;
    for backup in backups {
        match archives(root, spec, backup) {
            Ok(found) => all.extend(found),
            Err(err) => {
                eprintln!("error: {err}");
                exit = Exit::Failed;
            }
        }
    }
    if global.json {
        say!("{}", json!({ "archives": all }));
        return Ok(exit);
    }
    say!("{:<16} {:<17} {:>8} {:>10} {:>8}  {:<22} path", "BACKUP", "ID", "AGE", "SIZE", "FILES", "VERIFIED");
    for archive in &all {
        let age = humantime::format_duration(Duration::from_secs(u64::try_from(now - archive.time).unwrap_or(0)));
        let age = age.to_string().split(' ').next().unwrap_or_default().to_owned();
        let verified = match &archive.verified {
            None => "never".to_owned(),
            Some(VerifyRecord { ok: true, at, .. }) => format!("ok, {} ago", short_age(now - at)),
            Some(VerifyRecord { ok: false, at, .. }) => format!("FAILED, {} ago", short_age(now - at)),
        };
        let files = archive.files.map_or("?".to_owned(), |n| n.to_string());
        say!(
            "{:<16} {:<17} {age:>8} {:>10} {files:>8}  {verified:<22} {}",
            archive.backup,
            archive.id,
            human_bytes(archive.size),
            archive.path.display()
        );
        if let Some(problem) = &archive.problem {
            say!("  UNREADABLE: {problem}");
        }
    }
    Ok(exit)
}

fn short_age(seconds: i64) -> String {
    let text = humantime::format_duration(Duration::from_secs(u64::try_from(seconds).unwrap_or(0))).to_string();
    text.split(' ').next().unwrap_or_default().to_owned()
}

fn verify(
    global: &GlobalArgs,
    root: &Root,
    spec: &HostSpec,
    backups: &[Backup],
    sample: Option<u8>,
    wait: Duration,
) -> anyhow::Result<Exit> {
    let _lock = jts_backup::lock(root, "jts-provision backup verify", wait)?;
    let mut records = read_verified(root);
    let mut results = Vec::new();
    let mut exit = Exit::Ok;
    for backup in backups {
        let locations = jts_host::backup_locations(spec, backup);
        for outcome in jts_backup::verify_backup(root, &backup.name, &locations, sample, &mut records)? {
            let archive = &outcome.archive;
            match outcome.result {
                Ok(verified) => {
                    if !global.json {
                        say!(
                            "ok      {} ({} files, {})",
                            archive.display(),
                            verified.files,
                            human_bytes(verified.bytes)
                        );
                    }
                    results.push(
                        json!({ "archive": archive, "ok": true, "files": verified.files, "bytes": verified.bytes }),
                    );
                }
                Err(err) => {
                    if !global.json {
                        say!("FAILED  {err}");
                    }
                    results.push(json!({ "archive": archive, "ok": false, "error": err.to_string() }));
                    exit = Exit::Failed;
                }
            }
        }
    }
    write_verified(root, &records)?;
    if global.json {
        say!("{}", json!({ "verified": results }));
    }
    Ok(exit)
}

fn prune(
    global: &GlobalArgs,
    root: &Root,
    spec: &HostSpec,
    backups: &[Backup],
    dry_run: bool,
    wait: Duration,
) -> anyhow::Result<Exit> {
    let _lock = jts_backup::lock(root, "jts-provision backup prune", wait)?;
    let now = jts_backup::unix(SystemTime::now());
    let mut outcomes = Vec::new();
    for backup in backups {
        let outcome = jts_backup::prune(root, backup, &jts_host::backup_locations(spec, backup), now, dry_run)?;
        if !global.json {
            let verb = if dry_run { "would remove" } else { "removed" };
            for (archive, reasons) in &outcome.plan.keep {
                let why: Vec<String> = reasons.iter().map(ToString::to_string).collect();
                say!("{}: keep   {} ({})", outcome.backup, archive.id, why.join(", "));
            }
            for (archive, why) in &outcome.plan.remove {
                say!("{}: {verb} {} ({why})", outcome.backup, archive.id);
            }
            for path in &outcome.unreadable {
                say!("{}: left alone, unreadable: {} (run `backup verify`)", outcome.backup, path.display());
            }
        }
        outcomes.push(outcome);
    }
    if global.json {
        say!("{}", json!({ "dry_run": dry_run, "backups": outcomes }));
    }
    Ok(Exit::Ok)
}

fn restore(
    global: &GlobalArgs,
    root: &Root,
    spec: &HostSpec,
    backup: &Backup,
    id: Option<&str>,
    to: &std::path::Path,
) -> anyhow::Result<Exit> {
    let found = archives(root, spec, backup)?;
    let Some(archive) = jts_backup::choose_archive(&found, id) else {
        let ids: Vec<&str> = found.iter().map(|a| a.id.as_str()).collect();
        eprintln!(
            "error: backup {} has no readable archive{}; its archives: {} (see `jts-provision backup list`)",
            backup.name,
            id.map(|id| format!(" with id {id}")).unwrap_or_default(),
            if ids.is_empty() { "none".to_owned() } else { ids.join(", ") }
        );
        return Ok(Exit::Invalid);
    };
    match jts_backup::restore(&archive.path, to) {
        Ok(restored) => {
            if global.json {
                say!("{}", json!({ "restored": restored }));
            } else {
                say!(
                    "restored {} into {}: {} files, {}, every one verified",
                    restored.archive.display(),
                    restored.target.display(),
                    restored.files,
                    human_bytes(restored.bytes)
                );
            }
            Ok(Exit::Ok)
        }
        Err(err @ jts_backup::Error::Target { .. }) => {
            eprintln!("error: {err}");
            Ok(Exit::Invalid)
        }
        Err(err) => {
            eprintln!(
                "error: {err}\n{} is incomplete (marked by {}); remove it before another restore",
                to.display(),
                jts_backup::INCOMPLETE_MARKER
            );
            Ok(Exit::Failed)
        }
    }
}
