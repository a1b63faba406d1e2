//! Bad mount input through the binary: each spec exits 2 with a `file:line:col` message
//! that names the option and the fix, and nothing is touched. No root needed.

use jts_testkit::{jts_at, tempdir, write_file};

/// Runs `check` and `plan` on `body` under a scratch root and asserts both refuse it,
/// located on the line of `at`, with every word of `words` in the message.
fn assert_rejected(body: &str, at: &str, words: &[&str]) {
    let dir = tempdir();
    let text = format!("version = 1\n{body}");
    let spec = write_file(dir.path(), "storage.toml", &text);
    let root = dir.path().join("root");
    let line = text.lines().position(|l| l.contains(at)).unwrap_or_else(|| panic!("{at:?} not in spec")) + 1;
    for command in ["check", "plan"] {
        let run = jts_at(&spec, &root, &[command]);
        run.expect_code(2);
        let prefix = format!("{}:{line}:", spec.display());
        let located: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with(&prefix)).collect();
        assert!(!located.is_empty(), "no error located at line {line}:{run:?}");
        let message = located.join("\n");
        for word in words {
            assert!(message.contains(word), "{word:?} missing from {message}");
        }
        assert!(!root.exists(), "nothing touched");
    }
}

const WARM: &str = "[filesystems.warm]\ndevice = \"/dev/sdb2\"\nfilesystem = \"btrfs\"\nmount_point = \"/data/warm\"\n";

#[test]
fn an_unknown_mount_option_is_named() {
    assert_rejected(
        &format!("{WARM}mount_options = [\"noatime\", \"frobnicate\"]\n"),
        "frobnicate",
        &["frobnicate", "fix"],
    );
}

#[test]
fn an_option_removed_from_the_kernel_is_named() {
    let spec = "[filesystems.kafka]\ndevice = \"/dev/sdc\"\nfilesystem = \"xfs\"\nmount_point = \"/var/lib/kafka\"\n\
                mount_options = [\"noatime\", \"nobarrier\"]\n";
    assert_rejected(spec, "nobarrier", &["nobarrier", "4.19", "remove it"]);
}

#[test]
fn contradictory_options_are_named() {
    assert_rejected(
        &format!("{WARM}mount_options = [\"discard\", \"nodiscard\"]\n"),
        "nodiscard",
        &["contradicts discard", "keep only one"],
    );
}

#[test]
fn an_option_needing_a_feature_mkfs_did_not_enable_is_named() {
    let spec = "[filesystems.pg]\ndevice = \"/dev/sdd\"\nfilesystem = \"ext4\"\nmount_point = \"/var/lib/postgresql\"\n\
                mount_options = [\"prjquota\"]\n";
    assert_rejected(spec, "prjquota", &["prjquota", "-O project"]);
}

#[test]
fn a_mount_point_used_twice_is_rejected() {
    let spec = format!(
        "{WARM}[filesystems.other]\ndevice = \"/dev/sdc1\"\nfilesystem = \"ext4\"\nmount_point = \"/data/warm\"\n"
    );
    assert_rejected(&spec, "mount_point = \"/data/warm\"", &["filesystems.other", "its own mount point"]);
}

#[test]
fn a_local_filesystem_inside_an_nfs_mount_is_rejected() {
    let spec = "[nfs_mounts.cold]\nsource = \"nas.internal:/volume1/jts\"\nmount_point = \"/mnt/cold\"\n\
                options = [\"vers=4.2\", \"hard\", \"_netdev\"]\n\
                [filesystems.cache]\ndevice = \"/dev/sdc1\"\nfilesystem = \"ext4\"\nmount_point = \"/mnt/cold/cache\"\n";
    assert_rejected(spec, "/mnt/cold/cache", &["inside the NFS mount /mnt/cold", "outside"]);
}

#[test]
fn an_nfs_source_without_host_and_path_is_rejected() {
    let spec = "[nfs_mounts.cold]\nsource = \"nas.internal/volume1\"\nmount_point = \"/mnt/cold\"\n\
                options = [\"vers=4.2\", \"hard\", \"_netdev\"]\n";
    assert_rejected(spec, "source =", &["host:/path"]);
}

#[test]
fn mount_options_on_a_volume_without_a_mount_point_are_rejected() {
    let spec = "[volume_groups.vg]\ndevices = [\"/dev/vdb\"]\n[volume_groups.vg.volumes.lv_pg]\nsize = \"1GiB\"\n\
                filesystem = \"ext4\"\nmount_options = [\"noatime\"]\n";
    assert_rejected(spec, "[volume_groups.vg.volumes.lv_pg]", &["mount_point"]);
}
