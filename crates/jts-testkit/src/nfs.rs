//! The VM guest's loopback NFS v4.2 server (docs/architecture.md, "Testing tiers").
//!
//! It exports a tmpfs at [`NFS_EXPORT`] as the v4 pseudo-root `127.0.0.1:/`. Tests in
//! the same boot share it: each step of [`ensure_nfs_server`] is skipped when done
//! already, and the export is emptied every time.

use crate::mounts::mountinfo;
use crate::run::{Run, tool};

/// The loopback NFS server's export in the VM guest, `127.0.0.1:/`.
pub const NFS_EXPORT: &str = "/srv/export";

/// Runs a daemon-starting command with its stdio on /dev/null: a forked daemon keeps
/// captured pipes open, so [`tool`] would wait for it until its timeout.
fn launch_daemon(command: &str) -> Run {
    tool("sh", &["-c", &format!("{command} </dev/null >/dev/null 2>&1")])
}

/// Whether a process named `name` runs.
fn process_running(name: &str) -> bool {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| std::fs::read_to_string(entry.path().join("comm")).is_ok_and(|comm| comm.trim() == name))
}

/// How many nfsd threads run (0: the server is stopped).
fn nfsd_threads() -> u32 {
    std::fs::read_to_string("/proc/fs/nfsd/threads").unwrap_or_default().trim().parse().unwrap_or(0)
}

/// Starts nfsd with a short NFSv4 lease and grace period (settable only while it is
/// stopped), so that clients reclaim their state in seconds after a restart.
fn launch_nfsd() -> Run {
    for knob in ["nfsv4leasetime", "nfsv4gracetime"] {
        let _ = std::fs::write(format!("/proc/fs/nfsd/{knob}"), "10");
    }
    launch_daemon("rpc.nfsd -N 3 4")
}

/// Starts nfsd unless it runs (see [`ensure_nfs_server`] for the whole server).
#[track_caller]
pub fn start_nfsd() {
    if nfsd_threads() == 0 {
        launch_nfsd().expect_code(0);
    }
}

/// Stops nfsd: a dead NAS for the clients, whose hard mounts hang.
#[track_caller]
pub fn stop_nfsd() {
    launch_daemon("rpc.nfsd 0").expect_code(0);
}

/// Starts nfsd again on drop, if it is stopped. A hard NFS mount cannot be unmounted
/// cleanly while its server is down, so declare this guard *after* the NFS mounts'
/// guards: it is dropped first.
#[derive(Debug)]
pub struct RestartNfsdOnDrop;

impl Drop for RestartNfsdOnDrop {
    fn drop(&mut self) {
        if nfsd_threads() == 0 {
            let _ = launch_nfsd();
        }
    }
}

/// The loopback NFS v4.2 server with an emptied tmpfs export of `size` (e.g. `"64m"`):
/// nfsd's filesystem, the tmpfs, the export, rpc.mountd and nfsd, each made unless it is
/// there already.
#[track_caller]
pub fn ensure_nfs_server(size: &str) {
    let mounted = mountinfo();
    if !mounted.iter().any(|m| m.fstype == "nfsd" && m.mount_point == "/proc/fs/nfsd") {
        tool("mount", &["-t", "nfsd", "nfsd", "/proc/fs/nfsd"]).expect_code(0);
    }
    if mounted.iter().any(|m| m.fstype == "tmpfs" && m.mount_point == NFS_EXPORT) {
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
        launch_daemon("rpc.mountd -N 3").expect_code(0);
    }
    start_nfsd();
}
