//! Permissions as the real tools set and see them.

use std::collections::BTreeSet;
use std::path::Path;

use crate::run::tool;

/// Sets `path`'s permission bits exactly (no umask).
#[track_caller]
pub fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|err| panic!("chmod {mode:o} {}: {err}", path.display()));
}

/// The entries `getfacl -n --absolute-names` prints for `path`, comments and blank lines
/// left out.
#[track_caller]
pub fn getfacl(path: &Path) -> BTreeSet<String> {
    let run = tool("getfacl", &["-n".as_ref(), "--absolute-names".as_ref(), path.as_os_str()]);
    run.expect_code(0);
    run.stdout.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned).collect()
}
