//! [`Observed`]: what the machine has, for exactly the mounts a spec declares.
//!
//! It serializes to JSON, so `plan --state FILE` plans offline with no root and no devices.

use std::collections::BTreeMap;

use jts_core::AbsPath;
use serde::{Deserialize, Serialize};

use crate::mountinfo::MountInfo;

/// The observed state of fstab, mounts, devices and mount points.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// The text of `/etc/fstab` under the root; `None` when there is none.
    pub fstab: Option<String>,
    /// The mounts under the root, mount points as spec paths (the root prefix removed).
    pub mounts: Vec<MountInfo>,
    /// What blkid and stat say about each local device a target names.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub devices: BTreeMap<AbsPath, DeviceIds>,
    /// What is at each mount point.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub paths: BTreeMap<AbsPath, PathKind>,
}

/// How a local device can be recognised.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceIds {
    /// The filesystem UUID (`blkid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// The filesystem label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The filesystem type blkid found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fstype: Option<String>,
    /// `major:minor` of the block device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devno: Option<String>,
    /// The device path with symlinks resolved (`/dev/vg/lv` → `/dev/dm-3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canonical: Option<String>,
}

/// What is at a mount point, as `lstat` sees it, never following a symlink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PathKind {
    /// Nothing.
    Missing,
    /// A directory.
    Directory,
    /// Something jts will not mount on: a symlink, a file, or a path below one.
    Blocked {
        /// What is in the way, e.g. `"symlink at /data"`.
        what: String,
    },
}
