//! [`WatchedChild`]: this program run again as a child that reports in JSON lines, and
//! listened to with a deadline.
//!
//! A thread blocked on a dead NFS server cannot be killed, and a process holding one
//! cannot finish exiting until the server answers. Work that may block that way runs in a
//! child process instead: the child prints a line whenever it makes progress, and the
//! parent gives up on a child that stays silent too long, kills it and goes on.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::Child;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::SystemRunner;

/// What [`WatchedChild::listen`] heard.
#[derive(Debug)]
pub enum Heard {
    /// One line of the child's stdout.
    Line(String),
    /// Nothing within the wait.
    Silence,
    /// The child closed its stdout (it ended, or is ending): its exit status, described.
    Ended(String),
}

/// A child process whose stdout is read line by line on a thread of its own.
#[derive(Debug)]
pub struct WatchedChild {
    child: Child,
    lines: mpsc::Receiver<std::io::Result<String>>,
}

impl WatchedChild {
    /// Starts this program again with `args` ([`SystemRunner::spawn_self`]).
    pub fn spawn_self<S: AsRef<OsStr>>(args: &[S]) -> std::io::Result<Self> {
        let mut child = SystemRunner::spawn_self(args)?;
        let stdout = child.stdout.take().ok_or_else(|| std::io::Error::other("the child has no stdout"))?;
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self { child, lines })
    }

    /// Waits up to `wait` for the next line.
    pub fn listen(&mut self, wait: Duration) -> Heard {
        match self.lines.recv_timeout(wait) {
            Ok(Ok(line)) => Heard::Line(line),
            Err(mpsc::RecvTimeoutError::Timeout) => Heard::Silence,
            Ok(Err(_)) | Err(mpsc::RecvTimeoutError::Disconnected) => Heard::Ended(self.wait()),
        }
    }

    /// Waits for the child to exit and describes how it did.
    pub fn wait(&mut self) -> String {
        self.child.wait().map_or_else(|err| err.to_string(), |status| status.to_string())
    }

    /// Kills the child and reaps it if it exits within `grace`. One that a dead NFS
    /// server holds in the kernel is left behind; it ends when the server answers.
    pub fn kill(&mut self, grace: Duration) {
        let _ = self.child.kill();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
