//! Properties of the retention planner: the newest archive is kept, each rule's keeps are
//! kept by the whole policy, the plan is deterministic and idempotent, and calendar rules
//! count calendar periods.

use jts_backup::retention::{Candidate, KeepPolicy, KeepReason, Period, period_key, prune_plan, single_rules};
use jts_core::SpecDuration;
use proptest::prelude::*;

/// Archives over about three years, clustered so that many share an hour or a day.
fn archives() -> impl Strategy<Value = Vec<Candidate>> {
    prop::collection::vec((0i64..1100, 0i64..24, 0i64..3600), 0..60).prop_map(|times| {
        let base = 1_700_000_000;
        let mut seen = std::collections::BTreeSet::new();
        times
            .into_iter()
            .map(|(day, hour, sec)| base + day * 86_400 + hour * 3600 + sec)
            .filter(|t| seen.insert(*t))
            .map(|time| Candidate { id: jts_backup::archive_id(time), time })
            .collect()
    })
}

fn policies() -> impl Strategy<Value = KeepPolicy> {
    let count = || prop::option::of(0u32..6);
    (prop::option::of(0u64..40 * 86_400), count(), count(), count(), count(), count(), count()).prop_map(
        |(within, last, hourly, daily, weekly, monthly, yearly)| KeepPolicy {
            within: within.map(SpecDuration::from_secs),
            last,
            hourly,
            daily,
            weekly,
            monthly,
            yearly,
        },
    )
}

const NOW: i64 = 1_700_000_000 + 1100 * 86_400;

proptest! {
    #[test]
    fn the_newest_archive_is_always_kept(archives in archives(), policy in policies()) {
        let plan = prune_plan(&archives, &policy, NOW);
        if let Some(newest) = archives.iter().max_by_key(|c| c.time) {
            prop_assert!(plan.kept_ids().contains(&newest.id.as_str()));
        }
        prop_assert_eq!(plan.keep.len() + plan.remove.len(), archives.len());
    }

    #[test]
    fn what_each_rule_keeps_the_policy_keeps(archives in archives(), policy in policies()) {
        let whole = prune_plan(&archives, &policy, NOW);
        for single in single_rules(&policy) {
            let alone = prune_plan(&archives, &single, NOW);
            for id in alone.kept_ids() {
                prop_assert!(whole.kept_ids().contains(&id), "{single:?} keeps {id}, the policy does not");
            }
        }
    }

    #[test]
    fn the_plan_is_deterministic_and_idempotent(archives in archives(), policy in policies(), seed in any::<u64>()) {
        let plan = prune_plan(&archives, &policy, NOW);
        let mut shuffled = archives.clone();
        let len = shuffled.len().max(1);
        shuffled.rotate_left(usize::try_from(seed).unwrap_or(0) % len);
        shuffled.reverse();
        prop_assert_eq!(&prune_plan(&shuffled, &policy, NOW), &plan);
        let kept: Vec<Candidate> = plan.keep.iter().map(|(c, _)| c.clone()).collect();
        let again = prune_plan(&kept, &policy, NOW);
        prop_assert!(again.remove.is_empty(), "a second prune removes {:?}", again.removed_ids());
    }

    #[test]
    fn calendar_rules_keep_the_newest_of_each_recent_period(archives in archives(), count in 1u32..8) {
        for period in [Period::Hourly, Period::Daily, Period::Weekly, Period::Monthly, Period::Yearly] {
            let mut policy = KeepPolicy::default();
            match period {
                Period::Hourly => policy.hourly = Some(count),
                Period::Daily => policy.daily = Some(count),
                Period::Weekly => policy.weekly = Some(count),
                Period::Monthly => policy.monthly = Some(count),
                Period::Yearly => policy.yearly = Some(count),
            }
            let plan = prune_plan(&archives, &policy, NOW);
            let by_rule: Vec<&Candidate> = plan
                .keep
                .iter()
                .filter(|(_, reasons)| reasons.contains(&KeepReason::Period { period }))
                .map(|(c, _)| c)
                .collect();
            // The periods that have archives, newest first; the rule keeps the newest
            // archive of each of the `count` most recent, and nothing else.
            let mut periods: Vec<_> = archives.iter().map(|c| period_key(period, c.time)).collect();
            periods.sort_unstable();
            periods.dedup();
            periods.reverse();
            periods.truncate(count as usize);
            let mut expected: Vec<&str> = periods
                .iter()
                .map(|key| {
                    let newest = archives.iter().filter(|c| period_key(period, c.time) == *key).max_by_key(|c| c.time);
                    newest.expect("a period with archives").id.as_str()
                })
                .collect();
            let mut got: Vec<&str> = by_rule.iter().map(|c| c.id.as_str()).collect();
            expected.sort_unstable();
            got.sort_unstable();
            prop_assert_eq!(got, expected, "{:?}", period);
        }
    }
}
