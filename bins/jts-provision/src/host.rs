//! The host: each concern's observed state and steps, composed into one plan.
//!
//! Order of execution: block devices and volumes first, then filesystems, then
//! accounts and directories (which may live on those filesystems).

use std::fmt;

use jts_core::{Context, Plan, Root, Step, StepInfo};
use jts_perms::PermsStep;
use serde::{Deserialize, Serialize};

use crate::config::HostSpec;

/// Everything observed on the machine that the spec talks about.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HostObserved {
    /// Accounts and directories.
    pub perms: jts_perms::Observed,
}

/// One step of any concern.
#[derive(Debug, Clone)]
pub enum HostStep {
    /// An account or directory change.
    Perms(PermsStep),
}

/// A step failure of any concern.
#[derive(Debug)]
pub enum HostStepError {
    /// From an account or directory step.
    Perms(jts_perms::Error),
}

impl fmt::Display for HostStepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Perms(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for HostStepError {}

impl Step for HostStep {
    type State = HostObserved;
    type Error = HostStepError;

    fn info(&self, root: &Root) -> StepInfo {
        match self {
            Self::Perms(step) => step.info(root),
        }
    }

    fn simulate(&self, state: &mut HostObserved) {
        match self {
            Self::Perms(step) => step.simulate(&mut state.perms),
        }
    }

    fn recheck(&self, ctx: &Context<'_>) -> Result<(), HostStepError> {
        match self {
            Self::Perms(step) => step.recheck(ctx).map_err(HostStepError::Perms),
        }
    }

    fn execute(&self, ctx: &Context<'_>) -> Result<(), HostStepError> {
        match self {
            Self::Perms(step) => step.execute(ctx).map_err(HostStepError::Perms),
        }
    }
}

/// Observes everything the spec names.
pub fn observe(spec: &HostSpec, root: &Root) -> anyhow::Result<HostObserved> {
    Ok(HostObserved { perms: jts_perms::observe(&spec.perms, root)? })
}

/// Plans every concern in execution order.
pub fn plan(spec: &HostSpec, observed: &HostObserved) -> Plan<HostStep> {
    let perms = jts_perms::plan(&spec.perms, &observed.perms);
    Plan { steps: perms.steps.into_iter().map(HostStep::Perms).collect(), refused: perms.refused }
}
