//! The fingerprint matcher as an inspection-engine plug-in.

use std::sync::Arc;

use mamori_inspect::{DocumentDetector, DocumentScan};
use mamori_model::{Category, Confidence, DocumentMatch, Finding};

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
        Box::new(FingerprintScan {
            winnower: Winnower::new(self.index.winnow_params()),
            index: Arc::clone(&self.index),
            min_shared: self.rule.min_shared.max(1),
            tally: Tally::new(&self.index, self.rule),
            batch: Vec::new(),
        })
    }
}

/// One document being matched against the index.
#[derive(Debug)]
struct FingerprintScan {
    index: Arc<FingerprintIndex>,
    winnower: Winnower,
    min_shared: u32,
    tally: Tally,
    /// Fingerprints (hash, start) of the piece being fed.
    batch: Vec<(u64, u64)>,
}

impl DocumentScan for FingerprintScan {
    /// `normalised` is the engine's text (`mamori_inspect::normalize`); what registration
    /// does on top of it (letters and digits only, lower case) is done here on the fly.
    fn feed(&mut self, normalised: &str) {
        let FingerprintScan {
            index,
            winnower,
            tally,
            batch,
            ..
        } = self;
        batch.clear();
        for_each_char_of_engine_text(normalised, &mut |c| {
            winnower.push_at(c, &mut |hash, start| batch.push((hash, start)));
        });
        tally.record_batch(index, batch);
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        let FingerprintScan {
            index,
            winnower,
            min_shared,
            mut tally,
            ..
        } = *self;
        winnower.finish_at(&mut |h, at| tally.record(&index, h, at));
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
