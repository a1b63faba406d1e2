//! The spec sections this crate owns: `[volume_groups.*]` and `[snapshots.*]`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use jts_core::{AbsPath, Size, SpecDuration};
use jts_fs::{FsKind, Preset};
use serde::Deserialize;
use serde_spanned::Spanned;

/// The extent size of a volume group when the spec gives none, as the seeds use.
pub const DEFAULT_EXTENT_SIZE: Size = Size::from_bytes(4 << 20);
/// The data alignment of a new PV when the spec gives none: lvm2's own default.
pub const DEFAULT_DATA_ALIGNMENT: Size = Size::from_bytes(1 << 20);

/// `[volume_groups.NAME]`: a volume group, its devices and its volumes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VgSpec {
    /// Block devices that become its PVs, e.g. `["/dev/nvme0n1"]`.
    pub devices: Vec<Spanned<AbsPath>>,
    /// The physical extent size (default 4 MiB): a power of two, at least 1 MiB.
    #[serde(default = "default_extent_size")]
    pub extent_size: Size,
    /// `pvcreate --dataalignment` of new PVs (default 1 MiB, lvm2's default).
    pub data_alignment: Option<Size>,
    /// Space kept free for snapshots and growth: `"5%"` of the VG or a size (default none).
    #[serde(default)]
    pub reserve: Reserve,
    /// `[volume_groups.NAME.volumes.LV]`.
    #[serde(default)]
    pub volumes: BTreeMap<String, Spanned<VolumeSpec>>,
}

fn default_extent_size() -> Size {
    DEFAULT_EXTENT_SIZE
}

impl VgSpec {
    /// The data alignment new PVs get.
    pub fn data_alignment(&self) -> Size {
        self.data_alignment.unwrap_or(DEFAULT_DATA_ALIGNMENT)
    }
}

/// `[volume_groups.VG.volumes.LV]`: one logical volume, and where its filesystem is
/// mounted (the host crate turns the mount keys into an fstab line and a root directory).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeSpec {
    /// `"800GiB"`, `"20%"` of the VG, or `"rest"`.
    pub size: SizeRequest,
    /// The filesystem to make on it. The default is `none`, a raw volume: jts never
    /// formats a volume the spec did not ask to format.
    #[serde(default = "no_filesystem")]
    pub filesystem: FsKind,
    /// The workload preset for mkfs and mount options; needs a filesystem.
    pub preset: Option<Preset>,
    /// Extra mkfs arguments after the preset's; needs a filesystem.
    #[serde(default)]
    pub mkfs_options: Vec<String>,
    /// The filesystem label; needs a filesystem.
    pub label: Option<String>,
    /// Where the filesystem is mounted (written to fstab); needs a filesystem.
    pub mount_point: Option<AbsPath>,
    /// Mount options, merged over the preset's; needs a mount point.
    #[serde(default)]
    pub mount_options: Vec<String>,
    /// Owner of the mounted filesystem's root directory (default root).
    pub owner: Option<jts_core::Principal>,
    /// Group of the mounted filesystem's root directory (default root).
    pub group: Option<jts_core::Principal>,
    /// Mode of the mounted filesystem's root directory (default 0755).
    pub mode: Option<jts_core::Mode>,
}

fn no_filesystem() -> FsKind {
    FsKind::None
}

/// `[snapshots.LV]`: the snapshot policy of one logical volume.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotPolicy {
    /// The volume group the LV is declared in.
    pub volume_group: String,
    /// The copy-on-write space of each snapshot (`lvcreate --snapshot --size`).
    pub size: Size,
    /// How many valid snapshots to keep, newest first; at least 1.
    pub keep_last: u32,
    /// Snapshots older than this are removed, except the newest valid one.
    pub max_age: SpecDuration,
    /// When the rendered `jts-snapshot-LV.timer` takes a snapshot and prunes: a systemd
    /// `OnCalendar=` value, e.g. `"Mon..Fri *-*-* 18:30:00"` (after market close).
    pub schedule: Option<String>,
}

/// The two sections together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LvmSpec {
    /// `[volume_groups.*]`.
    #[serde(default)]
    pub volume_groups: BTreeMap<String, Spanned<VgSpec>>,
    /// `[snapshots.*]`, keyed by LV name.
    #[serde(default)]
    pub snapshots: BTreeMap<String, Spanned<SnapshotPolicy>>,
}

impl LvmSpec {
    /// Every declared volume as `(vg, lv, spec)`, by VG then LV name.
    pub fn volumes(&self) -> impl Iterator<Item = (&str, &str, &VolumeSpec)> {
        self.volume_groups.iter().flat_map(|(vg, spec)| {
            spec.get_ref().volumes.iter().map(move |(lv, volume)| (vg.as_str(), lv.as_str(), volume.get_ref()))
        })
    }

    /// The volume `lv` of volume group `vg`, if declared.
    pub fn volume(&self, vg: &str, lv: &str) -> Option<&VolumeSpec> {
        self.volume_groups.get(vg)?.get_ref().volumes.get(lv).map(Spanned::get_ref)
    }
}

/// The device path of a logical volume, `/dev/VG/LV`.
pub fn lv_path(vg: &str, lv: &str) -> String {
    format!("/dev/{vg}/{lv}")
}

/// How big a volume should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SizeRequest {
    /// An absolute size, rounded up to whole extents.
    Size(Size),
    /// A whole percentage (1–100) of the VG's total extents, rounded up.
    Percent(u8),
    /// What is left of the VG's usable extents after every other volume.
    Rest,
}

/// Parses `"N%"` into `N`; `None` when `text` does not end in `%`.
fn parse_percent(text: &str) -> Option<Result<u8, String>> {
    let digits = text.strip_suffix('%')?.trim();
    let parsed = match digits.parse::<u8>() {
        Ok(value) if digits.chars().all(|c| c.is_ascii_digit()) => Ok(value),
        _ => Err(format!("invalid percentage {text:?}: write a whole number of percent, e.g. \"20%\"")),
    };
    Some(parsed)
}

impl FromStr for SizeRequest {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text == "rest" {
            return Ok(Self::Rest);
        }
        match parse_percent(text) {
            Some(Ok(percent @ 1..=100)) => Ok(Self::Percent(percent)),
            Some(Ok(percent)) => {
                Err(format!("{percent}% is not a volume size; write 1% to 100% of the volume group, or \"rest\""))
            }
            Some(Err(why)) => Err(why),
            None => text.parse::<Size>().map(Self::Size).map_err(|err| {
                format!("{err}; a volume size may also be a percentage of the volume group (\"20%\") or \"rest\"")
            }),
        }
    }
}

impl fmt::Display for SizeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Size(size) => size.fmt(f),
            Self::Percent(percent) => write!(f, "{percent}%"),
            Self::Rest => f.write_str("rest"),
        }
    }
}

/// The space a volume group keeps free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reserve {
    /// A whole percentage (0–99) of the VG's total extents, rounded up.
    Percent(u8),
    /// An absolute size, rounded up to whole extents.
    Size(Size),
}

impl Default for Reserve {
    fn default() -> Self {
        Self::Size(Size::from_bytes(0))
    }
}

impl FromStr for Reserve {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        match parse_percent(text) {
            Some(Ok(percent @ 0..=99)) => Ok(Self::Percent(percent)),
            Some(Ok(percent)) => {
                Err(format!("a reserve of {percent}% leaves no room for volumes; write 0% to 99%, e.g. \"5%\""))
            }
            Some(Err(why)) => Err(why),
            None => text
                .parse::<Size>()
                .map(Self::Size)
                .map_err(|err| format!("{err}; a reserve may also be a percentage of the volume group, e.g. \"5%\"")),
        }
    }
}

impl fmt::Display for Reserve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Percent(percent) => write!(f, "{percent}%"),
            Self::Size(size) => size.fmt(f),
        }
    }
}

jts_core::serde_via_str!(SizeRequest, Reserve);

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn parses_the_design_example() {
        let spec: LvmSpec = toml::from_str(
            r#"
            [volume_groups.vg_jts]
            devices = ["/dev/nvme0n1"]
            extent_size = "4MiB"
            data_alignment = "4MiB"
            reserve = "5%"

            [volume_groups.vg_jts.volumes.lv_postgres]
            size = "800GiB"
            filesystem = "ext4"
            preset = "postgresql"
            mkfs_options = []
            label = "jts-pg"

            [volume_groups.vg_jts.volumes.lv_data]
            size = "rest"

            [snapshots.lv_postgres]
            volume_group = "vg_jts"
            size = "5GiB"
            keep_last = 7
            max_age = "7d"
            "#,
        )
        .unwrap();
        let vg = spec.volume_groups["vg_jts"].get_ref();
        assert_eq!(vg.reserve, Reserve::Percent(5));
        assert_eq!(vg.data_alignment(), Size::from_bytes(4 << 20));
        let pg = spec.volume("vg_jts", "lv_postgres").unwrap();
        assert_eq!(pg.size, SizeRequest::Size(Size::from_bytes(800 << 30)));
        assert_eq!(pg.filesystem, FsKind::Ext4);
        assert_eq!(spec.volume("vg_jts", "lv_data").unwrap().filesystem, FsKind::None, "raw unless asked");
        let names: Vec<(&str, &str)> = spec.volumes().map(|(vg, lv, _)| (vg, lv)).collect();
        assert_eq!(names, [("vg_jts", "lv_data"), ("vg_jts", "lv_postgres")]);
        assert_eq!(spec.snapshots["lv_postgres"].get_ref().max_age.as_secs(), 7 * 86_400);
    }

    #[test]
    fn defaults_and_unknown_keys() {
        let spec: LvmSpec = toml::from_str("[volume_groups.vg]\ndevices = [\"/dev/vdb\"]\n").unwrap();
        let vg = spec.volume_groups["vg"].get_ref();
        assert_eq!((vg.extent_size, vg.reserve), (DEFAULT_EXTENT_SIZE, Reserve::Size(Size::from_bytes(0))));
        assert_eq!(vg.data_alignment(), DEFAULT_DATA_ALIGNMENT);
        let err = toml::from_str::<LvmSpec>(
            "[volume_groups.vg]\ndevices = []\n[volume_groups.vg.volumes.lv]\nsize = \"1G\"\nmountpoint = \"/x\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("mountpoint"), "{err}");
    }

    #[test]
    fn size_requests_say_what_is_wrong() {
        assert_eq!("20%".parse::<SizeRequest>().unwrap(), SizeRequest::Percent(20));
        assert_eq!(" rest ".parse::<SizeRequest>().unwrap(), SizeRequest::Rest);
        for (bad, why) in [
            ("0%", "1% to 100%"),
            ("101%", "1% to 100%"),
            ("2.5%", "whole number of percent"),
            ("-5%", "whole number"),
            ("lots", "\"rest\""),
        ] {
            let err = bad.parse::<SizeRequest>().unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert_eq!("0%".parse::<Reserve>().unwrap(), Reserve::Percent(0));
        assert!("100%".parse::<Reserve>().unwrap_err().contains("0% to 99%"));
        assert_eq!("10GiB".parse::<Reserve>().unwrap(), Reserve::Size(Size::from_bytes(10 << 30)));
    }

    proptest! {
        #[test]
        fn size_requests_round_trip(request in prop_oneof![
            any::<u64>().prop_map(|b| SizeRequest::Size(Size::from_bytes(b))),
            (1u8..=100).prop_map(SizeRequest::Percent),
            Just(SizeRequest::Rest),
        ]) {
            prop_assert_eq!(request.to_string().parse::<SizeRequest>().unwrap(), request);
        }

        #[test]
        fn parsing_never_panics(text in ".*") {
            let _ = text.parse::<SizeRequest>();
            let _ = text.parse::<Reserve>();
        }
    }
}
