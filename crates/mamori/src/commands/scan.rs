//! `mamori scan`: walk paths and report confidential content.

use std::process::ExitCode;

/// Arguments of `mamori scan`.
#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Files or directories to scan.
    #[arg(required = true)]
    pub paths: Vec<std::path::PathBuf>,
}

/// Runs the scan.
pub fn run(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    Ok(ExitCode::SUCCESS)
}
