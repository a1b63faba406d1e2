//! Filesystems for jts-storage: ext4, XFS and btrfs on LVM volumes and plain devices.
//!
//! - [`FormatSpec`] says what to make on a device: filesystem, workload [`Preset`], extra
//!   mkfs arguments, label.
//! - [`preset_mkfs_args`] and [`preset_mount_options`] give each preset's tuning on each
//!   filesystem, correct on Linux 6.1 and newer, with [`preset_rationale`] saying why.
//! - [`check_format`], [`check_mount_options`] and [`check_filesystem`] are the rules table:
//!   every mkfs argument, mount option, feature combination and device size is checked
//!   before anything runs, and each [`Problem`] names the option and the fix.
//! - [`mkfs_command`] and [`grow_commands`] build the commands; [`can_shrink`] says whether
//!   a filesystem may shrink.
//! - [`observe_device`] reads the signature (`blkid`) and the filesystem size (`tune2fs`,
//!   `xfs_info`, `btrfs inspect-internal dump-super`) into an [`FsObserved`].
//! - [`FsStep`] makes and grows filesystems as plan steps.
//!
//! ```
//! use std::path::Path;
//! use jts_fs::{FormatSpec, FsKind, Preset, check_filesystem, has_errors, mkfs_command, preset_mount_options};
//!
//! // Seed 002's Kafka line: `nobarrier` was removed from XFS in Linux 4.19.
//! let kafka = FormatSpec::new(FsKind::Xfs).with_preset(Preset::Kafka).with_label("jts-kafka");
//! let seed_mount: Vec<String> = ["noatime", "nobarrier", "logbufs=8", "logbsize=256k"].map(String::from).into();
//! let problems = check_filesystem(&kafka, &seed_mount, Some(600 << 30));
//! assert!(has_errors(&problems));
//! assert_eq!(problems[0].option, "nobarrier");
//!
//! // The preset keeps what works.
//! assert_eq!(preset_mount_options(Preset::Kafka, FsKind::Xfs), ["noatime", "logbufs=8", "logbsize=256k"]);
//! assert!(check_filesystem(&kafka, &[], Some(600 << 30)).is_empty());
//! let cmd = mkfs_command(&kafka, Path::new("/dev/vg_jts/lv_kafka"), false).unwrap();
//! assert_eq!(cmd.to_shell(), "mkfs.xfs -L jts-kafka /dev/vg_jts/lv_kafka");
//! ```

mod adopted;
mod error;
mod format;
mod grow;
mod kind;
mod mkfs;
mod mkfs_args;
mod mounted;
mod observe;
mod presets;
mod rules;
mod step;

pub use adopted::refused_by_features;
pub use error::{Error, Result};
pub use format::FormatSpec;
pub use grow::{can_shrink, grow_commands};
pub use kind::{FsKind, Preset};
pub use mkfs::mkfs_command;
pub use mounted::mount_point;
pub use observe::{
    DeviceFs, FsObserved, GROW_SLACK, Signature, blkid_command, observe_device, parse_btrfs_features,
    parse_btrfs_super_size, parse_tune2fs_features, parse_tune2fs_size, parse_xfs_info_features, parse_xfs_info_size,
    probe_signature,
};
pub use presets::{effective_mount_options, preset_mkfs_args, preset_mount_options, preset_rationale};
pub use rules::{Problem, Severity, check_filesystem, check_format, check_mount_options, has_errors};
pub use step::FsStep;
