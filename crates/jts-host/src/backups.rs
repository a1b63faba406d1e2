//! The host's backups: `[backups.NAME]` with what the rest of the spec tells about them
//! (the LVs it declares, and the `[[rules]]` that move archives to other tiers).

use jts_backup::spec::{RuleView, SpecContext, VolumeView};
use jts_backup::{Backup, Locations};
use jts_core::AbsPath;

use crate::spec::HostSpec;

/// The spec's LVs and rules, as the backup checks see them.
pub(crate) fn context(spec: &HostSpec) -> SpecContext {
    let volumes = spec
        .lvm
        .volumes()
        .map(|(vg, lv, volume)| VolumeView { vg: vg.to_owned(), name: lv.to_owned(), filesystem: volume.filesystem })
        .collect();
    let rules = spec
        .rules
        .iter()
        .map(|rule| RuleView {
            name: rule.name.get_ref().clone(),
            from: rule.from.get_ref().clone(),
            to: rule.to.as_ref().map(|to| to.get_ref().clone()),
            deletes: *rule.action.get_ref() == jts_tiering::rules::Action::Delete,
            compresses: rule.compress.is_some(),
        })
        .collect();
    SpecContext { volumes, rules }
}

/// The backups named in `names` (all of them when empty), ready to run; an unknown name
/// is an error that lists the known ones.
pub fn backups(spec: &HostSpec, names: &[String]) -> Result<Vec<Backup>, String> {
    let known: Vec<&String> = spec.backups.keys().collect();
    if let Some(unknown) = names.iter().find(|name| !spec.backups.contains_key(*name)) {
        let list = if known.is_empty() {
            "the spec declares none; add a [backups.NAME] section".to_owned()
        } else {
            format!("the spec declares {}", known.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "))
        };
        return Err(format!("no backup named {unknown:?}: {list}"));
    }
    let context = context(spec);
    Ok(spec
        .backups
        .iter()
        .filter(|(name, _)| names.is_empty() || names.contains(name))
        .filter_map(|(name, backup)| backup.get_ref().compile(name, &context))
        .collect())
}

/// Every directory where `backup`'s archives may lie: its `to`, and wherever `[[rules]]`
/// move them from there (a rule whose `from` holds `to` keeps the path below `from`),
/// rule after rule (warm, then the NAS).
pub fn backup_locations(spec: &HostSpec, backup: &Backup) -> Locations {
    let mut dirs = vec![backup.to.clone()];
    let mut index = 0;
    while index < dirs.len() {
        let dir = dirs[index].clone();
        for view in context(spec).rules {
            let Some(to) = &view.to else { continue };
            let Ok(below) = dir.as_path().strip_prefix(view.from.as_path()) else { continue };
            let moved = to.as_path().join(below);
            if let Ok(moved) = AbsPath::new(moved) {
                if !dirs.contains(&moved) {
                    dirs.push(moved);
                }
            }
        }
        index += 1;
    }
    Locations { dirs }
}
