//! `mamori keys`: users' identities and groups' keys in `<data-dir>/keys`.
//!
//! Also holds what `protect` and `open` share: who is acting, where the passphrase comes from,
//! and the audit sink that records every protect, open and key change in the journal.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use mamori_protect::secrecy::SecretString;
use mamori_protect::{AuditSink, KdfCost, KeyStore, ProtectEvent, ProtectOp, UserKeys};

use crate::data_dir::DataDirArg;

/// Who is acting and how their private key is unlocked.
#[derive(Debug, Clone, clap::Args)]
pub struct ActorArgs {
    /// Act as this user [default: $USER] / 実行するユーザー
    #[arg(long = "user", value_name = "USER", env = "MAMORI_USER")]
    pub user: Option<String>,
    /// Read the key passphrase from the first line of FILE (else $MAMORI_PASSPHRASE, else a
    /// prompt on the terminal) / パスフレーズを読むファイル
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

impl ActorArgs {
    /// The acting user's name.
    pub fn name(&self) -> anyhow::Result<String> {
        if let Some(u) = self.user.clone().filter(|u| !u.is_empty()) {
            return Ok(u);
        }
        for var in ["USER", "LOGNAME"] {
            if let Some(u) = std::env::var(var).ok().filter(|u| !u.is_empty()) {
                return Ok(u);
            }
        }
        bail!("cannot tell who you are: pass --user / --user でユーザーを指定してください")
    }

    /// The passphrase: `--passphrase-file`, `MAMORI_PASSPHRASE`, or a terminal prompt.
    pub fn passphrase(&self, prompt: &str) -> anyhow::Result<SecretString> {
        if let Some(path) = &self.passphrase_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read passphrase file {}", path.display()))?;
            let line = text.lines().next().unwrap_or("").to_string();
            if line.is_empty() {
                bail!(
                    "passphrase file {} is empty / パスフレーズファイルが空です",
                    path.display()
                );
            }
            return Ok(SecretString::from(line));
        }
        if let Ok(p) = std::env::var("MAMORI_PASSPHRASE")
            && !p.is_empty()
        {
            return Ok(SecretString::from(p));
        }
        if std::io::stdin().is_terminal() || std::io::stderr().is_terminal() {
            let p = rpassword::prompt_password(prompt).context("cannot read the passphrase")?;
            return Ok(SecretString::from(p));
        }
        bail!(
            "no passphrase: set MAMORI_PASSPHRASE or pass --passphrase-file / パスフレーズがありません (MAMORI_PASSPHRASE か --passphrase-file)"
        )
    }

    /// Unlocks the acting user's keys.
    pub fn unlock(&self, store: &KeyStore) -> anyhow::Result<UserKeys> {
        let name = self.name()?;
        // Fail on an unknown user before asking for a passphrase.
        store.user(&name)?;
        let pass = self.passphrase(&format!("Passphrase for {name} / {name} のパスフレーズ: "))?;
        Ok(store.unlock(&name, &pass)?)
    }
}

/// Opens the key store of the data directory, recording its events in the journal.
pub fn open_store(data_dir: &DataDirArg) -> anyhow::Result<KeyStore> {
    let dir = data_dir.ensure()?;
    let journal = mamori_journal::Journal::open(&dir, mamori_journal::JournalOptions::default())
        .with_context(|| format!("cannot open the journal in {}", dir.display()))?;
    let sink = JournalAudit { journal };
    Ok(KeyStore::load(&dir)
        .with_context(|| format!("cannot open the key store in {}", dir.display()))?
        .with_audit(Arc::new(sink)))
}

/// Arguments of `mamori keys`.
#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
    #[command(flatten)]
    data_dir: DataDirArg,
}

#[derive(Debug, clap::Subcommand)]
enum KeysCommand {
    /// Create your identity (encryption and signing keys, protected by a passphrase) / 鍵を作成する
    CreateUser {
        #[command(flatten)]
        actor: ActorArgs,
        /// scrypt cost (log2 N) for the passphrase; for tests and benchmarks only
        #[arg(long, hide = true)]
        scrypt_log_n: Option<u8>,
    },
    /// Create a group whose first member is you / グループを作成する
    CreateGroup {
        /// The group's name.
        group: String,
        #[command(flatten)]
        actor: ActorArgs,
    },
    /// Give a user the group's keys (needs your passphrase) / メンバーを追加する
    AddMember {
        /// The group.
        group: String,
        /// The user to add (must have run `keys create-user`).
        member: String,
        #[command(flatten)]
        actor: ActorArgs,
    },
    /// Remove a user and rotate the group key: new files are unreadable to them / メンバーを削除し鍵を更新する
    RemoveMember {
        /// The group.
        group: String,
        /// The user to remove.
        member: String,
        #[command(flatten)]
        actor: ActorArgs,
    },
    /// Re-encrypt protected files to the group's current key / 既存ファイルを新しい鍵で再暗号化する
    Rekey {
        /// The group whose files these are.
        group: String,
        /// Protected files to re-key in place.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        actor: ActorArgs,
    },
    /// List users and groups / ユーザーとグループを一覧表示する
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `mamori keys`.
pub fn run(args: KeysArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(&args.data_dir)?;
    match args.command {
        KeysCommand::CreateUser {
            actor,
            scrypt_log_n,
        } => {
            let name = actor.name()?;
            mamori_protect::validate_name(&name)?;
            let pass = actor.passphrase(&format!(
                "New passphrase for {name} / {name} の新しいパスフレーズ: "
            ))?;
            if actor.passphrase_file.is_none()
                && std::env::var_os("MAMORI_PASSPHRASE").is_none()
                && std::io::stdin().is_terminal()
            {
                let again = rpassword::prompt_password("Again / もう一度: ")?;
                use mamori_protect::secrecy::ExposeSecret as _;
                if again != pass.expose_secret() {
                    bail!("passphrases differ / パスフレーズが一致しません");
                }
            }
            let cost = match scrypt_log_n {
                Some(n) if !(10..=22).contains(&n) => bail!("--scrypt-log-n must be 10..=22"),
                Some(n) => KdfCost { log_n: n },
                None => KdfCost::interactive(),
            };
            let user = store.create_user(&name, &pass, cost)?;
            println!("created user {} ({})", user.name, user.recipient);
        }
        KeysCommand::CreateGroup { group, actor } => {
            let keys = actor.unlock(&store)?;
            let info = store.create_group(&group, &keys)?;
            println!(
                "created group {} (epoch 1, member {}) / グループを作成しました",
                info.name,
                keys.name()
            );
        }
        KeysCommand::AddMember {
            group,
            member,
            actor,
        } => {
            let keys = actor.unlock(&store)?;
            let info = store.add_member(&group, &member, &keys)?;
            println!(
                "added {member} to {group}; members: {} / メンバーを追加しました",
                info.members.join(", ")
            );
        }
        KeysCommand::RemoveMember {
            group,
            member,
            actor,
        } => {
            let info = store.remove_member(&group, &member, &actor.name()?)?;
            println!(
                "removed {member} from {group}; new key epoch {}; members: {}\n\
                 files protected from now on are unreadable to {member}; re-key existing ones with `mamori keys rekey {group} FILE...`\n\
                 {member} を削除し鍵を更新しました。既存ファイルは `mamori keys rekey` で再暗号化してください",
                info.current().epoch,
                info.members.join(", ")
            );
        }
        KeysCommand::Rekey {
            group,
            files,
            actor,
        } => return rekey(&store, &group, &files, &actor),
        KeysCommand::List { json } => {
            let users = store.users()?;
            let groups = store.groups()?;
            if json {
                let value = serde_json::json!({ "users": users, "groups": groups });
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                println!("users / ユーザー:");
                for u in &users {
                    println!("  {}  {}", u.name, u.recipient);
                }
                println!("groups / グループ:");
                for g in &groups {
                    println!(
                        "  {}  epoch {}  members: {}",
                        g.name,
                        g.current().epoch,
                        g.members.join(", ")
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn rekey(
    store: &KeyStore,
    group: &str,
    files: &[PathBuf],
    actor: &ActorArgs,
) -> anyhow::Result<ExitCode> {
    let info = store.group(group)?;
    let keys = actor.unlock(store)?;
    let mut failed = 0;
    for path in files {
        match rekey_one(store, &keys, group, path) {
            Ok(true) => println!(
                "{}: re-keyed to {group} epoch {}",
                path.display(),
                info.current().epoch
            ),
            Ok(false) => println!("{}: already current / 既に最新です", path.display()),
            Err(e) => {
                failed += 1;
                eprintln!("mamori: {}: {e:#}", path.display());
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// Re-keys one file if it is encrypted to an older epoch of `group`.
fn rekey_one(store: &KeyStore, keys: &UserKeys, group: &str, path: &Path) -> anyhow::Result<bool> {
    let signed = mamori_protect::read_header_file(path)?;
    let Some(grant) = signed.header.groups.iter().find(|g| g.group == group) else {
        bail!("not protected for group {group} / このグループのファイルではありません");
    };
    if grant.epoch == store.group(group)?.current().epoch {
        return Ok(false);
    }
    mamori_protect::rekey_file(store, keys, path)?;
    Ok(true)
}

/// Records the key store's events (protect, open granted or refused, re-key, key changes) in the
/// journal. The protect crate's own event, as JSON, goes into the event's `detail`, so nothing
/// it says is lost; a refused open carries a `block` decision, which makes it a warning.
struct JournalAudit {
    journal: mamori_journal::Journal,
}

impl AuditSink for JournalAudit {
    fn record(&self, event: ProtectEvent) {
        use mamori_journal::{Event, Operation, User};
        use mamori_model::{Action, Bilingual, Decision};
        let op = match &event.op {
            ProtectOp::Protect | ProtectOp::Rekey => Operation::Encrypt,
            ProtectOp::Open { .. } => Operation::Decrypt,
            _ => Operation::KeyChange,
        };
        let mut journal_event = Event::new(op).with_user(User {
            uid: rustix::process::getuid().as_raw(),
            name: Some(event.user.clone()),
        });
        if let Some(path) = &event.path {
            journal_event = journal_event.with_path(path.display().to_string());
        }
        if let Some(level) = &event.level {
            journal_event = journal_event.with_level(level.clone());
        }
        if let ProtectOp::Open { granted } = event.op {
            let reason = event.reason.clone().unwrap_or_default();
            journal_event = journal_event.with_decision(Decision {
                action: if granted {
                    Action::Allow
                } else {
                    Action::Block
                },
                level: event.level.clone().unwrap_or_default(),
                rules: Vec::new(),
                reason: if granted {
                    Bilingual::new("保護ファイルを開きました", "protected file opened")
                } else {
                    Bilingual::new(
                        format!("保護ファイルを開けませんでした: {reason}"),
                        format!("protected file refused: {reason}"),
                    )
                },
            });
        }
        if let Ok(detail) = serde_json::to_string(&event) {
            journal_event = journal_event.with_detail(detail);
        }
        // The key store's operation already happened; a journal that cannot be written is
        // said loudly rather than silently dropped.
        if let Err(err) = self.journal.append_durable(journal_event) {
            eprintln!("mamori: cannot record to the journal / 監査ログに記録できません: {err}");
        }
    }
}
