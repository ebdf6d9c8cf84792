//! `mamori label`: show, set or clear the explicit classification level of a file.
//!
//! The level is kept in the extended attribute `user.mamori.level`, so it travels with the file
//! through renames and moves on the same filesystem (and through `cp --preserve=xattr`,
//! `rsync -X`, `tar --xattrs`). The agent's classification reads it back as the file's explicit
//! label; the highest of the label and the content's own level wins.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};

/// The extended attribute holding a file's level id.
pub const LABEL_XATTR: &str = "user.mamori.level";

/// Arguments of `mamori label`.
#[derive(Debug, clap::Args)]
pub struct LabelArgs {
    /// The file to label / ラベルを付けるファイル.
    pub file: PathBuf,
    /// Set this level (a level id of the policy, e.g. `secret`) / このレベルを設定する.
    #[arg(long, value_name = "LEVEL", conflicts_with = "clear")]
    pub level: Option<String>,
    /// Remove the label / ラベルを削除する.
    #[arg(long)]
    pub clear: bool,
    /// Policy whose levels are valid [default: the built-in default policy].
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

/// Runs `mamori label`.
pub fn run(args: LabelArgs) -> anyhow::Result<ExitCode> {
    let policy = super::policy::load_policy(args.policy.as_deref())?;
    let file = std::fs::canonicalize(&args.file)
        .with_context(|| format!("cannot open {}", args.file.display()))?;
    let shown = args.file.display();
    if args.clear {
        match xattr::remove(&file, LABEL_XATTR) {
            Ok(()) => println!("{shown}: label removed / ラベルを削除しました"),
            Err(e) if e.raw_os_error() == Some(nix::libc::ENODATA) => {
                println!("{shown}: no label / ラベルはありません")
            }
            Err(e) => return Err(xattr_error(&args.file, e, "remove")),
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(level) = &args.level {
        let Some(id) = policy.level_id(level) else {
            let defined: Vec<String> = policy
                .levels()
                .rev()
                .map(|(_, l)| format!("{} ({})", l.id, l.ja))
                .collect();
            bail!(
                "unknown level `{level}` / レベル `{level}` はポリシーにありません; defined levels: {}",
                defined.join(", ")
            );
        };
        xattr::set(&file, LABEL_XATTR, level.as_bytes())
            .map_err(|e| xattr_error(&args.file, e, "set"))?;
        let l = policy.level(id);
        println!("{shown}: {} ({} / {})", l.id, l.ja, l.en);
        return Ok(ExitCode::SUCCESS);
    }
    match read_label(&file)? {
        Some(label) => match policy.level_id(&label) {
            Some(id) => {
                let l = policy.level(id);
                println!("{shown}: {} ({} / {})", l.id, l.ja, l.en);
            }
            None => println!(
                "{shown}: {label} (not a level of this policy: treated as the highest / このポリシーにないレベルのため最上位として扱います)"
            ),
        },
        None => println!("{shown}: no label / ラベルはありません"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The label stored on `path`, if any. A filesystem without extended attributes has no labels.
pub fn read_label(path: &Path) -> anyhow::Result<Option<String>> {
    match xattr::get(path, LABEL_XATTR) {
        Ok(Some(bytes)) => {
            let text = String::from_utf8_lossy(&bytes).trim().to_owned();
            Ok((!text.is_empty()).then_some(text))
        }
        Ok(None) => Ok(None),
        Err(e) if e.raw_os_error() == Some(nix::libc::ENOTSUP) => Ok(None),
        Err(e) => Err(xattr_error(path, e, "read")),
    }
}

fn xattr_error(path: &Path, e: std::io::Error, what: &str) -> anyhow::Error {
    if e.raw_os_error() == Some(nix::libc::ENOTSUP) {
        anyhow::anyhow!(
            "{}: the filesystem does not support extended attributes ({LABEL_XATTR}), so labels cannot be kept here / このファイルシステムは拡張属性に対応していないため、ラベルを保存できません",
            path.display()
        )
    } else {
        anyhow::anyhow!("cannot {what} the label of {}: {e}", path.display())
    }
}
