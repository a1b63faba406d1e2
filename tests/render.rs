//! System integration files: `render` prints them, `plan` plans their writes, and (root
//! tier) `apply` writes them under `--root`, exactly, once, in a form systemd accepts.

use std::path::Path;

use jts_testkit::{
    LoopDevice, MIB, have_program, jts_at, provision_bin, require_root, tempdir, tool, under, write_file,
};

const SPEC: &str = r#"version = 1
[filesystems.warm]
device = "/dev/nvme1n1"
filesystem = "btrfs"
mount_point = "/var/lib/postgresql"
mount_options = ["compress=zstd:3", "noatime"]

[nfs_mounts.cold]
source = "nas.internal:/volume1/jts"
mount_point = "/mnt/synology"
options = ["vers=4.2", "hard", "_netdev"]
"#;

/// A blank machine: no accounts beyond the files, nothing observed.
const BLANK_STATE: &str = r#"{"perms":{"accounts":{"files_present":true,"users":{},"groups":{}},"paths":{}}}"#;

const DROPIN: &str = "/etc/systemd/system/postgresql.service.d/jts-mounts.conf";
const SERVICE: &str = "/etc/systemd/system/jts-fstrim.service";
const TIMER: &str = "/etc/systemd/system/jts-fstrim.timer";
const UDEV: &str = "/etc/udev/rules.d/60-jts-nvme-scheduler.rules";
const HEALTH_SERVICE: &str = "/etc/systemd/system/jts-health.service";
const HEALTH_TIMER: &str = "/etc/systemd/system/jts-health.timer";
const SCRUB_SERVICE: &str = "/etc/systemd/system/jts-scrub.service";
const SCRUB_TIMER: &str = "/etc/systemd/system/jts-scrub.timer";

/// `render --json` as `(path, contents)` pairs.
fn rendered(spec: &Path, root: &Path) -> Vec<(String, String)> {
    let run = jts_at(spec, root, &["render", "--json"]);
    run.expect_code(0);
    let json = run.json();
    json["files"]
        .as_array()
        .unwrap_or_else(|| panic!("no files array:{run:?}"))
        .iter()
        .map(|f| (f["path"].as_str().unwrap().to_owned(), f["contents"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn render_prints_dropin_timer_and_udev_rule_under_root_and_writes_nothing() {
    let work = tempdir();
    let spec = write_file(work.path(), "storage.toml", SPEC);
    let root = work.path().join("root");
    let files = rendered(&spec, &root);
    let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    let expected: Vec<String> =
        [DROPIN, UDEV, HEALTH_SERVICE, HEALTH_TIMER, SERVICE, TIMER, SCRUB_SERVICE, SCRUB_TIMER]
            .iter()
            .map(|p| under(&root, p).display().to_string())
            .collect();
    assert_eq!(paths, expected, "one drop-in (postgresql's data is on the mount), udev, health, fstrim, btrfs scrub");
    let contents = |path: &str| &files.iter().find(|(p, _)| p.ends_with(path)).unwrap().1;
    assert!(contents(HEALTH_SERVICE).contains("SuccessExitStatus=1 2 3\n"), "{}", contents(HEALTH_SERVICE));
    assert!(contents(HEALTH_TIMER).contains("OnUnitActiveSec=1min\n"), "{}", contents(HEALTH_TIMER));
    assert!(contents(DROPIN).contains("[Unit]\nRequiresMountsFor=/var/lib/postgresql\n"), "{}", contents(DROPIN));
    assert!(contents(TIMER).contains("OnCalendar=weekly"));
    let exec = format!("ExecStart={} --config {} trim\n", provision_bin().display(), spec.display());
    assert!(contents(SERVICE).contains(&exec), "the running binary and the spec:\n{}", contents(SERVICE));
    assert!(contents(UDEV).contains("ATTR{queue/scheduler}=\"none\""));
    assert!(!root.exists(), "render writes nothing");

    let text = jts_at(&spec, &root, &["render"]);
    text.expect_code(0);
    assert!(text.stdout.contains(&format!("# {}\n", under(&root, DROPIN).display())), "{text:?}");
    assert!(text.stdout.contains("RequiresMountsFor=/var/lib/postgresql"), "{text:?}");
}

#[test]
fn plan_writes_the_files_after_the_mounts_and_before_directories() {
    let work = tempdir();
    let spec = write_file(work.path(), "storage.toml", &format!("{SPEC}\n[[directories]]\npath = \"/srv/x\"\n"));
    let state = write_file(work.path(), "state.json", BLANK_STATE);
    let root = work.path().join("root");
    let run = jts_at(&spec, &root, &["plan", "--json", "--state", state.to_str().unwrap()]);
    run.expect_code(0);
    let steps = run.json()["steps"].as_array().unwrap().clone();
    let kinds: Vec<&str> = steps.iter().map(|s| s["kind"].as_str().unwrap()).collect();
    let writes: Vec<&serde_json::Value> = steps.iter().filter(|s| s["kind"] == "WriteFile").collect();
    let objects: Vec<&str> = writes.iter().map(|s| s["object"].as_str().unwrap()).collect();
    assert_eq!(
        objects,
        [DROPIN, UDEV, HEALTH_SERVICE, HEALTH_TIMER, SERVICE, TIMER, SCRUB_SERVICE, SCRUB_TIMER],
        "{kinds:?}"
    );
    let first_write = kinds.iter().position(|k| *k == "WriteFile").unwrap();
    assert!(kinds.iter().rposition(|k| *k == "Mount").unwrap() < first_write, "{kinds:?}");
    assert!(kinds.iter().position(|k| *k == "CreateDirectory").unwrap() > first_write, "{kinds:?}");
    let commands: Vec<&str> = writes[0]["commands"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    let write = format!("write-atomic {} (3 lines, mode 0644)", under(&root, DROPIN).display());
    assert!(commands.contains(&write.as_str()), "{commands:#?}");
    assert_eq!(writes[0]["drift"]["actual"], "missing");
}

#[test]
fn plan_against_a_probe_state_with_the_files_in_place_plans_no_writes() {
    let work = tempdir();
    let spec = write_file(work.path(), "storage.toml", SPEC);
    let root = work.path().join("root");
    let mut state: serde_json::Value = serde_json::from_str(BLANK_STATE).unwrap();
    let files: serde_json::Map<String, serde_json::Value> = rendered(&spec, Path::new("/"))
        .into_iter()
        .map(|(path, contents)| (path, serde_json::Value::String(contents)))
        .collect();
    state["files"] = serde_json::Value::Object(files.clone());
    let state_file = write_file(work.path(), "state.json", &state.to_string());
    let run = jts_at(&spec, &root, &["plan", "--json", "--state", state_file.to_str().unwrap()]);
    run.expect_code(0);
    assert!(run.json()["steps"].as_array().unwrap().iter().all(|s| s["kind"] != "WriteFile"), "{run:?}");

    // One file edited by hand: just that one is rewritten, and its drift is named.
    let mut edited = files;
    edited.insert(TIMER.into(), "[Timer]\nOnCalendar=daily\n".into());
    state["files"] = serde_json::Value::Object(edited);
    let state_file = write_file(work.path(), "state.json", &state.to_string());
    let run = jts_at(&spec, &root, &["plan", "--json", "--state", state_file.to_str().unwrap()]);
    run.expect_code(0);
    let json = run.json();
    let writes: Vec<&serde_json::Value> =
        json["steps"].as_array().unwrap().iter().filter(|s| s["kind"] == "WriteFile").collect();
    assert_eq!(writes.len(), 1, "{run:?}");
    assert_eq!(writes[0]["object"], TIMER);
    assert_eq!(writes[0]["drift"]["actual"], "differs from line 1: \"[Timer]\"");
}

// ---------------------------------------------------------------------------------------
// Root tier.

#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_apply_writes_the_rendered_files_exactly_once_and_systemd_accepts_them() {
    require_root();
    let work = tempdir();
    let root = work.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/fstab"), "# /etc/fstab\n").unwrap();
    let mut disk = LoopDevice::new(64 * MIB);
    let spec = write_file(
        work.path(),
        "storage.toml",
        &format!(
            "version = 1\n[filesystems.pg]\ndevice = \"{}\"\nfilesystem = \"ext4\"\nmount_point = \"/var/lib/postgresql\"\n",
            disk.device()
        ),
    );
    let mount_point = under(&root, "/var/lib/postgresql");
    disk.unmount_on_drop(mount_point.clone());
    let expected = rendered(&spec, &root);
    let paths: Vec<&str> = expected.iter().map(|(p, _)| p.as_str()).collect();
    let want: Vec<String> = [DROPIN, HEALTH_SERVICE, HEALTH_TIMER, SERVICE, TIMER]
        .iter()
        .map(|p| under(&root, p).display().to_string())
        .collect();
    assert_eq!(paths, want, "a loop device is no NVMe: no udev rule");

    let first = jts_at(&spec, &root, &["apply", "--json"]);
    first.expect_code(0);
    let done: Vec<String> = first.json()["done"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "WriteFile")
        .map(|s| s["object"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(done, [DROPIN, HEALTH_SERVICE, HEALTH_TIMER, SERVICE, TIMER], "{first:?}");
    for (path, contents) in &expected {
        assert_eq!(&std::fs::read_to_string(path).unwrap(), contents, "{path}");
    }
    // Every rendered timer is on, as systemd itself reports it.
    for timer in ["jts-health.timer", "jts-fstrim.timer"] {
        let enabled = tool("systemctl", &["--root", root.to_str().unwrap(), "is-enabled", timer]);
        assert_eq!((enabled.code, enabled.stdout.trim()), (0, "enabled"), "{timer}: {enabled:?}");
    }

    let second = jts_at(&spec, &root, &["apply", "--json"]);
    second.expect_code(0);
    assert_eq!(second.json()["changes"], 0, "{second:?}");
    jts_at(&spec, &root, &["validate"]).expect_code(0);

    // Drift: a unit edited by hand is reported, then restored.
    std::fs::write(under(&root, TIMER), "[Timer]\nOnCalendar=daily\n").unwrap();
    let drift = jts_at(&spec, &root, &["validate", "--json"]);
    drift.expect_code(4);
    let items = drift.json()["drift"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{drift:?}");
    assert_eq!(items[0]["object"], TIMER);
    jts_at(&spec, &root, &["apply"]).expect_code(0);
    assert_eq!(std::fs::read_to_string(under(&root, TIMER)).unwrap(), expected[4].1);

    // The root tier runs after scripts/install-deps.sh, which installs systemd.
    assert!(have_program("systemd-analyze"), "systemd-analyze is not installed: run scripts/install-deps.sh");
    // A stub postgresql.service beside its drop-in, so that the drop-in has a unit.
    let units = under(&root, "/etc/systemd/system");
    let stub = units.join("postgresql.service");
    std::fs::write(&stub, "[Unit]\nDescription=stub\n[Service]\nExecStart=/bin/true\n").unwrap();
    let verify = tool(
        "systemd-analyze",
        &[
            "verify",
            "--man=no",
            stub.to_str().unwrap(),
            units.join("jts-fstrim.service").to_str().unwrap(),
            units.join("jts-fstrim.timer").to_str().unwrap(),
            units.join("jts-health.service").to_str().unwrap(),
            units.join("jts-health.timer").to_str().unwrap(),
        ],
    );
    verify.expect_code(0);
    assert_eq!(verify.stderr.trim(), "", "systemd-analyze complained:{verify:?}");
}

#[test]
fn the_tier_units_of_a_spec_with_rules_are_accepted_by_systemd() {
    let work = tempdir();
    let rules = "version = 1\n[[rules]]\nname = \"logs\"\nfrom = \"/data/hot/logs\"\nto = \"/mnt/nas/logs\"\n\
                 older_than = \"7d\"\naction = \"move\"\n";
    let spec = write_file(work.path(), "storage.toml", rules);
    let root = work.path().join("root");
    let files = rendered(&spec, &root);
    let units = work.path().join("units");
    std::fs::create_dir_all(&units).unwrap();
    let mut written = Vec::new();
    for (path, contents) in files.iter().filter(|(p, _)| p.contains("/jts-tier.")) {
        let file = units.join(Path::new(path).file_name().unwrap());
        std::fs::write(&file, contents).unwrap();
        written.push(file.to_str().unwrap().to_owned());
    }
    assert_eq!(written.len(), 2, "jts-tier.service and jts-tier.timer: {files:?}");
    if !have_program("systemd-analyze") {
        assert!(!jts_testkit::is_root(), "systemd-analyze is missing: run `bash scripts/install-deps.sh`");
        eprintln!("skipping systemd-analyze verify: not installed (apt-get install -y systemd); required as root");
        return;
    }
    let mut args = vec!["verify".to_owned(), "--man=no".to_owned()];
    args.extend(written);
    let verify = tool("systemd-analyze", &args);
    verify.expect_code(0);
    assert_eq!(verify.stderr.trim(), "", "systemd-analyze complained:{verify:?}");
}

/// The `ExecStart=` of a rendered service, split into words (no word of these tests
/// holds a space).
fn exec_start(unit: &str) -> Vec<String> {
    let line = unit.lines().find_map(|l| l.strip_prefix("ExecStart=")).unwrap_or_else(|| panic!("{unit}"));
    line.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn units_run_the_binary_that_rendered_them_and_the_spec_it_read() {
    let work = tempdir();
    let elsewhere = work.path().join("opt/jts/bin");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let copy = elsewhere.join("jts-provision");
    std::fs::copy(provision_bin(), &copy).unwrap();
    let specs = work.path().join("etc/jts-specs");
    std::fs::create_dir_all(&specs).unwrap();
    let spec = write_file(&specs, "host-a.toml", SPEC);
    let run = tool(copy.to_str().unwrap(), &["--config", spec.to_str().unwrap(), "render", "--json"]);
    run.expect_code(0);
    let json = run.json();
    let services: Vec<&str> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["path"].as_str().unwrap().ends_with(".service"))
        .map(|f| f["contents"].as_str().unwrap())
        .collect();
    assert_eq!(services.len(), 3, "health, fstrim and scrub: {json}");
    for service in services {
        let words = exec_start(service);
        assert_eq!(words[..3], [copy.to_str().unwrap(), "--config", spec.to_str().unwrap()], "{service}");
    }
}

/// The trim unit, run as systemd runs it, with a tmpfs (which cannot discard) first in
/// its list and one mount point with nothing mounted: both are reported and skipped,
/// every other filesystem is trimmed, and the unit succeeds.
#[test]
#[ignore = "root tier: needs uid 0 (loop devices, mount, chown, ACLs)"]
fn root_the_trim_unit_trims_every_filesystem_past_one_that_cannot_discard() {
    require_root();
    let work = tempdir();
    let base = work.path().join("mnt");
    let mut ext4 = LoopDevice::new(64 * MIB).formatted("mkfs.ext4", &["-q"]);
    let mut xfs = LoopDevice::new(320 * MIB).formatted("mkfs.xfs", &["-q"]);
    let (a, b, c, d) = (base.join("a-tmpfs"), base.join("b-ext4"), base.join("c-xfs"), base.join("d-absent"));
    let spec = write_file(
        work.path(),
        "storage.toml",
        &format!(
            "version = 1\n\
             [filesystems.a]\ndevice = \"/dev/jts-never\"\nfilesystem = \"ext4\"\nmount_point = \"{}\"\n\
             [filesystems.b]\ndevice = \"{}\"\nfilesystem = \"ext4\"\nmount_point = \"{}\"\n\
             [filesystems.c]\ndevice = \"{}\"\nfilesystem = \"xfs\"\nmount_point = \"{}\"\n\
             [filesystems.d]\ndevice = \"/dev/jts-never-2\"\nfilesystem = \"ext4\"\nmount_point = \"{}\"\n",
            a.display(),
            ext4.device(),
            b.display(),
            xfs.device(),
            c.display(),
            d.display()
        ),
    );
    for dir in [&a, &b, &c, &d] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let _tmpfs = jts_testkit::Mount::new("tmpfs", &a, Some("tmpfs"), &[] as &[&str]);
    ext4.mount(&b, "ext4", &[]);
    xfs.mount(&c, "xfs", &[]);

    let files = rendered(&spec, Path::new("/"));
    let service = &files.iter().find(|(p, _)| p.ends_with("/jts-fstrim.service")).expect("a trim unit").1;
    let words = exec_start(service);
    let run = tool(&words[0], &words[1..].iter().map(String::as_str).collect::<Vec<_>>());
    run.expect_code(0);
    let line = |mp: &Path| run.stdout.lines().find(|l| l.starts_with(mp.to_str().unwrap())).unwrap_or("").to_owned();
    assert!(line(&a).contains("discard not supported"), "{run:?}");
    assert!(line(&b).contains("trimmed"), "{run:?}");
    assert!(line(&c).contains("trimmed"), "{run:?}");
    assert!(line(&d).contains("not mounted"), "{run:?}");
}

/// Every unit and drop-in the reference host renders (health, tier, trim, snapshots,
/// database and docker drop-ins) passes `systemd-analyze verify`.
#[test]
fn every_unit_the_reference_host_renders_passes_systemd_analyze_verify() {
    if !have_program("systemd-analyze") {
        assert!(!jts_testkit::is_root(), "systemd-analyze is missing: run `bash scripts/install-deps.sh`");
        eprintln!("skipping systemd-analyze verify: not installed (apt-get install -y systemd); required as root");
        return;
    }
    let work = tempdir();
    let spec = jts_testkit::repo_root().join("examples/three-tier.toml");
    let root = work.path().join("root");
    let units = work.path().join("units");
    let mut to_verify = Vec::new();
    for (path, contents) in rendered(&spec, &root) {
        let Ok(relative) = Path::new(&path).strip_prefix(root.join("etc/systemd/system")) else { continue };
        let file = units.join(relative);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, contents).unwrap();
        if let Some(unit) = relative.to_str().unwrap().strip_suffix(".d/jts-mounts.conf") {
            // A stub of the unit the drop-in attaches to.
            let stub = units.join(unit);
            std::fs::write(&stub, "[Unit]\nDescription=stub\n[Service]\nExecStart=/bin/true\n").unwrap();
            to_verify.push(stub);
        } else {
            to_verify.push(file);
        }
    }
    let names: Vec<String> = to_verify.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for expected in ["jts-snapshot-lv_postgres.timer", "jts-tier.service", "jts-fstrim.service", "docker.service"] {
        assert!(names.iter().any(|n| n == expected), "{expected} in {names:?}");
    }
    let mut args = vec!["verify".to_owned(), "--man=no".to_owned()];
    args.extend(to_verify.iter().map(|p| p.to_str().unwrap().to_owned()));
    let verify = tool("systemd-analyze", &args);
    verify.expect_code(0);
    assert_eq!(verify.stderr.trim(), "", "systemd-analyze complained:{verify:?}");
}
