//! [`mkfs_command`]: the mkfs command line that makes a [`FormatSpec`] on a device.

use std::path::Path;

use jts_core::CmdSpec;

use crate::error::{Error, Result};
use crate::format::FormatSpec;
use crate::kind::FsKind;

/// The mkfs command that makes `format` on `device`.
///
/// - ext4: `mkfs.ext4 -q [-F] [-L LABEL] ARGS DEVICE`
/// - xfs: `mkfs.xfs [-f] [-L LABEL] ARGS DEVICE`
/// - btrfs: `mkfs.btrfs [-f] [-L LABEL] ARGS DEVICE`
///
/// `ARGS` is [`FormatSpec::mkfs_args`]. The force flag is added only when `overwrite` is
/// set, that is when the operator consented to destroying an existing signature. Without
/// it mkfs.xfs and mkfs.btrfs refuse a device that holds a signature, but mke2fs asks only
/// on a terminal and otherwise overwrites: the blkid re-check of [`crate::FsStep`] right
/// before mkfs is the guard that holds for every filesystem. Check the format with
/// [`crate::check_format`] first; this function does not validate.
///
/// ```
/// use std::path::Path;
/// use jts_fs::{FormatSpec, FsKind, Preset, mkfs_command};
///
/// let format = FormatSpec::new(FsKind::Ext4).with_preset(Preset::Postgresql).with_label("jts-pg");
/// let cmd = mkfs_command(&format, Path::new("/dev/vg_jts/lv_postgres"), false).unwrap();
/// assert_eq!(
///     cmd.to_shell(),
///     "mkfs.ext4 -q -L jts-pg -E 'lazy_itable_init=0,lazy_journal_init=0' /dev/vg_jts/lv_postgres"
/// );
/// ```
pub fn mkfs_command(format: &FormatSpec, device: &Path, overwrite: bool) -> Result<CmdSpec> {
    let (program, force) = match format.filesystem {
        FsKind::Ext4 => ("mkfs.ext4", "-F"),
        FsKind::Xfs => ("mkfs.xfs", "-f"),
        FsKind::Btrfs => ("mkfs.btrfs", "-f"),
        FsKind::None => return Err(Error::RawVolume { device: device.to_path_buf() }),
    };
    let mut cmd = CmdSpec::new(program);
    if format.filesystem == FsKind::Ext4 {
        cmd = cmd.arg("-q");
    }
    if overwrite {
        cmd = cmd.arg(force);
    }
    if let Some(label) = &format.label {
        cmd = cmd.opt("-L", label);
    }
    for arg in format.mkfs_args() {
        cmd = cmd.arg(arg);
    }
    Ok(cmd.arg(device))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::Preset;

    #[test]
    fn commands_per_filesystem() {
        let dev = Path::new("/dev/sdb1");
        let ext4 = FormatSpec::new(FsKind::Ext4).with_label("data");
        assert_eq!(mkfs_command(&ext4, dev, true).unwrap().to_shell(), "mkfs.ext4 -q -F -L data /dev/sdb1");
        let xfs = FormatSpec::new(FsKind::Xfs).with_preset(Preset::Docker);
        assert_eq!(mkfs_command(&xfs, dev, false).unwrap().to_shell(), "mkfs.xfs -n 'ftype=1' /dev/sdb1");
        assert_eq!(mkfs_command(&xfs, dev, true).unwrap().to_shell(), "mkfs.xfs -f -n 'ftype=1' /dev/sdb1");
        let btrfs = FormatSpec::new(FsKind::Btrfs).with_label("jts warm").with_mkfs_options(["--force", "-m", "dup"]);
        assert_eq!(mkfs_command(&btrfs, dev, false).unwrap().to_shell(), "mkfs.btrfs -L 'jts warm' -m dup /dev/sdb1");
        let raw = FormatSpec::new(FsKind::None);
        assert!(matches!(mkfs_command(&raw, dev, false), Err(Error::RawVolume { .. })));
    }
}
