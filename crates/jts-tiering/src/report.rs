//! What a run did, per rule: the JSON summary of `tier run` and the status file.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The outcome of one rule in one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleReport {
    /// The rule's name.
    pub name: String,
    /// `"move"` or `"delete"`.
    pub action: String,
    /// Files the scan selected.
    pub selected_files: u64,
    /// Their bytes.
    pub selected_bytes: u64,
    /// Files now at the destination and gone from the source.
    pub moved_files: u64,
    /// Their bytes (as read from the source).
    pub moved_bytes: u64,
    /// Sources removed because the destination already held the same content.
    pub duplicates: u64,
    /// Files deleted by a `delete` rule.
    pub deleted_files: u64,
    /// Their bytes.
    pub deleted_bytes: u64,
    /// Empty directories removed (`prune_empty_dirs`).
    pub pruned_dirs: u64,
    /// Files kept under another name because a different file had theirs.
    pub conflicts: Vec<Conflict>,
    /// Files left where they were, and why.
    pub skipped: Vec<Skipped>,
    /// Why the rule did nothing this run: its `when_source_above_percent` did not fire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle: Option<String>,
    /// What a restart found of an interrupted batch and did about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<String>,
    /// Why the rule stopped early; `None` when it did all it selected (within the limits).
    pub error: Option<String>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// A file kept beside a different file of the same name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// The source, relative to `from`.
    pub source: PathBuf,
    /// Where it is now, relative to `to`.
    pub kept_as: PathBuf,
}

/// A selected file that was not moved or deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The file, relative to `from`.
    pub path: PathBuf,
    /// Why, e.g. "changed while being copied".
    pub reason: String,
}

impl RuleReport {
    /// The report of `rule` when it stopped early with `error` and its own report is out of
    /// reach (its thread or process given up on): only what the run's counters saw,
    /// `files` moved or deleted with their `bytes`.
    pub fn stopped(rule: &crate::Rule, error: String, files: u64, bytes: u64) -> Self {
        let mut report = Self {
            name: rule.name.clone(),
            action: rule.action.name().to_owned(),
            error: Some(error),
            ..Self::default()
        };
        match rule.action {
            crate::RuleAction::Move { .. } => (report.moved_files, report.moved_bytes) = (files, bytes),
            crate::RuleAction::Delete => (report.deleted_files, report.deleted_bytes) = (files, bytes),
        }
        report
    }

    /// Whether the rule finished without error.
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }

    pub(crate) fn skip(&mut self, path: impl Into<PathBuf>, reason: impl Into<String>) {
        let (path, reason) = (path.into(), reason.into());
        tracing::warn!("{}: {} skipped: {reason}", self.name, path.display());
        self.skipped.push(Skipped { path, reason });
    }
}

/// The outcome of a whole `tier run`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// Unix seconds at the start.
    pub started_at: i64,
    /// Unix seconds at the end.
    pub finished_at: i64,
    /// Every rule finished without error.
    pub ok: bool,
    /// Per rule, in spec order.
    pub rules: Vec<RuleReport>,
}

impl RunReport {
    /// The report of a run that started at `started_at` (Unix seconds) and ends now.
    pub fn finished(started_at: i64, rules: Vec<RuleReport>) -> Self {
        let ok = rules.iter().all(RuleReport::ok);
        Self { started_at, finished_at: crate::run::unix_now(), ok, rules }
    }
}
