//! `mamori`: the one binary. Each subcommand lives in its own module under `commands/`.

mod commands;
#[allow(dead_code)] // used by the state-keeping subcommands as they land
mod data_dir;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Mamori (守り): find, classify and stop the leak of confidential information.
#[derive(Debug, Parser)]
#[command(name = "mamori", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Scan files and directories for confidential content / 機密情報を含むファイルを検出する
    Scan(commands::scan::ScanArgs),
    /// Register confidential documents and find copies of them / 機密文書の指紋登録と照合
    Fingerprint(commands::fingerprint::FingerprintArgs),
    /// Exact data match: register tables of sensitive records / 個人情報台帳の完全一致照合
    Edm(commands::edm::EdmArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Scan(args) => commands::scan::run(args),
        Command::Fingerprint(args) => commands::fingerprint::run(args),
        Command::Edm(args) => commands::edm::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("mamori: {err:#}");
            ExitCode::from(2)
        }
    }
}
