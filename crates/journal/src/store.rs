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

    /// Reads the journal under `data_dir` from the stored cursor to its end and ingests it.
    fn catch_up(&mut self, data_dir: &Path) -> Result<IngestStats, JournalError> {
        let mut reader = JournalReader::new(data_dir, self.cursor()?);
        let mut stats = IngestStats::default();
        // Big batches: random index inserts touch each page once per batch, and each commit
        // writes every dirty page to the WAL.
        const BATCH: usize = 100_000;
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            batch.clear();
            let mut frames = 0;
            loop {
                let info = reader.read_batch(BATCH - batch.len(), &mut |e| batch.push(e))?;
                frames += info.frames;
                if info.is_empty_batch() || batch.len() >= BATCH {
                    break;
                }
            }
            if frames == 0 {
                return Ok(stats);
            }
            stats.read += batch.len() as u64;
            stats.inserted += self.ingest(&batch, reader.cursor())?;
        }
    }
}

/// The SQLite store, in `DATA_DIR/store.sqlite`.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

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
CREATE INDEX IF NOT EXISTS events_kind ON events(kind, time_ns);
CREATE TABLE IF NOT EXISTS findings (
    event INTEGER NOT NULL,
    detector TEXT NOT NULL,
    sample TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS findings_detector ON findings(detector);
CREATE INDEX IF NOT EXISTS findings_sample ON findings(sample);
CREATE INDEX IF NOT EXISTS findings_event ON findings(event);
CREATE TABLE IF NOT EXISTS ingest_cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    segment INTEGER NOT NULL,
    offset INTEGER NOT NULL
);
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
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "cache_size", -262_144)?;
        conn.pragma_update(None, "wal_autocheckpoint", 16_384)?;
        conn.execute_batch(SCHEMA)?;
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

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

impl Store for SqliteStore {
    fn ingest(&mut self, events: &[ReadEvent], cursor: Cursor) -> Result<u64, JournalError> {
        let tx = self.conn.transaction()?;
        let mut inserted = 0;
        {
            let mut ev = tx.prepare_cached(
                "INSERT OR IGNORE INTO events (event_id, time_ns, kind, host, user, op, path, new_path, sha256, level, channel, action, json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?;
            let mut fi = tx.prepare_cached(
                "INSERT INTO findings (event, detector, sample) VALUES (?1, ?2, ?3)",
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
                    let rowid = tx.last_insert_rowid();
                    for f in &e.findings {
                        fi.execute(params![rowid, f.detector, f.sample])?;
                    }
                }
            }
            tx.execute(
                "INSERT INTO ingest_cursor (id, segment, offset) VALUES (1, ?1, ?2)
                 ON CONFLICT(id) DO UPDATE SET segment = excluded.segment, offset = excluded.offset",
                params![cursor.segment as i64, cursor.offset as i64],
            )?;
        }
        tx.commit()?;
        Ok(inserted)
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
        let mut clauses: Vec<String> = Vec::new();
        let mut args: Vec<Value> = Vec::new();
        let arg = |v: Value, args: &mut Vec<Value>| {
            args.push(v);
            format!("?{}", args.len())
        };
        if let Some(u) = &q.user {
            let a = arg(Value::Text(u.clone()), &mut args);
            clauses.push(format!("user = {a}"));
        }
        if let Some(f) = &q.file {
            if is_glob(f) {
                let a = arg(Value::Text(f.clone()), &mut args);
                clauses.push(format!(
                    "(path GLOB {a} OR (new_path IS NOT NULL AND new_path GLOB {a}))"
                ));
            } else {
                let a = arg(Value::Text(f.clone()), &mut args);
                clauses.push(format!(
                    "id IN (SELECT id FROM events WHERE path = {a} UNION SELECT id FROM events WHERE new_path = {a})"
                ));
            }
        }
        if let Some(op) = q.op {
            let a = arg(Value::Text(op.as_str().into()), &mut args);
            clauses.push(format!("op = {a}"));
        }
        if let Some(l) = &q.level {
            let a = arg(Value::Text(l.clone()), &mut args);
            clauses.push(format!("level = {a}"));
        }
        if let Some(k) = q.kind {
            let a = arg(Value::Integer((k == Kind::Warning) as i64), &mut args);
            clauses.push(format!("kind = {a}"));
        }
        if let Some(c) = q.channel {
            let a = arg(Value::Text(c.as_str().into()), &mut args);
            clauses.push(format!("channel = {a}"));
        }
        if let Some(h) = &q.host {
            let a = arg(Value::Text(h.clone()), &mut args);
            clauses.push(format!("host = {a}"));
        }
        if let Some(k) = &q.keyword {
            let a = arg(Value::Text(k.clone()), &mut args);
            let b = arg(Value::Text(format!("keyword.{k}")), &mut args);
            clauses.push(format!(
                "id IN (SELECT event FROM findings WHERE detector = {a} UNION SELECT event FROM findings WHERE detector = {b} UNION SELECT event FROM findings WHERE sample = {a})"
            ));
        }
        if let Some(s) = q.since {
            let a = arg(Value::Integer(s), &mut args);
            clauses.push(format!("time_ns >= {a}"));
        }
        if let Some(u) = q.until {
            let a = arg(Value::Integer(u), &mut args);
            clauses.push(format!("time_ns < {a}"));
        }
        let limit = if q.limit == 0 {
            Query::DEFAULT_LIMIT
        } else {
            q.limit
        };
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
