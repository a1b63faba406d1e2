//! External commands: [`CmdSpec`] says what to run, a [`Runner`] runs it.
//!
//! Three runners exist: [`SystemRunner`] executes for real, [`DryRunner`] records the
//! shell-quoted command lines without running anything, and [`RecordingRunner`]
//! replays scripted replies for unit tests.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// Directories searched for programs, in order. `$PATH` is never consulted.
const TRUSTED_DIRS: [&str; 4] = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/// How many bytes of stderr a failure keeps.
const STDERR_TAIL: usize = 2048;

/// A command to run: a program and its arguments, never a shell line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdSpec {
    program: String,
    args: Vec<OsString>,
}

impl CmdSpec {
    /// A command running the program `program` (a bare name such as `"useradd"`).
    pub fn new(program: &str) -> Self {
        Self { program: program.to_owned(), args: Vec::new() }
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Appends an option and its value, e.g. `("--gid", "2001")`.
    pub fn opt(self, name: &str, value: impl AsRef<OsStr>) -> Self {
        self.arg(name).arg(value)
    }

    /// The bare program name.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The arguments after the program.
    pub fn args(&self) -> &[OsString] {
        &self.args
    }

    /// The command as one shell-quoted line, safe to paste into a shell.
    pub fn to_shell(&self) -> String {
        let mut words = vec![quote(OsStr::new(&self.program))];
        words.extend(self.args.iter().map(|arg| quote(arg)));
        words.join(" ")
    }
}

impl fmt::Display for CmdSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_shell())
    }
}

/// Shell-quotes one word, leaving plain words as they are.
pub fn quote(word: &OsStr) -> String {
    let text = word.to_string_lossy();
    shlex::try_quote(&text).map_or_else(|_| format!("{text:?}"), |quoted| quoted.into_owned())
}

/// What a finished command printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CmdOutput {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// A command that failed: its argv, how it ended and the tail of its stderr.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{command}` {status}{}", stderr_suffix(.stderr))]
pub struct CmdFailure {
    /// The shell-quoted command line.
    pub command: String,
    /// How it ended, e.g. `exited with status 9` or `could not start: …`.
    pub status: String,
    /// The last bytes of its stderr.
    pub stderr: String,
    /// The last bytes of its stdout (where some tools, `findmnt --verify` among them,
    /// say what is wrong).
    pub stdout: String,
}

fn stderr_suffix(stderr: &str) -> String {
    let trimmed = stderr.trim();
    if trimmed.is_empty() { String::new() } else { format!(": {trimmed}") }
}

/// Runs commands. Implementations decide whether anything really happens.
pub trait Runner: Send + Sync {
    /// Runs `cmd` and returns its output, or a [`CmdFailure`] if it did not exit 0.
    fn run(&self, cmd: &CmdSpec) -> Result<CmdOutput>;
}

/// Runs commands for real, by absolute path from the trusted system directories.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemRunner;

impl SystemRunner {
    /// Finds `program` in the trusted system directories.
    pub fn resolve(program: &str) -> Result<PathBuf> {
        TRUSTED_DIRS
            .iter()
            .map(|dir| Path::new(dir).join(program))
            .find(|candidate| candidate.is_file())
            .ok_or_else(|| Error::ProgramNotFound { program: program.to_owned() })
    }
}

impl Runner for SystemRunner {
    #[allow(
        clippy::disallowed_methods,
        reason = "with spawn_self and spawn_piped, the only places that spawn processes"
    )]
    fn run(&self, cmd: &CmdSpec) -> Result<CmdOutput> {
        let path = Self::resolve(cmd.program())?;
        tracing::debug!(command = %cmd, "running");
        let failure = |status: String, stderr: &[u8], stdout: &[u8]| CmdFailure {
            command: cmd.to_shell(),
            status,
            stderr: tail(&String::from_utf8_lossy(stderr), STDERR_TAIL),
            stdout: tail(&String::from_utf8_lossy(stdout), STDERR_TAIL),
        };
        let output = std::process::Command::new(&path)
            .args(cmd.args())
            .env("LC_ALL", "C")
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|err| failure(format!("could not start: {err}"), b"", b""))?;
        if !output.status.success() {
            return Err(failure(describe_status(output.status), &output.stderr, &output.stdout).into());
        }
        Ok(CmdOutput {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

impl SystemRunner {
    /// Starts this very program again (`/proc/self/exe`) with `args`, stdin closed, stdout
    /// piped to the caller and stderr shared. For work that must be killable apart from
    /// the caller: a process stuck on a dead NFS server may be unable to exit, and its
    /// parent must still report and exit on time.
    #[allow(clippy::disallowed_methods, reason = "re-executing ourselves, not an external command")]
    pub fn spawn_self<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> std::io::Result<std::process::Child> {
        std::process::Command::new("/proc/self/exe")
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .spawn()
    }
}

impl SystemRunner {
    /// Starts `cmd` (found as [`SystemRunner::resolve`] finds it) in a process group of
    /// its own, stdin closed, stdout and stderr piped: for output too large to hold (a
    /// database dump) that the caller streams, times out and kills as a group itself.
    #[allow(clippy::disallowed_methods, reason = "the one external command whose output is streamed, not captured")]
    pub fn spawn_piped(cmd: &CmdSpec) -> Result<std::process::Child> {
        use std::os::unix::process::CommandExt;
        let path = Self::resolve(cmd.program())?;
        tracing::debug!(command = %cmd, "starting");
        std::process::Command::new(&path)
            .args(cmd.args())
            .env("LC_ALL", "C")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|err| {
                CmdFailure {
                    command: cmd.to_shell(),
                    status: format!("could not start: {err}"),
                    stderr: String::new(),
                    stdout: String::new(),
                }
                .into()
            })
    }
}

/// How a process ended, in words: `exited with status 3`, `was killed by signal 9`.
pub fn describe_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => "ended abnormally".to_owned(),
    }
}

fn tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let start = (text.len() - max..text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(0);
    format!("…{}", &text[start..])
}

/// Runs nothing; records each command line so that the caller can print it.
#[derive(Debug, Default)]
pub struct DryRunner {
    lines: Mutex<Vec<String>>,
}

impl DryRunner {
    /// The shell-quoted command lines recorded so far, in order.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

impl Runner for DryRunner {
    fn run(&self, cmd: &CmdSpec) -> Result<CmdOutput> {
        self.lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(cmd.to_shell());
        Ok(CmdOutput::default())
    }
}

/// A scripted reply of a [`RecordingRunner`].
pub type Reply = std::result::Result<CmdOutput, CmdFailure>;

/// Records every command and answers from a script; for unit tests of planners and steps.
#[derive(Debug, Default)]
pub struct RecordingRunner {
    state: Mutex<(Vec<CmdSpec>, std::collections::VecDeque<Reply>)>,
}

impl RecordingRunner {
    /// A runner that answers every command with empty success.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues the reply for the next command that runs.
    pub fn reply(self, reply: Reply) -> Self {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).1.push_back(reply);
        self
    }

    /// The commands run so far.
    pub fn calls(&self) -> Vec<CmdSpec> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).0.clone()
    }
}

impl Runner for RecordingRunner {
    fn run(&self, cmd: &CmdSpec) -> Result<CmdOutput> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.0.push(cmd.clone());
        state.1.pop_front().unwrap_or_else(|| Ok(CmdOutput::default())).map_err(Error::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_line_quotes_only_what_needs_it() {
        let cmd = CmdSpec::new("useradd").opt("--comment", "PostgreSQL service").arg("postgres");
        assert_eq!(cmd.to_shell(), "useradd --comment 'PostgreSQL service' postgres");
    }

    #[test]
    fn system_runner_reports_argv_status_and_stderr() {
        let cmd = CmdSpec::new("sh").arg("-c").arg("echo boom >&2; exit 7");
        let err = SystemRunner.run(&cmd).unwrap_err();
        let Error::Command(failure) = err else { panic!("unexpected {err:?}") };
        assert_eq!(failure.status, "exited with status 7");
        assert_eq!(failure.stderr.trim(), "boom");
        assert!(failure.to_string().contains("sh -c 'echo boom >&2; exit 7'"), "{failure}");
    }

    #[test]
    fn system_runner_captures_stdout() {
        let out = SystemRunner.run(&CmdSpec::new("echo").arg("hi")).unwrap();
        assert_eq!(out.stdout, "hi\n");
    }

    #[test]
    fn unknown_program_is_a_clear_error() {
        let err = SystemRunner.run(&CmdSpec::new("no-such-tool-jts")).unwrap_err();
        assert!(err.to_string().contains("not found in /usr/sbin"), "{err}");
    }

    #[test]
    fn dry_runner_records_without_running() {
        let runner = DryRunner::default();
        runner.run(&CmdSpec::new("rm").arg("-rf").arg("/")).unwrap();
        assert_eq!(runner.lines(), ["rm -rf /"]);
    }

    #[test]
    fn recording_runner_replays_script() {
        let failure = CmdFailure {
            command: "x".into(),
            status: "exited with status 1".into(),
            stderr: String::new(),
            stdout: String::new(),
        };
        let runner = RecordingRunner::new().reply(Err(failure));
        assert!(runner.run(&CmdSpec::new("a")).is_err());
        assert!(runner.run(&CmdSpec::new("b")).is_ok());
        assert_eq!(runner.calls().len(), 2);
    }

    #[test]
    fn tail_keeps_the_end() {
        assert_eq!(tail("abcdef", 3), "…def");
        assert_eq!(tail("ab", 3), "ab");
    }
}
