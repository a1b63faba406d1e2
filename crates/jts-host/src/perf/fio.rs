//! fio as the engine: the command line of a profile, and the figures of its JSON report.

use std::path::Path;

use jts_core::CmdSpec;
use serde::{Deserialize, Serialize};

use super::spec::Profile;

/// The fio command for `profile` on `file`: at most `size` bytes and `runtime` seconds,
/// one synchronous job (two for `nas`: write, then read), JSON on stdout.
pub fn fio_command(fio: &Path, profile: Profile, file: &Path, size: u64, runtime: u64) -> CmdSpec {
    let mut cmd = CmdSpec::new("setpriv")
        // fio dies with us: a killed run leaves no writer behind in the scratch directory.
        .arg("--pdeathsig=KILL")
        .arg("--")
        .arg(fio)
        .arg("--output-format=json")
        .arg("--ioengine=psync")
        .arg(format!("--filename={}", file.display()))
        .arg(format!("--size={size}"))
        .arg(format!("--runtime={runtime}"));
    let job: &[&str] = match profile {
        Profile::Postgresql => &["--name=postgresql", "--rw=randrw", "--bs=8k", "--fsync=1"],
        Profile::Kafka => &["--name=kafka", "--rw=write", "--bs=1m", "--direct=1", "--end_fsync=1"],
        Profile::Clickhouse => &["--name=clickhouse", "--rw=rw", "--bs=1m", "--direct=1", "--end_fsync=1"],
        Profile::Redis => &["--name=redis", "--rw=write", "--bs=4k", "--fsync=256"],
        Profile::Mongodb => &["--name=mongodb", "--rw=randrw", "--bs=16k", "--fsync=64"],
        Profile::Nas => &[
            "--name=nas-write",
            "--rw=write",
            "--bs=1m",
            "--direct=1",
            "--end_fsync=1",
            "--name=nas-read",
            "--stonewall",
            "--rw=read",
            "--bs=1m",
            "--direct=1",
        ],
    };
    for arg in job {
        cmd = cmd.arg(arg);
    }
    cmd
}

/// The figures of one direction (reads or writes) of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Direction {
    /// Operations per second.
    pub iops: f64,
    /// Bytes per second.
    pub bandwidth: u64,
    /// Median completion latency, nanoseconds.
    pub p50_ns: u64,
    /// 99th-percentile completion latency, nanoseconds.
    pub p99_ns: u64,
}

/// What fio measured: reads and writes over all its jobs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FioFigures {
    /// Reads, if the profile reads.
    pub read: Option<Direction>,
    /// Writes, if the profile writes.
    pub write: Option<Direction>,
}

impl FioFigures {
    /// Reads and writes together, per second.
    pub fn total_iops(&self) -> f64 {
        self.read.map_or(0.0, |d| d.iops) + self.write.map_or(0.0, |d| d.iops)
    }

    /// Reads and writes together, bytes per second.
    pub fn total_bandwidth(&self) -> u64 {
        self.read.map_or(0, |d| d.bandwidth) + self.write.map_or(0, |d| d.bandwidth)
    }

    /// The worse 99th percentile of reads and writes.
    pub fn worst_p99_ns(&self) -> u64 {
        self.read.map_or(0, |d| d.p99_ns).max(self.write.map_or(0, |d| d.p99_ns))
    }
}

#[derive(Deserialize)]
struct Report {
    jobs: Vec<Job>,
}

#[derive(Deserialize)]
struct Job {
    jobname: String,
    error: i64,
    read: Stats,
    write: Stats,
}

#[derive(Deserialize)]
struct Stats {
    io_bytes: u64,
    bw_bytes: u64,
    iops: f64,
    clat_ns: Option<Clat>,
}

#[derive(Deserialize)]
struct Clat {
    #[serde(default)]
    percentile: std::collections::BTreeMap<String, u64>,
}

impl Stats {
    fn percentile(&self, key: &str) -> u64 {
        self.clat_ns.as_ref().and_then(|c| c.percentile.get(key).copied()).unwrap_or(0)
    }
}

/// Parses fio's `--output-format=json` report (anything fio printed before the JSON,
/// such as a note, is skipped).
pub fn parse_fio(stdout: &str) -> Result<FioFigures, String> {
    let json = stdout.find('{').map_or(stdout, |start| &stdout[start..]);
    let report: Report = serde_json::from_str(json).map_err(|err| format!("fio's JSON report is unreadable: {err}"))?;
    if let Some(job) = report.jobs.iter().find(|job| job.error != 0) {
        return Err(format!("fio job {} ended with error {}", job.jobname, job.error));
    }
    let sum = |pick: fn(&Job) -> &Stats| {
        let active: Vec<&Stats> = report.jobs.iter().map(pick).filter(|s| s.io_bytes > 0).collect();
        (!active.is_empty()).then(|| Direction {
            iops: active.iter().map(|s| s.iops).sum(),
            bandwidth: active.iter().map(|s| s.bw_bytes).sum(),
            p50_ns: active.iter().map(|s| s.percentile("50.000000")).max().unwrap_or(0),
            p99_ns: active.iter().map(|s| s.percentile("99.000000")).max().unwrap_or(0),
        })
    };
    Ok(FioFigures { read: sum(|job| &job.read), write: sum(|job| &job.write) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_report_fio_wrote_on_this_machine_kind() {
        let figures = parse_fio(include_str!("../../tests/fixtures/fio/randrw-fsync.json")).unwrap();
        let read = figures.read.unwrap();
        let write = figures.write.unwrap();
        assert_eq!((read.bandwidth, write.bandwidth), (1_304_252, 1_455_157));
        assert!((figures.total_iops() - (159.210526 + 177.631579)).abs() < 1e-6);
        assert!(read.p50_ns > 0 && read.p99_ns >= read.p50_ns, "{read:?}");
    }

    #[test]
    fn a_failed_job_or_garbage_is_an_error() {
        assert!(parse_fio("fio: oops").is_err());
        let failed = r#"{"jobs": [{"jobname": "x", "error": 5, "read": {"io_bytes": 0, "bw_bytes": 0, "iops": 0.0},
            "write": {"io_bytes": 0, "bw_bytes": 0, "iops": 0.0}}]}"#;
        assert_eq!(parse_fio(failed).unwrap_err(), "fio job x ended with error 5");
    }

    #[test]
    fn nas_writes_then_reads_in_two_jobs() {
        let cmd = fio_command(Path::new("/usr/bin/fio"), Profile::Nas, Path::new("/m/.jts-perf.1/data"), 1 << 20, 5);
        let args: Vec<&str> = cmd.args().iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            (cmd.program(), &args[..4]),
            ("setpriv", &["--pdeathsig=KILL", "--", "/usr/bin/fio", "--output-format=json"][..])
        );
        let at = |arg: &str| args.iter().position(|a| *a == arg).unwrap();
        assert!(
            at("--name=nas-write") < at("--name=nas-read") && at("--name=nas-read") + 1 == at("--stonewall"),
            "{args:?}"
        );
    }
}
