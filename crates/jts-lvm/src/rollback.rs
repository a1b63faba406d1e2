//! `snapshot rollback`: the plan that merges a snapshot back into its origin
//! (`lvconvert --merge`), which rolls the origin back to the snapshot's content.

use jts_core::{Plan, Refusal};

use crate::error::{Error, Result};
use crate::spec::LvmSpec;
use crate::state::LvmObserved;
use crate::step::LvmStep;

/// Plans rolling the spec's volume `origin` back to its snapshot `snapshot`: one
/// [`LvmStep::MergeSnapshot`], or a refusal saying why not (no such snapshot, a
/// snapshot of another volume, an invalid one, a merge already pending). An `origin`
/// the spec does not declare is an error.
pub fn plan_rollback(spec: &LvmSpec, observed: &LvmObserved, origin: &str, snapshot: &str) -> Result<Plan<LvmStep>> {
    let Some((vg, _, _)) = spec.volumes().find(|(_, lv, _)| *lv == origin) else {
        let known: Vec<&str> = spec.volumes().map(|(_, lv, _)| lv).collect();
        return Err(Error::NoVolume { name: origin.to_owned(), known: known.join(", ") });
    };
    let mut plan = Plan::default();
    let mut refuse = |reason: String, fix: String| {
        plan.refused.push(Refusal { object: origin.to_owned(), path: None, reason, fix });
    };
    let list = format!("`jts-provision snapshot list` shows the snapshots of {origin}");
    let Some(origin_lv) = observed.lv(vg, origin) else {
        refuse(format!("{vg}/{origin} does not exist"), "run `apply` to create it".to_owned());
        return Ok(plan);
    };
    match observed.lv(vg, snapshot) {
        None => refuse(format!("{vg}/{snapshot} does not exist"), list),
        Some(lv) if !lv.attr.is_cow_snapshot() || lv.origin.as_deref() != Some(origin) => {
            refuse(format!("{vg}/{snapshot} is not a snapshot of {origin}"), list);
        }
        Some(lv) if lv.attr.volume_type == crate::VolumeType::MergingSnapshot => refuse(
            format!("{vg}/{snapshot} is merging into {origin} already"),
            format!("the merge finishes when {vg}/{origin} is next activated; nothing more to do"),
        ),
        Some(lv) if lv.attr.invalid_snapshot => refuse(
            format!("{vg}/{snapshot} is invalid (its copy-on-write space overflowed); its content is lost"),
            format!("roll back to another snapshot ({list}), or restore a backup"),
        ),
        Some(_) => plan.steps.push(LvmStep::MergeSnapshot {
            vg: vg.to_owned(),
            origin: origin.to_owned(),
            name: snapshot.to_owned(),
            origin_open: origin_lv.attr.is_open(),
        }),
    }
    Ok(plan)
}

/// Refuses the rollback in `plan` unless `allowed` (the CLI's `--allow-destroy`) names
/// its volume: a rollback is an operator's act, so the spec's `allow_destroy` is not
/// asked for.
pub fn refuse_rollback_without_consent(plan: &mut Plan<LvmStep>, allowed: &[String]) {
    let Some(LvmStep::MergeSnapshot { origin, name, .. }) = plan.steps.first() else { return };
    if plan.refused.is_empty() && !allowed.contains(origin) {
        plan.refused.push(Refusal {
            object: origin.clone(),
            path: None,
            reason: format!("rolling {origin} back destroys everything written to it since {name}"),
            fix: format!("if you mean it, pass --allow-destroy {origin}"),
        });
        plan.steps.clear();
    }
}

/// After `step` ran: what to do when it was a rollback deferred to the next activation
/// of its volume, with the volume's mount point looked up now.
pub fn deferred_merge_note(step: &LvmStep) -> Option<String> {
    let LvmStep::MergeSnapshot { vg, origin, origin_open: true, .. } = step else { return None };
    let mounted = jts_fs::mount_point(std::path::Path::new(&crate::lv_path(vg, origin)));
    Some(deferred_merge_advice(vg, origin, mounted.as_deref()))
}

/// What to do when a rollback of the open volume `VG/ORIGIN` (mounted at `mounted`, if
/// known) was deferred to its next activation.
pub fn deferred_merge_advice(vg: &str, origin: &str, mounted: Option<&std::path::Path>) -> String {
    let stop = match mounted {
        Some(at) => {
            let at = at.display();
            format!(
                "stop everything that uses it (`fuser -vm {at}` lists it: the database on it, its exporters and \
                 backups), `umount {at}`, then "
            )
        }
        None => "stop everything that uses it, then ".to_owned(),
    };
    format!(
        "{vg}/{origin} is in use, so the merge waits for its next activation. To roll back now: {stop}`lvchange -an \
         {vg}/{origin} && lvchange -ay {vg}/{origin}` (or reboot); `lvs {vg}` shows the merge until it is done, and \
         the volume can be mounted again at once."
    )
}

#[cfg(test)]
mod tests {
    use jts_core::Root;

    use super::*;
    use crate::{LvAttr, LvInfo, Percent};

    fn spec() -> LvmSpec {
        toml::from_str(
            r#"
            [volume_groups.vg]
            devices = ["/dev/vda"]
            [volume_groups.vg.volumes.lv_pg]
            size = "1GiB"
            filesystem = "ext4"
            "#,
        )
        .unwrap()
    }

    fn lv(name: &str, attr: &str, origin: Option<&str>) -> LvInfo {
        LvInfo {
            vg: "vg".into(),
            name: name.into(),
            uuid: String::new(),
            size: 1 << 30,
            attr: LvAttr::decode(attr),
            origin: origin.map(Into::into),
            data_percent: origin.map(|_| Percent::from_hundredths(100)),
            created: None,
        }
    }

    fn observed(origin_attr: &str, snapshot_attr: &str) -> LvmObserved {
        LvmObserved {
            lvs: vec![lv("lv_pg", origin_attr, None), lv("s", snapshot_attr, Some("lv_pg"))],
            ..LvmObserved::default()
        }
    }

    #[test]
    fn a_valid_snapshot_merges_now_or_at_the_next_activation() {
        let plan = plan_rollback(&spec(), &observed("owi-a-----", "swi-a-s---"), "lv_pg", "s").unwrap();
        let info = jts_core::Step::info(&plan.steps[0], &Root::host());
        assert_eq!(info.commands, ["lvconvert --merge --yes vg/s"]);
        assert!(info.destructive);
        assert_eq!(info.object, "lv_pg");
        assert!(info.description.contains("now"), "{}", info.description);
        let open = plan_rollback(&spec(), &observed("owi-ao----", "swi-a-s---"), "lv_pg", "s").unwrap();
        let info = jts_core::Step::info(&open.steps[0], &Root::host());
        assert!(info.description.contains("next activation"), "{}", info.description);
    }

    #[test]
    fn a_rollback_runs_only_when_the_cli_names_the_volume() {
        let planned = || plan_rollback(&spec(), &observed("owi-a-----", "swi-a-s---"), "lv_pg", "s").unwrap();
        let mut refused = planned();
        refuse_rollback_without_consent(&mut refused, &["lv_other".to_owned()]);
        assert!(refused.steps.is_empty());
        assert!(refused.refused[0].fix.contains("--allow-destroy lv_pg"), "{:?}", refused.refused);
        let mut allowed = planned();
        refuse_rollback_without_consent(&mut allowed, &["lv_pg".to_owned()]);
        assert_eq!(allowed.steps.len(), 1);
        assert!(allowed.refused.is_empty());
    }

    #[test]
    fn a_deferred_merge_says_what_to_stop() {
        let advice = deferred_merge_advice("vg", "lv_pg", Some(std::path::Path::new("/data/postgresql")));
        assert!(advice.contains("fuser -vm /data/postgresql"), "{advice}");
        assert!(advice.contains("umount /data/postgresql"), "{advice}");
        assert!(advice.contains("lvchange -an vg/lv_pg && lvchange -ay vg/lv_pg"), "{advice}");
    }

    #[test]
    fn refuses_what_cannot_be_merged() {
        for (snapshot_attr, origin, snapshot, why) in [
            ("swi-I-s---", "lv_pg", "s", "invalid"),
            ("Swi-a-s---", "lv_pg", "s", "merging"),
            ("swi-a-s---", "lv_pg", "nope", "does not exist"),
            ("swi-a-s---", "lv_pg", "lv_pg", "not a snapshot"),
        ] {
            let plan = plan_rollback(&spec(), &observed("owi-a-----", snapshot_attr), origin, snapshot).unwrap();
            assert!(plan.steps.is_empty());
            assert!(plan.refused[0].reason.contains(why), "{:?}", plan.refused);
        }
        assert!(matches!(
            plan_rollback(&spec(), &observed("owi-a-----", "swi-a-s---"), "lv_other", "s"),
            Err(Error::NoVolume { .. })
        ));
    }
}
