//! The names the mover gives files: temporaries, compressed copies, kept-both conflicts.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::rules::Compression;

/// Every temporary copy's name starts with this; the scanner never selects such a file,
/// so a temporary is never mistaken for data.
pub const TEMP_PREFIX: &str = ".jts-tmp.";

/// Whether `name` is one of the mover's temporaries.
pub fn is_temp_name(name: &OsStr) -> bool {
    name.as_bytes().starts_with(TEMP_PREFIX.as_bytes())
}

/// The temporary name for copy number `seq` of the run `run_id`. Short whatever the
/// file's own name, so it always fits in 255 bytes.
pub fn temp_name(run_id: &str, seq: u64) -> OsString {
    OsString::from(format!("{TEMP_PREFIX}{run_id}.{seq}"))
}

/// The destination path of the source file at relative `path`: the same path, with
/// `.zst` appended when compressed.
pub fn dest_path(path: &Path, compress: Option<Compression>) -> PathBuf {
    match compress {
        None => path.to_path_buf(),
        Some(Compression::Zstd) => {
            let mut name = path.as_os_str().to_owned();
            name.push(".zst");
            PathBuf::from(name)
        }
    }
}

/// The `n`-th name under which a file is kept beside a different file of the same name:
/// `app.log` → `app.conflict-1.log`, `db.tar.gz` → `db.conflict-1.tar.gz`,
/// `README` → `README.conflict-1`, `.hidden` → `.hidden.conflict-1`.
pub fn conflict_name(name: &OsStr, n: u64) -> OsString {
    let bytes = name.as_bytes();
    let split = bytes.iter().skip(1).position(|&b| b == b'.').map_or(bytes.len(), |at| at + 1);
    let (stem, extension) = bytes.split_at(split);
    let mut out = stem.to_vec();
    out.extend_from_slice(format!(".conflict-{n}").as_bytes());
    out.extend_from_slice(extension);
    OsString::from_vec(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_names_keep_the_extension_last() {
        let name = |s: &str, n| conflict_name(OsStr::new(s), n).into_string().unwrap();
        assert_eq!(name("app.log", 1), "app.conflict-1.log");
        assert_eq!(name("db.tar.gz", 2), "db.conflict-2.tar.gz");
        assert_eq!(name("README", 1), "README.conflict-1");
        assert_eq!(name(".hidden", 3), ".hidden.conflict-3");
        assert_eq!(name(".hidden.log", 1), ".hidden.conflict-1.log");
    }

    #[test]
    fn temporaries_are_recognised_and_compressed_names_get_zst() {
        assert!(is_temp_name(&temp_name("1a2b", 7)));
        assert!(!is_temp_name(OsStr::new("jts-tmp.log")));
        assert_eq!(dest_path(Path::new("a/b.log"), Some(Compression::Zstd)), Path::new("a/b.log.zst"));
        assert_eq!(dest_path(Path::new("a/b.log"), None), Path::new("a/b.log"));
    }
}
