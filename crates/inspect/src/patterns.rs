//! Regex rules (built-in credentials and user patterns), and context words.
//!
//! Each rule is its own `regex::Regex`, searched over the whole window, so one rule's match can
//! never hide another's (a `RegexSet`-style single pass yields one non-overlapping stream across
//! rules). With many rules, a `RegexSet` pass first tells which rules match anywhere in the
//! window, and only those are searched for their matches.

use aho_corasick::{AhoCorasick, MatchKind};
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use crate::normalize::normalize;

/// Compiled size limit of one pattern.
const SIZE_LIMIT: usize = 8 << 20;
/// With more rules than this, a `RegexSet` pass picks the rules to search.
const SET_THRESHOLD: usize = 12;

/// Compiles one user or built-in pattern with Mamori's limits.
pub(crate) fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .size_limit(SIZE_LIMIT)
        .dfa_size_limit(SIZE_LIMIT)
        .build()
}

/// A regex match in normalised text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RegexHit {
    pub detector: usize,
    pub start: usize,
    pub end: usize,
}

/// Every regex rule, compiled.
#[derive(Debug, Clone)]
pub(crate) struct RegexMatcher {
    rules: Vec<(usize, Regex)>,
    set: Option<RegexSet>,
    /// Rules searched only around an ASCII byte every match contains (`@` of an e-mail
    /// address): `memchr` finds the byte, the regex runs on the word around it.
    anchored: Vec<(usize, Regex, u8)>,
}

/// Longest stretch searched either side of an anchor byte.
const ANCHOR_REACH: usize = 256;

impl RegexMatcher {
    /// Compiles `(detector, pattern, anchor byte)` triples. A rule with an anchor byte must
    /// only match text that contains that byte and no ASCII whitespace.
    pub fn new(rules: &[(usize, &str, Option<u8>)]) -> Result<RegexMatcher, (usize, regex::Error)> {
        let mut anchored = Vec::new();
        for (d, p, a) in rules {
            if let Some(a) = a {
                anchored.push((*d, compile(p).map_err(|e| (*d, e))?, *a));
            }
        }
        let rules: Vec<(usize, &str)> = rules
            .iter()
            .filter(|r| r.2.is_none())
            .map(|r| (r.0, r.1))
            .collect();
        let rules = rules.as_slice();
        let compiled = rules
            .iter()
            .map(|(d, p)| compile(p).map(|re| (*d, re)).map_err(|e| (*d, e)))
            .collect::<Result<Vec<_>, _>>()?;
        let set = if rules.len() > SET_THRESHOLD {
            let set = RegexSetBuilder::new(rules.iter().map(|(_, p)| p))
                .size_limit(SIZE_LIMIT * 4)
                .dfa_size_limit(SIZE_LIMIT * 4)
                .build()
                .map_err(|e| (rules[0].0, e))?;
            Some(set)
        } else {
            None
        };
        Ok(RegexMatcher {
            rules: compiled,
            set,
            anchored,
        })
    }

    /// Appends every match in `text` to `out`.
    pub fn find(&self, text: &str, out: &mut Vec<RegexHit>) {
        let bytes = text.as_bytes();
        for (detector, re, anchor) in &self.anchored {
            let mut done = 0;
            for at in memchr::memchr_iter(*anchor, bytes) {
                if at < done {
                    continue;
                }
                let stop = |b: &u8| b.is_ascii_whitespace() || !b.is_ascii();
                let lo = bytes[done.max(at.saturating_sub(ANCHOR_REACH))..at]
                    .iter()
                    .rposition(stop)
                    .map_or(done.max(at.saturating_sub(ANCHOR_REACH)), |p| {
                        done.max(at.saturating_sub(ANCHOR_REACH)) + p + 1
                    });
                let hi_limit = (at + ANCHOR_REACH).min(bytes.len());
                let hi = bytes[at..hi_limit]
                    .iter()
                    .position(stop)
                    .map_or(hi_limit, |p| at + p);
                // The stretch is ASCII, so its ends are character boundaries.
                for m in re.find_iter(&text[lo..hi]) {
                    if m.start() < m.end() {
                        out.push(RegexHit {
                            detector: *detector,
                            start: lo + m.start(),
                            end: lo + m.end(),
                        });
                    }
                }
                done = hi;
            }
        }
        let mut search = |detector: usize, re: &Regex| {
            for m in re.find_iter(text) {
                if m.start() < m.end() {
                    out.push(RegexHit {
                        detector,
                        start: m.start(),
                        end: m.end(),
                    });
                }
            }
        };
        match &self.set {
            Some(set) => {
                for i in set.matches(text).iter() {
                    let (d, re) = &self.rules[i];
                    search(*d, re);
                }
            }
            None => {
                for (d, re) in &self.rules {
                    search(*d, re);
                }
            }
        }
    }
}

/// Context words of every detector, compiled into one automaton.
#[derive(Debug, Clone)]
pub(crate) struct ContextMatcher {
    automaton: Option<AhoCorasick>,
    /// The detectors each pattern supports.
    supports: Vec<Vec<usize>>,
}

/// Context words found in one window: `(start, end, detector)`, sorted by start.
#[derive(Debug, Default)]
pub(crate) struct ContextHits {
    hits: Vec<(usize, usize, usize)>,
}

impl ContextMatcher {
    /// `words[i]` are the context words of detector `i`.
    pub fn new(words: &[Vec<String>]) -> Result<ContextMatcher, aho_corasick::BuildError> {
        let mut patterns: Vec<String> = Vec::new();
        let mut supports: Vec<Vec<usize>> = Vec::new();
        for (detector, list) in words.iter().enumerate() {
            for w in list {
                let norm = normalize(w).as_str().to_ascii_lowercase();
                if norm.is_empty() {
                    continue;
                }
                match patterns.iter().position(|p| *p == norm) {
                    Some(i) => supports[i].push(detector),
                    None => {
                        patterns.push(norm);
                        supports.push(vec![detector]);
                    }
                }
            }
        }
        if patterns.is_empty() {
            return Ok(ContextMatcher {
                automaton: None,
                supports,
            });
        }
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .ascii_case_insensitive(true)
            .build(&patterns)?;
        Ok(ContextMatcher {
            automaton: Some(automaton),
            supports,
        })
    }

    /// Finds every context word in `text`.
    pub fn scan(&self, text: &str) -> ContextHits {
        let mut hits = Vec::new();
        if let Some(ac) = &self.automaton {
            for m in ac.find_overlapping_iter(text) {
                for &d in &self.supports[m.pattern().as_usize()] {
                    hits.push((m.start(), m.end(), d));
                }
            }
        }
        hits.sort_unstable();
        ContextHits { hits }
    }
}

impl ContextHits {
    /// Is a context word of `detector` within `[lo, hi)`?
    pub fn any(&self, detector: usize, lo: usize, hi: usize) -> bool {
        let first = self.hits.partition_point(|h| h.0 < lo);
        self.hits[first..]
            .iter()
            .take_while(|h| h.0 < hi)
            .any(|h| h.2 == detector && h.1 <= hi)
    }
}

/// The byte range reaching `chars` characters either side of `[start, end)` in `text`.
pub(crate) fn window_around(text: &str, start: usize, end: usize, chars: usize) -> (usize, usize) {
    let lo = text[..start]
        .char_indices()
        .rev()
        .take(chars)
        .last()
        .map_or(start, |(i, _)| i);
    let hi = text[end..]
        .char_indices()
        .nth(chars)
        .map_or(text.len(), |(i, _)| end + i);
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_cannot_hide_another() {
        // Overlapping rules: both report their match.
        let m = RegexMatcher::new(&[(0, r"AB[0-9]+", None), (1, r"[0-9]+CD", None)]).unwrap();
        let mut out = Vec::new();
        m.find("xx AB123CD yy", &mut out);
        assert_eq!(out.len(), 2, "{out:?}");
        // Same with the set pass.
        let many: Vec<(usize, String)> = (0..20)
            .map(|i| (i, format!("Q{i}Z")))
            .chain([(20, "AB[0-9]+".into()), (21, "[0-9]+CD".into())])
            .collect();
        let refs: Vec<(usize, &str, Option<u8>)> =
            many.iter().map(|(d, p)| (*d, p.as_str(), None)).collect();
        let m = RegexMatcher::new(&refs).unwrap();
        let mut out = Vec::new();
        m.find("xx AB123CD yy Q7Z", &mut out);
        let mut ds: Vec<usize> = out.iter().map(|h| h.detector).collect();
        ds.sort();
        assert_eq!(ds, vec![7, 20, 21]);
    }

    #[test]
    fn anchored_rules_find_every_match_once() {
        let m = RegexMatcher::new(&[(0, r"[a-z]+@[a-z]+\.jp", Some(b'@'))]).unwrap();
        let mut out = Vec::new();
        let text = "宛先 a@b.jp,c@d.jp x@y.jp @ q@ 社@外.jp";
        m.find(text, &mut out);
        let found: Vec<&str> = out.iter().map(|h| &text[h.start..h.end]).collect();
        assert_eq!(found, vec!["a@b.jp", "c@d.jp", "x@y.jp"]);
    }

    #[test]
    fn context_window() {
        let text = "マイナンバー は 123";
        let ctx = ContextMatcher::new(&[vec!["マイナンバー".into()], vec!["TEL".into()]]).unwrap();
        let hits = ctx.scan(text);
        let at = text.find("123").unwrap();
        let (lo, hi) = window_around(text, at, at + 3, 300);
        assert!(hits.any(0, lo, hi));
        assert!(!hits.any(1, lo, hi));
        let (lo, hi) = window_around(text, at, at + 3, 3);
        assert!(!hits.any(0, lo, hi), "too far");
        assert_eq!(window_around("abcdef", 2, 3, 1), (1, 4));
        assert_eq!(window_around("abcdef", 0, 6, 5), (0, 6));
    }
}
