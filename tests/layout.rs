//! The package's own layout: every test file in `tests/` is a `[[test]]` target of
//! `tests/Cargo.toml` (`autotests` is off, so a file without an entry would never run).

use std::path::Path;

#[test]
fn every_test_file_is_a_test_target() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("tests/Cargo.toml");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .expect("tests/")
        .map(|entry| entry.expect("tests/ entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".rs"))
        .collect();
    files.sort();
    let missing: Vec<&String> = files
        .iter()
        .filter(|file| {
            let stem = file.trim_end_matches(".rs");
            !manifest.contains(&format!("[[test]]\nname = \"{stem}\"\npath = \"{file}\"\n"))
        })
        .collect();
    assert!(missing.is_empty(), "add a [[test]] entry to tests/Cargo.toml for each of {missing:?}");
}
