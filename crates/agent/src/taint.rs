//! Process taint: a process that opened classified content carries that content's level, and so
//! does its process group (a pipeline `tar c secret | tar x -C /media/usb`, rsync's sender and
//! receiver, a shell and its children). Pure: no I/O, time passed in.
//!
//! A process is identified by its pid *and* its start time, so a recycled pid does not inherit a
//! dead process's taint. A process group's taint lasts until the group is gone (the caller asks
//! [`TaintTable::retain`] with what `/proc` says) or [`TaintTable::max_group_age`] has passed
//! since it was last refreshed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use mamori_policy::LevelId;

/// Who a process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProcessKey {
    /// Process id.
    pub pid: u32,
    /// Start time (clock ticks after boot, `/proc/PID/stat` field 22).
    pub start: u64,
    /// Process group.
    pub pgid: u32,
}

/// Why a process is tainted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taint {
    /// The highest level of content it opened.
    pub level: LevelId,
    /// The file that gave it that level.
    pub source: String,
    /// When it was last set or raised.
    pub at: Instant,
}

/// The taints of live processes and groups.
#[derive(Debug)]
pub struct TaintTable {
    by_pid: HashMap<u32, (u64, Taint)>,
    by_group: HashMap<u32, Taint>,
    /// A group taint older than this is dropped even if the group lives on (a login shell's
    /// group would otherwise stay tainted for the whole session).
    pub max_group_age: Duration,
    /// Most entries kept per map; beyond it the oldest are dropped (bounded memory).
    pub max_entries: usize,
}

impl Default for TaintTable {
    fn default() -> Self {
        TaintTable::new(Duration::from_secs(3600))
    }
}

impl TaintTable {
    /// An empty table.
    pub fn new(max_group_age: Duration) -> TaintTable {
        TaintTable {
            by_pid: HashMap::new(),
            by_group: HashMap::new(),
            max_group_age,
            max_entries: 1 << 20,
        }
    }

    /// Records that `process` opened content of `level` (from `source`). A taint only rises.
    pub fn taint(&mut self, process: ProcessKey, level: LevelId, source: &str, now: Instant) {
        let fresh = Taint {
            level,
            source: source.to_owned(),
            at: now,
        };
        match self.by_pid.get_mut(&process.pid) {
            Some((start, t)) if *start == process.start => raise(t, &fresh),
            _ => {
                self.by_pid
                    .insert(process.pid, (process.start, fresh.clone()));
            }
        }
        if process.pgid != 0 {
            match self.by_group.get_mut(&process.pgid) {
                Some(t) if now.duration_since(t.at) <= self.max_group_age => raise(t, &fresh),
                _ => {
                    self.by_group.insert(process.pgid, fresh);
                }
            }
        }
        self.bound();
    }

    /// The taint `process` carries: its own or its group's, whichever is higher.
    pub fn lookup(&self, process: ProcessKey, now: Instant) -> Option<&Taint> {
        let own = self
            .by_pid
            .get(&process.pid)
            .filter(|(start, _)| *start == process.start)
            .map(|(_, t)| t);
        let group = self
            .by_group
            .get(&process.pgid)
            .filter(|t| process.pgid != 0 && now.duration_since(t.at) <= self.max_group_age);
        match (own, group) {
            (Some(a), Some(b)) => Some(if b.level > a.level { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    /// Keeps only the entries of live processes and groups (`pid_alive(pid, start)`,
    /// `group_alive(pgid)`) and group taints younger than the maximum age.
    pub fn retain(
        &mut self,
        now: Instant,
        mut pid_alive: impl FnMut(u32, u64) -> bool,
        mut group_alive: impl FnMut(u32) -> bool,
    ) {
        self.by_pid
            .retain(|pid, (start, _)| pid_alive(*pid, *start));
        let max = self.max_group_age;
        self.by_group
            .retain(|pgid, t| now.duration_since(t.at) <= max && group_alive(*pgid));
    }

    /// Forgets everything (a policy reload with other levels).
    pub fn clear(&mut self) {
        self.by_pid.clear();
        self.by_group.clear();
    }

    /// Number of tainted processes and groups.
    pub fn len(&self) -> (usize, usize) {
        (self.by_pid.len(), self.by_group.len())
    }

    /// No taint at all.
    pub fn is_empty(&self) -> bool {
        self.by_pid.is_empty() && self.by_group.is_empty()
    }

    fn bound(&mut self) {
        if self.by_pid.len() > self.max_entries {
            let oldest = self.by_pid.values().map(|(_, t)| t.at).min();
            if let Some(oldest) = oldest {
                self.by_pid.retain(|_, (_, t)| t.at > oldest);
            }
        }
        if self.by_group.len() > self.max_entries {
            let oldest = self.by_group.values().map(|t| t.at).min();
            if let Some(oldest) = oldest {
                self.by_group.retain(|_, t| t.at > oldest);
            }
        }
    }
}

fn raise(current: &mut Taint, fresh: &Taint) {
    if fresh.level >= current.level {
        current.level = fresh.level;
        current.source = fresh.source.clone();
    }
    current.at = fresh.at;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels() -> (LevelId, LevelId, LevelId) {
        let p = mamori_policy::Policy::default_policy();
        (
            p.level_id("internal").unwrap(),
            p.level_id("secret").unwrap(),
            p.level_id("top_secret").unwrap(),
        )
    }

    fn key(pid: u32, start: u64, pgid: u32) -> ProcessKey {
        ProcessKey { pid, start, pgid }
    }

    #[test]
    fn process_and_group_are_tainted() {
        let (internal, secret, _) = levels();
        let now = Instant::now();
        let mut t = TaintTable::default();
        assert!(t.lookup(key(10, 1, 10), now).is_none());
        t.taint(key(10, 1, 10), internal, "/srv/a", now);
        assert_eq!(t.lookup(key(10, 1, 10), now).unwrap().level, internal);
        // A sibling in the same group (the other end of a pipe).
        assert_eq!(t.lookup(key(11, 5, 10), now).unwrap().source, "/srv/a");
        // Another group: clean.
        assert!(t.lookup(key(12, 5, 12), now).is_none());
        // Raising: secret replaces internal, a later internal does not lower it.
        t.taint(key(11, 5, 10), secret, "/srv/b", now);
        t.taint(key(10, 1, 10), internal, "/srv/c", now);
        assert_eq!(t.lookup(key(10, 1, 10), now).unwrap().level, secret);
        assert_eq!(t.lookup(key(10, 1, 10), now).unwrap().source, "/srv/b");
    }

    #[test]
    fn recycled_pid_is_clean() {
        let (internal, _, _) = levels();
        let now = Instant::now();
        let mut t = TaintTable::default();
        t.taint(key(10, 1, 10), internal, "/srv/a", now);
        // Same pid, other start time, other group.
        assert!(t.lookup(key(10, 2, 20), now).is_none());
        // The new process gets its own taint, replacing the stale one.
        t.taint(key(10, 2, 20), internal, "/srv/x", now);
        assert_eq!(t.lookup(key(10, 2, 20), now).unwrap().source, "/srv/x");
        assert!(t.lookup(key(10, 1, 99), now).is_none());
    }

    #[test]
    fn pgid_zero_never_shares() {
        let (internal, _, _) = levels();
        let now = Instant::now();
        let mut t = TaintTable::default();
        t.taint(key(10, 1, 0), internal, "/srv/a", now);
        assert!(t.lookup(key(11, 1, 0), now).is_none());
        assert!(t.lookup(key(10, 1, 0), now).is_some());
    }

    #[test]
    fn group_taint_ages_out_and_dead_entries_go() {
        let (internal, _, top) = levels();
        let t0 = Instant::now();
        let mut t = TaintTable::new(Duration::from_secs(60));
        t.taint(key(10, 1, 10), internal, "/srv/a", t0);
        t.taint(key(20, 1, 20), top, "/srv/t", t0);
        let later = t0 + Duration::from_secs(61);
        // The process's own taint stays while it lives; the group's has aged out.
        assert!(t.lookup(key(10, 1, 10), later).is_some());
        assert!(t.lookup(key(11, 1, 10), later).is_none());
        t.retain(later, |pid, _| pid == 20, |_| true);
        assert!(t.lookup(key(10, 1, 10), later).is_none());
        assert_eq!(t.lookup(key(20, 1, 20), later).unwrap().level, top);
        assert_eq!(t.len(), (1, 0));
        t.retain(t0, |_, _| true, |_| false);
        t.clear();
        assert!(t.is_empty());
    }

    #[test]
    fn bounded() {
        let (internal, _, _) = levels();
        let t0 = Instant::now();
        let mut t = TaintTable {
            max_entries: 100,
            ..TaintTable::default()
        };
        for i in 0..1000u32 {
            t.taint(
                key(i, 1, i),
                internal,
                "/x",
                t0 + Duration::from_millis(u64::from(i)),
            );
        }
        let (p, g) = t.len();
        assert!(p <= 101 && g <= 101, "{p} {g}");
        // The newest survives.
        assert!(
            t.lookup(key(999, 1, 999), t0 + Duration::from_secs(1))
                .is_some()
        );
    }
}
