//! Mounts for jts-storage: fstab, the mount table, NFS, and the steps between them.
//!
//! - [`Fstab`] is a lossless /etc/fstab editor: parse → render is byte-identical for any
//!   input, entries are keyed by mount point, [`Fstab::upsert`] changes one line in place
//!   or appends one, never duplicates; [`write_fstab`] writes atomically after a
//!   timestamped backup.
//! - [`MountInfo`] parses `/proc/self/mountinfo`; [`compare_options`] tells what differs
//!   between the options a spec asks for and what the kernel shows, without flapping on
//!   kernel defaults, normalised forms or NFS sizes the server clamped.
//! - [`MountsSpec`] is the `[filesystems.*]` and `[nfs_mounts.*]` spec; [`check()`] and
//!   [`check_warnings`] report every problem with the option and the fix (jts-fs's rules
//!   table for local filesystems, [`check_nfs_options`] for NFS).
//! - [`observe()`] reads the machine into an [`Observed`]; [`plan()`] is pure and gives
//!   [`MountStep`]s: `CreateMountPoint`, `Mount` and `Remount`, parents before
//!   children, then one `WriteFstab`: a line is written only once its mount worked.
//!   Nothing is ever unmounted.
//! - [`BootPolicy`] adds `nofail` and systemd's timeouts, so a missing disk or a
//!   silent NAS never holds the boot.
//! - [`trim()`] runs fstrim over the managed mounts, one filesystem never stopping the
//!   others.
//! - [`requires_mounts_dropins`], [`nvme_scheduler_rule`] and [`mount_unit`] render the system integration as files for the caller to write.
//!
//! ```
//! use jts_core::Step;
//! use jts_mounts::{MountsSpec, Observed, check, plan};
//!
//! let spec: MountsSpec = toml::from_str(r#"
//!     [filesystems.warm]
//!     device = "/dev/sda2"
//!     filesystem = "btrfs"
//!     mount_point = "/data/warm-storage"
//!     mount_options = ["compress=zstd:3", "noatime"]
//! "#).unwrap();
//! assert!(check(&spec, &[]).is_empty());
//! let mut observed = Observed::default(); // a blank machine
//! observed.fstab = Some("# /etc/fstab\n".into());
//! let steps = plan(&spec.targets(), &observed);
//! let kinds: Vec<&str> = steps.steps.iter().map(|s| s.info(&jts_core::Root::host()).kind).collect();
//! assert_eq!(kinds, ["CreateMountPoint", "Mount", "WriteFstab"]);
//! steps.simulate(&mut observed);
//! assert!(plan(&spec.targets(), &observed).is_empty(), "a second plan has nothing to do");
//! ```

mod apply;
mod boot;
mod check;
mod error;
mod escape;
mod fstab;
mod fstab_file;
mod mountinfo;
mod nfs;
mod observe;
mod options;
mod plan;
mod spec;
mod state;
mod step;
mod systemd;
mod trim;

pub use boot::BootPolicy;
pub use check::{check, check_warnings, nesting};
pub use error::{Error, Result};
pub use escape::{decode_octal, encode_octal};
pub use fstab::{Fstab, FstabEntry};
pub use fstab_file::{FSTAB, backup_path, read_fstab, write_fstab};
pub use mountinfo::{MountInfo, mount_at, parse_mountinfo, read_mountinfo};
pub use nfs::{check_nfs_options, check_nfs_source};
pub use observe::{observe, rebase};
pub use options::{OptionDiff, compare_options, is_userspace_only, simulated_options};
pub use plan::{fstab_entry, plan};
pub use spec::{FilesystemSpec, IdentifyBy, MountFs, MountSource, MountTarget, MountsSpec, NfsMountSpec};
pub use state::{DeviceIds, Observed, PathKind};
pub use step::{ChangedLine, MountStep, PendingId};
pub use systemd::{
    DATABASE_UNITS, RenderedFile, mount_unit, mount_unit_name, nvme_scheduler_rule, requires_mounts_dropins,
    systemd_escape_path, unit_path,
};
pub use trim::{TrimOutcome, Trimmed, trim};
