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
