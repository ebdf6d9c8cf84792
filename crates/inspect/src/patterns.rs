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

/// One regex rule to compile.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PatternSpec<'a> {
    pub detector: usize,
    pub pattern: &'a str,
    /// An ASCII byte every match contains, with no ASCII whitespace in a match.
    pub anchor: Option<u8>,
    /// Literals one of which every match starts with (empty: not known).
    pub prefixes: &'a [&'a str],
}

/// Every regex rule, compiled.
#[derive(Debug, Clone)]
pub(crate) struct RegexMatcher {
    rules: Vec<(usize, Regex)>,
    set: Option<RegexSet>,
    /// Rules searched only around an ASCII byte every match contains (`@` of an e-mail
    /// address): `memchr` finds the byte, the regex runs on the word around it.
    anchored: Vec<(usize, Regex, u8)>,
    /// Rules every match of which starts with one of a few literals (`AKIA`, `-----BEGIN `,
    /// `eyJ`): one packed search finds where any of them occurs, and each such rule's regex
    /// runs anchored there. The six credential rules each searched the whole window with
    /// their own literal prefilter: a fifth of `mamori scan`'s time (measured by disabling
    /// them).
    prefixed: Option<Prefixed>,
}

#[derive(Debug, Clone)]
struct Prefixed {
    /// Every rule's literals, for one search.
    literals: AhoCorasick,
    /// Detector, regex (searched anchored), literals.
    rules: Vec<(usize, regex_automata::meta::Regex, Vec<String>)>,
}

/// Longest stretch searched either side of an anchor byte.
const ANCHOR_REACH: usize = 256;

impl RegexMatcher {
    /// Compiles the rules. A rule with an anchor byte must only match text that contains that
    /// byte and no ASCII whitespace; a rule with prefixes must only match text that starts with
    /// one of them. Prefixes are used only with `fast_paths` (the reference engine of the
    /// differential tests searches those rules whole).
    pub fn new(
        rules: &[PatternSpec<'_>],
        fast_paths: bool,
    ) -> Result<RegexMatcher, (usize, regex::Error)> {
        let mut anchored = Vec::new();
        let mut prefixed = Vec::new();
        let mut plain: Vec<(usize, &str)> = Vec::new();
        for r in rules {
            if let Some(a) = r.anchor {
                anchored.push((
                    r.detector,
                    compile(r.pattern).map_err(|e| (r.detector, e))?,
                    a,
                ));
            } else if fast_paths && !r.prefixes.is_empty() {
                // The same limits as `compile`, on the engine under `regex`.
                let re = regex_automata::meta::Regex::builder()
                    .configure(
                        regex_automata::meta::Config::new()
                            .nfa_size_limit(Some(SIZE_LIMIT))
                            .dfa_size_limit(Some(SIZE_LIMIT)),
                    )
                    .build(r.pattern)
                    .map_err(|e| {
                        (
                            r.detector,
                            regex::Error::Syntax(format!("{} (anchored search)", e)),
                        )
                    })?;
                let prefixes: Vec<String> = r.prefixes.iter().map(|p| p.to_string()).collect();
                prefixed.push((r.detector, re, prefixes));
            } else {
                plain.push((r.detector, r.pattern));
            }
        }
        let rules = plain.as_slice();
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
        let prefixed = if prefixed.is_empty() {
            None
        } else {
            let literals: Vec<&str> = prefixed
                .iter()
                .flat_map(|(_, _, l)| l.iter().map(String::as_str))
                .collect();
            let literals = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostFirst)
                .build(literals)
                .map_err(|e| (prefixed[0].0, regex::Error::Syntax(e.to_string())))?;
            Some(Prefixed {
                literals,
                rules: prefixed,
            })
        };
        Ok(RegexMatcher {
            rules: compiled,
            set,
            anchored,
            prefixed,
        })
    }

    /// Appends every match in `text` to `out`.
    pub fn find(&self, text: &str, out: &mut Vec<RegexHit>) {
        let bytes = text.as_bytes();
        if let Some(prefixed) = &self.prefixed {
            prefixed.find(text, out);
        }
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

impl Prefixed {
    /// The matches of every prefixed rule, as each rule's own `find_iter` over `text` gives
    /// them: every match starts where one of the rule's literals occurs, so trying the rule
    /// anchored at each such place, in order and past its previous match, finds the same
    /// leftmost-first, non-overlapping matches.
    fn find(&self, text: &str, out: &mut Vec<RegexHit>) {
        use regex_automata::{Anchored, Input};
        let bytes = text.as_bytes();
        // Where each rule's previous match ended.
        let mut done = vec![0usize; self.rules.len()];
        let mut from = 0;
        // Every place where a literal starts, overlapping ones included: a search resumes one
        // byte after the last place found, and each rule checks its own literals there.
        while let Some(m) = self
            .literals
            .find(aho_corasick::Input::new(bytes).span(from..bytes.len()))
        {
            let at = m.start();
            for (i, (detector, re, literals)) in self.rules.iter().enumerate() {
                if at < done[i]
                    || !literals
                        .iter()
                        .any(|l| bytes[at..].starts_with(l.as_bytes()))
                {
                    continue;
                }
                let input = Input::new(text)
                    .span(at..text.len())
                    .anchored(Anchored::Yes);
                if let Some(hit) = re.find(input)
                    && hit.start() < hit.end()
                {
                    out.push(RegexHit {
                        detector: *detector,
                        start: hit.start(),
                        end: hit.end(),
                    });
                    done[i] = hit.end();
                }
            }
            from = at + 1;
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

    fn spec(detector: usize, pattern: &str) -> PatternSpec<'_> {
        PatternSpec {
            detector,
            pattern,
            anchor: None,
            prefixes: &[],
        }
    }

    #[test]
    fn one_rule_cannot_hide_another() {
        // Overlapping rules: both report their match.
        let m = RegexMatcher::new(&[spec(0, r"AB[0-9]+"), spec(1, r"[0-9]+CD")], true).unwrap();
        let mut out = Vec::new();
        m.find("xx AB123CD yy", &mut out);
        assert_eq!(out.len(), 2, "{out:?}");
        // Same with the set pass.
        let many: Vec<(usize, String)> = (0..20)
            .map(|i| (i, format!("Q{i}Z")))
            .chain([(20, "AB[0-9]+".into()), (21, "[0-9]+CD".into())])
            .collect();
        let refs: Vec<PatternSpec<'_>> = many.iter().map(|(d, p)| spec(*d, p)).collect();
        let m = RegexMatcher::new(&refs, true).unwrap();
        let mut out = Vec::new();
        m.find("xx AB123CD yy Q7Z", &mut out);
        let mut ds: Vec<usize> = out.iter().map(|h| h.detector).collect();
        ds.sort();
        assert_eq!(ds, vec![7, 20, 21]);
    }

    #[test]
    fn anchored_rules_find_every_match_once() {
        let m = RegexMatcher::new(
            &[PatternSpec {
                anchor: Some(b'@'),
                ..spec(0, r"[a-z]+@[a-z]+\.jp")
            }],
            true,
        )
        .unwrap();
        let mut out = Vec::new();
        let text = "宛先 a@b.jp,c@d.jp x@y.jp @ q@ 社@外.jp";
        m.find(text, &mut out);
        let found: Vec<&str> = out.iter().map(|h| &text[h.start..h.end]).collect();
        assert_eq!(found, vec!["a@b.jp", "c@d.jp", "x@y.jp"]);
    }

    fn builtin_specs(rules: &[crate::rules::RegexRule]) -> Vec<PatternSpec<'_>> {
        rules
            .iter()
            .enumerate()
            .map(|(i, r)| PatternSpec {
                detector: i,
                pattern: &r.pattern,
                anchor: r.anchor,
                prefixes: r.prefixes,
            })
            .collect()
    }

    fn matches(m: &RegexMatcher, text: &str) -> Vec<(usize, usize, usize)> {
        let mut out = Vec::new();
        m.find(text, &mut out);
        let mut v: Vec<_> = out.iter().map(|h| (h.detector, h.start, h.end)).collect();
        v.sort();
        v
    }

    #[test]
    fn prefixed_rules_find_overlapping_and_adjacent_tokens() {
        let rules = crate::builtin::regexes();
        let fast = RegexMatcher::new(&builtin_specs(&rules), true).unwrap();
        let plain = RegexMatcher::new(&builtin_specs(&rules), false).unwrap();
        assert!(fast.prefixed.is_some() && plain.prefixed.is_none());
        for text in [
            // A literal inside a failed match, then a real one right after.
            "xoxoxb-12345678-abcdefgh",
            "AKIAAKIAIOSFODNN7EXAMPLE AKIAIOSFODNN7EXAMPLE",
            "XAKIAIOSFODNN7EXAMPLE",
            "AKIAIOSFODNN7EXAMPLEAKIAIOSFODNN7EXAMPLE",
            "-----BEGIN -----BEGIN RSA PRIVATE KEY-----",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "ghp_ghp_0123456789abcdefghijklmnopqrstuvwxyz ghp_0123456789abcdefghijklmnopqrstuvwxyz",
            "社外秘 AIzaSyA-1234567890abcdefghijklmnopqrstu。",
        ] {
            assert_eq!(matches(&fast, text), matches(&plain, text), "{text}");
        }
        assert_eq!(
            matches(&fast, "AKIAAKIAIOSFODNN7EXAMPLE AKIAIOSFODNN7EXAMPLE").len(),
            1,
            "the first is 24 characters long, no match"
        );
    }

    proptest::proptest! {
        #[test]
        fn prefixed_rules_find_what_whole_searches_find(
            text in "(AKIA|ASIA|ABIA|ACCA|ghp_|gho_|ghr_|github_pat_|xox|xoxb-|xoxp-|AIza|eyJ|\\.eyJ|-----BEGIN |RSA |PGP |PRIVATE KEY| BLOCK|-----|[A-Z0-9]{1,20}|[A-Za-z0-9_-]{1,40}|[ .x_-]|社|\n)*"
        ) {
            let rules = crate::builtin::regexes();
            let fast = RegexMatcher::new(&builtin_specs(&rules), true).unwrap();
            let plain = RegexMatcher::new(&builtin_specs(&rules), false).unwrap();
            proptest::prop_assert_eq!(matches(&fast, &text), matches(&plain, &text));
        }
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
