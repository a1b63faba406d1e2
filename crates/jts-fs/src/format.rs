//! [`FormatSpec`]: what filesystem to make on a device.

use serde::{Deserialize, Serialize};

use crate::kind::{FsKind, Preset};
use crate::mkfs_args::{merge, parse_args, render};
use crate::presets::preset_mkfs_args;

/// What to make on a device: the filesystem, its workload preset, extra mkfs arguments and
/// the label. Filled from a volume's spec or a `[filesystems.*]` entry.
///
/// ```
/// use jts_fs::{FormatSpec, FsKind, Preset};
///
/// let format: FormatSpec = toml::from_str(r#"
///     filesystem = "xfs"
///     preset = "kafka"
///     mkfs_options = ["-d", "agcount=32"]
///     label = "jts-kafka"
/// "#).unwrap();
/// assert_eq!(format, FormatSpec::new(FsKind::Xfs)
///     .with_preset(Preset::Kafka)
///     .with_mkfs_options(["-d", "agcount=32"])
///     .with_label("jts-kafka"));
/// assert_eq!(format.mkfs_args(), ["-d", "agcount=32"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormatSpec {
    /// The filesystem type.
    pub filesystem: FsKind,
    /// The workload preset whose mkfs arguments come first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<Preset>,
    /// Extra mkfs arguments, one argv word per item, applied over the preset's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mkfs_options: Vec<String>,
    /// The filesystem label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl FormatSpec {
    /// A plain filesystem of `kind`: no preset, no extra arguments, no label.
    pub fn new(filesystem: FsKind) -> Self {
        Self { filesystem, preset: None, mkfs_options: Vec::new(), label: None }
    }

    /// The same, with a workload preset.
    pub fn with_preset(mut self, preset: Preset) -> Self {
        self.preset = Some(preset);
        self
    }

    /// The same, with a label.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// The same, with extra mkfs arguments.
    pub fn with_mkfs_options<I, S>(mut self, options: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.mkfs_options = options.into_iter().map(Into::into).collect();
        self
    }

    /// The mkfs arguments jts passes besides its own (`-q`, `-F`/`-f`, `-L`, the device):
    /// the preset's, then `mkfs_options` merged over them.
    ///
    /// Options that take comma-separated sub-options (`-E`, `-O`, xfs `-d`, `-l`, …) are
    /// merged key by key, so that `-E discard` adds to the preset's `-E` instead of
    /// replacing it (mke2fs keeps only the last `-E`) and `-d agcount=8` replaces a
    /// preset's `agcount` (mkfs.xfs refuses a respecified sub-option). Other options given
    /// by both replace the preset's. Force, label and quiet flags are dropped: jts owns them.
    pub fn mkfs_args(&self) -> Vec<String> {
        render(&self.merged_args())
    }

    pub(crate) fn merged_args(&self) -> Vec<crate::mkfs_args::Token> {
        let base = self.preset.map(|preset| preset_mkfs_args(preset, self.filesystem)).unwrap_or_default();
        merge(parse_args(self.filesystem, &base), parse_args(self.filesystem, &self.mkfs_options))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_rejected() {
        let err = toml::from_str::<FormatSpec>("filesystem = \"ext4\"\nlabl = \"x\"").unwrap_err();
        assert!(err.to_string().contains("unknown field `labl`"), "{err}");
    }

    #[test]
    fn user_extended_options_merge_into_the_presets() {
        let format = FormatSpec::new(FsKind::Ext4).with_preset(Preset::Postgresql).with_mkfs_options(["-E", "discard"]);
        assert_eq!(format.mkfs_args(), ["-E", "lazy_itable_init=0,lazy_journal_init=0,discard"]);
        let format = format.with_mkfs_options(["-E", "lazy_itable_init=1", "-O", "^has_journal"]);
        assert_eq!(format.mkfs_args(), ["-E", "lazy_journal_init=0,lazy_itable_init=1", "-O", "^has_journal"]);
    }

    #[test]
    fn managed_flags_never_reach_mkfs() {
        let format = FormatSpec::new(FsKind::Xfs).with_mkfs_options(["-f", "-L", "x", "-q", "-K"]);
        assert_eq!(format.mkfs_args(), ["-K"]);
    }
}
