//! The VM tier's guest: its virtual disks and the directory it shares with the host.
//!
//! `scripts/vm-test.sh` sets `JTS_VM_GUEST=1`, `JTS_VM_DISKS` and `JTS_VM_WORK` inside
//! the guest, and runs the `vm_*` tests one at a time (`--test-threads=1`): they share
//! the disks, so each starts from blank disks ([`BlankDisks`]).

use std::path::PathBuf;

use crate::mounts::unmount_below;
use crate::run::tool;

/// The guest's virtual disks, separated by spaces (`/dev/vda /dev/vdb`).
pub const DISKS_VAR: &str = "JTS_VM_DISKS";
/// A directory the guest shares read-write with the host, removed after the run.
pub const WORK_VAR: &str = "JTS_VM_WORK";

/// The guest's virtual disks (`$JTS_VM_DISKS`): `/dev/vda` (3 GiB), `/dev/vdb` (2 GiB).
pub fn disks() -> Vec<String> {
    std::env::var(DISKS_VAR).unwrap_or_default().split_whitespace().map(str::to_owned).collect()
}

/// The guest's two virtual disks, failing the test when there are not two.
#[track_caller]
pub fn two_disks() -> [String; 2] {
    let found = disks();
    found.try_into().unwrap_or_else(|found| panic!("expected two disks in {DISKS_VAR}, found {found:?}"))
}

/// The directory shared with the host (`$JTS_VM_WORK`), for what the host should see.
#[track_caller]
pub fn work_dir() -> PathBuf {
    std::env::var_os(WORK_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{WORK_VAR} is not set: run inside the guest of scripts/vm-test.sh"))
}

/// Blank disks for one test: made blank when created, and again when dropped (passed or
/// failed), so the next test finds them blank too. Blank means: everything mounted below
/// the given directories unmounted, every volume group removed, and every disk's PV
/// label and signatures wiped.
#[derive(Debug)]
pub struct BlankDisks {
    mounted_below: Vec<PathBuf>,
}

impl BlankDisks {
    /// Unmounts what is mounted at or below each of `mounted_below` (where the tests mount
    /// the disks' filesystems), then wipes the disks, asserting that it works.
    #[track_caller]
    pub fn new(mounted_below: &[&str]) -> Self {
        let blank = Self { mounted_below: mounted_below.iter().map(PathBuf::from).collect() };
        blank.wipe(true);
        blank
    }

    fn wipe(&self, strict: bool) {
        for dir in &self.mounted_below {
            unmount_below(dir);
        }
        let vgs = tool("vgs", &["--noheadings", "-o", "vg_name"]);
        for vg in vgs.stdout.split_whitespace() {
            let removed = tool("vgremove", &["-ff", "-y", vg]);
            if strict {
                removed.expect_code(0);
            }
        }
        for disk in disks() {
            let _ = tool("pvremove", &["-ff", "-y", &disk]);
            let wiped = tool("wipefs", &["-a", &disk]);
            if strict {
                wiped.expect_code(0);
            }
        }
    }
}

impl Drop for BlankDisks {
    fn drop(&mut self) {
        self.wipe(false);
    }
}
