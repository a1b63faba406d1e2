//! `trim`: `fstrim` of every managed local mount, where one filesystem never stops the
//! others.
//!
//! A filesystem that cannot discard (`fstrim --quiet-unsupported` exits 0 and says
//! nothing) or is not mounted right now (trimming the directory would trim whatever
//! filesystem lies under it) is reported and skipped; the others are still trimmed. Only
//! a filesystem that supports discard and fails makes the run fail: that is the one an
//! operator must look at.

use jts_core::{AbsPath, CmdSpec, Root, Runner};
use serde::Serialize;

use crate::mountinfo::{mount_at, read_mountinfo};
use crate::observe::rebase;
use crate::spec::MountTarget;

/// What happened to one mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum TrimOutcome {
    /// Trimmed; `fstrim -v`'s own line.
    Trimmed {
        /// e.g. `/data/hot: 12 GiB (12884901888 bytes) trimmed on /dev/nvme0n1p1`.
        said: String,
    },
    /// Mounted, but its filesystem or device cannot discard.
    Unsupported,
    /// Nothing is mounted there now; not trimmed.
    NotMounted,
    /// fstrim failed on a filesystem that supports discard.
    Failed {
        /// fstrim's reason.
        reason: String,
    },
}

/// One managed mount and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trimmed {
    /// The mount point, as the spec names it.
    pub mount_point: AbsPath,
    /// What happened.
    pub outcome: TrimOutcome,
}

/// Trims every local mount of `targets` (NFS has nothing to trim), each mount point once.
pub fn trim(targets: &[MountTarget], root: &Root, runner: &dyn Runner) -> crate::Result<Vec<Trimmed>> {
    let mounts = rebase(root, read_mountinfo()?);
    let mut points: Vec<&AbsPath> =
        targets.iter().filter(|t| t.fs().supports_discard()).map(|t| &t.mount_point).collect();
    points.sort();
    points.dedup();
    Ok(points
        .into_iter()
        .map(|mount_point| {
            let outcome = if mount_at(&mounts, &mount_point.to_string()).is_none() {
                TrimOutcome::NotMounted
            } else {
                let cmd =
                    CmdSpec::new("fstrim").arg("--verbose").arg("--quiet-unsupported").arg(root.resolve(mount_point));
                match runner.run(&cmd) {
                    Ok(output) => match output.stdout.lines().find(|line| line.contains("trimmed")) {
                        Some(line) => TrimOutcome::Trimmed { said: line.trim().to_owned() },
                        None => TrimOutcome::Unsupported,
                    },
                    Err(err) => TrimOutcome::Failed { reason: err.to_string() },
                }
            };
            Trimmed { mount_point: mount_point.clone(), outcome }
        })
        .collect())
}
