//! Golden outputs: `check`, `plan --state` (a recorded blank machine) and `render` of
//! every example spec, compared byte for byte with the files under `tests/golden/`.
//!
//! They pin the CLI's behaviour while code moves between crates. After an intended
//! change of output, regenerate them with `JTS_BLESS=1 cargo test --test golden` and
//! review the diff.

use std::path::{Path, PathBuf};

use jts_testkit::{Run, jts, repo_root, tempdir};

/// Every example spec, by file stem.
fn examples() -> Vec<(String, PathBuf)> {
    let mut found: Vec<(String, PathBuf)> = std::fs::read_dir(repo_root().join("examples"))
        .expect("examples/")
        .map(|entry| entry.expect("examples/ entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .map(|path| (path.file_stem().unwrap().to_string_lossy().into_owned(), path))
        .collect();
    found.sort();
    assert!(found.len() >= 4, "expected the example specs, found {found:?}");
    found
}

/// Compares `actual` with `tests/golden/NAME`, or writes it when `JTS_BLESS` is set.
fn compare(name: &str, actual: &str, mismatches: &mut Vec<String>) {
    let file = repo_root().join("tests/golden").join(name);
    if std::env::var_os("JTS_BLESS").is_some() {
        std::fs::write(&file, actual).unwrap_or_else(|err| panic!("writing {}: {err}", file.display()));
        return;
    }
    let expected = std::fs::read_to_string(&file)
        .unwrap_or_else(|err| panic!("{}: {err}; record it with JTS_BLESS=1", file.display()));
    if expected != actual {
        mismatches.push(format!("{name} differs:\n--- expected\n{expected}\n--- actual\n{actual}"));
    }
}

/// Exit code, stdout and stderr of one run, with the scratch root written as `$ROOT`,
/// the binary as `$BIN` and the spec as `examples/NAME.toml`, wherever the checkout is.
fn transcript(run: &Run, root: &Path, spec: &str, name: &str) -> String {
    let root = root.to_str().expect("utf-8 root");
    let bin = jts_testkit::provision_bin();
    format!("exit {}\n--- stdout\n{}--- stderr\n{}", run.code, run.stdout, run.stderr)
        .replace(bin.to_str().expect("utf-8 binary path"), "$BIN")
        .replace(root, "$ROOT")
        .replace(spec, &format!("examples/{name}.toml"))
}

#[test]
fn check_plan_and_render_of_every_example_are_unchanged() {
    let blank = repo_root().join("tests/golden/blank-machine.json");
    let mut mismatches = Vec::new();
    for (name, spec) in examples() {
        let root = tempdir();
        let spec = spec.to_str().expect("utf-8 path");
        let at_root = |args: &[&str]| {
            let mut all = vec!["--config", spec, "--root", root.path().to_str().unwrap()];
            all.extend_from_slice(args);
            transcript(&jts(&all), root.path(), spec, &name)
        };
        compare(&format!("{name}.check.txt"), &at_root(&["check"]), &mut mismatches);
        compare(&format!("{name}.render.txt"), &at_root(&["render"]), &mut mismatches);
        let state = blank.to_str().unwrap();
        for (suffix, extra) in [("plan.txt", None), ("plan.json", Some("--json"))] {
            let mut args = vec!["--config", spec, "plan", "--state", state];
            args.extend(extra);
            compare(&format!("{name}.{suffix}"), &transcript(&jts(&args), root.path(), spec, &name), &mut mismatches);
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}
