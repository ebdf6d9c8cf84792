//! Journal benchmark: append throughput with group commit, bytes per event, store ingest
//! throughput, and search latency over a big store. Prints a Markdown table.
//!
//! ```text
//! cargo run --release -p mamori-journal --example journal_bench -- DATA_DIR EVENTS [THREADS]
//! ```
//!
//! Appends EVENTS synthetic but realistic events (5,000 users, 200,000 files, 2 % warnings with
//! findings) into DATA_DIR (which should be empty for the append numbers), ingests them into the
//! store, then times searches. Run it on an existing DATA_DIR with EVENTS = 0 to time searches
//! only.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mamori_journal::{
    Event, FileIdentity, Journal, JournalOptions, Kind, Operation, Process, Query, SqliteStore,
    Store, User, list_segments,
};
use mamori_model::{Action, Bilingual, Category, Channel, Confidence, Decision, Finding};

/// Builds a query from a random number.
type MakeQuery = Box<dyn Fn(u64) -> Query>;

const USERS: u64 = 5_000;
const FILES: u64 = 200_000;

fn rng(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn event(i: u64, seed: &mut u64, base_ns: i64) -> Event {
    let r = rng(seed);
    let user = r % USERS;
    let file = (r >> 16) % FILES;
    let op = [
        Operation::Open,
        Operation::Read,
        Operation::Write,
        Operation::Create,
        Operation::Copy,
        Operation::Rename,
    ][((r >> 40) % 6) as usize];
    let mut e = Event::new(op)
        .with_time_ns(base_ns + i as i64 * 1_000)
        .with_host("pc-0042")
        .with_user(User {
            uid: 10_000 + user as u32,
            name: Some(format!("user{user:04}")),
        })
        .with_process(Process {
            pid: 1000 + (r % 30_000) as u32,
            exe: Some("/usr/bin/libreoffice".into()),
            ..Process::default()
        })
        .with_path(format!(
            "/srv/share/dept{}/project{}/doc{file}.docx",
            file % 20,
            file % 500
        ));
    if matches!(op, Operation::Copy | Operation::Rename) {
        e = e.with_new_path(format!("/home/user{user:04}/doc{file}-copy.docx"));
    }
    if r % 10 < 3 {
        e = e.with_file(FileIdentity {
            sha256: Some(format!("{:016x}{:048x}", file, 0)),
            size: Some(r % 1_000_000),
            ..FileIdentity::default()
        });
    }
    if r.is_multiple_of(50) {
        e = e
            .with_findings(vec![
                Finding::new("label.shagaihi", Category::Label, Confidence::High)
                    .with_sample("社外秘"),
                Finding::new(
                    format!("keyword.project{}", file % 100),
                    Category::Keyword,
                    Confidence::Medium,
                )
                .with_sample(format!("PRJ{}", file % 100)),
            ])
            .with_channel(Channel::RemovableMedia)
            .with_decision(Decision {
                action: Action::Block,
                level: "confidential".into(),
                rules: vec!["usb-block".into()],
                reason: Bilingual::new("持ち出し禁止", "not allowed"),
            });
    }
    e
}

/// CPU seconds (user + system) this process has used so far, from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| {
        f.iter().filter_map(|x| x.parse::<f64>().ok()).sum()
    });
    ticks / 100.0
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: journal_bench DATA_DIR EVENTS [THREADS]")?,
    );
    let events: u64 = args.next().unwrap_or_else(|| "1000000".into()).parse()?;
    let threads: u64 = args.next().unwrap_or_else(|| "4".into()).parse()?;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average at start: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("| measure | value |");
    println!("|---|---|");
    if events > 0 {
        let journal = Journal::open(&dir, JournalOptions::default())?;
        let base_ns = mamori_journal::now_ns() - events as i64 * 1_000;
        let started = Instant::now();
        let cpu = cpu_seconds();
        std::thread::scope(|s| {
            for t in 0..threads {
                let journal = &journal;
                s.spawn(move || {
                    let mut seed = 0x2545_F491_4F6C_DD1D ^ (t + 1);
                    let mut i = t;
                    while i < events {
                        journal
                            .append(event(i, &mut seed, base_ns))
                            .expect("append");
                        i += threads;
                    }
                });
            }
        });
        journal.flush()?;
        let elapsed = started.elapsed();
        let cpu = cpu_seconds() - cpu;
        drop(journal);
        let bytes: u64 = list_segments(&mamori_journal::journal_dir(&dir))?
            .iter()
            .map(|(_, p)| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .sum();
        println!(
            "| journal append, {threads} producer threads, group commit 2 ms + fdatasync | {:.0} events/s ({events} events in {:.2} s) |",
            events as f64 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64()
        );
        println!(
            "| journal append, per CPU-second used | {:.0} events/s |",
            events as f64 / cpu
        );
        println!(
            "| journal bytes per event (JSON frames, uncompressed) | {:.0} B |",
            bytes as f64 / events as f64
        );

        let started = Instant::now();
        let cpu = cpu_seconds();
        let mut store = SqliteStore::open(&dir)?;
        let stats = store.catch_up(&dir)?;
        let elapsed = started.elapsed();
        let cpu = cpu_seconds() - cpu;
        println!(
            "| store ingest (SQLite WAL, batches of 50,000, commits every 500,000, 6 indexes) | {:.0} events/s ({} events in {:.2} s) |",
            stats.read as f64 / elapsed.as_secs_f64(),
            stats.read,
            elapsed.as_secs_f64()
        );
        println!(
            "| store ingest, per CPU-second used | {:.0} events/s |",
            stats.read as f64 / cpu
        );
        let db = std::fs::metadata(store.path())?.len();
        println!(
            "| store bytes per event (with indexes) | {:.0} B |",
            db as f64 / stats.read.max(1) as f64
        );
    }

    let mut store = SqliteStore::open(&dir)?;
    store.catch_up(&dir)?;
    let total = store.count()?;
    println!("| events in the store | {total} |");
    let mut seed = 0xDEAD_BEEF_u64;
    let queries: Vec<(&str, MakeQuery)> = vec![
        (
            "--user",
            Box::new(|r| Query {
                user: Some(format!("user{:04}", r % USERS)),
                limit: 100,
                ..Query::default()
            }),
        ),
        (
            "--file (exact)",
            Box::new(|r| {
                let f = r % FILES;
                Query {
                    file: Some(format!(
                        "/srv/share/dept{}/project{}/doc{f}.docx",
                        f % 20,
                        f % 500
                    )),
                    limit: 100,
                    ..Query::default()
                }
            }),
        ),
        (
            "--file (glob, one project)",
            Box::new(|r| {
                let p = r % 500;
                Query {
                    file: Some(format!("/srv/share/dept{}/project{p}/*", p % 20)),
                    limit: 100,
                    ..Query::default()
                }
            }),
        ),
        (
            "--kind warning",
            Box::new(|_| Query {
                kind: Some(Kind::Warning),
                limit: 100,
                ..Query::default()
            }),
        ),
        (
            "--keyword",
            Box::new(|r| Query {
                keyword: Some(format!("project{}", r % 100)),
                limit: 100,
                ..Query::default()
            }),
        ),
        (
            "--user --since 1h",
            Box::new(|r| Query {
                user: Some(format!("user{:04}", r % USERS)),
                since: Some(mamori_journal::now_ns() - 3_600_000_000_000),
                limit: 100,
                ..Query::default()
            }),
        ),
    ];
    for (name, make) in &queries {
        let mut times = Vec::new();
        let mut hits = 0;
        for _ in 0..30 {
            let q = make(rng(&mut seed));
            let t = Instant::now();
            hits += store.search(&q)?.len();
            times.push(t.elapsed());
        }
        println!(
            "| log search {name}, limit 100 (30 queries) | p50 {:.1} ms, max {:.1} ms, {:.0} hits avg |",
            percentile(&mut times, 0.5).as_secs_f64() * 1e3,
            percentile(&mut times, 1.0).as_secs_f64() * 1e3,
            hits as f64 / 30.0
        );
    }
    let mut times = Vec::new();
    for _ in 0..30 {
        let f = rng(&mut seed) % FILES;
        let t = Instant::now();
        store.trail(
            &format!("/srv/share/dept{}/project{}/doc{f}.docx", f % 20, f % 500),
            0,
        )?;
        times.push(t.elapsed());
    }
    println!(
        "| log trail FILE (30 files) | p50 {:.1} ms, max {:.1} ms |",
        percentile(&mut times, 0.5).as_secs_f64() * 1e3,
        percentile(&mut times, 1.0).as_secs_f64() * 1e3
    );
    Ok(())
}
