//! The retention planner, pure: which snapshots a policy drops.
//!
//! Of the snapshots of the policy's origin in the policy's VG (all others, LVs that are
//! not snapshots, and the temporary snapshots of running backups are never considered):
//!
//! 1. invalid ones, and ones whose copy-on-write space is full, are dropped;
//! 2. the valid ones are ranked newest first (by creation time, unknown times last,
//!    then by name); those ranked past `keep_last` are dropped;
//! 3. of the rest, those older than `max_age` are dropped, except the newest valid one,
//!    so that a host whose snapshots stopped is never left without its last good one.

use std::fmt;
use std::time::SystemTime;

use jts_core::SpecDuration;
use serde::Serialize;

use crate::backup_snapshot::is_backup_snapshot;
use crate::snapshot::{SnapshotInfo, unix_seconds};
use crate::spec::SnapshotPolicy;
use crate::state::Percent;

/// Why a snapshot is dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PruneReason {
    /// lvm2 invalidated it, or its copy-on-write space is full.
    Invalid {
        /// How full its COW space was, if known.
        cow_fill_percent: Option<Percent>,
    },
    /// More valid snapshots than `keep_last` are newer.
    BeyondKeepLast {
        /// The policy's `keep_last`.
        keep_last: u32,
    },
    /// Older than `max_age`, and not the newest valid one.
    TooOld {
        /// Its age, seconds.
        age: u64,
        /// The policy's `max_age`.
        max_age: SpecDuration,
    },
}

impl fmt::Display for PruneReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid { cow_fill_percent: Some(fill) } => {
                write!(f, "invalid: its copy-on-write space is {fill} full")
            }
            Self::Invalid { cow_fill_percent: None } => f.write_str("invalid"),
            Self::BeyondKeepLast { keep_last } => write!(f, "beyond keep_last = {keep_last} newer valid snapshots"),
            Self::TooOld { age, max_age } => {
                write!(f, "{} old, more than max_age {max_age}", SpecDuration::from_secs(*age))
            }
        }
    }
}

/// A snapshot to drop, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pruned {
    /// The snapshot LV.
    pub name: String,
    /// Why.
    pub reason: PruneReason,
}

/// The snapshots of `origin` that `policy` drops at `now`, by name.
pub fn prune(origin: &str, policy: &SnapshotPolicy, snapshots: &[SnapshotInfo], now: SystemTime) -> Vec<Pruned> {
    let now = unix_seconds(now);
    let mine =
        snapshots.iter().filter(|s| s.vg == policy.volume_group && s.origin == origin && !is_backup_snapshot(&s.name));
    let (mut valid, invalid): (Vec<&SnapshotInfo>, Vec<&SnapshotInfo>) = mine.partition(|s| s.valid);
    let mut pruned: Vec<Pruned> = invalid
        .into_iter()
        .map(|s| Pruned { name: s.name.clone(), reason: PruneReason::Invalid { cow_fill_percent: s.cow_fill_percent } })
        .collect();
    valid.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.name.cmp(&a.name)));
    for (rank, snapshot) in valid.into_iter().enumerate() {
        let reason = if rank >= usize::try_from(policy.keep_last).unwrap_or(usize::MAX) {
            PruneReason::BeyondKeepLast { keep_last: policy.keep_last }
        } else {
            let age = snapshot.created.map_or(0, |created| u64::try_from(now.saturating_sub(created)).unwrap_or(0));
            if rank == 0 || age <= policy.max_age.as_secs() {
                continue;
            }
            PruneReason::TooOld { age, max_age: policy.max_age }
        };
        pruned.push(Pruned { name: snapshot.name.clone(), reason });
    }
    pruned.sort_by(|a, b| a.name.cmp(&b.name));
    pruned
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use jts_core::Size;

    use super::*;

    const DAY: i64 = 86_400;
    const NOW: i64 = 1_795_384_800;

    fn policy(keep_last: u32, max_age_days: u64) -> SnapshotPolicy {
        SnapshotPolicy {
            volume_group: "vg".into(),
            size: Size::from_bytes(1 << 30),
            keep_last,
            max_age: SpecDuration::from_secs(max_age_days * 86_400),
            schedule: None,
        }
    }

    fn snap(name: &str, created: i64, valid: bool) -> SnapshotInfo {
        SnapshotInfo {
            vg: "vg".into(),
            name: name.into(),
            origin: "lv".into(),
            created: Some(created),
            age: None,
            cow_fill_percent: Some(Percent::from_hundredths(if valid { 100 } else { 10_000 })),
            valid,
        }
    }

    fn names(pruned: &[Pruned]) -> Vec<&str> {
        pruned.iter().map(|p| p.name.as_str()).collect()
    }

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW as u64)
    }

    #[test]
    fn a_running_backups_snapshot_is_never_counted_or_pruned() {
        let backup = crate::backup_snapshot_name("lv", "20261122T210000Z");
        let list = [snap("a", NOW - 2 * 3600, true), snap(&backup, NOW - 3600, true), snap("c", NOW - 60, true)];
        assert!(prune("lv", &policy(2, 7), &list, now()).is_empty());
        let invalid = [snap(&backup, NOW - 3600, false)];
        assert!(prune("lv", &policy(2, 7), &invalid, now()).is_empty());
    }

    #[test]
    fn keep_last_two_of_three_drops_the_oldest() {
        let list = [snap("a", NOW - 3 * 3600, true), snap("b", NOW - 2 * 3600, true), snap("c", NOW - 3600, true)];
        let pruned = prune("lv", &policy(2, 7), &list, now());
        assert_eq!(names(&pruned), ["a"]);
        assert_eq!(pruned[0].reason.to_string(), "beyond keep_last = 2 newer valid snapshots");
    }

    #[test]
    fn invalid_and_old_ones_go_but_the_newest_valid_stays() {
        let list = [
            snap("full", NOW - 60, false),
            snap("old1", NOW - 30 * DAY, true),
            snap("old2", NOW - 20 * DAY, true),
            SnapshotInfo { origin: "other".into(), ..snap("others", NOW - 99 * DAY, false) },
        ];
        let pruned = prune("lv", &policy(7, 7), &list, now());
        assert_eq!(names(&pruned), ["full", "old1"], "old2 is the newest valid one");
        assert_eq!(pruned[0].reason.to_string(), "invalid: its copy-on-write space is 100.00% full");
        assert_eq!(pruned[1].reason.to_string(), "30d old, more than max_age 1w");
    }
}
