//! Property tests of the pure planner and sizing (docs/architecture.md, "The core loop").
//!
//! Specs are generated as TOML text and parsed, so the parser is exercised too: one or
//! two VGs of one to three devices, one to four volumes sized in bytes, in MiB, in
//! percent or as `rest`, and a reserve. Starting states are generated to be reachable:
//! blank or used (ext4) devices, orphan PVs made with any alignment, or the VG on some
//! of its devices with volumes smaller or larger than the spec, volumes the spec does
//! not declare, and snapshots. PV and VG counts follow lvm2's own arithmetic (checked
//! against real lvm2 in `sizing.rs` and `fixtures.rs`).
//!
//! 1. Convergence: simulating `plan(spec, s)` on `s` gives `s'` with `plan(spec, s')`
//!    empty.
//! 2. No step is destructive unless the state has a used device or a volume larger than
//!    the spec.
//! 3. Sizing never exceeds the VG's usable extents, and the VG never more than its total.
//! 4. Extent rounding never rounds a requested size down, nor up by a whole extent.
//! 5. Planning is deterministic, also across a JSON round trip of the state.

use std::collections::BTreeMap;
use std::fmt;

use jts_core::{AbsPath, Root, Step};
use jts_lvm::{
    DeviceInfo, LvAttr, LvInfo, LvmObserved, LvmSpec, LvmStep, Occupant, PvInfo, Reserve, Signature, SizeRequest,
    VgInfo, check, estimate_extents, layout, pe_start_for, plan,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

const DEVICES: [&str; 6] = ["/dev/vda", "/dev/vdb", "/dev/vdc", "/dev/vdd", "/dev/vde", "/dev/vdf"];
const LV_NAMES: [&str; 8] = ["lv_a", "lv_b", "lv_c", "lv_d", "lv_e", "lv_f", "lv_g", "lv_h"];
const EXTENT_SIZES: [u64; 3] = [1 << 20, 4 << 20, 32 << 20];
const ALIGNMENTS: [u64; 3] = [64 << 10, 1 << 20, 4 << 20];
const MIB: u64 = 1 << 20;

// ---------------------------------------------------------------------------------------
// Spec skeletons, rendered to TOML.

#[derive(Debug, Clone)]
enum SizeSk {
    Bytes(u64),
    MiB(u64),
    Percent(u8),
    Rest,
}

#[derive(Debug, Clone)]
enum ReserveSk {
    None,
    Percent(u8),
    MiB(u64),
}

#[derive(Debug, Clone)]
struct VgSk {
    devices: usize,
    extent: usize,
    alignment: Option<usize>,
    reserve: ReserveSk,
    lvs: Vec<SizeSk>,
}

fn size_sk() -> impl Strategy<Value = SizeSk> {
    prop_oneof![
        3 => (1u64..1024).prop_map(SizeSk::MiB),
        2 => (1u64..(1 << 30)).prop_map(SizeSk::Bytes),
        2 => (1u8..=20).prop_map(SizeSk::Percent),
        2 => Just(SizeSk::Rest),
    ]
}

fn vg_sk() -> impl Strategy<Value = VgSk> {
    let reserve = prop_oneof![
        Just(ReserveSk::None),
        (0u8..=15).prop_map(ReserveSk::Percent),
        (1u64..512).prop_map(ReserveSk::MiB)
    ];
    (1usize..=3, 0..EXTENT_SIZES.len(), proptest::option::of(0..ALIGNMENTS.len()), reserve, vec(size_sk(), 1..=4))
        .prop_map(|(devices, extent, alignment, reserve, lvs)| VgSk { devices, extent, alignment, reserve, lvs })
}

/// The spec's TOML, with devices and volume names handed out in order.
fn render(vgs: &[VgSk]) -> String {
    let mut text = String::new();
    let (mut device, mut lv) = (0, 0);
    for (index, vg) in vgs.iter().enumerate() {
        let name = format!("vg_{index}");
        let devices: Vec<String> = DEVICES[device..device + vg.devices].iter().map(|d| format!("\"{d}\"")).collect();
        device += vg.devices;
        text += &format!("[volume_groups.{name}]\ndevices = [{}]\n", devices.join(", "));
        text += &format!("extent_size = \"{}MiB\"\n", EXTENT_SIZES[vg.extent] / MIB);
        if let Some(alignment) = vg.alignment {
            text += &format!("data_alignment = \"{}KiB\"\n", ALIGNMENTS[alignment] >> 10);
        }
        match vg.reserve {
            ReserveSk::None => {}
            ReserveSk::Percent(percent) => text += &format!("reserve = \"{percent}%\"\n"),
            ReserveSk::MiB(mib) => text += &format!("reserve = \"{mib}MiB\"\n"),
        }
        let mut has_rest = false;
        for size in &vg.lvs {
            let size = match size {
                SizeSk::Bytes(bytes) => format!("{bytes}B"),
                SizeSk::MiB(mib) => format!("{mib}MiB"),
                SizeSk::Percent(percent) => format!("{percent}%"),
                SizeSk::Rest if has_rest => "5%".to_owned(),
                SizeSk::Rest => {
                    has_rest = true;
                    "rest".to_owned()
                }
            };
            text += &format!("[volume_groups.{name}.volumes.{}]\nsize = \"{size}\"\n", LV_NAMES[lv]);
            lv += 1;
        }
    }
    text
}

// ---------------------------------------------------------------------------------------
// Reachable starting states.

#[derive(Debug, Clone)]
struct DevSk {
    size: u64,
    pv: bool,
    pv_alignment: usize,
    used: bool,
    member: bool,
}

#[derive(Debug, Clone)]
struct VgStateSk {
    exists: bool,
    /// Per declared volume: absent, or present at this many thousandths of its target.
    lvs: Vec<Option<u16>>,
    extra: Vec<u64>,
    snapshots: Vec<(Index, u64)>,
}

fn dev_sk() -> impl Strategy<Value = DevSk> {
    (256 * MIB..4096 * MIB, prop::bool::weighted(0.3), 0..ALIGNMENTS.len(), prop::bool::weighted(0.15), any::<bool>())
        .prop_map(|(size, pv, pv_alignment, used, member)| DevSk { size, pv, pv_alignment, used, member })
}

fn vg_state_sk() -> impl Strategy<Value = VgStateSk> {
    let lv = prop_oneof![1 => Just(None), 3 => (1u16..=1000).prop_map(Some), 1 => (1001u16..=1500).prop_map(Some)];
    (
        prop::bool::weighted(0.6),
        vec(lv, 4),
        vec(1u64..64, 0..=2),
        prop::option::weighted(0.3, (any::<Index>(), 1u64..8)).prop_map(|s| s.into_iter().collect::<Vec<_>>()),
    )
        .prop_map(|(exists, lvs, extra, snapshots)| VgStateSk { exists, lvs, extra, snapshots })
}

fn pv(device: &str, dev: &DevSk, pe_start: u64) -> PvInfo {
    PvInfo {
        name: device.to_owned(),
        vg: None,
        uuid: format!("uuid-{device}"),
        dev_size: dev.size,
        size: dev.size,
        free: dev.size,
        pe_start,
        pe_count: 0,
        pe_alloc_count: 0,
    }
}

fn lv(vg: &str, name: &str, extents: u64, extent_size: u64, attr: &str, origin: Option<&str>) -> LvInfo {
    LvInfo {
        vg: vg.to_owned(),
        name: name.to_owned(),
        uuid: format!("uuid-{vg}-{name}"),
        size: extents * extent_size,
        attr: LvAttr::decode(attr),
        origin: origin.map(str::to_owned),
        data_percent: origin.map(|_| jts_lvm::Percent::from_hundredths(1234)),
        created: Some(1_767_225_600),
    }
}

fn build_state(spec: &LvmSpec, devs: &[DevSk], vg_states: &[VgStateSk]) -> LvmObserved {
    let mut observed = LvmObserved::default();
    let mut next = 0;
    for ((name, vg), state) in spec.volume_groups.iter().zip(vg_states) {
        let vg = vg.get_ref();
        let extent = vg.extent_size.bytes();
        let mut total = 0;
        let mut joining = 0;
        let mut members = 0;
        for (position, device) in vg.devices.iter().enumerate() {
            let (device, dev) = (device.get_ref().to_string(), &devs[next]);
            next += 1;
            let member = state.exists && (position == 0 || dev.member);
            let is_pv = member || dev.pv;
            let signatures = if is_pv {
                vec![Signature { kind: "LVM2_member".into(), offset: "0x218".into() }]
            } else if dev.used {
                vec![Signature { kind: "ext4".into(), offset: "0x438".into() }]
            } else {
                vec![]
            };
            let info = DeviceInfo { present: true, size: dev.size, signatures };
            observed.devices.insert(AbsPath::new(&device).unwrap(), info);
            let pe_start = pe_start_for(ALIGNMENTS[dev.pv_alignment]);
            if member {
                let extents = estimate_extents(dev.size, pe_start, extent);
                total += extents;
                members += 1;
                observed.pvs.push(PvInfo {
                    vg: Some(name.clone()),
                    pe_count: extents,
                    size: extents * extent,
                    free: extents * extent,
                    ..pv(&device, dev, pe_start)
                });
            } else if is_pv {
                joining += estimate_extents(dev.size, pe_start, extent);
                observed.pvs.push(pv(&device, dev, pe_start));
            } else {
                joining += estimate_extents(dev.size, pe_start_for(vg.data_alignment().bytes()), extent);
            }
        }
        if !state.exists {
            continue;
        }
        let mut free = total;
        let mut lvs = Vec::new();
        let mut take = |wanted: u64| {
            let extents = wanted.min(free);
            free -= extents;
            extents
        };
        let mut others = Vec::new();
        for (k, wanted) in state.extra.iter().enumerate() {
            let extents = take(*wanted);
            if extents > 0 {
                let name_lv = format!("old_{k}");
                others.push(Occupant { name: name_lv.clone(), extents, snapshot: false });
                lvs.push(lv(name, &name_lv, extents, extent, "-wi-a-----", None));
            }
        }
        let targets = layout(name, vg, extent, total + joining, &others, false).map(|l| l.volumes).unwrap_or_default();
        for ((lv_name, _), permille) in vg.volumes.iter().zip(&state.lvs) {
            let Some(permille) = permille else { continue };
            let target = targets.get(lv_name).copied().unwrap_or(16);
            let extents = take((target * u64::from(*permille) / 1000).max(1));
            if extents > 0 {
                lvs.push(lv(name, lv_name, extents, extent, "-wi-a-----", None));
            }
        }
        let declared: Vec<String> =
            lvs.iter().filter(|l| vg.volumes.contains_key(&l.name)).map(|l| l.name.clone()).collect();
        for (k, (which, wanted)) in state.snapshots.iter().enumerate() {
            if declared.is_empty() {
                break;
            }
            let origin = which.get(&declared).clone();
            let extents = take(*wanted);
            if extents == 0 {
                continue;
            }
            let snap = format!("{origin}-snap-2026010{}T000000Z", k + 1);
            lvs.push(lv(name, &snap, extents, extent, "swi-a-s---", Some(&origin)));
            if let Some(origin_lv) = lvs.iter_mut().find(|l| l.name == origin) {
                origin_lv.attr = LvAttr::decode("owi-a-s---");
            }
        }
        observed.vgs.push(VgInfo {
            name: name.clone(),
            uuid: format!("uuid-{name}"),
            size: total * extent,
            free: free * extent,
            extent_size: extent,
            extent_count: total,
            free_count: free,
            pv_count: members,
            lv_count: lvs.len() as u64,
        });
        observed.lvs.extend(lvs);
    }
    observed.pvs.sort_by(|a, b| a.name.cmp(&b.name));
    observed.lvs.sort_by(|a, b| (&a.vg, &a.name).cmp(&(&b.vg, &b.name)));
    observed
}

/// One generated input: the spec's TOML text, the parsed spec and a starting state.
#[derive(Clone)]
struct Case {
    text: String,
    spec: LvmSpec,
    observed: LvmObserved,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = serde_json::to_string_pretty(&self.observed).map_err(|_| fmt::Error)?;
        write!(f, "\n--- spec ---\n{}--- observed ---\n{state}\n", self.text)
    }
}

fn case() -> impl Strategy<Value = Case> {
    (vec(vg_sk(), 1..=2), vec(dev_sk(), DEVICES.len()), vec(vg_state_sk(), 2)).prop_map(|(vgs, devs, states)| {
        let text = render(&vgs);
        let spec: LvmSpec =
            toml::from_str(&text).unwrap_or_else(|err| panic!("generated spec does not parse: {err}\n{text}"));
        let observed = build_state(&spec, &devs, &states);
        Case { text, spec, observed }
    })
}

// ---------------------------------------------------------------------------------------
// Properties.

fn lv_extents(state: &LvmObserved, vg: &str, name: &str) -> Option<u64> {
    let extent = state.vg(vg)?.extent_size;
    state.lv(vg, name).map(|lv| lv.size / extent)
}

fn reserve_extents(reserve: Reserve, total: u64, extent: u64) -> u64 {
    match reserve {
        Reserve::Percent(percent) => (total * u64::from(percent)).div_ceil(100),
        Reserve::Size(size) => size.bytes().div_ceil(extent),
    }
    .min(total)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn plans_converge(case in case()) {
        prop_assert!(check(&case.spec).is_empty(), "generated specs are valid: {:?}", check(&case.spec));
        let Ok(first) = plan(&case.spec, &case.observed) else { return Ok(()) };

        // 5. Deterministic, also from JSON.
        let json = serde_json::to_string(&case.observed).unwrap();
        let reread: LvmObserved = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&reread, &case.observed);
        prop_assert_eq!(Ok(first.clone()), plan(&case.spec, &reread));

        if !first.refused.is_empty() {
            for refusal in &first.refused {
                prop_assert!(refusal.reason.contains("has snapshots"), "unexpected refusal {:?} for {:?}", refusal, case);
            }
            return Ok(());
        }

        // 1. Convergence.
        let mut after = case.observed.clone();
        first.simulate(&mut after);
        let second = plan(&case.spec, &after);
        prop_assert!(
            second.as_ref().is_ok_and(|p| p.is_empty()),
            "not converged.\nfirst plan: {:#?}\nsecond plan: {:#?}\nafter: {}{:?}",
            first.steps, second, serde_json::to_string_pretty(&after).unwrap_or_default(), case
        );

        // 2. Destruction only where the state calls for it.
        let used_device = case.observed.devices.iter().any(|(path, info)| {
            !info.signatures.is_empty() && case.observed.pv(&path.to_string()).is_none()
        });
        let oversized = case.spec.volumes().any(|(vg, lv, _)| {
            lv_extents(&case.observed, vg, lv).zip(lv_extents(&after, vg, lv)).is_some_and(|(now, target)| now > target)
        });
        for step in &first.steps {
            let info = step.info(&Root::host());
            if info.destructive {
                prop_assert!(used_device || oversized, "destructive {:?} without cause: {:?}", info, case);
                if let LvmStep::ReduceLv { from, to, .. } = step {
                    prop_assert!(to < from);
                }
            }
        }

        // 3 and 4. Sizing within the VG, rounding up by less than one extent.
        for (vg_name, vg) in &case.spec.volume_groups {
            let vg = vg.get_ref();
            let info = after.vg(vg_name).expect("the VG exists after the plan");
            let (total, extent) = (info.extent_count, info.extent_size);
            let usable = total - reserve_extents(vg.reserve, total, extent);
            let mut claimed = 0;
            for lv in after.lvs_of(vg_name).filter(|lv| !lv.attr.is_cow_snapshot()) {
                let extents = lv.size / extent;
                claimed += extents;
                match vg.volumes.get(&lv.name).map(|v| v.get_ref().size) {
                    Some(SizeRequest::Size(size)) => {
                        prop_assert!(extents * extent >= size.bytes(), "{} rounded down", lv.name);
                        prop_assert!(extents * extent < size.bytes() + extent, "{} rounded up too far", lv.name);
                    }
                    Some(SizeRequest::Percent(percent)) => {
                        prop_assert!(extents * 100 >= total * u64::from(percent), "{} rounded down", lv.name);
                        prop_assert!((extents - 1) * 100 < total * u64::from(percent), "{} rounded up too far", lv.name);
                    }
                    Some(SizeRequest::Rest) | None => {}
                }
            }
            prop_assert!(claimed <= usable, "{} claims {} of {} usable extents", vg_name, claimed, usable);
            let allocated: u64 = after.lvs_of(vg_name).map(|lv| lv.size / extent).sum();
            prop_assert!(allocated <= total, "{} allocates {} of {} extents", vg_name, allocated, total);
            prop_assert_eq!(info.free_count, total - allocated, "free extents are tracked");
            if vg.volumes.values().any(|v| v.get_ref().size == SizeRequest::Rest) {
                prop_assert_eq!(claimed, usable, "rest takes everything usable");
            }
        }
    }

    /// A spec that does not fit fails with every oversized VG named, and its numbers add up.
    #[test]
    fn shortfalls_state_needed_and_available(case in case()) {
        let Err(err) = plan(&case.spec, &case.observed) else { return Ok(()) };
        for shortfall in &err.shortfalls {
            prop_assert!(shortfall.needed() > shortfall.available(), "{}", shortfall);
            let text = shortfall.to_string();
            prop_assert!(text.contains(&format!("({} extents)", shortfall.needed())), "{}", text);
            for need in &shortfall.needs {
                prop_assert!(text.contains(&need.name), "{}", text);
            }
        }
        let counted: BTreeMap<&str, usize> = err.shortfalls.iter().map(|s| (s.vg.as_str(), 1)).collect();
        prop_assert_eq!(counted.len(), err.shortfalls.len(), "one shortfall per VG");
    }
}
