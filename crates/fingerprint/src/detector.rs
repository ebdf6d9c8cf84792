//! The fingerprint matcher as an inspection-engine plug-in.

use std::sync::Arc;

use mamori_inspect::{DocumentDetector, DocumentScan};
use mamori_model::{Category, Confidence, DocumentMatch, Finding};

use crate::anchor::{for_each_anchor, for_each_anchor_chunk};
use crate::index::{FingerprintIndex, MatchRule, Tally};
use crate::normalize::for_each_char_of_engine_text;
use crate::winnow::Winnower;

/// Detector id of fingerprint findings.
pub const FINGERPRINT_DETECTOR: &str = "fingerprint.document";

/// Reports registered documents found in inspected content (`fingerprint.document`).
///
/// ```
/// use std::sync::Arc;
/// use mamori_fingerprint::{FingerprintDetector, FingerprintIndex, IndexParams};
/// use mamori_inspect::DocumentDetector;
///
/// let mut index = FingerprintIndex::with_seed(IndexParams::default(), 7);
/// let text = "The cooling plate uses a serpentine channel rated for four hundred watts. \
///     Production starts in the third quarter of next fiscal year at the Kumamoto plant, \
///     with a target of twelve thousand modules per month and a unit cost below forty dollars.";
/// index.add_document("cooling-plan", "secret", text).unwrap();
/// let detector = FingerprintDetector::new(index);
/// let mut scan = detector.start();
/// scan.feed("fyi, from the plan:\n");
/// scan.feed(&text.to_lowercase());
/// let findings = scan.finish();
/// assert_eq!(findings[0].detector, "fingerprint.document");
/// assert_eq!(findings[0].document.as_ref().unwrap().document, "cooling-plan");
/// ```
#[derive(Debug, Clone)]
pub struct FingerprintDetector {
    index: Arc<FingerprintIndex>,
    rule: MatchRule,
    thorough: bool,
}

impl FingerprintDetector {
    /// A detector over `index` (committed here) with the default threshold.
    pub fn new(mut index: FingerprintIndex) -> FingerprintDetector {
        index.commit();
        FingerprintDetector {
            index: Arc::new(index),
            rule: MatchRule::default(),
            thorough: false,
        }
    }

    /// Winnow all text instead of only the text around registered anchors (the crate's
    /// `anchor` module): several times slower on text that holds nothing registered, and
    /// finds the copies whose every anchor was changed (English re-spaced throughout: in the
    /// benchmark, 1 of 320 reformatted documents and 1 of 320 excerpts shorter than a
    /// paragraph).
    pub fn thorough(mut self, thorough: bool) -> FingerprintDetector {
        self.thorough = thorough;
        self
    }

    /// Distinct shared fingerprints needed for a finding (default
    /// [`crate::DEFAULT_MIN_SHARED`]).
    pub fn min_shared(mut self, min_shared: u32) -> FingerprintDetector {
        self.rule.min_shared = min_shared.max(1);
        self
    }

    /// The whole rule deciding what is a finding (default [`MatchRule::default`]).
    pub fn rule(mut self, rule: MatchRule) -> FingerprintDetector {
        self.rule = rule;
        self
    }

    /// The index searched.
    pub fn index(&self) -> &FingerprintIndex {
        &self.index
    }
}

impl DocumentDetector for FingerprintDetector {
    fn start(&self) -> Box<dyn DocumentScan> {
        Box::new(self.scan())
    }
}

impl FingerprintDetector {
    fn scan(&self) -> FingerprintScan {
        let gated = !self.thorough && self.index.anchors_complete();
        FingerprintScan {
            winnower: Winnower::new(self.index.winnow_params()),
            index: Arc::clone(&self.index),
            min_shared: self.rule.min_shared.max(1),
            tally: Tally::new(&self.index, self.rule),
            batch: Vec::new(),
            gated,
            live: !gated,
            region_base: 0,
            position: 0,
            hot_until: 0,
            tail: String::new(),
            carry: Vec::new(),
            hits: Vec::new(),
            lookup: LookupScratch::default(),
            #[cfg(test)]
            winnowed_bytes: 0,
        }
    }
}

/// Bytes of engine text winnowed on each side of a registered anchor: a copied passage (a
/// paragraph is well under this) is winnowed whole, with context, wherever its anchors are.
const MARGIN: usize = 16 << 10;
/// Bytes of skipped text kept in case the next piece has a registered anchor near its start:
/// they are winnowed first, as the text before it.
const TAIL: usize = 4 << 10;

/// One document being matched against the index.
///
/// With an index whose documents all have anchors ([`crate::anchor`]), text is winnowed only
/// within [`MARGIN`] bytes of a registered anchor (across pieces: the span after an anchor
/// carries into the next piece, and the last [`TAIL`] skipped bytes are replayed before a
/// piece that starts hot); elsewhere a registered passage can only be if every one of its
/// anchors was edited or its text is shorter than the anchors' spacing, and the cost is one
/// pass over the bytes. Each winnowed stretch starts a fresh winnower; positions grow across
/// skipped text by its length in characters (at least what the winnower would have counted),
/// so a run of matches does not continue across more than a gap's worth of skipped text.
/// Skipped text counts towards the text's fingerprints (the denominator of a hit's coverage)
/// by the winnowing density, `2 / (window + 1)` per character.
#[derive(Debug)]
struct FingerprintScan {
    index: Arc<FingerprintIndex>,
    winnower: Winnower,
    min_shared: u32,
    tally: Tally,
    /// Fingerprints (hash, start) of the piece being fed.
    batch: Vec<(u64, u64)>,
    /// Winnow only around registered anchors (the index has every document's anchors).
    gated: bool,
    /// The winnower holds a stretch of text in progress.
    live: bool,
    /// Position of the winnower's first character.
    region_base: u64,
    /// Position reached before the current stretch (or overall, when none is live).
    position: u64,
    /// Bytes at the start of the next piece still within [`MARGIN`] of a registered anchor.
    hot_until: usize,
    /// The last skipped text (at most [`TAIL`] bytes, after the last winnowed stretch).
    tail: String,
    /// The last bytes of the previous pieces, for anchors whose window crosses into the next.
    carry: Vec<u8>,
    /// Scratch: positions of the piece's registered anchors.
    hits: Vec<usize>,
    /// Scratch of [`mark_registered_anchors`].
    lookup: LookupScratch,
    /// Bytes of engine text winnowed so far (tests check that the gate skips).
    #[cfg(test)]
    winnowed_bytes: usize,
}

impl FingerprintScan {
    /// Winnows `text` as the continuation of the live stretch.
    fn winnow(&mut self, text: &str) {
        let FingerprintScan {
            index,
            winnower,
            tally,
            batch,
            region_base,
            ..
        } = self;
        let base = *region_base;
        #[cfg(test)]
        {
            self.winnowed_bytes += text.len();
        }
        batch.clear();
        for_each_char_of_engine_text(text, &mut |c| {
            winnower.push_at(c, &mut |hash, start| batch.push((hash, base + start)));
        });
        tally.record_batch(index, batch);
    }

    /// Starts a stretch, with the skipped text just before it first.
    fn start_stretch(&mut self) {
        if self.winnower.pushed() > 0 {
            self.winnower = Winnower::new(self.index.winnow_params());
        }
        self.region_base = self.position;
        self.live = true;
        let tail = std::mem::take(&mut self.tail);
        if !tail.is_empty() {
            // Counted by estimate when skipped; counted for real now.
            let per = u64::from(self.index.winnow_params().window) + 1;
            let estimate = tail.chars().count() as u64 * 2 / per;
            self.tally.total = self.tally.total.saturating_sub(estimate);
            self.winnow(&tail);
        }
    }

    fn end_stretch(&mut self) {
        if !self.live {
            return;
        }
        let winnower = std::mem::replace(
            &mut self.winnower,
            Winnower::new(self.index.winnow_params()),
        );
        let base = self.region_base;
        self.position = base + winnower.pushed();
        let (index, tally) = (&self.index, &mut self.tally);
        winnower.finish_at(&mut |h, at| tally.record(index, h, base + at));
        self.live = false;
    }

    fn skip(&mut self, text: &str) {
        self.end_stretch();
        // Counted 32 bytes at a time (AVX2 where the CPU has it): nearly all scanned text
        // passes here, and `chars().count()` took 2-3 % of the benchmark scan.
        let chars = bytecount::num_chars(text.as_bytes()) as u64;
        let per = u64::from(self.index.winnow_params().window) + 1;
        self.tally.total += chars * 2 / per;
        self.position += chars;
        // The rolling tail: the last TAIL bytes of skipped text, on a character boundary.
        if text.len() >= TAIL {
            self.tail.clear();
            self.tail
                .push_str(&text[boundary_at_or_after(text, text.len() - TAIL)..]);
        } else {
            self.tail.push_str(text);
            if self.tail.len() > TAIL {
                let cut = boundary_at_or_after(&self.tail, self.tail.len() - TAIL);
                self.tail.drain(..cut);
            }
        }
    }
}

/// Appends to `hits` the positions of the registered anchors of `text`, in order. Anchors
/// come a chunk at a time ([`for_each_anchor_chunk`]). The filter of a large index is
/// megabytes and a probe is often a cache miss: the words a chunk's anchors need are
/// prefetched when the chunk comes and probed when the next one has been found and hashed.
/// The rare hashes that pass (about 2 %) are collected for the whole text and looked up
/// together ([`FingerprintIndex::registered_anchors_among`]). `scratch` is reused between
/// calls.
fn mark_registered_anchors(
    index: &FingerprintIndex,
    text: &[u8],
    scratch: &mut LookupScratch,
    hits: &mut Vec<usize>,
) {
    let LookupScratch {
        passed,
        waiting,
        candidates,
        ranges,
    } = scratch;
    candidates.clear();
    waiting.clear();
    let filter = index.anchor_filter();
    // Probes one chunk behind: a chunk's filter words are prefetched when it comes, and probed
    // when the next one does (or at the end), by which time they are in cache.
    let mut probe_waiting = |waiting: &mut Vec<(usize, u64)>| {
        passed.clear();
        passed.extend(waiting.iter().map(|&(_, h)| filter.may_contain(h)));
        candidates.extend(
            waiting
                .iter()
                .zip(passed.iter())
                .filter(|&(_, &passed)| passed)
                .map(|(&anchor, _)| anchor),
        );
        waiting.clear();
    };
    for_each_anchor_chunk(text, index.winnow_params().seed, |positions, hashes| {
        filter.prefetch(hashes);
        probe_waiting(waiting);
        waiting.extend(positions.iter().copied().zip(hashes.iter().copied()));
    });
    probe_waiting(waiting);
    index.registered_anchors_among(candidates, ranges, hits);
}

/// Buffers [`mark_registered_anchors`] reuses from one piece to the next.
#[derive(Debug, Default)]
struct LookupScratch {
    /// Whether each anchor of a chunk passed the filter.
    passed: Vec<bool>,
    /// The anchors (position, hash) of the chunk before, not probed yet.
    waiting: Vec<(usize, u64)>,
    /// Anchors (position, hash) that passed the filter.
    candidates: Vec<(usize, u64)>,
    /// Their buckets' bounds.
    ranges: Vec<(u32, u32)>,
}

/// The first character boundary of `text` at or after `at`.
fn boundary_at_or_after(text: &str, mut at: usize) -> usize {
    while at < text.len() && !text.is_char_boundary(at) {
        at += 1;
    }
    at.min(text.len())
}

impl DocumentScan for FingerprintScan {
    /// `normalised` is the engine's text (`mamori_inspect::normalize`); what registration
    /// does on top of it (letters and digits only, lower case) is done here on the fly.
    fn feed(&mut self, normalised: &str) {
        if !self.gated {
            self.winnow(normalised);
            return;
        }
        if normalised.is_empty() {
            return;
        }
        let bytes = normalised.as_bytes();
        let mut hits = std::mem::take(&mut self.hits);
        hits.clear();
        // Anchors that start in the previous pieces' last bytes and end in this one.
        if !self.carry.is_empty() {
            let mut joint = std::mem::take(&mut self.carry);
            let carried = joint.len();
            joint.extend_from_slice(&bytes[..bytes.len().min(crate::anchor::ANCHOR_REACH)]);
            let mut crossing = false;
            for_each_anchor(&joint, self.index.winnow_params().seed, |p, h| {
                crossing |= p < carried && self.index.is_registered_anchor(h);
            });
            if crossing {
                hits.push(0);
            }
        }
        mark_registered_anchors(&self.index, bytes, &mut self.lookup, &mut hits);
        // Winnow [p - MARGIN, p + MARGIN) around each hit, and what the previous piece's last
        // hit still covers; skip the rest.
        let mut cursor = 0;
        let mut ranges = hits.iter().map(|&p| (p.saturating_sub(MARGIN), p + MARGIN));
        let carried = (self.hot_until > 0).then_some((0, self.hot_until));
        let mut next = carried.or_else(|| ranges.next());
        while let Some((from, mut to)) = next {
            // Merge overlapping ranges.
            next = ranges.next();
            while let Some((f, t)) = next
                && f <= to
            {
                to = to.max(t);
                next = ranges.next();
            }
            let from = boundary_at_or_after(normalised, from.max(cursor));
            let to = boundary_at_or_after(normalised, to);
            if from > cursor {
                self.skip(&normalised[cursor..from]);
            }
            if to > from {
                if !self.live {
                    self.start_stretch();
                }
                self.winnow(&normalised[from..to]);
            }
            cursor = cursor.max(to);
        }
        self.hot_until = hits
            .last()
            .map_or(0, |&p| (p + MARGIN).saturating_sub(bytes.len()))
            .max(self.hot_until.saturating_sub(bytes.len()));
        if cursor < bytes.len() {
            self.skip(&normalised[cursor..]);
        }
        // The carry for anchors crossing into the next piece.
        let keep = crate::anchor::ANCHOR_REACH;
        if bytes.len() >= keep {
            self.carry.clear();
        }
        self.carry
            .extend_from_slice(&bytes[bytes.len().saturating_sub(keep)..]);
        if self.carry.len() > keep {
            self.carry.drain(..self.carry.len() - keep);
        }
        self.hits = hits;
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        let mut scan = *self;
        scan.end_stretch();
        let FingerprintScan {
            index,
            min_shared,
            tally,
            ..
        } = scan;
        tally
            .hits(&index)
            .into_iter()
            .map(|hit| {
                let confidence = if hit.containment >= 0.5 || hit.shared >= 3 * min_shared {
                    Confidence::High
                } else {
                    Confidence::Medium
                };
                let mut finding =
                    Finding::new(FINGERPRINT_DETECTOR, Category::Fingerprint, confidence)
                        .with_sample(format!(
                            "{} ({:.0}% / {:.0}%)",
                            hit.document.name,
                            hit.containment * 100.0,
                            hit.coverage * 100.0
                        ));
                finding.count = hit.shared;
                finding.document = Some(DocumentMatch {
                    document: hit.document.name.clone(),
                    level: hit.document.level.clone(),
                    containment: hit.containment,
                    coverage: hit.coverage,
                });
                finding
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::IndexParams;

    /// Deterministic pseudo-Japanese with some English: kanji, hiragana (が among them, an
    /// anchor byte) and ASCII words drawn from a hash sequence.
    fn text(seed: u64, chars: usize) -> String {
        let mut out = String::new();
        for i in 0..chars as u64 {
            let x = crate::winnow::mix64(seed.wrapping_mul(1_000_003).wrapping_add(i));
            match x % 10 {
                0..=2 => out.push(char::from_u32(0x3042 + (x >> 8) as u32 % 80).unwrap()),
                3 => out.push_str(["module ", "time ", "the ", "cost "][(x >> 8) as usize % 4]),
                _ => out.push(char::from_u32(0x4E00 + (x >> 8) as u32 % 3000).unwrap()),
            }
        }
        out
    }

    fn found(detector: &FingerprintDetector, pieces: &[&str]) -> Vec<String> {
        let mut scan = detector.start();
        for piece in pieces {
            scan.feed(piece);
        }
        scan.finish()
            .into_iter()
            .filter_map(|f| f.document.map(|d| d.document))
            .collect()
    }

    /// Splits `s` into pieces of about `size` bytes on character boundaries.
    fn pieces(s: &str, size: usize) -> Vec<&str> {
        let mut out = Vec::new();
        let mut rest = s;
        while !rest.is_empty() {
            let cut = boundary_at_or_after(rest, size.min(rest.len()));
            let (a, b) = rest.split_at(cut);
            out.push(a);
            rest = b;
        }
        out
    }

    #[test]
    fn a_paragraph_anywhere_in_a_long_text_is_found_with_the_anchors() {
        let secret = text(1, 3000);
        let mut index = FingerprintIndex::with_seed(IndexParams::default(), 5);
        index.add_document("secret", "gokuhi", &secret).unwrap();
        index
            .add_document("other", "gokuhi", &text(2, 3000))
            .unwrap();
        let detector = FingerprintDetector::new(index);
        assert!(detector.index().anchors_complete());
        let paragraph: String = secret.chars().skip(1000).take(260).collect();
        let filler = text(3, 200_000);
        // Deep inside, at the very start and at the very end, and anywhere across pieces.
        let across = boundary_at_or_after(&filler, 5 * MARGIN - 200);
        for at in [filler.len() / 2, across, 0, filler.len()] {
            let at = boundary_at_or_after(&filler, at);
            let mixed = format!("{}{paragraph}{}", &filler[..at], &filler[at..]);
            for size in [usize::MAX, 64 << 10, 5000] {
                assert_eq!(
                    found(&detector, &pieces(&mixed, size)),
                    ["secret"],
                    "paragraph at {at}, pieces of {size}"
                );
            }
            assert_eq!(
                detector.index().scan_text(&mixed)[0].document.name,
                "secret"
            );
        }
        assert!(found(&detector, &pieces(&filler, 64 << 10)).is_empty());
    }

    #[test]
    fn a_paragraph_split_between_two_pieces_is_found_from_the_kept_tail() {
        let has_anchor = |c: &char| {
            c.to_string()
                .bytes()
                .any(|b| crate::anchor::ANCHOR_BYTES.contains(&b))
        };
        // A 240-character paragraph whose first half has no anchor at all: the first piece
        // ends with that half, so nothing in it is hot, and only the tail kept from it lets
        // the run of matches cover the whole paragraph (the second half alone is too short
        // for the default rule).
        let head: String = text(13, 600)
            .chars()
            .filter(|c| c.is_alphanumeric() && !has_anchor(c))
            .take(120)
            .collect();
        let rest: String = text(14, 120).chars().take(120).collect();
        assert!(rest.chars().any(|c| has_anchor(&c)));
        let secret = format!("{}{head}{rest}{}", text(11, 1000), text(15, 1000));
        let mut index = FingerprintIndex::with_seed(IndexParams::default(), 6);
        index.add_document("secret", "gokuhi", &secret).unwrap();
        let detector = FingerprintDetector::new(index);
        let filler = text(12, 60_000);
        let first = format!("{filler}{head}");
        let second = format!("{rest}{filler}");
        assert_eq!(found(&detector, &[&first, &second]), ["secret"]);
        assert!(found(&detector, &[&filler, &second]).is_empty());
    }

    #[test]
    fn text_far_from_registered_anchors_is_not_winnowed() {
        let mut index = FingerprintIndex::with_seed(IndexParams::default(), 8);
        index
            .add_document("secret", "gokuhi", &text(21, 3000))
            .unwrap();
        let detector = FingerprintDetector::new(index);
        let filler = text(22, 100_000);
        let mut scan = detector.scan();
        for piece in pieces(&filler, 64 << 10) {
            scan.feed(piece);
        }
        assert_eq!(scan.winnowed_bytes, 0);
        // With a paragraph in the middle, about two margins around it are winnowed.
        let paragraph: String = text(21, 3000).chars().skip(500).take(260).collect();
        let mid = boundary_at_or_after(&filler, filler.len() / 2);
        let mixed = format!("{}{paragraph}{}", &filler[..mid], &filler[mid..]);
        let mut scan = detector.scan();
        for piece in pieces(&mixed, 64 << 10) {
            scan.feed(piece);
        }
        assert!(scan.winnowed_bytes >= 2 * MARGIN && scan.winnowed_bytes <= 3 * MARGIN);
        assert_eq!(
            Box::new(scan)
                .finish()
                .into_iter()
                .filter_map(|f| f.document.map(|d| d.document))
                .collect::<Vec<_>>(),
            ["secret"]
        );
    }

    #[test]
    fn a_document_without_anchors_turns_the_gate_off() {
        // No m, M or 0x8C: this document has no anchor, so anchors cannot lead to a copy of
        // it; the scan winnows everything rather than miss it.
        let secret = "The launch price is forty-eight thousand yen per unit, the release date is \
                      October first, and the first production run is two thousand units.";
        let mut index = FingerprintIndex::with_seed(IndexParams::default(), 9);
        index.add_document("price", "gokuhi", secret).unwrap();
        let detector = FingerprintDetector::new(index);
        assert!(!detector.index().anchors_complete());
        let mail = format!("{}\n{secret}\n{}", text(23, 2000), text(24, 2000));
        assert_eq!(found(&detector, &pieces(&mail, 1000)), ["price"]);
    }

    /// Letters and digits of generated text with no anchor byte in them.
    fn without_anchors(seed: u64, chars: usize) -> String {
        text(seed, chars * 6)
            .chars()
            .filter(|c| {
                c.is_alphanumeric()
                    && !c
                        .to_string()
                        .bytes()
                        .any(|b| crate::anchor::ANCHOR_BYTES.contains(&b))
            })
            .take(chars)
            .collect()
    }

    /// Registers `before + head + rest + after`, then scans `filler + head` and `rest + filler`
    /// as two pieces (with empty pieces around them).
    fn split_copy_found(head: &str, rest: &str) -> Vec<String> {
        let secret = format!("{}{head}{rest}{}", text(33, 1000), text(34, 1000));
        let mut index = FingerprintIndex::with_seed(IndexParams::default(), 10);
        index.add_document("secret", "gokuhi", &secret).unwrap();
        let detector = FingerprintDetector::new(index);
        let filler = text(35, 60_000);
        let first = format!("{filler}{head}");
        let second = format!("{rest}{filler}");
        found(&detector, &["", &first, "", &second, ""])
    }

    #[test]
    fn the_text_after_an_anchor_is_winnowed_into_the_next_piece() {
        // The paragraph's anchors are all in its first 60 characters, far from the cut: the
        // second piece has none, and only the span carried after them winnows its start.
        let head = format!("{}{}", text(31, 60), without_anchors(36, 60));
        assert!(
            head.bytes()
                .any(|b| crate::anchor::ANCHOR_BYTES.contains(&b))
        );
        assert_eq!(
            split_copy_found(&head, &without_anchors(32, 120)),
            ["secret"]
        );
    }

    #[test]
    fn an_anchor_across_two_pieces_is_found() {
        // The paragraph's only anchor is its 120th character, cut right after it: its window
        // is in the second piece, which has no anchor of its own.
        let head = format!("{}m", without_anchors(37, 119));
        assert_eq!(
            split_copy_found(&head, &without_anchors(38, 120)),
            ["secret"]
        );
    }

    #[test]
    fn thorough_scans_find_english_re_spaced_throughout() {
        let secret = "The Mamori module measures one hundred and twenty millimetres across, \
                      its firmware implements the monitoring mode, and the manufacturing \
                      margin must remain confidential until the product announcement in May. \
                      Samples come from the main plant in Kumamoto and the memory supplier \
                      named in the maintenance plan.";
        let mut index = FingerprintIndex::with_seed(IndexParams::default(), 12);
        index.add_document("plan", "gokuhi", secret).unwrap();
        let gated = FingerprintDetector::new(index.clone());
        assert!(gated.index().anchors_complete());
        let copy = format!(
            "{}\n{}\n{}",
            text(41, 3000),
            secret.replace(' ', "  "),
            text(42, 3000)
        );
        // Every anchor's window holds a doubled space: the anchors lead nowhere...
        assert!(found(&gated, &[&copy]).is_empty());
        // ...while the fingerprints, which drop spaces, match: a thorough scan finds it.
        let thorough = FingerprintDetector::new(index).thorough(true);
        assert_eq!(found(&thorough, &[&copy]), ["plan"]);
    }
}
