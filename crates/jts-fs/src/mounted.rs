//! Where a block device is mounted, from `/proc/self/mountinfo`.
//!
//! Sources are compared after resolving symlinks, so `/dev/vg/lv`, `/dev/mapper/vg-lv`
//! and `/dev/dm-3` are the same device. (btrfs reports an anonymous device number in
//! mountinfo, so the source path is compared, not `major:minor`.)

use std::path::{Path, PathBuf};

/// The first mount point of `device` in `mountinfo` text, if any.
pub fn mount_point_in(mountinfo: &str, device: &Path) -> Option<PathBuf> {
    let wanted = std::fs::canonicalize(device).unwrap_or_else(|_| device.to_path_buf());
    mountinfo.lines().find_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        let mount_point = before.split(' ').nth(4)?;
        let source = after.split(' ').nth(1)?;
        let source = Path::new(source);
        let same = source == device || std::fs::canonicalize(source).is_ok_and(|s| s == wanted);
        same.then(|| PathBuf::from(unescape_octal(mount_point)))
    })
}

/// Where `device` is mounted on this machine now.
pub fn mount_point(device: &Path) -> Option<PathBuf> {
    mount_point_in(&std::fs::read_to_string("/proc/self/mountinfo").ok()?, device)
}

/// mountinfo escapes space, tab, newline and backslash as `\NNN` octal.
fn unescape_octal(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal =
            bytes.get(i + 1..i + 4).filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(digits) => {
                out.push(digits.iter().fold(0u8, |acc, d| acc.wrapping_mul(8).wrapping_add(d - b'0')));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda rw
36 22 254:3 / /srv/pg\\040data rw,noatime shared:9 - ext4 /dev/mapper/vg_jts-lv_pg rw
37 22 0:44 / /srv/backup rw shared:10 - btrfs /dev/mapper/vg_jts-lv_backup rw,space_cache=v2
";

    #[test]
    fn finds_the_mount_point_by_source_and_unescapes_it() {
        let found = mount_point_in(MOUNTINFO, Path::new("/dev/mapper/vg_jts-lv_pg"));
        assert_eq!(found, Some(PathBuf::from("/srv/pg data")));
        assert_eq!(mount_point_in(MOUNTINFO, Path::new("/dev/mapper/vg_jts-lv_backup")), Some("/srv/backup".into()));
        assert_eq!(mount_point_in(MOUNTINFO, Path::new("/dev/sdz")), None);
    }

    #[test]
    fn malformed_lines_are_skipped() {
        assert_eq!(mount_point_in("garbage\n1 2 3\n", Path::new("/dev/vda")), None);
    }
}
