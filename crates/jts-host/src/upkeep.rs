//! `[upkeep.NAME]`: what the monthly warm-tier upkeep does to a btrfs mount.
//!
//! Every managed btrfs mount is scrubbed monthly (`jts-scrub.timer`) unless its section
//! says `scrub = false`. Defragmentation is off unless a section says
//! `defragment = true`: `btrfs filesystem defragment` rewrites fragmented files, and in
//! doing so unshares every extent they share with snapshots and reflinked copies, so
//! space use can grow by as much as the data shared. `check` warns about it each time.

use std::collections::BTreeMap;

use jts_core::{AbsPath, SpecError};
use serde::Deserialize;
use toml::Spanned;

use crate::spec::HostSpec;

/// `[upkeep.NAME]`, NAME a managed btrfs mount (`[filesystems.NAME]` or an LV).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpkeepSpec {
    /// Scrub it monthly (default true).
    pub scrub: Option<bool>,
    /// Defragment it monthly (default false; unshares snapshot and reflink extents).
    pub defragment: Option<bool>,
}

/// The btrfs mounts to scrub, by name and mount point.
pub(crate) fn to_scrub(spec: &HostSpec) -> Vec<(String, AbsPath)> {
    crate::scrub::btrfs_mounts(spec)
        .into_iter()
        .filter(|(name, _)| spec.upkeep.get(name).and_then(|u| u.scrub) != Some(false))
        .collect()
}

/// The btrfs mounts whose spec opts in to defragmentation.
pub(crate) fn to_defragment(spec: &HostSpec) -> Vec<(String, AbsPath)> {
    crate::scrub::btrfs_mounts(spec)
        .into_iter()
        .filter(|(name, _)| spec.upkeep.get(name).and_then(|u| u.defragment) == Some(true))
        .collect()
}

/// Errors (a NAME that is no managed btrfs mount) and warnings (every opt-in to
/// defragmentation).
pub(crate) fn check_upkeep(
    spec: &HostSpec,
    raw: &BTreeMap<String, Spanned<UpkeepSpec>>,
) -> (Vec<SpecError>, Vec<String>) {
    let btrfs: Vec<String> = crate::scrub::btrfs_mounts(spec).into_iter().map(|(name, _)| name).collect();
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for (name, section) in raw {
        if !btrfs.contains(name) {
            errors.push(SpecError::new(
                Some(section.span()),
                format!("upkeep.{name}"),
                format!(
                    "{name} is not a managed btrfs mount; name a [filesystems.NAME] or LV with filesystem = \"btrfs\" (here: {})",
                    if btrfs.is_empty() { "none".to_owned() } else { btrfs.join(", ") }
                ),
            ));
        } else if section.get_ref().defragment == Some(true) {
            warnings.push(format!(
                "upkeep.{name}: defragment = true: `btrfs filesystem defragment` unshares the extents {name} shares with \
                 snapshots and reflinked copies, so shared data is stored once per copy again and free space can drop \
                 sharply; keep it only where no snapshot or reflink matters"
            ));
        }
    }
    (errors, warnings)
}
