//! Root tier: `scrub` on a real btrfs loop filesystem mounted under a scratch `--root`:
//! clean, it exits 0 with zero errors in its Prometheus text; with data corrupted on the
//! device under it, the scrub finds the checksum errors and exits 1, and the metric says
//! so. Also: the monthly units are rendered for btrfs, and defragmentation only on
//! opt-in, with its warning. Named `root_*`, ignored unless asked for.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use jts_testkit::{LoopDevice, jts_at, require_root, tempdir, tool, under, write_file};

const PATTERN: &[u8] = b"jts-scrub-test-block-";

fn spec(dir: &Path, device: &LoopDevice, extra: &str) -> std::path::PathBuf {
    let text = format!(
        "version = 1\n[filesystems.warm]\ndevice = \"{}\"\nfilesystem = \"btrfs\"\nmount_point = \"/data/warm\"\n{extra}",
        device.device()
    );
    write_file(dir, "storage.toml", &text)
}

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, btrfs scrub)"]
fn root_scrub_finds_corruption_and_reports_it_as_a_metric() {
    require_root();
    let tmp = tempdir();
    let root = tmp.path().join("root");
    let mut device = LoopDevice::new(320 << 20).formatted("mkfs.btrfs", &["-q", "-f"]);
    let at = under(&root, "/data/warm");
    std::fs::create_dir_all(&at).unwrap();
    device.mount(&at, "btrfs", &[]);
    let block: Vec<u8> = PATTERN.iter().copied().cycle().take(1 << 20).collect();
    std::fs::write(at.join("data"), &block).unwrap();
    tool("sync", &[] as &[&str]).expect_code(0);
    let spec = spec(tmp.path(), &device, "");
    let prom = tmp.path().join("scrub.prom");
    let prom_arg = prom.to_str().unwrap();

    let clean = jts_at(&spec, &root, &["scrub", "--textfile", prom_arg]);
    clean.expect_code(0);
    assert!(clean.stdout.contains("warm") && clean.stdout.contains("no errors"), "{clean:?}");
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(text.contains("jts_btrfs_scrub_errors{mount=\"warm\"} 0\n"), "{text}");
    assert!(text.contains("jts_btrfs_scrub_success{mount=\"warm\"} 1\n"), "{text}");

    // Corrupt the file's blocks on the device itself (the page cache dropped first, so
    // the scrub reads what is on the device).
    tool("umount", &[at.to_str().unwrap()]).expect_code(0);
    let image = std::fs::read(device.image().path()).unwrap();
    let offset = image.windows(PATTERN.len()).position(|w| w == PATTERN).expect("the data is on the device");
    let mut file = std::fs::OpenOptions::new().write(true).open(device.image().path()).unwrap();
    file.seek(SeekFrom::Start(offset as u64)).unwrap();
    file.write_all(&[0xff; 8192]).unwrap();
    file.sync_all().unwrap();
    drop(file);
    tool("mount", &[device.device(), at.to_str().unwrap()]).expect_code(0);
    device.unmount_on_drop(&at);

    let found = jts_at(&spec, &root, &["scrub", "--textfile", prom_arg]);
    found.expect_code(1);
    assert!(found.stdout.contains("ERRORS") && found.stdout.contains("uncorrectable"), "{found:?}");
    let text = std::fs::read_to_string(&prom).unwrap();
    let errors = text
        .lines()
        .find_map(|l| l.strip_prefix("jts_btrfs_scrub_errors{mount=\"warm\"} "))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("{text}"));
    assert!(errors > 0, "{text}");
}

#[test]
#[ignore = "root tier: needs uid 0 (a loop device for the spec's device path)"]
fn root_scrub_units_are_rendered_and_defragmentation_is_opt_in_with_a_warning() {
    require_root();
    let tmp = tempdir();
    let root = tmp.path().join("root");
    let device = LoopDevice::new(64 << 20);
    let plain = spec(tmp.path(), &device, "");
    let render = jts_at(&plain, &root, &["render"]);
    render.expect_code(0);
    assert!(render.stdout.contains("jts-scrub.timer") && render.stdout.contains("OnCalendar=monthly"), "{render:?}");
    assert!(!render.stdout.contains("defragment"), "no defragmentation without opt-in: {render:?}");

    let opted = spec(tmp.path(), &device, "[upkeep.warm]\ndefragment = true\n");
    let check = jts_at(&opted, &root, &["check"]);
    check.expect_code(0);
    assert!(check.stderr.contains("unshares the extents warm shares with snapshots and reflinked copies"), "{check:?}");
    let render = jts_at(&opted, &root, &["render"]);
    assert!(render.stdout.contains("ExecStart=/usr/bin/btrfs filesystem defragment -r /data/warm"), "{render:?}");

    let wrong = spec(tmp.path(), &device, "[upkeep.cold]\nscrub = true\n");
    let run = jts_at(&wrong, &root, &["check"]);
    run.expect_code(2);
    assert!(run.stderr.contains("cold is not a managed btrfs mount") && run.stderr.contains("(here: warm)"), "{run:?}");
}
