//! What the spec asks of devices and mounts: the volumes it formats, every mount it
//! manages, and the format of each.

use std::path::PathBuf;

use jts_core::AbsPath;
use jts_fs::{FormatSpec, FsKind};
use jts_lvm::VolumeSpec;
use jts_mounts::{MountFs, MountTarget};

use crate::spec::HostSpec;

/// The format the spec asks for on a volume; `None` for a raw volume.
pub fn format_of(volume: &VolumeSpec) -> Option<FormatSpec> {
    (volume.filesystem != FsKind::None).then(|| FormatSpec {
        filesystem: volume.filesystem,
        preset: volume.preset,
        mkfs_options: volume.mkfs_options.clone(),
        label: volume.label.clone(),
    })
}

/// Each device the spec formats: its object name (LV or `filesystems.NAME`), device
/// path and format.
pub(crate) fn formatted_devices(spec: &HostSpec) -> impl Iterator<Item = (String, PathBuf, FormatSpec)> + '_ {
    let volumes = spec.lvm.volumes().filter_map(|(vg, lv, volume)| {
        format_of(volume).map(|format| (lv.to_owned(), PathBuf::from(jts_lvm::lv_path(vg, lv)), format))
    });
    let filesystems = spec.mounts.filesystems.iter().map(|(name, fs)| {
        let fs = fs.get_ref();
        let format = FormatSpec {
            filesystem: *fs.filesystem.get_ref(),
            preset: fs.preset,
            mkfs_options: fs.mkfs_options.clone(),
            label: fs.label.as_ref().map(|label| label.get_ref().clone()),
        };
        (format!("filesystems.{name}"), fs.device.get_ref().as_path().to_path_buf(), format)
    });
    volumes.chain(filesystems)
}

/// Every mount the spec asks for: `[filesystems.*]`, `[nfs_mounts.*]` and volumes with a
/// `mount_point`.
/// Each with the boot options of `[boot]` ([`jts_mounts::BootPolicy`]).
pub fn mount_targets(spec: &HostSpec) -> Vec<MountTarget> {
    let mut targets = spec.mounts.targets();
    targets.extend(volume_mount_targets(spec));
    targets.into_iter().map(|target| spec.boot.apply(target)).collect()
}

/// The mounts of logical volumes that have a `mount_point`.
pub(crate) fn volume_mount_targets(spec: &HostSpec) -> Vec<MountTarget> {
    spec.lvm
        .volumes()
        .filter_map(|(vg, lv, volume)| {
            let mount_point = volume.mount_point.clone()?;
            let fs = MountFs::local(volume.filesystem)?;
            let device = AbsPath::new(jts_lvm::lv_path(vg, lv)).ok()?;
            let options = jts_fs::effective_mount_options(volume.preset, volume.filesystem, &volume.mount_options);
            Some(MountTarget::block(lv, device, fs, mount_point, options))
        })
        .collect()
}
