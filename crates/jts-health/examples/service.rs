//! A JTS service linking jts-health: build the config in code, check, act on the status.
//!
//! ```text
//! cargo run -p jts-health --example service -- [--json|--prom] [--repeat N] [TIER=PATH ...]
//! ```
//!
//! Each `TIER=PATH` is a mount point, checked in full (mount table, read-write, usage).
//! Without any it checks `/` (tier `root`) and `/tmp` (tier `scratch`) as plain
//! directories, usage only. It prints the table (or JSON, or Prometheus text) of the last check and
//! exits with the monitoring-plugin code. `--repeat N` runs N checks in-process and
//! prints the mean time per check to stderr (used by `bench/health.sh`).

use std::time::{Duration, Instant};

use jts_health::{HealthConfig, MountCheck, Status, Thresholds, check};

fn main() {
    let mut format = "table";
    let mut repeat = 1u32;
    let mut mounts = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => format = "json",
            "--prom" => format = "prom",
            "--repeat" => repeat = args.next().and_then(|n| n.parse().ok()).unwrap_or(1).max(1),
            spec => {
                let (tier, path) = spec.split_once('=').unwrap_or(("default", spec));
                match MountCheck::new(tier, path) {
                    Ok(mount) => mounts.push(mount),
                    Err(err) => {
                        eprintln!("{err}");
                        std::process::exit(3);
                    }
                }
            }
        }
    }
    if mounts.is_empty() {
        mounts = ["root=/", "scratch=/tmp"]
            .iter()
            .filter_map(|spec| spec.split_once('='))
            .filter_map(|(tier, path)| MountCheck::new(tier, path).ok())
            .map(MountCheck::not_a_mount_point)
            .collect();
    }
    let config = match HealthConfig::builder()
        .timeout(Duration::from_secs(2))
        .thresholds(Thresholds::default())
        .mounts(mounts)
        .build()
    {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{err}");
            std::process::exit(3);
        }
    };

    let start = Instant::now();
    let mut report = check(&config);
    for _ in 1..repeat {
        report = check(&config);
    }
    if repeat > 1 {
        eprintln!("mean check: {:.1} µs over {repeat} checks", start.elapsed().as_secs_f64() * 1e6 / f64::from(repeat));
    }

    match format {
        "json" => match report.to_json() {
            Ok(json) => println!("{json}"),
            Err(err) => eprintln!("{err}"),
        },
        "prom" => print!("{}", report.to_prometheus()),
        _ => print!("{}", report.to_table()),
    }
    // A service would act here: stop taking orders when its data mount is critical, etc.
    if report.status == Status::Critical {
        for probe in report.probes.iter().filter(|p| p.status == Status::Critical) {
            eprintln!("storage CRITICAL: {} ({}): {}", probe.mount, probe.tier, probe.message);
        }
    }
    std::process::exit(report.exit_code());
}
