//! Scratch directories and the spec paths below a scratch `--root`.

use std::path::{Path, PathBuf};

pub use tempfile::TempDir;

/// A fresh temporary directory, removed on drop.
pub fn tempdir() -> TempDir {
    tempfile::Builder::new().prefix("jts-test-").tempdir().expect("tempdir")
}

/// Writes `text` to `dir/name` and returns the path.
#[track_caller]
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|err| panic!("writing {}: {err}", path.display()));
    path
}

/// `root` joined with an absolute spec path: where `--root ROOT` puts `path`.
pub fn under(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

/// The journals of tier rule `rule` under a scratch `--root`, sorted: one per batch in
/// flight (`RULE.journal`, `RULE.journal-2`, …); none before the rule's first run.
pub fn tier_journals(root: &Path, rule: &str) -> Vec<PathBuf> {
    let dir = under(root, "/var/lib/jts/tier");
    let prefix = format!("{rule}.journal");
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(err) => panic!("{}: {err}", dir.display()),
    };
    let mut journals: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.file_name().and_then(|name| name.to_str()).is_some_and(|name| name.starts_with(&prefix)))
        .collect();
    journals.sort();
    journals
}
