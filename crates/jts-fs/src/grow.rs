//! Growing a filesystem after its volume grew, and whether it can shrink.

use std::path::Path;

use jts_core::CmdSpec;

use crate::error::{Error, Result};
use crate::kind::FsKind;

/// The commands that grow the filesystem on `device` to fill it. `mount_point` is where
/// it is mounted, or `None` when it is not mounted.
///
/// - ext4: `resize2fs DEVICE`, online when mounted. Unmounted, resize2fs insists on a
///   fresh check, so `e2fsck -f -p DEVICE` runs first (its exit status 1, "errors
///   corrected", counts as success).
/// - xfs: `xfs_growfs -d MOUNTPOINT`; XFS grows only while mounted.
/// - btrfs: `btrfs filesystem resize max MOUNTPOINT`; btrfs resizes only while mounted.
///
/// ```
/// use std::path::Path;
/// use jts_fs::{FsKind, grow_commands};
///
/// let cmds = grow_commands(FsKind::Xfs, Path::new("/dev/vg_jts/lv_kafka"), Some(Path::new("/var/lib/kafka"))).unwrap();
/// assert_eq!(cmds[0].to_shell(), "xfs_growfs -d /var/lib/kafka");
/// let err = grow_commands(FsKind::Xfs, Path::new("/dev/vg_jts/lv_kafka"), None).unwrap_err();
/// assert!(err.to_string().contains("mount it"));
/// ```
pub fn grow_commands(kind: FsKind, device: &Path, mount_point: Option<&Path>) -> Result<Vec<CmdSpec>> {
    let not_mounted = || Error::NotMounted { kind, device: device.to_path_buf() };
    Ok(match kind {
        FsKind::Ext4 => {
            let resize = CmdSpec::new("resize2fs").arg(device);
            match mount_point {
                Some(_) => vec![resize],
                None => vec![fsck_command(device), resize],
            }
        }
        FsKind::Xfs => vec![CmdSpec::new("xfs_growfs").arg("-d").arg(mount_point.ok_or_else(not_mounted)?)],
        FsKind::Btrfs => vec![
            CmdSpec::new("btrfs").arg("filesystem").arg("resize").arg("max").arg(mount_point.ok_or_else(not_mounted)?),
        ],
        FsKind::None => return Err(Error::RawVolume { device: device.to_path_buf() }),
    })
}

/// `e2fsck -f -p DEVICE`: the forced check resize2fs wants before an offline resize.
pub(crate) fn fsck_command(device: &Path) -> CmdSpec {
    CmdSpec::new("e2fsck").arg("-f").arg("-p").arg(device)
}

/// Whether a filesystem of `kind` can be shrunk now, or the reason it cannot, worded for
/// the operator.
///
/// ```
/// use jts_fs::{FsKind, can_shrink};
/// assert!(can_shrink(FsKind::Xfs, false).unwrap_err().contains("cannot shrink"));
/// assert!(can_shrink(FsKind::Ext4, false).is_ok());
/// assert!(can_shrink(FsKind::Btrfs, true).is_ok());
/// ```
pub fn can_shrink(kind: FsKind, mounted: bool) -> Result<(), String> {
    match (kind, mounted) {
        (FsKind::Xfs, _) => Err("XFS cannot shrink; to make the volume smaller, back the data up, recreate the \
                                 filesystem at the new size and restore"
            .to_owned()),
        (FsKind::Ext4, true) => Err("ext4 shrinks only while unmounted; unmount it, then run the change again \
                                     (jts runs e2fsck -f and resize2fs before reducing the volume)"
            .to_owned()),
        (FsKind::Btrfs, false) => {
            Err("btrfs shrinks only while mounted; mount it, then run the change again".to_owned())
        }
        (FsKind::Ext4, false) | (FsKind::Btrfs, true) | (FsKind::None, _) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(cmds: &[CmdSpec]) -> Vec<String> {
        cmds.iter().map(CmdSpec::to_shell).collect()
    }

    #[test]
    fn ext4_grows_online_or_after_a_check() {
        let dev = Path::new("/dev/vg/lv");
        assert_eq!(
            shell(&grow_commands(FsKind::Ext4, dev, Some(Path::new("/mnt"))).unwrap()),
            ["resize2fs /dev/vg/lv"]
        );
        assert_eq!(
            shell(&grow_commands(FsKind::Ext4, dev, None).unwrap()),
            ["e2fsck -f -p /dev/vg/lv", "resize2fs /dev/vg/lv"]
        );
    }

    #[test]
    fn xfs_and_btrfs_grow_only_mounted() {
        let dev = Path::new("/dev/vg/lv");
        let mp = Some(Path::new("/data/warm"));
        assert_eq!(shell(&grow_commands(FsKind::Btrfs, dev, mp).unwrap()), ["btrfs filesystem resize max /data/warm"]);
        for kind in [FsKind::Xfs, FsKind::Btrfs] {
            let err = grow_commands(kind, dev, None).unwrap_err();
            assert!(matches!(err, Error::NotMounted { .. }), "{err}");
            assert!(err.to_string().contains(&format!("{kind} on /dev/vg/lv")), "{err}");
        }
        assert!(matches!(grow_commands(FsKind::None, dev, None), Err(Error::RawVolume { .. })));
    }

    #[test]
    fn shrink_rules() {
        assert!(can_shrink(FsKind::Xfs, true).is_err());
        assert!(can_shrink(FsKind::Ext4, true).unwrap_err().contains("unmount"));
        assert!(can_shrink(FsKind::Btrfs, false).unwrap_err().contains("mount it"));
        assert!(can_shrink(FsKind::None, false).is_ok());
    }
}
