//! The compatibility rules: every mkfs argument, mount option, filesystem feature and
//! device size in a spec is checked here, before anything runs.
//!
//! Each rule has a stable id (`Problem::rule`) and a unit test. A [`Severity::Error`] is
//! something mkfs or mount would refuse, something the kernel would silently change (so
//! that the machine never matches the spec), or something jts owns; a [`Severity::Warning`]
//! is accepted but ignored, deprecated, or unsafe. The kernel range is Linux 6.1 (Debian
//! 12) to 6.18, with Debian 12's e2fsprogs 1.47, xfsprogs 6.1 and btrfs-progs 6.2; an
//! option that fails anywhere in that range is an error.
//!
//! - [`check_format`]: label, mkfs arguments, device size;
//! - [`check_mount_options`]: mount options on their own;
//! - [`check_filesystem`]: both, plus the rules that need both (a journal-less ext4 with
//!   `data=`, an XFS log stripe larger than `logbsize`, a preset with barriers off, …).

mod btrfs;
mod cross;
mod ext4;
mod label;
mod mkfs_common;
mod mount;
mod mount_table;
mod size;
mod xfs;

use std::fmt;

use serde::Serialize;

use crate::format::FormatSpec;
use crate::kind::FsKind;
use crate::presets::effective_mount_options;

pub(crate) use mount::mount_slot;

/// How serious a [`Problem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Accepted, but ignored, deprecated or unsafe: reported, nothing refused.
    Warning,
    /// mkfs or mount would refuse it, or the result would never match the spec: refused.
    Error,
}

/// One problem with an option, naming the option and the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// The rule's stable id, e.g. `"xfs-removed-option"`.
    pub rule: &'static str,
    /// The option as written, e.g. `"nobarrier"`, `"-d agcount=32"` or `"label"`.
    pub option: String,
    /// What is wrong.
    pub message: String,
    /// What to write instead.
    pub fix: String,
}

impl Problem {
    pub(crate) fn error(rule: &'static str, option: &str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { severity: Severity::Error, rule, option: option.to_owned(), message: message.into(), fix: fix.into() }
    }

    pub(crate) fn warning(
        rule: &'static str,
        option: &str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self { severity: Severity::Warning, ..Self::error(rule, option, message, fix) }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{severity}: {}: {}; fix: {}", self.option, self.message, self.fix)
    }
}

/// Whether any problem is an error.
pub fn has_errors(problems: &[Problem]) -> bool {
    problems.iter().any(|problem| problem.severity == Severity::Error)
}

/// Checks what will be made on a device: the label, every mkfs argument (the preset's
/// merged with `mkfs_options`) and, when known, the device size in bytes. Problems come
/// errors first.
///
/// ```
/// use jts_fs::{FormatSpec, FsKind, check_format};
/// let format = FormatSpec::new(FsKind::Xfs).with_mkfs_options(["-d", "agcount=32"]);
/// let problems = check_format(&format, Some(1 << 30));
/// assert_eq!(problems[0].rule, "xfs-log-fits-ag");
/// assert!(problems[0].fix.contains("agcount"));
/// ```
pub fn check_format(format: &FormatSpec, device_size: Option<u64>) -> Vec<Problem> {
    let mut problems = label::check(format);
    let user = crate::mkfs_args::parse_args(format.filesystem, &format.mkfs_options);
    let merged = format.merged_args();
    mkfs_common::check(format.filesystem, &format.mkfs_options, &user, &mut problems);
    match format.filesystem {
        FsKind::Ext4 => ext4::check(&merged, &mut problems),
        FsKind::Xfs => xfs::check(&merged, &mut problems),
        FsKind::Btrfs => btrfs::check(&merged, &mut problems),
        FsKind::None => {}
    }
    if let Some(size) = device_size {
        size::check(format.filesystem, &merged, size, &mut problems);
    }
    errors_first(problems)
}

/// Checks mount options on their own: does the filesystem know each one, on every kernel
/// from 6.1 on, with a valid value, without contradicting another?
///
/// ```
/// use jts_fs::{FsKind, check_mount_options};
/// let problems = check_mount_options(FsKind::Xfs, &["noatime".into(), "nobarrier".into()]);
/// assert_eq!(problems.len(), 1);
/// assert_eq!(problems[0].option, "nobarrier");
/// assert!(problems[0].message.contains("4.19"));
/// ```
pub fn check_mount_options(kind: FsKind, options: &[String]) -> Vec<Problem> {
    errors_first(mount::check(kind, options))
}

/// Checks a whole filesystem entry: [`check_format`], [`check_mount_options`] on the
/// spec's `mount_options`, and the rules that relate mkfs arguments, mount options (the
/// preset's merged with the spec's, as they will be mounted) and the preset.
///
/// With a preset, turning write barriers off is an error rather than a warning: every
/// preset holds data whose loss on power failure is not acceptable.
///
/// ```
/// use jts_fs::{FormatSpec, FsKind, Preset, check_filesystem, has_errors};
/// let format = FormatSpec::new(FsKind::Ext4).with_preset(Preset::Redis).with_mkfs_options(["-O", "^has_journal"]);
/// let problems = check_filesystem(&format, &["data=writeback".into()], None);
/// assert!(has_errors(&problems));
/// assert!(problems.iter().any(|p| p.rule == "ext4-journal-option-without-journal"));
/// ```
pub fn check_filesystem(format: &FormatSpec, mount_options: &[String], device_size: Option<u64>) -> Vec<Problem> {
    let mut problems = check_format(format, device_size);
    let mut mount_problems = check_mount_options(format.filesystem, mount_options);
    if let Some(preset) = format.preset {
        for problem in mount_problems.iter_mut().filter(|p| p.rule == "mount-barrier-off") {
            problem.severity = Severity::Error;
            problem.rule = "preset-barrier-off";
            problem.message =
                format!("{} (preset {preset} holds data that must survive a power loss)", problem.message);
        }
    }
    problems.append(&mut mount_problems);
    let effective = effective_mount_options(format.preset, format.filesystem, mount_options);
    cross::check(format, &format.merged_args(), &effective, &mut problems);
    errors_first(problems)
}

/// Errors before warnings, each in the order the rules found them.
fn errors_first(mut problems: Vec<Problem>) -> Vec<Problem> {
    problems.sort_by_key(|problem| std::cmp::Reverse(problem.severity));
    problems
}

/// Parses a size with an optional binary suffix (`k`, `m`, `g`, `t`, `p`, either case,
/// optionally followed by `iB` or `b`), as mkfs.xfs, mkfs.btrfs and the kernel read them.
pub(crate) fn parse_binary_size(text: &str) -> Option<u64> {
    let digits_end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    let number: u64 = digits.parse().ok()?;
    let shift = match unit.to_ascii_lowercase().trim_end_matches("ib").trim_end_matches('b') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return None,
    };
    number.checked_mul(1 << shift)
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::*;

    /// The rule ids of `problems`, in order.
    pub fn rules(problems: &[Problem]) -> Vec<&'static str> {
        problems.iter().map(|p| p.rule).collect()
    }

    /// Mount options from `&str`s.
    pub fn opts(options: &[&str]) -> Vec<String> {
        options.iter().map(|o| (*o).to_owned()).collect()
    }

    /// Asserts that exactly one problem has `rule`, about `option`, with `severity`.
    pub fn assert_one(problems: &[Problem], rule: &str, option: &str, severity: Severity) {
        let found: Vec<&Problem> = problems.iter().filter(|p| p.rule == rule).collect();
        assert_eq!(found.len(), 1, "{rule}: {problems:#?}");
        assert_eq!(found[0].option, option, "{problems:#?}");
        assert_eq!(found[0].severity, severity, "{problems:#?}");
        assert!(!found[0].fix.is_empty() && !found[0].message.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_the_tools() {
        assert_eq!(parse_binary_size("128m"), Some(128 << 20));
        assert_eq!(parse_binary_size("64K"), Some(64 << 10));
        assert_eq!(parse_binary_size("1GiB"), Some(1 << 30));
        assert_eq!(parse_binary_size("4096"), Some(4096));
        assert_eq!(parse_binary_size("12q"), None);
        assert_eq!(parse_binary_size("m"), None);
        assert_eq!(parse_binary_size("99999999999p"), None);
    }

    #[test]
    fn problems_print_option_and_fix() {
        let problem = Problem::error("r", "nobarrier", "removed", "drop it");
        assert_eq!(problem.to_string(), "error: nobarrier: removed; fix: drop it");
        assert!(has_errors(&[problem]));
        assert!(!has_errors(&[Problem::warning("r", "x", "m", "f")]));
    }
}
