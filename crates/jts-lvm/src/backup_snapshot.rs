//! The temporary snapshot a `volume` backup reads.
//!
//! It is named `ORIGIN-jtsbackup-ID` (the archive's id), so that snapshot retention
//! ([`crate::prune`]) never counts or removes it, and the next backup run knows a
//! leftover of an interrupted one as its own.

use jts_core::{CmdSpec, Runner, Size};

use crate::error::Result;
use crate::observe::{lvs_command, read_lvs};
use crate::report::parse_lvs;
use crate::state::LvInfo;
use crate::step::lvm_size;

/// What separates the origin from the archive id in a backup snapshot's name.
pub const BACKUP_SNAPSHOT_INFIX: &str = "-jtsbackup-";

/// The COW space of a backup snapshot when the backup gives no `snapshot_size`.
pub const DEFAULT_BACKUP_COW: &str = "10%ORIGIN";

/// The name of the snapshot of `origin` a backup with archive id `id` reads.
pub fn backup_snapshot_name(origin: &str, id: &str) -> String {
    format!("{origin}{BACKUP_SNAPSHOT_INFIX}{id}")
}

/// Whether `name` is a backup's temporary snapshot.
pub fn is_backup_snapshot(name: &str) -> bool {
    name.contains(BACKUP_SNAPSHOT_INFIX)
}

/// `lvcreate --snapshot --size S --name NAME VG/ORIGIN` (`--extents 10%ORIGIN` without a
/// size). lvm2 freezes a mounted origin's filesystem while it takes the snapshot.
pub fn create_backup_snapshot_command(vg: &str, origin: &str, name: &str, size: Option<Size>) -> CmdSpec {
    let cmd = CmdSpec::new("lvcreate").arg("--snapshot");
    let cmd = match size {
        Some(size) => cmd.opt("--size", lvm_size(size)),
        None => cmd.opt("--extents", DEFAULT_BACKUP_COW),
    };
    cmd.opt("--name", name).arg(format!("{vg}/{origin}"))
}

/// `lvremove --yes VG/NAME`.
pub fn remove_lv_command(vg: &str, name: &str) -> CmdSpec {
    CmdSpec::new("lvremove").arg("--yes").arg(format!("{vg}/{name}"))
}

/// The `lvs` row of `VG/NAME`, or `None` when lvm2 has no such LV.
pub fn read_lv(runner: &dyn Runner, vg: &str, name: &str) -> Result<Option<LvInfo>> {
    let cmd = lvs_command().arg(format!("{vg}/{name}"));
    match runner.run(&cmd) {
        Ok(output) => Ok(parse_lvs(&output.stdout)?.into_iter().find(|lv| lv.vg == vg && lv.name == name)),
        Err(jts_core::Error::Command(failure)) if failure.stderr.contains("Failed to find logical volume") => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// The backup snapshots of `VG/ORIGIN` that exist now: leftovers of interrupted runs
/// when no backup is running.
pub fn backup_snapshots_of(runner: &dyn Runner, vg: &str, origin: &str) -> Result<Vec<String>> {
    Ok(read_lvs(runner)?
        .into_iter()
        .filter(|lv| {
            lv.vg == vg
                && lv.origin.as_deref() == Some(origin)
                && lv.attr.is_cow_snapshot()
                && is_backup_snapshot(&lv.name)
        })
        .map(|lv| lv.name)
        .collect())
}

#[cfg(test)]
mod tests {
    use jts_core::{CmdFailure, CmdOutput, RecordingRunner};

    use super::*;

    #[test]
    fn names_are_told_apart_from_scheduled_snapshots() {
        let name = backup_snapshot_name("lv_pg", "20261204T060000Z");
        assert_eq!(name, "lv_pg-jtsbackup-20261204T060000Z");
        assert!(is_backup_snapshot(&name));
        assert!(!is_backup_snapshot(&crate::snapshot_name("lv_pg", std::time::SystemTime::UNIX_EPOCH)));
    }

    #[test]
    fn create_takes_the_budget_or_a_tenth_of_the_origin() {
        let sized = create_backup_snapshot_command("vg", "lv", "s", Some(Size::from_bytes(256 << 20)));
        assert_eq!(sized.to_shell(), "lvcreate --snapshot --size 256m --name s vg/lv");
        assert_eq!(
            create_backup_snapshot_command("vg", "lv", "s", None).to_shell(),
            "lvcreate --snapshot --extents '10%ORIGIN' --name s vg/lv"
        );
    }

    #[test]
    fn a_missing_lv_reads_as_none_and_other_failures_as_errors() {
        let missing = CmdFailure {
            command: "lvs".into(),
            status: "exited with status 5".into(),
            stderr: "  Failed to find logical volume \"vg/s\"".into(),
            stdout: String::new(),
        };
        let runner = RecordingRunner::new().reply(Err(missing.clone()));
        assert_eq!(read_lv(&runner, "vg", "s").unwrap(), None);
        let broken = CmdFailure { stderr: "  Volume group \"vg\" not found".into(), ..missing };
        assert!(read_lv(&RecordingRunner::new().reply(Err(broken)), "vg", "s").is_err());
        let json = r#"{"report":[{"lv":[{"vg_name":"vg","lv_name":"s","lv_uuid":"u","lv_size":"1048576",
            "lv_attr":"swi-a-s---","origin":"lv","data_percent":"12.50","snap_percent":"","lv_time":"1"}]}]}"#;
        let runner = RecordingRunner::new().reply(Ok(CmdOutput { stdout: json.into(), ..CmdOutput::default() }));
        let lv = read_lv(&runner, "vg", "s").unwrap().unwrap();
        assert_eq!(lv.data_percent, Some(crate::Percent::from_hundredths(1250)));
        assert!(runner.calls()[0].to_shell().ends_with(" vg/s"));
    }
}
