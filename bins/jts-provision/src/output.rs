//! Everything the CLI prints: human text, or JSON with `--json`.

use std::path::Path;

use jts_core::{ApplyReport, Drift, PlanReport, Root};
use jts_host::HostSpec;
use serde_json::json;

/// Prints one line to stdout; a closed pipe (`| head`) unwinds to `main` with
/// [`BrokenPipe`], which ends the program quietly.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::emit(format_args!($($arg)*))
    };
}
pub(crate) use say;

/// The unwind payload of a write to a closed stdout (no panic message is printed).
pub struct BrokenPipe;

pub fn emit(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = writeln!(stdout, "{line}") {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            std::panic::resume_unwind(Box::new(BrokenPipe));
        }
        panic!("writing to stdout: {err}");
    }
}

/// What a plan leaves wrong but must not change, on stderr.
pub fn warnings(warnings: &[String]) {
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
}

pub fn config_errors(lines: &[String], json: bool) {
    for line in lines {
        eprintln!("{line}");
    }
    if json {
        say!("{}", json!({ "errors": lines }));
    }
}

pub fn check_ok(file: &Path, spec: &HostSpec, json: bool) {
    let perms = &spec.perms;
    let (groups, users, directories) = (perms.groups.len(), perms.users.len(), perms.directories().len());
    let (vgs, volumes, snapshots) =
        (spec.lvm.volume_groups.len(), spec.lvm.volumes().count(), spec.lvm.snapshots.len());
    let rules = spec.rules.len();
    if json {
        let counts = json!({ "ok": true, "groups": groups, "users": users, "directories": directories,
            "volume_groups": vgs, "volumes": volumes, "snapshot_policies": snapshots, "rules": rules });
        say!("{counts}");
    } else {
        say!(
            "{}: ok ({groups} groups, {users} users, {directories} directories, {vgs} volume groups, {volumes} volumes, \
             {snapshots} snapshot policies, {rules} rules)",
            file.display()
        );
    }
}

pub fn plan(report: &PlanReport, root: &Root, json: bool) {
    if json {
        say!("{}", serde_json::to_string_pretty(report).expect("plan serializes"));
        return;
    }
    let destructive = report.steps.iter().filter(|s| s.destructive).count();
    let target = if root.is_host() { String::new() } else { format!(" under {}", root.dir().display()) };
    if report.steps.is_empty() && report.refused.is_empty() {
        say!("No changes{target}: the machine matches the spec.");
        return;
    }
    say!("Plan{target}: {} steps, {destructive} destructive", report.steps.len());
    for (index, step) in report.steps.iter().enumerate() {
        say!("{:>4}. {}", index + 1, step.description);
        for command in &step.commands {
            say!("        $ {command}");
        }
    }
    refusals(report);
}

fn refusals(report: &PlanReport) {
    if report.refused.is_empty() {
        return;
    }
    say!("Refused ({}):", report.refused.len());
    for refusal in &report.refused {
        say!("   ! {}: {}", refusal.object, refusal.reason);
        say!("     fix: {}", refusal.fix);
    }
}

pub fn nothing_to_do(json: bool) {
    if json {
        say!("{}", json!({ "changes": 0, "done": [], "failed": null, "not_attempted": [] }));
    } else {
        say!("Nothing to do: 0 changes, the machine matches the spec.");
    }
}

pub fn dry_run(report: &PlanReport, json: bool) {
    if json {
        say!("{}", serde_json::to_string_pretty(report).expect("plan serializes"));
        return;
    }
    say!("# dry run: {} steps; nothing below has been run", report.steps.len());
    for (index, step) in report.steps.iter().enumerate() {
        say!("# {}. {}", index + 1, step.description);
        for command in &step.commands {
            say!("{command}");
        }
    }
}

pub fn applied(report: &ApplyReport, remaining: &[String], journal: &Path, json: bool) {
    if json {
        let value = json!({
            "changes": report.done.len(),
            "done": report.done,
            "failed": report.failed,
            "not_attempted": report.not_attempted,
            "not_converged": remaining,
            "journal": journal,
        });
        say!("{}", serde_json::to_string_pretty(&value).expect("report serializes"));
        return;
    }
    for step in &report.done {
        say!("  done: {}", step.description);
    }
    if let Some(failed) = &report.failed {
        say!("FAILED: {}", failed.step.description);
        say!("  error: {}", failed.error);
        for step in &report.not_attempted {
            say!("  not attempted: {}", step.description);
        }
    }
    for step in remaining {
        say!("  still pending after apply: {step}");
    }
    say!("Applied {} changes; journal {}", report.done.len(), journal.display());
}

pub fn validation(drift: &[Drift], json: bool) {
    if json {
        say!("{}", serde_json::to_string_pretty(&json!({ "drift": drift })).expect("drift serializes"));
        return;
    }
    if drift.is_empty() {
        say!("OK: no drift, the machine matches the spec.");
        return;
    }
    say!("DRIFT: {} differences", drift.len());
    for item in drift {
        let path = match &item.path {
            Some(path) if path.display().to_string() != item.object => format!(" ({})", path.display()),
            _ => String::new(),
        };
        say!("  {}{path}: expected {}, found {}", item.object, item.expected, item.actual);
    }
}

/// The rendered files, each under `--root`: `{"files": [{"path", "contents"}]}` with `json`.
pub fn rendered(files: &[jts_mounts::RenderedFile], root: &Root, json: bool) {
    if json {
        let files: Vec<_> =
            files.iter().map(|f| json!({ "path": root.resolve(&f.path), "contents": f.contents })).collect();
        say!("{}", serde_json::to_string_pretty(&json!({ "files": files })).expect("files serialize"));
        return;
    }
    if files.is_empty() {
        say!("Nothing to render: the spec manages no mounts that database units or fstrim need, and no NVMe device.");
        return;
    }
    for (index, file) in files.iter().enumerate() {
        if index > 0 {
            say!("");
        }
        say!("# {}", root.resolve(&file.path).display());
        say!("{}", file.contents.trim_end_matches('\n'));
    }
}

pub fn trimmed(trimmed: &[jts_mounts::Trimmed], json: bool) {
    if json {
        say!("{}", json!({ "trimmed": trimmed }));
        return;
    }
    for t in trimmed {
        match &t.outcome {
            jts_mounts::TrimOutcome::Trimmed { said } => say!("{said}"),
            jts_mounts::TrimOutcome::Unsupported => say!("{}: discard not supported, nothing to trim", t.mount_point),
            jts_mounts::TrimOutcome::NotMounted => say!("{}: not mounted, not trimmed", t.mount_point),
            jts_mounts::TrimOutcome::Failed { reason } => say!("{}: FAILED: {reason}", t.mount_point),
        }
    }
}

pub fn snapshots(snapshots: &[jts_lvm::SnapshotInfo], json: bool) {
    if json {
        say!("{}", serde_json::to_string_pretty(&json!({ "snapshots": snapshots })).expect("snapshots serialize"));
        return;
    }
    if snapshots.is_empty() {
        say!("No snapshots.");
        return;
    }
    say!("{:<12} {:<40} {:<16} {:>10} {:>8}  state", "vg", "snapshot", "origin", "age", "cow");
    for snap in snapshots {
        let age = snap.age.map_or("?".to_owned(), |secs| {
            humantime::format_duration(std::time::Duration::from_secs(secs)).to_string()
        });
        let fill = snap.cow_fill_percent.map_or("?".to_owned(), |p| p.to_string());
        let state = if snap.valid { "valid" } else { "INVALID" };
        say!("{:<12} {:<40} {:<16} {age:>10} {fill:>8}  {state}", snap.vg, snap.name, snap.origin);
    }
}

/// A progress line on stderr in indicatif's `template`, redrawn by indicatif's own
/// thread; none for `--json`, `--quiet` or a stderr that is not a terminal.
pub fn progress_bar(global: &crate::cli::GlobalArgs, template: &str) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if global.json || global.quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    Some(bar)
}
