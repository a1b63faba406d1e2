//! Loading the host spec: TOML into [`HostSpec`], every problem located as `file:line:col`.

use std::path::{Path, PathBuf};

use jts_core::SpecError;
use jts_perms::{DirectorySpec, GroupSpec, PermsSpec, UserSpec};
use serde::Deserialize;
use toml::Spanned;

/// The spec format this binary reads.
const SUPPORTED_VERSION: u32 = 1;

/// The whole host spec, version 1.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHostSpec {
    version: Spanned<u32>,
    #[serde(default)]
    allow_destroy: Vec<String>,
    #[serde(default)]
    groups: std::collections::BTreeMap<String, Spanned<GroupSpec>>,
    #[serde(default)]
    users: std::collections::BTreeMap<String, Spanned<UserSpec>>,
    #[serde(default)]
    directories: Vec<DirectorySpec>,
    #[serde(default)]
    volume_groups: std::collections::BTreeMap<String, Spanned<jts_lvm::VgSpec>>,
    #[serde(default)]
    snapshots: std::collections::BTreeMap<String, Spanned<jts_lvm::SnapshotPolicy>>,
}

/// A parsed host spec.
#[derive(Debug)]
pub struct HostSpec {
    /// Objects the spec allows to be destroyed (the CLI must name them too).
    pub allow_destroy: Vec<String>,
    /// Accounts and directories.
    pub perms: PermsSpec,
    /// Volume groups, volumes and snapshot policies.
    pub lvm: jts_lvm::LvmSpec,
}

/// A spec that could not be loaded: where, and every problem found.
#[derive(Debug)]
pub struct ConfigError {
    pub file: PathBuf,
    pub source_text: String,
    pub errors: Vec<SpecError>,
}

impl ConfigError {
    /// One `file:line:col: key: message` line per problem.
    pub fn lines(&self) -> Vec<String> {
        self.errors
            .iter()
            .map(|err| match err.line_col(&self.source_text) {
                Some((line, col)) => format!("{}:{line}:{col}: {err}", self.file.display()),
                None => format!("{}: {err}", self.file.display()),
            })
            .collect()
    }
}

/// Reads and parses the spec file; does not consult the machine.
pub fn load(file: &Path) -> Result<(HostSpec, String), ConfigError> {
    let fail = |source_text: String, errors| ConfigError { file: file.to_path_buf(), source_text, errors };
    let text = std::fs::read_to_string(file).map_err(|err| {
        fail(String::new(), vec![SpecError::new(None, "", format!("cannot read the spec: {err}; pass --config FILE"))])
    })?;
    let raw: RawHostSpec = toml::from_str(&text).map_err(|err| {
        let message = err.message().trim().to_owned();
        fail(text.clone(), vec![SpecError::new(err.span(), "", message)])
    })?;
    if *raw.version.get_ref() != SUPPORTED_VERSION {
        let message = format!("unsupported spec version {}; this jts-provision reads version 1", raw.version.get_ref());
        return Err(fail(text, vec![SpecError::new(Some(raw.version.span()), "version", message)]));
    }
    let perms = PermsSpec { groups: raw.groups, users: raw.users, directories: raw.directories };
    let lvm = jts_lvm::LvmSpec { volume_groups: raw.volume_groups, snapshots: raw.snapshots };
    Ok((HostSpec { allow_destroy: raw.allow_destroy, perms, lvm }, text))
}
