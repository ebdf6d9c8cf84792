//! The engine: compiled rules, windowed scanning of text parts, folding of matches into
//! findings.
//!
//! Each part's text is scanned in windows of [`WINDOW`] bytes. A window keeps the last
//! [`CARRY`] bytes of the previous one in front of it, and reports only the matches that end in
//! its own *zone*: after the previous window's zone, and (unless it is the part's last window)
//! at least [`LOOKAHEAD`] bytes before its end, so that every detector sees enough text after a
//! match to know it ended (a digit run, a whole word) and its context words. Zones tile the part,
//! so a match across a window boundary is reported exactly once, and memory stays bounded by the
//! window size whatever the size of the part.

use std::collections::HashMap;
use std::sync::Arc;

use mamori_extract::TextSink;
use mamori_model::{Category, Confidence, Finding, Location, Uninspectable};

use crate::digits::{DigitScanner, Run};
use crate::identifiers::{Candidate, IdKind, classify_run};
use crate::keywords::{KeywordHit, KeywordMatcher, KeywordSet};
use crate::mask::{MaskStyle, mask};
use crate::normalize::{Normalized, is_format_char, normalize_with};
use crate::patterns::{
    ContextHits, ContextMatcher, PatternSpec, RegexHit, RegexMatcher, window_around,
};
use crate::rules::{Position, Rules};
use crate::{BuildError, DocumentDetector, DocumentScan};

/// Bytes of text scanned at once. Each window is read by several passes (the normaliser's
/// two block scans, the label anchors, the digit search, the credential prefixes, the
/// document detectors): at 512 KiB it stays in a core's L2 cache between them, where 4 MiB
/// windows came back from L3 for each (`mamori scan -j1` of the 124 MB text corpus 5 % faster,
/// `docs/benchmarks.md`).
pub(crate) const WINDOW: usize = 512 << 10;
/// Bytes a window needs after a match before reporting it.
pub(crate) const LOOKAHEAD: usize = 4 << 10;
/// Bytes of the previous window kept in front of the next (lookahead + room for context).
pub(crate) const CARRY: usize = 8 << 10;
/// Candidates per window whose context words are searched around them, before the engine
/// switches to one scan of the whole window.
const LOCAL_CONTEXT_LOOKUPS: usize = 256;
/// Offsets kept per finding.
pub(crate) const MAX_OFFSETS: usize = 5;

#[derive(Debug, Clone)]
pub(crate) struct DetectorMeta {
    pub id: String,
    pub category: Category,
    pub mask: MaskStyle,
    /// Context window in characters.
    pub window: usize,
    /// Confidence without / with context (regex rules only; identifiers carry theirs).
    pub without_context: Option<Confidence>,
    pub with_context: Confidence,
    /// Fixed confidence (dictionaries).
    pub confidence: Confidence,
}

/// Rules compiled for matching.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub detectors: Vec<DetectorMeta>,
    keywords: KeywordMatcher,
    regexes: RegexMatcher,
    /// Detector index of each identifier kind, if enabled.
    identifiers: [Option<usize>; IdKind::ALL.len()],
    context: ContextMatcher,
}

fn at(origin: Option<&Position>) -> String {
    origin
        .map(|p| format!("{}:{}:{}: ", p.origin, p.line, p.column))
        .unwrap_or_default()
}

fn id_index(kind: IdKind) -> usize {
    IdKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)
}

impl Compiled {
    /// Compiles `rules`; `fast_paths` enables the prefilters (off only to test them against
    /// the plain passes).
    pub fn new(rules: &Rules, fast_paths: bool) -> Result<Compiled, BuildError> {
        let mut detectors: Vec<DetectorMeta> = Vec::new();
        let mut context: Vec<Vec<String>> = Vec::new();
        let mut seen = HashMap::new();
        let mut add = |meta: DetectorMeta,
                       words: Vec<String>,
                       origin: Option<&Position>|
         -> Result<usize, BuildError> {
            if seen.insert(meta.id.clone(), detectors.len()).is_some() {
                return Err(BuildError::DuplicateDetector {
                    id: meta.id,
                    at: at(origin),
                });
            }
            detectors.push(meta);
            context.push(words);
            Ok(detectors.len() - 1)
        };
        let enabled = |id: &str| !rules.disabled.contains(id);

        let mut sets = Vec::new();
        for d in rules.dictionaries.iter().filter(|d| enabled(&d.id)) {
            let index = add(
                DetectorMeta {
                    id: d.id.clone(),
                    category: d.category,
                    mask: MaskStyle::Clear,
                    window: 0,
                    without_context: Some(d.confidence),
                    with_context: d.confidence,
                    confidence: d.confidence,
                },
                Vec::new(),
                d.origin.as_ref(),
            )?;
            sets.push(KeywordSet {
                detector: index,
                words: &d.words,
                standalone: &d.standalone,
                exclude: &d.exclude,
                whole_word: d.whole_word,
                case_sensitive: d.case_sensitive,
            });
        }
        let mut identifiers = [None; IdKind::ALL.len()];
        for r in rules.identifiers.iter().filter(|r| enabled(r.kind.id())) {
            let index = add(
                DetectorMeta {
                    id: r.kind.id().to_string(),
                    category: r.kind.category(),
                    mask: match r.kind {
                        // Corporate numbers are published by the National Tax Agency.
                        IdKind::CorporateNumber | IdKind::InvoiceNumber => MaskStyle::Clear,
                        IdKind::Passport | IdKind::ResidenceCard => MaskStyle::Partial,
                        _ => MaskStyle::Digits,
                    },
                    window: r.window,
                    without_context: None,
                    with_context: Confidence::High,
                    confidence: Confidence::Low,
                },
                r.context.clone(),
                None,
            )?;
            identifiers[id_index(r.kind)] = Some(index);
        }
        let mut patterns = Vec::new();
        for r in rules.regexes.iter().filter(|r| enabled(&r.id)) {
            let index = add(
                DetectorMeta {
                    id: r.id.clone(),
                    category: r.category,
                    mask: r.mask,
                    window: r.window,
                    without_context: r.without_context,
                    with_context: r.with_context,
                    confidence: r.without_context.unwrap_or(r.with_context),
                },
                r.context.clone(),
                r.origin.as_ref(),
            )?;
            patterns.push(PatternSpec {
                detector: index,
                pattern: r.pattern.as_str(),
                anchor: r.anchor,
                prefixes: r.prefixes,
            });
        }
        for addition in &rules.context {
            match seen.get(&addition.detector) {
                Some(&i) => {
                    context[i].extend(addition.words.iter().cloned());
                    if let Some(w) = addition.window {
                        detectors[i].window = w;
                    }
                }
                None if rules.disabled.contains(&addition.detector) => {}
                None => {
                    return Err(BuildError::UnknownDetector {
                        id: addition.detector.clone(),
                        at: at(addition.origin.as_ref()),
                    });
                }
            }
        }
        let keywords = KeywordMatcher::new(&sets, fast_paths)
            .map_err(|e| BuildError::Automaton(e.to_string()))?;
        let regexes =
            RegexMatcher::new(&patterns, fast_paths).map_err(|(d, e)| BuildError::Regex {
                id: detectors[d].id.clone(),
                message: e.to_string(),
            })?;
        let context =
            ContextMatcher::new(&context).map_err(|e| BuildError::Automaton(e.to_string()))?;
        Ok(Compiled {
            detectors,
            keywords,
            regexes,
            identifiers,
            context,
        })
    }

    /// Runs every detector over one window; `emit(detector, confidence, start, end)` receives
    /// matches in normalised offsets.
    fn scan(
        &self,
        original: &str,
        norm: &Normalized<'_>,
        emit: &mut dyn FnMut(usize, Confidence, usize, usize),
    ) {
        let text = norm.as_str();
        let mut keyword_hits: Vec<KeywordHit> = Vec::new();
        self.keywords.find(text, &mut keyword_hits);
        for hit in keyword_hits {
            if hit.standalone {
                let (s, e) = norm.original_range(hit.start, hit.end);
                if !alone_on_line(original, s, e) {
                    continue;
                }
            }
            emit(
                hit.detector,
                self.detectors[hit.detector].confidence,
                hit.start,
                hit.end,
            );
        }

        // Context words: looked up around the first few candidates of a window; past that, one
        // scan of the whole window is cheaper (digit-heavy text has a candidate on every line).
        let mut context: Option<ContextHits> = None;
        let mut local_lookups = 0;
        let mut has_context = |detector: usize, start: usize, end: usize| -> bool {
            let window = self.detectors[detector].window;
            // A character is at most four bytes: look in the byte range that surely covers the
            // window first, and count characters only when a context word is there.
            let mut wide_lo = start.saturating_sub(window * 4);
            while !text.is_char_boundary(wide_lo) {
                wide_lo += 1;
            }
            let mut wide_hi = (end + window * 4).min(text.len());
            while !text.is_char_boundary(wide_hi) {
                wide_hi -= 1;
            }
            if context.is_none() && local_lookups < LOCAL_CONTEXT_LOOKUPS {
                local_lookups += 1;
                let hits = self.context.scan(&text[wide_lo..wide_hi]);
                if !hits.any(detector, 0, wide_hi - wide_lo) {
                    return false;
                }
                let (lo, hi) = window_around(text, start, end, window);
                return hits.any(detector, lo - wide_lo, hi - wide_lo);
            }
            let hits = context.get_or_insert_with(|| self.context.scan(text));
            if !hits.any(detector, wide_lo, wide_hi) {
                return false;
            }
            let (lo, hi) = window_around(text, start, end, window);
            hits.any(detector, lo, hi)
        };

        if self.identifiers.iter().any(Option::is_some) {
            let mut scanner = DigitScanner::new(text);
            let mut run = Run::default();
            let mut candidates: Vec<Candidate> = Vec::new();
            while scanner.next_run(&mut run) {
                candidates.clear();
                classify_run(text, &run, &mut candidates);
                for c in &candidates {
                    let Some(detector) = self.identifiers[id_index(c.kind)] else {
                        continue;
                    };
                    let confidence = if has_context(detector, c.start, c.end) {
                        Some(c.with_context)
                    } else {
                        c.without_context
                    };
                    if let Some(confidence) = confidence {
                        emit(detector, confidence, c.start, c.end);
                    }
                }
            }
        }

        let mut regex_hits: Vec<RegexHit> = Vec::new();
        self.regexes.find(text, &mut regex_hits);
        for hit in regex_hits {
            let meta = &self.detectors[hit.detector];
            let confidence = if has_context(hit.detector, hit.start, hit.end) {
                Some(meta.with_context)
            } else {
                meta.without_context
            };
            if let Some(confidence) = confidence {
                emit(hit.detector, confidence, hit.start, hit.end);
            }
        }
    }
}

/// Is `[start, end)` of `text` alone on its line (only blanks and invisible characters around)?
fn alone_on_line(text: &str, start: usize, end: usize) -> bool {
    let blank =
        |c: char| c == ' ' || c == '\t' || c == '\u{3000}' || c == '\u{A0}' || is_format_char(c);
    let before_ok = text[..start]
        .chars()
        .rev()
        .take_while(|c| *c != '\n' && *c != '\r')
        .all(blank);
    let after_ok = text[end..]
        .chars()
        .take_while(|c| *c != '\n' && *c != '\r')
        .all(blank);
    before_ok && after_ok
}

/// The engine shared by every inspection.
#[derive(Debug)]
pub(crate) struct Engine {
    pub compiled: Compiled,
    pub raw_samples: bool,
    pub document_detectors: Vec<Arc<dyn DocumentDetector>>,
    pub sizes: WindowSizes,
    /// Fast paths on (off only in the reference engine of the differential tests).
    pub fast_paths: bool,
}

/// Window geometry (smaller in tests, to exercise boundaries).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WindowSizes {
    pub window: usize,
    pub lookahead: usize,
    pub carry: usize,
}

impl Default for WindowSizes {
    fn default() -> Self {
        WindowSizes {
            window: WINDOW,
            lookahead: LOOKAHEAD,
            carry: CARRY,
        }
    }
}

thread_local! {
    /// The window buffer of this thread's last finished part, kept for the next one. A new
    /// buffer for every part grew by doubling to the window's size and touched fresh memory
    /// each time: with transparent huge pages, the kernel cleared a 2 MiB page for every step
    /// (`clear_page_erms`, a fifth of `mamori scan -j1` on plain text, perf).
    static SPARE_WINDOW: std::cell::Cell<String> = const { std::cell::Cell::new(String::new()) };
}

/// An empty buffer for a part's window: this thread's spare one if it has one.
fn window_buffer() -> String {
    let mut buffer = SPARE_WINDOW.take();
    buffer.clear();
    buffer
}

/// Keeps `buffer` for the next part on this thread, unless it holds more than a window needs
/// (a part of one long line can stretch it; that memory is given back).
fn keep_window_buffer(buffer: String, sizes: WindowSizes) {
    if buffer.capacity() <= sizes.window + sizes.carry {
        SPARE_WINDOW.set(buffer);
    }
}

/// One inspection: receives the extractor's parts, collects findings.
pub(crate) struct Session<'e> {
    engine: &'e Engine,
    pub findings: Vec<Finding>,
    pub uninspectable: Vec<Uninspectable>,
    part: Option<Part>,
    documents: Vec<Box<dyn DocumentScan>>,
}

struct Part {
    location: Location,
    /// Text not yet dropped: `buffer[0]` is byte `base` of the part.
    buffer: String,
    base: usize,
    /// Matches ending at or before this part offset were reported by an earlier window.
    reported_to: usize,
    findings: Vec<Finding>,
    index: HashMap<(usize, Confidence), usize>,
}

impl<'e> Session<'e> {
    pub fn new(engine: &'e Engine) -> Session<'e> {
        let documents = engine
            .document_detectors
            .iter()
            .map(|d| d.start())
            .collect();
        Session {
            engine,
            findings: Vec::new(),
            uninspectable: Vec::new(),
            part: None,
            documents,
        }
    }

    /// Ends the session: document detectors' findings are added.
    pub fn finish(mut self) -> (Vec<Finding>, Vec<Uninspectable>) {
        if self.part.is_some() {
            TextSink::end(&mut self);
        }
        for scan in self.documents.drain(..) {
            self.findings.extend(scan.finish());
        }
        (self.findings, self.uninspectable)
    }

    fn process_window(&mut self, last: bool) {
        let engine = self.engine;
        let Some(part) = self.part.as_mut() else {
            return;
        };
        let sizes = engine.sizes;
        let window_len = part.buffer.len();
        let mut zone_end = if last {
            part.base + window_len
        } else {
            part.base + window_len.saturating_sub(sizes.lookahead)
        };
        zone_end = zone_end.max(part.reported_to);
        while !part.buffer.is_char_boundary(zone_end - part.base) {
            zone_end -= 1;
        }
        let zone_start = part.reported_to;
        let norm = normalize_with(&part.buffer, engine.fast_paths);
        let base = part.base;
        let raw = engine.raw_samples;
        {
            let Part {
                findings,
                index,
                location,
                ..
            } = part;
            let mut emit = |detector: usize, confidence: Confidence, start: usize, end: usize| {
                let (os, oe) = norm.original_range(start, end);
                let (os, oe) = (base + os, base + oe);
                if oe <= zone_start || oe > zone_end {
                    return;
                }
                let key = (detector, confidence);
                let i = *index.entry(key).or_insert_with(|| {
                    let meta = &engine.compiled.detectors[detector];
                    let matched = &norm.as_str()[start..end];
                    let sample = if raw {
                        matched.to_string()
                    } else {
                        mask(matched, meta.mask)
                    };
                    let mut f = Finding::new(meta.id.clone(), meta.category, confidence)
                        .with_location(location.clone())
                        .with_sample(sample);
                    f.count = 0;
                    findings.push(f);
                    findings.len() - 1
                });
                let f = &mut findings[i];
                f.count = f.count.saturating_add(1);
                if f.offsets.len() < MAX_OFFSETS {
                    f.offsets.push((os, oe));
                }
            };
            engine.compiled.scan(&part.buffer, &norm, &mut emit);
        }
        if !self.documents.is_empty() {
            let from = norm.normalized_position(zone_start.saturating_sub(base));
            let to = norm.normalized_position(zone_end - base).max(from);
            // Not case-folded here: each detector folds what it compares as it reads (a
            // copy of the window in lower case cost a tenth of a scan with fingerprints).
            let window = &norm.as_str()[from..to];
            for scan in &mut self.documents {
                scan.feed(window);
            }
        }
        part.reported_to = zone_end;
        if !last && window_len > sizes.carry {
            let mut cut = window_len - sizes.carry;
            while !part.buffer.is_char_boundary(cut) {
                cut -= 1;
            }
            part.buffer.drain(..cut);
            part.base += cut;
        }
    }
}

impl TextSink for Session<'_> {
    fn begin(&mut self, location: &Location) {
        if self.part.is_some() {
            self.end();
        }
        self.part = Some(Part {
            location: location.clone(),
            buffer: window_buffer(),
            base: 0,
            reported_to: 0,
            findings: Vec::new(),
            index: HashMap::new(),
        });
    }

    fn text(&mut self, chunk: &str) {
        if self.part.is_none() {
            self.begin(&Location::root());
        }
        let window = self.engine.sizes.window;
        let mut rest = chunk;
        while !rest.is_empty() {
            let Some(part) = self.part.as_mut() else {
                return;
            };
            let room = window.saturating_sub(part.buffer.len());
            let mut take = room.min(rest.len());
            while !rest.is_char_boundary(take) {
                take -= 1;
            }
            if take == 0 {
                // Less room than one character: take it anyway (the window is a soft limit).
                take = rest.chars().next().map_or(rest.len(), char::len_utf8);
            }
            part.buffer.push_str(&rest[..take]);
            rest = &rest[take..];
            if part.buffer.len() >= window {
                self.process_window(false);
            }
        }
    }

    fn end(&mut self) {
        if self.part.is_none() {
            return;
        }
        self.process_window(true);
        if let Some(mut part) = self.part.take() {
            keep_window_buffer(std::mem::take(&mut part.buffer), self.engine.sizes);
            part.findings.sort_by(|a, b| {
                a.detector
                    .cmp(&b.detector)
                    .then(b.confidence.cmp(&a.confidence))
            });
            self.findings.extend(part.findings);
        }
    }

    fn uninspectable(&mut self, uninspectable: Uninspectable) {
        self.uninspectable.push(uninspectable);
    }
}
