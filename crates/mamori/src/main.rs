//! `mamori`: the one binary. Each subcommand lives in its own module under `commands/`.

mod commands;
#[allow(dead_code)] // used by the state-keeping subcommands as they land
mod data_dir;
mod i18n;
mod output;

use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Check rules files and list detectors / ルールファイルの検証と検出器の一覧
    Rules(commands::rules::RulesArgs),
    /// Verify, search, follow and export the tamper-evident journal / 監査ログの検証・検索・追跡
    Log(commands::log::LogArgs),
    /// Check, explain, sign and print policies / ポリシーの検査・説明・署名
    Policy(commands::policy::PolicyArgs),
    /// Show, set or clear a file's classification label / ファイルの分類ラベルを表示・設定する
    Label(commands::label::LabelArgs),
    /// Register confidential documents and find copies of them / 機密文書の指紋登録と照合
    Fingerprint(commands::fingerprint::FingerprintArgs),
    /// Exact data match: register tables of sensitive records / 個人情報台帳の完全一致照合
    Edm(commands::edm::EdmArgs),
    /// Manage users' and groups' keys / 鍵とグループを管理する
    Keys(commands::keys::KeysArgs),
    /// Encrypt files for groups / ファイルを暗号化して保護する
    Protect(commands::protect::ProtectArgs),
    /// Decrypt a protected file / 保護されたファイルを開く
    Open(commands::open::OpenArgs),
    /// USB device control: list, rules, enforce / USBデバイス制御
    Device(commands::device::DeviceArgs),
    /// ICAP server for web-upload control behind a proxy / プロキシ連携のアップロード制御 (ICAP)
    Icap(commands::icap::IcapArgs),
    /// Mail gateway: a milter for Postfix and Sendmail / メールゲートウェイ (Postfix・Sendmail 用 milter)
    Milter(commands::milter::MilterArgs),
    /// Inspect, decide and record every print job through CUPS / 印刷ジョブを検査・判定・記録する
    Print(commands::print::PrintArgs),
    /// The endpoint agent: audit file operations, stop classified files leaving (root) / エンドポイントエージェント
    Agent(Box<commands::agent::AgentArgs>),
    /// Desktop notifications to the person whose action was stopped / 利用者への通知
    Notify(commands::notify::NotifyArgs),
    /// Give a business reason for a refused copy (one-time allowance) / 業務上の理由を申告する
    Justify(commands::agent::JustifyArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Scan(args) => commands::scan::run(args),
        Command::Inspect(args) => commands::inspect::run(args),
        Command::Rules(args) => commands::rules::run(args),
        Command::Log(args) => commands::log::run(args),
        Command::Policy(args) => commands::policy::run(args),
        Command::Label(args) => commands::label::run(args),
        Command::Fingerprint(args) => commands::fingerprint::run(args),
        Command::Edm(args) => commands::edm::run(args),
        Command::Keys(args) => commands::keys::run(args),
        Command::Protect(args) => commands::protect::run(args),
        Command::Open(args) => commands::open::run(args),
        Command::Device(args) => commands::device::run(args),
        Command::Icap(args) => commands::icap::run(args),
        Command::Milter(args) => commands::milter::run(args),
        Command::Print(args) => commands::print::run(args),
        Command::Agent(args) => commands::agent::run(*args),
        Command::Justify(args) => commands::agent::justify(args),
        Command::Notify(args) => commands::notify::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("mamori: {err:#}");
            ExitCode::from(2)
        }
    }
}
