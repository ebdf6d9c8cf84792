//! `mamori open`: decrypt a protected file, or show its header without decrypting.

use std::io::{self, BufWriter, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use mamori_protect::{Error, OpenOutput, ProtectEvent, ProtectOp};

use crate::commands::keys::{ActorArgs, open_store};
use crate::data_dir::DataDirArg;

/// Arguments of `mamori open`.
#[derive(Debug, clap::Args)]
pub struct OpenArgs {
    /// The protected file; `-` reads standard input.
    #[arg(value_name = "FILE.mamori")]
    pub input: PathBuf,
    /// Write the plaintext to OUT (created 0600) instead of standard output.
    #[arg(long, short = 'o', value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Replace an existing OUT.
    #[arg(long, short = 'f')]
    pub force: bool,
    /// Print the signed header (level, owner, groups) without decrypting; needs no key / 復号せずにヘッダを表示する
    #[arg(long)]
    pub info: bool,
    /// With --info: print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub actor: ActorArgs,
    #[command(flatten)]
    pub data_dir: DataDirArg,
}

/// Runs `mamori open`. Exit 0 opened, 1 access denied, 2 any other error (tampered, truncated,
/// wrong passphrase, not a protected file).
pub fn run(args: OpenArgs) -> anyhow::Result<ExitCode> {
    if args.info {
        return info(&args);
    }
    let store = open_store(&args.data_dir)?;
    let keys = match args.actor.unlock(&store) {
        Ok(keys) => keys,
        Err(e) => {
            // A refused open all the same: record it before failing.
            let user = args.actor.name().unwrap_or_default();
            let mut event = ProtectEvent::new(ProtectOp::Open { granted: false }, user);
            if args.input.as_os_str() != "-" {
                event.path = Some(args.input.clone());
                if let Ok(signed) = mamori_protect::read_header_file(&args.input) {
                    event.file_id = Some(signed.header.file_id.clone());
                    event.level = Some(signed.header.level.clone());
                    event.groups = signed.header.group_names();
                }
            }
            event.reason = Some(format!("{e:#}"));
            store.record(event);
            return Err(e);
        }
    };
    let result = if args.input.as_os_str() == "-" {
        // A pipe cannot be read twice: plaintext is released chunk by chunk as each 64 KiB
        // chunk authenticates; a damaged stream stops with an error after the good chunks.
        let mut stdout = io::stdout().lock();
        let r = store.open(&keys, io::stdin().lock(), BufWriter::new(&mut stdout), None);
        stdout.flush()?;
        r
    } else {
        match &args.output {
            Some(path) => mamori_protect::open_file(
                &store,
                &keys,
                &args.input,
                OpenOutput::Path {
                    path: path.clone(),
                    overwrite: args.force,
                },
            ),
            None => {
                let mut stdout = io::stdout().lock();
                let mut writer = BufWriter::new(&mut stdout);
                let r = mamori_protect::open_file(
                    &store,
                    &keys,
                    &args.input,
                    OpenOutput::Writer(&mut writer),
                );
                writer.flush()?;
                r
            }
        }
    };
    match result {
        Ok((header, _)) => {
            if !store.signer_is_known(&header) {
                eprintln!(
                    "mamori: warning: the header was signed by a key this key store does not know for {} / 署名者の鍵が未登録です",
                    header.signer.user
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ Error::AccessDenied { .. }) => {
            eprintln!(
                "mamori: {}: {e}\n  このファイルを開く権限がありません",
                args.input.display()
            );
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            let ja = match &e {
                Error::Tampered => "\n  改ざんまたは破損が検出されました。平文は出力されていません",
                Error::Truncated => "\n  ファイルが途中で切れています。平文は出力されていません",
                Error::WrongPassphrase(_) => "\n  パスフレーズが違います",
                _ => "",
            };
            eprintln!("mamori: {}: {e}{ja}", args.input.display());
            Ok(ExitCode::from(2))
        }
    }
}

fn info(args: &OpenArgs) -> anyhow::Result<ExitCode> {
    let signed = if args.input.as_os_str() == "-" {
        mamori_protect::read_header(&mut io::stdin().lock())
    } else {
        mamori_protect::read_header_file(&args.input)
    };
    let signed = match signed {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mamori: {}: {e}", args.input.display());
            return Ok(ExitCode::from(2));
        }
    };
    let h = &signed.header;
    // Whether the signer is known needs the key store, but not a key.
    let known = open_store(&args.data_dir)
        .map(|s| s.signer_is_known(h))
        .unwrap_or(false);
    if args.json {
        let value = serde_json::json!({ "header": h, "signature": "valid", "signer_known": known });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!("level / レベル:        {}", h.level);
        println!("owner / 所有者:        {}", h.owner);
        println!("name / 元の名前:       {}", h.original_name);
        let groups: Vec<String> = h
            .groups
            .iter()
            .map(|g| format!("{} (epoch {})", g.group, g.epoch))
            .collect();
        println!("groups / グループ:     {}", groups.join(", "));
        println!("file id:               {}", h.file_id);
        println!("created (unix):        {}", h.created_unix);
        println!(
            "signed by / 署名者:    {} ({})",
            h.signer.user,
            if known {
                "valid, known key / 有効・登録済みの鍵"
            } else {
                "valid, key not in this key store / 有効・未登録の鍵"
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
