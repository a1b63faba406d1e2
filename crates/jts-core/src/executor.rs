//! Carries out a plan: re-check each step's preconditions, execute, journal, and stop
//! at the first failure with an account of what was done and what was not.

use serde::Serialize;

use crate::error::Result;
use crate::journal::Journal;
use crate::step::{Context, Step};

/// A step as it appears in an apply report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepRecord {
    /// The step type.
    pub kind: &'static str,
    /// The object it changes.
    pub object: String,
    /// One human line.
    pub description: String,
}

/// Why a step failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailedPhase {
    /// A precondition no longer held: the machine changed since it was observed.
    Precondition,
    /// The step itself failed.
    Execute,
}

/// The step that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepFailure {
    /// The step.
    pub step: StepRecord,
    /// Where it failed.
    pub phase: FailedPhase,
    /// The error, with command, exit status and stderr where a command failed.
    pub error: String,
}

/// What an apply did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    /// Steps carried out, in order.
    pub done: Vec<StepRecord>,
    /// The step that failed, if any.
    pub failed: Option<StepFailure>,
    /// Steps not attempted because of the failure.
    pub not_attempted: Vec<StepRecord>,
}

#[derive(Serialize)]
struct Event<'a> {
    seq: usize,
    phase: &'static str,
    #[serde(flatten)]
    step: &'a StepRecord,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

/// Executes `steps` in order. Journal errors abort; step errors end up in the report.
pub fn execute<S: Step>(steps: &[S], ctx: &Context<'_>, mut journal: Option<&mut Journal>) -> Result<ApplyReport> {
    let mut report = ApplyReport::default();
    let records: Vec<StepRecord> = steps.iter().map(|step| step.record(ctx.root)).collect();
    for (seq, (step, record)) in steps.iter().zip(&records).enumerate() {
        let mut log = |phase, error: Option<&str>| match journal.as_deref_mut() {
            Some(journal) => journal.record(&Event { seq, phase, step: record, error }),
            None => Ok(()),
        };
        log("start", None)?;
        let outcome = step
            .recheck(ctx)
            .map_err(|err| (FailedPhase::Precondition, err.to_string()))
            .and_then(|()| step.execute(ctx).map_err(|err| (FailedPhase::Execute, err.to_string())));
        match outcome {
            Ok(()) => {
                log("done", None)?;
                tracing::info!(kind = record.kind, object = %record.object, "done");
                report.done.push(record.clone());
            }
            Err((phase, error)) => {
                let name = if phase == FailedPhase::Precondition { "stale" } else { "failed" };
                log(name, Some(&error))?;
                report.failed = Some(StepFailure { step: record.clone(), phase, error });
                report.not_attempted = records[seq + 1..].to_vec();
                break;
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::cmd::RecordingRunner;
    use crate::path::{AbsPath, Root};
    use crate::step::StepInfo;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Boom(&'static str);

    struct Toy {
        name: &'static str,
        stale: bool,
        fails: bool,
        ran: RefCell<Vec<&'static str>>,
    }

    impl Step for Toy {
        type State = Vec<&'static str>;
        type Error = Boom;
        fn info(&self, _: &Root) -> StepInfo {
            StepInfo {
                kind: "Toy",
                object: self.name.into(),
                description: format!("toy {}", self.name),
                destructive: false,
                commands: vec![],
                preconditions: vec![],
                drift: None,
            }
        }
        fn simulate(&self, state: &mut Self::State) {
            state.push(self.name);
        }
        fn recheck(&self, _: &Context<'_>) -> Result<(), Boom> {
            if self.stale { Err(Boom("changed underneath")) } else { Ok(()) }
        }
        fn execute(&self, _: &Context<'_>) -> Result<(), Boom> {
            self.ran.borrow_mut().push(self.name);
            if self.fails { Err(Boom("exit status 1")) } else { Ok(()) }
        }
    }

    fn toy(name: &'static str, stale: bool, fails: bool) -> Toy {
        Toy { name, stale, fails, ran: RefCell::default() }
    }

    #[test]
    fn stops_at_first_failure_and_accounts_for_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path()).unwrap();
        let runner = RecordingRunner::new();
        let ctx = Context { root: &root, runner: &runner };
        let mut journal = Journal::create(&root, &AbsPath::new("/j").unwrap(), "apply").unwrap();
        let steps = [toy("a", false, false), toy("b", false, true), toy("c", false, false)];
        let report = execute(&steps, &ctx, Some(&mut journal)).unwrap();
        assert_eq!(report.done.len(), 1);
        let failed = report.failed.unwrap();
        assert_eq!((failed.step.object.as_str(), failed.phase), ("b", FailedPhase::Execute));
        assert_eq!(report.not_attempted.len(), 1);
        assert!(steps[2].ran.borrow().is_empty());
        let journal_text = std::fs::read_to_string(journal.path()).unwrap();
        let phases: Vec<String> = journal_text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["phase"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(phases, ["start", "done", "start", "failed"]);
    }

    #[test]
    fn a_stale_precondition_stops_before_executing() {
        let root = Root::host();
        let runner = RecordingRunner::new();
        let ctx = Context { root: &root, runner: &runner };
        let steps = [toy("a", true, false)];
        let report = execute(&steps, &ctx, None).unwrap();
        assert_eq!(report.failed.unwrap().phase, FailedPhase::Precondition);
        assert!(steps[0].ran.borrow().is_empty());
    }
}
