//! [`LvmObserved`]: the PVs, VGs, LVs and devices the spec talks about.
//!
//! It serializes to JSON in a deterministic order (`jts-provision probe`), and
//! `plan --state FILE` plans from such a file offline.

use std::collections::BTreeMap;
use std::fmt;

use jts_core::AbsPath;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::attr::LvAttr;

/// What LVM and the spec'd devices look like.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LvmObserved {
    /// PVs on spec'd devices or in spec'd VGs, by name.
    pub pvs: Vec<PvInfo>,
    /// Spec'd VGs that exist, by name.
    pub vgs: Vec<VgInfo>,
    /// LVs of spec'd VGs, by VG then name.
    pub lvs: Vec<LvInfo>,
    /// Each spec'd device.
    pub devices: BTreeMap<AbsPath, DeviceInfo>,
}

impl LvmObserved {
    /// The PV named `name` (as `pvs` names it, e.g. `/dev/vdb`).
    pub fn pv(&self, name: &str) -> Option<&PvInfo> {
        self.pvs.iter().find(|pv| pv.name == name)
    }

    /// The VG named `name`.
    pub fn vg(&self, name: &str) -> Option<&VgInfo> {
        self.vgs.iter().find(|vg| vg.name == name)
    }

    /// The LV `name` of VG `vg`.
    pub fn lv(&self, vg: &str, name: &str) -> Option<&LvInfo> {
        self.lvs.iter().find(|lv| lv.vg == vg && lv.name == name)
    }

    /// The LVs of VG `vg`.
    pub fn lvs_of<'a>(&'a self, vg: &'a str) -> impl Iterator<Item = &'a LvInfo> {
        self.lvs.iter().filter(move |lv| lv.vg == vg)
    }

    pub(crate) fn vg_mut(&mut self, name: &str) -> Option<&mut VgInfo> {
        self.vgs.iter_mut().find(|vg| vg.name == name)
    }

    pub(crate) fn lv_mut(&mut self, vg: &str, name: &str) -> Option<&mut LvInfo> {
        self.lvs.iter_mut().find(|lv| lv.vg == vg && lv.name == name)
    }

    /// Restores the documented order after a change.
    pub(crate) fn sort(&mut self) {
        self.pvs.sort_by(|a, b| a.name.cmp(&b.name));
        self.vgs.sort_by(|a, b| a.name.cmp(&b.name));
        self.lvs.sort_by(|a, b| (&a.vg, &a.name).cmp(&(&b.vg, &b.name)));
    }
}

/// One row of `pvs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PvInfo {
    /// The device, e.g. `/dev/vdb`.
    pub name: String,
    /// Its VG; `None` for an orphan PV.
    pub vg: Option<String>,
    /// The PV UUID.
    pub uuid: String,
    /// Size of the underlying device, bytes.
    pub dev_size: u64,
    /// Size of the PV, bytes: the device size for an orphan, the extents' size in a VG.
    pub size: u64,
    /// Unallocated bytes.
    pub free: u64,
    /// Offset of the first extent on the device, bytes.
    pub pe_start: u64,
    /// Physical extents (0 until the PV joins a VG).
    pub pe_count: u64,
    /// Allocated physical extents.
    pub pe_alloc_count: u64,
}

/// One row of `vgs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VgInfo {
    /// The VG name.
    pub name: String,
    /// The VG UUID.
    pub uuid: String,
    /// Size, bytes.
    pub size: u64,
    /// Unallocated bytes.
    pub free: u64,
    /// The extent size, bytes.
    pub extent_size: u64,
    /// Total extents.
    pub extent_count: u64,
    /// Unallocated extents.
    pub free_count: u64,
    /// Number of PVs.
    pub pv_count: u64,
    /// Number of LVs, snapshots included.
    pub lv_count: u64,
}

/// One row of `lvs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LvInfo {
    /// Its VG.
    pub vg: String,
    /// The LV name.
    pub name: String,
    /// The LV UUID.
    pub uuid: String,
    /// Size, bytes; for a snapshot, the size of its COW space.
    pub size: u64,
    /// `lv_attr`, decoded.
    pub attr: LvAttr,
    /// For a snapshot, the LV it is a snapshot of.
    pub origin: Option<String>,
    /// For a snapshot, how full its COW space is (`data_percent`, else `snap_percent`);
    /// `None` when not applicable or the LV is inactive.
    pub data_percent: Option<Percent>,
    /// Creation time, seconds since the epoch (`lv_time`), when known.
    pub created: Option<i64>,
}

/// A block device named in the spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// Whether the device node exists.
    pub present: bool,
    /// Size, bytes (`blockdev --getsize64`); 0 when absent.
    pub size: u64,
    /// Every signature `wipefs` finds: filesystems, RAID and LVM labels, partition tables.
    pub signatures: Vec<Signature>,
}

/// One signature found by `wipefs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// What it is: `"ext4"`, `"LVM2_member"`, `"gpt"`, `"PMBR"`, ….
    pub kind: String,
    /// Where, as `wipefs` prints it, e.g. `"0x438"`.
    pub offset: String,
}

/// A percentage with two decimals, as lvm2 prints it (`"12.57"`). Serialized as a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Percent(u32);

impl Percent {
    /// Full: 100.00 %.
    pub const FULL: Self = Self(10_000);

    /// A percentage of `hundredths` hundredths of a percent.
    pub const fn from_hundredths(hundredths: u32) -> Self {
        Self(hundredths)
    }

    /// The value in hundredths of a percent.
    pub const fn hundredths(self) -> u32 {
        self.0
    }

    /// Parses `"12.57"`, `"100"` or `"7.5"`; more than two decimals are truncated.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (whole, fraction) = match text.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (text, None),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || !fraction.is_none_or(digits) {
            return None;
        }
        let whole: u32 = whole.parse().ok().filter(|w| *w <= 100_000)?;
        let mut hundredths = whole * 100;
        for (place, digit) in [10, 1].into_iter().zip(fraction.unwrap_or_default().bytes()) {
            hundredths += place * u32::from(digit - b'0');
        }
        Some(Self(hundredths))
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}%", self.0 / 100, self.0 % 100)
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(f64::from(self.0) / 100.0)
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = f64::deserialize(deserializer)?;
        // `as` saturates: NaN and negatives become 0, huge values u32::MAX.
        Ok(Self((value * 100.0).round() as u32))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn percent_parses_lvm_output() {
        assert_eq!(Percent::parse("12.57"), Some(Percent::from_hundredths(1257)));
        assert_eq!(Percent::parse("100.00"), Some(Percent::FULL));
        assert_eq!(Percent::parse("7.5"), Some(Percent::from_hundredths(750)));
        assert_eq!(Percent::parse("3"), Some(Percent::from_hundredths(300)));
        for bad in ["", ".5", "5.", "-1", "1e3", "12.5x", "9999999999"] {
            assert_eq!(Percent::parse(bad), None, "{bad}");
        }
        assert_eq!(Percent::from_hundredths(1257).to_string(), "12.57%");
    }

    #[test]
    fn percent_is_a_json_number() {
        let text = serde_json::to_string(&Percent::from_hundredths(5029)).unwrap();
        assert_eq!(text, "50.29");
        assert_eq!(serde_json::from_str::<Percent>(&text).unwrap(), Percent::from_hundredths(5029));
    }

    proptest! {
        #[test]
        fn percent_parse_never_panics(text in ".*") {
            let _ = Percent::parse(&text);
        }

        #[test]
        fn percent_round_trips(hundredths in 0u32..10_000_000) {
            let percent = Percent::from_hundredths(hundredths);
            let text = format!("{}.{:02}", hundredths / 100, hundredths % 100);
            prop_assert_eq!(Percent::parse(&text), Some(percent));
            let json = serde_json::to_string(&percent).unwrap();
            prop_assert_eq!(serde_json::from_str::<Percent>(&json).unwrap(), percent);
        }
    }
}
