//! Checks an [`LvmSpec`] before anything is observed or touched: every problem is
//! reported at once, each with its location, what is wrong and how to fix it.

use std::collections::BTreeMap;

use jts_core::{AbsPath, Size, SpecError};
use jts_fs::FsKind;
use serde_spanned::Spanned;

use crate::names::{check_dm_name, check_lv_name, check_vg_name};
use crate::snapshot::snapshot_name;
use crate::spec::{LvmSpec, Reserve, SizeRequest, VgSpec};

/// The smallest extent size jts accepts; lvm2 accepts smaller ones, which only make
/// metadata bigger.
const MIN_EXTENT_SIZE: u64 = 1 << 20;

/// The largest data alignment jts accepts: far past any erase block or RAID stripe,
/// and small enough that the PV's data area cannot start beyond its device.
const MAX_DATA_ALIGNMENT: u64 = 1 << 30;

/// Checks the spec against itself. Whether it fits the devices is the planner's
/// business ([`crate::plan()`] returns a [`crate::CapacityError`]).
pub fn check(spec: &LvmSpec) -> Vec<SpecError> {
    let mut errors = Vec::new();
    let mut devices: BTreeMap<&AbsPath, String> = BTreeMap::new();
    let mut volumes: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, vg) in &spec.volume_groups {
        check_vg(name, vg, &mut devices, &mut volumes, &mut errors);
    }
    for (origin, policy) in &spec.snapshots {
        check_policy(spec, origin, policy, &mut errors);
    }
    errors
}

fn error<T>(at: &Spanned<T>, key: impl Into<String>, message: impl Into<String>) -> SpecError {
    SpecError::new(Some(at.span()), key, message)
}

fn whole_kib(size: Size) -> bool {
    size.bytes() > 0 && size.bytes() % 1024 == 0
}

fn check_vg<'a>(
    name: &'a str,
    spanned: &'a Spanned<VgSpec>,
    devices: &mut BTreeMap<&'a AbsPath, String>,
    volumes: &mut BTreeMap<&'a str, &'a str>,
    errors: &mut Vec<SpecError>,
) {
    let key = format!("volume_groups.{name}");
    let vg = spanned.get_ref();
    if let Err(why) = check_vg_name(name) {
        errors.push(error(spanned, &key, format!("{name:?} is not a valid volume group name: {why}")));
    }
    if vg.devices.is_empty() {
        errors.push(error(
            spanned,
            format!("{key}.devices"),
            "no devices; list at least one, e.g. devices = [\"/dev/nvme0n1\"]",
        ));
    }
    for device in &vg.devices {
        let path = device.get_ref();
        if !path.as_path().starts_with("/dev") || path.as_path() == std::path::Path::new("/dev") {
            errors.push(error(
                device,
                format!("{key}.devices"),
                format!("{path} is not under /dev; name the block device, e.g. \"/dev/nvme0n1\" or \"/dev/sdb\""),
            ));
        }
        if let Some(first) = devices.insert(path, key.clone()) {
            errors.push(error(
                device,
                format!("{key}.devices"),
                format!(
                    "{path} is also listed in {first}; a device can be a PV of one volume group only, list it once"
                ),
            ));
        }
    }
    let extent = vg.extent_size.bytes();
    if !extent.is_power_of_two() || extent < MIN_EXTENT_SIZE {
        errors.push(error(spanned, format!("{key}.extent_size"), format!(
            "extent size {} is not a power of two of at least 1MiB; use e.g. \"4MiB\" (lvm2's default) or \"32MiB\"",
            vg.extent_size
        )));
    }
    if let Some(alignment) = vg.data_alignment.filter(|a| !whole_kib(*a)) {
        errors.push(error(
            spanned,
            format!("{key}.data_alignment"),
            format!("data alignment {alignment} is not a positive whole number of KiB; use e.g. \"1MiB\" or \"4MiB\""),
        ));
    }
    if let Some(alignment) = vg.data_alignment.filter(|a| a.bytes() > MAX_DATA_ALIGNMENT) {
        errors.push(error(
            spanned,
            format!("{key}.data_alignment"),
            format!(
                "data alignment {alignment} is larger than 1GiB; it is the SSD erase block or RAID stripe, \
                 a few MiB at most: use e.g. \"1MiB\" or \"4MiB\""
            ),
        ));
    }
    let mut rest: Option<&str> = None;
    let mut percent_total: u32 = match vg.reserve {
        Reserve::Percent(percent) => u32::from(percent),
        Reserve::Size(_) => 0,
    };
    for (lv, spanned_volume) in &vg.volumes {
        let lv_key = format!("{key}.volumes.{lv}");
        let volume = spanned_volume.get_ref();
        match check_lv_name(lv).and_then(|()| check_dm_name(name, lv)) {
            Ok(()) => {}
            Err(why) => {
                errors.push(error(spanned_volume, &lv_key, format!("{lv:?} is not a valid volume name: {why}")))
            }
        }
        if let Some(other) = volumes.insert(lv, name) {
            errors.push(error(spanned_volume, &lv_key, format!(
                "volume {lv} is also declared in volume group {other}; allow_destroy and [snapshots.*] name volumes \
                 by their name alone, so give each volume its own name"
            )));
        }
        match volume.size {
            SizeRequest::Rest => {
                if let Some(first) = rest.replace(lv) {
                    errors.push(error(spanned_volume, format!("{lv_key}.size"), format!(
                        "{first} already takes the rest of {name}; only one volume per volume group can be \"rest\", give this one a size"
                    )));
                }
            }
            SizeRequest::Size(size) if size.bytes() == 0 => errors.push(error(
                spanned_volume,
                format!("{lv_key}.size"),
                "a volume cannot be empty; give a size such as \"50GiB\", a percentage such as \"10%\", or \"rest\"",
            )),
            SizeRequest::Percent(percent) => percent_total += u32::from(percent),
            SizeRequest::Size(_) => {}
        }
        if volume.filesystem == FsKind::None {
            let needs_fs = [
                ("preset", volume.preset.is_some()),
                ("mkfs_options", !volume.mkfs_options.is_empty()),
                ("label", volume.label.is_some()),
                ("mount_point", volume.mount_point.is_some()),
            ];
            for (field, _) in needs_fs.iter().filter(|(_, set)| *set) {
                errors.push(error(spanned_volume, format!("{lv_key}.{field}"), format!(
                    "{field} applies to a filesystem, but this volume has none; set filesystem = \"ext4\", \"xfs\" or \"btrfs\", or remove {field}"
                )));
            }
        }
        let root_fields = [
            ("mount_options", !volume.mount_options.is_empty()),
            ("owner", volume.owner.is_some()),
            ("group", volume.group.is_some()),
            ("mode", volume.mode.is_some()),
        ];
        for (field, _) in root_fields.iter().filter(|(_, set)| *set && volume.mount_point.is_none()) {
            errors.push(error(spanned_volume, format!("{lv_key}.{field}"), format!(
                "{field} applies to the mounted filesystem, but this volume has no mount_point; set mount_point or remove {field}"
            )));
        }
    }
    let unpercented = vg.volumes.iter().find(|(_, v)| !matches!(v.get_ref().size, SizeRequest::Percent(_)));
    if percent_total > 100 {
        errors.push(error(spanned, &key, format!(
            "the percentages of {name} (volumes plus reserve) add up to {percent_total}%, more than 100%; lower them"
        )));
    } else if let (100, Some((other, _))) = (percent_total, unpercented) {
        errors.push(error(
            spanned,
            &key,
            format!(
                "the percentages of {name} (volumes plus reserve) add up to 100%, which leaves nothing for {other}; \
             lower them, or size {other} as a percentage too"
            ),
        ));
    }
}

fn check_policy(spec: &LvmSpec, origin: &str, spanned: &Spanned<crate::SnapshotPolicy>, errors: &mut Vec<SpecError>) {
    let key = format!("snapshots.{origin}");
    let policy = spanned.get_ref();
    let vg_name = &policy.volume_group;
    match spec.volume_groups.get(vg_name) {
        None => {
            let known: Vec<&str> = spec.volume_groups.keys().map(String::as_str).collect();
            errors.push(error(
                spanned,
                format!("{key}.volume_group"),
                format!(
                    "volume group {vg_name:?} is not declared; declare [volume_groups.{vg_name}] or use one of: {}",
                    known.join(", ")
                ),
            ));
        }
        Some(vg) if !vg.get_ref().volumes.contains_key(origin) => {
            errors.push(error(spanned, &key, format!(
                "{origin} is not a volume of {vg_name}; snapshot policies are keyed by a declared volume, e.g. [snapshots.lv_postgres]"
            )));
        }
        Some(vg) => {
            let longest = snapshot_name(origin, std::time::UNIX_EPOCH);
            if let Err(why) = check_dm_name(vg_name, &longest) {
                errors.push(error(spanned, &key, format!("snapshot names such as {longest} are too long: {why}")));
            }
            check_snapshot_room(vg_name, vg.get_ref(), origin, policy, &key, spanned, errors);
        }
    }
    if let Some(schedule) = &policy.schedule {
        let calendar_char = |c: char| c.is_ascii_alphanumeric() || " *-:.,/~+".contains(c);
        if schedule.trim().is_empty() || !schedule.chars().all(calendar_char) {
            errors.push(error(
                spanned,
                format!("{key}.schedule"),
                format!(
                    "{schedule:?} is not a systemd calendar expression; give e.g. \"Mon..Fri *-*-* 18:30:00\" \
                     (`systemd-analyze calendar` checks one)"
                ),
            ));
        }
    }
    if !whole_kib(policy.size) {
        errors.push(error(
            spanned,
            format!("{key}.size"),
            format!("copy-on-write size {} is not a positive whole number of KiB; give e.g. \"5GiB\"", policy.size),
        ));
    }
    if policy.keep_last == 0 {
        errors.push(error(
            spanned,
            format!("{key}.keep_last"),
            "keep_last = 0 would remove every snapshot; keep at least 1, or remove the policy",
        ));
    }
    if policy.max_age.as_secs() == 0 {
        errors.push(error(spanned, format!("{key}.max_age"), "max_age must be longer than 0s; write e.g. \"7d\""));
    }
}

/// A VG whose `rest` volume takes everything and whose fixed reserve is smaller than
/// the snapshots' COW space leaves snapshots no room.
fn check_snapshot_room(
    vg_name: &str,
    vg: &VgSpec,
    origin: &str,
    policy: &crate::SnapshotPolicy,
    key: &str,
    spanned: &Spanned<crate::SnapshotPolicy>,
    errors: &mut Vec<SpecError>,
) {
    let has_rest = vg.volumes.values().any(|v| v.get_ref().size == SizeRequest::Rest);
    let Reserve::Size(reserve) = vg.reserve else { return };
    let needed = Size::from_bytes(policy.size.bytes().saturating_mul(u64::from(policy.keep_last)));
    if has_rest && reserve < needed {
        errors.push(error(spanned, key, format!(
            "{keep} snapshots of {origin} need {needed} of free space in {vg_name}, but its \"rest\" volume takes \
             everything except the reserve of {reserve}; raise [volume_groups.{vg_name}] reserve to at least {keep} x {size}",
            keep = policy.keep_last,
            size = policy.size,
        )));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(text: &str) -> Vec<String> {
        let spec: LvmSpec = toml::from_str(text).unwrap();
        check(&spec).iter().map(ToString::to_string).collect()
    }

    const GOOD: &str = r#"
        [volume_groups.vg_jts]
        devices = ["/dev/vda", "/dev/vdb"]
        reserve = "5%"
        [volume_groups.vg_jts.volumes.lv_pg]
        size = "20%"
        filesystem = "ext4"
        preset = "postgresql"
        [volume_groups.vg_jts.volumes.lv_data]
        size = "rest"
        [snapshots.lv_pg]
        volume_group = "vg_jts"
        size = "64MiB"
        keep_last = 2
        max_age = "7d"
    "#;

    #[test]
    fn a_clean_spec_passes() {
        assert!(messages(GOOD).is_empty(), "{:?}", messages(GOOD));
    }

    #[test]
    fn volume_groups_are_checked() {
        let errors = messages(
            r#"
            [volume_groups.vg_a]
            devices = ["/dev/vda", "/srv/disk.img"]
            extent_size = "3MiB"
            data_alignment = "1000B"
            reserve = "50%"
            [volume_groups.vg_a.volumes.lv_x]
            size = "rest"
            [volume_groups.vg_a.volumes.lv_y]
            size = "rest"
            [volume_groups.vg_a.volumes.lv_z]
            size = "60%"
            label = "z"
            [volume_groups."vg b"]
            devices = ["/dev/vda"]
            [volume_groups."vg b".volumes.lv_x]
            size = "0GiB"
            "#,
        );
        let joined = errors.join("\n");
        for needle in [
            "/srv/disk.img is not under /dev",
            "extent size 3MiB is not a power of two",
            "data alignment 1000B",
            "only one volume per volume group can be \"rest\"",
            "add up to 110%",
            "label applies to a filesystem",
            "not a valid volume group name",
            "/dev/vda is also listed in volume_groups.vg b",
            "volume lv_x is also declared in volume group vg b",
            "a volume cannot be empty",
        ] {
            assert!(joined.contains(needle), "missing {needle:?} in:\n{joined}");
        }
        assert_eq!(errors.len(), 10, "{joined}");
    }

    #[test]
    fn percentages_that_take_everything_leave_nothing_for_the_other_volumes() {
        let errors = messages(
            r#"
            [volume_groups.vg]
            devices = ["/dev/vda"]
            reserve = "10%"
            [volume_groups.vg.volumes.lv_x]
            size = "90%"
            [volume_groups.vg.volumes.lv_y]
            size = "1GiB"
            "#,
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("add up to 100%, which leaves nothing for lv_y"), "{errors:?}");
    }

    #[test]
    fn a_data_alignment_past_any_erase_block_or_stripe_is_refused() {
        let errors = messages(
            r#"
            [volume_groups.vg]
            devices = ["/dev/vda"]
            data_alignment = "999TiB"
            [volume_groups.vg.volumes.lv_x]
            size = "rest"
            "#,
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("data alignment 999TiB is larger than 1GiB"), "{errors:?}");
    }

    #[test]
    fn snapshot_policies_are_checked() {
        let errors = messages(
            r#"
            [volume_groups.vg]
            devices = ["/dev/vda"]
            [volume_groups.vg.volumes.lv_pg]
            size = "1GiB"
            [volume_groups.vg.volumes.lv_rest]
            size = "rest"
            [snapshots.lv_pg]
            volume_group = "vg"
            size = "1GiB"
            keep_last = 0
            max_age = "0s"
            [snapshots.lv_other]
            volume_group = "vg"
            size = "1GiB"
            keep_last = 1
            max_age = "1d"
            [snapshots.lv_lost]
            volume_group = "vg_nope"
            size = "1GiB"
            keep_last = 1
            max_age = "1d"
            "#,
        );
        let joined = errors.join("\n");
        for needle in [
            "keep at least 1",
            "max_age must be longer",
            "lv_other is not a volume of vg",
            "volume group \"vg_nope\" is not declared; declare [volume_groups.vg_nope] or use one of: vg",
        ] {
            assert!(joined.contains(needle), "missing {needle:?} in:\n{joined}");
        }
        assert_eq!(errors.len(), 4, "{joined}");
    }

    #[test]
    fn a_rest_volume_without_reserve_leaves_snapshots_no_room() {
        let text = GOOD.replace("reserve = \"5%\"", "reserve = \"64MiB\"");
        let errors = messages(&text);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("raise [volume_groups.vg_jts] reserve to at least 2 x 64MiB"), "{errors:?}");
    }

    #[test]
    fn errors_are_located() {
        let text = "[volume_groups.vg]\ndevices = [\"/dev/vda\", \"/dev/vda\"]\n";
        let spec: LvmSpec = toml::from_str(text).unwrap();
        let errors = check(&spec);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line_col(text), Some((2, 24)), "points at the second device");
        assert_eq!(errors[0].key, "volume_groups.vg.devices");
    }
}
