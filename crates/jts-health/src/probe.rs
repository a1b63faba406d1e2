//! Filesystem probes that never hang the caller, and never leak a thread per call.
//!
//! A hard NFS mount whose server is gone makes `statvfs(2)` and `stat(2)` block in the
//! kernel, uninterruptibly and for ever. No timeout can cancel such a call; it can only
//! be made on a thread the caller does not wait for. The [`Prober`] therefore keeps
//! **one long-lived worker thread per mount path**, fed through a bounded queue of one
//! job:
//!
//! - a check hands each mount's job to its worker, then waits for all the answers up to
//!   one shared deadline (`timeout` after the start), so mounts are probed in parallel
//!   and the check takes at most about `timeout`, however many mounts hang;
//! - a probe that misses the deadline is reported "not responding"; its worker stays
//!   blocked in the kernel, marked busy since the moment the job was handed over;
//! - while a worker is stuck (busy past the deadline of the check that started it), later
//!   checks do not queue another job or start another thread: they report "still not
//!   responding" at once (a probe in flight whose check has not yet reached its deadline,
//!   i.e. one started by a concurrent check, is joined: both checks get its answer);
//! - when the stuck call returns (the server came back), the worker marks itself idle
//!   and the next check probes that mount again.
//!
//! So a service calling `check` every few seconds has at most one thread per distinct
//! mount path, hung or not. The number of workers is also capped ([`Prober::with_max_workers`]):
//! idle workers of paths no longer asked about are ended to make room, and when every
//! worker is stuck, further paths are reported [`crate::Status::Unknown`] instead of
//! spawning more.

use std::collections::HashMap;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use jts_mounts::MountInfo;
use serde::{Deserialize, Serialize};

/// The numbers `statvfs(2)` gives for one filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FsStats {
    /// `f_frsize`: the unit of the block counts, in bytes.
    pub fragment_size: u64,
    /// `f_blocks`: size of the filesystem, in fragments.
    pub blocks: u64,
    /// `f_bfree`: free fragments, including those reserved for root.
    pub blocks_free: u64,
    /// `f_bavail`: fragments free for unprivileged users.
    pub blocks_available: u64,
    /// `f_files`: inodes in total (0 where the filesystem has no fixed count, e.g. btrfs).
    pub files: u64,
    /// `f_ffree`: free inodes.
    pub files_free: u64,
}

impl FsStats {
    /// Size of the filesystem in bytes, as `df` shows it.
    pub fn bytes_total(&self) -> u64 {
        self.blocks.saturating_mul(self.fragment_size)
    }

    /// Bytes in use: `(f_blocks - f_bfree) × f_frsize`.
    pub fn bytes_used(&self) -> u64 {
        self.blocks.saturating_sub(self.blocks_free).saturating_mul(self.fragment_size)
    }

    /// Bytes an unprivileged writer can still use: `f_bavail × f_frsize`.
    pub fn bytes_available(&self) -> u64 {
        self.blocks_available.saturating_mul(self.fragment_size)
    }

    /// Inodes in use.
    pub fn inodes_used(&self) -> u64 {
        self.files.saturating_sub(self.files_free)
    }
}

/// A probe: what `statvfs` says about the filesystem at a path. Injected in tests.
pub type ProbeFn = dyn Fn(&Path) -> io::Result<FsStats> + Send + Sync;

/// A source of the mount table. Injected in tests.
pub type MountTableFn = dyn Fn() -> jts_mounts::Result<Vec<MountInfo>> + Send + Sync;

/// The real probe: a `stat(2)` of the mount root (a hung NFS mount blocks here), then
/// `statvfs(2)`.
#[allow(clippy::useless_conversion, reason = "the statvfs fields are narrower than u64 on 32-bit targets")]
pub fn statvfs_probe(path: &Path) -> io::Result<FsStats> {
    nix::sys::stat::stat(path)?;
    let vfs = nix::sys::statvfs::statvfs(path)?;
    Ok(FsStats {
        fragment_size: u64::from(vfs.fragment_size()),
        blocks: u64::from(vfs.blocks()),
        blocks_free: u64::from(vfs.blocks_free()),
        blocks_available: u64::from(vfs.blocks_available()),
        files: u64::from(vfs.files()),
        files_free: u64::from(vfs.files_free()),
    })
}

/// How many worker threads a [`Prober`] keeps at most, unless told otherwise.
pub const DEFAULT_MAX_WORKERS: usize = 64;

/// Stack of a worker thread: a stat and a statvfs need little.
const WORKER_STACK: usize = 256 << 10;

/// A probe's answer; the error is kept as text so that every waiter can have a copy.
pub(crate) type Answer = Result<FsStats, String>;

/// What a worker and its callers share.
#[derive(Default)]
pub(crate) struct State {
    /// Since when the worker has been running a probe; `None` when idle.
    busy_since: Option<Instant>,
    /// The deadline of the check that started the running probe: until then, other
    /// checks join it; after it, the probe is stuck.
    busy_until: Option<Instant>,
    /// How many probes have finished.
    finished: u64,
    /// The last probe's answer and how long it took.
    last: Option<(Answer, Duration)>,
}

type Shared = Arc<(Mutex<State>, Condvar)>;

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.0.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Worker {
    /// A bounded queue of one: a token per probe to run.
    jobs: SyncSender<()>,
    shared: Shared,
}

impl Worker {
    fn spawn(path: &Path, probe: Arc<ProbeFn>) -> io::Result<Self> {
        let (jobs, queue) = mpsc::sync_channel::<()>(1);
        let shared = Shared::default();
        let theirs = Arc::clone(&shared);
        let path = path.to_path_buf();
        std::thread::Builder::new()
            .name(format!("jts-health {}", path.display()))
            .stack_size(WORKER_STACK)
            .spawn(move || work(&queue, &path, &*probe, &theirs))?;
        Ok(Self { jobs, shared })
    }

    fn busy(&self) -> bool {
        lock(&self.shared).busy_since.is_some()
    }
}

fn work(queue: &Receiver<()>, path: &Path, probe: &ProbeFn, shared: &Shared) {
    // Ends when the Prober drops the sender (the worker was evicted or the Prober dropped).
    for () in queue {
        let start = Instant::now();
        let answer = catch_unwind(AssertUnwindSafe(|| probe(path)))
            .unwrap_or_else(|_| Err(io::Error::other("the probe panicked")))
            .map_err(|err| err.to_string());
        let mut state = lock(shared);
        state.busy_since = None;
        state.busy_until = None;
        state.finished += 1;
        state.last = Some((answer, start.elapsed()));
        drop(state);
        shared.1.notify_all();
    }
}

/// What became of one probe.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The probe answered in time (with stats or an OS error), after this long.
    Answered(Answer, Duration),
    /// The probe did not answer by the deadline; it had been running this long.
    TimedOut(Duration),
    /// A probe started by an earlier check, longer than the timeout ago, is still blocked;
    /// none was started.
    StillStuck(Duration),
    /// No worker could run the probe.
    NotRun(String),
}

/// A probe handed to a worker (or joined, if another check had just started one), or the
/// reason there is none to wait for.
pub(crate) enum Pending {
    Waiting { shared: Shared, until_finished: u64 },
    Done(Outcome),
}

/// Runs probes on long-lived per-path workers; see the module documentation.
///
/// [`crate::check()`] uses one shared `Prober` with the real [`statvfs_probe`]; a service
/// or a test may make its own with [`Prober::new`] (e.g. with a fake probe) and call
/// [`Prober::check`]. Checks may run concurrently from several threads: a check that
/// finds a mount's probe just started by another check waits for that probe's answer.
pub struct Prober {
    probe: Arc<ProbeFn>,
    mount_table: Arc<MountTableFn>,
    workers: Mutex<HashMap<PathBuf, Worker>>,
    max_workers: usize,
    /// Whether an LVM report read is running (at most one at a time, hung or not).
    lvm_busy: Arc<AtomicBool>,
    /// Whether mounts that [`answers_from_memory`] are probed on the calling thread: only
    /// with the real [`statvfs_probe`], whose behaviour on them is known.
    inline_from_memory: bool,
}

/// Filesystems whose `stat(2)` of the mount root and `statfs(2)` the kernel answers from
/// memory: the root inode is pinned by the mount and these filesystems keep their block
/// and inode counts in memory, so neither call waits for a device or a server. Network
/// filesystems (NFS, CIFS, Ceph), FUSE and anything not named here can block for ever
/// and keep their worker threads; so does vfat, whose first `statfs` counts free
/// clusters on the device.
const FROM_MEMORY: &[&str] = &["ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "ramfs", "devtmpfs"];

/// Whether probing the mount `info` cannot hang: its filesystem answers from memory, it
/// keeps no project quota (whose usage `statfs` may read from disk), and no mount its
/// path passes through is one that can hang (a lookup through a hung NFS mount blocks).
pub(crate) fn answers_from_memory(info: &MountInfo, table: &[MountInfo]) -> bool {
    let local = |m: &MountInfo| FROM_MEMORY.contains(&m.fstype.as_str());
    let project_quota = info.super_options.iter().chain(&info.mount_options).any(|o| {
        matches!(o.as_str(), "prjquota" | "pquota" | "pqnoenforce" | "prjjquota") || o.starts_with("prjjquota=")
    });
    let beneath = |m: &MountInfo| {
        let above = m.mount_point.trim_end_matches('/');
        info.mount_point.len() > above.len()
            && info.mount_point.starts_with(above)
            && info.mount_point.as_bytes()[above.len()] == b'/'
    };
    local(info) && !project_quota && table.iter().filter(|m| beneath(m)).all(local)
}

impl std::fmt::Debug for Prober {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prober").field("workers", &self.worker_count()).field("max_workers", &self.max_workers).finish()
    }
}

impl Default for Prober {
    /// The real [`statvfs_probe`]; mounts whose filesystem answers from memory are probed on the
    /// calling thread, which spares a one-shot process (`jts-provision health`) a thread
    /// start per local mount.
    fn default() -> Self {
        Self { inline_from_memory: true, ..Self::new(statvfs_probe) }
    }
}

impl Prober {
    /// A prober running `probe` for each mount, reading the real mount table.
    pub fn new(probe: impl Fn(&Path) -> io::Result<FsStats> + Send + Sync + 'static) -> Self {
        Self {
            probe: Arc::new(probe),
            mount_table: Arc::new(jts_mounts::read_mountinfo),
            workers: Mutex::new(HashMap::new()),
            max_workers: DEFAULT_MAX_WORKERS,
            lvm_busy: Arc::default(),
            inline_from_memory: false,
        }
    }

    /// The process-wide prober that [`crate::check()`] uses.
    pub fn shared() -> &'static Prober {
        static SHARED: OnceLock<Prober> = OnceLock::new();
        SHARED.get_or_init(Prober::default)
    }

    /// Reads the mount table from `table` instead of `/proc/self/mountinfo`.
    #[must_use]
    pub fn with_mount_table(
        mut self,
        table: impl Fn() -> jts_mounts::Result<Vec<MountInfo>> + Send + Sync + 'static,
    ) -> Self {
        self.mount_table = Arc::new(table);
        self
    }

    /// Keeps at most `max` worker threads (at least 1).
    #[must_use]
    pub fn with_max_workers(mut self, max: usize) -> Self {
        self.max_workers = max.max(1);
        self
    }

    /// How many worker threads exist now (idle, busy or stuck).
    pub fn worker_count(&self) -> usize {
        self.lock().len()
    }

    pub(crate) fn mount_table(&self) -> jts_mounts::Result<Vec<MountInfo>> {
        (self.mount_table)()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<PathBuf, Worker>> {
        self.workers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Probes `path` on the calling thread when its mount `info` [`answers_from_memory`]
    /// (and this prober runs the real probe); otherwise [`Prober::dispatch`]es it.
    pub(crate) fn start_probe(
        &self,
        path: &Path,
        mount: Option<(&MountInfo, &[MountInfo])>,
        keep: &[&Path],
        deadline: Instant,
    ) -> Pending {
        match mount {
            Some((info, table)) if self.inline_from_memory && answers_from_memory(info, table) => {
                let start = Instant::now();
                let answer = (self.probe)(path).map_err(|err| err.to_string());
                Pending::Done(Outcome::Answered(answer, start.elapsed()))
            }
            _ => self.dispatch(path, keep, deadline),
        }
    }

    /// Hands one probe of `path` to its worker, never blocking. `keep` are the paths of the
    /// current check (never evicted), `deadline` its deadline. A probe in flight whose
    /// check's deadline has not passed is joined; one whose has is stuck.
    pub(crate) fn dispatch(&self, path: &Path, keep: &[&Path], deadline: Instant) -> Pending {
        let mut workers = self.lock();
        if !workers.contains_key(path) {
            if workers.len() >= self.max_workers {
                // Make room: end idle workers of paths this check does not ask about.
                workers.retain(|p, w| w.busy() || keep.contains(&p.as_path()));
            }
            if workers.len() >= self.max_workers {
                return Pending::Done(Outcome::NotRun(format!(
                    "not probed: all {} probe workers are busy or stuck",
                    self.max_workers
                )));
            }
            match Worker::spawn(path, Arc::clone(&self.probe)) {
                Ok(worker) => workers.insert(path.to_path_buf(), worker),
                Err(err) => return Pending::Done(Outcome::NotRun(format!("could not start a probe thread: {err}"))),
            };
        }
        let Some(worker) = workers.get(path) else {
            return Pending::Done(Outcome::NotRun("probe worker vanished".to_owned()));
        };
        let now = Instant::now();
        let mut state = lock(&worker.shared);
        let until_finished = state.finished + 1;
        let waiting = Pending::Waiting { shared: Arc::clone(&worker.shared), until_finished };
        if let Some(since) = state.busy_since {
            if state.busy_until.is_some_and(|until| now < until) {
                return waiting;
            }
            return Pending::Done(Outcome::StillStuck(now.saturating_duration_since(since)));
        }
        match worker.jobs.try_send(()) {
            Ok(()) => {
                state.busy_since = Some(now);
                state.busy_until = Some(deadline);
                waiting
            }
            Err(TrySendError::Full(())) => Pending::Done(Outcome::StillStuck(Duration::ZERO)),
            Err(TrySendError::Disconnected(())) => {
                drop(state);
                workers.remove(path);
                Pending::Done(Outcome::NotRun("the probe worker had ended; it is restarted next check".to_owned()))
            }
        }
    }
}

/// An LVM report read in flight, or the reason none was started.
pub(crate) enum PendingLvm {
    Waiting(mpsc::Receiver<Result<crate::lvm::LvmReport, String>>, Instant),
    Done(String),
}

impl Prober {
    /// Starts `read` on a thread of its own, unless an earlier read is still running.
    pub(crate) fn start_lvm(
        &self,
        read: impl FnOnce() -> Result<crate::lvm::LvmReport, String> + Send + 'static,
    ) -> PendingLvm {
        if self.lvm_busy.swap(true, Ordering::AcqRel) {
            return PendingLvm::Done("still not answering: an earlier vgs/lvs has not returned".to_owned());
        }
        let (send, answer) = mpsc::sync_channel(1);
        let busy = Arc::clone(&self.lvm_busy);
        let spawned = std::thread::Builder::new().name("jts-health lvm".to_owned()).spawn(move || {
            let report = catch_unwind(AssertUnwindSafe(read)).unwrap_or_else(|_| Err("the lvm reader panicked".into()));
            busy.store(false, Ordering::Release);
            let _ = send.send(report);
        });
        match spawned {
            Ok(_) => PendingLvm::Waiting(answer, Instant::now()),
            Err(err) => {
                self.lvm_busy.store(false, Ordering::Release);
                PendingLvm::Done(format!("could not start a thread: {err}"))
            }
        }
    }
}

impl PendingLvm {
    /// The report, or why there is none, by `deadline`.
    pub(crate) fn wait(self, deadline: Instant) -> Result<crate::lvm::LvmReport, String> {
        match self {
            PendingLvm::Done(reason) => Err(reason),
            PendingLvm::Waiting(answer, start) => answer
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| Err(format!("vgs/lvs gave no answer in {:.3}s", start.elapsed().as_secs_f64()))),
        }
    }
}

impl Pending {
    /// Waits for the answer until `deadline`.
    pub(crate) fn wait(self, deadline: Instant) -> Outcome {
        let (shared, until_finished) = match self {
            Pending::Done(outcome) => return outcome,
            Pending::Waiting { shared, until_finished } => (shared, until_finished),
        };
        let mut state = lock(&shared);
        while state.finished < until_finished {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let running = state.busy_since.map(|since| since.elapsed()).unwrap_or_default();
                return Outcome::TimedOut(running);
            }
            state = shared.1.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        match &state.last {
            Some((answer, took)) => Outcome::Answered(answer.clone(), *took),
            None => Outcome::NotRun("the probe finished without an answer".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Vec<MountInfo> {
        let lines = [
            "1 0 8:1 / / rw,relatime - ext4 /dev/vda rw",
            "2 1 0:40 / /mnt/nas rw - nfs4 nas:/volume1/data rw,vers=4.1",
            "3 2 8:2 / /mnt/nas/scratch rw - ext4 /dev/vdb rw",
            "4 1 8:3 / /data/hot rw,noatime - xfs /dev/mapper/vg-hot rw,attr2,inode64",
            "5 1 8:4 / /data/projects rw - xfs /dev/vdc rw,prjquota",
            "6 1 0:50 / /mnt/sshfs rw - fuse.sshfs host: rw",
            "7 1 0:51 / /dev/shm rw - tmpfs tmpfs rw",
            "8 1 0:52 / /mnt/nasty rw - btrfs /dev/vdd rw",
        ];
        lines.iter().map(|line| MountInfo::parse(line).unwrap()).collect()
    }

    #[test]
    fn only_local_filesystems_below_local_mounts_without_project_quota_are_probed_inline() {
        let table = table();
        let inline = |point: &str| answers_from_memory(table.iter().find(|m| m.mount_point == point).unwrap(), &table);
        assert!(inline("/"));
        assert!(inline("/data/hot"));
        assert!(inline("/dev/shm"));
        // A path beside the NFS mount that merely shares its prefix is not beneath it.
        assert!(inline("/mnt/nasty"));
        assert!(!inline("/mnt/nas"), "NFS can hang");
        assert!(!inline("/mnt/nas/scratch"), "its lookup passes through the NFS mount");
        assert!(!inline("/data/projects"), "project quota usage may be read from disk");
        assert!(!inline("/mnt/sshfs"), "FUSE can hang");
    }
}
