//! The state of one extraction: limits, counters, deadline, and the sink.

use std::collections::HashSet;
use std::time::Instant;

use mamori_model::{Location, Uninspectable, UninspectableReason};
use sha2::{Digest, Sha256};

use crate::limits::{Cap, InflateError, LimitKind};
use crate::{Limits, TextSink};

/// Extraction of the whole input must stop: a global limit (time, expansion, entries, text) was
/// hit and already reported to the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Halt;

/// The time budget of one input, cheap to copy into pure functions that loop for long.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(Option<Instant>);

impl Deadline {
    pub(crate) fn after(budget: std::time::Duration) -> Deadline {
        Deadline(Instant::now().checked_add(budget))
    }

    /// A deadline that never passes (tests, and pure helpers called outside a run).
    #[cfg(test)]
    pub(crate) fn never() -> Deadline {
        Deadline(None)
    }

    /// The instant it passes, if it ever does (for crates that take an `Instant`, like
    /// `mamori-pdf`).
    #[allow(dead_code)] // used once mamori-pdf is wired in `pdf.rs`
    pub(crate) fn instant(self) -> Option<Instant> {
        self.0
    }

    pub(crate) fn expired(self) -> bool {
        self.0.is_some_and(|at| Instant::now() >= at)
    }
}

/// The time ran out inside a pure helper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimedOut;

pub(crate) struct Run<'a> {
    pub(crate) limits: &'a Limits,
    sink: &'a mut dyn TextSink,
    pub(crate) deadline: Deadline,
    pub(crate) expanded: u64,
    entries: usize,
    text_bytes: u64,
    pub(crate) parts: u64,
    seen: HashSet<[u8; 32]>,
    pub(crate) content_type: Option<String>,
    halted: bool,
}

impl<'a> Run<'a> {
    pub(crate) fn new(limits: &'a Limits, sink: &'a mut dyn TextSink) -> Run<'a> {
        Run {
            limits,
            sink,
            deadline: Deadline::after(limits.time_budget),
            expanded: 0,
            entries: 0,
            text_bytes: 0,
            parts: 0,
            seen: HashSet::new(),
            content_type: None,
            halted: false,
        }
    }

    /// Reports something that could not be read.
    pub(crate) fn report(&mut self, location: &Location, reason: UninspectableReason) {
        self.sink.uninspectable(Uninspectable {
            location: location.clone(),
            reason,
        });
    }

    /// Reports a global limit once and stops the run.
    pub(crate) fn halt(&mut self, location: &Location, reason: UninspectableReason) -> Halt {
        if !self.halted {
            self.halted = true;
            self.report(location, reason);
        }
        Halt
    }

    /// Checks the deadline.
    pub(crate) fn tick(&mut self, location: &Location) -> Result<(), Halt> {
        if self.halted {
            return Err(Halt);
        }
        if self.deadline.expired() {
            return Err(self.halt(location, UninspectableReason::Timeout));
        }
        Ok(())
    }

    /// Counts one archive entry against the entry limit.
    pub(crate) fn count_entry(&mut self, location: &Location) -> Result<(), Halt> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(self.halt(location, UninspectableReason::TooManyEntries));
        }
        Ok(())
    }

    /// How many entries may still be opened.
    pub(crate) fn entries_left(&self) -> usize {
        self.limits.max_entries.saturating_sub(self.entries)
    }

    /// The cap for one compressed member of `compressed` bytes.
    pub(crate) fn cap_for(&self, compressed: u64) -> Cap {
        let left = self.limits.max_expanded_bytes.saturating_sub(self.expanded);
        Cap::for_member(compressed, self.limits.max_ratio, left)
    }

    /// Accounts for an inflated member and turns its failure, if any, into a report. Returns
    /// whether the output is usable (`Ok(false)`: drop it), or `Err(Halt)` when the expansion
    /// budget of the whole input is spent.
    pub(crate) fn inflated(
        &mut self,
        location: &Location,
        output_len: usize,
        failure: Option<InflateError>,
        what: &str,
    ) -> Result<bool, Halt> {
        self.expanded += output_len as u64;
        match failure {
            None => Ok(true),
            Some(InflateError::Limit(limit)) => match limit.kind {
                LimitKind::CompressionRatio => {
                    self.report(location, UninspectableReason::CompressionRatio);
                    Ok(false)
                }
                _ => Err(self.halt(location, UninspectableReason::ExpansionLimit)),
            },
            Some(InflateError::Io(error)) => {
                self.report(
                    location,
                    UninspectableReason::Corrupt(format!("{what}: {error}")),
                );
                // What was inflated before the damage is real content: inspect it too.
                Ok(output_len > 0)
            }
        }
    }

    /// True the first time a blob is seen in this input; identical blobs are read once (this is
    /// what defuses 42.zip-style fan-out).
    pub(crate) fn first_sight(&mut self, bytes: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(bytes).into();
        self.seen.insert(digest)
    }

    /// Sends one whole part of text, counted against the text limit.
    pub(crate) fn emit(&mut self, location: &Location, text: &str) -> Result<(), Halt> {
        if text.trim().is_empty() {
            return Ok(());
        }
        let left = self.limits.max_text_bytes.saturating_sub(self.text_bytes);
        let (text, over) = if text.len() as u64 > left {
            (
                floor_str(text, usize::try_from(left).unwrap_or(usize::MAX)),
                true,
            )
        } else {
            (text, false)
        };
        self.text_bytes += text.len() as u64;
        self.parts += 1;
        self.sink.begin(location);
        self.sink.text(text);
        self.sink.end();
        if over {
            return Err(self.halt(location, UninspectableReason::ExpansionLimit));
        }
        Ok(())
    }

    /// Starts a streamed part (plain text read from the input itself, not counted).
    pub(crate) fn stream_begin(&mut self, location: &Location) {
        self.parts += 1;
        self.sink.begin(location);
    }

    pub(crate) fn stream_text(&mut self, chunk: &str) {
        if !chunk.is_empty() {
            self.sink.text(chunk);
        }
    }

    pub(crate) fn stream_end(&mut self) {
        self.sink.end();
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub(crate) fn floor_str(s: &str, max: usize) -> &str {
    if max >= s.len() {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Runs a third-party parser call, turning a panic into an error string.
pub(crate) fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_str_respects_char_boundaries() {
        assert_eq!(floor_str("社外秘", 4), "社");
        assert_eq!(floor_str("社外秘", 6), "社外");
        assert_eq!(floor_str("abc", 10), "abc");
        assert_eq!(floor_str("社", 0), "");
    }

    #[test]
    fn guarded_catches_panics() {
        assert_eq!(guarded(|| 1), Ok(1));
        let e = guarded(|| -> u8 { panic!("boom") }).unwrap_err();
        assert!(e.contains("boom"));
    }
}
