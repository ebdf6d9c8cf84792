//! Inspects files with the built-in rules and prints what was found per detector.
//!
//! `cargo run --release -p mamori-inspect --example inspect_files -- FILE...`
//!
//! Used by `bench/inspect/run.sh` to time the engine against ripgrep until the `mamori scan`
//! command drives the same API.

use std::collections::BTreeMap;
use std::fs::File;
use std::process::ExitCode;

use mamori_inspect::InspectorBuilder;

fn main() -> ExitCode {
    let inspector = match InspectorBuilder::new().build() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("inspect_files: {e}");
            return ExitCode::from(2);
        }
    };
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    let mut bytes = 0;
    for path in std::env::args_os().skip(1) {
        let result = File::open(&path).and_then(|mut f| {
            let len = f.metadata()?.len();
            inspector.inspect_reader(&mut f, len)
        });
        match result {
            Ok(report) => {
                bytes += report.bytes_read;
                for f in report.findings {
                    *totals
                        .entry(format!("{} ({})", f.detector, f.confidence))
                        .or_default() += u64::from(f.count);
                }
            }
            Err(e) => {
                eprintln!("inspect_files: {}: {e}", path.to_string_lossy());
                return ExitCode::from(2);
            }
        }
    }
    println!("bytes read: {bytes}");
    for (detector, count) in &totals {
        println!("{count:>10}  {detector}");
    }
    if totals.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
