//! `mamori`: the one binary. Each subcommand lives in its own module under `commands/`.

mod commands;
#[allow(dead_code)] // used by the state-keeping subcommands as they land
mod data_dir;
mod i18n;
mod output;

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
    /// Inspect one file or standard input / ファイルまたは標準入力を検査する
    Inspect(commands::inspect::InspectArgs),
    /// Manage users' and groups' keys / 鍵とグループを管理する
    Keys(commands::keys::KeysArgs),
    /// Encrypt files for groups / ファイルを暗号化して保護する
    Protect(commands::protect::ProtectArgs),
    /// Decrypt a protected file / 保護されたファイルを開く
    Open(commands::open::OpenArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Scan(args) => commands::scan::run(args),
        Command::Inspect(args) => commands::inspect::run(args),
        Command::Keys(args) => commands::keys::run(args),
        Command::Protect(args) => commands::protect::run(args),
        Command::Open(args) => commands::open::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("mamori: {err:#}");
            ExitCode::from(2)
        }
    }
}
