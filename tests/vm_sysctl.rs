//! VM tier: `[sysctl]` applied live. The guest's kernel and its throwaway /etc stand in
//! for a host's, so nothing here changes this machine's settings.
//!
//! apply writes /etc/sysctl.d/60-jts.conf and sets the value now; validate is clean; a
//! hand change of the live value (as `sysctl -w` would make) makes validate exit 4, and
//! apply restores it. A key the kernel does not have is exit 2 at check, with nothing
//! touched. (A hand-edited drop-in is `root_sysctl`'s: it needs no live kernel.) Each
//! run of the binary costs seconds under TCG, so the runs here are the few the live
//! path needs.

use jts_testkit::{SpecDir, require_vm_guest};

const KEY: &str = "/proc/sys/net/core/rmem_max";
const DROP_IN: &str = "/etc/sysctl.d/60-jts.conf";

fn live() -> String {
    std::fs::read_to_string(KEY).unwrap().trim().to_owned()
}

/// Puts the kernel's value back, whatever the test did.
struct Restore(String);

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = std::fs::write(KEY, &self.0);
        let _ = std::fs::remove_file(DROP_IN);
    }
}

#[test]
#[ignore = "VM tier: run by scripts/vm-test.sh"]
fn vm_sysctl_round_trips_live() {
    require_vm_guest();
    let _restore = Restore(live());
    let dir = SpecDir::new();
    let spec = dir.spec("version = 1\n[sysctl]\n\"net.core.rmem_max\" = 16777216\n\"net.core.wmem_max\" = 16777216\n");
    dir.run(&spec, &["apply"]).expect_code(0);
    assert_eq!(live(), "16777216");
    let drop_in = std::fs::read_to_string(DROP_IN).unwrap();
    assert!(drop_in.contains("net.core.rmem_max = 16777216\nnet.core.wmem_max = 16777216\n"), "{drop_in}");
    dir.run(&spec, &["validate"]).expect_code(0);

    // A hand change of the live value: drift, named; apply puts it back.
    std::fs::write(KEY, "212992").unwrap();
    let drift = dir.run(&spec, &["validate", "--json"]);
    drift.expect_code(4);
    let text = drift.stdout.clone();
    assert!(text.contains("sysctl net.core.rmem_max") && text.contains("212992"), "{drift:?}");
    dir.run(&spec, &["apply"]).expect_code(0);
    assert_eq!(live(), "16777216");
    dir.run(&spec, &["validate"]).expect_code(0);

    // A key this kernel does not have: exit 2 at check, the live value untouched.
    let bad = dir.spec("version = 1\n[sysctl]\n\"net.core.rmem_maxx\" = 1\n");
    let run = dir.run(&bad, &["apply"]);
    run.expect_code(2);
    assert!(run.stderr.contains("this kernel has no net.core.rmem_maxx"), "{run:?}");
    assert_eq!(live(), "16777216");
}
