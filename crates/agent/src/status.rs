//! Counters the agent keeps and the status file `mamori agent status` reads.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Live counters (relaxed atomics: statistics, not synchronisation).
#[derive(Debug, Default)]
pub struct Stats {
    /// Permission events read.
    pub perm_events: AtomicU64,
    /// Answered by the reader at once (own pid, helpers, not a regular file).
    pub fast_allowed: AtomicU64,
    /// Allowed after a decision.
    pub allowed: AtomicU64,
    /// Refused.
    pub denied: AtomicU64,
    /// Answered by the deadline thread.
    pub deadline_expired: AtomicU64,
    /// Answered with the queue-full verdict.
    pub queue_full: AtomicU64,
    /// Allows cached in the kernel (evictable ignore marks added).
    pub ignore_marks: AtomicU64,
    /// Notification events read.
    pub notify_events: AtomicU64,
    /// Events handed to the journal.
    pub recorded: AtomicU64,
    /// Events dropped because the audit queue was full.
    pub audit_dropped: AtomicU64,
    /// Close-writes not re-levelled because the background queue was full.
    pub writes_dropped: AtomicU64,
    /// Files quarantined by the backstop.
    pub quarantined: AtomicU64,
    /// Kernel queue overflows seen.
    pub overflows: AtomicU64,
    /// Parse errors in event buffers.
    pub parse_errors: AtomicU64,
}

impl Stats {
    /// Adds one.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// What the status file holds (JSON).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Status {
    /// The agent's pid.
    pub pid: u32,
    /// When written (ns since the epoch).
    pub time_ns: i64,
    /// The watched trees.
    pub watched: Vec<String>,
    /// The controlled mounts: `(mount point, channel, reason)`.
    pub controlled: Vec<(String, String, String)>,
    /// Per worker queue depth.
    pub queue_depths: Vec<usize>,
    /// Counters by name.
    pub counters: Vec<(String, u64)>,
    /// Level cache hits and misses.
    pub cache_hits: u64,
    /// Level cache misses.
    pub cache_misses: u64,
    /// Tainted processes and groups.
    pub tainted: (usize, usize),
    /// The policy's name and version.
    pub policy: String,
    /// Whether blocking is on (false in observe mode).
    pub enforcing: bool,
}

impl Status {
    /// Cache hit rate, 0 to 1 (0 with no lookups).
    pub fn hit_rate(&self) -> f64 {
        let total = self.cache_hits + self.cache_misses;
        if total == 0 {
            0.0
        } else {
            self.cache_hits as f64 / total as f64
        }
    }
}

impl Stats {
    /// The counters as name, value pairs.
    pub fn snapshot(&self) -> Vec<(String, u64)> {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        vec![
            ("perm_events".into(), get(&self.perm_events)),
            ("fast_allowed".into(), get(&self.fast_allowed)),
            ("allowed".into(), get(&self.allowed)),
            ("denied".into(), get(&self.denied)),
            ("deadline_expired".into(), get(&self.deadline_expired)),
            ("queue_full".into(), get(&self.queue_full)),
            ("ignore_marks".into(), get(&self.ignore_marks)),
            ("notify_events".into(), get(&self.notify_events)),
            ("recorded".into(), get(&self.recorded)),
            ("audit_dropped".into(), get(&self.audit_dropped)),
            ("writes_dropped".into(), get(&self.writes_dropped)),
            ("quarantined".into(), get(&self.quarantined)),
            ("overflows".into(), get(&self.overflows)),
            ("parse_errors".into(), get(&self.parse_errors)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_and_hit_rate() {
        let s = Status {
            pid: 5,
            cache_hits: 3,
            cache_misses: 1,
            controlled: vec![(
                "/media/usb".into(),
                "removable_media".into(),
                "configured".into(),
            )],
            ..Status::default()
        };
        let text = serde_json::to_string(&s).unwrap();
        let back: Status = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
        assert!((s.hit_rate() - 0.75).abs() < 1e-9);
        assert_eq!(Status::default().hit_rate(), 0.0);
        let stats = Stats::default();
        Stats::inc(&stats.denied);
        assert!(stats.snapshot().contains(&("denied".into(), 1)));
    }
}
