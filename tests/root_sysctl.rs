//! Root tier: `[sysctl]` under a scratch `--root` writes the drop-in inside the root,
//! atomically, and never touches this machine's live settings (the root's kernel is not
//! this one); validate reports a hand-edited drop-in (exit 4) and apply restores it.
//! Bad keys are exit 2 with the fix. The live round trip is `vm_sysctl` (in the guest).

use jts_testkit::{jts_at, require_root, tempdir, under, write_file};

const KEY: &str = "/proc/sys/net/core/rmem_max";

#[test]
#[ignore = "root tier: needs uid 0 (reads /proc/sys as root would write it)"]
fn root_sysctl_under_a_root_writes_the_drop_in_and_leaves_the_kernel_alone() {
    require_root();
    let tmp = tempdir();
    let root = tmp.path().join("root");
    let live = std::fs::read_to_string(KEY).unwrap();
    let wanted: u64 = live.trim().parse::<u64>().unwrap() + 4096;
    let spec =
        write_file(tmp.path(), "storage.toml", &format!("version = 1\n[sysctl]\n\"net.core.rmem_max\" = {wanted}\n"));
    jts_at(&spec, &root, &["apply"]).expect_code(0);
    let drop_in = under(&root, "/etc/sysctl.d/60-jts.conf");
    let text = std::fs::read_to_string(&drop_in).unwrap();
    assert!(text.ends_with(&format!("net.core.rmem_max = {wanted}\n")), "{text}");
    assert_eq!(std::fs::read_to_string(KEY).unwrap(), live, "the live value is not applied under --root");
    jts_at(&spec, &root, &["validate"]).expect_code(0);

    std::fs::write(&drop_in, "net.core.rmem_max = 1\n").unwrap();
    let drift = jts_at(&spec, &root, &["validate"]);
    drift.expect_code(4);
    assert!(drift.stdout.contains("60-jts.conf"), "{drift:?}");
    jts_at(&spec, &root, &["apply"]).expect_code(0);
    assert_eq!(std::fs::read_to_string(&drop_in).unwrap(), text);
    jts_at(&spec, &root, &["validate"]).expect_code(0);
}

#[test]
#[ignore = "root tier: needs uid 0 (a scratch root)"]
fn root_sysctl_bad_keys_exit_2_with_nothing_touched() {
    require_root();
    let tmp = tempdir();
    let root = tmp.path().join("root");
    let spec = write_file(
        tmp.path(),
        "storage.toml",
        "version = 1\n[sysctl]\n\"net.core.rmem_maxx\" = 1\nnet.core.wmem_max = 2\n",
    );
    let run = jts_at(&spec, &root, &["apply"]);
    run.expect_code(2);
    assert!(run.stderr.contains(":3:") && run.stderr.contains("this kernel has no net.core.rmem_maxx"), "{run:?}");
    assert!(run.stderr.contains("quote it, e.g. \"net.core.rmem_max\""), "{run:?}");
    assert!(!root.exists(), "nothing touched");
}
