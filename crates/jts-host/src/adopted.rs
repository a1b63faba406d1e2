//! What jts says about filesystems and physical volumes it adopted rather than made:
//! where they differ from what the spec would make. Warnings only: jts never reformats
//! or recreates to match, and an adopted filesystem keeps its data.

use jts_fs::FsKind;

use crate::observe::HostObserved;
use crate::spec::HostSpec;
use crate::targets::formatted_devices;

/// The alignment of a PV's first extent below which flash pays for every write twice.
const PV_ALIGNMENT: u64 = 1 << 20;

/// Each difference between an adopted filesystem or PV and the spec, with its fix.
pub(crate) fn adoption_warnings(spec: &HostSpec, observed: &HostObserved) -> Vec<String> {
    let mut warnings = Vec::new();
    for pv in &observed.lvm.pvs {
        if pv.pe_start % PV_ALIGNMENT != 0 {
            warnings.push(format!(
                "physical volume {}: its data starts at byte {}, not on a 1 MiB boundary (`pvs -o +pe_start`), so \
                 extents straddle the device's erase blocks; recreate it with `pvcreate --dataalignment 1m` when it \
                 can be emptied (jts never recreates a PV)",
                pv.name, pv.pe_start
            ));
        }
    }
    for (object, device, format) in formatted_devices(spec) {
        let Some(found) = observed.fs.get(&device) else { continue };
        let Some(signature) = &found.signature else { continue };
        if signature.kind() != Some(format.filesystem) {
            continue; // another filesystem: the plan refuses or reformats with consent
        }
        let mut args = format.preset.map(|p| jts_fs::preset_mkfs_args(p, format.filesystem)).unwrap_or_default();
        args.extend(format.mkfs_options.iter().cloned());
        let device = device.display();
        let has = |feature: &str| found.features.iter().any(|f| f == feature);
        let asks = |setting: &str| args.iter().any(|arg| arg.split(',').any(|part| part == setting));
        if format.filesystem == FsKind::Ext4 && !found.features.is_empty() {
            let journal_wanted = !args.iter().any(|arg| arg.contains("^has_journal"));
            for name in ["stride", "stripe_width"] {
                let part = |list: &[String]| -> Option<String> {
                    list.iter()
                        .flat_map(|arg| arg.split(','))
                        .find(|p| p.starts_with(&format!("{name}=")))
                        .map(str::to_owned)
                };
                let (wanted, found_value) = (part(&args), part(&found.features));
                if wanted.is_some() && wanted != found_value {
                    warnings.push(format!(
                        "{object}: the ext4 on {device} has {}, the spec's mkfs options say {}; set it in place with \
                         `tune2fs -E {}` (it only guides the allocator)",
                        found_value.unwrap_or_else(|| format!("no {name}")),
                        wanted.clone().unwrap_or_default(),
                        wanted.unwrap_or_default()
                    ));
                }
            }
            if journal_wanted && !has("has_journal") {
                warnings.push(format!(
                    "{object}: the ext4 on {device} has no journal, which the spec's mkfs would make; a crash can \
                     then lose recent writes: add one with `tune2fs -O has_journal {device}` while it is unmounted"
                ));
            }
        }
        if format.filesystem == FsKind::Xfs && !found.features.is_empty() {
            for feature in ["reflink", "crc"] {
                let (on, off) = (asks(&format!("{feature}=1")), asks(&format!("{feature}=0")));
                if (on && !has(feature)) || (off && has(feature)) {
                    warnings.push(format!(
                        "{object}: the xfs on {device} has {feature}={}, the spec's mkfs options say {feature}={}; \
                         xfs cannot change it in place: recreate the filesystem to match, or change the spec",
                        u8::from(has(feature)),
                        u8::from(on)
                    ));
                }
            }
        }
        if let Some(label) = &format.label
            && signature.label.as_deref() != Some(label.as_str())
        {
            let found_label = signature.label.as_deref().unwrap_or("none");
            warnings.push(format!(
                "{object}: the filesystem on {device} is labelled {found_label:?}, the spec says {label:?}; relabel it \
                 (`e2label`, `xfs_admin -L` or `btrfs filesystem label`) or change the spec"
            ));
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pv_off_a_mebibyte_boundary_is_named_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("storage.toml");
        std::fs::write(&file, "version = 1\n[volume_groups.vg]\ndevices = [\"/dev/sdb\"]\n").unwrap();
        let spec = crate::spec::load(&file).unwrap();
        let pv = |name: &str, pe_start: u64| {
            serde_json::json!({"name": name, "vg": "vg", "uuid": "u", "dev_size": 1u64 << 30, "size": 1u64 << 30,
                "free": 0, "pe_start": pe_start, "pe_count": 1, "pe_alloc_count": 0})
        };
        let state = serde_json::json!({
            "lvm": {"pvs": [pv("/dev/sdb", 1 << 20), pv("/dev/sdc", 192 * 1024)], "vgs": [], "lvs": [], "devices": {}},
            "perms": {"accounts": {"files_present": true, "users": {}, "groups": {}}, "paths": {}}
        });
        let observed: HostObserved = serde_json::from_value(state).unwrap();
        let warnings = adoption_warnings(&spec, &observed);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("/dev/sdc") && warnings[0].contains("196608"), "{warnings:?}");
        assert!(warnings[0].contains("pvcreate --dataalignment 1m"), "{warnings:?}");
    }
}
