//! Snapshots: UTC-timestamped names, the listing, and the plans of
//! `snapshot create` and `snapshot prune`.
//!
//! A snapshot of `lv_postgres` taken at 2026-11-22 22:00:00 UTC is named
//! `lv_postgres-snap-20261122T220000Z`. Names sort by time, say when they were taken
//! without a clock lookup, and parse back with [`parse_snapshot_name`].

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use jts_core::{Plan, Refusal};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::retention::prune;
use crate::sizing::extents_for;
use crate::spec::{LvmSpec, SnapshotPolicy};
use crate::state::{LvmObserved, Percent};
use crate::step::LvmStep;

/// What separates the origin from the timestamp in a snapshot name.
pub const SNAPSHOT_INFIX: &str = "-snap-";

const DAY: i64 = 86_400;

/// Seconds since the epoch; negative before it.
pub fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |secs| -secs),
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The name of a snapshot of `origin` taken at `now`: `ORIGIN-snap-YYYYMMDDTHHMMSSZ`,
/// in UTC, whole seconds. Times before the epoch are written as the epoch.
pub fn snapshot_name(origin: &str, now: SystemTime) -> String {
    let secs = unix_seconds(now).max(0);
    let (year, month, day) = civil_from_days(secs.div_euclid(DAY));
    let second_of_day = secs.rem_euclid(DAY);
    format!(
        "{origin}{SNAPSHOT_INFIX}{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

/// Splits a name made by [`snapshot_name`] into its origin and creation time (seconds
/// since the epoch); `None` for any other name.
pub fn parse_snapshot_name(name: &str) -> Option<(&str, i64)> {
    let (origin, stamp) = name.rsplit_once(SNAPSHOT_INFIX)?;
    let bytes = stamp.as_bytes();
    if origin.is_empty() || bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let field = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = stamp.get(range)?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    let (year, month, day) = (field(0..4)?, field(4..6)?, field(6..8)?);
    let (hour, minute, second) = (field(9..11)?, field(11..13)?, field(13..15)?);
    let days = days_from_civil(year, month, day);
    let valid = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && civil_from_days(days) == (year, month, day)
        && hour < 24
        && minute < 60
        && second < 60;
    valid.then_some((origin, days * DAY + hour * 3600 + minute * 60 + second))
}

/// One snapshot, for `snapshot list` and the retention planner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotInfo {
    /// Its VG.
    pub vg: String,
    /// The snapshot LV.
    pub name: String,
    /// The LV it is a snapshot of.
    pub origin: String,
    /// When it was taken, seconds since the epoch: from its name when jts named it,
    /// else lvm2's `lv_time`; `None` when neither is known.
    pub created: Option<i64>,
    /// Seconds since `created` (0 for a time in the future).
    pub age: Option<u64>,
    /// How full its copy-on-write space is.
    pub cow_fill_percent: Option<Percent>,
    /// Usable: lvm2 has not invalidated it and its COW space is not full.
    pub valid: bool,
}

/// Every copy-on-write snapshot in `observed`, by VG, origin and name.
pub fn list_snapshots(observed: &LvmObserved, now: SystemTime) -> Vec<SnapshotInfo> {
    let now = unix_seconds(now);
    let mut list: Vec<SnapshotInfo> = observed
        .lvs
        .iter()
        .filter(|lv| lv.attr.is_cow_snapshot())
        .filter_map(|lv| {
            let origin = lv.origin.clone()?;
            let from_name = parse_snapshot_name(&lv.name).filter(|(named, _)| *named == origin).map(|(_, t)| t);
            let created = from_name.or(lv.created);
            let full = lv.data_percent.is_some_and(|fill| fill >= Percent::FULL);
            Some(SnapshotInfo {
                vg: lv.vg.clone(),
                name: lv.name.clone(),
                origin,
                created,
                age: created.map(|t| u64::try_from(now.saturating_sub(t)).unwrap_or(0)),
                cow_fill_percent: lv.data_percent,
                valid: !lv.attr.invalid_snapshot && !full,
            })
        })
        .collect();
    list.sort_by(|a, b| (&a.vg, &a.origin, &a.name).cmp(&(&b.vg, &b.origin, &b.name)));
    list
}

/// Plans `snapshot create`: one snapshot of each policy's volume, or of `volume` only.
///
/// Refused (nothing created) for a volume that does not exist yet, a name already taken
/// (two creates within one second), or too few free extents in the VG.
pub fn plan_snapshots(
    spec: &LvmSpec,
    observed: &LvmObserved,
    volume: Option<&str>,
    now: SystemTime,
) -> Result<Plan<LvmStep>> {
    let mut plan = Plan::default();
    let mut free: BTreeMap<&str, u64> = observed.vgs.iter().map(|vg| (vg.name.as_str(), vg.free_count)).collect();
    for (origin, policy) in selected_policies(spec, volume)? {
        let vg = policy.volume_group.as_str();
        let name = snapshot_name(origin, now);
        let mut refuse = |reason: String, fix: &str| {
            plan.refused.push(Refusal { object: name.clone(), path: None, reason, fix: fix.to_owned() })
        };
        let (Some(info), Some(lv)) = (observed.vg(vg), observed.lv(vg, origin)) else {
            refuse(format!("{vg}/{origin} does not exist"), "run `apply` to create it first");
            continue;
        };
        if lv.attr.is_cow_snapshot() {
            refuse(format!("{vg}/{origin} is itself a snapshot"), "snapshot policies name ordinary volumes");
            continue;
        }
        if observed.lv(vg, &name).is_some() {
            refuse(format!("{vg}/{name} exists already"), "wait a second and run `snapshot create` again");
            continue;
        }
        let extents = extents_for(policy.size.bytes(), info.extent_size);
        let available = free.get(vg).copied().unwrap_or(0);
        if available < extents {
            refuse(
                format!("{vg} has {available} free extents, the snapshot needs {extents} ({})", policy.size),
                "prune old snapshots (`snapshot prune`), or raise the volume group's reserve",
            );
            continue;
        }
        free.insert(vg, available - extents);
        plan.steps.push(LvmStep::CreateSnapshot {
            vg: vg.to_owned(),
            origin: origin.clone(),
            name,
            size: policy.size,
            extents,
        });
    }
    Ok(plan)
}

/// Plans `snapshot prune`: every snapshot each policy (or only the policy of the volume
/// `only`) drops ([`prune`]), nothing else. A volume without a policy is an error.
pub fn plan_prune(
    spec: &LvmSpec,
    observed: &LvmObserved,
    only: Option<&str>,
    now: SystemTime,
) -> Result<Plan<LvmStep>> {
    let snapshots = list_snapshots(observed, now);
    let mut plan = Plan::default();
    for (origin, policy) in selected_policies(spec, only)? {
        plan.steps.extend(prune(origin, policy, &snapshots, now).into_iter().map(|pruned| LvmStep::RemoveSnapshot {
            vg: policy.volume_group.clone(),
            origin: origin.clone(),
            name: pruned.name,
            reason: pruned.reason.to_string(),
        }));
    }
    Ok(plan)
}

/// The snapshot policies, each with its volume: all of them, or only `volume`'s. A
/// `volume` without a policy is an error naming the volumes that have one.
fn selected_policies<'a>(
    spec: &'a LvmSpec,
    volume: Option<&'a str>,
) -> Result<impl Iterator<Item = (&'a String, &'a SnapshotPolicy)>> {
    if let Some(name) = volume.filter(|name| !spec.snapshots.contains_key(*name)) {
        let known: Vec<&str> = spec.snapshots.keys().map(String::as_str).collect();
        return Err(Error::NoPolicy { name: name.to_owned(), known: known.join(", ") });
    }
    Ok(spec
        .snapshots
        .iter()
        .filter(move |(origin, _)| volume.is_none_or(|only| only == *origin))
        .map(|(origin, policy)| (origin, policy.get_ref())))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn names_are_utc_timestamps() {
        // 2026-11-22T22:00:00Z
        let name = snapshot_name("lv_postgres", at(1_795_384_800));
        assert_eq!(name, "lv_postgres-snap-20261122T220000Z");
        assert_eq!(parse_snapshot_name(&name), Some(("lv_postgres", 1_795_384_800)));
        assert_eq!(snapshot_name("a", at(0)), "a-snap-19700101T000000Z");
        assert_eq!(snapshot_name("a", UNIX_EPOCH - Duration::from_secs(5)), "a-snap-19700101T000000Z");
        assert_eq!(parse_snapshot_name("lv-snap-x-snap-20240229T120000Z"), Some(("lv-snap-x", 1_709_208_000)));
    }

    #[test]
    fn other_names_do_not_parse() {
        for name in [
            "lv_postgres",
            "snap_postgres_20250101_120000",
            "-snap-20261122T220000Z",
            "lv-snap-20261122T220000",
            "lv-snap-20261322T220000Z",
            "lv-snap-20230229T000000Z",
            "lv-snap-20261122T240000Z",
            "lv-snap-2026112+T220000Z",
            "lv-snap-２０26112T220000Z",
        ] {
            assert_eq!(parse_snapshot_name(name), None, "{name}");
        }
    }

    proptest! {
        #[test]
        fn names_round_trip(secs in 0u64..253_402_300_800, origin in "[a-z_]{1,20}(-snap-x)?") {
            let name = snapshot_name(&origin, at(secs));
            prop_assert_eq!(parse_snapshot_name(&name), Some((origin.as_str(), secs as i64)));
        }

        #[test]
        fn names_sort_by_time(a in 0u64..253_402_300_800, b in 0u64..253_402_300_800) {
            prop_assert_eq!(snapshot_name("lv", at(a)).cmp(&snapshot_name("lv", at(b))), a.cmp(&b));
        }

        #[test]
        fn parsing_never_panics(name in ".*") {
            let _ = parse_snapshot_name(&name);
        }
    }
}
