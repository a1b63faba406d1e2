//! [`ManagedFile`]: a file jts owns outright (a unit drop-in, a udev rule), kept at
//! exactly the contents it renders.
//!
//! The loop is the usual one:
//!
//! 1. [`observe_files`] reads the current contents of each path under a [`Root`], never
//!    through a symlink: `Some(text)` for a regular file, `None` when it is missing or a
//!    symlink stands at the path itself (the write replaces the link, never follows it);
//! 2. [`ManagedFile::plan`] gives a step only when the observed contents differ from the
//!    desired ones, so a second run plans nothing;
//! 3. [`Step::execute`] creates missing parent directories (`0755`, without following a
//!    symlink) and replaces the file with [`write_atomic`]; [`Step::simulate`] records
//!    the new contents in the [`ObservedFiles`] map.
//!
//! Only the contents are managed: the file is written `mode` (`0644` for units and
//! rules), but an existing file whose mode was changed by hand is left alone.
//!
//! ```
//! use jts_core::{AbsPath, ManagedFile, ObservedFiles, Step};
//!
//! let path = AbsPath::new("/etc/udev/rules.d/60-x.rules").unwrap();
//! let mut observed = ObservedFiles::new(); // nothing there yet
//! let step = ManagedFile::plan(&path, "KERNEL==\"x\"\n", 0o644, &observed).expect("missing: write it");
//! step.simulate(&mut observed);
//! assert!(ManagedFile::plan(&path, "KERNEL==\"x\"\n", 0o644, &observed).is_none(), "idempotent");
//! ```

use std::collections::BTreeMap;

use crate::atomic::write_atomic;
use crate::cmd::quote;
use crate::error::{Error, Result};
use crate::nofollow::{FileKind, Lookup, create_dir_all, lookup};
use crate::path::{AbsPath, Root};
use crate::step::{Context, Drift, Step, StepInfo};

/// What was observed at each managed path: `Some(contents)`, or `None` when missing.
pub type ObservedFiles = BTreeMap<AbsPath, Option<String>>;

/// Reads the file at `path` under `root` without following a symlink.
///
/// `None` when it is missing (a `--root` that does not exist yet holds nothing) or is
/// itself a symlink (to be replaced). Contents that are not UTF-8 are read lossily: they differ from anything we render anyway. An ancestor
/// that is not a real directory, or a directory or device at `path`, is an error.
pub fn read_managed(root: &Root, path: &AbsPath) -> Result<Option<String>> {
    let target = root.resolve(path);
    if !root.dir().exists() {
        return Ok(None);
    }
    match lookup(root, path)? {
        Lookup::Found(node) if node.kind() == FileKind::File => {
            let bytes = std::fs::read(node.proc_path()).map_err(|err| Error::io("read", &target, err))?;
            Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
        }
        Lookup::Found(node) if node.kind() == FileKind::Symlink => Ok(None),
        Lookup::Found(node) => Err(Error::io(
            "read",
            &target,
            std::io::Error::other(format!("is a {}, not a regular file; move it away", node.kind().name())),
        )),
        Lookup::Missing => Ok(None),
        Lookup::Blocked { at, kind } => Err(Error::NotADirectory { path: root.resolve(&at), found: kind.name() }),
    }
}

/// Observes each of `paths` with [`read_managed`].
pub fn observe_files<'a>(root: &Root, paths: impl IntoIterator<Item = &'a AbsPath>) -> Result<ObservedFiles> {
    paths.into_iter().map(|path| Ok((path.clone(), read_managed(root, path)?))).collect()
}

/// Writes one file we own with the desired contents: the step exists only when the
/// observed contents differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedFile {
    /// The spec path, re-rooted under `--root`.
    pub path: AbsPath,
    /// The desired contents.
    pub contents: String,
    /// The mode a newly written file gets.
    pub mode: u32,
    /// What was there when the plan was made; `None` when missing.
    pub observed: Option<String>,
}

impl ManagedFile {
    /// A write of `contents` to `path`, or `None` when `observed` already holds them.
    /// A path absent from `observed` counts as missing.
    pub fn plan(path: &AbsPath, contents: &str, mode: u32, observed: &ObservedFiles) -> Option<Self> {
        let current = observed.get(path).cloned().flatten();
        (current.as_deref() != Some(contents)).then(|| Self {
            path: path.clone(),
            contents: contents.to_owned(),
            mode,
            observed: current,
        })
    }

    fn lines(text: &str) -> usize {
        text.lines().count()
    }

    /// The first line that differs, 1-based, with the observed text of it.
    fn first_difference(&self) -> String {
        let Some(old) = &self.observed else { return "missing".into() };
        let mut new_lines = self.contents.lines();
        for (index, line) in old.lines().enumerate() {
            if new_lines.next() != Some(line) {
                return format!("differs from line {}: {line:?}", index + 1);
            }
        }
        format!("ends after line {} ({} lines expected)", Self::lines(old), Self::lines(&self.contents))
    }
}

impl Step for ManagedFile {
    type State = ObservedFiles;
    type Error = Error;

    fn info(&self, root: &Root) -> StepInfo {
        let at = root.resolve(&self.path);
        let lines = Self::lines(&self.contents);
        let description = match &self.observed {
            None => format!("write {} ({lines} lines, new)", self.path),
            Some(_) => format!("rewrite {} ({lines} lines, replacing different contents)", self.path),
        };
        let mut commands = Vec::new();
        if let Some(parent) = self.path.parent() {
            commands.push(format!(
                "mkdir -p -m 0755 {} (if missing; no symlinks followed)",
                quote(root.resolve(&parent).as_os_str())
            ));
        }
        commands.push(format!("write-atomic {} ({lines} lines, mode {:04o})", quote(at.as_os_str()), self.mode));
        let precondition = match &self.observed {
            None => format!("{} does not exist", at.display()),
            Some(_) => format!("{} is unchanged since it was observed", at.display()),
        };
        StepInfo {
            kind: "WriteFile",
            object: self.path.to_string(),
            description,
            destructive: false,
            commands,
            preconditions: vec![precondition],
            drift: Some(Drift {
                object: self.path.to_string(),
                path: Some(self.path.as_path().to_path_buf()),
                expected: format!("the rendered contents ({lines} lines)"),
                actual: self.first_difference(),
            }),
        }
    }

    fn simulate(&self, state: &mut ObservedFiles) {
        state.insert(self.path.clone(), Some(self.contents.clone()));
    }

    fn recheck(&self, ctx: &Context<'_>) -> Result<()> {
        if read_managed(ctx.root, &self.path)? == self.observed {
            return Ok(());
        }
        Err(Error::io(
            "recheck",
            ctx.root.resolve(&self.path),
            std::io::Error::other("the file changed since the plan was made; plan again"),
        ))
    }

    fn execute(&self, ctx: &Context<'_>) -> Result<()> {
        if let Some(parent) = self.path.parent() {
            create_dir_all(ctx.root, &parent, 0o755)?;
        }
        write_atomic(ctx.root, &self.path, self.contents.as_bytes(), self.mode)?;
        tracing::info!(path = %ctx.root.resolve(&self.path).display(), "file written");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;
    use crate::cmd::DryRunner;

    fn scratch() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path()).unwrap();
        (dir, root)
    }

    fn path(p: &str) -> AbsPath {
        AbsPath::new(p).unwrap()
    }

    #[test]
    fn writes_missing_parents_then_nothing_more() {
        let (dir, root) = scratch();
        let runner = DryRunner::default();
        let ctx = Context { root: &root, runner: &runner };
        let target = path("/etc/systemd/system/x.service.d/jts.conf");
        let observed = observe_files(&root, [&target]).unwrap();
        assert_eq!(observed[&target], None);
        let step = ManagedFile::plan(&target, "[Unit]\nA=b\n", 0o644, &observed).unwrap();
        let info = step.info(&root);
        assert!(info.commands.last().unwrap().starts_with("write-atomic "), "{:?}", info.commands);
        assert!(info.commands.last().unwrap().contains("(2 lines, mode 0644)"), "{:?}", info.commands);
        assert_eq!(info.drift.unwrap().actual, "missing");
        step.recheck(&ctx).unwrap();
        step.execute(&ctx).unwrap();
        let on_disk = dir.path().join("etc/systemd/system/x.service.d/jts.conf");
        assert_eq!(std::fs::read_to_string(&on_disk).unwrap(), "[Unit]\nA=b\n");
        assert_eq!(std::fs::metadata(&on_disk).unwrap().permissions().mode() & 0o7777, 0o644);
        let again = observe_files(&root, [&target]).unwrap();
        assert!(ManagedFile::plan(&target, "[Unit]\nA=b\n", 0o644, &again).is_none());
    }

    #[test]
    fn a_changed_file_is_rewritten_and_its_drift_named() {
        let (dir, root) = scratch();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/r"), "a\nB\n").unwrap();
        let target = path("/etc/r");
        let observed = observe_files(&root, [&target]).unwrap();
        let step = ManagedFile::plan(&target, "a\nb\n", 0o644, &observed).unwrap();
        assert_eq!(step.info(&root).drift.unwrap().actual, "differs from line 2: \"B\"");
        std::fs::write(dir.path().join("etc/r"), "edited meanwhile\n").unwrap();
        let runner = DryRunner::default();
        let ctx = Context { root: &root, runner: &runner };
        assert!(step.recheck(&ctx).is_err(), "a file changed after the plan is not overwritten blindly");
    }

    #[test]
    fn symlinks_are_replaced_or_refused_never_followed() {
        let (dir, root) = scratch();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("victim"), "keep").unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        symlink(outside.path().join("victim"), dir.path().join("etc/r")).unwrap();
        assert_eq!(read_managed(&root, &path("/etc/r")).unwrap(), None, "a link at the path is to be replaced");
        symlink(outside.path(), dir.path().join("etc/d")).unwrap();
        assert!(read_managed(&root, &path("/etc/d/x")).is_err(), "a symlinked parent is refused");
        let step = ManagedFile::plan(&path("/etc/d/x"), "x\n", 0o644, &ObservedFiles::new()).unwrap();
        let runner = DryRunner::default();
        assert!(step.execute(&Context { root: &root, runner: &runner }).is_err());
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 1, "nothing written through the link");
        assert_eq!(std::fs::read_to_string(outside.path().join("victim")).unwrap(), "keep");
    }

    #[test]
    fn a_root_not_made_yet_holds_nothing() {
        let (dir, _) = scratch();
        let root = Root::new(dir.path().join("not-yet")).unwrap();
        assert_eq!(observe_files(&root, [&path("/etc/r")]).unwrap()[&path("/etc/r")], None);
    }
}
