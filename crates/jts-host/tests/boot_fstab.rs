//! Every example's fstab, as `apply` would write it on a blank machine, read by systemd's
//! own fstab generator: no managed mount can hold the boot. Local data mounts are wanted
//! (not required) by `local-fs.target` and wait at most 10 s for their device; the NAS is
//! wanted by `remote-fs.target` and gives up after 30 s; `systemd-analyze verify`
//! accepts every generated unit.

use std::path::{Path, PathBuf};

use jts_host::{HostObserved, HostStep};
use jts_mounts::MountStep;

const GENERATOR: &str = "/usr/lib/systemd/system-generators/systemd-fstab-generator";

fn examples() -> Vec<PathBuf> {
    let dir = jts_testkit::repo_root().join("examples");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    found.sort();
    found
}

/// The fstab text the plan of `spec` on a blank machine writes, if it writes one.
fn planned_fstab(spec: &Path) -> Option<String> {
    let blank = jts_testkit::repo_root().join("tests/golden/blank-machine.json");
    let observed: HostObserved = jts_host::read_state(&blank).unwrap();
    let spec = jts_host::load_checked(spec, &observed.perms.accounts).unwrap_or_else(|err| panic!("{err}"));
    let plan = jts_host::plan(&spec, &observed).unwrap_or_else(|err| panic!("{err:?}"));
    plan.steps.into_iter().find_map(|step| match step {
        HostStep::Mount(MountStep::WriteFstab { new_text, .. }) => Some(new_text),
        _ => None,
    })
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

#[test]
fn no_managed_mount_of_any_example_can_hold_the_boot() {
    if !Path::new(GENERATOR).exists() || !jts_testkit::have_program("systemd-analyze") {
        assert!(!jts_testkit::is_root(), "systemd is missing: run `bash scripts/install-deps.sh`");
        eprintln!("skipped: systemd's fstab generator is not installed (apt package systemd); required as root");
        return;
    }
    let mut checked = 0;
    for example in examples() {
        let Some(fstab) = planned_fstab(&example) else { continue };
        let work = tempfile::tempdir().unwrap();
        let file = work.path().join("fstab");
        std::fs::write(&file, &fstab).unwrap();
        let out = work.path().join("normal");
        let (early, late) = (work.path().join("early"), work.path().join("late"));
        for dir in [&out, &early, &late] {
            std::fs::create_dir(dir).unwrap();
        }
        // Through env(1): the generator reads the fstab named by SYSTEMD_FSTAB.
        let fstab_var = format!("SYSTEMD_FSTAB={}", file.display());
        let dirs = [&out, &early, &late].map(|d| d.to_str().unwrap().to_owned());
        let mut args = vec![fstab_var.as_str(), "SYSTEMD_PROC_CMDLINE=", GENERATOR];
        args.extend(dirs.iter().map(String::as_str));
        let run = jts_testkit::tool("env", &args);
        assert_eq!(run.code, 0, "{}: {run:?}", example.display());
        let mut units = Vec::new();
        let mut local = 0;
        for line in fstab.lines().filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty()) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let mount_point = jts_core::AbsPath::new(fields[1]).unwrap();
            let unit = jts_mounts::mount_unit_name(&mount_point);
            let nfs = fields[2].starts_with("nfs");
            let target = if nfs { "remote-fs.target" } else { "local-fs.target" };
            assert!(out.join(format!("{target}.wants")).join(&unit).exists(), "{unit} wanted by {target}: {line}");
            assert!(!out.join(format!("{target}.requires")).join(&unit).exists(), "{unit} must not be required");
            let text = read(&out.join(&unit));
            if nfs {
                assert!(text.contains("\nTimeoutSec=30s\n"), "{unit}:\n{text}");
            } else {
                local += 1;
            }
            units.push(out.join(&unit));
        }
        let device_timeouts = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".device.d"))
            .filter(|d| read(&d.join("50-device-timeout.conf")).contains("\nJobRunningTimeoutSec=10s\n"))
            .count();
        assert_eq!(device_timeouts, local, "every local device is waited for 10 s at most: {}", example.display());
        let mut args = vec!["verify".to_owned(), "--man=no".to_owned()];
        args.extend(units.iter().map(|u| u.to_str().unwrap().to_owned()));
        let verify = jts_testkit::tool("systemd-analyze", &args);
        assert!(verify.code == 0 && verify.stderr.trim().is_empty(), "{}: {verify:?}", example.display());
        checked += 1;
    }
    assert!(checked >= 2, "examples with mounts: {checked}");
}
