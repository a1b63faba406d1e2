//! Property tests of the retention planner (`prune`) and `snapshot prune` plans.
//!
//! 1. The newest valid snapshot is never removed while keep_last ≥ 1.
//! 2. Pruning twice = pruning once: pruning what is left removes nothing.
//! 3. Nothing but snapshots of the policy's origin in the policy's VG is ever removed.
//! 4. keep_last = 2 with three fresh valid snapshots removes exactly the oldest.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jts_core::{Root, Size, SpecDuration, Step};
use jts_lvm::{
    LvAttr, LvInfo, LvmObserved, LvmSpec, LvmStep, Percent, SnapshotInfo, SnapshotPolicy, list_snapshots, plan_prune,
    prune, snapshot_name,
};
use proptest::collection::vec;
use proptest::prelude::*;

const NOW: u64 = 1_795_384_800;
const DAY: i64 = 86_400;
const ORIGINS: [&str; 2] = ["lv_pg", "lv_ch"];
const VGS: [&str; 2] = ["vg_jts", "vg_other"];

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

fn policy(keep_last: u32, max_age_days: u64) -> SnapshotPolicy {
    SnapshotPolicy {
        volume_group: VGS[0].into(),
        size: Size::from_bytes(1 << 30),
        keep_last,
        max_age: SpecDuration::from_secs(max_age_days * 86_400),
        schedule: None,
    }
}

fn snapshot() -> impl Strategy<Value = SnapshotInfo> {
    (
        0..VGS.len(),
        0..ORIGINS.len(),
        proptest::option::weighted(0.9, -60 * DAY..3600),
        0u32..=10_000,
        prop::bool::weighted(0.8),
        any::<u16>(),
    )
        .prop_map(|(vg, origin, offset, fill, valid, tag)| {
            let created = offset.map(|o| NOW as i64 + o);
            SnapshotInfo {
                vg: VGS[vg].into(),
                name: format!("{}-snap-{tag:05}", ORIGINS[origin]),
                origin: ORIGINS[origin].into(),
                created,
                age: created.map(|c| u64::try_from(NOW as i64 - c).unwrap_or(0)),
                cow_fill_percent: Some(Percent::from_hundredths(fill)),
                valid: valid && fill < 10_000,
            }
        })
}

/// Unique names, as LVM guarantees within a VG.
fn snapshots() -> impl Strategy<Value = Vec<SnapshotInfo>> {
    vec(snapshot(), 0..10).prop_map(|mut list| {
        list.sort_by(|a, b| (&a.vg, &a.name).cmp(&(&b.vg, &b.name)));
        list.dedup_by(|a, b| a.vg == b.vg && a.name == b.name);
        list
    })
}

fn newest_valid<'a>(list: &'a [SnapshotInfo], origin: &str) -> Option<&'a SnapshotInfo> {
    list.iter()
        .filter(|s| s.vg == VGS[0] && s.origin == origin && s.valid)
        .max_by(|a, b| a.created.cmp(&b.created).then_with(|| a.name.cmp(&b.name)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn never_removes_the_newest_valid(list in snapshots(), keep_last in 1u32..5, max_age in 0u64..40) {
        let pruned = prune(ORIGINS[0], &policy(keep_last, max_age), &list, now());
        if let Some(newest) = newest_valid(&list, ORIGINS[0]) {
            prop_assert!(pruned.iter().all(|p| p.name != newest.name), "removed the newest valid {:?}", newest);
        }
    }

    #[test]
    fn pruning_twice_is_pruning_once(list in snapshots(), keep_last in 0u32..5, max_age in 0u64..40) {
        let policy = policy(keep_last, max_age);
        let pruned = prune(ORIGINS[0], &policy, &list, now());
        let left: Vec<SnapshotInfo> = list
            .iter()
            .filter(|s| !(s.vg == VGS[0] && s.origin == ORIGINS[0] && pruned.iter().any(|p| p.name == s.name)))
            .cloned()
            .collect();
        prop_assert_eq!(left.len() + pruned.len(), list.len(), "every pruned name is one snapshot");
        prop_assert!(prune(ORIGINS[0], &policy, &left, now()).is_empty());
    }

    #[test]
    fn only_the_policys_snapshots_are_candidates(list in snapshots(), keep_last in 0u32..5, max_age in 0u64..40) {
        for pruned in prune(ORIGINS[0], &policy(keep_last, max_age), &list, now()) {
            prop_assert!(list.iter().any(|s| s.name == pruned.name && s.vg == VGS[0] && s.origin == ORIGINS[0]));
        }
    }

    /// Through `list_snapshots` and `plan_prune`, on an LVM state with plain volumes,
    /// origins, thin volumes that name an origin, and snapshots of several origins.
    #[test]
    fn prune_plans_remove_only_snapshots_of_the_origin(
        lvs in vec((0..VGS.len(), 0..4usize, 0..ORIGINS.len(), any::<u16>(), prop::bool::weighted(0.8), 0..30i64), 0..12),
        keep_last in 1u32..4,
    ) {
        let attrs = ["-wi-a-----", "owi-a-s---", "swi-a-s---", "Vwi-a-tz--"];
        let mut observed = LvmObserved::default();
        for (vg, kind, origin, tag, valid, days) in lvs {
            let attr = if kind == 2 && !valid { "swi-I-s---" } else { attrs[kind] };
            let has_origin = kind >= 2;
            let name = if has_origin {
                snapshot_name(ORIGINS[origin], now() - Duration::from_secs(days as u64 * 86_400 + u64::from(tag)))
            } else {
                format!("{}x{tag}", ORIGINS[origin])
            };
            if observed.lv(VGS[vg], &name).is_some() {
                continue;
            }
            observed.lvs.push(LvInfo {
                vg: VGS[vg].into(),
                name,
                uuid: String::new(),
                size: 4 << 20,
                attr: LvAttr::decode(attr),
                origin: has_origin.then(|| ORIGINS[origin].to_owned()),
                data_percent: has_origin.then(|| Percent::from_hundredths(if valid { 500 } else { 10_000 })),
                created: None,
            });
        }
        let spec: LvmSpec = toml::from_str(&format!(
            "[volume_groups.vg_jts]\ndevices = [\"/dev/vda\"]\n[volume_groups.vg_jts.volumes.lv_pg]\nsize = \"1GiB\"\n\
             [snapshots.lv_pg]\nvolume_group = \"vg_jts\"\nsize = \"1GiB\"\nkeep_last = {keep_last}\nmax_age = \"7d\"\n"
        )).unwrap();
        let steps = plan_prune(&spec, &observed, None, now()).unwrap();
        for step in &steps.steps {
            let LvmStep::RemoveSnapshot { vg, origin, name, .. } = step else {
                return Err(TestCaseError::fail(format!("unexpected {step:?}")));
            };
            let lv = observed.lv(vg, name).expect("an observed LV");
            prop_assert!(lv.attr.is_cow_snapshot() && lv.origin.as_deref() == Some("lv_pg") && vg == "vg_jts" && origin == "lv_pg", "{:?}", lv);
            prop_assert!(!step.info(&Root::host()).destructive);
        }
        let mut after = observed.clone();
        steps.simulate(&mut after);
        prop_assert!(plan_prune(&spec, &after, None, now()).unwrap().is_empty(), "pruning twice = pruning once");
        let kept = list_snapshots(&after, now()).into_iter().filter(|s| s.vg == "vg_jts" && s.origin == "lv_pg" && s.valid).count();
        let before = list_snapshots(&observed, now()).into_iter().filter(|s| s.vg == "vg_jts" && s.origin == "lv_pg" && s.valid).count();
        prop_assert!(kept >= before.min(1), "the newest valid one stays");
        prop_assert!(kept <= keep_last as usize);
    }
}

#[test]
fn keep_last_two_of_three_fresh_removes_exactly_the_oldest() {
    let fresh: Vec<SnapshotInfo> = (1..=3)
        .map(|hours| {
            let created = now() - Duration::from_secs(hours * 3600);
            let name = snapshot_name(ORIGINS[0], created);
            SnapshotInfo {
                vg: VGS[0].into(),
                name,
                origin: ORIGINS[0].into(),
                created: Some(jts_lvm::unix_seconds(created)),
                age: Some(hours * 3600),
                cow_fill_percent: Some(Percent::from_hundredths(10)),
                valid: true,
            }
        })
        .collect();
    let pruned = prune(ORIGINS[0], &policy(2, 7), &fresh, now());
    let names: Vec<&str> = pruned.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["lv_pg-snap-20261122T190000Z"], "the one taken 3 hours ago");
}
