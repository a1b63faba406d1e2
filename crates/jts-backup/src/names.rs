//! Archive file names: `NAME-YYYYMMDDTHHMMSSZ.tar.zst`, and the temporary name an archive
//! is written under, `.NAME-YYYYMMDDTHHMMSSZ.tar.zst.tmp`. Cleanup removes only names
//! that [`parse_temp`] recognises; a finished archive's name never is one.

use jts_core::AbsPath;

use crate::calendar::parse_archive_id;

/// The suffix of every archive.
pub const SUFFIX: &str = ".tar.zst";
/// The suffix of an archive being written.
const TEMP_SUFFIX: &str = ".tar.zst.tmp";
/// The suffix of a `command` source's output while it is spooled.
const SPOOL_SUFFIX: &str = ".dump.tmp";
/// The suffixes of the scratch files of a run, on a filesystem without `O_TMPFILE`
/// (they are unlinked as soon as they are made).
const SCRATCH_SUFFIXES: [&str; 2] = [".records.tmp", ".manifest.tmp"];

/// The file name of `backup`'s archive `id`.
pub fn archive_name(backup: &str, id: &str) -> String {
    format!("{backup}-{id}{SUFFIX}")
}

/// The temporary name the archive `id` is written under.
pub fn temp_name(backup: &str, id: &str) -> String {
    format!(".{backup}-{id}{TEMP_SUFFIX}")
}

/// The id of `backup`'s archive named `file`, if `file` is one.
pub fn parse_archive(backup: &str, file: &str) -> Option<String> {
    let id = file.strip_prefix(backup)?.strip_prefix('-')?.strip_suffix(SUFFIX)?;
    parse_archive_id(id).map(|_| id.to_owned())
}

/// Where a `command` source's output is spooled before it is archived.
pub fn spool_name(backup: &str, id: &str) -> String {
    format!(".{backup}-{id}{SPOOL_SUFFIX}")
}

/// The names a run's scratch files take where the filesystem cannot make them unnamed:
/// the file records, and the manifest.
pub fn scratch_names(backup: &str, id: &str) -> [String; 2] {
    SCRATCH_SUFFIXES.map(|suffix| format!(".{backup}-{id}{suffix}"))
}

/// The id of `backup`'s temporary archive, spool or scratch file named `file`, if
/// `file` is one.
pub fn parse_temp(backup: &str, file: &str) -> Option<String> {
    let rest = file.strip_prefix('.')?.strip_prefix(backup)?.strip_prefix('-')?;
    let id = [TEMP_SUFFIX, SPOOL_SUFFIX, SCRATCH_SUFFIXES[0], SCRATCH_SUFFIXES[1]]
        .into_iter()
        .find_map(|suffix| rest.strip_suffix(suffix))?;
    parse_archive_id(id).map(|_| id.to_owned())
}

/// Every directory where one backup's archives may lie: its `to` first, then where
/// `[[rules]]` move them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locations {
    /// The directories, `to` first.
    pub dirs: Vec<AbsPath>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_never_overlap() {
        let id = "20261203T230000Z";
        assert_eq!(parse_archive("pg", &archive_name("pg", id)).as_deref(), Some(id));
        assert_eq!(parse_temp("pg", &temp_name("pg", id)).as_deref(), Some(id));
        assert_eq!(parse_temp("pg", &spool_name("pg", id)).as_deref(), Some(id));
        for scratch in scratch_names("pg", id) {
            assert_eq!(parse_temp("pg", &scratch).as_deref(), Some(id), "{scratch}");
        }
        assert_eq!(parse_temp("pg", &archive_name("pg", id)), None, "a finished archive is no temporary");
        assert_eq!(parse_archive("pg", &temp_name("pg", id)), None);
        assert_eq!(parse_archive("pg", &archive_name("pg-old", id)), None, "another backup's archive");
        assert_eq!(parse_archive("pg", "pg-20261203T230000Z.tar.zst.zst"), None);
        assert_eq!(parse_temp("pg", ".pg-garbage.tar.zst.tmp"), None);
    }
}
