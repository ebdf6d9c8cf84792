//! `mamori notify`: desktop notifications to the person whose action Mamori stopped.
//!
//! * `mamori notify send --user NAME --message TEXT` (root): what the agent and the print
//!   backend do, by hand: an administrator checks that pop-ups reach a given user's desktop.
//! * `mamori notify show` (internal, run as the user by [`mamori_notify::Messenger`]): reads
//!   one notice as JSON on standard input and shows it on the session bus.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use mamori_model::Bilingual;
use mamori_notify::{Messenger, Notice, Told};

/// Arguments of `mamori notify`.
#[derive(Debug, clap::Args)]
pub struct NotifyArgs {
    #[command(subcommand)]
    command: NotifyCommand,
}

#[derive(Debug, clap::Subcommand)]
enum NotifyCommand {
    /// Send a test notice to a user's desktop (root) / 利用者のデスクトップに通知を送る
    Send(SendArgs),
    /// Show the notice read from standard input on this session's desktop (internal) /
    /// 標準入力の通知をこのセッションに表示する (内部用)
    #[command(hide = true)]
    Show,
}

#[derive(Debug, clap::Args)]
struct SendArgs {
    /// The user, by name / 利用者名
    #[arg(long, conflicts_with = "uid", required_unless_present = "uid")]
    user: Option<String>,
    /// The user, by uid / 利用者の UID
    #[arg(long)]
    uid: Option<u32>,
    /// The message (the same text is shown in both languages unless --message-en is given) /
    /// 通知の本文
    #[arg(long)]
    message: String,
    /// The English message / 英語の本文
    #[arg(long)]
    message_en: Option<String>,
    /// Where users' runtime directories are (their session bus is DIR/UID/bus) /
    /// 利用者ランタイムディレクトリの場所
    #[arg(long, value_name = "DIR", default_value = mamori_notify::DEFAULT_RUNTIME_ROOT)]
    runtime_root: PathBuf,
}

/// Runs `mamori notify`.
pub fn run(args: NotifyArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        NotifyCommand::Send(args) => send(args),
        NotifyCommand::Show => show(),
    }
}

fn send(args: SendArgs) -> anyhow::Result<ExitCode> {
    let uid = match (&args.user, args.uid) {
        (_, Some(uid)) => uid,
        (Some(name), None) => nix::unistd::User::from_name(name)
            .with_context(|| format!("looking up user `{name}`"))?
            .with_context(|| format!("no such user `{name}` / 利用者がいません"))?
            .uid
            .as_raw(),
        (None, None) => bail!("--user or --uid is needed / --user か --uid を指定してください"),
    };
    let en = args
        .message_en
        .clone()
        .unwrap_or_else(|| args.message.clone());
    let notice = Notice::warning(Bilingual::new(args.message, en));
    match messenger(args.runtime_root).tell(uid, &notice)? {
        Told::Shown => {
            println!("notice shown to uid {uid} / 通知しました");
            Ok(ExitCode::SUCCESS)
        }
        Told::Held => {
            println!("notice held back by the throttle / 通知を保留しました");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn show() -> anyhow::Result<ExitCode> {
    let mut input = Vec::new();
    std::io::stdin()
        .take(mamori_notify::MAX_NOTICE_BYTES as u64 + 1)
        .read_to_end(&mut input)
        .context("reading the notice from standard input")?;
    let notice = Notice::from_json(&input).context("standard input")?;
    mamori_notify::show(&notice)?;
    Ok(ExitCode::SUCCESS)
}

/// The messenger the daemons use: this executable's `notify show`, run as the user.
pub fn messenger(runtime_root: PathBuf) -> Messenger {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/usr/bin/mamori"));
    Messenger::new(exe, &["notify", "show"])
        .with_runtime_root(runtime_root)
        .with_interval(Duration::from_secs(5))
}
