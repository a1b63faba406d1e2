//! Files of this checkout, wherever the test binary runs from.

use std::path::{Path, PathBuf};

/// The root of the checkout (the workspace directory).
pub fn repo_root() -> PathBuf {
    let testkit = Path::new(env!("CARGO_MANIFEST_DIR"));
    testkit.ancestors().nth(2).expect("crates/jts-testkit lies two levels below the checkout").to_path_buf()
}

/// `examples/NAME` of the checkout, e.g. `example("hot-directories.toml")`.
pub fn example(name: &str) -> PathBuf {
    repo_root().join("examples").join(name)
}
