//! Running a dump command or a hook: as its user (`setpriv`, which sets uid, gid and
//! groups in the child), stdout streamed to the caller, stderr kept (its tail), and the
//! whole process group killed at the timeout.

use std::io::{Read, Write};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use jts_core::{CmdSpec, SystemRunner, describe_status};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// The most of a child's stderr kept for the report.
const STDERR_KEPT: usize = 8192;

/// How a child ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// `exited with status 0`, `was killed by signal 9`, `timed out after 30s and was killed`.
    pub status: String,
    /// Whether it exited 0 within its time.
    pub ok: bool,
    /// The tail of its stderr.
    pub stderr: String,
    /// Bytes it wrote to stdout.
    pub bytes: u64,
}

/// Why a child's output could not be taken: its output's destination failed.
#[derive(Debug)]
pub struct SinkFailed(pub std::io::Error);

/// The command line that runs `argv` as `user` (`None`: as jts itself).
pub fn command_as(argv: &[String], user: Option<&str>) -> Result<CmdSpec, String> {
    let (program, args) = argv.split_first().ok_or("an empty command")?;
    let Some(user) = user else {
        return Ok(args.iter().fold(CmdSpec::new(program), |cmd, arg| cmd.arg(arg)));
    };
    let account = nix::unistd::User::from_name(user)
        .map_err(|err| format!("cannot look up user {user}: {err}"))?
        .ok_or_else(|| format!("user {user} does not exist on this host; create it or change `user`"))?;
    let cmd = CmdSpec::new("setpriv")
        .arg(format!("--reuid={}", account.uid))
        .arg(format!("--regid={}", account.gid))
        .arg("--init-groups")
        .arg("--reset-env")
        .arg("--");
    Ok(argv.iter().fold(cmd, |cmd, arg| cmd.arg(arg)))
}

/// Runs `cmd`, copying its stdout into `sink`, for at most `timeout`. `Err` only when
/// `sink` failed (the child is then killed); how the child ended is in [`Ended`].
pub fn run_streaming(cmd: &CmdSpec, timeout: Duration, sink: &mut dyn Write) -> Result<Ended, SinkFailed> {
    let mut child = match SystemRunner::spawn_piped(cmd) {
        Ok(child) => child,
        Err(err) => return Ok(Ended { status: err.to_string(), ok: false, stderr: String::new(), bytes: 0 }),
    };
    let pid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(0));
    let stderr = child.stderr.take().map(|mut stderr| {
        std::thread::spawn(move || {
            let mut kept: Vec<u8> = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > 2 * STDERR_KEPT {
                    kept.drain(..kept.len() - STDERR_KEPT);
                }
            }
            let start = kept.len().saturating_sub(STDERR_KEPT);
            String::from_utf8_lossy(&kept[start..]).trim().to_owned()
        })
    });
    let timed_out = Arc::new(AtomicBool::new(false));
    let (done, finished) = mpsc::channel::<()>();
    let watchdog = {
        let timed_out = Arc::clone(&timed_out);
        std::thread::spawn(move || {
            if finished.recv_timeout(timeout) == Err(mpsc::RecvTimeoutError::Timeout) {
                timed_out.store(true, Ordering::SeqCst);
                let _ = killpg(pid, Signal::SIGKILL);
            }
        })
    };
    let copied = copy_out(&mut child, sink);
    if copied.is_err() {
        let _ = killpg(pid, Signal::SIGKILL);
    }
    let status = child.wait();
    let _ = done.send(());
    let _ = watchdog.join();
    let stderr = stderr.and_then(|thread| thread.join().ok()).unwrap_or_default();
    let bytes = copied?;
    let (status, ok) = match status {
        _ if timed_out.load(Ordering::SeqCst) => {
            (format!("timed out after {} and was killed", jts_core::SpecDuration::from_secs(timeout.as_secs())), false)
        }
        Ok(status) => (describe_status(status), status.success()),
        Err(err) => (format!("could not be waited for: {err}"), false),
    };
    Ok(Ended { status, ok, stderr, bytes })
}

fn copy_out(child: &mut Child, sink: &mut dyn Write) -> Result<u64, SinkFailed> {
    let Some(mut stdout) = child.stdout.take() else { return Ok(0) };
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = match stdout.read(&mut buf) {
            Ok(0) => return Ok(bytes),
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            // The child's end broke (it was killed): what it wrote is all there is.
            Err(_) => return Ok(bytes),
        };
        sink.write_all(&buf[..n]).map_err(SinkFailed)?;
        bytes += n as u64;
    }
}
