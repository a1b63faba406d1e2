//! The snapshot commands (`snapshot create`, `prune`, `rollback`) carried out as `apply`
//! is: a plan that refuses a step, or has none, runs nothing; otherwise the host lock is
//! taken and every step is journaled.

use std::path::{Path, PathBuf};

use jts_core::{ApplyReport, Context, Plan, PlanReport};
use jts_lvm::LvmStep;

use crate::Result;
use crate::own_state::{lock, open_journal};

/// How a snapshot command ended.
#[derive(Debug)]
pub enum SnapshotRun {
    /// The plan refuses a step (a rollback without the operator's consent): nothing ran.
    Refused(PlanReport),
    /// The plan has no step: nothing ran.
    NothingToDo,
    /// The steps ran, or one failed and those after it were not attempted.
    Ran {
        /// The executor's report.
        report: ApplyReport,
        /// The journal of this run.
        journal: PathBuf,
        /// Advice once every step succeeded: a merge deferred to the origin's next
        /// activation, and how to bring that about.
        note: Option<String>,
    },
}

/// Runs the snapshot plan of `command` (`snapshot-create`, `snapshot-prune`,
/// `snapshot-rollback`) under the host lock, journaled in `journal_dir` (a host path)
/// or in the default journal directory under `ctx.root`.
pub fn run_snapshot_plan(
    plan: &Plan<LvmStep>,
    ctx: &Context<'_>,
    journal_dir: Option<&Path>,
    command: &str,
) -> Result<SnapshotRun> {
    let planned = plan.report(ctx.root);
    if !planned.refused.is_empty() {
        return Ok(SnapshotRun::Refused(planned));
    }
    if plan.steps.is_empty() {
        return Ok(SnapshotRun::NothingToDo);
    }
    let _lock = lock(ctx.root, &format!("jts-provision {}", command.replace('-', " ")))?;
    let mut journal = open_journal(ctx.root, journal_dir, command)?;
    let report = jts_core::execute(&plan.steps, ctx, Some(&mut journal))?;
    let note = match report.failed {
        None => plan.steps.first().and_then(jts_lvm::deferred_merge_note),
        Some(_) => None,
    };
    Ok(SnapshotRun::Ran { report, journal: journal.path().to_path_buf(), note })
}

#[cfg(test)]
mod tests {
    use jts_core::{RecordingRunner, Root};

    use super::*;

    fn rollback() -> Plan<LvmStep> {
        let merge = LvmStep::MergeSnapshot {
            vg: "vg_jts".into(),
            origin: "lv_pg".into(),
            name: "lv_pg-snap-20260101T000000Z".into(),
            origin_open: false,
        };
        Plan { steps: vec![merge], refused: Vec::new() }
    }

    /// Runs `plan` under a root in `dir` (made by the run if it needs it); what it
    /// returned, the commands run and whether anything was written under the root.
    fn run(plan: &Plan<LvmStep>, dir: &Path) -> (SnapshotRun, Vec<String>, bool) {
        let root = Root::new(dir.join("root")).unwrap();
        let runner = RecordingRunner::new();
        let ran =
            run_snapshot_plan(plan, &Context { root: &root, runner: &runner }, None, "snapshot-rollback").unwrap();
        (ran, runner.calls().iter().map(|call| call.to_shell()).collect(), root.dir().exists())
    }

    #[test]
    fn a_refused_or_empty_plan_takes_no_lock_writes_no_journal_and_runs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut refused = rollback();
        jts_lvm::refuse_rollback_without_consent(&mut refused, &[]);
        let (ran, commands, written) = run(&refused, dir.path());
        assert!(matches!(&ran, SnapshotRun::Refused(report) if report.refused.len() == 1), "{ran:?}");
        assert!(commands.is_empty() && !written, "{commands:?}");

        let (ran, commands, written) = run(&Plan::default(), dir.path());
        assert!(matches!(ran, SnapshotRun::NothingToDo), "{ran:?}");
        assert!(commands.is_empty() && !written, "{commands:?}");
    }

    #[test]
    fn a_consented_plan_runs_under_the_lock_and_its_steps_are_journaled() {
        let dir = tempfile::tempdir().unwrap();
        let mut plan = rollback();
        jts_lvm::refuse_rollback_without_consent(&mut plan, &["lv_pg".to_owned()]);
        let (ran, commands, written) = run(&plan, dir.path());
        let SnapshotRun::Ran { report, journal, note } = ran else { panic!("{ran:?}") };
        // The recording runner's `lvs` prints nothing: the step's re-check of the
        // snapshot, right before the merge, fails, and the merge is not run.
        let failure = report.failed.as_ref().expect("the re-check fails");
        assert!(failure.error.contains("lvs"), "{failure:?}");
        assert!(commands.iter().all(|c| !c.starts_with("lvconvert")), "{commands:?}");
        assert!(written, "the lock and the journal are under the root");
        let journaled = std::fs::read_to_string(&journal).unwrap_or_else(|err| panic!("{}: {err}", journal.display()));
        assert!(journal.starts_with(dir.path()), "{}", journal.display());
        assert!(journal.to_string_lossy().contains("snapshot-rollback"), "{}", journal.display());
        assert!(journaled.contains("MergeSnapshot") && journaled.contains("lvs"), "{journaled}");
        assert_eq!(note, None, "no advice after a failure");
    }
}
