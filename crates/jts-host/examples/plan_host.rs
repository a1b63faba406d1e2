//! A second front end in a few dozen lines: plans a host spec against a blank machine
//! (every device the spec names present, 4 TB and empty; account files with only root)
//! and prints the steps. It needs nothing from the `jts-provision` binary.
//!
//! ```text
//! cargo run -p jts-host --example plan_host -- examples/three-tier.toml
//! ```

use std::process::ExitCode;

use jts_core::{AbsPath, Root};
use jts_host::HostObserved;
use jts_lvm::DeviceInfo;

fn main() -> ExitCode {
    let Some(file) = std::env::args_os().nth(1) else {
        eprintln!("usage: plan_host SPEC.toml");
        return ExitCode::from(2);
    };
    let blank = blank_machine();
    let spec = match jts_host::load_checked(file.as_ref(), &blank.perms.accounts) {
        Ok(spec) => spec,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    let mut machine = blank;
    for device in spec_devices(&spec) {
        let disk = DeviceInfo { present: true, size: 4_000_000_000_000, signatures: Vec::new() };
        machine.lvm.devices.insert(device, disk);
    }
    let plan = match jts_host::plan_with_consent(&spec, &machine, &Root::host(), &[], jts_host::Detail::Commands) {
        Ok(plan) => plan.report,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    for (number, step) in plan.steps.iter().enumerate() {
        println!("{:>3}. [{}] {}", number + 1, step.kind, step.description);
        for command in &step.commands {
            println!("       $ {command}");
        }
    }
    for refusal in &plan.refused {
        println!("refused: {}: {}; {}", refusal.object, refusal.reason, refusal.fix);
    }
    println!("{} steps, {} refused", plan.steps.len(), plan.refused.len());
    ExitCode::SUCCESS
}

/// A machine with account files holding only root, and nothing else.
fn blank_machine() -> HostObserved {
    let root_only = r#"{"perms": {"accounts": {"files_present": true,
        "users": {"root": {"uid": 0, "gid": 0, "groups": [], "home": "/root", "shell": "/bin/bash", "comment": "root"}},
        "groups": {"root": {"gid": 0, "members": []}}}, "paths": {}}}"#;
    serde_json::from_str(root_only).expect("a valid blank state")
}

/// The LVM physical devices and `[filesystems.*]` devices of the spec.
fn spec_devices(spec: &jts_host::HostSpec) -> Vec<AbsPath> {
    let pvs = spec.lvm.volume_groups.values().flat_map(|vg| vg.get_ref().devices.iter().map(|d| d.get_ref().clone()));
    let filesystems = spec.mounts.filesystems.values().map(|fs| fs.get_ref().device.get_ref().clone());
    pvs.chain(filesystems).collect()
}
