//! Noise control: repeated identical events are folded into one.
//!
//! The first occurrence of an event is journalled at once (warnings must not wait). Repetitions
//! of it within the window, "identical" meaning the same process, operation, paths and action,
//! are only counted; when the window closes, one summary event is journalled with the count, the
//! first and last time and the id of the first occurrence (`repeat_of`). A process reading the
//! same file 1,000 times in a second leaves two events instead of 1,000.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use mamori_model::Action;

use crate::event::{Event, EventId, Operation};

/// How folding works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoldOptions {
    /// How long repetitions are collected after the first occurrence.
    pub window: Duration,
    /// At most this many distinct events are tracked at once; beyond it events pass unfolded
    /// (bounded memory).
    pub max_keys: usize,
}

impl Default for FoldOptions {
    fn default() -> Self {
        FoldOptions {
            window: Duration::from_secs(10),
            max_keys: 65_536,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    pid: Option<u32>,
    uid: Option<u32>,
    op: Operation,
    path: Option<String>,
    new_path: Option<String>,
    action: Option<Action>,
    level: Option<String>,
}

impl Key {
    fn of(event: &Event) -> Key {
        Key {
            pid: event.process.as_ref().map(|p| p.pid),
            uid: event.user.as_ref().map(|u| u.uid),
            op: event.op,
            path: event.path.clone(),
            new_path: event.new_path.clone(),
            action: event.action(),
            level: event.level.clone(),
        }
    }
}

#[derive(Debug)]
struct Slot {
    opened: Instant,
    first: Event,
    repeats: u64,
    last_time_ns: i64,
}

/// Administrative events (Mamori's own start, stop and reconfiguration, policy and key
/// changes) and mounts and devices are rare, and each one is evidence of its own: two reloads a
/// second apart must stay two events, with their own details. Folding is for file noise.
fn foldable(op: Operation) -> bool {
    !matches!(
        op,
        Operation::Service
            | Operation::PolicyChange
            | Operation::KeyChange
            | Operation::Mount
            | Operation::Device
    )
}

/// What to do with an offered event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Journal it.
    Pass,
    /// Counted as a repetition of the event with this id; do not journal it.
    Folded(EventId),
}

/// Folds repetitions. Pure apart from the `Instant`s handed to it, which must not go backwards
/// (they are `Instant::now()` in the journal).
#[derive(Debug)]
pub struct Folder {
    options: FoldOptions,
    slots: HashMap<Key, Slot>,
    /// Slots in the order their windows opened, so the journal's writer finds the windows to
    /// close from the front instead of scanning every slot at each commit (which, with tens of
    /// thousands of files touched in a window, was a visible share of the agent's time). An
    /// entry whose slot was replaced since is stale and skipped.
    order: VecDeque<(Instant, Key)>,
}

impl Folder {
    /// A folder with these options.
    pub fn new(options: FoldOptions) -> Folder {
        Folder {
            options,
            slots: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The window.
    pub fn window(&self) -> Duration {
        self.options.window
    }

    /// Offers an event happening now.
    pub fn offer(&mut self, event: &Event) -> Offer {
        self.offer_at(event, Instant::now())
    }

    /// Offers an event at a given instant (for tests).
    pub fn offer_at(&mut self, event: &Event, now: Instant) -> Offer {
        if event.count != 1 || event.repeat_of.is_some() {
            return Offer::Pass; // already a summary
        }
        if !foldable(event.op) {
            return Offer::Pass;
        }
        let key = Key::of(event);
        if let Some(slot) = self.slots.get_mut(&key)
            && now.duration_since(slot.opened) < self.options.window
        {
            slot.repeats += 1;
            slot.last_time_ns = slot.last_time_ns.max(event.time_ns);
            return Offer::Folded(slot.first.id);
        }
        if self.slots.len() >= self.options.max_keys && !self.slots.contains_key(&key) {
            return Offer::Pass;
        }
        // A slot whose window has closed is replaced; its summary, if any, comes from expire().
        if let Some(old) = self.slots.get(&key)
            && old.repeats > 0
        {
            return Offer::Pass;
        }
        self.order.push_back((now, key.clone()));
        self.slots.insert(
            key,
            Slot {
                opened: now,
                first: event.clone(),
                repeats: 0,
                last_time_ns: event.time_ns,
            },
        );
        Offer::Pass
    }

    /// True when some window has closed.
    pub fn due(&self, now: Instant) -> bool {
        self.order
            .front()
            .is_some_and(|(opened, _)| now.duration_since(*opened) >= self.options.window)
    }

    /// Closes the windows that are over and returns one summary per folded repetition group.
    pub fn expire(&mut self, now: Instant) -> Vec<Event> {
        let window = self.options.window;
        let mut out = Vec::new();
        while let Some((opened, _)) = self.order.front()
            && now.duration_since(*opened) >= window
        {
            let Some((opened, key)) = self.order.pop_front() else {
                break;
            };
            // Stale: the slot was replaced by a later window (its own entry comes later).
            if self
                .slots
                .get(&key)
                .is_none_or(|slot| slot.opened != opened)
            {
                continue;
            }
            if let Some(slot) = self.slots.remove(&key)
                && slot.repeats > 0
            {
                out.push(summary(&slot));
            }
        }
        out.sort_by_key(|e| e.time_ns);
        out
    }

    /// Closes every window (at shutdown).
    pub fn drain(&mut self) -> Vec<Event> {
        self.order.clear();
        let mut out: Vec<Event> = self
            .slots
            .drain()
            .filter(|(_, s)| s.repeats > 0)
            .map(|(_, s)| summary(&s))
            .collect();
        out.sort_by_key(|e| e.time_ns);
        out
    }
}

fn summary(slot: &Slot) -> Event {
    let mut event = slot.first.clone();
    event.repeat_of = Some(slot.first.id);
    event.id = EventId::new();
    event.count = slot.repeats;
    event.last_time_ns = Some(slot.last_time_ns);
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Process;

    fn read(pid: u32, path: &str, t: i64) -> Event {
        Event::new(Operation::Read)
            .with_process(Process {
                pid,
                ..Process::default()
            })
            .with_path(path)
            .with_time_ns(t)
    }

    #[test]
    fn thousand_reads_become_two_events() {
        let mut folder = Folder::new(FoldOptions {
            window: Duration::from_secs(10),
            max_keys: 10,
        });
        let t0 = Instant::now();
        let first = read(7, "/a", 100);
        assert_eq!(folder.offer_at(&first, t0), Offer::Pass);
        for i in 1..1000 {
            assert_eq!(
                folder.offer_at(
                    &read(7, "/a", 100 + i),
                    t0 + Duration::from_millis(i as u64)
                ),
                Offer::Folded(first.id)
            );
        }
        assert!(!folder.due(t0 + Duration::from_secs(9)));
        assert!(folder.expire(t0 + Duration::from_secs(9)).is_empty());
        assert!(folder.due(t0 + Duration::from_secs(10)));
        let out = folder.expire(t0 + Duration::from_secs(10));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].count, 999);
        assert_eq!(out[0].time_ns, 100);
        assert_eq!(out[0].last_time_ns, Some(1099));
        assert_eq!(out[0].repeat_of, Some(first.id));
        assert_ne!(out[0].id, first.id);
        // After the window a new occurrence passes again.
        assert_eq!(
            folder.offer_at(&read(7, "/a", 5000), t0 + Duration::from_secs(11)),
            Offer::Pass
        );
    }

    #[test]
    fn a_replaced_window_closes_at_its_own_time() {
        let mut folder = Folder::new(FoldOptions::default());
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        assert_eq!(folder.offer_at(&read(1, "/a", 1), t0), Offer::Pass);
        assert_eq!(folder.offer_at(&read(1, "/b", 2), t0 + s), Offer::Pass);
        // /a's first window closed without repeats: a new one opens at 11 s.
        let second = read(1, "/a", 3);
        assert_eq!(folder.offer_at(&second, t0 + 11 * s), Offer::Pass);
        assert_eq!(
            folder.offer_at(&read(1, "/a", 4), t0 + 12 * s),
            Offer::Folded(second.id)
        );
        // At 15 s the stale entry for /a and /b's window go; /a's second window stays open.
        assert!(folder.due(t0 + 15 * s));
        assert!(folder.expire(t0 + 15 * s).is_empty());
        assert!(!folder.due(t0 + 15 * s));
        let out = folder.expire(t0 + 21 * s);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].count, out[0].repeat_of), (1, Some(second.id)));
        assert!(!folder.due(t0 + 100 * s));
    }

    #[test]
    fn administrative_events_are_never_folded() {
        let mut folder = Folder::new(FoldOptions::default());
        let t0 = Instant::now();
        for op in [
            Operation::Service,
            Operation::PolicyChange,
            Operation::KeyChange,
            Operation::Mount,
            Operation::Device,
        ] {
            for i in 0..3 {
                let e = Event::new(op).with_detail(format!("reload {i}"));
                assert_eq!(folder.offer_at(&e, t0), Offer::Pass, "{op:?}");
            }
        }
        assert!(folder.drain().is_empty());
        // File noise still folds.
        let first = read(1, "/a", 1);
        assert_eq!(folder.offer_at(&first, t0), Offer::Pass);
        assert_eq!(
            folder.offer_at(&read(1, "/a", 2), t0),
            Offer::Folded(first.id)
        );
    }

    #[test]
    fn different_process_path_or_action_is_not_folded() {
        let mut folder = Folder::new(FoldOptions::default());
        let t0 = Instant::now();
        assert_eq!(folder.offer_at(&read(1, "/a", 1), t0), Offer::Pass);
        assert_eq!(folder.offer_at(&read(2, "/a", 2), t0), Offer::Pass);
        assert_eq!(folder.offer_at(&read(1, "/b", 3), t0), Offer::Pass);
        let write = read(1, "/a", 4);
        let write = Event {
            op: Operation::Write,
            ..write
        };
        assert_eq!(folder.offer_at(&write, t0), Offer::Pass);
        // Nothing repeated: nothing to summarise.
        assert!(folder.drain().is_empty());
    }

    #[test]
    fn memory_is_bounded() {
        let mut folder = Folder::new(FoldOptions {
            window: Duration::from_secs(10),
            max_keys: 3,
        });
        let t0 = Instant::now();
        for i in 0..100 {
            assert_eq!(folder.offer_at(&read(i, "/a", 1), t0), Offer::Pass);
        }
        assert_eq!(folder.slots.len(), 3);
    }
}
