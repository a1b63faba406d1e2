//! `tier plan`: what each rule would move or delete now, without touching anything.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jts_core::Root;
use serde::Serialize;

use crate::dir::Dir;
use crate::rules::{Rule, RuleAction};
use crate::run::{Progress, select, supervise};
use crate::scan::open_for_write_files;

/// How many selected paths a plan lists per rule.
const EXAMPLES: usize = 10;

/// One rule's plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RulePlan {
    /// The rule's name.
    pub name: String,
    /// `"move"` or `"delete"`.
    pub action: &'static str,
    /// Files selected now.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// The first selected paths, relative to `from`.
    pub examples: Vec<PathBuf>,
    /// Selected files some process has open for writing: a run leaves them alone.
    pub open_for_writing: Vec<PathBuf>,
    /// Bytes available on the destination (`move` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_available: Option<u64>,
    /// Whether everything fits on the destination above the reserve (`move` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fits: Option<bool>,
    /// Why a run would do nothing now: the source is below `when_source_above_percent`
    /// (the counts say what it would select once it is above).
    pub idle: Option<String>,
    /// Why the rule could not be planned (a missing directory, a hung mount).
    pub error: Option<String>,
}

/// Plans every rule; a rule whose directories do not answer within `timeout` gets an
/// error instead of hanging the plan.
pub fn plan(root: &Root, rules: &[Rule], timeout: Duration) -> Vec<RulePlan> {
    let open_for_write = Arc::new(open_for_write_files());
    rules
        .iter()
        .map(|rule| {
            let progress = Arc::new(Progress::default());
            let job = {
                let (root, rule, open, progress) =
                    (root.clone(), rule.clone(), Arc::clone(&open_for_write), Arc::clone(&progress));
                move |_: &std::sync::atomic::AtomicBool| plan_rule(&root, &rule, &open, &progress)
            };
            supervise(&rule.name, timeout, &progress, job).unwrap_or_else(|err| RulePlan {
                name: rule.name.clone(),
                action: rule.action.name(),
                files: 0,
                bytes: 0,
                examples: Vec::new(),
                open_for_writing: Vec::new(),
                destination_available: None,
                fits: None,
                idle: None,
                error: Some(err.to_string()),
            })
        })
        .collect()
}

fn plan_rule(
    root: &Root,
    rule: &Rule,
    open_for_write: &std::collections::BTreeSet<(u64, u64)>,
    progress: &Progress,
) -> RulePlan {
    let mut plan = RulePlan {
        name: rule.name.clone(),
        action: rule.action.name(),
        files: 0,
        bytes: 0,
        examples: Vec::new(),
        open_for_writing: Vec::new(),
        destination_available: None,
        fits: None,
        idle: None,
        error: None,
    };
    let planned = crate::run::idle(root, rule).and_then(|idle| {
        plan.idle = idle;
        select(root, rule, open_for_write, progress)
    });
    let planned = planned.and_then(|mut selection| {
        plan.open_for_writing = selection.take_open_for_writing();
        plan.files = selection.len() as u64;
        plan.bytes = selection.bytes();
        plan.examples = selection.iter().take(EXAMPLES).map(|c| c.path).collect();
        if let RuleAction::Move { to, reserve, compress, .. } = &rule.action {
            let (from, to) = (Dir::open(root, &rule.from)?, Dir::open(root, to)?);
            let available = to.available_bytes()?;
            // Within one filesystem a move is a rename and needs no room.
            let renames = compress.is_none() && from.stat()?.st_dev == to.stat()?.st_dev;
            plan.destination_available = Some(available);
            plan.fits = Some(renames || plan.bytes.saturating_add(*reserve) <= available);
        }
        Ok(())
    });
    if let Err(err) = planned {
        plan.error = Some(err.to_string());
    }
    plan
}
