//! `mamori rules`: check rules files and list the detectors they define.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::commands::scan::load_rules;
use crate::i18n::Lang;

/// Arguments of `mamori rules`.
#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    #[command(subcommand)]
    pub command: RulesCommand,
}

/// What to do with rules.
#[derive(Debug, clap::Subcommand)]
pub enum RulesCommand {
    /// Validate rules files and run every rule's examples / ルールファイルの検証と例の実行
    Check {
        /// Rules files (TOML). With none, the built-in rules are checked.
        files: Vec<PathBuf>,
    },
    /// List every detector: id, category, description / 検出器の一覧
    List {
        /// Rules files (TOML) to add to the built-in rules.
        #[arg(long = "rules", value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
        /// Language of descriptions (default: from the locale).
        #[arg(long, value_enum)]
        lang: Option<Lang>,
    },
}

/// Runs `mamori rules`. `check` exits 0 when valid and every example behaves, 1 when an example
/// fails, 2 when a file is invalid (each error as `file:line:column: message`).
pub fn run(args: RulesArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        RulesCommand::Check { files } => {
            let rules = match load_rules(&files) {
                Ok(rules) => rules,
                Err(err) => {
                    eprintln!("{err:#}");
                    return Ok(ExitCode::from(2));
                }
            };
            let report = rules.check_examples()?;
            for failure in &report.failures {
                let place = failure.location.as_deref().unwrap_or("built-in");
                let expected = if failure.expected_match {
                    "should match but did not"
                } else {
                    "should not match but did"
                };
                eprintln!(
                    "{place}: {}: example {:?} {expected}",
                    failure.detector, failure.example
                );
            }
            println!(
                "{} examples checked, {} failed",
                report.checked,
                report.failures.len()
            );
            Ok(if report.failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        RulesCommand::List { files, json, lang } => {
            let lang = Lang::resolve(lang);
            let rules = load_rules(&files)?;
            for info in rules.detectors() {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"id": info.id, "category": info.category, "description": info.description})
                    );
                } else {
                    println!(
                        "{:<32} {:<13} {}",
                        info.id,
                        info.category.as_str(),
                        info.description.for_lang(lang.tag())
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
