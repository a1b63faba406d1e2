//! The subcommands: each loads the spec, observes, plans, and prints.

use std::path::Path;

use anyhow::Context as _;
use jts_core::{AbsPath, Context, DEFAULT_JOURNAL_DIR, Journal, Plan, PlanReport, Root, Step, SystemRunner};
use jts_perms::Accounts;

use crate::Exit;
use crate::cli::{ApplyArgs, Cli, Command, GlobalArgs, HealthArgs, PlanArgs, SnapshotCommand};
use crate::config::{ConfigError, HostSpec, load};
use crate::consent::refuse_without_consent;
use crate::host::{self, HostObserved, HostStep};
use crate::output::{self, say};

/// Runs the chosen subcommand.
pub fn run(cli: &Cli) -> anyhow::Result<Exit> {
    let global = &cli.global;
    let root = match &global.root {
        Some(dir) => Root::new(std::path::absolute(dir).with_context(|| format!("--root {}", dir.display()))?)?,
        None => Root::host(),
    };
    let result = match &cli.command {
        Command::Check => check(global, &root),
        Command::Probe => probe(global, &root),
        Command::Plan(args) => plan(global, &root, args),
        Command::Apply(args) => apply(global, &root, args),
        Command::Validate => validate(global, &root),
        Command::Render => render(global, &root),
        Command::Snapshot(command) => snapshot(global, &root, command),
        Command::Health(args) => health(global, &root, args),
        Command::Tier(command) => crate::tier::run(global, &root, command),
    };
    match result {
        Err(err) => match err.downcast::<ConfigError>() {
            Ok(config) => {
                output::config_errors(&config.lines(), global.json);
                Ok(Exit::Invalid)
            }
            Err(err) => Err(err),
        },
        ok => ok,
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.lines().join("\n"))
    }
}

impl std::error::Error for ConfigError {}

/// Loads the spec and checks it against the accounts of `accounts`.
pub(crate) fn load_checked(global: &GlobalArgs, accounts: &Accounts) -> anyhow::Result<HostSpec> {
    let (spec, text) = load(&global.config)?;
    let mut errors = jts_perms::check(&spec.perms, accounts);
    errors.extend(jts_lvm::check(&spec.lvm));
    errors.extend(jts_tiering::rules::check(&spec.rules));
    let (fs_errors, warnings) = host::check_filesystems(&spec);
    errors.extend(fs_errors);
    for warning in warnings {
        tracing::warn!("{}: {warning}", global.config.display());
    }
    if !errors.is_empty() {
        return Err(ConfigError { file: global.config.clone(), source_text: text, errors }.into());
    }
    Ok(spec)
}

/// Spec errors found while planning, located in the spec file.
fn located(global: &GlobalArgs, errors: Vec<jts_core::SpecError>) -> anyhow::Error {
    let source_text = std::fs::read_to_string(&global.config).unwrap_or_default();
    ConfigError { file: global.config.clone(), source_text, errors }.into()
}

fn check(global: &GlobalArgs, root: &Root) -> anyhow::Result<Exit> {
    let accounts = Accounts::read(root)?;
    let spec = load_checked(global, &accounts)?;
    output::check_ok(&global.config, &spec, global.json);
    Ok(Exit::Ok)
}

fn probe(global: &GlobalArgs, root: &Root) -> anyhow::Result<Exit> {
    let spec = load_checked(global, &Accounts::read(root)?)?;
    let observed = host::observe(&spec, root, &SystemRunner)?;
    say!("{}", serde_json::to_string_pretty(&observed)?);
    Ok(Exit::Ok)
}

/// Loads, checks, observes (or reads `state`) and plans, with consent refusals added.
fn make_plan(
    global: &GlobalArgs,
    root: &Root,
    state: Option<&Path>,
    cli_allows: &[String],
) -> anyhow::Result<(Plan<HostStep>, PlanReport)> {
    let observed: Option<HostObserved> = match state {
        Some(file) => {
            let text = std::fs::read_to_string(file).with_context(|| format!("reading --state {}", file.display()))?;
            Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("{} is not a state saved by `jts-provision probe`", file.display()))?,
            )
        }
        None => None,
    };
    let accounts = match &observed {
        Some(observed) => observed.perms.accounts.clone(),
        None => Accounts::read(root)?,
    };
    let spec = load_checked(global, &accounts)?;
    let observed = match observed {
        Some(observed) => observed,
        None => host::observe(&spec, root, &SystemRunner)?,
    };
    let mut plan = host::plan(&spec, &observed).map_err(|errors| located(global, errors))?;
    let mut report = plan.report(root);
    let refused = refuse_without_consent(&report.steps, &spec.allow_destroy, cli_allows);
    plan.refused.extend(refused.iter().cloned());
    report.refused.extend(refused);
    Ok((plan, report))
}

fn plan(global: &GlobalArgs, root: &Root, args: &PlanArgs) -> anyhow::Result<Exit> {
    let (_, report) = make_plan(global, root, args.state.as_deref(), &args.consent.allow_destroy)?;
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
    let (plan, report) = make_plan(global, root, None, &args.consent.allow_destroy)?;
    if !report.refused.is_empty() {
        output::plan(&report, root, global.json);
        eprintln!("refused: nothing was changed");
        return Ok(Exit::Refused);
    }
    if plan.steps.is_empty() {
        output::nothing_to_do(global.json);
        return Ok(Exit::Ok);
    }
    if args.dry_run {
        output::dry_run(&report, global.json);
        return Ok(Exit::Ok);
    }
    if !root.is_host() {
        std::fs::create_dir_all(root.dir()).with_context(|| format!("creating --root {}", root.dir().display()))?;
    }
    let mut journal = open_journal(root, args.journal.as_deref(), "apply")?;
    let runner = SystemRunner;
    let ctx = Context { root, runner: &runner };
    // What lies on a filesystem can only be seen once it is mounted: run the plan up to
    // the last mount, then observe and plan again for the rest.
    let mounted = plan.steps.iter().rposition(|step| matches!(step, HostStep::Mount(_))).map_or(0, |last| last + 1);
    let mut applied = jts_core::execute(&plan.steps[..mounted], &ctx, Some(&mut journal))?;
    if applied.failed.is_none() {
        let rest = if mounted == 0 {
            plan.steps
        } else {
            let (replan, report) = make_plan(global, root, None, &args.consent.allow_destroy)?;
            if !report.refused.is_empty() {
                output::applied(&applied, &[], journal.path(), global.json);
                output::plan(&report, root, global.json);
                eprintln!("refused after mounting: the steps above were done, nothing after them");
                return Ok(Exit::Refused);
            }
            replan.steps
        };
        let more = jts_core::execute(&rest, &ctx, Some(&mut journal))?;
        applied.done.extend(more.done);
        (applied.failed, applied.not_attempted) = (more.failed, more.not_attempted);
    }
    let remaining = if applied.failed.is_none() { verify(global, root)? } else { Vec::new() };
    output::applied(&applied, &remaining, journal.path(), global.json);
    Ok(if applied.failed.is_some() || !remaining.is_empty() { Exit::Failed } else { Exit::Ok })
}

/// Observes again after apply and returns what is still not as the spec says.
fn verify(global: &GlobalArgs, root: &Root) -> anyhow::Result<Vec<String>> {
    let (plan, _) = make_plan(global, root, None, &[])?;
    Ok(plan.steps.iter().map(|step| step.info(root).description).collect())
}

fn validate(global: &GlobalArgs, root: &Root) -> anyhow::Result<Exit> {
    let (_, report) = make_plan(global, root, None, &[])?;
    let drift = output::drift(&report);
    output::validation(&drift, global.json);
    Ok(if drift.is_empty() { Exit::Ok } else { Exit::Pending })
}

/// Prints the rendered files; observes and writes nothing.
fn render(global: &GlobalArgs, root: &Root) -> anyhow::Result<Exit> {
    let spec = load_checked(global, &Accounts::read(root)?)?;
    output::rendered(&crate::render::rendered_files(&spec), root, global.json);
    Ok(Exit::Ok)
}

fn open_journal(root: &Root, dir: Option<&Path>, command: &str) -> anyhow::Result<Journal> {
    Ok(match dir {
        Some(dir) => Journal::create(&Root::host(), &AbsPath::new(std::path::absolute(dir)?)?, command)?,
        None => Journal::create(root, &AbsPath::new(DEFAULT_JOURNAL_DIR)?, command)?,
    })
}

fn snapshot(global: &GlobalArgs, root: &Root, command: &SnapshotCommand) -> anyhow::Result<Exit> {
    let spec = load_checked(global, &Accounts::read(root)?)?;
    let observed = jts_lvm::observe(&spec.lvm, &SystemRunner)?;
    let now = std::time::SystemTime::now();
    let (plan, journal_dir, name) = match command {
        SnapshotCommand::List => {
            output::snapshots(&jts_lvm::list_snapshots(&observed, now), global.json);
            return Ok(Exit::Ok);
        }
        SnapshotCommand::Create { volume, journal } => {
            let plan = match jts_lvm::plan_snapshots(&spec.lvm, &observed, volume.as_deref(), now) {
                Ok(plan) => plan,
                Err(err @ jts_lvm::Error::NoPolicy { .. }) => {
                    eprintln!("error: {err}");
                    return Ok(Exit::Invalid);
                }
                Err(err) => return Err(err.into()),
            };
            (plan, journal, "snapshot-create")
        }
        SnapshotCommand::Prune { dry_run, journal } => {
            let plan = jts_lvm::plan_prune(&spec.lvm, &observed, now);
            if *dry_run {
                output::dry_run(&plan.report(root), global.json);
                return Ok(Exit::Ok);
            }
            (plan, journal, "snapshot-prune")
        }
    };
    let report = plan.report(root);
    if !report.refused.is_empty() {
        output::plan(&report, root, global.json);
        return Ok(Exit::Refused);
    }
    if plan.steps.is_empty() {
        output::nothing_to_do(global.json);
        return Ok(Exit::Ok);
    }
    let mut journal = open_journal(root, journal_dir.as_deref(), name)?;
    let ctx = Context { root, runner: &SystemRunner };
    let applied = jts_core::execute(&plan.steps, &ctx, Some(&mut journal))?;
    output::applied(&applied, &[], journal.path(), global.json);
    Ok(if applied.failed.is_some() { Exit::Failed } else { Exit::Ok })
}

/// `health` exits with the monitoring-plugin code of the report, not the CLI contract's.
fn health(global: &GlobalArgs, root: &Root, args: &HealthArgs) -> anyhow::Result<Exit> {
    let spec = load_checked(global, &Accounts::read(root)?)?;
    let config = host::health_config(&spec, root)?;
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
    std::process::exit(report.exit_code());
}
