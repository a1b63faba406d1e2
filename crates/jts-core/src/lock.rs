//! [`StateLock`]: one run at a time of a jts command that changes the machine, and who
//! holds it when another is running.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use nix::fcntl::{Flock, FlockArg, OFlag, openat};
use nix::sys::stat::Mode;

use crate::error::{Error, Result};
use crate::nofollow::{create_dir_all, reopen_dir};
use crate::path::{AbsPath, Root};

/// An exclusive `flock` on a file in jts's state directory (under the root), held until
/// dropped. The file names its holder: process id, command and start time.
#[derive(Debug)]
pub struct StateLock(Flock<File>, PathBuf);

impl StateLock {
    /// Takes the lock `dir/name` for `command` (`"jts-provision apply"`), creating `dir`
    /// with `mode` (ancestors `0755`). Fails with [`Error::Locked`], naming the holder,
    /// when another process holds it; never waits.
    pub fn take(root: &Root, dir: &AbsPath, name: &str, mode: u32, command: &str) -> Result<Self> {
        let dir_node = create_dir_all(root, dir, mode)?;
        let flags = OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let mut lock = Self::lock_at(&dir_node, name, flags)?;
        lock.announce(command)?;
        Ok(lock)
    }

    /// [`StateLock::take`], but while another process holds the lock, tries again every
    /// second for up to `wait` (saying once, in the log, who holds it), then fails with
    /// [`Error::Locked`].
    pub fn take_waiting(
        root: &Root,
        dir: &AbsPath,
        name: &str,
        mode: u32,
        command: &str,
        wait: Duration,
    ) -> Result<Self> {
        let deadline = Instant::now() + wait;
        let mut said = false;
        loop {
            match Self::take(root, dir, name, mode, command) {
                Err(Error::Locked { holder, .. }) if Instant::now() < deadline => {
                    if !said {
                        tracing::warn!("waiting for {}, held by {holder}", dir.as_path().join(name).display());
                        said = true;
                    }
                    let left = deadline.saturating_duration_since(Instant::now());
                    std::thread::sleep(Duration::from_secs(1).min(left));
                }
                taken => return taken,
            }
        }
    }

    /// Takes the lock `dir/name` only if that file is there already, and neither creates
    /// nor writes anything: `Ok(None)` when it is missing. A command that may find nothing
    /// to do takes it this way, and [`StateLock::announce`]s itself once it has work.
    pub fn take_existing(root: &Root, dir: &AbsPath, name: &str) -> Result<Option<Self>> {
        let missing =
            |err: &Error| matches!(err, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound);
        let dir_node = match crate::nofollow::lookup(root, dir) {
            Ok(crate::nofollow::Lookup::Found(node)) if node.kind() == crate::nofollow::FileKind::Directory => node,
            Ok(_) => return Ok(None),
            // No root directory yet (a fresh `--root`): no lock either.
            Err(err) if missing(&err) => return Ok(None),
            Err(err) => return Err(err),
        };
        match Self::lock_at(&dir_node, name, OFlag::O_RDWR | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC) {
            Ok(lock) => Ok(Some(lock)),
            Err(err) if missing(&err) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Writes the holder line, `command (pid N, since TIME)`, into the lock file.
    pub fn announce(&mut self, command: &str) -> Result<()> {
        let since = humantime::format_rfc3339_seconds(SystemTime::now());
        let holder = format!("{command} (pid {}, since {since})\n", std::process::id());
        let lock = &mut self.0;
        let written = lock.set_len(0).and_then(|()| lock.rewind()).and_then(|()| lock.write_all(holder.as_bytes()));
        written.map_err(|source| Error::Io { op: "write", path: self.1.clone(), source })
    }

    fn lock_at(dir: &crate::nofollow::Node, name: &str, flags: OFlag) -> Result<Self> {
        let path = dir.path().join(name);
        let fd = openat(&reopen_dir(dir)?, name, flags, Mode::from_bits_truncate(0o600))
            .map_err(|err| Error::io("open", &path, err))?;
        match Flock::lock(File::from(fd), FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(Self(lock, path)),
            Err((file, nix::errno::Errno::EWOULDBLOCK)) => Err(Error::Locked { path, holder: holder(file) }),
            Err((_, errno)) => Err(Error::io("lock", &path, errno)),
        }
    }
}

/// Who holds the lock on `file`: the process the kernel names in `/proc/locks`, with
/// what the holder wrote into the file when that is the same process, else its command
/// line; what the file says when the kernel's table cannot be read.
fn holder(mut file: File) -> String {
    let mut written = String::new();
    let _ = file.read_to_string(&mut written);
    let written = written.trim().to_owned();
    let inode = file.metadata().map(|meta| std::os::unix::fs::MetadataExt::ino(&meta)).ok();
    let pid = inode.and_then(|inode| {
        let locks = std::fs::read_to_string("/proc/locks").ok()?;
        locks.lines().find_map(|line| {
            // "1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234 0 EOF"
            let fields: Vec<&str> = line.split_whitespace().collect();
            let file_inode = fields.get(5)?.rsplit(':').next()?.parse::<u64>().ok()?;
            (fields.get(1) == Some(&"FLOCK") && file_inode == inode).then(|| fields.get(4)?.parse::<u32>().ok())?
        })
    });
    match pid {
        Some(pid) if written.contains(&format!("(pid {pid},")) => written,
        Some(pid) => {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let command: String = String::from_utf8_lossy(&cmdline)
                .split('\0')
                .collect::<Vec<_>>()
                .join(" ")
                .trim()
                .chars()
                .take(120)
                .collect();
            if command.is_empty() { format!("process {pid}") } else { format!("process {pid} ({command})") }
        }
        None if written.is_empty() => "another process".to_owned(),
        None => written,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taking_an_existing_lock_creates_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let state = AbsPath::new("/var/lib/jts").unwrap();
        let fresh = Root::new(dir.path().join("fresh")).unwrap();
        assert!(StateLock::take_existing(&fresh, &state, "lock").unwrap().is_none(), "a root not made yet");
        let root = Root::new(dir.path()).unwrap();
        assert!(StateLock::take_existing(&root, &state, "lock").unwrap().is_none());
        assert!(!dir.path().join("var").exists(), "nothing made for a missing lock");

        drop(StateLock::take(&root, &state, "lock", 0o755, "jts-provision apply").unwrap());
        let file = dir.path().join("var/lib/jts/lock");
        let before = std::fs::read_to_string(&file).unwrap();
        let mut held = StateLock::take_existing(&root, &state, "lock").unwrap().expect("the lock is there");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), before, "taken without writing");
        let err = StateLock::take(&root, &state, "lock", 0o755, "jts-provision apply").unwrap_err();
        assert!(matches!(err, Error::Locked { .. }), "{err}");
        held.announce("jts-provision snapshot create").unwrap();
        let now = std::fs::read_to_string(&file).unwrap();
        assert!(now.starts_with("jts-provision snapshot create (pid "), "{now}");
    }

    #[test]
    fn a_second_taker_is_told_who_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path()).unwrap();
        let state = AbsPath::new("/var/lib/jts").unwrap();
        let held = StateLock::take(&root, &state, "apply.lock", 0o755, "jts-provision apply").unwrap();
        let err = StateLock::take(&root, &state, "apply.lock", 0o755, "jts-provision apply").unwrap_err();
        let message = err.to_string();
        assert!(message.contains(&format!("jts-provision apply (pid {}", std::process::id())), "{message}");
        assert!(message.contains("apply.lock"), "{message}");
        drop(held);
        StateLock::take(&root, &state, "apply.lock", 0o755, "jts-provision apply").expect("free again");
    }
}
