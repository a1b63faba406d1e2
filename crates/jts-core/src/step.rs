//! The plan model: typed [`Step`]s that describe, simulate and execute themselves.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::cmd::Runner;
use crate::path::Root;

/// Everything an operator sees about one step before it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepInfo {
    /// The step type, e.g. `"CreateUser"` or `"Chmod"`.
    pub kind: &'static str,
    /// The object it changes, e.g. a user name or a path.
    pub object: String,
    /// One human line.
    pub description: String,
    /// Whether it can destroy data.
    pub destructive: bool,
    /// The exact commands or syscalls it makes, as shell lines.
    pub commands: Vec<String>,
    /// The observed facts it relies on; re-checked right before it runs.
    pub preconditions: Vec<String>,
    /// What differs from the spec, for `validate`; `None` for steps that only create.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift: Option<Drift>,
}

/// One difference between the spec and the machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drift {
    /// The object that drifted, e.g. `"directory /data/jts/hot/kafka"`.
    pub object: String,
    /// The path concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// What the spec asks for.
    pub expected: String,
    /// What the machine has.
    pub actual: String,
}

/// Something the plan will not do, with the reason and the way out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The object concerned.
    pub object: String,
    /// The path concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Why it is refused.
    pub reason: String,
    /// What the operator can do about it.
    pub fix: String,
}

/// What steps execute with.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// The system being managed.
    pub root: &'a Root,
    /// Runs external commands (for real, or dry).
    pub runner: &'a dyn Runner,
}

/// One change to the machine.
pub trait Step {
    /// The observed state that [`Step::simulate`] updates.
    type State;
    /// What [`Step::recheck`] and [`Step::execute`] fail with.
    type Error: std::error::Error;

    /// Describes the step; `root` decides paths and `--prefix` options in the commands.
    fn info(&self, root: &Root) -> StepInfo;

    /// Kind, object and description alone: what the journal, the apply report and
    /// verification name a step by. The default takes them from [`Step::info`]; a step
    /// whose commands are costly to build (one per file of a tree) overrides it.
    fn record(&self, root: &Root) -> crate::executor::StepRecord {
        let StepInfo { kind, object, description, .. } = self.info(root);
        crate::executor::StepRecord { kind, object, description }
    }

    /// [`Step::info`] for a report whose commands will not be shown (an apply that is
    /// no dry run, `validate`): the default is `info`; a step whose commands are one per
    /// file of a tree leaves them out, so a million-file repair is not described twice.
    fn brief(&self, root: &Root) -> StepInfo {
        self.info(root)
    }

    /// Applies the step's effect to an observed state, without touching the machine.
    fn simulate(&self, state: &mut Self::State);

    /// Re-checks the step's preconditions against the machine as it is now.
    fn recheck(&self, ctx: &Context<'_>) -> Result<(), Self::Error>;

    /// Carries the step out.
    fn execute(&self, ctx: &Context<'_>) -> Result<(), Self::Error>;
}

/// An ordered list of steps and the things that were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan<S> {
    /// Steps in execution order.
    pub steps: Vec<S>,
    /// What will not be done; a plan with refusals must not be applied.
    pub refused: Vec<Refusal>,
}

impl<S> Default for Plan<S> {
    fn default() -> Self {
        Self { steps: Vec::new(), refused: Vec::new() }
    }
}

/// The serializable form of a plan: `{"steps": [...], "refused": [...]}`.
#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    /// Each step's description, in execution order.
    pub steps: Vec<StepInfo>,
    /// What will not be done.
    pub refused: Vec<Refusal>,
}

impl<S: Step> Plan<S> {
    /// `true` when there is nothing to do and nothing refused.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty() && self.refused.is_empty()
    }

    /// Applies every step's effect to `state`, in order.
    pub fn simulate(&self, state: &mut S::State) {
        for step in &self.steps {
            step.simulate(state);
        }
    }

    /// Describes the plan for printing.
    pub fn report(&self, root: &Root) -> PlanReport {
        PlanReport { steps: self.steps.iter().map(|step| step.info(root)).collect(), refused: self.refused.clone() }
    }

    /// [`Plan::report`] with each step's [`Step::brief`].
    pub fn brief_report(&self, root: &Root) -> PlanReport {
        PlanReport { steps: self.steps.iter().map(|step| step.brief(root)).collect(), refused: self.refused.clone() }
    }
}
