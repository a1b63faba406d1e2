//! Mount options an adopted filesystem cannot take, from the features it was made with.
//!
//! jts makes filesystems with a journal, but it also adopts what a seed script or an
//! operator made: seed 001's ext4 was made with `-O ^has_journal`. The kernel refuses
//! every journal option on such a filesystem ("can't mount with data=, fs mounted w/o
//! journal"), so a spec that asks for one must be refused at `plan`, not at boot.

use crate::FsKind;

/// The ext4 options that need a journal, each refused by the kernel on an ext4 made
/// without one (measured on Linux 6.1 with a loop device; `journal_ioprio`, `barrier`
/// and `noload` are accepted and ignored).
const EXT4_JOURNAL_OPTIONS: [&str; 4] = ["data", "journal_checksum", "journal_async_commit", "commit"];

/// Each of `options` that a `kind` filesystem with `features` cannot be mounted with,
/// with the reason.
///
/// ```
/// use jts_fs::{FsKind, refused_by_features};
/// let features = ["extent".to_owned(), "64bit".to_owned()];
/// let options = ["noatime".to_owned(), "data=ordered".to_owned()];
/// let refused = refused_by_features(FsKind::Ext4, &features, &options);
/// assert_eq!(refused.len(), 1);
/// assert_eq!(refused[0].0, "data=ordered");
/// ```
pub fn refused_by_features(kind: FsKind, features: &[String], options: &[String]) -> Vec<(String, String)> {
    if kind != FsKind::Ext4 || features.is_empty() || features.iter().any(|f| f == "has_journal") {
        return Vec::new();
    }
    options
        .iter()
        .filter(|option| EXT4_JOURNAL_OPTIONS.contains(&option.split('=').next().unwrap_or_default()))
        .map(|option| {
            let reason = "the ext4 on the device has no journal (made with -O ^has_journal), and the kernel refuses \
                          journal options on it"
                .to_owned();
            (option.clone(), reason)
        })
        .collect()
}
