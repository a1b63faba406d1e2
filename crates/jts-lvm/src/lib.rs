//! LVM for jts-storage: the `[volume_groups.*]` and `[snapshots.*]` spec sections.
//!
//! The loop is the one every concern follows:
//!
//! 1. [`check()`] the spec (pure; every problem with its location and its fix);
//! 2. [`observe()`] LVM and the spec'd devices into an [`LvmObserved`], by running
//!    `pvs`/`vgs`/`lvs --reportformat json`, `blockdev` and `wipefs` through a
//!    [`jts_core::Runner`] (the parsers are public: [`parse_pvs`], [`parse_vgs`],
//!    [`parse_lvs`], [`parse_wipefs`]);
//! 3. [`plan()`] the steps (pure): PVs, the VG, then LV shrinks, growths and creations,
//!    sized in whole extents by [`layout`]; a VG whose volumes do not fit fails the plan
//!    with a [`CapacityError`] stating needed and available GiB;
//! 4. run the [`LvmStep`]s with [`jts_core::execute`], which re-checks each step's
//!    preconditions against a fresh observation first.
//!
//! Snapshots: [`plan_snapshots`] names them with [`snapshot_name`] (UTC timestamps),
//! [`list_snapshots`] reports age, COW fill and validity, and [`plan_prune`] applies the
//! pure retention planner [`prune`]; [`plan_rollback`] merges one back into its origin
//! (destructive: consent names the origin). A `volume` backup's temporary snapshot is
//! made and read through [`create_backup_snapshot_command`] and [`read_lv`]; its name
//! ([`backup_snapshot_name`]) keeps it out of retention.
//!
//! Destructive steps ([`LvmStep::destructive`]): `pvcreate` on a device with any
//! signature or partition table, and `lvreduce`. Their [`jts_core::StepInfo::object`]
//! is the device path or the LV name that `allow_destroy` must list. Removing a snapshot
//! is governed by its policy instead (see [`LvmStep::RemoveSnapshot`]).
//!
//! ```
//! use jts_core::{AbsPath, Root, Step};
//! use jts_lvm::{DeviceInfo, LvmObserved, LvmSpec, check, plan};
//!
//! let spec: LvmSpec = toml::from_str(r#"
//!     [volume_groups.vg_jts]
//!     devices = ["/dev/nvme0n1"]
//!     data_alignment = "4MiB"
//!     reserve = "5%"
//!     [volume_groups.vg_jts.volumes.lv_postgres]
//!     size = "800GiB"
//!     filesystem = "ext4"
//!     [volume_groups.vg_jts.volumes.lv_clickhouse]
//!     size = "rest"
//!     filesystem = "ext4"
//! "#).unwrap();
//! assert!(check(&spec).is_empty());
//!
//! // A blank 4 TB disk, as `observe` would report it.
//! let mut observed = LvmObserved::default();
//! let disk = DeviceInfo { present: true, size: 4_000_787_030_016, signatures: vec![] };
//! observed.devices.insert(AbsPath::new("/dev/nvme0n1").unwrap(), disk);
//!
//! let steps = plan(&spec, &observed).unwrap();
//! let first = steps.steps[0].info(&Root::host());
//! assert_eq!(first.commands, ["pvcreate --dataalignment 4m /dev/nvme0n1"]);
//! steps.simulate(&mut observed);
//! assert!(plan(&spec, &observed).unwrap().is_empty(), "a second plan has nothing to do");
//! ```

mod apply;
mod attr;
mod backup_snapshot;
mod check;
mod error;
mod names;
mod observe;
mod plan;
mod report;
mod retention;
mod rollback;
mod sizing;
mod snapshot;
mod spec;
mod state;
mod step;

pub use attr::{LvAttr, VolumeType};
pub use backup_snapshot::{
    BACKUP_SNAPSHOT_INFIX, DEFAULT_BACKUP_COW, backup_snapshot_name, backup_snapshots_of,
    create_backup_snapshot_command, is_backup_snapshot, read_lv, remove_lv_command,
};
pub use check::check;
pub use error::{Error, Result};
pub use observe::{
    LV_FIELDS, PV_FIELDS, VG_FIELDS, lvs_command, observe, pvs_command, size_command, vgs_command, wipefs_command,
};
pub use plan::plan;
pub use report::{parse_lvs, parse_pvs, parse_size64, parse_vgs, parse_wipefs};
pub use retention::{PruneReason, Pruned, prune};
pub use rollback::{deferred_merge_advice, deferred_merge_note, plan_rollback, refuse_rollback_without_consent};
pub use sizing::{
    CapacityError, GIB, Limit, Need, Occupant, VgLayout, VgShortfall, estimate_extents, extents_for, gib, layout,
    pe_start_for, percent_of,
};
pub use snapshot::{
    SNAPSHOT_INFIX, SnapshotInfo, list_snapshots, parse_snapshot_name, plan_prune, plan_snapshots, snapshot_name,
    unix_seconds,
};
pub use spec::{
    DEFAULT_DATA_ALIGNMENT, DEFAULT_EXTENT_SIZE, LvmSpec, Reserve, SizeRequest, SnapshotPolicy, VgSpec, VolumeSpec,
    lv_path,
};
pub use state::{DeviceInfo, LvInfo, LvmObserved, Percent, PvInfo, Signature, VgInfo};
pub use step::{LvmStep, lvm_size};
