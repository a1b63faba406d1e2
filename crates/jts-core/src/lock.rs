//! [`StateLock`]: one run at a time of a jts command that changes the machine, and who
//! holds it when another is running.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::time::SystemTime;

use nix::fcntl::{Flock, FlockArg, OFlag, openat};
use nix::sys::stat::Mode;

use crate::error::{Error, Result};
use crate::nofollow::{create_dir_all, reopen_dir};
use crate::path::{AbsPath, Root};

/// An exclusive `flock` on a file in jts's state directory (under the root), held until
/// dropped. The file names its holder: process id, command and start time.
#[derive(Debug)]
pub struct StateLock(#[allow(dead_code, reason = "held, not read: the lock ends when it is dropped")] Flock<File>);

impl StateLock {
    /// Takes the lock `dir/name` for `command` (`"jts-provision apply"`), creating `dir`
    /// with `mode` (ancestors `0755`). Fails with [`Error::Locked`], naming the holder,
    /// when another process holds it; never waits.
    pub fn take(root: &Root, dir: &AbsPath, name: &str, mode: u32, command: &str) -> Result<Self> {
        let dir_node = create_dir_all(root, dir, mode)?;
        let path = root.resolve(dir).join(name);
        let flags = OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(&reopen_dir(&dir_node)?, name, flags, Mode::from_bits_truncate(0o600))
            .map_err(|err| Error::io("open", &path, err))?;
        let mut lock = match Flock::lock(File::from(fd), FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((file, nix::errno::Errno::EWOULDBLOCK)) => return Err(Error::Locked { path, holder: holder(file) }),
            Err((_, errno)) => return Err(Error::io("lock", &path, errno)),
        };
        let since = humantime::format_rfc3339_seconds(SystemTime::now());
        let holder = format!("{command} (pid {}, since {since})\n", std::process::id());
        let written = lock.set_len(0).and_then(|()| lock.rewind()).and_then(|()| lock.write_all(holder.as_bytes()));
        written.map_err(|source| Error::Io { op: "write", path, source })?;
        Ok(Self(lock))
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
