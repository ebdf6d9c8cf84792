//! `mamori protect`: encrypt files for groups, with a signed classification header.

use std::io::{self, BufWriter, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use mamori_protect::{ProtectFileOptions, ProtectRequest};

use crate::commands::keys::{ActorArgs, open_store};
use crate::data_dir::DataDirArg;

/// Arguments of `mamori protect`.
#[derive(Debug, clap::Args)]
pub struct ProtectArgs {
    /// Files to protect; `-` reads standard input and writes standard output (or -o).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Classification level recorded in the header / 機密レベル
    #[arg(long, short = 'l', default_value = "confidential")]
    pub level: String,
    /// Group whose members may open the file (repeatable) / 閲覧を許可するグループ
    #[arg(long = "group", short = 'g', value_name = "GROUP")]
    pub groups: Vec<String>,
    /// Output path (one input only) [default: FILE.mamori]
    #[arg(long, short = 'o', value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Remove the plaintext after protecting it (overwritten once, then unlinked) / 元ファイルを削除する
    #[arg(long)]
    pub in_place: bool,
    /// Replace existing output files.
    #[arg(long, short = 'f')]
    pub force: bool,
    /// Do not encrypt to your own key: only the groups' members can open the file.
    #[arg(long)]
    pub no_owner_access: bool,
    #[command(flatten)]
    pub actor: ActorArgs,
    #[command(flatten)]
    pub data_dir: DataDirArg,
}

/// Runs `mamori protect`. Exit 0 when every file was protected, 2 otherwise.
pub fn run(args: ProtectArgs) -> anyhow::Result<ExitCode> {
    if args.output.is_some() && args.files.len() > 1 {
        bail!("-o takes one input file / -o は入力ファイル1つのときだけ使えます");
    }
    let stdin_input = args.files.iter().any(|f| f.as_os_str() == "-");
    if stdin_input && (args.files.len() > 1 || args.in_place) {
        bail!("`-` (standard input) must be the only input and cannot be --in-place");
    }
    if args.groups.is_empty() && args.no_owner_access {
        bail!("give at least one --group / --group を指定してください");
    }
    let store = open_store(&args.data_dir)?;
    for g in &args.groups {
        store.group(g)?;
    }
    let keys = args.actor.unlock(&store)?;
    let mut request = ProtectRequest::new(args.level.clone(), args.groups.clone());
    request.owner_access = !args.no_owner_access;

    if stdin_input {
        let stdin = io::stdin().lock();
        match &args.output {
            Some(out) => {
                // Through a temporary file, like every other output.
                let dir = out.parent().filter(|p| !p.as_os_str().is_empty());
                let tmp = tempfile::Builder::new()
                    .prefix(".mamori-tmp-")
                    .tempfile_in(dir.unwrap_or(std::path::Path::new(".")))?;
                store.protect(&keys, &request, stdin, BufWriter::new(tmp.as_file()), None)?;
                tmp.as_file().sync_all()?;
                if args.force {
                    tmp.persist(out)?;
                } else {
                    tmp.persist_noclobber(out)?;
                }
            }
            None => {
                let mut stdout = io::stdout().lock();
                store.protect(&keys, &request, stdin, BufWriter::new(&mut stdout), None)?;
                stdout.flush()?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }

    let mut failed = 0;
    for file in &args.files {
        let options = ProtectFileOptions {
            output: args.output.clone(),
            overwrite: args.force,
            in_place: args.in_place,
        };
        match mamori_protect::protect_file(&store, &keys, file, &request, &options) {
            Ok((out, header)) => eprintln!(
                "{} -> {} (level {}, groups [{}])",
                file.display(),
                out.display(),
                header.level,
                header.group_names().join(", ")
            ),
            Err(e) => {
                failed += 1;
                eprintln!("mamori: {e}");
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
