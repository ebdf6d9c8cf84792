//! `mamori fingerprint`: register confidential documents and find copies of them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use mamori_fingerprint::{
    DEFAULT_MIN_SHARED, DEFAULT_MIN_SPAN, FingerprintDetector, FingerprintIndex, FingerprintStore,
    IndexParams, MatchRule, TextCollector,
};
use serde_json::json;

use crate::data_dir::DataDirArg;

/// Arguments of `mamori fingerprint`.
#[derive(Debug, clap::Args)]
pub struct FingerprintArgs {
    #[command(subcommand)]
    command: FingerprintCommand,
    #[command(flatten)]
    data_dir: DataDirArg,
    /// Index file [default: <data-dir>/fingerprints/documents.idx] / インデックスファイル
    #[arg(long, value_name = "PATH", global = true)]
    index: Option<PathBuf>,
    /// Output format / 出力形式
    #[arg(long, value_enum, default_value_t = OutputFormat::Text, global = true)]
    format: OutputFormat,
}

/// Human or machine output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Lines for a person, in Japanese and English.
    Text,
    /// One JSON document.
    Json,
}

#[derive(Debug, clap::Subcommand)]
enum FingerprintCommand {
    /// Register documents (any format) / 機密文書を登録する
    Add {
        /// Classification level of the documents (a policy level id) / 機密レベル
        #[arg(long)]
        level: String,
        /// Name to register under; with several files or a directory, a prefix / 登録名
        #[arg(long)]
        name: Option<String>,
        /// Replace documents already registered under the same name / 同名の文書を置き換える
        #[arg(long)]
        replace: bool,
        /// Files or directories / ファイルまたはディレクトリ
        #[arg(required = true, value_name = "FILE_OR_DIR")]
        paths: Vec<PathBuf>,
    },
    /// Declare common text (letterheads, disclaimers) that must never match / 定型文を登録する
    Common {
        /// Files or directories / ファイルまたはディレクトリ
        #[arg(required = true, value_name = "FILE_OR_DIR")]
        paths: Vec<PathBuf>,
    },
    /// List registered documents / 登録文書の一覧
    List,
    /// Remove registered documents / 登録文書を削除する
    Remove {
        /// Registered names / 登録名
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Show the size of the index / インデックスの統計
    Stats,
    /// Check files against the index (exit 1 when a registered document is found) / 照合する
    Check {
        /// Distinct shared fingerprints needed for a match / 一致に必要な共通指紋数
        #[arg(long, default_value_t = DEFAULT_MIN_SHARED)]
        min_shared: u32,
        /// Normalised characters a run of matches must cover / 一致の連続が覆うべき文字数
        #[arg(long, default_value_t = DEFAULT_MIN_SPAN)]
        min_span: u32,
        /// Files or directories / ファイルまたはディレクトリ
        #[arg(required = true, value_name = "FILE_OR_DIR")]
        paths: Vec<PathBuf>,
    },
}

/// The largest amount of text registered from one document.
const MAX_TEXT_BYTES: usize = 256 << 20;

/// Runs `mamori fingerprint`.
pub fn run(args: FingerprintArgs) -> anyhow::Result<ExitCode> {
    let index_path = match &args.index {
        Some(path) => path.clone(),
        None => FingerprintStore::in_data_dir(&args.data_dir.resolve()).index_path(),
    };
    let json = args.format == OutputFormat::Json;
    match args.command {
        FingerprintCommand::Add {
            level,
            name,
            replace,
            paths,
        } => {
            if args.index.is_none() {
                args.data_dir.ensure()?;
            }
            add(&index_path, &level, name.as_deref(), replace, &paths, json)
        }
        FingerprintCommand::Common { paths } => {
            if args.index.is_none() {
                args.data_dir.ensure()?;
            }
            common(&index_path, &paths, json)
        }
        FingerprintCommand::List => list(&index_path, json),
        FingerprintCommand::Remove { names } => remove(&index_path, &names, json),
        FingerprintCommand::Stats => stats(&index_path, json),
        FingerprintCommand::Check {
            min_shared,
            min_span,
            paths,
        } => {
            let rule = MatchRule {
                min_shared,
                min_span,
                ..MatchRule::default()
            };
            check(&index_path, rule, &paths, json)
        }
    }
}

/// Holds an exclusive lock on `<index>.lock` while an index is read, changed and written, so
/// that two registrations at once do not lose each other's documents.
fn lock_index(path: &Path) -> anyhow::Result<std::fs::File> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open {}", Path::new(&lock_path).display()))?;
    file.lock()
        .with_context(|| format!("cannot lock {}", Path::new(&lock_path).display()))?;
    Ok(file)
}

fn open_or_create(path: &Path) -> anyhow::Result<FingerprintIndex> {
    if path.exists() {
        Ok(FingerprintIndex::load(path)?)
    } else {
        Ok(FingerprintIndex::new(IndexParams::default())?)
    }
}

fn open_existing(path: &Path) -> anyhow::Result<FingerprintIndex> {
    if !path.exists() {
        bail!(
            "インデックスがありません / no fingerprint index at {} (register documents with `mamori fingerprint add`)",
            path.display()
        );
    }
    Ok(FingerprintIndex::load(path)?)
}

/// Every file under the given paths, with the name it gets: `prefix` for a single file,
/// `prefix/relative/path` for files found in directories or given with others.
pub(crate) fn expand_paths(
    paths: &[PathBuf],
    prefix: Option<&str>,
) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    for path in paths {
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            let mut files = Vec::new();
            walk(path, &mut files)?;
            files.sort();
            for file in files {
                let relative = file.strip_prefix(path).unwrap_or(&file);
                let name = match prefix {
                    Some(p) => format!("{p}/{}", relative.display()),
                    None => file.display().to_string(),
                };
                out.push((file, name));
            }
        } else {
            let name = match prefix {
                Some(p) if paths.len() == 1 => p.to_owned(),
                Some(p) => format!(
                    "{p}/{}",
                    path.file_name()
                        .map(|n| n.to_string_lossy())
                        .unwrap_or_default()
                ),
                None => path.display().to_string(),
            };
            out.push((path.clone(), name));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&entry.path(), out)?;
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
    Ok(())
}

/// The extracted text of a file, through the same extractor as `mamori scan`.
pub(crate) fn extract_text(path: &Path) -> anyhow::Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let extractor = mamori_extract::Extractor::new(mamori_extract::Limits::default());
    let mut collector = TextCollector::new(MAX_TEXT_BYTES);
    extractor
        .extract_reader(&mut file, len, &mut collector)
        .with_context(|| format!("cannot read {}", path.display()))?;
    for part in collector.uninspectable() {
        eprintln!(
            "mamori: 警告 / warning: {}: 読めない部分 / part not read: {part}",
            path.display()
        );
    }
    Ok(collector.into_text())
}

fn add(
    index_path: &Path,
    level: &str,
    name: Option<&str>,
    replace: bool,
    paths: &[PathBuf],
    json: bool,
) -> anyhow::Result<ExitCode> {
    let _lock = lock_index(index_path)?;
    let mut index = open_or_create(index_path)?;
    let files = expand_paths(paths, name)?;
    let mut added = Vec::new();
    let mut failed = false;
    for (file, doc_name) in files {
        let result = (|| -> anyhow::Result<u32> {
            let text = extract_text(&file)?;
            if index.documents().iter().any(|d| d.name == doc_name) {
                if !replace {
                    bail!(
                        "{doc_name} は登録済みです / {doc_name:?} is already registered (use --replace)"
                    );
                }
                index.remove_document(&doc_name)?;
            }
            Ok(index.add_document(&doc_name, level, &text)?)
        })();
        match result {
            Ok(fingerprints) => {
                if !json {
                    println!(
                        "登録 / added: {doc_name} [{level}] {fingerprints} 指紋 / fingerprints ({})",
                        file.display()
                    );
                    if fingerprints < 3 {
                        eprintln!(
                            "mamori: 警告 / warning: {doc_name}: 文章が短すぎて照合できません / too little text to be matched"
                        );
                    }
                }
                added.push(json!({"name": doc_name, "level": level, "path": file, "fingerprints": fingerprints}));
            }
            Err(err) => {
                failed = true;
                eprintln!("mamori: {}: {err:#}", file.display());
            }
        }
    }
    index
        .save(index_path)
        .with_context(|| format!("cannot write {}", index_path.display()))?;
    if json {
        println!("{}", json!({"index": index_path, "added": added}));
    }
    Ok(if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn common(index_path: &Path, paths: &[PathBuf], json: bool) -> anyhow::Result<ExitCode> {
    let _lock = lock_index(index_path)?;
    let mut index = open_or_create(index_path)?;
    let mut total = 0;
    for (file, _) in expand_paths(paths, None)? {
        let text = extract_text(&file)?;
        let n = index.add_common_text(&text);
        total += n;
        if !json {
            println!(
                "定型文 / common text: {} ({n} 指紋 / fingerprints)",
                file.display()
            );
        }
    }
    index
        .save(index_path)
        .with_context(|| format!("cannot write {}", index_path.display()))?;
    if json {
        println!(
            "{}",
            json!({"index": index_path, "common_fingerprints": total})
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn list(index_path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let index = open_existing(index_path)?;
    if json {
        let docs: Vec<_> = index
            .documents()
            .iter()
            .map(|d| {
                json!({"name": d.name, "level": d.level, "fingerprints": d.fingerprints,
                       "text_bytes": d.text_bytes, "added_unix": d.added_unix})
            })
            .collect();
        println!("{}", json!({"index": index_path, "documents": docs}));
        return Ok(ExitCode::SUCCESS);
    }
    if index.documents().is_empty() {
        println!("登録文書はありません / no documents registered");
    }
    for d in index.documents() {
        println!(
            "{}\t{}\t{} 指紋 / fingerprints\t{} bytes",
            d.name, d.level, d.fingerprints, d.text_bytes
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn remove(index_path: &Path, names: &[String], json: bool) -> anyhow::Result<ExitCode> {
    if !index_path.exists() {
        open_existing(index_path)?;
    }
    let _lock = lock_index(index_path)?;
    let mut index = open_existing(index_path)?;
    let mut removed = Vec::new();
    for name in names {
        index.remove_document(name)?;
        removed.push(name.clone());
        if !json {
            println!("削除 / removed: {name}");
        }
    }
    index
        .save(index_path)
        .with_context(|| format!("cannot write {}", index_path.display()))?;
    if json {
        println!("{}", json!({"index": index_path, "removed": removed}));
    }
    Ok(ExitCode::SUCCESS)
}

fn stats(index_path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let index = open_existing(index_path)?;
    let load_ms = started.elapsed().as_secs_f64() * 1000.0;
    let s = index.stats();
    if json {
        println!(
            "{}",
            json!({"index": index_path, "documents": s.documents, "postings": s.postings,
                   "stopped": s.stopped, "text_bytes": s.text_bytes, "file_bytes": s.file_bytes,
                   "bytes_per_text_mb": s.bytes_per_text_mb, "k": s.k, "window": s.window,
                   "stop_df": s.stop_df, "anchors": s.anchors,
                   "documents_without_anchors": s.documents_without_anchors,
                   "load_ms": load_ms})
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("インデックス / index:            {}", index_path.display());
    println!("登録文書 / documents:            {}", s.documents);
    println!("指紋 / fingerprints (postings):  {}", s.postings);
    println!("定型として無視 / boilerplate:    {}", s.stopped);
    println!("アンカー / anchors:              {}", s.anchors);
    if s.documents_without_anchors > 0 {
        println!(
            "  アンカーのない文書 {n} 件: 検査は全文を照合します (短すぎる文書、または旧版で登録した文書。\
             削除して登録し直すと速くなります) / {n} documents without anchors: scans winnow all text \
             (documents too short, or registered by an older version: remove and add them again)",
            n = s.documents_without_anchors
        );
    }
    println!("登録テキスト / registered text:  {} bytes", s.text_bytes);
    println!("ファイル / file size:            {} bytes", s.file_bytes);
    println!(
        "1MB あたり / bytes per text MB:  {:.0}",
        s.bytes_per_text_mb
    );
    println!(
        "パラメータ / parameters:         k={} window={} (最短保証一致 / guaranteed match {} chars) stop_df={}",
        s.k,
        s.window,
        s.k + s.window - 1,
        s.stop_df
    );
    println!("読込時間 / load time:            {load_ms:.1} ms");
    Ok(ExitCode::SUCCESS)
}

/// Runs one whole-document detector (fingerprints or EDM) over every file under `paths`, in the
/// order `expand_paths` gives them: what `fingerprint check` and `edm check` both do.
pub(crate) fn check_files(
    detector: &dyn mamori_inspect::DocumentDetector,
    paths: &[PathBuf],
) -> anyhow::Result<Vec<(PathBuf, Vec<mamori_model::Finding>)>> {
    let mut results = Vec::new();
    for (file, _) in expand_paths(paths, None)? {
        let text = extract_text(&file)?;
        let mut scan = detector.start();
        // What the inspection engine feeds its document detectors: its normalised text.
        scan.feed(mamori_inspect::normalize(&text).as_str());
        results.push((file, scan.finish()));
    }
    Ok(results)
}

fn check(
    index_path: &Path,
    rule: MatchRule,
    paths: &[PathBuf],
    json: bool,
) -> anyhow::Result<ExitCode> {
    let index = open_existing(index_path)?;
    let detector = FingerprintDetector::new(index).rule(rule);
    let mut found = false;
    let mut reports = Vec::new();
    for (file, findings) in check_files(&detector, paths)? {
        found |= !findings.is_empty();
        if json {
            reports.push(json!({"path": file, "findings": findings}));
            continue;
        }
        for finding in &findings {
            if let Some(m) = &finding.document {
                println!(
                    "{}: 一致 / matches {} [{}]: 含有率 / containment {:.0}%, 占有率 / coverage {:.0}%, {} 共通指紋 / shared fingerprints",
                    file.display(),
                    m.document,
                    m.level,
                    m.containment * 100.0,
                    m.coverage * 100.0,
                    finding.count
                );
            }
        }
    }
    if json {
        println!("{}", json!({"index": index_path, "files": reports}));
    }
    Ok(if found {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
