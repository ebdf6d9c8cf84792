//! Keyword dictionaries compiled into one Aho-Corasick automaton.
//!
//! Every word of every dictionary (the built-in confidentiality labels and user dictionaries) is
//! normalised the same way as the text, then compiled together. Matching is leftmost-longest
//! (`機密情報` wins over `機密`, `Strictly Confidential` over `Confidential`) and ASCII
//! case-insensitive; words that begin or end with an ASCII letter or digit match as whole words
//! unless their dictionary says otherwise. A dictionary may list *exclusions*: longer words that
//! contain one of its words but are no label (`機密性`, `秘密鍵`); they take part in the
//! leftmost-longest race and are dropped when they win.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use crate::normalize::normalize;

/// Up to this many patterns the DFA kind is forced (the default picks a ~3x slower automaton
/// above 100 patterns); beyond, the crate's choice keeps memory bounded.
const DFA_LIMIT: usize = 5_000;

/// What one dictionary contributes.
#[derive(Debug, Clone)]
pub(crate) struct KeywordSet<'a> {
    pub detector: usize,
    pub words: &'a [String],
    pub standalone: &'a [String],
    pub exclude: &'a [String],
    pub whole_word: bool,
    pub case_sensitive: bool,
}

#[derive(Debug, Clone)]
struct PatternInfo {
    /// `None` for an exclusion.
    detector: Option<usize>,
    standalone: bool,
    whole_word_start: bool,
    whole_word_end: bool,
    /// The exact (normalised) word, for case-sensitive dictionaries.
    exact: Option<String>,
}

/// A keyword match in normalised text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeywordHit {
    pub detector: usize,
    pub start: usize,
    pub end: usize,
    /// The word counts only alone on its line (checked by the engine on the original text).
    pub standalone: bool,
}

/// All dictionaries, compiled.
#[derive(Debug, Clone)]
pub(crate) struct KeywordMatcher {
    automaton: Option<AhoCorasick>,
    patterns: Vec<PatternInfo>,
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl KeywordMatcher {
    /// Compiles the sets; fails only if the automaton would be too large.
    pub fn new(sets: &[KeywordSet<'_>]) -> Result<KeywordMatcher, aho_corasick::BuildError> {
        let mut words = Vec::new();
        let mut patterns = Vec::new();
        for set in sets {
            let lists = [
                (set.words, false, false),
                (set.standalone, true, false),
                (set.exclude, false, true),
            ];
            for (list, standalone, exclusion) in lists {
                for word in list {
                    let norm = normalize(word).as_str().to_string();
                    if norm.is_empty() {
                        continue;
                    }
                    let bytes = norm.as_bytes();
                    patterns.push(PatternInfo {
                        detector: (!exclusion).then_some(set.detector),
                        standalone,
                        whole_word_start: set.whole_word && is_word_byte(bytes[0]),
                        whole_word_end: set.whole_word && is_word_byte(bytes[bytes.len() - 1]),
                        exact: set.case_sensitive.then(|| norm.clone()),
                    });
                    words.push(norm);
                }
            }
        }
        if words.is_empty() {
            return Ok(KeywordMatcher {
                automaton: None,
                patterns,
            });
        }
        let mut builder = AhoCorasick::builder();
        builder
            .match_kind(MatchKind::LeftmostLongest)
            .ascii_case_insensitive(true);
        // The DFA is the fastest kind to search with; below ~100 patterns the crate would pick
        // an NFA, and above it a slower automaton (NOTES §8), so it is forced up to a size where
        // its memory stays reasonable.
        if words.len() <= DFA_LIMIT {
            builder.kind(Some(AhoCorasickKind::DFA));
        }
        let automaton = builder.build(&words)?;
        Ok(KeywordMatcher {
            automaton: Some(automaton),
            patterns,
        })
    }

    /// Appends every keyword match in `text` (normalised) to `out`.
    pub fn find(&self, text: &str, out: &mut Vec<KeywordHit>) {
        let Some(ac) = &self.automaton else { return };
        let bytes = text.as_bytes();
        for m in ac.find_iter(text) {
            let info = &self.patterns[m.pattern().as_usize()];
            let Some(detector) = info.detector else {
                continue;
            };
            if info.whole_word_start && m.start() > 0 && is_word_byte(bytes[m.start() - 1]) {
                continue;
            }
            if info.whole_word_end && bytes.get(m.end()).is_some_and(|b| is_word_byte(*b)) {
                continue;
            }
            if let Some(exact) = &info.exact
                && &text[m.start()..m.end()] != exact
            {
                continue;
            }
            out.push(KeywordHit {
                detector,
                start: m.start(),
                end: m.end(),
                standalone: info.standalone,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn whole_words_case_and_exclusions() {
        let labels = s(&["Confidential", "機密"]);
        let exclude = s(&["機密性"]);
        let strict = s(&["Strictly Confidential"]);
        let code = s(&["ProjX"]);
        let matcher = KeywordMatcher::new(&[
            KeywordSet {
                detector: 0,
                words: &labels,
                standalone: &[],
                exclude: &exclude,
                whole_word: true,
                case_sensitive: false,
            },
            KeywordSet {
                detector: 1,
                words: &strict,
                standalone: &[],
                exclude: &[],
                whole_word: true,
                case_sensitive: false,
            },
            KeywordSet {
                detector: 2,
                words: &code,
                standalone: &[],
                exclude: &[],
                whole_word: false,
                case_sensitive: true,
            },
        ])
        .unwrap();
        let find = |text: &str| -> Vec<(usize, String)> {
            let mut out = Vec::new();
            matcher.find(text, &mut out);
            out.into_iter()
                .map(|h| (h.detector, text[h.start..h.end].to_string()))
                .collect()
        };
        let find = |text: &str| -> Vec<(usize, &'static str)> {
            find(text)
                .into_iter()
                .map(|(d, s)| (d, &*s.leak()))
                .collect()
        };
        assert_eq!(find("CONFIDENTIAL"), vec![(0, "CONFIDENTIAL")]);
        assert_eq!(find("confidentiality"), vec![]);
        assert_eq!(
            find("strictly confidential"),
            vec![(1, "strictly confidential")]
        );
        assert_eq!(find("機密情報と機密性"), vec![(0, "機密")]);
        assert_eq!(
            find("projx ProjX xProjXy"),
            vec![(2, "ProjX"), (2, "ProjX")]
        );
    }
}
