//! "What `check` can know, `check` must catch": for specs made by mutating the examples
//! (values swapped for hostile ones, lines duplicated or dropped), whenever `check`
//! accepts a spec, planning it against a blank machine with room for it must not fail,
//! refuse, or leave work undone after its own steps, and every step must print on one line.
//!
//! The corpus under `tests/corpus/` keeps mutants that once got through; each runs on
//! every test run, next to the random ones.

use std::path::{Path, PathBuf};

use jts_core::{Root, Step};
use jts_host::{HostObserved, HostSpec};
use proptest::prelude::*;

/// Values an operator or an attacker might write in place of any value.
const HOSTILE: &[&str] = &[
    "\"\"",
    "\"/data/a\\nb\"",
    "\"/data/a\\u0000b\"",
    "\"/data/tab\\tname\"",
    "\"relative/path\"",
    "\"/data/../etc\"",
    "\"/var/lib/postgresql\"",
    "\"/\"",
    "\"root\"",
    "0",
    "4294967295",
    "-1",
    "1e300",
    "true",
    "\"0777\"",
    "\"7777\"",
    "\"rest\"",
    "\"0%\"",
    "\"100%\"",
    "\"999TiB\"",
    "\"0s\"",
    "[]",
    "[\"group:nobody:rwx\"]",
];

fn examples() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut specs: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    specs.sort();
    specs
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// One mutation of one line: a value replaced, the line duplicated, or dropped.
fn mutate(text: &str, line: usize, how: usize, value: usize) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let at = line % lines.len();
    match how % 4 {
        0 | 1 => {
            if let Some((key, _)) = lines[at].split_once(" = ") {
                lines[at] = format!("{key} = {}", HOSTILE[value % HOSTILE.len()]);
            }
        }
        2 => {
            let copy = lines[at].clone();
            lines.insert(at, copy);
        }
        _ => {
            lines.remove(at);
        }
    }
    lines.join("\n") + "\n"
}

/// A machine with account files holding only root, and every device the spec names
/// present, empty and larger than any example needs.
fn blank_machine(spec: &HostSpec) -> HostObserved {
    let mut machine: HostObserved = serde_json::from_str(
        r#"{"perms": {"accounts": {"files_present": true,
            "users": {"root": {"uid": 0, "gid": 0, "home": "/root", "shell": "/bin/bash"}},
            "groups": {"root": {"gid": 0, "members": []}}}, "paths": {}}}"#,
    )
    .unwrap();
    let empty = |size| jts_lvm::DeviceInfo { present: true, size, signatures: Vec::new() };
    for vg in spec.lvm.volume_groups.values().map(|vg| vg.get_ref()) {
        let size = room_for(vg) / vg.devices.len().max(1) as u64;
        for device in &vg.devices {
            machine.lvm.devices.insert(device.get_ref().clone(), empty(size));
        }
    }
    for fs in spec.mounts.filesystems.values() {
        machine.lvm.devices.insert(fs.get_ref().device.get_ref().clone(), empty(64 << 40));
    }
    machine
}

/// Bytes of devices that hold everything `vg` asks for, twice over: at least 64 TiB,
/// more when hostile sizes ask for more.
fn room_for(vg: &jts_lvm::VgSpec) -> u64 {
    let (mut fixed, mut percent) = match vg.reserve {
        jts_lvm::Reserve::Size(size) => (size.bytes(), 0),
        jts_lvm::Reserve::Percent(p) => (0, u64::from(p)),
    };
    for volume in vg.volumes.values().map(|volume| volume.get_ref()) {
        match volume.size {
            jts_lvm::SizeRequest::Size(size) => fixed += size.bytes(),
            jts_lvm::SizeRequest::Percent(p) => percent += u64::from(p),
            jts_lvm::SizeRequest::Rest => fixed += 1 << 30,
        }
    }
    let share = 100u64.saturating_sub(percent).max(1);
    (fixed.saturating_mul(200) / share).max(64 << 40)
}

/// Checks `text`; when accepted, plans it and asserts what check promised.
fn check_then_plan(text: &str) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("storage.toml");
    std::fs::write(&file, text).unwrap();
    let accounts = blank_machine_accounts();
    let Ok(spec) = jts_host::load_checked(&file, &accounts) else { return Ok(()) };
    let mut machine = blank_machine(&spec);
    let root = Root::host();
    let planned = jts_host::plan_with_consent(&spec, &machine, &root, &[], jts_host::Detail::Commands);
    let planned = planned.map_err(|err| TestCaseError::fail(format!("check ok, plan failed: {err}\n{text}")))?;
    prop_assert!(planned.report.refused.is_empty(), "check ok, plan refused {:?}\n{text}", planned.report.refused);
    for step in &planned.report.steps {
        let lines = std::iter::once(&step.description).chain(&step.commands);
        prop_assert!(lines.clone().all(|line| !line.contains('\n')), "a step spans lines: {step:?}\n{text}");
    }
    planned.plan.simulate(&mut machine);
    let again = jts_host::plan(&spec, &machine).map_err(|err| TestCaseError::fail(format!("{err:?}\n{text}")))?;
    let left: Vec<String> = again.steps.iter().map(|s| s.info(&root).description).collect();
    prop_assert!(left.is_empty() && again.refused.is_empty(), "not converged: {left:?} {:?}\n{text}", again.refused);
    Ok(())
}

fn blank_machine_accounts() -> jts_perms::Accounts {
    serde_json::from_str(
        r#"{"files_present": true, "users": {"root": {"uid": 0, "gid": 0, "home": "/root", "shell": "/bin/bash"}},
            "groups": {"root": {"gid": 0, "members": []}}}"#,
    )
    .unwrap()
}

#[test]
fn the_corpus_of_mutants_keeps_its_promise() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        check_then_plan(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        count += 1;
    }
    assert!(count >= 10, "the corpus has {count} specs");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn check_ok_means_plan_ok(example in 0usize..16, edits in prop::collection::vec((0usize..400, 0usize..4, 0usize..64), 1..4)) {
        let examples = examples();
        let mut text = examples[example % examples.len()].clone();
        for (line, how, value) in edits {
            text = mutate(&text, line, how, value);
        }
        check_then_plan(&text)?;
    }
}
