//! Sizing, pure: how many extents each volume of a VG gets.
//!
//! - A VG's **usable** extents are its total extents minus the reserve, the reserve
//!   rounded **up** to whole extents (a percentage of the total, or a size).
//! - An absolute size is rounded **up** to whole extents, never down.
//! - A percentage is of the VG's **total** extents, rounded up.
//! - `rest` is the usable extents minus every other volume, declared or not (snapshots
//!   excepted: they live in the reserve), and must be at least one extent.
//!
//! For a VG that does not exist yet, its extents are estimated from its devices (see
//! [`estimate_extents`]).

use std::collections::BTreeMap;
use std::fmt;

use jts_core::SpecError;
use serde::Serialize;

use crate::spec::{LvmSpec, Reserve, SizeRequest, VgSpec};

/// One gibibyte.
pub const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// The whole extents of `extent_size` bytes that hold `bytes`, rounded up.
pub fn extents_for(bytes: u64, extent_size: u64) -> u64 {
    bytes.div_ceil(extent_size.max(1))
}

/// `percent` % of `total` extents, rounded up.
pub fn percent_of(total: u64, percent: u8) -> u64 {
    let extents = (u128::from(total) * u128::from(percent)).div_ceil(100);
    u64::try_from(extents).unwrap_or(u64::MAX)
}

/// Where lvm2 starts the first extent of a PV made with `pvcreate --dataalignment
/// ALIGNMENT`: after the label and the default metadata area, which end at 1 MiB,
/// rounded up to a multiple of the alignment (4 MiB for `--dataalignment 4m`, 1 MiB for
/// `1m` or `64k`). jts always passes `--dataalignment`, so lvm2's detection of the
/// device's I/O topology never moves it.
pub fn pe_start_for(alignment: u64) -> u64 {
    let alignment = alignment.max(1);
    MIB.div_ceil(alignment).saturating_mul(alignment)
}

/// The extents a PV of `dev_size` bytes yields once in a VG: `(dev_size − pe_start) /
/// extent_size`, rounded down, as lvm2 computes it.
///
/// Verified against lvm2 2.03.16: 2 GiB at `--dataalignment 4m` gives 511 extents of
/// 4 MiB, 1 GiB at `1m` gives 255, and 1 GiB + 5 MiB + 4 KiB at `64k` gives 257. It is
/// exact for lvm2's default metadata layout; should a PV yield fewer extents, the
/// steps' preconditions (free extents) stop the apply before any LV is touched, and a
/// new plan uses the real numbers.
pub fn estimate_extents(dev_size: u64, pe_start: u64, extent_size: u64) -> u64 {
    dev_size.saturating_sub(pe_start) / extent_size.max(1)
}

/// An LV that takes space in a VG but is not one of its declared volumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Occupant {
    /// The LV name.
    pub name: String,
    /// Its extents.
    pub extents: u64,
    /// Whether it is a copy-on-write snapshot (those live in the reserve).
    pub snapshot: bool,
}

/// The extents of every declared volume of one VG.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VgLayout {
    /// The extent size, bytes.
    pub extent_size: u64,
    /// Total extents, observed or estimated.
    pub total: u64,
    /// Extents kept free.
    pub reserve: u64,
    /// `total − reserve`.
    pub usable: u64,
    /// Each declared volume's extents.
    pub volumes: BTreeMap<String, u64>,
}

/// One declared volume in a [`VgShortfall`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Need {
    /// The LV name.
    pub name: String,
    /// What the spec asks.
    #[serde(serialize_with = "serialize_display")]
    pub request: SizeRequest,
    /// Extents it needs (at least one for `rest`).
    pub extents: u64,
}

fn serialize_display<S: serde::Serializer>(value: &SizeRequest, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// What a shortfall is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// The usable extents: total minus reserve.
    Usable,
    /// All extents: the volumes fit the usable space, but existing snapshots leave too
    /// little to grow them.
    Total,
}

/// A VG whose volumes do not fit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VgShortfall {
    /// The VG.
    pub vg: String,
    /// The extent size, bytes.
    pub extent_size: u64,
    /// Total extents.
    pub total: u64,
    /// Reserved extents.
    pub reserve: u64,
    /// Whether `total` is estimated from devices (the VG does not exist yet).
    pub estimated: bool,
    /// What the shortfall is measured against.
    pub limit: Limit,
    /// The declared volumes.
    pub needs: Vec<Need>,
    /// LVs that take space without being declared (snapshots only for [`Limit::Total`]).
    pub others: Vec<Occupant>,
}

/// Formats bytes as GiB with two decimals, rounded down.
pub fn gib(bytes: u64) -> String {
    let hundredths = u128::from(bytes) * 100 / u128::from(GIB);
    format!("{}.{:02} GiB", hundredths / 100, hundredths % 100)
}

impl VgShortfall {
    /// Extents needed in all.
    pub fn needed(&self) -> u64 {
        let needs = self.needs.iter().map(|n| n.extents);
        needs.chain(self.others.iter().map(|o| o.extents)).fold(0, u64::saturating_add)
    }

    /// Extents available: usable or total, after [`VgShortfall::limit`].
    pub fn available(&self) -> u64 {
        match self.limit {
            Limit::Usable => self.total - self.reserve.min(self.total),
            Limit::Total => self.total,
        }
    }

    fn bytes(&self, extents: u64) -> u64 {
        extents.saturating_mul(self.extent_size)
    }
}

impl fmt::Display for VgShortfall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (needed, available) = (self.needed(), self.available());
        let (what, against) = match self.limit {
            Limit::Usable => ("its volumes need", "usable"),
            Limit::Total => ("its volumes and snapshots need", "in it"),
        };
        writeln!(
            f,
            "volume group {} does not fit: {what} {} ({needed} extents) but only {} ({available} extents) are {against}",
            self.vg,
            gib(self.bytes(needed)),
            gib(self.bytes(available)),
        )?;
        let width =
            self.needs.iter().map(|n| n.name.len()).chain(self.others.iter().map(|o| o.name.len())).max().unwrap_or(0);
        for need in &self.needs {
            let amount = if need.request == SizeRequest::Rest && self.limit == Limit::Usable {
                "needs at least 1 extent".to_owned()
            } else {
                gib(self.bytes(need.extents))
            };
            writeln!(f, "  {:<width$}  {:<8}  {amount}", need.name, need.request.to_string())?;
        }
        for other in &self.others {
            let what = if other.snapshot { "snapshot" } else { "not in spec" };
            writeln!(f, "  {:<width$}  {what:<8}  {}", other.name, gib(self.bytes(other.extents)))?;
        }
        let origin = if self.estimated { "estimated from its devices, as it does not exist yet" } else { "observed" };
        writeln!(
            f,
            "  total {} ({} extents of {} MiB, {origin}), reserve {}",
            gib(self.bytes(self.total)),
            self.total,
            self.extent_size / MIB,
            gib(self.bytes(self.reserve))
        )?;
        match self.limit {
            Limit::Usable => write!(f, "fix: lower the volume sizes or the reserve, or add a device"),
            Limit::Total => {
                write!(f, "fix: prune or remove the snapshots first (`snapshot prune`), or lower the volume sizes")
            }
        }
    }
}

/// Every VG that does not fit; [`crate::plan()`] returns it and touches nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct CapacityError {
    /// One entry per VG that does not fit.
    pub shortfalls: Vec<VgShortfall>,
}

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let texts: Vec<String> = self.shortfalls.iter().map(ToString::to_string).collect();
        f.write_str(&texts.join("\n"))
    }
}

impl CapacityError {
    /// The shortfalls as spec errors, located at each VG's table, for `file:line:col`.
    pub fn spec_errors(&self, spec: &LvmSpec) -> Vec<SpecError> {
        self.shortfalls
            .iter()
            .map(|shortfall| {
                let span = spec.volume_groups.get(&shortfall.vg).map(serde_spanned::Spanned::span);
                SpecError::new(span, format!("volume_groups.{}", shortfall.vg), shortfall.to_string())
            })
            .collect()
    }
}

/// Gives each declared volume of `spec` its extents in a VG of `total` extents of
/// `extent_size` bytes, next to the `others` already there.
pub fn layout(
    vg: &str,
    spec: &VgSpec,
    extent_size: u64,
    total: u64,
    others: &[Occupant],
    estimated: bool,
) -> Result<VgLayout, Box<VgShortfall>> {
    let reserve = match spec.reserve {
        Reserve::Percent(percent) => percent_of(total, percent),
        Reserve::Size(size) => extents_for(size.bytes(), extent_size),
    }
    .min(total);
    let usable = total - reserve;
    let mut needs: Vec<Need> = spec
        .volumes
        .iter()
        .map(|(name, volume)| {
            let request = volume.get_ref().size;
            let extents = match request {
                SizeRequest::Size(size) => extents_for(size.bytes(), extent_size),
                SizeRequest::Percent(percent) => percent_of(total, percent),
                SizeRequest::Rest => 1,
            };
            Need { name: name.clone(), request, extents }
        })
        .collect();
    let plain: Vec<&Occupant> = others.iter().filter(|o| !o.snapshot).collect();
    let sum = |extents: &mut dyn Iterator<Item = u64>| extents.fold(0u64, u64::saturating_add);
    let claimed = sum(&mut needs.iter().map(|n| n.extents).chain(plain.iter().map(|o| o.extents)));
    let shortfall = |limit, needs: Vec<Need>, others: Vec<Occupant>| {
        Box::new(VgShortfall { vg: vg.to_owned(), extent_size, total, reserve, estimated, limit, needs, others })
    };
    if claimed > usable {
        return Err(shortfall(Limit::Usable, needs, plain.into_iter().cloned().collect()));
    }
    if let Some(rest) = needs.iter_mut().find(|n| n.request == SizeRequest::Rest) {
        rest.extents += usable - claimed;
    }
    let allocated = sum(&mut needs.iter().map(|n| n.extents).chain(others.iter().map(|o| o.extents)));
    if allocated > total {
        return Err(shortfall(Limit::Total, needs, others.to_vec()));
    }
    let volumes = needs.into_iter().map(|n| (n.name, n.extents)).collect();
    Ok(VgLayout { extent_size, total, reserve, usable, volumes })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn vg(text: &str) -> VgSpec {
        let spec: LvmSpec = toml::from_str(
            &format!("[volume_groups.vg]\ndevices = [\"/dev/vda\"]\n{text}")
                .replace("[volumes.", "[volume_groups.vg.volumes."),
        )
        .unwrap();
        spec.volume_groups["vg"].get_ref().clone()
    }

    const EXTENT: u64 = 4 << 20;

    #[test]
    fn rounds_up_and_fills_the_rest() {
        let spec = vg(r#"reserve = "5%"
            [volumes.a]
            size = "1MiB"
            [volumes.b]
            size = "10%"
            [volumes.c]
            size = "rest"
        "#);
        let layout = layout("vg", &spec, EXTENT, 1023, &[], false).unwrap();
        assert_eq!((layout.reserve, layout.usable), (52, 971), "5% of 1023 = 51.15, rounded up");
        assert_eq!(layout.volumes["a"], 1, "1 MiB takes a whole 4 MiB extent");
        assert_eq!(layout.volumes["b"], 103, "10% of 1023 = 102.3, rounded up");
        assert_eq!(layout.volumes["c"], 971 - 1 - 103);
    }

    #[test]
    fn undeclared_volumes_take_space_and_snapshots_live_in_the_reserve() {
        let spec = vg("reserve = \"40MiB\"\n[volumes.c]\nsize = \"rest\"\n");
        let others = [
            Occupant { name: "old".into(), extents: 100, snapshot: false },
            Occupant { name: "c-snap".into(), extents: 5, snapshot: true },
        ];
        let layout = layout("vg", &spec, EXTENT, 1000, &others, false).unwrap();
        assert_eq!(layout.volumes["c"], 1000 - 10 - 100);
        let too_many = [Occupant { name: "c-snap".into(), extents: 11, snapshot: true }];
        let short = super::layout("vg", &spec, EXTENT, 1000, &too_many, false).unwrap_err();
        assert_eq!(short.limit, Limit::Total);
        let text = short.to_string();
        assert!(text.starts_with("volume group vg does not fit: its volumes and snapshots need 3.91 GiB (1001 extents) but only 3.90 GiB (1000 extents) are in it"), "{text}");
        assert!(text.contains("c-snap  snapshot  0.04 GiB"), "{text}");
        assert!(text.contains("snapshot prune"), "{text}");
    }

    #[test]
    fn a_shortfall_states_needed_and_available_per_volume() {
        let spec = vg(r#"reserve = "5%"
            [volumes.lv_clickhouse]
            size = "1500GiB"
            [volumes.lv_postgres]
            size = "800GiB"
            [volumes.lv_docker]
            size = "rest"
        "#);
        // A 2 TB disk: 476_937 extents of 4 MiB.
        let short = layout("vg_jts", &spec, EXTENT, 476_937, &[], true).unwrap_err();
        let text = short.to_string();
        assert!(text.starts_with("volume group vg_jts does not fit: its volumes need 2300.00 GiB (588801 extents) but only 1769.88 GiB (453090 extents) are usable"), "{text}");
        assert!(text.contains("lv_clickhouse  1500GiB   1500.00 GiB"), "{text}");
        assert!(text.contains("lv_docker      rest      needs at least 1 extent"), "{text}");
        assert!(text.contains("estimated from its devices"), "{text}");
        assert!(text.contains("fix: lower the volume sizes or the reserve, or add a device"), "{text}");
    }

    #[test]
    fn the_lvm_estimate_matches_what_lvm2_made() {
        // pvs in lvm2 2.03.16 (tests/fixtures/pvs-full.json).
        assert_eq!(pe_start_for(4 << 20), 4 << 20);
        assert_eq!(pe_start_for(1 << 20), 1 << 20);
        assert_eq!(pe_start_for(64 << 10), 1 << 20);
        assert_eq!(estimate_extents(2_147_483_648, pe_start_for(4 << 20), EXTENT), 511);
        assert_eq!(estimate_extents(1_073_741_824, pe_start_for(1 << 20), EXTENT), 255);
        assert_eq!(estimate_extents(1_078_988_800, pe_start_for(64 << 10), EXTENT), 257);
    }

    proptest! {
        #[test]
        fn rounding_never_rounds_down(bytes in 0u64..(1 << 50), shift in 20u32..30) {
            let extent = 1u64 << shift;
            let extents = extents_for(bytes, extent);
            prop_assert!(u128::from(extents) * u128::from(extent) >= u128::from(bytes));
            prop_assert!(extents == 0 || (extents - 1) * extent < bytes, "rounds up by less than one extent");
        }

        #[test]
        fn percentages_round_up(total in 0u64..10_000_000, percent in 0u8..=100) {
            let extents = percent_of(total, percent);
            prop_assert!(u128::from(extents) * 100 >= u128::from(total) * u128::from(percent));
            prop_assert!(extents <= total);
        }
    }
}
