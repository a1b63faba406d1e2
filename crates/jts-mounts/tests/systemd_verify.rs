//! Rendered units checked by the real tools: `systemd-analyze verify` and `systemd-escape`.
//! Each test skips with a printed reason when its tool is not installed.

use jts_core::{AbsPath, CmdSpec, Runner, SystemRunner};
use jts_mounts::{
    DATABASE_UNITS, DeviceIds, MountFs, MountTarget, Observed, mount_unit, mount_unit_name, requires_mounts_dropins,
    systemd_escape_path,
};

fn tool(name: &str) -> bool {
    if SystemRunner::resolve(name).is_ok() {
        return true;
    }
    assert!(!jts_testkit::is_root(), "{name} is missing: run `bash scripts/install-deps.sh` (apt package systemd)");
    println!("skipped: {name} is not installed (apt-get install -y systemd); required when run as root");
    false
}

fn path(p: &str) -> AbsPath {
    AbsPath::new(p).unwrap()
}

fn targets() -> Vec<MountTarget> {
    vec![
        MountTarget::block(
            "pg",
            path("/dev/vg_jts/lv_postgres"),
            MountFs::Ext4,
            path("/var/lib/postgresql"),
            vec!["noatime".into(), "commit=10".into()],
        ),
        MountTarget::block(
            "warm",
            path("/dev/sda2"),
            MountFs::Btrfs,
            path("/data/warm-storage"),
            vec!["compress=zstd:3".into()],
        ),
        MountTarget::nfs("cold", "nas:/volume1/jts", path("/mnt/synology"), vec!["vers=4.2".into(), "_netdev".into()]),
    ]
}

/// Runs `systemd-analyze verify` on unit files; any complaint on stderr fails.
fn verify(files: &[std::path::PathBuf]) {
    let mut cmd = CmdSpec::new("systemd-analyze").arg("verify").arg("--man=no");
    for file in files {
        cmd = cmd.arg(file);
    }
    let out = SystemRunner.run(&cmd).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(out.stderr.trim(), "", "systemd-analyze complained");
}

#[test]
fn rendered_units_pass_systemd_analyze_verify() {
    if !tool("systemd-analyze") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, contents: &str| {
        let at = dir.path().join(name);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(&at, contents).unwrap();
        at
    };
    let mut to_verify = Vec::new();
    // Stub database units, so that the drop-ins have something to attach to.
    for unit in DATABASE_UNITS {
        to_verify.push(write(unit, "[Unit]\nDescription=stub\n[Service]\nExecStart=/bin/true\n"));
    }
    let pairs: Vec<(&str, AbsPath)> = DATABASE_UNITS.iter().map(|u| (*u, path("/var/lib/postgresql/data"))).collect();
    for file in requires_mounts_dropins(&pairs, &targets()) {
        let name = file.path.as_path().strip_prefix("/etc/systemd/system").unwrap();
        write(name.to_str().unwrap(), &file.contents);
    }
    let mut observed = Observed::default();
    observed
        .devices
        .insert(path("/dev/vg_jts/lv_postgres"), DeviceIds { uuid: Some("0a1b".into()), ..Default::default() });
    for target in targets() {
        let unit = mount_unit(&target, &observed);
        to_verify.push(write(unit.path.as_path().file_name().unwrap().to_str().unwrap(), &unit.contents));
    }
    verify(&to_verify);

    // The checker is real: a misnamed mount unit is refused.
    let wrong = mount_unit(&targets()[0], &observed).contents;
    let bad = write("wrong-name.mount", &wrong);
    let out = SystemRunner.run(&CmdSpec::new("systemd-analyze").arg("verify").arg("--man=no").arg(&bad));
    let complaint = match out {
        Ok(out) => out.stderr,
        Err(jts_core::Error::Command(failure)) => failure.stderr,
        Err(err) => panic!("{err}"),
    };
    assert!(complaint.contains("Where="), "{complaint}");
}

#[test]
fn escaping_agrees_with_systemd_escape() {
    if !tool("systemd-escape") {
        return;
    }
    for p in ["/var/lib/postgresql", "/data/warm-storage", "/.hidden/a.b/.x", "/srv/pg data/ü", "/mnt/a:b_c", "/"] {
        let ours = systemd_escape_path(&path(p));
        let theirs = SystemRunner.run(&CmdSpec::new("systemd-escape").arg("--path").arg(p)).unwrap().stdout;
        assert_eq!(ours, theirs.trim(), "{p}");
        assert_eq!(mount_unit_name(&path(p)), format!("{}.mount", theirs.trim()));
    }
}
