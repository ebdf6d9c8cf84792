//! `mamori log`: verify, search, tail, trail and export the journal.

use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use mamori_journal::{
    Event, Journal, JournalOptions, JournalReader, Kind, Operation, Query, SqliteStore, Store,
    export, format_time, parse_time,
};
use mamori_model::Channel;

use crate::data_dir::DataDirArg;

/// Arguments of `mamori log`.
#[derive(Debug, clap::Args)]
pub struct LogArgs {
    #[command(subcommand)]
    command: Box<LogCommand>,
    #[command(flatten)]
    data_dir: DataDirArg,
}

#[derive(Debug, clap::Subcommand)]
enum LogCommand {
    /// Check the journal's hash chain and signatures / ジャーナルの改ざんを検査する
    ///
    /// Exit 0 when intact; 1 naming the first bad record (modified, missing, reordered,
    /// truncated tail); 2 when the journal cannot be read.
    Verify {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Search recorded events / 記録されたイベントを検索する
    Search {
        #[command(flatten)]
        filter: Filter,
        #[command(flatten)]
        output: Output,
    },
    /// Show the latest events, and with -f new ones as they happen / 最新のイベントを表示する
    Tail {
        /// Keep printing new events.
        #[arg(short = 'f', long)]
        follow: bool,
        /// How many recent events to show first.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: usize,
        #[command(flatten)]
        filter: Filter,
        #[command(flatten)]
        output: Output,
    },
    /// The whole life of a file and its copies / ファイルとそのコピーの履歴を表示する
    Trail {
        /// The file's path.
        file: String,
        #[command(flatten)]
        output: Output,
    },
    /// Export events as JSON lines, OCSF, or to a syslog server / イベントを書き出す
    Export {
        #[command(flatten)]
        filter: Filter,
        /// jsonl or ocsf (ignored with --syslog).
        #[arg(long, default_value = "jsonl", value_parser = ["jsonl", "ocsf"])]
        format: String,
        /// Send to a syslog server (RFC 5424, octet counting): tcp://HOST:PORT or tls://HOST:PORT.
        #[arg(long, value_name = "URL")]
        syslog: Option<String>,
        /// CA certificate (PEM) to trust for tls://.
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
        /// Keep sending new events as they are journalled.
        #[arg(short = 'f', long)]
        follow: bool,
    },
    /// Bring the search store up to date with the journal / 検索用ストアを更新する
    Ingest,
    /// Append events (JSON lines on stdin) durably and print their ids / イベントを記録する
    Append {
        /// Instead of reading stdin, generate this many synthetic events (tests, benchmarks).
        #[arg(long, hide = true)]
        generate: Option<u64>,
        /// Group-commit window in milliseconds.
        #[arg(long, default_value_t = 2)]
        commit_window_ms: u64,
    },
}

/// Where exported events go.
type EventSink = Box<dyn FnMut(&Event) -> anyhow::Result<()>>;

/// Filters shared by search, tail and export.
#[derive(Debug, Clone, clap::Args)]
struct Filter {
    /// User name or uid.
    #[arg(long)]
    user: Option<String>,
    /// File path or glob (matches the old or new path of renames and copies).
    #[arg(long)]
    file: Option<String>,
    /// Operation (open, read, write, create, rename, delete, copy, mount, device, print, upload, mail, scan, label, policy_change, service).
    #[arg(long)]
    op: Option<String>,
    /// Classification level.
    #[arg(long)]
    level: Option<String>,
    /// audit or warning.
    #[arg(long, value_parser = ["audit", "warning"])]
    kind: Option<String>,
    /// Detector id, keyword name or masked sample.
    #[arg(long)]
    keyword: Option<String>,
    /// Channel (file_access, local_copy, removable_media, network_share, print, web_upload, mail).
    #[arg(long)]
    channel: Option<String>,
    /// Host name.
    #[arg(long)]
    host: Option<String>,
    /// From (RFC 3339, a date, or an age such as 2h or 7d).
    #[arg(long)]
    since: Option<String>,
    /// Until (same forms).
    #[arg(long)]
    until: Option<String>,
    /// At most this many (most recent) events.
    #[arg(long, default_value_t = Query::DEFAULT_LIMIT)]
    limit: usize,
}

#[derive(Debug, Clone, clap::Args)]
struct Output {
    /// table, json (JSON lines), csv or ocsf.
    #[arg(long, default_value = "table", value_parser = ["table", "json", "csv", "ocsf"])]
    format: String,
}

impl Filter {
    fn query(&self) -> anyhow::Result<Query> {
        let op = match &self.op {
            Some(o) => Some(
                Operation::parse(o).with_context(|| format!("--op: unknown operation {o:?}"))?,
            ),
            None => None,
        };
        let channel = match &self.channel {
            Some(c) => Some(
                Channel::parse(c).with_context(|| format!("--channel: unknown channel {c:?}"))?,
            ),
            None => None,
        };
        Ok(Query {
            user: self.user.clone(),
            file: self.file.clone(),
            op,
            level: self.level.clone(),
            kind: self.kind.as_deref().and_then(Kind::parse),
            keyword: self.keyword.clone(),
            channel,
            host: self.host.clone(),
            since: self
                .since
                .as_deref()
                .map(|s| parse_time("since", s))
                .transpose()?,
            until: self
                .until
                .as_deref()
                .map(|s| parse_time("until", s))
                .transpose()?,
            limit: self.limit,
        })
    }
}

/// Runs `mamori log`.
pub fn run(args: LogArgs) -> anyhow::Result<ExitCode> {
    let data_dir = args.data_dir.resolve();
    match *args.command {
        LogCommand::Verify { json } => verify(&data_dir, json),
        LogCommand::Search { filter, output } => {
            let store = open_store(&data_dir)?;
            let events = store.search(&filter.query()?)?;
            print_events(&events, &output.format)?;
            Ok(ExitCode::SUCCESS)
        }
        LogCommand::Trail { file, output } => {
            let store = open_store(&data_dir)?;
            let events = store.trail(&file, 0)?;
            if events.is_empty() && output.format == "table" {
                eprintln!("{file}: 記録がありません / no recorded events");
                return Ok(ExitCode::from(1));
            }
            print_events(&events, &output.format)?;
            Ok(ExitCode::SUCCESS)
        }
        LogCommand::Tail {
            follow,
            lines,
            filter,
            output,
        } => {
            let mut query = filter.query()?;
            query.limit = lines;
            let store = open_store(&data_dir)?;
            let recent = if lines > 0 {
                store.search(&query)?
            } else {
                Vec::new()
            };
            print_events(&recent, &output.format)?;
            if follow {
                follow_journal(&data_dir, &query, &mut |e| {
                    print_events(std::slice::from_ref(e), &output.format)
                })?;
            }
            Ok(ExitCode::SUCCESS)
        }
        LogCommand::Export {
            filter,
            format,
            syslog,
            ca,
            follow,
        } => {
            let query = filter.query()?;
            let mut sink: EventSink = match syslog {
                Some(url) => {
                    let target = export::SyslogTarget::parse(&url, ca.as_deref())?;
                    let mut sender = export::SyslogSender::connect(&target)?;
                    Box::new(move |e| {
                        sender.send(e)?;
                        sender.flush()?;
                        Ok(())
                    })
                }
                None => {
                    let ocsf = format == "ocsf";
                    Box::new(move |e| {
                        let line = if ocsf {
                            export::to_ocsf(e).to_string()
                        } else {
                            export::to_json_line(e)
                        };
                        writeln!(std::io::stdout().lock(), "{line}")?;
                        Ok(())
                    })
                }
            };
            let store = open_store(&data_dir)?;
            for e in store.search(&query)? {
                sink(&e)?;
            }
            if follow {
                follow_journal(&data_dir, &query, &mut *sink)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        LogCommand::Ingest => {
            let mut store = SqliteStore::open(&data_dir)?;
            let stats = store.catch_up(&data_dir)?;
            println!(
                "取り込み {} 件(新規 {} 件) / ingested {} events ({} new); store holds {}",
                stats.read,
                stats.inserted,
                stats.read,
                stats.inserted,
                store.count()?
            );
            Ok(ExitCode::SUCCESS)
        }
        LogCommand::Append {
            generate,
            commit_window_ms,
        } => append(&data_dir, generate, commit_window_ms),
    }
}

fn open_store(data_dir: &std::path::Path) -> anyhow::Result<SqliteStore> {
    if !mamori_journal::journal_dir(data_dir).is_dir() {
        bail!(
            "{}: ジャーナルがありません / no journal here (record events first, or pass --data-dir)",
            data_dir.display()
        );
    }
    let mut store = SqliteStore::open(data_dir)?;
    store.catch_up(data_dir)?;
    Ok(store)
}

fn follow_journal(
    data_dir: &std::path::Path,
    query: &Query,
    sink: &mut dyn FnMut(&Event) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut reader = JournalReader::at_end(data_dir)?;
    loop {
        let mut batch = Vec::new();
        let info = reader.read_batch(10_000, &mut |r| batch.push(r.event))?;
        for e in batch.iter().filter(|e| query.matches(e)) {
            sink(e)?;
        }
        std::io::stdout().flush()?;
        if info.is_empty_batch() {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn verify(data_dir: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    let report = mamori_journal::verify(data_dir)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for note in &report.notes {
            println!("注意 / note: {} / {}", note.ja, note.en);
        }
        for r in &report.recoveries {
            println!(
                "注意 / note: {} にクラッシュ後の回復(セグメント {}、{} バイト切り詰め)/ crash recovery at {}: segment {}, {} bytes cut",
                format_time(r.time_ns),
                r.segment,
                r.bytes,
                format_time(r.time_ns),
                r.segment,
                r.bytes
            );
        }
        match &report.problem {
            None => println!(
                "正常: {} セグメント、{} 件の記録({} イベント)、署名済みチェックポイント {} 個、最後の署名は記録 {} まで / intact: {} segments, {} records ({} events), {} signed checkpoints, last signature covers record {}",
                report.segments,
                report.frames,
                report.events,
                report.checkpoints,
                report.last_checkpoint_seq,
                report.segments,
                report.frames,
                report.events,
                report.checkpoints,
                report.last_checkpoint_seq
            ),
            Some(p) => {
                println!(
                    "改ざん検出 / TAMPERING DETECTED: {} — 記録 {}(セグメント {}、オフセット {})/ record {} (segment {}, offset {})",
                    p.kind, p.seq, p.segment, p.offset, p.seq, p.segment, p.offset
                );
                println!("  {}", p.detail.ja);
                println!("  {}", p.detail.en);
            }
        }
    }
    Ok(if report.is_intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn append(
    data_dir: &std::path::Path,
    generate: Option<u64>,
    window_ms: u64,
) -> anyhow::Result<ExitCode> {
    crate::data_dir::create_private_dir(data_dir)?;
    let options = JournalOptions {
        commit_window: Duration::from_millis(window_ms),
        ..JournalOptions::default()
    };
    let journal = Journal::open(data_dir, options)?;
    let mut out = std::io::stdout().lock();
    match generate {
        Some(n) => {
            for i in 0..n {
                let e = Event::new(Operation::Read)
                    .with_path(format!("/srv/generated/{i}.txt"))
                    .with_detail(format!("generated {i}"));
                let id = journal.append_durable(e)?;
                writeln!(out, "{id}")?;
                out.flush()?;
            }
        }
        None => {
            for (n, line) in std::io::stdin().lock().lines().enumerate() {
                let line = line?;
                if line.trim().is_empty() {
                    continue;
                }
                let event: Event = serde_json::from_str(&line)
                    .with_context(|| format!("stdin line {}: not an event", n + 1))?;
                let id = journal.append_durable(event)?;
                writeln!(out, "{id}")?;
            }
        }
    }
    drop(journal);
    Ok(ExitCode::SUCCESS)
}

fn print_events(events: &[Event], format: &str) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        "json" => {
            for e in events {
                writeln!(out, "{}", export::to_json_line(e))?;
            }
        }
        "ocsf" => {
            for e in events {
                writeln!(out, "{}", export::to_ocsf(e))?;
            }
        }
        "csv" => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record([
                "id",
                "time",
                "user",
                "kind",
                "op",
                "path",
                "new_path",
                "level",
                "action",
                "channel",
                "destination",
                "findings",
                "count",
                "host",
            ])?;
            for e in events {
                w.write_record(row(e))?;
            }
            w.flush()?;
        }
        _ => {
            for e in events {
                let r = row(e);
                writeln!(
                    out,
                    "{}  {:<8} {:<10} {:<7} {:<10} {:<8} {}",
                    &r[1],
                    r[2],
                    r[4],
                    r[3],
                    r[7],
                    r[8],
                    table_what(&r)
                )?;
            }
        }
    }
    Ok(())
}

/// id, time, user, kind, op, path, new_path, level, action, channel, destination, detectors, count, host
fn row(e: &Event) -> [String; 14] {
    [
        e.id.to_string(),
        format_time(e.time_ns),
        e.user_label(),
        e.kind().to_string(),
        e.op.to_string(),
        e.path.clone().unwrap_or_default(),
        e.new_path.clone().unwrap_or_default(),
        e.level.clone().unwrap_or_default(),
        e.action().map(|a| a.to_string()).unwrap_or_default(),
        e.channel.map(|c| c.to_string()).unwrap_or_default(),
        e.destination
            .as_ref()
            .map(|d| d.summary())
            .unwrap_or_default(),
        e.findings
            .iter()
            .map(|f| {
                if f.sample.is_empty() {
                    f.detector.clone()
                } else {
                    format!("{}({})", f.detector, f.sample)
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
        e.count.to_string(),
        e.host.clone(),
    ]
}

fn table_what(r: &[String; 14]) -> String {
    let mut s = r[5].clone();
    if !r[6].is_empty() {
        s.push_str(" -> ");
        s.push_str(&r[6]);
    }
    if !r[10].is_empty() {
        s.push_str(" => ");
        s.push_str(&r[10]);
    }
    if !r[11].is_empty() {
        s.push_str("  [");
        s.push_str(&r[11]);
        s.push(']');
    }
    if r[12] != "1" {
        s.push_str(&format!("  (x{})", r[12]));
    }
    s
}
