//! `mamori edm`: register tables of sensitive records (exact data match) and find them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use mamori_fingerprint::{
    DEFAULT_EDM_WINDOW, DEFAULT_MIN_CELLS, EdmDetector, EdmKey, EdmOptions, EdmTable,
    FingerprintStore,
};
use serde_json::json;

use super::fingerprint::{OutputFormat, check_files};
use crate::data_dir::DataDirArg;

/// Arguments of `mamori edm`.
#[derive(Debug, clap::Args)]
pub struct EdmArgs {
    #[command(subcommand)]
    command: EdmCommand,
    #[command(flatten)]
    data_dir: DataDirArg,
    /// Directory of tables and key [default: <data-dir>/fingerprints] / テーブルの保存先
    #[arg(long, value_name = "DIR", global = true)]
    dir: Option<PathBuf>,
    /// Output format / 出力形式
    #[arg(long, value_enum, default_value_t = OutputFormat::Text, global = true)]
    format: OutputFormat,
}

#[derive(Debug, clap::Subcommand)]
enum EdmCommand {
    /// Register a CSV table of sensitive records (first line: column names) / 個人情報台帳を登録する
    Add {
        /// Classification level of the records / 機密レベル
        #[arg(long)]
        level: String,
        /// Table name (letters, digits, '-', '_'); findings are `edm.<name>` / テーブル名
        #[arg(long)]
        name: String,
        /// Columns to index, by header name (default: all) / 対象列
        #[arg(long, value_delimiter = ',')]
        columns: Option<Vec<String>>,
        /// Distinct cells of one record needed for a finding / 一致に必要なセル数
        #[arg(long, default_value_t = DEFAULT_MIN_CELLS)]
        min_cells: u32,
        /// How close the cells must be, in characters / セル間の最大距離(文字)
        #[arg(long, default_value_t = DEFAULT_EDM_WINDOW)]
        window: u32,
        /// Replace a table of the same name / 同名のテーブルを置き換える
        #[arg(long)]
        replace: bool,
        /// The CSV file (UTF-8) / CSV ファイル
        csv: PathBuf,
    },
    /// List registered tables / 登録テーブルの一覧
    List,
    /// Remove registered tables / 登録テーブルを削除する
    Remove {
        /// Table names / テーブル名
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Check files for registered records (exit 1 when found) / 照合する
    Check {
        /// Files or directories / ファイルまたはディレクトリ
        #[arg(required = true, value_name = "FILE_OR_DIR")]
        paths: Vec<PathBuf>,
    },
}

/// Runs `mamori edm`.
pub fn run(args: EdmArgs) -> anyhow::Result<ExitCode> {
    let store = match &args.dir {
        Some(dir) => FingerprintStore::at(dir),
        None => FingerprintStore::in_data_dir(&args.data_dir.resolve()),
    };
    let json = args.format == OutputFormat::Json;
    match args.command {
        EdmCommand::Add {
            level,
            name,
            columns,
            min_cells,
            window,
            replace,
            csv,
        } => {
            if args.dir.is_none() {
                args.data_dir.ensure()?;
            }
            let options = EdmOptions {
                columns,
                min_cells,
                window,
            };
            add(&store, &level, &name, &options, replace, &csv, json)
        }
        EdmCommand::List => list(&store, json),
        EdmCommand::Remove { names } => remove(&store, &names, json),
        EdmCommand::Check { paths } => check(&store, &paths, json),
    }
}

fn add(
    store: &FingerprintStore,
    level: &str,
    name: &str,
    options: &EdmOptions,
    replace: bool,
    csv: &Path,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let table_path = store.edm_table_path(name)?;
    if table_path.exists() && !replace {
        bail!(
            "テーブル {name} は登録済みです / table {name:?} is already registered (use --replace)"
        );
    }
    let started = std::time::Instant::now();
    let key = EdmKey::load_or_create(&store.edm_key_path())?;
    let file =
        std::fs::File::open(csv).with_context(|| format!("cannot open {}", csv.display()))?;
    let (table, report) = EdmTable::from_csv(
        std::io::BufReader::new(file),
        csv,
        name,
        level,
        &key,
        options,
    )?;
    table.save(&table_path)?;
    let seconds = started.elapsed().as_secs_f64();
    let file_bytes = std::fs::metadata(&table_path).map(|m| m.len()).unwrap_or(0);
    if json {
        println!(
            "{}",
            json!({"name": name, "level": level, "path": table_path, "columns": table.columns(),
                   "rows": report.rows, "cells": report.cells, "skipped_cells": report.skipped_cells,
                   "min_cells": table.min_cells(), "window": table.window(),
                   "file_bytes": file_bytes, "seconds": seconds})
        );
    } else {
        println!(
            "登録 / added: {name} [{level}] {} 行 / rows, {} セル / cells ({} 件スキップ / skipped), 列 / columns: {}",
            report.rows,
            report.cells,
            report.skipped_cells,
            table.columns().join(", ")
        );
        println!(
            "  一致条件 / match: {} セル以上が {} 文字以内 / {}+ cells within {} chars; {} bytes, {seconds:.2} s",
            table.min_cells(),
            table.window(),
            table.min_cells(),
            table.window(),
            file_bytes
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn list(store: &FingerprintStore, json: bool) -> anyhow::Result<ExitCode> {
    let mut tables = Vec::new();
    for path in store.edm_table_paths()? {
        tables.push(EdmTable::load(&path)?);
    }
    if json {
        let list: Vec<_> = tables
            .iter()
            .map(|t| {
                json!({"name": t.name(), "level": t.level(), "columns": t.columns(),
                       "rows": t.rows(), "cells": t.cells(), "min_cells": t.min_cells(),
                       "window": t.window()})
            })
            .collect();
        println!("{}", json!({"tables": list}));
        return Ok(ExitCode::SUCCESS);
    }
    if tables.is_empty() {
        println!("登録テーブルはありません / no tables registered");
    }
    for t in &tables {
        println!(
            "{}\t{}\t{} 行 / rows\t{} セル / cells\t{}",
            t.name(),
            t.level(),
            t.rows(),
            t.cells(),
            t.columns().join(",")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn remove(store: &FingerprintStore, names: &[String], json: bool) -> anyhow::Result<ExitCode> {
    for name in names {
        let path = store.edm_table_path(name)?;
        if !path.exists() {
            bail!("テーブル {name} はありません / no table named {name:?}");
        }
        std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        if !json {
            println!("削除 / removed: {name}");
        }
    }
    if json {
        println!("{}", json!({"removed": names}));
    }
    Ok(ExitCode::SUCCESS)
}

fn check(store: &FingerprintStore, paths: &[PathBuf], json: bool) -> anyhow::Result<ExitCode> {
    let Some((tables, key)) = store.load_edm_tables()? else {
        bail!(
            "登録テーブルがありません / no EDM tables in {} (register one with `mamori edm add`)",
            store.edm_dir().display()
        );
    };
    let detector = EdmDetector::new(tables, key);
    let mut found = false;
    let mut reports = Vec::new();
    for (file, findings) in check_files(&detector, paths)? {
        found |= !findings.is_empty();
        if json {
            reports.push(json!({"path": file, "findings": findings}));
            continue;
        }
        for f in &findings {
            println!(
                "{}: {} {} 件のレコード / records ({})",
                file.display(),
                f.detector,
                f.count,
                f.sample
            );
        }
    }
    if json {
        println!("{}", json!({"files": reports}));
    }
    Ok(if found {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
