//! `verify access`: every service user × every declared directory, the kernel's answer
//! against the spec's meaning, and the reason for each miss.
//!
//! For each user, one child process runs the probe ([`jts_perms::probe`]) on every
//! directory under that user's uid, primary gid and supplementary groups, set by
//! `setpriv` before it executes this program again. Root then reads what explains each
//! difference: the ancestors' and the directory's owner, mode and ACL, and the mount's
//! flags.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::os::fd::{AsRawFd, OwnedFd};

use jts_core::{AbsPath, CmdSpec, Root, Runner};
use jts_perms::{Access, Accounts, Identity, MountFlags, Probed};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::spec::HostSpec;

/// One cell of the matrix: a user on a directory.
#[derive(Debug, Clone, Serialize)]
pub struct AccessCell {
    /// The user.
    pub user: String,
    /// The directory (spec path).
    pub path: jts_core::AbsPath,
    /// What the spec means the user to have.
    pub expected: Access,
    /// Where that comes from (owner, group, ACL user entry, others, access override,
    /// isolation).
    pub basis: String,
    /// What the kernel allowed.
    pub actual: Access,
    /// Why they differ (empty when they agree).
    pub reasons: Vec<String>,
}

impl AccessCell {
    /// Whether the kernel's answer is the spec's.
    pub fn ok(&self) -> bool {
        self.expected == self.actual
    }
}

/// The whole matrix.
#[derive(Debug, Clone, Serialize)]
pub struct AccessReport {
    /// The users probed, in order.
    pub users: Vec<String>,
    /// The directories, in order.
    pub directories: Vec<jts_core::AbsPath>,
    /// Every cell, by directory then user.
    pub cells: Vec<AccessCell>,
    /// Declared users that do not exist yet (nothing to probe; `apply` creates them).
    pub missing_users: Vec<String>,
    /// Probe names a probe could not remove.
    pub left_behind: Vec<std::path::PathBuf>,
}

impl AccessReport {
    /// The cells where the kernel disagrees with the spec.
    pub fn mismatches(&self) -> impl Iterator<Item = &AccessCell> {
        self.cells.iter().filter(|cell| !cell.ok())
    }

    /// Whether everything agrees and every declared user exists.
    pub fn clean(&self) -> bool {
        self.mismatches().next().is_none() && self.missing_users.is_empty() && self.left_behind.is_empty()
    }

    /// The matrix for a terminal: a row per directory, a column per user, each cell what
    /// the kernel allowed (and the expectation in parentheses where they differ), then
    /// each miss with its reasons.
    pub fn to_table(&self) -> String {
        let cells: BTreeMap<(&AbsPath, &str), String> = self
            .cells
            .iter()
            .map(|c| {
                let text = if c.ok() { c.actual.to_string() } else { format!("{} ({})", c.actual, c.expected) };
                ((&c.path, c.user.as_str()), text)
            })
            .collect();
        let path_width = self.directories.iter().map(|d| d.to_string().len()).max().unwrap_or(0).max(9);
        let widths: Vec<usize> = self
            .users
            .iter()
            .map(|user| {
                cells.iter().filter(|((_, u), _)| u == user).map(|(_, t)| t.len()).max().unwrap_or(3).max(user.len())
            })
            .collect();
        let mut out = String::new();
        let mut row = format!("{:<path_width$}", "DIRECTORY");
        for (user, width) in self.users.iter().zip(&widths) {
            row.push_str(&format!("  {user:<width$}"));
        }
        out.push_str(row.trim_end());
        out.push('\n');
        for dir in &self.directories {
            let mut row = format!("{:<path_width$}", dir.to_string());
            for (user, width) in self.users.iter().zip(&widths) {
                let cell = cells.get(&(dir, user.as_str())).map_or("?", String::as_str);
                row.push_str(&format!("  {cell:<width$}"));
            }
            out.push_str(row.trim_end());
            out.push('\n');
        }
        let mismatches: Vec<&AccessCell> = self.mismatches().collect();
        if !mismatches.is_empty() {
            out.push_str(&format!("\n{} cell(s) differ from the spec:\n", mismatches.len()));
            for c in mismatches {
                out.push_str(&format!(
                    "  {} on {}: expected {} ({}), got {}: {}\n",
                    c.user,
                    c.path,
                    c.expected,
                    c.basis,
                    c.actual,
                    c.reasons.join("; ")
                ));
            }
        }
        for user in &self.missing_users {
            out.push_str(&format!("user {user} does not exist yet: run `jts-provision apply`, then verify again\n"));
        }
        for path in &self.left_behind {
            out.push_str(&format!("probe file {} could not be removed: delete it by hand\n", path.display()));
        }
        if self.clean() {
            out.push_str(&format!(
                "\nok: {} users × {} directories as the spec means\n",
                self.users.len(),
                self.directories.len()
            ));
        }
        out
    }
}

/// Probes every declared user on every declared directory. `probe_argv` is how this
/// program runs [`run_probes`] in a child (e.g. `["verify", "access-probe", "--root",
/// DIR]`); the directories' spec paths are appended.
pub fn verify_access(
    spec: &HostSpec,
    root: &Root,
    runner: &dyn Runner,
    probe_argv: &[OsString],
) -> Result<AccessReport> {
    if !nix::unistd::geteuid().is_root() {
        return Err(Error::Probe {
            user: "each service user".into(),
            message: "becoming another user takes root: run verify access as root (e.g. with sudo)".into(),
        });
    }
    let accounts = Accounts::read(root)?;
    let (identities, missing_users) = jts_perms::identities(&spec.perms, &accounts);
    let directories = spec.perms.directories();
    let service_uids: BTreeSet<u32> = identities.iter().map(|id| id.uid).collect();
    let mounts = jts_mounts::read_mountinfo()?;
    let facts: Vec<_> = directories
        .iter()
        .map(|dir| jts_perms::read_facts(root, &dir.path, mount_flags(&mounts, &root.resolve(&dir.path))))
        .collect();
    let this = own_program()?;
    let mut probed_by_user = Vec::new();
    for id in &identities {
        let mut argv: Vec<OsString> = probe_argv.to_vec();
        argv.extend(directories.iter().map(|dir| OsString::from(dir.path.as_path())));
        probed_by_user.push(probe_as(runner, id, &this, &argv)?);
    }
    let mut cells = Vec::new();
    let mut left_behind = Vec::new();
    for (index, dir) in directories.iter().enumerate() {
        for (id, probed) in identities.iter().zip(&probed_by_user) {
            let Some(probed) = probed.get(index).filter(|p| p.path == dir.path) else {
                return Err(Error::Probe { user: id.name.clone(), message: format!("no answer for {}", dir.path) });
            };
            left_behind.extend(probed.left_behind.iter().cloned());
            let Some(expectation) = jts_perms::expected(dir, &accounts, id, &service_uids) else { continue };
            let reasons = jts_perms::explain(expectation.access, probed, id, &accounts, &facts[index]);
            cells.push(AccessCell {
                user: id.name.clone(),
                path: dir.path.clone(),
                expected: expectation.access,
                basis: expectation.basis,
                actual: probed.access(),
                reasons,
            });
        }
    }
    Ok(AccessReport {
        users: identities.into_iter().map(|id| id.name).collect(),
        directories: directories.into_iter().map(|dir| dir.path).collect(),
        cells,
        missing_users,
        left_behind,
    })
}

/// The child's side: probes each spec path under `root` as this process's identity.
pub fn run_probes(root: &Root, paths: &[jts_core::AbsPath]) -> Vec<Probed> {
    paths.iter().map(|path| jts_perms::probe(root, path)).collect()
}

/// This program, open for the child to execute as `/proc/self/fd/N`: the service user
/// may not be allowed to reach our path, but executing through the descriptor needs only
/// the file's own execute permission. Opened without close-on-exec, so `setpriv`
/// inherits it.
fn own_program() -> Result<OwnedFd> {
    nix::fcntl::open("/proc/self/exe", nix::fcntl::OFlag::O_RDONLY, nix::sys::stat::Mode::empty())
        .map_err(|errno| Error::Probe { user: "root".into(), message: format!("opening /proc/self/exe: {errno}") })
}

/// Runs the probe as `id`: `setpriv --reuid --regid --groups -- /proc/self/fd/N ARGV`.
fn probe_as(runner: &dyn Runner, id: &Identity, this: &OwnedFd, argv: &[OsString]) -> Result<Vec<Probed>> {
    let groups = if id.groups.is_empty() {
        "--clear-groups".to_owned()
    } else {
        format!("--groups={}", id.groups.iter().map(u32::to_string).collect::<Vec<_>>().join(","))
    };
    let mut cmd = CmdSpec::new("setpriv")
        .arg(format!("--reuid={}", id.uid))
        .arg(format!("--regid={}", id.gid))
        .arg(groups)
        .arg("--")
        .arg(format!("/proc/self/fd/{}", this.as_raw_fd()));
    for arg in argv {
        cmd = cmd.arg(arg);
    }
    let output = runner.run(&cmd).map_err(|err| {
        let message = match err {
            jts_core::Error::ProgramNotFound { .. } => format!("{err}; install util-linux, which provides setpriv"),
            err => err.to_string(),
        };
        Error::Probe { user: id.name.clone(), message }
    })?;
    serde_json::from_str(&output.stdout)
        .map_err(|err| Error::Probe { user: id.name.clone(), message: format!("unreadable probe output: {err}") })
}

/// The flags of the mount `path` is on: the deepest mount point containing it.
fn mount_flags(mounts: &[jts_mounts::MountInfo], path: &std::path::Path) -> MountFlags {
    let best = mounts.iter().filter(|m| path.starts_with(&m.mount_point)).max_by_key(|m| m.mount_point.len());
    best.map_or_else(MountFlags::default, |m| MountFlags {
        mount_point: m.mount_point.clone(),
        read_only: m.read_only(),
        noexec: m.mount_options.iter().any(|o| o == "noexec"),
    })
}
