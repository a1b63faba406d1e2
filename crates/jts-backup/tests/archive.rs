//! Archives written and read back by any user, on whatever filesystem the temporary
//! directory is: the round trip of content and metadata, verify naming a damaged file,
//! and the footer read alone. (The root tier adds owners, ACLs and security xattrs.)

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

use jts_backup::retention::KeepPolicy;
use jts_backup::spec::{HookCommands, OnHookFailure};
use jts_backup::{Backup, Source, restore, run, verify_archive};
use jts_core::{AbsPath, Root};

fn backup(source: &Path, to: &Path) -> Backup {
    Backup {
        name: "etc".to_owned(),
        source: Source::Path { path: AbsPath::new(source).unwrap() },
        to: AbsPath::new(to).unwrap(),
        keep: KeepPolicy::default(),
        level: 3,
        hooks: HookCommands::default(),
        on_hook_failure: OnHookFailure::Abort,
    }
}

fn tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("conf/deep")).unwrap();
    std::fs::write(dir.join("conf/a.toml"), "a = 1\n").unwrap();
    std::fs::write(dir.join("conf/deep/b.bin"), vec![7u8; 300_000]).unwrap();
    std::fs::hard_link(dir.join("conf/a.toml"), dir.join("a-link.toml")).unwrap();
    std::os::unix::fs::symlink("conf/a.toml", dir.join("current")).unwrap();
    let sparse = std::fs::File::create(dir.join("sparse.img")).unwrap();
    sparse.set_len(64 << 20).unwrap();
    std::os::unix::fs::FileExt::write_at(&sparse, b"middle", 32 << 20).unwrap();
    std::fs::set_permissions(dir.join("conf/a.toml"), std::fs::Permissions::from_mode(0o640)).unwrap();
    let long = "x".repeat(120);
    std::fs::write(dir.join(format!("conf/{long}.txt")), "long name\n").unwrap();
}

#[test]
fn a_tree_round_trips_through_an_archive() {
    let scratch = tempfile::tempdir().unwrap();
    let (source, to, target) = (scratch.path().join("src"), scratch.path().join("to"), scratch.path().join("restored"));
    tree(&source);
    std::fs::create_dir(&to).unwrap();
    let report =
        run(&jts_core::SystemRunner, &Root::host(), &backup(&source, &to), SystemTime::now(), &|_| {}).unwrap();
    assert_eq!(report.files, 4, "{report:?}");
    assert!(report.archive.file_name().unwrap().to_str().unwrap().starts_with("etc-"));
    let names: Vec<_> = std::fs::read_dir(&to).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "only the archive, no temporary: {names:?}");
    let verified = verify_archive(&report.archive).unwrap();
    assert_eq!(verified.files, 4);
    restore(&report.archive, &target).unwrap();
    for rel in ["conf/a.toml", "conf/deep/b.bin", "sparse.img"] {
        assert_eq!(std::fs::read(source.join(rel)).unwrap(), std::fs::read(target.join(rel)).unwrap(), "{rel}");
    }
    let meta = |p: &Path| std::fs::symlink_metadata(p).unwrap();
    assert_eq!(meta(&target.join("conf/a.toml")).mode(), meta(&source.join("conf/a.toml")).mode());
    assert_eq!(meta(&target.join("conf/a.toml")).ino(), meta(&target.join("a-link.toml")).ino(), "hard link kept");
    assert_eq!(std::fs::read_link(target.join("current")).unwrap(), Path::new("conf/a.toml"));
    assert!(meta(&target.join("sparse.img")).blocks() * 512 < 1 << 20, "holes kept");
    assert_eq!(meta(&target.join("conf/deep/b.bin")).mtime_nsec(), meta(&source.join("conf/deep/b.bin")).mtime_nsec());
    assert!(!target.join(jts_backup::INCOMPLETE_MARKER).exists());
    assert!(!target.join(".jts-manifest.json").exists(), "the manifest member is not restored");
}

#[test]
fn a_flipped_byte_is_named_by_verify() {
    let scratch = tempfile::tempdir().unwrap();
    let (source, to) = (scratch.path().join("src"), scratch.path().join("to"));
    std::fs::create_dir_all(&source).unwrap();
    std::fs::create_dir(&to).unwrap();
    // Incompressible content, so that the byte lands in this file's stored data.
    let mut noise = vec![0u8; 4 << 20];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for byte in &mut noise {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state as u8;
    }
    std::fs::write(source.join("small.txt"), "hello\n").unwrap();
    std::fs::write(source.join("noise.bin"), &noise).unwrap();
    let archive =
        run(&jts_core::SystemRunner, &Root::host(), &backup(&source, &to), SystemTime::now(), &|_| {}).unwrap().archive;
    let mut bytes = std::fs::read(&archive).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&archive, bytes).unwrap();
    let err = verify_archive(&archive).unwrap_err().to_string();
    assert!(err.contains(archive.to_str().unwrap()) && err.contains("noise.bin"), "{err}");
}

#[test]
fn two_runs_in_one_second_do_not_overwrite() {
    let scratch = tempfile::tempdir().unwrap();
    let (source, to) = (scratch.path().join("src"), scratch.path().join("to"));
    std::fs::create_dir_all(&source).unwrap();
    std::fs::create_dir(&to).unwrap();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    run(&jts_core::SystemRunner, &Root::host(), &backup(&source, &to), now, &|_| {}).unwrap();
    let err = run(&jts_core::SystemRunner, &Root::host(), &backup(&source, &to), now, &|_| {}).unwrap_err();
    assert!(err.to_string().contains("exists"), "{err}");
    assert_eq!(std::fs::read_dir(&to).unwrap().count(), 1, "no temporary left");
}

/// Rewrites `archive`'s tar with `edit` applied to its uncompressed bytes, keeping the
/// original footer frame (`footer` bytes long, at the end): a tampered member whose
/// archive still looks finished.
fn tamper(archive: &Path, footer: usize, edit: impl FnOnce(&mut Vec<u8>)) {
    let bytes = std::fs::read(archive).unwrap();
    let (stream, frame) = bytes.split_at(bytes.len() - footer);
    let mut tar = zstd::stream::decode_all(stream).unwrap();
    edit(&mut tar);
    let mut out = zstd::stream::encode_all(tar.as_slice(), 3).unwrap();
    out.extend_from_slice(frame);
    std::fs::write(archive, out).unwrap();
}

fn position(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).position(|w| w == needle).unwrap_or_else(|| panic!("{needle:?} not found"))
}

#[test]
fn a_manifest_member_or_an_order_unlike_the_footers_is_named() {
    let scratch = tempfile::tempdir().unwrap();
    let (source, to) = (scratch.path().join("src"), scratch.path().join("to"));
    tree(&source);
    std::fs::create_dir(&to).unwrap();
    let archive =
        run(&jts_core::SystemRunner, &Root::host(), &backup(&source, &to), SystemTime::now(), &|_| {}).unwrap().archive;
    let original = std::fs::read(&archive).unwrap();
    let manifest_len = u64::from_le_bytes(original[original.len() - 16..original.len() - 8].try_into().unwrap());
    let footer = usize::try_from(manifest_len).unwrap() + 8 + 48;

    // The manifest member says another version wrote it; the footer does not.
    tamper(&archive, footer, |tar| {
        let at = position(tar, b"\"jts_version\":\"") + 15;
        tar[at] = if tar[at] == b'9' { b'8' } else { b'9' };
    });
    let err = verify_archive(&archive).unwrap_err().to_string();
    assert!(err.contains("the manifest member differs from the footer's copy"), "{err}");

    // A file's name in the stream no longer matches the manifest's record.
    std::fs::write(&archive, &original).unwrap();
    tamper(&archive, footer, |tar| {
        let at = position(tar, b"conf/deep/b.bin");
        tar[at + 10] = b'z';
    });
    let err = verify_archive(&archive).unwrap_err().to_string();
    assert!(err.contains("conf/deep/z.bin is not in the manifest"), "{err}");
}

#[test]
fn a_new_filesystems_empty_lost_and_found_takes_the_archives() {
    let scratch = tempfile::tempdir().unwrap();
    let (source, to, target) = (scratch.path().join("src"), scratch.path().join("to"), scratch.path().join("new-lv"));
    tree(&source);
    std::fs::create_dir(source.join("lost+found")).unwrap();
    std::fs::set_permissions(source.join("lost+found"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::create_dir(&to).unwrap();
    // What mkfs.ext4 leaves at the root of a new volume.
    std::fs::create_dir_all(target.join("lost+found")).unwrap();
    let archive =
        run(&jts_core::SystemRunner, &Root::host(), &backup(&source, &to), SystemTime::now(), &|_| {}).unwrap().archive;
    restore(&archive, &target).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o7777;
    assert_eq!(mode(&target.join("lost+found")), 0o700);
    assert_eq!(std::fs::read(target.join("conf/a.toml")).unwrap(), b"a = 1\n");
}
