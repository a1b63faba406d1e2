//! Volume group free space and snapshot copy-on-write fill, from lvm2's JSON reports.
//!
//! The input is an [`LvmReport`]: the parsed `vgs` and `lvs` reports of `jts_lvm` (the
//! same commands and parsers `jts-provision plan` uses), so the logic is tested with real
//! lvm2 fixtures. [`LvmReport::read`] runs the two commands through a
//! [`jts_core::Runner`]; [`crate::check_with_lvm`] runs that on a thread of its own and
//! waits no longer than the check's timeout, so a hung or absent lvm gives UNKNOWN, never
//! a hang. While an earlier read is still blocked, no second one is started.

use std::time::SystemTime;

use jts_core::Runner;
use jts_lvm::{LvInfo, LvmObserved, VgInfo};
use serde::{Deserialize, Serialize};

use crate::status::{FreeThresholds, Status, Thresholds};

/// Which volume groups to look at, and the levels that matter.
#[derive(Debug, Clone, PartialEq)]
pub struct LvmCheck {
    /// The tier label of the volume groups and snapshots (`hot` on a JTS host).
    pub tier: String,
    /// The volume groups to check; each must exist. Snapshots of these are checked.
    pub volume_groups: Vec<String>,
    /// Free-space levels of each volume group (default: warn at 10 % free, critical at 5 %).
    pub vg_free: FreeThresholds,
    /// Copy-on-write fill levels of each snapshot (default 80/90); an invalid (overflowed)
    /// snapshot is always CRITICAL.
    pub snapshot_fill: Thresholds,
    /// How long to wait for `vgs` and `lvs`; the check's timeout when `None`. lvm can be
    /// slower than a statvfs (it scans devices and takes locks), so a host may give it more.
    pub timeout: Option<std::time::Duration>,
}

impl LvmCheck {
    /// A check of `volume_groups` on tier `hot` with the default levels.
    pub fn new<S: AsRef<str>>(volume_groups: impl IntoIterator<Item = S>) -> Self {
        Self {
            tier: "hot".to_owned(),
            volume_groups: volume_groups.into_iter().map(|vg| vg.as_ref().to_owned()).collect(),
            vg_free: FreeThresholds::default(),
            snapshot_fill: Thresholds::default(),
            timeout: None,
        }
    }
}

/// The parsed `vgs` and `lvs` reports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LvmReport {
    /// Every volume group `vgs` listed.
    pub vgs: Vec<VgInfo>,
    /// Every logical volume `lvs` listed.
    pub lvs: Vec<LvInfo>,
}

impl LvmReport {
    /// Parses the stdout of [`jts_lvm::vgs_command`] and [`jts_lvm::lvs_command`].
    pub fn parse(vgs_json: &str, lvs_json: &str) -> jts_lvm::Result<Self> {
        Ok(Self { vgs: jts_lvm::parse_vgs(vgs_json)?, lvs: jts_lvm::parse_lvs(lvs_json)? })
    }

    /// Runs `vgs` and `lvs` through `runner` and parses them; the error is a message.
    pub fn read(runner: &dyn Runner) -> Result<Self, String> {
        let vgs = runner.run(&jts_lvm::vgs_command()).map_err(|err| err.to_string())?;
        let lvs = runner.run(&jts_lvm::lvs_command()).map_err(|err| err.to_string())?;
        Self::parse(&vgs.stdout, &lvs.stdout).map_err(|err| err.to_string())
    }
}

/// The state of one volume group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VgResult {
    /// The volume group.
    pub name: String,
    /// Its tier label.
    pub tier: String,
    /// Free space against the levels; UNKNOWN when lvm did not answer, CRITICAL when the
    /// group does not exist.
    pub status: Status,
    /// One line for a human.
    pub message: String,
    /// `vg_size` in bytes, when known.
    pub size_bytes: Option<u64>,
    /// `vg_free` in bytes, when known.
    pub free_bytes: Option<u64>,
    /// `free / size` between 0 and 1, when known.
    pub free_ratio: Option<f64>,
}

/// The state of one copy-on-write snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotResult {
    /// The snapshot LV.
    pub name: String,
    /// Its volume group.
    pub vg: String,
    /// The LV it is a snapshot of.
    pub origin: String,
    /// Its tier label.
    pub tier: String,
    /// COW fill against the levels; CRITICAL when invalid (overflowed).
    pub status: Status,
    /// One line for a human.
    pub message: String,
    /// lvm2's `data_percent` as a ratio between 0 and 1, when reported.
    pub cow_used_ratio: Option<f64>,
    /// Usable: not invalidated, COW space not full.
    pub valid: bool,
}

/// Classifies every volume group of `check` and every snapshot in them, from `report`, or
/// marks the groups UNKNOWN with `report`'s error.
pub fn lvm_results(
    check: &LvmCheck,
    report: Result<&LvmReport, &str>,
    now: SystemTime,
) -> (Vec<VgResult>, Vec<SnapshotResult>) {
    let report = match report {
        Ok(report) => report,
        Err(err) => {
            let unknown = check
                .volume_groups
                .iter()
                .map(|vg| VgResult {
                    name: vg.clone(),
                    tier: check.tier.clone(),
                    status: Status::Unknown,
                    message: format!("lvm: {err}"),
                    size_bytes: None,
                    free_bytes: None,
                    free_ratio: None,
                })
                .collect();
            return (unknown, Vec::new());
        }
    };
    let vgs = check
        .volume_groups
        .iter()
        .map(|name| match report.vgs.iter().find(|vg| &vg.name == name) {
            None => VgResult {
                name: name.clone(),
                tier: check.tier.clone(),
                status: Status::Critical,
                message: format!("volume group {name} not found (vgs does not list it)"),
                size_bytes: None,
                free_bytes: None,
                free_ratio: None,
            },
            Some(vg) => {
                let ratio = if vg.size == 0 { f64::NAN } else { vg.free as f64 / vg.size as f64 };
                let status = check.vg_free.classify(ratio * 100.0);
                let message = format!(
                    "volume group {name}: {:.1}% free, {} of {} (warn at {}%, crit at {}% free)",
                    ratio * 100.0,
                    crate::check::human_bytes(vg.free),
                    crate::check::human_bytes(vg.size),
                    check.vg_free.warn_below_percent(),
                    check.vg_free.crit_below_percent()
                );
                VgResult {
                    name: name.clone(),
                    tier: check.tier.clone(),
                    status,
                    message,
                    size_bytes: Some(vg.size),
                    free_bytes: Some(vg.free),
                    free_ratio: ratio.is_finite().then_some(ratio),
                }
            }
        })
        .collect();
    let observed = LvmObserved { vgs: report.vgs.clone(), lvs: report.lvs.clone(), ..LvmObserved::default() };
    let snapshots = jts_lvm::list_snapshots(&observed, now)
        .into_iter()
        .filter(|snap| check.volume_groups.contains(&snap.vg))
        .map(|snap| {
            let percent = snap.cow_fill_percent.map(|p| f64::from(p.hundredths()) / 100.0);
            let (status, message) = match (snap.valid, percent) {
                (false, _) => (
                    Status::Critical,
                    format!(
                        "snapshot {} of {} is invalid: its copy-on-write space overflowed ({}); it cannot be \
                         restored from, remove it and take a bigger one",
                        snap.name,
                        snap.origin,
                        snap.cow_fill_percent.map_or_else(|| "fill unknown".to_owned(), |p| format!("{p} full"))
                    ),
                ),
                (true, None) => (Status::Unknown, format!("snapshot {}: lvm reports no COW fill", snap.name)),
                (true, Some(percent)) => (
                    check.snapshot_fill.classify(percent),
                    format!(
                        "snapshot {} of {}: COW {percent:.2}% full (warn {}%, crit {}%)",
                        snap.name,
                        snap.origin,
                        check.snapshot_fill.warn_percent(),
                        check.snapshot_fill.crit_percent()
                    ),
                ),
            };
            SnapshotResult {
                name: snap.name,
                vg: snap.vg,
                origin: snap.origin,
                tier: check.tier.clone(),
                status,
                message,
                cow_used_ratio: percent.map(|p| p / 100.0),
                valid: snap.valid,
            }
        })
        .collect();
    (vgs, snapshots)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VGS_FULL: &str = include_str!("../../jts-lvm/tests/fixtures/vgs-full.json");
    const LVS_FULL: &str = include_str!("../../jts-lvm/tests/fixtures/lvs-full.json");

    fn full() -> LvmReport {
        LvmReport::parse(VGS_FULL, LVS_FULL).unwrap()
    }

    #[test]
    fn real_lvm2_reports_give_vg_free_and_snapshot_fill() {
        let check = LvmCheck::new(["vg_jts"]);
        let (vgs, snaps) = lvm_results(&check, Ok(&full()), SystemTime::UNIX_EPOCH);
        assert_eq!(vgs.len(), 1);
        assert_eq!(
            (vgs[0].status, vgs[0].free_bytes, vgs[0].size_bytes),
            (Status::Ok, Some(3502243840), Some(4290772992))
        );
        let by_name = |n: &str| snaps.iter().find(|s| s.name.starts_with(n)).unwrap();
        assert_eq!(snaps.len(), 3);
        let small = by_name("lv_pg-snap-20260101");
        assert_eq!((small.status, small.cow_used_ratio, small.tier.as_str()), (Status::Ok, Some(0.1257), "hot"));
        assert_eq!(by_name("lv_pg-snap-20260102").status, Status::Ok);
        let overflowed = by_name("lv_small-snap");
        assert_eq!((overflowed.status, overflowed.valid), (Status::Critical, false));
        assert!(overflowed.message.contains("overflowed"), "{}", overflowed.message);
    }

    #[test]
    fn thresholds_missing_groups_and_an_absent_lvm() {
        let mut check = LvmCheck::new(["vg_jts", "vg_gone"]);
        check.vg_free = FreeThresholds::new(90.0, 50.0).unwrap(); // 81.6 % free: warning
        check.snapshot_fill = Thresholds::new(50.0, 60.0).unwrap(); // 50.29 %: warning
        let (vgs, snaps) = lvm_results(&check, Ok(&full()), SystemTime::UNIX_EPOCH);
        assert_eq!(vgs.iter().map(|v| v.status).collect::<Vec<_>>(), [Status::Warning, Status::Critical]);
        assert!(vgs[1].message.contains("vg_gone not found"), "{}", vgs[1].message);
        assert_eq!(snaps.iter().find(|s| s.name.contains("20260102")).unwrap().status, Status::Warning);
        let (vgs, snaps) = lvm_results(&check, Err("vgs: not found"), SystemTime::UNIX_EPOCH);
        assert!(vgs.iter().all(|v| v.status == Status::Unknown && v.message == "lvm: vgs: not found"));
        assert!(snaps.is_empty());
    }

    #[test]
    fn an_empty_report_lists_nothing() {
        let empty = LvmReport::parse(
            include_str!("../../jts-lvm/tests/fixtures/vgs-empty.json"),
            include_str!("../../jts-lvm/tests/fixtures/lvs-empty.json"),
        )
        .unwrap();
        let (vgs, snaps) = lvm_results(&LvmCheck::new(["vg_jts"]), Ok(&empty), SystemTime::UNIX_EPOCH);
        assert_eq!((vgs[0].status, snaps.len()), (Status::Critical, 0));
    }
}
