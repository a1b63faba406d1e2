//! Rules on filesystem labels.

use super::Problem;
use crate::format::FormatSpec;
use crate::kind::FsKind;

pub(super) fn check(format: &FormatSpec) -> Vec<Problem> {
    let Some(label) = &format.label else { return Vec::new() };
    let kind = format.filesystem;
    let option = format!("label {label:?}");
    let problem = if kind == FsKind::None {
        Problem::error("label-raw-volume", &option, "a raw volume has no filesystem to label", "remove the label")
    } else if label.is_empty() {
        Problem::error("label-empty", &option, "an empty label is no label", "remove it, or name the filesystem")
    } else if label.len() > kind.label_max() {
        Problem::error(
            "label-too-long",
            &option,
            format!("{} bytes; {kind} stores at most {} (mkfs would cut or refuse it)", label.len(), kind.label_max()),
            format!("shorten it to {} bytes", kind.label_max()),
        )
    } else if label.chars().any(char::is_control) {
        Problem::error("label-control-character", &option, "contains a control character", "use printable characters")
    } else if label.chars().any(char::is_whitespace) || label.contains('/') {
        Problem::warning(
            "label-awkward",
            &option,
            "spaces and slashes need escaping in fstab LABEL= and /dev/disk/by-label",
            "use letters, digits, - and _",
        )
    } else {
        return Vec::new();
    };
    vec![problem]
}

#[cfg(test)]
mod tests {
    use super::super::Severity::{Error, Warning};
    use super::super::test_util::assert_one;
    use super::*;

    fn run(kind: FsKind, label: &str) -> Vec<Problem> {
        check(&FormatSpec::new(kind).with_label(label))
    }

    #[test]
    fn label_lengths_per_filesystem() {
        assert!(run(FsKind::Ext4, "1234567890123456").is_empty());
        assert_one(&run(FsKind::Ext4, "12345678901234567"), "label-too-long", "label \"12345678901234567\"", Error);
        assert!(run(FsKind::Xfs, "abcdefghijkl").is_empty());
        assert_one(&run(FsKind::Xfs, "abcdefghijklm"), "label-too-long", "label \"abcdefghijklm\"", Error);
        assert!(run(FsKind::Btrfs, &"a".repeat(255)).is_empty());
        assert_eq!(run(FsKind::Btrfs, &"a".repeat(256))[0].rule, "label-too-long");
        assert!(run(FsKind::Btrfs, "jts-warm-storage").is_empty());
    }

    #[test]
    fn odd_labels() {
        assert_one(&run(FsKind::Ext4, ""), "label-empty", "label \"\"", Error);
        assert_one(&run(FsKind::Ext4, "a\tb"), "label-control-character", "label \"a\\tb\"", Error);
        assert_one(&run(FsKind::Ext4, "pg data"), "label-awkward", "label \"pg data\"", Warning);
        assert_one(&run(FsKind::None, "x"), "label-raw-volume", "label \"x\"", Error);
    }
}
