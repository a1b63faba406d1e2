//! Running a program and keeping everything it said.

use std::ffi::OsStr;
use std::time::Duration;

/// How long any one command may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// The outcome of one command: exit code and output. Its `Debug` prints the command line
/// and everything, so `"{run:?}"` in an assertion message shows what happened.
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
    #[track_caller]
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

/// Runs `program` with `args` (through `assert_cmd`, with [`TIMEOUT`] and without
/// `JTS_LOG`), and returns what happened. Panics only when it cannot be started.
#[track_caller]
pub fn tool<P: AsRef<OsStr>, S: AsRef<OsStr>>(program: P, args: &[S]) -> Run {
    tool_within(TIMEOUT, program, args)
}

/// [`tool`] with its own time limit, for the few commands that may take longer than
/// [`TIMEOUT`] on a loaded machine (a release build).
#[track_caller]
pub fn tool_within<P: AsRef<OsStr>, S: AsRef<OsStr>>(limit: Duration, program: P, args: &[S]) -> Run {
    let program = program.as_ref();
    let mut cmd = assert_cmd::Command::new(program);
    cmd.args(args).env_remove("JTS_LOG").timeout(limit);
    let output = cmd.output().unwrap_or_else(|err| panic!("cannot run {}: {err}", program.to_string_lossy()));
    Run {
        argv: std::iter::once(program)
            .chain(args.iter().map(AsRef::as_ref))
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" "),
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Whether a program can be found on `PATH`.
pub fn have_program(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
}
