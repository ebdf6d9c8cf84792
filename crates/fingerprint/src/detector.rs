//! The fingerprint matcher as an inspection-engine plug-in.

use std::sync::Arc;

use mamori_inspect::{DocumentDetector, DocumentScan};
use mamori_model::{Category, Confidence, DocumentMatch, Finding};

use crate::anchor::for_each_anchor;
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
}

impl FingerprintDetector {
    /// A detector over `index` (committed here) with the default threshold.
    pub fn new(mut index: FingerprintIndex) -> FingerprintDetector {
        index.commit();
        FingerprintDetector {
            index: Arc::new(index),
            rule: MatchRule::default(),
        }
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
        let gated = self.index.anchors_complete();
        Box::new(FingerprintScan {
            winnower: Winnower::new(self.index.winnow_params()),
            index: Arc::clone(&self.index),
            min_shared: self.rule.min_shared.max(1),
            tally: Tally::new(&self.index, self.rule),
            batch: Vec::new(),
            gated,
            live: !gated,
            region_base: 0,
            position: 0,
            previous_hot: false,
            tail: String::new(),
            hot: Vec::new(),
        })
    }
}

/// Bytes of engine text per block: the anchors decide block by block what is winnowed. A
/// block with a registered anchor is winnowed with the blocks on either side of it, so a
/// copied passage (a paragraph is well under a block) is winnowed whole, with context.
const BLOCK: usize = 16 << 10;
/// Bytes at the end of a piece kept in case the next piece's first block has a registered
/// anchor: they are winnowed first, as the block before it.
const TAIL: usize = 4 << 10;

/// One document being matched against the index.
///
/// With an index whose documents all have anchors ([`crate::anchor`]), text is winnowed only
/// in and around the blocks of [`BLOCK`] bytes holding a registered anchor; elsewhere nothing
/// registered can be (short of every anchor of a copied passage being edited), and the cost
/// is one pass over the bytes. Each winnowed stretch starts a fresh winnower; positions keep
/// growing across skipped text (by its length in bytes, at least its length in characters),
/// so no run of matches spans skipped text. Skipped text counts towards the text's
/// fingerprints (the denominator of a hit's coverage) by an estimate of one per `window + 1`
/// bytes.
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
    /// The last block of the previous piece held a registered anchor.
    previous_hot: bool,
    /// The end of the previous piece, when it was not winnowed.
    tail: String,
    /// Scratch: which blocks of the piece hold a registered anchor.
    hot: Vec<bool>,
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
        batch.clear();
        for_each_char_of_engine_text(text, &mut |c| {
            winnower.push_at(c, &mut |hash, start| batch.push((hash, base + start)));
        });
        tally.record_batch(index, batch);
    }

    fn start_stretch(&mut self) {
        if self.winnower.pushed() > 0 {
            self.winnower = Winnower::new(self.index.winnow_params());
        }
        self.region_base = self.position;
        self.live = true;
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
        let per = u64::from(self.index.winnow_params().window) + 1;
        self.tally.total += text.len() as u64 / per;
        self.position += text.len() as u64;
    }
}

/// Marks the blocks of `text` (`hot[i]` for bytes `i * BLOCK..`) that hold a registered
/// anchor. Anchors are looked up in batches: first every filter probe of the batch, which do
/// not wait for one another (the filter of a large index is megabytes, and a probe is often
/// a cache miss), then the exact lookups of the rare hashes that pass.
fn mark_hot_blocks(index: &FingerprintIndex, text: &[u8], hot: &mut [bool]) {
    const BATCH: usize = 64;
    let mut batch = [(0usize, 0u64); BATCH];
    let mut len = 0;
    let flush = |batch: &[(usize, u64)], hot: &mut [bool]| {
        let mut maybe = [false; BATCH];
        for (m, &(_, h)) in maybe.iter_mut().zip(batch) {
            *m = index.may_be_registered_anchor(h);
        }
        for (&m, &(p, h)) in maybe.iter().zip(batch) {
            if m && index.is_registered_anchor(h) {
                hot[p / BLOCK] = true;
            }
        }
    };
    for_each_anchor(text, index.winnow_params().seed, |p, h| {
        batch[len] = (p, h);
        len += 1;
        if len == BATCH {
            flush(&batch, hot);
            len = 0;
        }
    });
    flush(&batch[..len], hot);
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
        let blocks = normalised.len().div_ceil(BLOCK).max(1);
        let mut hot = std::mem::take(&mut self.hot);
        hot.clear();
        hot.resize(blocks, false);
        mark_hot_blocks(&self.index, normalised.as_bytes(), &mut hot);
        for b in 0..blocks {
            let from = boundary_at_or_after(normalised, b * BLOCK);
            let to = boundary_at_or_after(normalised, (b + 1) * BLOCK);
            let before = if b == 0 {
                self.previous_hot
            } else {
                hot[b - 1]
            };
            let after = hot.get(b + 1).copied().unwrap_or(false);
            let block = &normalised[from..to];
            if hot[b] || before || after {
                if !self.live {
                    self.start_stretch();
                    if b == 0 && !self.tail.is_empty() {
                        let tail = std::mem::take(&mut self.tail);
                        self.winnow(&tail);
                        self.tail = tail;
                    }
                }
                self.winnow(block);
            } else {
                self.skip(block);
            }
        }
        self.previous_hot = hot[blocks - 1];
        self.tail.clear();
        if !self.live {
            let from = boundary_at_or_after(normalised, normalised.len().saturating_sub(TAIL));
            self.tail.push_str(&normalised[from..]);
        }
        self.hot = hot;
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
        // Deep inside, right across a block boundary, at the very start and at the very end.
        let across = boundary_at_or_after(&filler, 5 * BLOCK - 200);
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
}
