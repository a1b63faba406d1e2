//! Calendar retention: which archives `backup prune` keeps, and why.
//!
//! The planner is pure: archives (an id and a time) and a policy in, a [`PrunePlan`] out,
//! no clock and no I/O. Periods are calendar periods in UTC:
//!
//! - `last = N`: the N newest archives;
//! - `within = "30d"`: every archive younger than that at `now` (restic's `--keep-within`);
//! - `hourly`, `daily`, `weekly` (ISO weeks, Monday first), `monthly`, `yearly = N`: the
//!   **newest** archive of each of the N most recent periods that have an archive. A
//!   period with no archive is skipped, not counted.
//!
//! The newest archive is always kept. An archive is pruned only when no rule keeps it.

use jts_core::SpecDuration;
use serde::{Deserialize, Serialize};

use crate::calendar::Civil;

/// `keep = { within, last, hourly, daily, weekly, monthly, yearly }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeepPolicy {
    /// Keep every archive younger than this.
    pub within: Option<SpecDuration>,
    /// Keep the N newest archives.
    pub last: Option<u32>,
    /// Keep the newest archive of each of the N most recent hours that have one.
    pub hourly: Option<u32>,
    /// … days.
    pub daily: Option<u32>,
    /// … ISO weeks.
    pub weekly: Option<u32>,
    /// … months.
    pub monthly: Option<u32>,
    /// … years.
    pub yearly: Option<u32>,
}

impl KeepPolicy {
    /// Rejects a policy that keeps nothing but the newest archive by accident (all zero);
    /// an empty policy keeps everything.
    pub fn check(&self) -> Result<(), String> {
        let counts = [self.last, self.hourly, self.daily, self.weekly, self.monthly, self.yearly];
        let given = counts.iter().flatten().count() + usize::from(self.within.is_some());
        let zero = counts.iter().flatten().all(|n| *n == 0) && self.within.is_none_or(|w| w.as_secs() == 0);
        if given > 0 && zero {
            return Err("every count is 0, which would prune all but the newest archive; e.g. keep = { daily = 7, \
                        weekly = 4, monthly = 12 }, or leave `keep` out to keep everything"
                .to_owned());
        }
        Ok(())
    }

    /// Whether the policy has no rule at all (then nothing is ever pruned).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The calendar rules with their counts, in the order reasons are given.
    fn periods(&self) -> Vec<(Period, u32)> {
        [
            (Period::Hourly, self.hourly),
            (Period::Daily, self.daily),
            (Period::Weekly, self.weekly),
            (Period::Monthly, self.monthly),
            (Period::Yearly, self.yearly),
        ]
        .into_iter()
        .filter_map(|(period, count)| Some((period, count?)))
        .collect()
    }
}

/// A calendar period of a retention rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// An hour (UTC).
    Hourly,
    /// A day.
    Daily,
    /// An ISO week.
    Weekly,
    /// A month.
    Monthly,
    /// A year.
    Yearly,
}

impl Period {
    /// The key of the period `unix` falls in: equal keys, same period.
    fn key(self, unix: i64) -> (i64, i64, i64, i64) {
        let c = Civil::from_unix(unix);
        match self {
            Self::Hourly => (c.year, c.month, c.day, c.hour),
            Self::Daily => (c.year, c.month, c.day, 0),
            Self::Weekly => {
                let (year, week) = c.iso_week();
                (year, week, 0, 0)
            }
            Self::Monthly => (c.year, c.month, 0, 0),
            Self::Yearly => (c.year, 0, 0, 0),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Hourly => "hourly",
            Self::Daily => "daily",
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
            Self::Yearly => "yearly",
        }
    }
}

/// One archive as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// Its id (the UTC time in its name, `YYYYMMDDTHHMMSSZ`), unique within a backup.
    pub id: String,
    /// When it was taken (Unix seconds).
    pub time: i64,
}

/// Why an archive is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "rule")]
pub enum KeepReason {
    /// It is the newest archive.
    Newest,
    /// Among the `last` newest.
    Last,
    /// Younger than `within`.
    Within,
    /// The newest of its period, one of the most recent `count`.
    Period {
        /// Which rule.
        period: Period,
    },
    /// The policy is empty: everything is kept.
    NoPolicy,
}

impl std::fmt::Display for KeepReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Newest => f.write_str("newest"),
            Self::Last => f.write_str("last"),
            Self::Within => f.write_str("within"),
            Self::Period { period } => f.write_str(period.name()),
            Self::NoPolicy => f.write_str("no keep policy"),
        }
    }
}

/// What retention decided for each archive, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PrunePlan {
    /// Archives kept, with every rule that keeps each.
    pub keep: Vec<(Candidate, Vec<KeepReason>)>,
    /// Archives to remove, with why.
    pub remove: Vec<(Candidate, String)>,
}

impl PrunePlan {
    /// The ids kept.
    pub fn kept_ids(&self) -> Vec<&str> {
        self.keep.iter().map(|(c, _)| c.id.as_str()).collect()
    }

    /// The ids removed.
    pub fn removed_ids(&self) -> Vec<&str> {
        self.remove.iter().map(|(c, _)| c.id.as_str()).collect()
    }
}

/// Decides which of `archives` `policy` keeps at `now` (Unix seconds). Pure and
/// deterministic: the order of `archives` does not matter, and planning again over the
/// kept archives removes nothing more.
pub fn prune_plan(archives: &[Candidate], policy: &KeepPolicy, now: i64) -> PrunePlan {
    let mut sorted: Vec<&Candidate> = archives.iter().collect();
    sorted.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| b.id.cmp(&a.id)));
    sorted.dedup_by(|a, b| a.id == b.id);
    let mut reasons: Vec<Vec<KeepReason>> = vec![Vec::new(); sorted.len()];
    if let Some(first) = reasons.first_mut() {
        first.push(KeepReason::Newest);
    }
    if policy.is_empty() {
        for reason in &mut reasons {
            reason.push(KeepReason::NoPolicy);
        }
    }
    let last = policy.last.map_or(0, |n| n as usize);
    for reason in reasons.iter_mut().take(last) {
        reason.push(KeepReason::Last);
    }
    if let Some(within) = policy.within {
        let limit = i64::try_from(within.as_secs()).unwrap_or(i64::MAX);
        for (candidate, reason) in sorted.iter().zip(&mut reasons) {
            if now.saturating_sub(candidate.time) < limit {
                reason.push(KeepReason::Within);
            }
        }
    }
    for (period, count) in policy.periods() {
        // Newest first, so each period's archives come together and its first is its newest.
        let (mut periods, mut last_key) = (0u32, None);
        for (candidate, reason) in sorted.iter().zip(&mut reasons) {
            let key = period.key(candidate.time);
            if last_key == Some(key) {
                continue;
            }
            if periods == count {
                break;
            }
            last_key = Some(key);
            periods += 1;
            reason.push(KeepReason::Period { period });
        }
    }
    let mut plan = PrunePlan::default();
    for (candidate, reason) in sorted.into_iter().zip(reasons) {
        if reason.is_empty() {
            plan.remove.push((candidate.clone(), why_removed(policy)));
        } else {
            plan.keep.push((candidate.clone(), reason));
        }
    }
    plan
}

/// The reason given for a removed archive: the rules that did not keep it.
fn why_removed(policy: &KeepPolicy) -> String {
    let mut rules = Vec::new();
    if let Some(n) = policy.last {
        rules.push(format!("not among the last {n}"));
    }
    if let Some(within) = policy.within {
        rules.push(format!("older than {within}"));
    }
    for (period, n) in policy.periods() {
        rules.push(format!("not the newest of the {n} most recent {} periods", period.name()));
    }
    rules.join(", ")
}

/// What one rule keeps on its own: the plan of a policy with only that rule.
pub fn single_rules(policy: &KeepPolicy) -> Vec<KeepPolicy> {
    let only = |set: &dyn Fn(&mut KeepPolicy)| {
        let mut single = KeepPolicy::default();
        set(&mut single);
        single
    };
    let mut rules = Vec::new();
    if let Some(n) = policy.last {
        rules.push(only(&|p| p.last = Some(n)));
    }
    if let Some(w) = policy.within {
        rules.push(only(&|p| p.within = Some(w)));
    }
    if let Some(n) = policy.hourly {
        rules.push(only(&|p| p.hourly = Some(n)));
    }
    if let Some(n) = policy.daily {
        rules.push(only(&|p| p.daily = Some(n)));
    }
    if let Some(n) = policy.weekly {
        rules.push(only(&|p| p.weekly = Some(n)));
    }
    if let Some(n) = policy.monthly {
        rules.push(only(&|p| p.monthly = Some(n)));
    }
    if let Some(n) = policy.yearly {
        rules.push(only(&|p| p.yearly = Some(n)));
    }
    rules
}

/// The key of the period `unix` falls in, for tests and reports: equal keys, same period.
pub fn period_key(period: Period, unix: i64) -> (i64, i64, i64, i64) {
    period.key(unix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(id: &str, time: i64) -> Candidate {
        Candidate { id: id.to_owned(), time }
    }

    #[test]
    fn daily_keeps_the_newest_of_each_day_and_says_why_others_go() {
        let day = 86_400;
        let archives = [at("a", 10), at("b", 20), at("c", day + 5), at("d", 2 * day + 1), at("e", 2 * day + 9)];
        let policy = KeepPolicy { daily: Some(2), ..KeepPolicy::default() };
        let plan = prune_plan(&archives, &policy, 3 * day);
        assert_eq!(plan.kept_ids(), ["e", "c"]);
        assert_eq!(plan.removed_ids(), ["d", "b", "a"]);
        assert!(plan.remove[0].1.contains("daily"), "{:?}", plan.remove);
    }

    #[test]
    fn an_empty_policy_keeps_everything() {
        let plan = prune_plan(&[at("a", 1), at("b", 2)], &KeepPolicy::default(), 100);
        assert!(plan.remove.is_empty());
    }

    #[test]
    fn all_zero_counts_are_refused() {
        let policy = KeepPolicy { daily: Some(0), ..KeepPolicy::default() };
        assert!(policy.check().unwrap_err().contains("daily = 7"));
    }
}
