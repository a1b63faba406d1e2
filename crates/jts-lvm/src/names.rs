//! What lvm2 accepts as VG and LV names (lvm(8), "VALID NAMES").

/// The longest device-mapper name, `VG-LV` with each `-` inside a name doubled.
const DM_NAME_MAX: usize = 127;

/// Substrings lvm2 reserves for its internal volumes.
const RESERVED_PARTS: [&str; 15] = [
    "_cdata", "_cmeta", "_corig", "_iorig", "_imeta", "_mimage", "_mlog", "_pmspare", "_rimage", "_rmeta", "_tdata",
    "_tmeta", "_vdata", "_vorigin", "_wcorig",
];

fn check_common(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if name == "." || name == ".." {
        return Err(format!("{name:?} is reserved"));
    }
    if name.starts_with('-') {
        return Err("a name must not start with `-`".into());
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '_' | '.' | '-'))) {
        return Err(format!("{bad:?} is not allowed; use only a-z, A-Z, 0-9, `+`, `_`, `.` and `-`"));
    }
    Ok(())
}

/// Checks a volume group name.
pub fn check_vg_name(name: &str) -> Result<(), String> {
    check_common(name)
}

/// Checks a logical volume name.
pub fn check_lv_name(name: &str) -> Result<(), String> {
    check_common(name)?;
    if name.starts_with("snapshot") || name.starts_with("pvmove") {
        return Err("names starting with \"snapshot\" or \"pvmove\" are reserved by lvm2".into());
    }
    if let Some(part) = RESERVED_PARTS.iter().find(|part| name.contains(*part)) {
        return Err(format!("{part:?} is reserved by lvm2 for internal volumes"));
    }
    Ok(())
}

/// Checks that `VG-LV` fits a device-mapper name.
pub fn check_dm_name(vg: &str, lv: &str) -> Result<(), String> {
    let escaped = |name: &str| name.len() + name.matches('-').count();
    let length = escaped(vg) + 1 + escaped(lv);
    if length > DM_NAME_MAX {
        return Err(format!(
            "the device-mapper name of {vg}/{lv} would be {length} characters, more than {DM_NAME_MAX}; use shorter names"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_seed_names() {
        for name in ["vg_jts", "lv_postgres", "lv_local_backup", "a+b.c-d"] {
            assert_eq!(check_lv_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn rejects_what_lvm_rejects() {
        for (bad, why) in [
            ("", "empty"),
            ("..", "reserved"),
            ("-x", "start with `-`"),
            ("lv pg", "' '"),
            ("lv/pg", "'/'"),
            ("snapshot1", "reserved by lvm2"),
            ("data_tmeta", "\"_tmeta\""),
        ] {
            let err = check_lv_name(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert_eq!(check_vg_name("snapshots"), Ok(()), "the prefix rule is for LVs only");
        assert!(check_dm_name(&"v".repeat(60), &"l-".repeat(30)).is_err());
        assert!(check_dm_name("vg_jts", "lv_postgres").is_ok());
    }
}
