//! Apply and verify: the plan carried out in two phases, then the machine observed again.
//!
//! What lies on a filesystem can only be seen once it is mounted, so [`apply`] runs the
//! plan up to its last mount, observes and plans again, and runs the rest. Both phases go
//! through the same [`Context`] (so a [`jts_core::RecordingRunner`] sees every command)
//! and the same [`Observer`] (so a saved or simulated state can stand in for the machine).

use jts_core::{ApplyReport, Context, Journal, Plan, PlanReport, Step};

use crate::Result;
use crate::observe::Observer;
use crate::plan::{Detail, HostPlan, plan_with_consent};
use crate::spec::HostSpec;
use crate::step::HostStep;

/// How an apply ended.
#[derive(Debug)]
pub enum Applied {
    /// Steps ran: what was done, failed and not attempted, and what verification found
    /// still not as the spec says (empty when converged, or when a step failed).
    Ran {
        /// The executor's report over both phases.
        report: ApplyReport,
        /// Descriptions of the steps a fresh plan still has after a successful run.
        not_converged: Vec<String>,
    },
    /// The plan made after mounting refused a step: `done` ran, nothing after it.
    RefusedAfterMounting {
        /// What the first phase did.
        done: ApplyReport,
        /// The second plan, with its refusals.
        replan: PlanReport,
    },
}

/// Runs `plan` (already checked for refusals) in two phases, journaling every step, then
/// verifies. `cli_allows` is the operator's `--allow-destroy` for the second plan.
pub fn apply(
    spec: &HostSpec,
    plan: Plan<HostStep>,
    ctx: &Context<'_>,
    observer: &dyn Observer,
    journal: &mut Journal,
    cli_allows: &[String],
) -> Result<Applied> {
    let mounted = plan.steps.iter().rposition(|step| matches!(step, HostStep::Mount(_))).map_or(0, |last| last + 1);
    let mut report = jts_core::execute(&plan.steps[..mounted], ctx, Some(&mut *journal))?;
    if report.failed.is_none() {
        let rest = if mounted == 0 {
            plan.steps
        } else {
            let HostPlan { plan: replan, report: replan_report, .. } =
                plan_with_consent(spec, &observer.observe(spec)?, ctx.root, cli_allows, Detail::Brief)?;
            if !replan_report.refused.is_empty() {
                return Ok(Applied::RefusedAfterMounting { done: report, replan: replan_report });
            }
            replan.steps
        };
        let more = jts_core::execute(&rest, ctx, Some(journal))?;
        report.done.extend(more.done);
        (report.failed, report.not_attempted) = (more.failed, more.not_attempted);
    }
    let not_converged = if report.failed.is_none() { verify(spec, ctx, observer)? } else { Vec::new() };
    Ok(Applied::Ran { report, not_converged })
}

/// Observes again ([`Observer::observe_to_verify`]) and returns what is still not as the
/// spec says: the description of every step a fresh plan has.
pub fn verify(spec: &HostSpec, ctx: &Context<'_>, observer: &dyn Observer) -> Result<Vec<String>> {
    let HostPlan { plan, .. } =
        plan_with_consent(spec, &observer.observe_to_verify(spec)?, ctx.root, &[], Detail::Brief)?;
    Ok(plan.steps.iter().map(|step| step.record(ctx.root).description).collect())
}
