//! `mamori scan`: walk files and directories in parallel and report confidential content.
//!
//! The source is a parallel directory walk (the `ignore` crate, with every filter for
//! `.gitignore` and hidden files turned off: a leak-prevention scan must not skip what a
//! developer's tooling would); each worker inspects the files it visits and sends a
//! [`FileResult`] to the one thread that owns the output and the progress bar.

use std::io::{self, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use mamori_inspect::{Inspector, InspectorBuilder, Rules};
use mamori_policy::{ClassifyInput, Policy};

use crate::i18n::Lang;
use crate::output::{self, FileResult, Format, LevelInfo, Totals};

/// Options shared by `scan` and `inspect`: rules, limits and output.
#[derive(Debug, clap::Args)]
pub struct InspectOptions {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Language of the report (default: from the locale) / 表示言語
    #[arg(long, value_enum)]
    pub lang: Option<Lang>,
    /// Also list inputs with nothing found.
    #[arg(long)]
    pub all: bool,
    /// Add the dictionaries, regexes and context words of a rules file (TOML; repeatable).
    #[arg(long = "rules", value_name = "FILE")]
    pub rules: Vec<PathBuf>,
    /// The policy that gives each input its level (default: the built-in policy).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Do not use the registered document fingerprints and exact-data tables of the data
    /// directory (used by default when present).
    #[arg(long)]
    pub no_fingerprints: bool,
    /// Compare all text with the registered documents, not only the text around their
    /// anchors: slower, and finds copies whose every anchor was changed (English with every
    /// space doubled).
    #[arg(long, conflicts_with = "no_fingerprints")]
    pub thorough_fingerprints: bool,
    #[command(flatten)]
    pub data_dir: crate::data_dir::DataDirArg,
    /// Show the matched secrets unmasked in samples (for investigators; never in logs).
    #[arg(long)]
    pub show_secrets: bool,
    /// Largest input read whole, in MiB (plain text is streamed past it).
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    pub max_filesize: u64,
    /// Time budget per input, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub timeout: u64,
}

impl InspectOptions {
    /// Builds the inspection engine these options describe.
    pub fn build_inspector(&self) -> anyhow::Result<Inspector> {
        self.build_inspector_for(1)
    }

    /// [`InspectOptions::build_inspector`] for a caller about to inspect on `threads` threads:
    /// the fingerprint index, if large, is checked on as many while they would wait for it.
    pub fn build_inspector_for(&self, threads: usize) -> anyhow::Result<Inspector> {
        let limits = mamori_inspect::Limits {
            max_input_bytes: self.max_filesize << 20,
            time_budget: Duration::from_secs(self.timeout),
            ..Default::default()
        };
        let mut builder = InspectorBuilder::new()
            .rules(load_rules(&self.rules)?)
            .limits(limits)
            .raw_samples(self.show_secrets);
        if !self.no_fingerprints {
            let store = mamori_fingerprint::FingerprintStore::in_data_dir(&self.data_dir.resolve())
                .thorough(self.thorough_fingerprints)
                .load_threads(threads);
            for detector in store
                .load_detectors()
                .context("cannot load the fingerprint index")?
            {
                builder = builder.document_detector(detector);
            }
        }
        builder
            .build()
            .context("cannot build the inspection engine")
    }

    /// Loads the policy these options name, or the built-in one.
    pub fn load_policy(&self) -> anyhow::Result<Policy> {
        crate::commands::policy::load_policy(self.policy.as_deref())
    }
}

/// The built-in rules plus those of every rules file, each validated; every error names the
/// file, line, column and field.
pub fn load_rules(files: &[PathBuf]) -> anyhow::Result<Rules> {
    let mut rules = Rules::builtin();
    let mut errors = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read rules file {}", file.display()))?;
        match Rules::from_toml(&text, &file.display().to_string()) {
            Ok(more) => rules = rules.merge(more),
            Err(err) => errors.push(err.to_string()),
        }
    }
    if !errors.is_empty() {
        anyhow::bail!("invalid rules:\n{}", errors.join("\n"));
    }
    Ok(rules)
}

/// Arguments of `mamori scan`.
#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Files or directories to scan.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Skip paths matching this glob (repeatable), e.g. `--exclude '**/node_modules/**'`.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Worker threads (default: one per core).
    #[arg(short = 'j', long, value_name = "N")]
    pub threads: Option<usize>,
    /// Follow symbolic links.
    #[arg(short = 'L', long)]
    pub follow: bool,
    /// Record every input with findings as a `scan` event in the journal, so discovery results
    /// are part of the evidence (`mamori log search --op scan`).
    #[arg(long)]
    pub record: bool,
    /// No progress bar, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
    #[command(flatten)]
    pub options: InspectOptions,
}

/// What a worker sends to the output thread.
enum Message {
    Result(FileResult),
    Error(String),
}

/// Runs the scan. Exit status: 0 nothing found, 1 findings (or uninspectable content), 2 errors.
pub fn run(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let lang = Lang::resolve(args.options.lang);
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let inspector = Arc::new(args.options.build_inspector_for(threads)?);
    let policy = Arc::new(args.options.load_policy()?);
    let journal = if args.record {
        let dir = args.options.data_dir.ensure()?;
        Some(
            mamori_journal::Journal::open(&dir, mamori_journal::JournalOptions::default())
                .with_context(|| format!("cannot open the journal in {}", dir.display()))?,
        )
    } else {
        None
    };
    let walker = build_walker(&args, threads)?;
    let started = Instant::now();

    let (tx, rx) = mpsc::sync_channel::<Message>(1024);
    let walk_thread = {
        let inspector = Arc::clone(&inspector);
        let policy = Arc::clone(&policy);
        std::thread::spawn(move || {
            let mut visitors = VisitorBuilder {
                tx,
                inspector,
                policy,
            };
            walker.visit(&mut visitors);
        })
    };

    let progress =
        (!args.no_progress && io::stderr().is_terminal()).then(|| new_progress_bar(lang));
    let stdout = io::stdout().lock();
    let mut writer = output::writer(
        args.options.format,
        Box::new(io::BufWriter::new(stdout)),
        lang,
        args.options.all,
        output::detector_names(&inspector),
    );
    let mut totals = Totals::default();
    let mut last_draw = Instant::now();
    for message in rx {
        match message {
            Message::Result(result) => {
                if let Some(journal) = &journal
                    && result.is_notable()
                {
                    journal
                        .append(scan_event(&result))
                        .context("cannot record to the journal")?;
                }
                totals.files += 1;
                totals.bytes += result.bytes;
                if !result.findings.is_empty() {
                    totals.files_with_findings += 1;
                    totals.findings += result
                        .findings
                        .iter()
                        .map(|f| u64::from(f.count))
                        .sum::<u64>();
                }
                if !result.uninspectable.is_empty() {
                    totals.files_uninspectable += 1;
                }
                let mut write = || writer.result(&result);
                match &progress {
                    Some(bar) => bar.suspend(write),
                    None => write(),
                }
                .or_else(ignore_broken_pipe)?;
            }
            Message::Error(text) => {
                totals.errors += 1;
                let say = || eprintln!("mamori: {text}");
                match &progress {
                    Some(bar) => bar.suspend(say),
                    None => say(),
                }
            }
        }
        if let Some(bar) = &progress
            && last_draw.elapsed() > Duration::from_millis(100)
        {
            bar.set_message(progress_message(lang, &totals, started.elapsed()));
            last_draw = Instant::now();
        }
    }
    walk_thread
        .join()
        .map_err(|_| anyhow::anyhow!("the directory walker panicked"))?;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    if let Some(journal) = journal {
        journal.flush().context("cannot flush the journal")?;
    }
    totals.elapsed = started.elapsed();
    writer.finish(&totals).or_else(ignore_broken_pipe)?;
    if args.options.format != Format::Text && io::stderr().is_terminal() {
        eprintln!("{}", progress_message(lang, &totals, totals.elapsed));
    }
    Ok(exit_code(lang, &totals))
}

/// grep-like exit status, as documented: 0 nothing found, 1 findings, 2 errors.
pub fn exit_code(lang: Lang, totals: &Totals) -> ExitCode {
    let found = totals.files_with_findings + totals.files_uninspectable > 0;
    if totals.errors > 0 {
        let _ = io::stdout().flush();
        if found {
            eprintln!(
                "mamori: {}",
                lang.pick(
                    &format!(
                        "検出あり {} 件、ただし {} 件のパスを読めませんでした",
                        totals.files_with_findings + totals.files_uninspectable,
                        totals.errors
                    ),
                    &format!(
                        "findings in {} files, but {} paths could not be read",
                        totals.files_with_findings + totals.files_uninspectable,
                        totals.errors
                    ),
                )
            );
        }
        return ExitCode::from(2);
    }
    if found {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// A closed pipe (`mamori scan | head`) ends output quietly, like grep.
fn ignore_broken_pipe(err: io::Error) -> anyhow::Result<()> {
    if err.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(1);
    }
    Err(err.into())
}

fn build_walker(args: &ScanArgs, threads: usize) -> anyhow::Result<ignore::WalkParallel> {
    let (first, rest) = args
        .paths
        .split_first()
        .expect("clap requires at least one path");
    let mut builder = ignore::WalkBuilder::new(first);
    for path in rest {
        builder.add(path);
    }
    builder
        .standard_filters(false)
        .follow_links(args.follow)
        .threads(threads);
    if !args.exclude.is_empty() {
        let mut overrides = ignore::overrides::OverrideBuilder::new("/");
        for glob in &args.exclude {
            overrides
                .add(&format!("!{glob}"))
                .with_context(|| format!("--exclude: bad glob {glob:?}"))?;
        }
        builder.overrides(overrides.build().context("--exclude")?);
    }
    Ok(builder.build_parallel())
}

/// Bytes of a file the kernel is asked to read ahead while the file before it is inspected
/// ([`ScanVisitor`]). A larger file is read ahead by the kernel's usual window as it is read
/// (asking for more ahead of the engine's reads was tried: no faster on one 124 MB file).
const PREFETCH_BYTES: u64 = 4 << 20;

/// Files each walker thread has opened and asked the kernel to read while it inspects the one
/// before them (so a thread holds at most this many plus one open). On the 124 MB benchmark
/// corpus with a cold cache: 1 gave 152 ms, 3 gave 139-141, 8 gave 130-132, against 196 ms
/// without look-ahead (docs/benchmarks.md).
const LOOKAHEAD: usize = 8;

/// Makes a [`ScanVisitor`] for each walker thread.
struct VisitorBuilder {
    tx: mpsc::SyncSender<Message>,
    inspector: Arc<Inspector>,
    policy: Arc<Policy>,
}

impl<'s> ignore::ParallelVisitorBuilder<'s> for VisitorBuilder {
    fn build(&mut self) -> Box<dyn ignore::ParallelVisitor + 's> {
        Box::new(ScanVisitor {
            tx: self.tx.clone(),
            inspector: Arc::clone(&self.inspector),
            policy: Arc::clone(&self.policy),
            ahead: std::collections::VecDeque::with_capacity(LOOKAHEAD + 1),
            stopped: false,
        })
    }
}

/// One walker thread's inspections. A file found is opened and the kernel asked to read it
/// (`posix_fadvise(WILLNEED)`), and it is inspected only after the next one has been found
/// and asked for: on a cold cache the disk reads one file while the thread inspects another,
/// where inspecting each file as it is found left the disk and the CPU taking turns. What is
/// still queued when the thread's walk ends is inspected when the visitor is dropped.
struct ScanVisitor {
    tx: mpsc::SyncSender<Message>,
    inspector: Arc<Inspector>,
    policy: Arc<Policy>,
    ahead: std::collections::VecDeque<(PathBuf, io::Result<std::fs::File>)>,
    /// The receiver is gone (the output failed): inspect nothing more.
    stopped: bool,
}

impl ScanVisitor {
    fn inspect_next(&mut self) {
        let Some((path, file)) = self.ahead.pop_front() else {
            return;
        };
        if self.stopped {
            return;
        }
        let message = match file
            .and_then(|file| inspect_file(&self.inspector, Some(&self.policy), &path, file))
        {
            Ok(result) => Message::Result(result),
            Err(err) => Message::Error(format!("{}: {err}", path.display())),
        };
        self.stopped = self.tx.send(message).is_err();
    }
}

impl ignore::ParallelVisitor for ScanVisitor {
    fn visit(&mut self, entry: Result<ignore::DirEntry, ignore::Error>) -> ignore::WalkState {
        match entry {
            Ok(entry) => {
                if !entry.file_type().is_some_and(|t| t.is_file()) {
                    return ignore::WalkState::Continue;
                }
                let file = std::fs::File::open(entry.path());
                if let Ok(file) = &file {
                    // Only advice: a kernel or filesystem that ignores it changes nothing.
                    let _ = rustix::fs::fadvise(
                        file,
                        0,
                        std::num::NonZeroU64::new(PREFETCH_BYTES),
                        rustix::fs::Advice::WillNeed,
                    );
                }
                self.ahead.push_back((entry.into_path(), file));
                if self.ahead.len() > LOOKAHEAD {
                    self.inspect_next();
                }
            }
            Err(err) => {
                self.stopped |= self.tx.send(Message::Error(err.to_string())).is_err();
            }
        }
        if self.stopped {
            ignore::WalkState::Quit
        } else {
            ignore::WalkState::Continue
        }
    }
}

impl Drop for ScanVisitor {
    fn drop(&mut self) {
        while !self.ahead.is_empty() {
            self.inspect_next();
        }
    }
}

/// Inspects one file on disk and, with a policy, classifies it.
pub fn inspect_path(
    inspector: &Inspector,
    policy: Option<&Policy>,
    path: &Path,
) -> io::Result<FileResult> {
    inspect_file(inspector, policy, path, std::fs::File::open(path)?)
}

/// [`inspect_path`] of a file already open.
fn inspect_file(
    inspector: &Inspector,
    policy: Option<&Policy>,
    path: &Path,
    mut file: std::fs::File,
) -> io::Result<FileResult> {
    let len = file.metadata()?.len();
    let report = inspector.inspect_reader(&mut file, len)?;
    let mut result = FileResult {
        path: path.display().to_string(),
        content_type: report.content_type,
        bytes: report.bytes_read,
        findings: report.findings,
        uninspectable: report.uninspectable,
        level: None,
    };
    if let Some(policy) = policy {
        // A label that cannot be read (a filesystem error) must not stop the scan: the
        // content still classifies the file.
        let label = crate::commands::label::read_label(path).ok().flatten();
        result.level = Some(classify(policy, &result, Some(path), label.as_deref()));
    }
    Ok(result)
}

/// The level `policy` gives to an inspected input.
pub fn classify(
    policy: &Policy,
    result: &FileResult,
    path: Option<&Path>,
    label: Option<&str>,
) -> LevelInfo {
    let class = policy.classify(&ClassifyInput {
        path,
        findings: &result.findings,
        uninspectable: &result.uninspectable,
        explicit_label: label,
    });
    let level = policy.level(class.level);
    LevelInfo {
        id: level.id.clone(),
        ja: level.ja.clone(),
        en: level.en.clone(),
    }
}

/// The journal event recording one scanned input.
fn scan_event(result: &FileResult) -> mamori_journal::Event {
    let mut event = mamori_journal::Event::scan(
        result.path.clone(),
        result.findings.clone(),
        result.level.as_ref().map(|l| l.id.clone()),
    );
    if let Ok(identity) = mamori_journal::FileIdentity::from_file(Path::new(&result.path), true) {
        event = event.with_file(identity);
    }
    event
}

fn new_progress_bar(lang: Lang) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .expect("static template is valid"),
    );
    bar.set_message(lang.pick("検査中...", "scanning...").to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn progress_message(lang: Lang, t: &Totals, elapsed: Duration) -> String {
    let mb = t.bytes as f64 / 1e6;
    let rate = mb / elapsed.as_secs_f64().max(1e-3);
    match lang {
        Lang::Ja => format!(
            "{} ファイル | {mb:.1} MB | 検出 {} | 検査不能 {} | {rate:.1} MB/秒",
            t.files, t.findings, t.files_uninspectable
        ),
        Lang::En => format!(
            "{} files | {mb:.1} MB | {} findings | {} uninspectable | {rate:.1} MB/s",
            t.files, t.findings, t.files_uninspectable
        ),
    }
}
