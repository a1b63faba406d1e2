//! The spec's health config for jts-health: managed mounts by tier, volume groups,
//! directory budgets, the tier-run age and each backup's last archive and verification.

use jts_core::{AbsPath, Root};
use jts_mounts::MountTarget;

use crate::spec::HostSpec;
use crate::targets::volume_mount_targets;

/// Every managed mount with its tier for health checks: volumes are `hot`, a
/// `[filesystems.NAME]` or `[nfs_mounts.NAME]` is tier `NAME` (e.g. `warm`, `cold`).
pub fn health_targets(spec: &HostSpec) -> Vec<(String, MountTarget)> {
    let named = spec.mounts.targets().into_iter().map(|target| {
        let tier = target.name.rsplit('.').next().unwrap_or("other").to_owned();
        (tier, target)
    });
    named.chain(volume_mount_targets(spec).into_iter().map(|target| ("hot".to_owned(), target))).collect()
}

/// The whole health config of the spec, paths under `root`: the managed mounts (NFS ones
/// with a TCP connect to their server), the volume groups and their snapshots when there
/// are any, the `[health.directory_budgets]` directories (tier: the mount they are on), and
/// the tier-run age when there are `[[rules]]` (the mover's status file under `root`).
pub fn health_config(spec: &HostSpec, root: &Root) -> Result<jts_health::HealthConfig, jts_health::Error> {
    let levels = &spec.health_levels;
    let mut builder = jts_health::HealthConfig::builder()
        .thresholds(spec.health)
        .timeout(spec.probe_timeout)
        .directory_budget(levels.directory_time_budget);
    let targets = health_targets(spec);
    for (tier, target) in &targets {
        let mut target = target.clone();
        target.mount_point = AbsPath::new(root.resolve(&target.mount_point))?;
        builder = builder.mount(jts_health::MountCheck::from_target(tier, &target));
    }
    if !spec.lvm.volume_groups.is_empty() {
        let mut lvm = jts_health::LvmCheck::new(spec.lvm.volume_groups.keys());
        lvm.vg_free = levels.vg_free;
        lvm.snapshot_fill = levels.snapshot_fill;
        lvm.timeout = Some(levels.lvm_timeout);
        builder = builder.lvm(lvm);
    }
    for (path, budget) in &levels.directory_budgets {
        let tier = targets
            .iter()
            .filter(|(_, t)| path.as_path().starts_with(t.mount_point.as_path()))
            .max_by_key(|(_, t)| t.mount_point.as_path().components().count())
            .map_or("other", |(tier, _)| tier.as_str());
        let resolved = root.resolve(path);
        let resolved =
            resolved.to_str().ok_or_else(|| jts_health::Error::InvalidConfig(format!("{path}: not UTF-8")))?;
        builder = builder.directory(jts_health::DirectoryCheck::new(tier, resolved, *budget)?.name_as(path));
    }
    if !spec.rules.is_empty() {
        let status_file = AbsPath::new(jts_health::DEFAULT_STATUS_FILE)?;
        builder = builder.tier_run(jts_health::TierRunCheck {
            status_file: root.resolve(&status_file),
            warn_age: levels.tier_run_ages.0,
            crit_age: levels.tier_run_ages.1,
        });
    }
    let verified_file = root.resolve(&AbsPath::new(jts_backup::state::VERIFIED_FILE)?);
    for name in spec.backups.keys() {
        builder = builder.backup(jts_health::BackupCheck {
            name: name.clone(),
            status_file: root.resolve(&AbsPath::new(jts_backup::state::last_run_file(name))?),
            verified_file: verified_file.clone(),
            warn_age: levels.backup_ages.0,
            crit_age: levels.backup_ages.1,
        });
    }
    builder.build()
}
