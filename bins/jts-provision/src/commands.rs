//! The subcommands: each loads the spec through jts-host, runs it, and prints.

use std::path::Path;

use anyhow::anyhow;
use clap::CommandFactory;
use jts_core::{AbsPath, Context, Root, SystemRunner};
use jts_host::{Applied, ConfigError, Detail, HostObserved, HostPlan, HostSpec, MachineObserver, SnapshotRun};
use jts_perms::Accounts;

use crate::Exit;
use crate::cli::{ApplyArgs, Cli, Command, GlobalArgs, HealthArgs, PlanArgs, SnapshotCommand};
use crate::output::{self, say};

/// Runs the chosen subcommand.
pub fn run(cli: &Cli) -> anyhow::Result<Exit> {
    let global = &cli.global;
    let root = match &global.root {
        Some(dir) => {
            let dir = std::path::absolute(dir).map_err(|err| anyhow!("--root {}: {err}", dir.display()))?;
            Root::new(dir)?
        }
        None => Root::host(),
    };
    let result = match &cli.command {
        Command::Check => check(global, &root),
        Command::Probe => probe(global, &root),
        Command::Plan(args) => plan(global, &root, args),
        Command::Apply(args) => apply(global, &root, args),
        Command::Validate => validate(global, &root),
        Command::Render => render(global, &root),
        Command::Trim => trim(global, &root),
        Command::Snapshot(command) => snapshot(global, &root, command),
        Command::Health(args) => health(global, &root, args),
        Command::Tier(command) => crate::tier::run(global, &root, command),
        Command::Verify(command) => crate::verify::run(global, &root, command),
        Command::Scrub(args) => crate::verify::scrub(global, &root, args),
        Command::Completions { shell } => completions(*shell),
        Command::Manpages { dir } => manpages(dir),
        Command::Backup(command) => crate::backup::run(global, &root, command),
    };
    match result {
        Err(err) => match config_error(err) {
            Ok(config) => {
                output::config_errors(&config.lines(), global.json);
                Ok(Exit::Invalid)
            }
            Err(err) => match err.downcast::<jts_host::Error>() {
                Ok(missing @ jts_host::Error::MissingRoot { .. }) => {
                    eprintln!("error: {missing}");
                    Ok(Exit::Invalid)
                }
                Ok(other) => Err(other.into()),
                Err(err) => Err(err),
            },
        },
        ok => ok,
    }
}

/// The spec's problems, whether they came bare or inside a jts-host error.
fn config_error(err: anyhow::Error) -> Result<ConfigError, anyhow::Error> {
    let err = match err.downcast::<jts_host::Error>() {
        Ok(jts_host::Error::Config(config)) => return Ok(config),
        Ok(other) => anyhow::Error::from(other),
        Err(err) => err,
    };
    err.downcast::<ConfigError>()
}

/// Loads the spec and checks it against the account files under `root`, which must exist.
pub(crate) fn load_checked(global: &GlobalArgs, root: &Root) -> anyhow::Result<HostSpec> {
    Ok(jts_host::load_for_machine(&global.config, root)?.with_default_binary(this_binary()))
}

/// This jts-provision, which the rendered units run unless the spec names another.
fn this_binary() -> Option<AbsPath> {
    std::env::current_exe().ok().and_then(|path| AbsPath::new(path).ok())
}

/// Loads the spec and checks it, for a command that needs no machine under `root`.
fn load_spec(global: &GlobalArgs, root: &Root) -> anyhow::Result<HostSpec> {
    Ok(jts_host::load_checked(&global.config, &Accounts::read(root)?)?.with_default_binary(this_binary()))
}

fn trim(global: &GlobalArgs, root: &Root) -> anyhow::Result<Exit> {
    let spec = load_checked(global, root)?;
    let trimmed = jts_mounts::trim(&jts_host::mount_targets(&spec), root, &SystemRunner)?;
    output::trimmed(&trimmed, global.json);
    let failed = trimmed.iter().any(|t| matches!(t.outcome, jts_mounts::TrimOutcome::Failed { .. }));
    Ok(if failed { Exit::Failed } else { Exit::Ok })
}

fn check(global: &GlobalArgs, root: &Root) -> anyhow::Result<Exit> {
    let spec = load_spec(global, root)?;
    output::check_ok(&global.config, &spec, global.json);
    Ok(Exit::Ok)
}

fn probe(global: &GlobalArgs, root: &Root) -> anyhow::Result<Exit> {
    let spec = load_checked(global, root)?;
    let observed = jts_host::observe(&spec, root, &SystemRunner)?;
    say!("{}", serde_json::to_string_pretty(&observed)?);
    Ok(Exit::Ok)
}

/// Observes the machine and plans `spec`.
fn plan_observed(spec: &HostSpec, root: &Root, cli_allows: &[String], detail: Detail) -> anyhow::Result<HostPlan> {
    let observed = jts_host::observe_to_plan(spec, root, &SystemRunner)?;
    Ok(jts_host::plan_with_consent(spec, &observed, root, cli_allows, detail)?)
}

/// Takes the lock of the commands that change the host; a holder is reported as an error
/// naming it.
fn lock(root: &Root, command: &str) -> anyhow::Result<jts_core::StateLock> {
    Ok(jts_host::lock(root, &format!("jts-provision {command}"))?)
}

/// Loads and checks the spec, observes the machine (or reads `state`) and plans.
fn make_plan(
    global: &GlobalArgs,
    root: &Root,
    state: Option<&Path>,
    cli_allows: &[String],
    detail: Detail,
) -> anyhow::Result<(HostSpec, HostPlan)> {
    let saved = state.map(jts_host::read_state).transpose()?;
    let accounts = match &saved {
        Some(observed) => observed.perms.accounts.clone(),
        None => Accounts::read(root)?,
    };
    let spec = jts_host::load_checked(&global.config, &accounts)?.with_default_binary(this_binary());
    let observed: HostObserved = match saved {
        Some(observed) => observed,
        None => jts_host::observe_to_plan(&spec, root, &SystemRunner)?,
    };
    let plan = jts_host::plan_with_consent(&spec, &observed, root, cli_allows, detail)?;
    Ok((spec, plan))
}

fn plan(global: &GlobalArgs, root: &Root, args: &PlanArgs) -> anyhow::Result<Exit> {
    let (_, HostPlan { report, warnings, .. }) =
        make_plan(global, root, args.state.as_deref(), &args.consent.allow_destroy, Detail::Commands)?;
    output::warnings(&warnings);
    output::plan(&report, root, global.json);
    Ok(if !report.refused.is_empty() {
        Exit::Refused
    } else if args.detailed_exitcode && !report.steps.is_empty() {
        Exit::Pending
    } else {
        Exit::Ok
    })
}

fn apply(global: &GlobalArgs, root: &Root, args: &ApplyArgs) -> anyhow::Result<Exit> {
    let cli_allows = &args.consent.allow_destroy;
    let spec = load_spec(global, root)?;
    // Once an apply has run here, the lock is there: plan under it, observing once.
    let held = if args.dry_run { None } else { jts_host::lock_if_present(root)? };
    // A dry run prints every command; an apply that runs names its steps only.
    let detail = if args.dry_run { Detail::Commands } else { Detail::Brief };
    let planned = plan_observed(&spec, root, cli_allows, detail)?;
    output::warnings(&planned.warnings);
    if let Some(exit) = nothing_to_run(&planned, root, global.json) {
        return Ok(exit);
    }
    if args.dry_run {
        output::dry_run(&planned.report, global.json);
        return Ok(Exit::Ok);
    }
    let (_lock, planned) = match held {
        Some(mut held) => {
            held.announce("jts-provision apply")?;
            (held, planned)
        }
        // The first apply on this host: planned again under the lock, which has just
        // made jts's own state directories, and another apply may have run meanwhile.
        None => {
            let lock = lock(root, "apply")?;
            let planned = plan_observed(&spec, root, cli_allows, Detail::Brief)?;
            if let Some(exit) = nothing_to_run(&planned, root, global.json) {
                return Ok(exit);
            }
            (lock, planned)
        }
    };
    let mut journal = jts_host::open_journal(root, args.journal.as_deref(), "apply")?;
    let runner = SystemRunner;
    let ctx = Context { root, runner: &runner };
    let observer = MachineObserver { root, runner: &runner };
    match jts_host::apply(&spec, planned.plan, &ctx, &observer, &mut journal, cli_allows)? {
        Applied::RefusedAfterMounting { done, replan } => {
            output::applied(&done, &[], journal.path(), global.json);
            output::plan(&replan, root, global.json);
            eprintln!("refused after mounting: the steps above were done, nothing after them");
            Ok(Exit::Refused)
        }
        Applied::Ran { report, not_converged } => {
            output::applied(&report, &not_converged, journal.path(), global.json);
            Ok(if report.failed.is_some() || !not_converged.is_empty() { Exit::Failed } else { Exit::Ok })
        }
    }
}

/// The exit of an apply whose plan refuses a step or has none; `None` when there is work.
fn nothing_to_run(planned: &HostPlan, root: &Root, json: bool) -> Option<Exit> {
    if !planned.report.refused.is_empty() {
        output::plan(&planned.report, root, json);
        eprintln!("refused: nothing was changed");
        return Some(Exit::Refused);
    }
    if planned.plan.steps.is_empty() {
        output::nothing_to_do(json);
        return Some(Exit::Ok);
    }
    None
}

fn validate(global: &GlobalArgs, root: &Root) -> anyhow::Result<Exit> {
    let (_, HostPlan { report, warnings, .. }) = make_plan(global, root, None, &[], Detail::Brief)?;
    output::warnings(&warnings);
    let drift = jts_host::drift(&report);
    output::validation(&drift, global.json);
    Ok(if drift.is_empty() { Exit::Ok } else { Exit::Pending })
}

/// Prints the rendered files; observes and writes nothing.
fn render(global: &GlobalArgs, root: &Root) -> anyhow::Result<Exit> {
    let spec = load_spec(global, root)?;
    output::rendered(&jts_host::rendered_files(&spec), root, global.json);
    Ok(Exit::Ok)
}

fn snapshot(global: &GlobalArgs, root: &Root, command: &SnapshotCommand) -> anyhow::Result<Exit> {
    let spec = load_checked(global, root)?;
    let observed = jts_lvm::observe(&spec.lvm, &SystemRunner)?;
    let now = std::time::SystemTime::now();
    let (plan, journal_dir, name) = match command {
        SnapshotCommand::List => {
            output::snapshots(&jts_lvm::list_snapshots(&observed, now), global.json);
            return Ok(Exit::Ok);
        }
        SnapshotCommand::Create { volume, journal } => {
            match jts_lvm::plan_snapshots(&spec.lvm, &observed, volume.as_deref(), now) {
                Ok(plan) => (plan, journal, "snapshot-create"),
                Err(err) => return not_in_spec(err),
            }
        }
        SnapshotCommand::Prune { volume, dry_run, journal } => {
            let plan = match jts_lvm::plan_prune(&spec.lvm, &observed, volume.as_deref(), now) {
                Ok(plan) => plan,
                Err(err) => return not_in_spec(err),
            };
            if *dry_run {
                output::dry_run(&plan.report(root), global.json);
                return Ok(Exit::Ok);
            }
            (plan, journal, "snapshot-prune")
        }
        SnapshotCommand::Rollback { volume, snapshot, allow_destroy, dry_run, journal } => {
            let mut plan = match jts_lvm::plan_rollback(&spec.lvm, &observed, volume, snapshot) {
                Ok(plan) => plan,
                Err(err) => return not_in_spec(err),
            };
            if *dry_run {
                output::dry_run(&plan.report(root), global.json);
                return Ok(Exit::Ok);
            }
            jts_lvm::refuse_rollback_without_consent(&mut plan, allow_destroy);
            (plan, journal, "snapshot-rollback")
        }
    };
    let ctx = Context { root, runner: &SystemRunner };
    match jts_host::run_snapshot_plan(&plan, &ctx, journal_dir.as_deref(), name)? {
        SnapshotRun::Refused(report) => {
            output::plan(&report, root, global.json);
            Ok(Exit::Refused)
        }
        SnapshotRun::NothingToDo => {
            output::nothing_to_do(global.json);
            Ok(Exit::Ok)
        }
        SnapshotRun::Ran { report, journal, note } => {
            output::applied(&report, &[], &journal, global.json);
            if let Some(advice) = note {
                eprintln!("note: {advice}");
            }
            Ok(if report.failed.is_some() { Exit::Failed } else { Exit::Ok })
        }
    }
}

/// Exit 2 with the error for a volume the spec does not declare or gives no snapshot
/// policy (bad arguments, nothing touched); other errors as they are.
fn not_in_spec(err: jts_lvm::Error) -> anyhow::Result<Exit> {
    match err {
        jts_lvm::Error::NoPolicy { .. } | jts_lvm::Error::NoVolume { .. } => {
            eprintln!("error: {err}");
            Ok(Exit::Invalid)
        }
        err => Err(err.into()),
    }
}

/// Prints the completion script of `shell`, generated from the argument definitions.
fn completions(shell: clap_complete::Shell) -> anyhow::Result<Exit> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "jts-provision", &mut script);
    let mut script = String::from_utf8(script)?;
    if shell == clap_complete::Shell::Bash {
        // clap_complete spells the case arms of a hyphenated binary `jts__subcmd__provision__…`
        // while its loop arrives at `jts__provision__…`, so nothing after a subcommand would
        // complete (clap-rs/clap#6421, open). Spell the arms as the loop does.
        script = script.replace("jts__subcmd__provision", "jts__provision");
    }
    say!("{}", script.trim_end());
    Ok(Exit::Ok)
}

/// Writes the man page of every command that is not hidden into `dir`, atomically, and
/// prints their paths.
fn manpages(dir: &Path) -> anyhow::Result<Exit> {
    let out = Root::new(std::path::absolute(dir)?)?;
    let mut cli = Cli::command().disable_help_subcommand(true);
    cli.build();
    let mut pending = vec![cli];
    while let Some(command) = pending.pop() {
        pending.extend(command.get_subcommands().filter(|sub| !sub.is_hide_set()).cloned());
        let man = clap_mangen::Man::new(command);
        let mut page = Vec::new();
        man.render(&mut page)?;
        let path = AbsPath::new(Path::new("/").join(man.get_filename()))?;
        jts_core::write_atomic(&out, &path, &page, 0o644)?;
        say!("{}", out.resolve(&path).display());
    }
    Ok(Exit::Ok)
}

/// `health` exits with the monitoring-plugin code of the report, not the CLI contract's.
fn health(global: &GlobalArgs, root: &Root, args: &HealthArgs) -> anyhow::Result<Exit> {
    let spec = load_checked(global, root)?;
    let config = jts_host::health_config(&spec, root)?;
    // vgs/lvs run on their own thread, waited for no longer than the probe timeout.
    let report = jts_health::check_with_lvm(&config, || jts_health::LvmReport::read(&SystemRunner));
    if let Some(file) = &args.textfile {
        let file = AbsPath::new(std::path::absolute(file)?)?;
        jts_health::write_textfile(&report, &Root::host(), &file)?;
    }
    if args.prometheus {
        say!("{}", report.to_prometheus().trim_end());
    } else if global.json {
        say!("{}", report.to_json()?);
    } else {
        say!("{}", report.to_table().trim_end());
    }
    Ok(Exit::Plugin(u8::try_from(report.exit_code()).unwrap_or(3)))
}
