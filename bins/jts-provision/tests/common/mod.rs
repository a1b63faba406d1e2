//! Helpers shared by the end-to-end tests of the `jts-provision` binary.
//!
//! Every external program (the binary itself, `stat`, `getfacl`, `setfacl`, `setpriv`) is
//! run through `assert_cmd::Command`, with a timeout, and its exit code and output are
//! captured in a [`Run`] that prints everything when an assertion fails.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_jts-provision");

/// How long any one command may take before the test fails.
const TIMEOUT: Duration = Duration::from_secs(120);

/// The outcome of one command.
#[derive(Clone)]
pub struct Run {
    /// What was run, for failure messages.
    pub argv: String,
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "\n$ {}\nexit code: {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--------------",
            self.argv, self.code, self.stdout, self.stderr
        )
    }
}

impl Run {
    /// Stdout parsed as one JSON document.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|err| panic!("stdout is not JSON ({err}):{self:?}"))
    }

    /// Stdout and stderr together.
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Asserts the exit code, printing the whole run when it differs.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code:{self:?}");
        self
    }
}

/// Runs `program` with `args`.
pub fn tool<S: AsRef<std::ffi::OsStr>>(program: &str, args: &[S]) -> Run {
    let mut cmd = assert_cmd::Command::new(program);
    cmd.args(args).env_remove("JTS_LOG").timeout(TIMEOUT);
    let output = cmd.output().unwrap_or_else(|err| panic!("cannot run {program}: {err}"));
    Run {
        argv: std::iter::once(program.to_owned())
            .chain(args.iter().map(|a| a.as_ref().to_string_lossy().into_owned()))
            .collect::<Vec<_>>()
            .join(" "),
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `jts-provision` with `args`.
pub fn jts<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    tool(BIN, args)
}

/// Runs `jts-provision --config SPEC --root ROOT` followed by `args`.
pub fn jts_at(spec: &Path, root: &Path, args: &[&str]) -> Run {
    let mut all: Vec<&std::ffi::OsStr> =
        vec!["--config".as_ref(), spec.as_os_str(), "--root".as_ref(), root.as_os_str()];
    all.extend(args.iter().map(std::ffi::OsStr::new));
    jts(&all)
}

/// Whether a program can be found on `PATH`.
pub fn have_program(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
        .unwrap_or(false)
}

/// The repository's example spec of the hot tier.
pub fn example_spec() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hot-directories.toml")
}

/// A fresh temporary directory.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("jts-provision-e2e-").tempdir().expect("tempdir")
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|err| panic!("writing {}: {err}", path.display()));
    path
}

/// The 1-based line and column (in characters) where `needle` first starts in `text`.
#[track_caller]
pub fn line_col(text: &str, needle: &str) -> (usize, usize) {
    let at = text.find(needle).unwrap_or_else(|| panic!("{needle:?} is not in the spec text"));
    assert_eq!(text.matches(needle).count(), 1, "{needle:?} must occur once in the spec text to locate it");
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |rest| rest.chars().count()) + 1;
    (line, col)
}

// ---------------------------------------------------------------------------------------
// Root tier.

/// Whether this process runs as uid 0.
pub fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// True (after printing why) when the test must be skipped because it is not root.
pub fn skip_unless_root(test: &str) -> bool {
    if running_as_root() {
        return false;
    }
    eprintln!("skipping {test}: root tier test (DESIGN.md §5), needs uid 0 for chown, useradd --prefix and ACLs");
    true
}

/// `ROOT` joined with an absolute spec path.
pub fn under(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

/// `stat -c '%a %u %g'` of `path` (not following a final symlink: `stat` does not by default).
#[track_caller]
pub fn stat_augid(path: &Path) -> String {
    let run = tool("stat", &["-c", "%a %u %g", path.to_str().expect("utf-8 path")]);
    run.expect_code(0);
    run.stdout.trim().to_owned()
}

/// The entries `getfacl -n --absolute-names` prints for `path`, comments and blank lines removed.
#[track_caller]
pub fn getfacl(path: &Path) -> BTreeSet<String> {
    let run = tool("getfacl", &["-n", "--absolute-names", path.to_str().expect("utf-8 path")]);
    run.expect_code(0);
    run.stdout.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned).collect()
}

/// A user line of `ROOT/etc/passwd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    /// uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
    /// GECOS.
    pub comment: String,
    /// Home.
    pub home: String,
    /// Shell.
    pub shell: String,
}

/// `ROOT/etc/passwd` by name.
pub fn passwd(root: &Path) -> BTreeMap<String, PasswdEntry> {
    let text = std::fs::read_to_string(root.join("etc/passwd")).expect("ROOT/etc/passwd");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            assert_eq!(f.len(), 7, "malformed passwd line {line:?}");
            let entry = PasswdEntry {
                uid: f[2].parse().expect("uid"),
                gid: f[3].parse().expect("gid"),
                comment: f[4].into(),
                home: f[5].into(),
                shell: f[6].into(),
            };
            (f[0].to_owned(), entry)
        })
        .collect()
}

/// `ROOT/etc/group` by name: gid and members.
pub fn groups(root: &Path) -> BTreeMap<String, (u32, Vec<String>)> {
    let text = std::fs::read_to_string(root.join("etc/group")).expect("ROOT/etc/group");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            assert_eq!(f.len(), 4, "malformed group line {line:?}");
            let members = f[3].split(',').filter(|m| !m.is_empty()).map(str::to_owned).collect();
            (f[0].to_owned(), (f[2].parse().expect("gid"), members))
        })
        .collect()
}

/// What a snapshot records of one file: everything a change would show, ctime included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inode {
    /// `d`, `f`, `l` or `?`.
    pub kind: char,
    /// The inode number.
    pub ino: u64,
    /// Mode bits including the type.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size.
    pub size: u64,
    /// mtime, seconds and nanoseconds.
    pub mtime: (i64, i64),
    /// ctime, seconds and nanoseconds: changes on any chmod, chown, ACL or content change.
    pub ctime: (i64, i64),
    /// A symlink's target.
    pub target: Option<PathBuf>,
    /// A regular file's contents.
    pub contents: Option<Vec<u8>>,
}

/// Every entry below `dir` (and `dir` itself, as ""), never following symlinks.
/// A missing `dir` gives an empty map.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Inode> {
    let mut all = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        let path = if relative.as_os_str().is_empty() { dir.to_path_buf() } else { dir.join(&relative) };
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        let kind = if meta.file_type().is_symlink() {
            'l'
        } else if meta.is_dir() {
            'd'
        } else if meta.is_file() {
            'f'
        } else {
            '?'
        };
        if kind == 'd' {
            for entry in std::fs::read_dir(&path).expect("read_dir") {
                stack.push(relative.join(entry.expect("dir entry").file_name()));
            }
        }
        all.insert(
            relative,
            Inode {
                kind,
                ino: meta.ino(),
                mode: meta.mode(),
                uid: meta.uid(),
                gid: meta.gid(),
                size: meta.size(),
                mtime: (meta.mtime(), meta.mtime_nsec()),
                ctime: (meta.ctime(), meta.ctime_nsec()),
                target: (kind == 'l').then(|| std::fs::read_link(&path).expect("read_link")),
                contents: (kind == 'f').then(|| std::fs::read(&path).expect("read file")),
            },
        );
    }
    all
}

/// Asserts two snapshots are equal, naming the first differing entries.
#[track_caller]
pub fn assert_same_snapshot(before: &BTreeMap<PathBuf, Inode>, after: &BTreeMap<PathBuf, Inode>, what: &str) {
    if before == after {
        return;
    }
    let mut differences = Vec::new();
    for (path, old) in before {
        match after.get(path) {
            None => differences.push(format!("removed: {}", path.display())),
            Some(new) if new != old => {
                differences.push(format!("changed: {}\n  before {old:?}\n  after  {new:?}", path.display()))
            }
            Some(_) => {}
        }
    }
    for path in after.keys().filter(|p| !before.contains_key(*p)) {
        differences.push(format!("created: {}", path.display()));
    }
    panic!("{what} changed:\n{}", differences.join("\n"));
}

/// Sets `path`'s permission bits exactly (no umask).
pub fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|err| panic!("chmod {mode:o} {}: {err}", path.display()));
}

/// A loop device on a sparse file, detached (and unmounted) on drop.
pub struct Loop {
    /// The device, e.g. `/dev/loop3`.
    pub device: String,
    /// Mount points to unmount first, innermost last.
    pub mounts: Vec<PathBuf>,
}

impl Loop {
    /// Attaches a new sparse file of `size` in `dir`.
    pub fn new(dir: &Path, size: &str) -> Self {
        let image = dir.join("disk.img");
        tool("truncate", &["-s", size, image.to_str().unwrap()]).expect_code(0);
        let run = tool("losetup", &["--find", "--show", image.to_str().unwrap()]);
        run.expect_code(0);
        Self { device: run.stdout.trim().to_owned(), mounts: Vec::new() }
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        for mount in self.mounts.iter().rev() {
            let _ = tool("umount", &[mount.to_str().unwrap()]);
        }
        let _ = tool("losetup", &["-d", &self.device]);
    }
}

/// Whether this runs inside the VM tier's guest (`scripts/vm-test.sh`); prints why a
/// test skips when it does not.
pub fn in_guest(test: &str) -> bool {
    let inside = std::env::var("JTS_VM_GUEST").is_ok_and(|v| v == "1");
    if !inside {
        eprintln!("skipping {test}: VM tier; run it inside the guest with scripts/vm-test.sh");
    }
    inside
}

/// The guest's virtual disks (`JTS_VM_DISKS`, e.g. `/dev/vda /dev/vdb`).
pub fn disks() -> Vec<String> {
    std::env::var("JTS_VM_DISKS").unwrap_or_default().split_whitespace().map(str::to_owned).collect()
}

/// The loopback NFS server's export in the VM guest (DESIGN.md §5), `127.0.0.1:/`.
pub const NFS_EXPORT: &str = "/srv/export";

/// Runs a daemon-starting command with its stdio on /dev/null: a forked daemon keeps
/// captured pipes open, so `tool` would wait for it until its timeout.
pub fn start_daemon(command: &str) {
    tool("sh", &["-c", &format!("{command} </dev/null >/dev/null 2>&1")]).expect_code(0);
}

/// Whether a process named `name` runs.
pub fn process_running(name: &str) -> bool {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| std::fs::read_to_string(entry.path().join("comm")).is_ok_and(|comm| comm.trim() == name))
}

/// (mount point, fstype) of every mount.
fn mount_points() -> Vec<(String, String)> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            Some((left.split(' ').nth(4)?.to_owned(), right.split(' ').next()?.to_owned()))
        })
        .collect()
}

/// Starts nfsd unless it runs, with a short NFSv4 lease and grace period (settable only
/// while it is stopped), so that clients reclaim their state in seconds after a restart.
pub fn start_nfsd() {
    let threads = std::fs::read_to_string("/proc/fs/nfsd/threads").unwrap_or_default();
    if threads.trim().parse::<u32>().unwrap_or(0) > 0 {
        return;
    }
    for knob in ["nfsv4leasetime", "nfsv4gracetime"] {
        let _ = std::fs::write(format!("/proc/fs/nfsd/{knob}"), "10");
    }
    start_daemon("rpc.nfsd -N 3 4");
}

/// Stops nfsd: a dead NAS for the clients, their hard mounts hang.
pub fn stop_nfsd() {
    start_daemon("rpc.nfsd 0");
}

/// The loopback NFS v4.2 server of DESIGN.md §5 in the guest, exporting a tmpfs of `size`
/// at [`NFS_EXPORT`] as the v4 pseudo-root `127.0.0.1:/`. Each step is skipped when done
/// already, so tests in the same boot share the server; the export is emptied every time.
pub fn ensure_nfs_server(size: &str) {
    let mounted = mount_points();
    if !mounted.iter().any(|(mp, fs)| fs == "nfsd" && mp == "/proc/fs/nfsd") {
        tool("mount", &["-t", "nfsd", "nfsd", "/proc/fs/nfsd"]).expect_code(0);
    }
    if mounted.iter().any(|(mp, fs)| fs == "tmpfs" && mp == NFS_EXPORT) {
        // Emptied before it is resized: a tmpfs cannot shrink below what it holds.
        for entry in std::fs::read_dir(NFS_EXPORT).expect("read /srv/export") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                std::fs::remove_dir_all(&path).expect("empty the export");
            } else {
                std::fs::remove_file(&path).expect("empty the export");
            }
        }
        tool("mount", &["-o", &format!("remount,size={size}"), NFS_EXPORT]).expect_code(0);
    } else {
        std::fs::create_dir_all(NFS_EXPORT).expect("mkdir /srv/export");
        tool("mount", &["-t", "tmpfs", "-o", &format!("size={size},mode=0755"), "jts-export", NFS_EXPORT])
            .expect_code(0);
    }
    if !tool("exportfs", &["-v"]).stdout.contains(NFS_EXPORT) {
        let client = format!("127.0.0.1:{NFS_EXPORT}");
        tool("exportfs", &["-o", "rw,sync,fsid=0,no_subtree_check,no_root_squash", &client]).expect_code(0);
    }
    if !process_running("rpc.mountd") {
        start_daemon("rpc.mountd -N 3");
    }
    start_nfsd();
}
