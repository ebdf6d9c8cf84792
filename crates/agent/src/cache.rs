//! The level cache: a file's level, computed once and kept under the key
//! (device, inode, size, mtime, ctime), so any change to the file (content, or a label set with
//! `mamori label`, which changes ctime) misses; and a content-hash map so a copy of a classified
//! file inherits its level even where its path or label would not give it one.
//!
//! Lookups that find a computation in flight wait for it (up to a deadline) instead of starting
//! another.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use mamori_policy::LevelId;

use crate::sys::Stat;

/// What identifies one version of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileKey {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Size.
    pub size: u64,
    /// Modification time (ns).
    pub mtime_ns: i64,
    /// Change time (ns): moves with labels, permissions and links.
    pub ctime_ns: i64,
}

impl From<&std::fs::Metadata> for FileKey {
    fn from(md: &std::fs::Metadata) -> FileKey {
        use std::os::unix::fs::MetadataExt as _;
        FileKey {
            dev: md.dev(),
            ino: md.ino(),
            size: md.size(),
            mtime_ns: md.mtime() * 1_000_000_000 + md.mtime_nsec(),
            ctime_ns: md.ctime() * 1_000_000_000 + md.ctime_nsec(),
        }
    }
}

impl From<&Stat> for FileKey {
    fn from(st: &Stat) -> FileKey {
        FileKey {
            dev: st.dev,
            ino: st.ino,
            size: st.size,
            mtime_ns: st.mtime_ns,
            ctime_ns: st.ctime_ns,
        }
    }
}

/// A computed level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    /// The level.
    pub level: LevelId,
    /// The classification rule, label or copy that gave it (for the journal).
    pub why: Option<String>,
    /// SHA-256 of the content, when hashed.
    pub sha256: Option<[u8; 32]>,
}

#[derive(Debug)]
enum Slot {
    Pending(Instant),
    Ready(Known),
}

/// What [`LevelCache::begin`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Known.
    Hit(Known),
    /// Unknown and nobody computes it: the caller must, then call [`LevelCache::put`] or
    /// [`LevelCache::abandon`].
    Compute,
    /// Someone computes it: [`LevelCache::wait`].
    InFlight,
}

/// The cache. Shared between threads.
#[derive(Debug)]
pub struct LevelCache {
    files: Mutex<HashMap<FileKey, Slot>>,
    ready: Condvar,
    hashes: Mutex<HashMap<[u8; 32], LevelId>>,
    capacity: usize,
    /// Lookups answered from the cache.
    pub hits: AtomicU64,
    /// Lookups that had to compute or wait.
    pub misses: AtomicU64,
}

/// A pending computation older than this is taken over by the next lookup (its computer died or
/// was abandoned).
const STALE_PENDING: Duration = Duration::from_secs(60);

impl LevelCache {
    /// A cache of at most `capacity` files (it is cleared when full: simple, bounded).
    pub fn new(capacity: usize) -> LevelCache {
        LevelCache {
            files: Mutex::new(HashMap::new()),
            ready: Condvar::new(),
            hashes: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Looks `key` up; on a miss, marks it in flight for the caller to compute.
    pub fn begin(&self, key: FileKey, now: Instant) -> Lookup {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        match files.get(&key) {
            Some(Slot::Ready(k)) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Lookup::Hit(k.clone())
            }
            Some(Slot::Pending(since)) if now.duration_since(*since) < STALE_PENDING => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                Lookup::InFlight
            }
            _ => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                if files.len() >= self.capacity {
                    files.retain(|_, s| matches!(s, Slot::Pending(_)));
                    files.shrink_to(self.capacity / 4);
                }
                files.insert(key, Slot::Pending(now));
                Lookup::Compute
            }
        }
    }

    /// The level of `key` if known, without starting anything.
    pub fn peek(&self, key: &FileKey) -> Option<Known> {
        match self
            .files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
        {
            Some(Slot::Ready(k)) => Some(k.clone()),
            _ => None,
        }
    }

    /// Waits up to `timeout` for `key` to be computed.
    pub fn wait(&self, key: &FileKey, timeout: Duration) -> Option<Known> {
        let deadline = Instant::now() + timeout;
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match files.get(key) {
                Some(Slot::Ready(k)) => return Some(k.clone()),
                Some(Slot::Pending(_)) => {}
                None => return None,
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            files = self
                .ready
                .wait_timeout(files, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Stores a computed level, and, for content above `default`, its hash.
    pub fn put(&self, key: FileKey, known: Known, default: LevelId) {
        if let Some(hash) = known.sha256
            && known.level > default
        {
            let mut hashes = self.hashes.lock().unwrap_or_else(|e| e.into_inner());
            if hashes.len() >= self.capacity {
                hashes.clear();
            }
            let entry = hashes.entry(hash).or_insert(known.level);
            *entry = (*entry).max(known.level);
        }
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        files.insert(key, Slot::Ready(known));
        drop(files);
        self.ready.notify_all();
    }

    /// Gives up computing `key` (an error reading it): waiters return `None`.
    pub fn abandon(&self, key: &FileKey) {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(files.get(key), Some(Slot::Pending(_))) {
            files.remove(key);
        }
        drop(files);
        self.ready.notify_all();
    }

    /// The level a classified file with this content had, if any.
    pub fn inherited(&self, sha256: &[u8; 32]) -> Option<LevelId> {
        self.hashes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(sha256)
            .copied()
    }

    /// The content hashes of classified files and their levels (to keep across restarts).
    pub fn classified_hashes(&self) -> Vec<([u8; 32], LevelId)> {
        let hashes = self.hashes.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<_> = hashes.iter().map(|(h, l)| (*h, *l)).collect();
        out.sort_unstable();
        out
    }

    /// Remembers that content with `sha256` was classified `level` (a saved hash loaded at
    /// start); the higher level wins, and the map stays within its capacity.
    pub fn remember(&self, sha256: [u8; 32], level: LevelId) {
        let mut hashes = self.hashes.lock().unwrap_or_else(|e| e.into_inner());
        if hashes.len() >= self.capacity && !hashes.contains_key(&sha256) {
            return;
        }
        let entry = hashes.entry(sha256).or_insert(level);
        *entry = (*entry).max(level);
    }

    /// Forgets everything (policy reload).
    pub fn clear(&self) {
        self.files.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.hashes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.ready.notify_all();
    }

    /// Number of files and hashes known.
    pub fn len(&self) -> (usize, usize) {
        (
            self.files.lock().unwrap_or_else(|e| e.into_inner()).len(),
            self.hashes.lock().unwrap_or_else(|e| e.into_inner()).len(),
        )
    }

    /// Nothing cached.
    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }
}

/// First line of the saved hashes file.
pub const HASHES_HEADER: &str = "# mamori agent: content hashes of classified files (sha256 level)";

/// The saved form of [`LevelCache::classified_hashes`]: a header, then `SHA256-HEX LEVEL-ID` per
/// line. Level ids, not numbers, so a changed policy maps them by name.
pub fn format_hashes(hashes: &[([u8; 32], LevelId)], policy: &mamori_policy::Policy) -> String {
    let mut out = String::with_capacity(HASHES_HEADER.len() + 1 + hashes.len() * 80);
    out.push_str(HASHES_HEADER);
    out.push('\n');
    for (hash, level) in hashes {
        out.push_str(&hex::encode(hash));
        out.push(' ');
        out.push_str(&policy.level(*level).id);
        out.push('\n');
    }
    out
}

/// Reads what [`format_hashes`] wrote. Lines that do not parse, or name a level the policy no
/// longer has, are skipped and reported as `line N: why` (the caller names the file).
pub fn parse_hashes(
    text: &str,
    policy: &mamori_policy::Policy,
) -> (Vec<([u8; 32], LevelId)>, Vec<String>) {
    let mut hashes = Vec::new();
    let mut problems = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_ascii_whitespace();
        let (Some(hash), Some(level), None) = (fields.next(), fields.next(), fields.next()) else {
            problems.push(format!("line {}: expected `SHA256 LEVEL`", n + 1));
            continue;
        };
        let mut bytes = [0u8; 32];
        if hex::decode_to_slice(hash, &mut bytes).is_err() {
            problems.push(format!("line {}: not a SHA-256 in hex", n + 1));
            continue;
        }
        match policy.level_id(level) {
            Some(id) => hashes.push((bytes, id)),
            None => problems.push(format!("line {}: no level `{level}` in the policy", n + 1)),
        }
    }
    (hashes, problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn levels() -> (LevelId, LevelId) {
        let p = mamori_policy::Policy::default_policy();
        (p.default_level(), p.level_id("secret").unwrap())
    }

    fn key(ino: u64) -> FileKey {
        FileKey {
            dev: 1,
            ino,
            size: 10,
            mtime_ns: 5,
            ctime_ns: 6,
        }
    }

    #[test]
    fn classified_hashes_survive_a_round_trip_through_the_saved_file() {
        let policy = mamori_policy::Policy::default_policy();
        let (public, secret) = levels();
        let c = LevelCache::new(100);
        for (ino, level, hash) in [(1, secret, [7u8; 32]), (2, public, [8u8; 32])] {
            c.put(
                key(ino),
                Known {
                    level,
                    why: None,
                    sha256: Some(hash),
                },
                public,
            );
        }
        let saved = format_hashes(&c.classified_hashes(), &policy);
        assert_eq!(
            saved.lines().count(),
            2,
            "public content is not kept: {saved}"
        );
        let fresh = LevelCache::new(100);
        let (hashes, problems) = parse_hashes(&saved, &policy);
        assert!(problems.is_empty(), "{problems:?}");
        for (h, l) in hashes {
            fresh.remember(h, l);
        }
        assert_eq!(fresh.inherited(&[7u8; 32]), Some(secret));
        assert_eq!(fresh.inherited(&[8u8; 32]), None);
        let damaged = format!(
            "{saved}zz {}\n{} no-such-level\n{} secret extra\n",
            "0".repeat(64),
            "1".repeat(64),
            "2".repeat(64)
        );
        let (hashes, problems) = parse_hashes(&damaged, &policy);
        assert_eq!(hashes.len(), 1);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("line 3:"), "{problems:?}");
        assert!(problems[1].contains("no-such-level"), "{problems:?}");
        // A full map takes no more.
        let tiny = LevelCache::new(1);
        tiny.remember([1; 32], secret);
        tiny.remember([2; 32], secret);
        assert_eq!(tiny.len().1, 1);
    }

    #[test]
    fn any_change_of_the_key_misses() {
        let (public, secret) = levels();
        let c = LevelCache::new(100);
        let now = Instant::now();
        assert_eq!(c.begin(key(1), now), Lookup::Compute);
        assert_eq!(c.begin(key(1), now), Lookup::InFlight);
        let known = Known {
            level: secret,
            why: Some("rule".into()),
            sha256: None,
        };
        c.put(key(1), known.clone(), public);
        assert_eq!(c.begin(key(1), now), Lookup::Hit(known));
        for changed in [
            FileKey { size: 11, ..key(1) },
            FileKey {
                mtime_ns: 7,
                ..key(1)
            },
            FileKey {
                ctime_ns: 7,
                ..key(1)
            },
            FileKey { dev: 2, ..key(1) },
            key(2),
        ] {
            assert_eq!(c.begin(changed, now), Lookup::Compute, "{changed:?}");
        }
        assert_eq!(c.hits.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn copies_inherit_by_hash_only_when_classified() {
        let (public, secret) = levels();
        let c = LevelCache::new(100);
        c.put(
            key(1),
            Known {
                level: secret,
                why: None,
                sha256: Some([7; 32]),
            },
            public,
        );
        c.put(
            key(2),
            Known {
                level: public,
                why: None,
                sha256: Some([8; 32]),
            },
            public,
        );
        assert_eq!(c.inherited(&[7; 32]), Some(secret));
        assert_eq!(c.inherited(&[8; 32]), None);
        // A lower level later does not lower the hash's level.
        c.put(
            key(3),
            Known {
                level: public,
                why: None,
                sha256: Some([7; 32]),
            },
            public,
        );
        assert_eq!(c.inherited(&[7; 32]), Some(secret));
    }

    #[test]
    fn waiters_get_the_result_or_nothing() {
        let (public, secret) = levels();
        let c = Arc::new(LevelCache::new(100));
        assert_eq!(c.begin(key(1), Instant::now()), Lookup::Compute);
        let c2 = Arc::clone(&c);
        let waiter = std::thread::spawn(move || c2.wait(&key(1), Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(20));
        c.put(
            key(1),
            Known {
                level: secret,
                why: None,
                sha256: None,
            },
            public,
        );
        assert_eq!(waiter.join().unwrap().unwrap().level, secret);
        // Abandoned: the waiter is released with None.
        assert_eq!(c.begin(key(9), Instant::now()), Lookup::Compute);
        let c3 = Arc::clone(&c);
        let waiter = std::thread::spawn(move || c3.wait(&key(9), Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(20));
        c.abandon(&key(9));
        assert_eq!(waiter.join().unwrap(), None);
        // Timeout.
        assert_eq!(c.begin(key(10), Instant::now()), Lookup::Compute);
        assert_eq!(c.wait(&key(10), Duration::from_millis(10)), None);
    }

    #[test]
    fn stale_pending_is_taken_over_and_capacity_bounds() {
        let (public, _) = levels();
        let c = LevelCache::new(3);
        let t0 = Instant::now();
        assert_eq!(c.begin(key(1), t0), Lookup::Compute);
        assert_eq!(
            c.begin(key(1), t0 + STALE_PENDING + Duration::from_secs(1)),
            Lookup::Compute
        );
        for i in 2..10 {
            c.put(
                key(i),
                Known {
                    level: public,
                    why: None,
                    sha256: None,
                },
                public,
            );
            let _ = c.begin(key(100 + i), t0);
        }
        assert!(c.len().0 <= 12);
        c.clear();
        assert!(c.is_empty());
    }
}
