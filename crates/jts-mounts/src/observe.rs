//! Observing the machine for a set of [`MountTarget`]s.

use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use jts_core::nofollow::{FileKind, Lookup, lookup};
use jts_core::{AbsPath, Root, Runner};

use crate::error::Result;
use crate::fstab_file::read_fstab;
use crate::mountinfo::{MountInfo, read_mountinfo};
use crate::spec::{MountSource, MountTarget};
use crate::state::{DeviceIds, Observed, PathKind};

/// Observes fstab under `root`, the mounts under `root`, each local device (blkid, stat)
/// and each mount point (without following symlinks).
pub fn observe(root: &Root, targets: &[MountTarget], runner: &dyn Runner) -> Result<Observed> {
    let mut observed =
        Observed { fstab: read_fstab(root)?, mounts: rebase(root, read_mountinfo()?), ..Observed::default() };
    for target in targets {
        if let MountSource::Block { device, .. } = &target.source {
            observed.devices.insert(device.clone(), observe_device(runner, device.as_path())?);
        }
        observed.paths.insert(target.mount_point.clone(), observe_path(root, &target.mount_point)?);
    }
    Ok(observed)
}

/// Keeps the mounts below `root` and writes their mount points as spec paths.
pub fn rebase(root: &Root, mounts: Vec<MountInfo>) -> Vec<MountInfo> {
    mounts
        .into_iter()
        .filter_map(|mut mount| {
            let relative = Path::new(&mount.mount_point).strip_prefix(root.dir()).ok()?;
            mount.mount_point = Path::new("/").join(relative).to_string_lossy().into_owned();
            Some(mount)
        })
        .collect()
}

fn observe_device(runner: &dyn Runner, device: &Path) -> Result<DeviceIds> {
    let metadata = std::fs::metadata(device).ok().filter(|m| m.file_type().is_block_device());
    let Some(metadata) = metadata else { return Ok(DeviceIds::default()) };
    let signature = jts_fs::probe_signature(runner, device)?;
    let rdev = std::os::unix::fs::MetadataExt::rdev(&metadata);
    Ok(DeviceIds {
        uuid: signature.as_ref().and_then(|s| s.uuid.clone()),
        label: signature.as_ref().and_then(|s| s.label.clone()),
        fstype: signature.map(|s| s.fstype),
        devno: Some(format!("{}:{}", nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev))),
        canonical: std::fs::canonicalize(device).ok().map(|p| p.to_string_lossy().into_owned()),
    })
}

fn observe_path(root: &Root, path: &AbsPath) -> Result<PathKind> {
    Ok(match lookup(root, path)? {
        Lookup::Missing => PathKind::Missing,
        Lookup::Found(node) if node.kind() == FileKind::Directory => PathKind::Directory,
        Lookup::Found(node) => PathKind::Blocked { what: format!("{} at {path}", node.kind().name()) },
        Lookup::Blocked { at, kind } => PathKind::Blocked { what: format!("{} at {at}", kind.name()) },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mountinfo::parse_mountinfo;

    #[test]
    fn rebase_keeps_mounts_under_the_root_as_spec_paths() {
        let text = "1 0 8:1 / / rw - ext4 /dev/a rw\n2 1 8:2 / /tmp/r/data rw - xfs /dev/b rw\n";
        let mounts = rebase(&Root::new("/tmp/r").unwrap(), parse_mountinfo(text).unwrap());
        assert_eq!(mounts.len(), 1);
        assert_eq!(mounts[0].mount_point, "/data");
        assert_eq!(rebase(&Root::host(), parse_mountinfo(text).unwrap()).len(), 2);
    }

    #[test]
    fn observes_paths_without_following_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("l")).unwrap();
        let root = Root::new(dir.path()).unwrap();
        let at = |p: &str| observe_path(&root, &AbsPath::new(p).unwrap()).unwrap();
        assert_eq!(at("/d"), PathKind::Directory);
        assert_eq!(at("/x"), PathKind::Missing);
        assert!(matches!(at("/l/x"), PathKind::Blocked { what } if what == "symlink at /l"));
    }
}
