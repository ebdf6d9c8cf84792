//! The store: a searchable copy of the journal. SQLite (WAL) is the embedded default; the
//! [`Store`] trait is the seam where PostgreSQL will go.
//!
//! The store is fed from the journal by event id (`INSERT OR IGNORE`), in batches, each batch in
//! one transaction together with the journal cursor it reached, so replaying the journal twice
//! stores every event once and a crash in the middle of an ingest loses nothing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mamori_model::Channel;
use rusqlite::{Connection, OptionalExtension as _, params, params_from_iter};

use crate::JournalError;
use crate::event::{Event, Kind, Operation, now_ns};
use crate::journal::{Cursor, JournalReader, ReadEvent};

/// Filters of `log search`. Every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// User name or numeric uid.
    pub user: Option<String>,
    /// A path, or a glob (`*`, `?`, `[...]`) over paths; matches the old or the new path.
    pub file: Option<String>,
    /// Operation.
    pub op: Option<Operation>,
    /// Classification level.
    pub level: Option<String>,
    /// Audit or warning.
    pub kind: Option<Kind>,
    /// A detector id (`label.shagaihi`), a keyword name (`keyword.NAME` or `NAME`) or a masked
    /// sample as recorded.
    pub keyword: Option<String>,
    /// Channel.
    pub channel: Option<Channel>,
    /// Host name.
    pub host: Option<String>,
    /// From this time (ns since the epoch), inclusive.
    pub since: Option<i64>,
    /// Until this time, exclusive.
    pub until: Option<i64>,
    /// At most this many events, the most recent ones (0: [`Query::DEFAULT_LIMIT`]).
    pub limit: usize,
}

impl Query {
    /// The number of events returned when no limit is given.
    pub const DEFAULT_LIMIT: usize = 1000;

    /// True when `event` passes every filter (used by `log tail`, which filters in memory).
    pub fn matches(&self, event: &Event) -> bool {
        if let Some(u) = &self.user {
            let ok = event
                .user
                .as_ref()
                .is_some_and(|x| x.name.as_deref() == Some(u.as_str()) || x.uid.to_string() == *u);
            if !ok {
                return false;
            }
        }
        if let Some(f) = &self.file {
            let glob = globset::Glob::new(f).map(|g| g.compile_matcher()).ok();
            let hit = |p: &Option<String>| {
                p.as_deref().is_some_and(|p| match &glob {
                    Some(g) => g.is_match(p),
                    None => p == f,
                })
            };
            if !hit(&event.path) && !hit(&event.new_path) {
                return false;
            }
        }
        if self.op.is_some_and(|op| op != event.op)
            || self.kind.is_some_and(|k| k != event.kind())
            || self.channel.is_some_and(|c| Some(c) != event.channel)
        {
            return false;
        }
        if let Some(l) = &self.level
            && event.level.as_deref() != Some(l.as_str())
        {
            return false;
        }
        if let Some(h) = &self.host
            && event.host != *h
        {
            return false;
        }
        if let Some(k) = &self.keyword {
            let alt = format!("keyword.{k}");
            if !event
                .findings
                .iter()
                .any(|f| f.detector == *k || f.detector == alt || f.sample == *k)
            {
                return false;
            }
        }
        self.since.is_none_or(|s| event.time_ns >= s)
            && self.until.is_none_or(|u| event.time_ns < u)
    }
}

/// What a catch-up did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestStats {
    /// Events read from the journal.
    pub read: u64,
    /// Events newly stored (the rest were already there).
    pub inserted: u64,
}

/// A searchable store of events.
pub trait Store {
    /// Stores events (ignoring ids already stored) and records the journal cursor reached, in one
    /// transaction. Returns how many were new.
    fn ingest(&mut self, events: &[ReadEvent], cursor: Cursor) -> Result<u64, JournalError>;
    /// The journal cursor reached so far.
    fn cursor(&self) -> Result<Cursor, JournalError>;
    /// Events matching a query, oldest first, at most the query's limit of the most recent ones.
    fn search(&self, query: &Query) -> Result<Vec<Event>, JournalError>;
    /// The life of a file and its copies: every event on the path, on paths it was renamed or
    /// copied to (or from), and on any file with the same content hash, oldest first.
    fn trail(&self, path: &str, limit: usize) -> Result<Vec<Event>, JournalError>;
    /// How many events are stored.
    fn count(&self) -> Result<u64, JournalError>;

    /// Opens one transaction for many [`Store::ingest`] calls (a catch-up). Default: none.
    fn bulk_begin(&mut self) -> Result<(), JournalError> {
        Ok(())
    }
    /// Commits what [`Store::bulk_begin`] opened.
    fn bulk_commit(&mut self) -> Result<(), JournalError> {
        Ok(())
    }
    /// Rolls back what [`Store::bulk_begin`] opened (the cursor with it, so nothing is lost:
    /// the next catch-up reads those events again).
    fn bulk_abort(&mut self) {}
    /// The catch-up is over (committed or not): give back what it needed.
    fn bulk_end(&mut self) {}

    /// Reads the journal under `data_dir` from the stored cursor to its end and ingests it.
    ///
    /// Reading (checking frames, parsing JSON) runs on a thread of its own, one batch ahead of
    /// the inserts, so the two share the machine's cores; at most two batches are in memory.
    fn catch_up(&mut self, data_dir: &Path) -> Result<IngestStats, JournalError> {
        // Big batches: random index inserts touch each page once per batch, and each commit
        // writes every dirty page to the WAL.
        const BATCH: usize = 50_000;
        let mut reader = JournalReader::new(data_dir, self.cursor()?);
        let mut stats = IngestStats::default();
        std::thread::scope(|scope| {
            let (batches, received) =
                std::sync::mpsc::sync_channel::<Result<(Vec<ReadEvent>, Cursor), JournalError>>(1);
            scope.spawn(move || {
                loop {
                    let mut batch = Vec::with_capacity(BATCH);
                    let mut frames = 0;
                    let read = loop {
                        match reader.read_batch(BATCH - batch.len(), &mut |e| batch.push(e)) {
                            Ok(info) => {
                                frames += info.frames;
                                if info.is_empty_batch() || batch.len() >= BATCH {
                                    break Ok(());
                                }
                            }
                            Err(e) => break Err(e),
                        }
                    };
                    let done = frames == 0;
                    let message = read.map(|()| (batch, reader.cursor()));
                    let failed = message.is_err();
                    // A closed channel means the inserting side failed and stopped: stop too.
                    if done || batches.send(message).is_err() || failed {
                        return;
                    }
                }
            });
            // Several batches per commit: every commit writes each page it dirtied to the WAL,
            // and random index inserts dirty about a page per event; committing every 500,000
            // events instead of every 50,000 writes each hot index page less often.
            const COMMIT_EVERY: u64 = 500_000;
            let mut uncommitted = 0;
            let run = || -> Result<(), JournalError> {
                self.bulk_begin()?;
                for message in received {
                    let (batch, cursor) = message?;
                    stats.read += batch.len() as u64;
                    stats.inserted += self.ingest(&batch, cursor)?;
                    uncommitted += batch.len() as u64;
                    if uncommitted >= COMMIT_EVERY {
                        self.bulk_commit()?;
                        self.bulk_begin()?;
                        uncommitted = 0;
                    }
                }
                self.bulk_commit()
            };
            let outcome = run();
            if outcome.is_err() {
                self.bulk_abort();
            }
            self.bulk_end();
            outcome.map(|()| stats)
        })
    }
}

/// Inserts events (each once, by event id) and moves the cursor, in the caller's transaction.
fn insert_events(
    conn: &Connection,
    events: &[ReadEvent],
    cursor: Cursor,
) -> Result<u64, JournalError> {
    let mut inserted = 0;
    let mut ev = conn.prepare_cached(
        "INSERT OR IGNORE INTO events (event_id, time_ns, kind, host, user, op, path, new_path, sha256, level, channel, action, json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?;
    let mut fi = conn.prepare_cached(
        "INSERT INTO findings (event, time_ns, detector, sample) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for read in events {
        let e = &read.event;
        let json = if read.json.is_empty() {
            std::borrow::Cow::Owned(serde_json::to_string(e).unwrap_or_default())
        } else {
            std::borrow::Cow::Borrowed(read.json.as_str())
        };
        let user = e.user.as_ref().map(|_| e.user_label());
        let n = ev.execute(params![
            e.id.0.as_bytes().as_slice(),
            e.time_ns,
            (e.kind() == Kind::Warning) as i64,
            e.host,
            user,
            e.op.as_str(),
            e.path,
            e.new_path,
            e.file.as_ref().and_then(|f| f.sha256.as_deref()),
            e.level,
            e.channel.map(|c| c.as_str()),
            e.action().map(|a| a.as_str()),
            json,
        ])?;
        if n == 1 {
            inserted += 1;
            let rowid = conn.last_insert_rowid();
            for f in &e.findings {
                fi.execute(params![rowid, e.time_ns, f.detector, f.sample])?;
            }
        }
    }
    conn.execute(
        "INSERT INTO ingest_cursor (id, segment, offset) VALUES (1, ?1, ?2)
         ON CONFLICT(id) DO UPDATE SET segment = excluded.segment, offset = excluded.offset",
        params![cursor.segment as i64, cursor.offset as i64],
    )?;
    Ok(inserted)
}

/// The SQLite store, in `DATA_DIR/store.sqlite`.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

/// SQLite's page cache for queries and small ingests, in KiB (negative: the pragma's unit).
const CACHE_KIB: i64 = -262_144;
/// The page cache during a catch-up, so that the pages a long transaction dirties stay in
/// memory until its commit (10 M events: 1.4 GB resident at the peak). Back to [`CACHE_KIB`]
/// when the catch-up ends.
const BULK_CACHE_KIB: i64 = -1_048_576;

/// The page size of a new store. 16 KiB pages instead of SQLite's 4 KiB make every index a
/// level shallower, so each insert fetches fewer pages: a 10 M-event catch-up took 150 s
/// instead of 200 s (32 KiB: 144 s, with twice the bytes read for a cold search; see
/// docs/benchmarks.md, "Store, fifth round").
const PAGE_SIZE: i64 = 16_384;
/// The WAL's size that triggers a checkpoint (64 MiB, in pages of the store's own size).
const WAL_CHECKPOINT_BYTES: i64 = 64 << 20;

/// The schema's version, in `PRAGMA user_version` (0: a new file, or a store of version 1, made
/// before versions were kept; [`MIGRATE_1_TO_2`] brings it up to date in place).
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    event_id BLOB NOT NULL UNIQUE,
    time_ns INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    host TEXT NOT NULL,
    user TEXT,
    op TEXT NOT NULL,
    path TEXT,
    new_path TEXT,
    sha256 TEXT,
    level TEXT,
    channel TEXT,
    action TEXT,
    json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_time ON events(time_ns);
CREATE INDEX IF NOT EXISTS events_user ON events(user, time_ns);
CREATE INDEX IF NOT EXISTS events_path ON events(path, time_ns);
CREATE INDEX IF NOT EXISTS events_new_path ON events(new_path) WHERE new_path IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_sha256 ON events(sha256) WHERE sha256 IS NOT NULL;
-- Warnings are a few per cent of events: index only them (an audit-only search walks the
-- time index and filters, nearly every event passing).
CREATE INDEX IF NOT EXISTS events_warning ON events(time_ns) WHERE kind = 1;
-- One row per finding, with its event's time, so that a keyword search walks the newest
-- matches first through one index and stops at the limit.
CREATE TABLE IF NOT EXISTS findings (
    event INTEGER NOT NULL,
    time_ns INTEGER NOT NULL,
    detector TEXT NOT NULL,
    sample TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS findings_detector ON findings(detector, time_ns, event);
CREATE INDEX IF NOT EXISTS findings_sample ON findings(sample, time_ns, event);
CREATE TABLE IF NOT EXISTS ingest_cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    segment INTEGER NOT NULL,
    offset INTEGER NOT NULL
);
";

/// Version 1 had no time in `findings`, indexed findings by event, which no query used, and
/// indexed every event by kind where only warnings are searched for by kind.
/// Migrating in place keeps events whose journal segments retention has already deleted.
const MIGRATE_1_TO_2: &str = "
ALTER TABLE findings ADD COLUMN time_ns INTEGER NOT NULL DEFAULT 0;
UPDATE findings SET time_ns = (SELECT time_ns FROM events WHERE events.id = findings.event);
DROP INDEX IF EXISTS findings_event;
DROP INDEX IF EXISTS events_kind;
DROP INDEX IF EXISTS findings_detector;
DROP INDEX IF EXISTS findings_sample;
";

impl SqliteStore {
    /// Opens (creating) the store of a data directory.
    pub fn open(data_dir: &Path) -> Result<SqliteStore, JournalError> {
        crate::keys::create_private_dir(data_dir)?;
        SqliteStore::open_file(&data_dir.join("store.sqlite"))
    }

    /// Opens (creating) a store at a given file.
    pub fn open_file(path: &Path) -> Result<SqliteStore, JournalError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // Takes effect only while the file is new (a store made with other pages keeps them).
        conn.pragma_update(None, "page_size", PAGE_SIZE)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "cache_size", CACHE_KIB)?;
        let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        conn.pragma_update(
            None,
            "wal_autocheckpoint",
            WAL_CHECKPOINT_BYTES / page_size.max(512),
        )?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version == 0 {
            let has_v1_findings: bool = conn
                .prepare("SELECT 1 FROM pragma_table_info('findings') WHERE name = 'event'")?
                .exists([])?;
            let has_time: bool = conn
                .prepare("SELECT 1 FROM pragma_table_info('findings') WHERE name = 'time_ns'")?
                .exists([])?;
            if has_v1_findings && !has_time {
                conn.execute_batch(&format!("BEGIN; {MIGRATE_1_TO_2} COMMIT;"))?;
            }
        } else if version > SCHEMA_VERSION {
            return Err(JournalError::Corrupt {
                path: path.to_path_buf(),
                offset: 0,
                reason: format!(
                    "the store has schema version {version}, newer than this mamori's {SCHEMA_VERSION}: upgrade mamori, or delete the store to rebuild it from the journal"
                ),
            });
        }
        conn.execute_batch(SCHEMA)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        Ok(SqliteStore {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn rows(
        &self,
        sql: &str,
        args: &[rusqlite::types::Value],
    ) -> Result<Vec<(i64, Event)>, JournalError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params_from_iter(args.iter()))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let json: String = row.get(1)?;
            match serde_json::from_str::<Event>(&json) {
                Ok(e) => out.push((id, e)),
                Err(e) => {
                    return Err(JournalError::Corrupt {
                        path: self.path.clone(),
                        offset: id as u64,
                        reason: format!("stored event {id} is not valid: {e}"),
                    });
                }
            }
        }
        Ok(out)
    }
}

impl SqliteStore {
    /// A search with a keyword: the newest findings of the detector (`K` or `keyword.K`) or
    /// with the sample `K` are walked newest first through their `(detector|sample, time_ns)`
    /// index, each joined to its event and filtered, until `limit` distinct events are found;
    /// the three walks are merged. The cost follows the matches read, not the store's size (the
    /// plan SQLite picks for one `IN (...)` query walks every event by time instead).
    fn search_keyword(
        &self,
        q: &Query,
        keyword: &str,
        limit: usize,
    ) -> Result<Vec<Event>, JournalError> {
        use rusqlite::types::Value;
        let mut found: Vec<(i64, i64, String)> = Vec::new();
        let selectors = [
            ("detector", keyword.to_string()),
            ("detector", format!("keyword.{keyword}")),
            ("sample", keyword.to_string()),
        ];
        for (column, value) in selectors {
            let mut args: Vec<Value> = Vec::new();
            let first = push_arg(Value::Text(value), &mut args);
            let mut clauses = vec![format!("f.{column} = {first}")];
            if let Some(s) = q.since {
                clauses.push(format!(
                    "f.time_ns >= {}",
                    push_arg(Value::Integer(s), &mut args)
                ));
            }
            if let Some(u) = q.until {
                clauses.push(format!(
                    "f.time_ns < {}",
                    push_arg(Value::Integer(u), &mut args)
                ));
            }
            clauses.extend(filter_clauses(q, "e.", &mut args));
            let sql = format!(
                "SELECT e.id, e.time_ns, e.json FROM findings f CROSS JOIN events e ON e.id = f.event
                 WHERE {} ORDER BY f.time_ns DESC, f.event DESC",
                clauses.join(" AND ")
            );
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let mut rows = stmt.query(params_from_iter(args.iter()))?;
            let mut ids: BTreeSet<i64> = BTreeSet::new();
            while ids.len() < limit {
                let Some(row) = rows.next()? else { break };
                let id: i64 = row.get(0)?;
                if ids.insert(id) {
                    found.push((row.get(1)?, id, row.get(2)?));
                }
            }
        }
        // Newest first over the three walks, each event once, then oldest first as returned.
        found.sort_by_key(|&(time, id, _)| std::cmp::Reverse((time, id)));
        found.dedup_by_key(|(_, id, _)| *id);
        found.truncate(limit);
        found.reverse();
        found
            .into_iter()
            .map(|(_, id, json)| {
                serde_json::from_str::<Event>(&json).map_err(|e| JournalError::Corrupt {
                    path: self.path.clone(),
                    offset: id as u64,
                    reason: format!("stored event {id} is not valid: {e}"),
                })
            })
            .collect()
    }
}

/// Adds a query argument; returns its placeholder (`?N`).
fn push_arg(value: rusqlite::types::Value, args: &mut Vec<rusqlite::types::Value>) -> String {
    args.push(value);
    format!("?{}", args.len())
}

/// The WHERE clauses of every filter but the keyword and the time range, over the events
/// table's columns written with `prefix` (`""` or `"e."`).
fn filter_clauses(q: &Query, prefix: &str, args: &mut Vec<rusqlite::types::Value>) -> Vec<String> {
    use rusqlite::types::Value;
    let p = prefix;
    let mut clauses = Vec::new();
    if let Some(u) = &q.user {
        let a = push_arg(Value::Text(u.clone()), args);
        clauses.push(format!("{p}user = {a}"));
    }
    if let Some(f) = &q.file {
        let a = push_arg(Value::Text(f.clone()), args);
        if is_glob(f) {
            clauses.push(format!(
                "({p}path GLOB {a} OR ({p}new_path IS NOT NULL AND {p}new_path GLOB {a}))"
            ));
        } else {
            clauses.push(format!(
                "{p}id IN (SELECT id FROM events WHERE path = {a} UNION SELECT id FROM events WHERE new_path = {a})"
            ));
        }
    }
    if let Some(op) = q.op {
        let a = push_arg(Value::Text(op.as_str().into()), args);
        clauses.push(format!("{p}op = {a}"));
    }
    if let Some(l) = &q.level {
        let a = push_arg(Value::Text(l.clone()), args);
        clauses.push(format!("{p}level = {a}"));
    }
    if let Some(k) = q.kind {
        // A literal, not a parameter: SQLite uses the partial index of warnings only when the
        // query names `kind = 1` itself.
        clauses.push(format!("{p}kind = {}", u8::from(k == Kind::Warning)));
    }
    if let Some(c) = q.channel {
        let a = push_arg(Value::Text(c.as_str().into()), args);
        clauses.push(format!("{p}channel = {a}"));
    }
    if let Some(h) = &q.host {
        let a = push_arg(Value::Text(h.clone()), args);
        clauses.push(format!("{p}host = {a}"));
    }
    clauses
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

impl Store for SqliteStore {
    fn ingest(&mut self, events: &[ReadEvent], cursor: Cursor) -> Result<u64, JournalError> {
        if !self.conn.is_autocommit() {
            // Inside the transaction a catch-up opened with `bulk_begin`.
            return insert_events(&self.conn, events, cursor);
        }
        let tx = self.conn.transaction()?;
        let inserted = insert_events(&tx, events, cursor)?;
        tx.commit()?;
        Ok(inserted)
    }

    fn bulk_begin(&mut self) -> Result<(), JournalError> {
        self.conn
            .pragma_update(None, "cache_size", BULK_CACHE_KIB)?;
        self.conn.execute_batch("BEGIN")?;
        Ok(())
    }

    fn bulk_commit(&mut self) -> Result<(), JournalError> {
        if !self.conn.is_autocommit() {
            self.conn.execute_batch("COMMIT")?;
        }
        Ok(())
    }

    fn bulk_end(&mut self) {
        let _ = self.conn.pragma_update(None, "cache_size", CACHE_KIB);
    }

    fn bulk_abort(&mut self) {
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }

    fn cursor(&self) -> Result<Cursor, JournalError> {
        let row = self
            .conn
            .query_row(
                "SELECT segment, offset FROM ingest_cursor WHERE id = 1",
                [],
                |r| {
                    Ok(Cursor {
                        segment: r.get::<_, i64>(0)? as u64,
                        offset: r.get::<_, i64>(1)? as u64,
                    })
                },
            )
            .optional()?;
        Ok(row.unwrap_or_default())
    }

    fn search(&self, q: &Query) -> Result<Vec<Event>, JournalError> {
        use rusqlite::types::Value;
        let limit = if q.limit == 0 {
            Query::DEFAULT_LIMIT
        } else {
            q.limit
        };
        if let Some(keyword) = &q.keyword {
            return self.search_keyword(q, keyword, limit);
        }
        let mut args: Vec<Value> = Vec::new();
        let mut clauses = filter_clauses(q, "", &mut args);
        if let Some(s) = q.since {
            clauses.push(format!(
                "time_ns >= {}",
                push_arg(Value::Integer(s), &mut args)
            ));
        }
        if let Some(u) = q.until {
            clauses.push(format!(
                "time_ns < {}",
                push_arg(Value::Integer(u), &mut args)
            ));
        }
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let sql = format!(
            "SELECT id, json FROM events {filter} ORDER BY time_ns DESC, id DESC LIMIT {limit}"
        );
        let mut rows = self.rows(&sql, &args)?;
        rows.reverse();
        Ok(rows.into_iter().map(|(_, e)| e).collect())
    }

    fn trail(&self, path: &str, limit: usize) -> Result<Vec<Event>, JournalError> {
        use rusqlite::types::Value;
        let limit = if limit == 0 { 10_000 } else { limit };
        let mut paths: BTreeSet<String> = BTreeSet::from([path.to_string()]);
        let mut hashes: BTreeSet<String> = BTreeSet::new();
        let mut seen: BTreeSet<i64> = BTreeSet::new();
        let mut events: Vec<Event> = Vec::new();
        let mut frontier_paths: Vec<String> = vec![path.to_string()];
        let mut frontier_hashes: Vec<String> = Vec::new();
        // Follow renames, copies and identical content, a bounded number of hops.
        for _ in 0..16 {
            if frontier_paths.is_empty() && frontier_hashes.is_empty() {
                break;
            }
            let mut found = Vec::new();
            for p in frontier_paths.drain(..) {
                let v = vec![Value::Text(p)];
                found.extend(self.rows(
                    &format!("SELECT id, json FROM events WHERE path = ?1 UNION SELECT id, json FROM events WHERE new_path = ?1 LIMIT {limit}"),
                    &v,
                )?);
            }
            for h in frontier_hashes.drain(..) {
                let v = vec![Value::Text(h)];
                found.extend(self.rows(
                    &format!("SELECT id, json FROM events WHERE sha256 = ?1 LIMIT {limit}"),
                    &v,
                )?);
            }
            for (id, e) in found {
                if !seen.insert(id) {
                    continue;
                }
                for p in [&e.path, &e.new_path].into_iter().flatten() {
                    if paths.insert(p.clone()) {
                        frontier_paths.push(p.clone());
                    }
                }
                if let Some(h) = e.file.as_ref().and_then(|f| f.sha256.clone())
                    && hashes.insert(h.clone())
                {
                    frontier_hashes.push(h);
                }
                events.push(e);
                if events.len() >= limit {
                    frontier_paths.clear();
                    frontier_hashes.clear();
                    break;
                }
            }
        }
        events.sort_by_key(|e| (e.time_ns, e.id));
        Ok(events)
    }

    fn count(&self) -> Result<u64, JournalError> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))?
            as u64)
    }
}

/// Parses a `--since`/`--until` value: RFC 3339 (`2026-11-23T09:00:00Z`, `...+09:00`), a date
/// (`2026-11-23`, midnight UTC), or an age before now (`30s`, `15m`, `2h`, `7d`).
pub fn parse_time(field: &'static str, text: &str) -> Result<i64, JournalError> {
    let bad = |reason: String| JournalError::Query { field, reason };
    let text = text.trim();
    if let Some((num, unit)) = text
        .char_indices()
        .last()
        .filter(|(_, c)| matches!(c, 's' | 'm' | 'h' | 'd'))
        .map(|(i, c)| (&text[..i], c))
        && let Ok(n) = num.parse::<i64>()
    {
        let secs = match unit {
            's' => n,
            'm' => n * 60,
            'h' => n * 3600,
            _ => n * 86_400,
        };
        return Ok(now_ns() - secs.saturating_mul(1_000_000_000));
    }
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return i64::try_from(ts.as_nanosecond()).map_err(|e| bad(e.to_string()));
    }
    if let Ok(date) = text.parse::<jiff::civil::Date>() {
        let ts = date
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map_err(|e| bad(e.to_string()))?
            .timestamp();
        return i64::try_from(ts.as_nanosecond()).map_err(|e| bad(e.to_string()));
    }
    Err(bad(format!(
        "{text:?} is not a time: use RFC 3339 (2026-11-23T09:00:00+09:00), a date (2026-11-23) or an age (30m, 2h, 7d) / 時刻の形式が正しくありません"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{FileIdentity, User};
    use mamori_model::{Action, Bilingual, Category, Confidence, Decision, Finding};

    fn read(event: Event, offset: u64) -> ReadEvent {
        ReadEvent {
            at: Cursor { segment: 1, offset },
            seq: offset,
            event,
            json: String::new(),
        }
    }

    fn user(name: &str) -> User {
        User {
            uid: 1000,
            name: Some(name.into()),
        }
    }

    fn sample_events() -> Vec<Event> {
        let hash = "ab".repeat(32);
        vec![
            Event::new(Operation::Create)
                .with_time_ns(1_000)
                .with_user(user("sato"))
                .with_path("/srv/plan.docx")
                .with_file(FileIdentity {
                    sha256: Some(hash.clone()),
                    ..FileIdentity::default()
                }),
            Event::new(Operation::Scan)
                .with_time_ns(2_000)
                .with_path("/srv/plan.docx")
                .with_findings(vec![
                    Finding::new("label.shagaihi", Category::Label, Confidence::High)
                        .with_sample("社外秘"),
                    Finding::new("keyword.kodama", Category::Keyword, Confidence::Medium)
                        .with_sample("KODAMA"),
                ])
                .with_level("confidential"),
            Event::new(Operation::Copy)
                .with_time_ns(3_000)
                .with_user(user("suzuki"))
                .with_path("/srv/plan.docx")
                .with_new_path("/home/suzuki/copy.docx"),
            Event::new(Operation::Rename)
                .with_time_ns(4_000)
                .with_user(user("suzuki"))
                .with_path("/home/suzuki/copy.docx")
                .with_new_path("/home/suzuki/notes.docx"),
            Event::new(Operation::Write)
                .with_time_ns(5_000)
                .with_user(user("suzuki"))
                .with_path("/media/usb/x.docx")
                .with_channel(Channel::RemovableMedia)
                .with_file(FileIdentity {
                    sha256: Some(hash),
                    ..FileIdentity::default()
                })
                .with_decision(Decision {
                    action: Action::Block,
                    level: "confidential".into(),
                    rules: vec!["no-usb".into()],
                    reason: Bilingual::new("持ち出し禁止", "not allowed"),
                }),
            Event::new(Operation::Open)
                .with_time_ns(6_000)
                .with_user(user("tanaka"))
                .with_path("/srv/other.txt"),
        ]
    }

    fn store_with_samples() -> (tempfile::TempDir, SqliteStore, Vec<Event>) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let events = sample_events();
        let reads: Vec<_> = events
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, e)| read(e, i as u64))
            .collect();
        assert_eq!(
            store
                .ingest(
                    &reads,
                    Cursor {
                        segment: 1,
                        offset: 99
                    }
                )
                .unwrap(),
            6
        );
        (dir, store, events)
    }

    fn ids(events: &[Event]) -> Vec<i64> {
        events.iter().map(|e| e.time_ns / 1000).collect()
    }

    #[test]
    fn catch_up_ingests_a_small_journal_and_only_new_events_after() {
        let dir = tempfile::tempdir().unwrap();
        let j = crate::Journal::open(dir.path(), crate::JournalOptions::default()).unwrap();
        j.append_durable(Event::new(Operation::Open)).unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let stats = store.catch_up(dir.path()).unwrap();
        assert_eq!((stats.read, stats.inserted), (1, 1));
        j.append_durable(Event::new(Operation::Open)).unwrap();
        let stats = store.catch_up(dir.path()).unwrap();
        assert_eq!((stats.read, stats.inserted), (1, 1));
        assert_eq!(store.count().unwrap(), 2);
    }

    #[test]
    fn ingest_is_idempotent_and_keeps_the_cursor() {
        let (_dir, mut store, events) = store_with_samples();
        let reads: Vec<_> = events.into_iter().map(|e| read(e, 0)).collect();
        assert_eq!(
            store
                .ingest(
                    &reads,
                    Cursor {
                        segment: 2,
                        offset: 7
                    }
                )
                .unwrap(),
            0
        );
        assert_eq!(store.count().unwrap(), 6);
        assert_eq!(
            store.cursor().unwrap(),
            Cursor {
                segment: 2,
                offset: 7
            }
        );
    }

    #[test]
    fn every_filter_selects_what_it_says() {
        let (_dir, store, events) = store_with_samples();
        let s = |q: Query| ids(&store.search(&q).unwrap());
        assert_eq!(s(Query::default()), vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(
            s(Query {
                user: Some("suzuki".into()),
                ..Query::default()
            }),
            vec![3, 4, 5]
        );
        assert_eq!(
            s(Query {
                user: Some("nobody".into()),
                ..Query::default()
            }),
            Vec::<i64>::new()
        );
        assert_eq!(
            s(Query {
                file: Some("/srv/plan.docx".into()),
                ..Query::default()
            }),
            vec![1, 2, 3]
        );
        assert_eq!(
            s(Query {
                file: Some("/home/suzuki/notes.docx".into()),
                ..Query::default()
            }),
            vec![4]
        );
        assert_eq!(
            s(Query {
                file: Some("/srv/*".into()),
                ..Query::default()
            }),
            vec![1, 2, 3, 6]
        );
        assert_eq!(
            s(Query {
                file: Some("*.docx".into()),
                ..Query::default()
            }),
            vec![1, 2, 3, 4, 5]
        );
        assert_eq!(
            s(Query {
                op: Some(Operation::Copy),
                ..Query::default()
            }),
            vec![3]
        );
        assert_eq!(
            s(Query {
                level: Some("confidential".into()),
                ..Query::default()
            }),
            vec![2, 5]
        );
        assert_eq!(
            s(Query {
                kind: Some(Kind::Warning),
                ..Query::default()
            }),
            vec![5]
        );
        assert_eq!(
            s(Query {
                kind: Some(Kind::Audit),
                ..Query::default()
            }),
            vec![1, 2, 3, 4, 6]
        );
        assert_eq!(
            s(Query {
                keyword: Some("label.shagaihi".into()),
                ..Query::default()
            }),
            vec![2]
        );
        assert_eq!(
            s(Query {
                keyword: Some("kodama".into()),
                ..Query::default()
            }),
            vec![2]
        );
        assert_eq!(
            s(Query {
                keyword: Some("社外秘".into()),
                ..Query::default()
            }),
            vec![2]
        );
        assert_eq!(
            s(Query {
                channel: Some(Channel::RemovableMedia),
                ..Query::default()
            }),
            vec![5]
        );
        assert_eq!(
            s(Query {
                since: Some(2_000),
                until: Some(4_000),
                ..Query::default()
            }),
            vec![2, 3]
        );
        assert_eq!(
            s(Query {
                limit: 2,
                ..Query::default()
            }),
            vec![5, 6]
        );
        // The in-memory filter used by `log tail` agrees with SQL on every query above.
        for q in [
            Query {
                user: Some("suzuki".into()),
                ..Query::default()
            },
            Query {
                file: Some("/srv/*".into()),
                ..Query::default()
            },
            Query {
                file: Some("/home/suzuki/notes.docx".into()),
                ..Query::default()
            },
            Query {
                keyword: Some("kodama".into()),
                ..Query::default()
            },
            Query {
                kind: Some(Kind::Warning),
                ..Query::default()
            },
            Query {
                since: Some(2_000),
                until: Some(4_000),
                ..Query::default()
            },
        ] {
            let mem: Vec<i64> = events
                .iter()
                .filter(|e| q.matches(e))
                .map(|e| e.time_ns / 1000)
                .collect();
            assert_eq!(mem, s(q.clone()), "{q:?}");
        }
    }

    #[test]
    fn keyword_search_returns_the_newest_matches_once_each_with_other_filters() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        // 50 events; every third has the label, every fifth the keyword, some both, and the
        // ones by "sato" are even-numbered.
        let events: Vec<Event> = (0..50)
            .map(|i| {
                let mut findings = Vec::new();
                if i % 3 == 0 {
                    findings.push(
                        Finding::new("label.shagaihi", Category::Label, Confidence::High)
                            .with_sample("社外秘"),
                    );
                    // Two findings of one detector in one event: the event counts once.
                    findings.push(
                        Finding::new("label.shagaihi", Category::Label, Confidence::Low)
                            .with_sample("社外秘"),
                    );
                }
                if i % 5 == 0 {
                    findings.push(
                        Finding::new("keyword.kodama", Category::Keyword, Confidence::Medium)
                            .with_sample("社外秘"),
                    );
                }
                Event::new(Operation::Scan)
                    .with_time_ns(1_000 * (i + 1))
                    .with_user(user(if i % 2 == 0 { "sato" } else { "suzuki" }))
                    .with_findings(findings)
            })
            .collect();
        let reads: Vec<_> = events
            .iter()
            .enumerate()
            .map(|(i, e)| read(e.clone(), i as u64))
            .collect();
        store.ingest(&reads, Cursor::default()).unwrap();
        let times = |q: Query| -> Vec<i64> {
            store
                .search(&q)
                .unwrap()
                .iter()
                .map(|e| e.time_ns / 1_000 - 1)
                .collect()
        };
        // "社外秘" is both a sample (of the label and the keyword) and nothing else.
        let all: Vec<i64> = (0..50).filter(|i| i % 3 == 0 || i % 5 == 0).collect();
        assert_eq!(
            times(Query {
                keyword: Some("社外秘".into()),
                ..Query::default()
            }),
            all
        );
        assert_eq!(
            times(Query {
                keyword: Some("社外秘".into()),
                limit: 4,
                ..Query::default()
            }),
            all[all.len() - 4..].to_vec()
        );
        assert_eq!(
            times(Query {
                keyword: Some("kodama".into()),
                user: Some("sato".into()),
                ..Query::default()
            }),
            vec![0, 10, 20, 30, 40]
        );
        assert_eq!(
            times(Query {
                keyword: Some("label.shagaihi".into()),
                since: Some(10_000),
                until: Some(31_000),
                limit: 3,
                ..Query::default()
            }),
            vec![21, 24, 27]
        );
    }

    #[test]
    fn a_version_1_store_is_migrated_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE events (id INTEGER PRIMARY KEY, event_id BLOB NOT NULL UNIQUE,
                    time_ns INTEGER NOT NULL, kind INTEGER NOT NULL, host TEXT NOT NULL, user TEXT,
                    op TEXT NOT NULL, path TEXT, new_path TEXT, sha256 TEXT, level TEXT,
                    channel TEXT, action TEXT, json TEXT NOT NULL);
                 CREATE TABLE findings (event INTEGER NOT NULL, detector TEXT NOT NULL, sample TEXT NOT NULL);
                 CREATE INDEX findings_detector ON findings(detector);
                 CREATE INDEX findings_sample ON findings(sample);
                 CREATE INDEX findings_event ON findings(event);
                 CREATE TABLE ingest_cursor (id INTEGER PRIMARY KEY CHECK (id = 1),
                    segment INTEGER NOT NULL, offset INTEGER NOT NULL);",
            )
            .unwrap();
            let event = Event::new(Operation::Scan).with_time_ns(7_000);
            let json = serde_json::to_string(&event).unwrap();
            conn.execute(
                "INSERT INTO events (event_id, time_ns, kind, host, op, json) VALUES (?1, 7000, 0, 'h', 'scan', ?2)",
                params![event.id.0.as_bytes().as_slice(), json],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO findings (event, detector, sample) VALUES (1, 'label.gokuhi', '極秘')",
                [],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO ingest_cursor (id, segment, offset) VALUES (1, 3, 99)",
                [],
            )
            .unwrap();
        }
        let store = SqliteStore::open_file(&path).unwrap();
        assert_eq!(
            store.cursor().unwrap(),
            Cursor {
                segment: 3,
                offset: 99
            }
        );
        let hits = store
            .search(&Query {
                keyword: Some("label.gokuhi".into()),
                ..Query::default()
            })
            .unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].time_ns, 7_000);
        drop(store);
        // Opening again is a no-op, and a store from a newer mamori is refused with a reason.
        let store = SqliteStore::open_file(&path).unwrap();
        assert_eq!(store.count().unwrap(), 1);
        drop(store);
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let err = SqliteStore::open_file(&path).unwrap_err().to_string();
        assert!(err.contains("schema version 99"), "{err}");
    }

    #[test]
    fn a_new_store_has_large_pages_and_an_old_one_keeps_its_own() {
        let pragma = |store: &SqliteStore, name: &str| -> i64 {
            store
                .conn
                .query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
                .unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(pragma(&store, "page_size"), PAGE_SIZE);
        assert_eq!(
            pragma(&store, "wal_autocheckpoint") * PAGE_SIZE,
            WAL_CHECKPOINT_BYTES
        );
        // A store made with SQLite's default pages (by an older mamori) opens, keeps them, and
        // checkpoints after the same number of bytes.
        let old = dir.path().join("old.sqlite");
        {
            let conn = Connection::open(&old).unwrap();
            conn.pragma_update(None, "journal_mode", "WAL").unwrap();
            conn.execute_batch(SCHEMA).unwrap();
        }
        let mut store = SqliteStore::open_file(&old).unwrap();
        assert_eq!(pragma(&store, "page_size"), 4_096);
        assert_eq!(
            pragma(&store, "wal_autocheckpoint") * 4_096,
            WAL_CHECKPOINT_BYTES
        );
        let event = Event::new(Operation::Scan).with_time_ns(9);
        let read = ReadEvent {
            at: Cursor::default(),
            seq: 1,
            event,
            json: String::new(),
        };
        assert_eq!(store.ingest(&[read], Cursor::default()).unwrap(), 1);
        assert_eq!(store.count().unwrap(), 1);
    }

    #[test]
    fn trail_follows_copies_renames_and_content() {
        let (_dir, store, _) = store_with_samples();
        let trail = store.trail("/srv/plan.docx", 0).unwrap();
        // create, scan, copy, rename of the copy, the blocked write of identical content.
        assert_eq!(ids(&trail), vec![1, 2, 3, 4, 5]);
        let trail = store.trail("/home/suzuki/notes.docx", 0).unwrap();
        assert_eq!(ids(&trail), vec![1, 2, 3, 4, 5]);
        assert_eq!(ids(&store.trail("/srv/other.txt", 0).unwrap()), vec![6]);
        assert!(store.trail("/nowhere", 0).unwrap().is_empty());
    }

    #[test]
    fn times_parse_in_every_documented_form() {
        assert_eq!(
            parse_time("since", "1970-01-01T00:00:01Z").unwrap(),
            1_000_000_000
        );
        assert_eq!(
            parse_time("since", "1970-01-01T09:00:01+09:00").unwrap(),
            1_000_000_000
        );
        assert_eq!(
            parse_time("since", "1970-01-02").unwrap(),
            86_400_000_000_000
        );
        let an_hour_ago = parse_time("since", "1h").unwrap();
        let delta = now_ns() - an_hour_ago;
        assert!(
            (3_599_000_000_000..3_601_000_000_000).contains(&delta),
            "{delta}"
        );
        let err = parse_time("until", "yesterday").unwrap_err();
        assert!(err.to_string().contains("--until"), "{err}");
    }
}
