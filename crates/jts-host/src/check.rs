//! Checking a loaded spec against the machine's account files and the rules tables.

use std::path::Path;

use jts_core::SpecError;
use jts_perms::Accounts;

use crate::spec::{ConfigError, HostSpec, load_partial};
use crate::targets::{format_of, volume_mount_targets};

/// Loads and checks the spec at `file` against the account files under `root`, for a
/// command that reads the machine there: a `root` that is not a directory is
/// [`crate::Error::MissingRoot`] (after the spec's own problems, which come first).
pub fn load_for_machine(file: &Path, root: &jts_core::Root) -> crate::Result<HostSpec> {
    let spec = load_checked(file, &Accounts::read(root)?)?;
    if !root.is_host() && !root.dir().is_dir() {
        return Err(crate::Error::MissingRoot { dir: root.dir().to_path_buf() });
    }
    Ok(spec)
}

/// Loads the spec at `file` and checks everything that can be known from it and the
/// account files `accounts`: names and ids, LVM sizes, mkfs and mount options, rules.
/// Warnings are emitted as `tracing` events; errors come back all at once, located.
pub fn load_checked(file: &Path, accounts: &Accounts) -> Result<HostSpec, ConfigError> {
    let (spec, mut errors) = load_partial(file)?;
    errors.extend(jts_perms::check(&spec.perms, accounts));
    errors.extend(jts_lvm::check(&spec.lvm));
    errors.extend(jts_tiering::rules::check(&spec.rules));
    errors.extend(jts_backup::spec::check(&spec.backups, &crate::backups::context(&spec)));
    let (fs_errors, warnings) = check_filesystems(&spec);
    errors.extend(fs_errors);
    for warning in warnings.iter().chain(&spec.warnings) {
        tracing::warn!("{}: {warning}", file.display());
    }
    errors.sort_by_key(|err| err.span.as_ref().map(|span| span.start));
    if errors.is_empty() { Ok(spec) } else { Err(spec.located(errors)) }
}

/// Checks the spec's filesystems and mounts against the rules tables (mkfs arguments,
/// labels, sizes given in absolute terms, mount and NFS options, mount points);
/// warnings are returned apart from errors.
pub fn check_filesystems(spec: &HostSpec) -> (Vec<SpecError>, Vec<String>) {
    let volumes = volume_mount_targets(spec);
    let mut errors = jts_mounts::check(&spec.mounts, &volumes);
    let mut warnings: Vec<String> =
        jts_mounts::check_warnings(&spec.mounts, &volumes).iter().map(ToString::to_string).collect();
    let mut mount_points = std::collections::BTreeMap::new();
    for (vg_name, vg) in &spec.lvm.volume_groups {
        for (lv, volume) in &vg.get_ref().volumes {
            let Some(mount_point) = &volume.get_ref().mount_point else { continue };
            if let Some(first) = mount_points.insert(mount_point.clone(), lv) {
                let key = format!("volume_groups.{vg_name}.volumes.{lv}.mount_point");
                let message =
                    format!("{mount_point} is also the mount point of {first}; give each volume its own mount point");
                errors.push(SpecError::new(Some(volume.span()), key, message));
            }
        }
    }
    for (vg_name, vg) in &spec.lvm.volume_groups {
        for (lv, volume) in &vg.get_ref().volumes {
            let Some(format) = format_of(volume.get_ref()) else { continue };
            let size = match volume.get_ref().size {
                jts_lvm::SizeRequest::Size(size) => Some(size.bytes()),
                _ => None,
            };
            for problem in jts_fs::check_filesystem(&format, &volume.get_ref().mount_options, size) {
                let key = format!("volume_groups.{vg_name}.volumes.{lv}");
                match problem.severity {
                    jts_fs::Severity::Error => {
                        errors.push(SpecError::new(Some(volume.span()), key, problem.to_string()))
                    }
                    jts_fs::Severity::Warning => warnings.push(format!("{key}: {problem}")),
                }
            }
        }
    }
    (errors, warnings)
}
