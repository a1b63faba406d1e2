//! Directory usage as `du -sxB1` prints it, with jts-health's bounded scanner.
//!
//! ```text
//! cargo run --release -p jts-health --example du -- [--budget SECONDS] PATH
//! ```
//!
//! Prints `BYTES\tPATH` like `du -sxB1`, and on stderr the entries counted, the time taken
//! and whether the scan ran out of its budget (default 60 s). Used by `bench/du.sh`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

fn main() {
    let mut budget = Duration::from_secs(60);
    let mut path = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--budget" => {
                let secs = args.next().and_then(|s| s.parse::<f64>().ok()).unwrap_or(60.0);
                budget = Duration::from_secs_f64(secs.max(0.0));
            }
            _ => path = Some(PathBuf::from(arg)),
        }
    }
    let Some(path) = path else {
        eprintln!("usage: du [--budget SECONDS] PATH");
        std::process::exit(2);
    };
    let start = Instant::now();
    match jts_health::scan_directory(&path, budget) {
        Ok(scan) => {
            println!("{}\t{}", scan.bytes, path.display());
            eprintln!(
                "files {} errors {} partial {} in {:.3}s",
                scan.files,
                scan.errors,
                scan.partial,
                start.elapsed().as_secs_f64()
            );
        }
        Err(err) => {
            eprintln!("{}: {err}", path.display());
            std::process::exit(1);
        }
    }
}
