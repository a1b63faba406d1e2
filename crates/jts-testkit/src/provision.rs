//! The binary under test, `jts-provision`, and ways to run it.
//!
//! `CARGO_BIN_EXE_jts-provision` exists only inside the binary's own package, so the
//! tests find the binary themselves: see [`provision_bin`].

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::OnceLock;
use std::time::SystemTime;

use crate::gate::in_vm_guest;
use crate::run::{Run, tool};

/// Overrides which binary the tests run.
pub const PROVISION_BIN_VAR: &str = "JTS_PROVISION_BIN";

/// The `jts-provision` binary the tests run: `$JTS_PROVISION_BIN` if set, else the one
/// `cargo build -p jts-provision` put beside this test's profile (`target/debug/` for a
/// test executable in `target/debug/deps/`).
///
/// Panics, saying how to build it, when it is missing, and when it is stale: when a
/// source file it was built from (its dep-info, `jts-provision.d`) changed since. The
/// staleness check is left out for `$JTS_PROVISION_BIN` and inside the VM guest, which
/// sees the host's files read-only and must not judge their times.
pub fn provision_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(locate)
}

fn locate() -> PathBuf {
    if let Some(path) = std::env::var_os(PROVISION_BIN_VAR) {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "{PROVISION_BIN_VAR}={} is not a file", path.display());
        return path;
    }
    let exe = std::env::current_exe().expect("the path of this test executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("{} is not in target/PROFILE/deps/", exe.display()));
    let bin = profile_dir.join("jts-provision");
    assert!(
        bin.is_file(),
        "{} does not exist: `cargo test` does not build the binary for the end-to-end tests. \
         Build it first with `cargo build -p jts-provision` (with the tests' --release or --profile, if any; \
         scripts/test-all.sh and scripts/vm-test.sh do it), or point {PROVISION_BIN_VAR} at one",
        bin.display()
    );
    if !in_vm_guest() {
        assert_fresh(&bin);
    }
    bin
}

/// Panics when a source file listed in the binary's dep-info changed after it was built
/// (or is gone). The dep-info lists exactly what the binary is compiled from, so editing
/// a test, or a manifest in a way that `cargo build` would not rebuild for, never trips it.
fn assert_fresh(bin: &Path) {
    let built = modified(bin).unwrap_or_else(|| panic!("cannot read the mtime of {}", bin.display()));
    let dep_info = bin.with_extension("d");
    let text = std::fs::read_to_string(&dep_info).unwrap_or_else(|err| {
        panic!(
            "{}: {err}; cannot tell whether the binary is current: `cargo build -p jts-provision`",
            dep_info.display()
        )
    });
    let changed: Vec<PathBuf> =
        dep_info_sources(&text).into_iter().filter(|source| modified(source).is_none_or(|time| time > built)).collect();
    assert!(
        changed.is_empty(),
        "{} is stale: {} of its source files changed (or went away) since it was built, e.g. {}. \
         Rebuild it with `cargo build -p jts-provision` before running the tests",
        bin.display(),
        changed.len(),
        changed[0].display()
    );
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|meta| meta.modified()).ok()
}

/// The prerequisites of a Makefile-style dep-info file (`target: source source ...`,
/// spaces in names escaped with a backslash).
fn dep_info_sources(text: &str) -> Vec<PathBuf> {
    let mut sources = Vec::new();
    for line in text.lines() {
        let Some((_, prerequisites)) = line.split_once(": ") else { continue };
        let mut current = String::new();
        let mut chars = prerequisites.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => current.extend(chars.next()),
                c if c.is_whitespace() => {
                    if !current.is_empty() {
                        sources.push(PathBuf::from(std::mem::take(&mut current)));
                    }
                }
                c => current.push(c),
            }
        }
        if !current.is_empty() {
            sources.push(PathBuf::from(current));
        }
    }
    sources
}

/// Runs `jts-provision` with `args`.
#[track_caller]
pub fn jts<S: AsRef<OsStr>>(args: &[S]) -> Run {
    tool(provision_bin(), args)
}

/// Runs `jts-provision --config SPEC --root ROOT` followed by `args`.
#[track_caller]
pub fn jts_at(spec: &Path, root: &Path, args: &[&str]) -> Run {
    let mut all: Vec<&OsStr> = vec!["--config".as_ref(), spec.as_os_str(), "--root".as_ref(), root.as_os_str()];
    all.extend(args.iter().map(OsStr::new));
    jts(&all)
}

/// Starts `jts-provision` with `args` in the background (stdin from /dev/null), for a
/// test that must act while it runs: kill it, or stop the NFS server under it.
#[allow(clippy::disallowed_methods, reason = "the test holds the child to act on it while it runs")]
pub fn spawn_jts<S: AsRef<OsStr>>(args: &[S], stdout: impl Into<Stdio>, stderr: impl Into<Stdio>) -> Child {
    std::process::Command::new(provision_bin())
        .args(args)
        .env_remove("JTS_LOG")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("spawn jts-provision")
}

/// A scratch directory for runs against real devices (no `--root`), as in the VM tier:
/// it holds the spec file and the journal of `apply`.
pub struct SpecDir {
    dir: tempfile::TempDir,
}

impl SpecDir {
    /// An empty scratch directory.
    pub fn new() -> Self {
        Self { dir: crate::scratch::tempdir() }
    }

    /// Writes `text` as the spec file (replacing the previous one) and returns its path.
    pub fn spec(&self, text: &str) -> PathBuf {
        crate::scratch::write_file(self.dir.path(), "storage.toml", text)
    }

    /// `jts-provision --config SPEC ARGS`, plus `--journal DIR` when `ARGS` start with `apply`.
    #[track_caller]
    pub fn run(&self, spec: &Path, args: &[&str]) -> Run {
        let journal = self.dir.path().join("journal");
        let mut all: Vec<&OsStr> = vec!["--config".as_ref(), spec.as_os_str()];
        all.extend(args.iter().map(OsStr::new));
        if args.first() == Some(&"apply") {
            all.extend(["--journal".as_ref(), journal.as_os_str()]);
        }
        jts(&all)
    }
}

impl Default for SpecDir {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dep_info_prerequisites_are_split_on_unescaped_spaces() {
        let text = "/t/debug/jts-provision: /src/main.rs /src/a\\ b.rs\n\n/src/main.rs:\n";
        assert_eq!(dep_info_sources(text), [PathBuf::from("/src/main.rs"), PathBuf::from("/src/a b.rs")]);
    }
}
