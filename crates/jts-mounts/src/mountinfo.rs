//! `/proc/self/mountinfo`: every field of every line, typed.
//!
//! ```text
//! 36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//! (1)(2)(3)   (4)   (5)         (6)       (7)     (8) (9)   (10)      (11)
//! ```
//! (7) is zero or more optional fields ended by the `-` separator (8).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::escape::decode_octal;

/// One mount, as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountInfo {
    /// Unique id of the mount.
    pub mount_id: u32,
    /// Id of the parent mount.
    pub parent_id: u32,
    /// `st_dev` major of files on this filesystem (anonymous for btrfs and NFS).
    pub major: u32,
    /// `st_dev` minor.
    pub minor: u32,
    /// The directory of the filesystem that forms the root of this mount, decoded.
    pub root: String,
    /// The mount point, decoded (relative to the process's root).
    pub mount_point: String,
    /// Per-mount options: `rw`/`ro`, `noatime`, `nodev`, ….
    pub mount_options: Vec<String>,
    /// Optional fields such as `shared:1` or `master:3`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub optional_fields: Vec<String>,
    /// The filesystem type, e.g. `ext4` or `nfs4`.
    pub fstype: String,
    /// The mount source, decoded: a device, `host:/path`, or a name like `tmpfs`.
    pub source: String,
    /// Per-superblock options: the filesystem's own, as the kernel normalised them.
    pub super_options: Vec<String>,
}

impl MountInfo {
    /// Parses one line.
    ///
    /// ```
    /// let line = r"42 27 7:0 / /srv/pg\040data rw,nodev,noatime shared:7 - ext4 /dev/loop0 rw,commit=10";
    /// let mount = jts_mounts::MountInfo::parse(line).unwrap();
    /// assert_eq!(mount.mount_point, "/srv/pg data");
    /// assert_eq!(mount.optional_fields, ["shared:7"]);
    /// assert_eq!(mount.super_options, ["rw", "commit=10"]);
    /// ```
    pub fn parse(line: &str) -> Result<Self, &'static str> {
        let fields: Vec<&str> = line.split(' ').collect();
        let separator = fields.iter().position(|f| *f == "-").ok_or("no `-` separator")?;
        if separator < 6 {
            return Err("fewer than six fields before the separator");
        }
        let after = &fields[separator + 1..];
        if after.len() < 3 {
            return Err("fewer than three fields after the separator");
        }
        let number = |text: &str| text.parse::<u32>().map_err(|_| "a number field is not a number");
        let (major, minor) = fields[2].split_once(':').ok_or("major:minor has no colon")?;
        let options = |text: &str| text.split(',').filter(|o| !o.is_empty()).map(decode_octal).collect();
        Ok(Self {
            mount_id: number(fields[0])?,
            parent_id: number(fields[1])?,
            major: number(major)?,
            minor: number(minor)?,
            root: decode_octal(fields[3]),
            mount_point: decode_octal(fields[4]),
            mount_options: options(fields[5]),
            optional_fields: fields[6..separator].iter().map(|f| (*f).to_owned()).collect(),
            fstype: decode_octal(after[0]),
            source: decode_octal(after[1]),
            super_options: options(&after[2..].join(" ")),
        })
    }

    /// `major:minor`.
    pub fn devno(&self) -> String {
        format!("{}:{}", self.major, self.minor)
    }

    /// Whether the mount is read-only (per mount or per superblock).
    pub fn read_only(&self) -> bool {
        self.mount_options.iter().chain(&self.super_options).any(|o| o == "ro")
    }
}

/// Parses the whole file; a malformed line is an error naming it.
pub fn parse_mountinfo(text: &str) -> Result<Vec<MountInfo>> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.is_empty())
        .map(|(index, line)| {
            MountInfo::parse(line).map_err(|reason| Error::Mountinfo { line: index + 1, reason, text: line.to_owned() })
        })
        .collect()
}

/// Reads and parses `/proc/self/mountinfo`.
pub fn read_mountinfo() -> Result<Vec<MountInfo>> {
    use std::io::Read;
    let path = "/proc/self/mountinfo";
    let read = |source| Error::Read { path: path.into(), source };
    // The file reports size 0, so `read_to_string` would start from a 32-byte read and
    // double: one buffer that holds a typical table makes it one read and an end.
    let mut text = String::with_capacity(64 << 10);
    std::fs::File::open(path).and_then(|mut file| file.read_to_string(&mut text)).map_err(read)?;
    parse_mountinfo(&text)
}

/// The mount visible at `path`: the last one mounted there (the top of the stack).
pub fn mount_at<'a>(mounts: &'a [MountInfo], path: &str) -> Option<&'a MountInfo> {
    mounts.iter().rev().find(|mount| mount.mount_point == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../tests/fixtures/mountinfo/loop-ext4-xfs-btrfs.txt");

    #[test]
    fn parses_real_lines_captured_on_this_machine_kind() {
        let mounts = parse_mountinfo(FIXTURE).unwrap();
        let pg = mount_at(&mounts, "/tmp/mi/m/pg data").unwrap();
        assert_eq!((pg.mount_id, pg.parent_id, pg.devno()), (42, 27, "7:0".to_owned()));
        assert_eq!(pg.mount_options, ["rw", "nosuid", "nodev", "noatime"]);
        assert_eq!(pg.super_options, ["rw", "discard", "errors=remount-ro", "commit=10", "data=ordered"]);
        assert_eq!((pg.fstype.as_str(), pg.source.as_str()), ("ext4", "/dev/loop0"));
        let warm = mount_at(&mounts, "/tmp/mi/m/warm").unwrap();
        assert!(warm.super_options.contains(&"compress=zstd:3".to_owned()));
        assert_eq!(warm.devno(), "0:39", "btrfs reports an anonymous device number");
        let nested = mount_at(&mounts, "/tmp/mi/m/pg data/nested").unwrap();
        assert_eq!(nested.parent_id, pg.mount_id);
        assert!(!pg.read_only());
    }

    #[test]
    fn optional_fields_and_the_top_of_a_stack() {
        let text = "1 0 8:1 / /x rw shared:1 master:2 - ext4 /dev/a rw\n2 1 8:2 / /x ro - xfs /dev/b ro\n";
        let mounts = parse_mountinfo(text).unwrap();
        assert_eq!(mounts[0].optional_fields, ["shared:1", "master:2"]);
        let top = mount_at(&mounts, "/x").unwrap();
        assert_eq!(top.source, "/dev/b");
        assert!(top.read_only());
    }

    #[test]
    fn malformed_lines_are_errors_naming_the_line() {
        let err = parse_mountinfo("1 0 8:1 / /x rw - ext4 /dev/a rw\ngarbage\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(MountInfo::parse("1 0 81 / /x rw - ext4 /dev/a rw").is_err());
        assert!(MountInfo::parse("1 0 8:1 / /x rw - ext4").is_err());
    }
}
