//! Keyword dictionaries compiled into one Aho-Corasick automaton.
//!
//! Every word of every dictionary (the built-in confidentiality labels and user dictionaries) is
//! normalised the same way as the text, then compiled together. Matching is leftmost-longest
//! (`機密情報` wins over `機密`, `Strictly Confidential` over `Confidential`) and ASCII
//! case-insensitive; words that begin or end with an ASCII letter or digit match as whole words
//! unless their dictionary says otherwise. A dictionary may list *exclusions*: longer words that
//! contain one of its words but are no label (`機密性`, `秘密鍵`); they take part in the
//! leftmost-longest race and are dropped when they win.
//!
//! **Anchor prefilter.** The automaton walks every byte (about 600 MB/s on Japanese text, where
//! no label has a rare first byte). Before it runs, a vectorised `packed` (Teddy) searcher looks
//! for *anchors*: one short substring chosen in every word and exclusion (a kanji such as `秘`,
//! or three ASCII bytes in every case variant, such as `fid`/`FID`/`fId`...). The automaton then
//! runs only on the stretches within the longest word's length of an anchor. The matches are
//! exactly those of the whole-text search: every occurrence of a word contains an anchor
//! occurrence, the anchor search misses only occurrences that overlap one it reported (so
//! within a few bytes of it), hence every occurrence lies whole inside one stretch, and since no
//! occurrence crosses a stretch's edge, the leftmost-longest iteration over the whole text is
//! the concatenation of the iterations over the stretches (`prefilter_is_exact` tests this
//! against the plain automaton).

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind, packed};

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
    anchors: Option<Anchors>,
}

/// The anchor prefilter (see the module documentation).
#[derive(Debug, Clone)]
struct Anchors {
    searcher: packed::Searcher,
    /// Bytes searched either side of an anchor occurrence: the longest word plus the longest
    /// anchor.
    reach: usize,
}

/// Most anchor strings (case variants included) handed to Teddy; with more, or when Teddy is
/// unavailable on this CPU, the automaton runs on the whole text.
const MAX_ANCHORS: usize = 48;

/// Per mille frequency of the letters a-z in English text: anchors prefer rare letters.
const LETTER_PER_MILLE: [u32; 26] = [
    82, 15, 28, 43, 127, 22, 20, 61, 70, 2, 8, 40, 24, 67, 75, 19, 1, 60, 63, 91, 28, 10, 24, 2,
    20, 1,
];

/// Some of the most frequent kanji of Japanese prose (newspaper counts), most frequent first:
/// an anchor avoids them when a rarer character of the same word will do.
const COMMON_KANJI: &str = "日一国会人年大十二本中長出三同時政事自行社見月分議後前民生連五発間対上部東者党\
    地合市業内相方四定今回新場金員九入選立開手米力学問高代明実円関決子動京全目表戦経通外最言氏現理調体化\
    田当八六約主題下首意法不来作性的要用制治度務強気小七成期公持野協取都和統以機平総加山思家話世受区領多\
    県続進正安設保改数記院女初北午指権心界支第産結百派点教報済書府活原先共得解名交資予川向際査勝面委告軍\
    文反元重近千考判認画海参売利組知案道信策集在件団別物側任引使求所次水半品";

/// How likely a candidate anchor is to occur at a given position of text, in arbitrary units
/// (lower is rarer); a heuristic for speed only, never for what is found.
fn commonness(anchor: &[u8]) -> u64 {
    match std::str::from_utf8(anchor) {
        Ok(s) if !s.is_ascii() => {
            let c = s.chars().next().unwrap_or(' ');
            if ('\u{3040}'..='\u{30FF}').contains(&c) {
                // Kana: the particles and endings of every sentence.
                1_000_000
            } else {
                match COMMON_KANJI.chars().position(|k| k == c) {
                    Some(rank) => 500_000 - rank as u64 * 1_000,
                    None => 1_000,
                }
            }
        }
        _ => anchor
            .iter()
            .map(|b| {
                if b.is_ascii_alphabetic() {
                    u64::from(LETTER_PER_MILLE[usize::from(b.to_ascii_lowercase() - b'a')])
                } else if *b == b' ' {
                    180
                } else if b.is_ascii_digit() {
                    20
                } else {
                    30
                }
            })
            .product(),
    }
}

/// Every ASCII case variant of `anchor` (at most 2^letters).
fn case_variants(anchor: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![Vec::new()];
    for &b in anchor {
        if b.is_ascii_alphabetic() {
            out = out
                .into_iter()
                .flat_map(|v| {
                    let mut lo = v.clone();
                    lo.push(b.to_ascii_lowercase());
                    let mut up = v;
                    up.push(b.to_ascii_uppercase());
                    [lo, up]
                })
                .collect();
        } else {
            for v in &mut out {
                v.push(b);
            }
        }
    }
    out
}

/// The candidate anchors of one (normalised) word: each non-ASCII character, and each run of
/// three ASCII bytes (the whole word when it is shorter), lower-cased.
fn candidate_anchors(word: &str) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for c in word.chars().filter(|c| !c.is_ascii()) {
        let mut buf = [0u8; 4];
        out.push(c.encode_utf8(&mut buf).as_bytes().to_vec());
    }
    let bytes = word.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let run_end = bytes[i..]
            .iter()
            .position(|b| !b.is_ascii())
            .map_or(bytes.len(), |p| i + p);
        let run = &bytes[i..run_end];
        if !run.is_empty() {
            if run.len() <= 3 {
                out.push(run.to_ascii_lowercase());
            } else {
                out.extend(run.windows(3).map(<[u8]>::to_ascii_lowercase));
            }
        }
        i = run_end
            + bytes[run_end..]
                .iter()
                .position(u8::is_ascii)
                .unwrap_or(bytes.len() - run_end);
    }
    out.sort();
    out.dedup();
    out
}

/// Does `word` contain `anchor` (ASCII case-insensitively)?
fn contains_anchor(word: &[u8], anchor: &[u8]) -> bool {
    word.windows(anchor.len())
        .any(|w| w.eq_ignore_ascii_case(anchor))
}

impl Anchors {
    /// Picks anchors covering every word (greedy set cover: the anchor in the most words
    /// first, then the rarest), or `None` when that takes too many anchor strings (case
    /// variants included) or Teddy cannot be built.
    fn new(words: &[String]) -> Option<Anchors> {
        let mut uncovered: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        let mut candidates: Vec<Vec<u8>> =
            words.iter().flat_map(|w| candidate_anchors(w)).collect();
        candidates.sort();
        candidates.dedup();
        let mut chosen: Vec<Vec<u8>> = Vec::new();
        while !uncovered.is_empty() {
            let best = candidates.iter().max_by_key(|a| {
                let covers = uncovered.iter().filter(|w| contains_anchor(w, a)).count();
                (
                    covers,
                    std::cmp::Reverse(commonness(a)),
                    std::cmp::Reverse((*a).clone()),
                )
            })?;
            let best = best.clone();
            uncovered.retain(|w| !contains_anchor(w, &best));
            chosen.push(best);
        }
        let variants: Vec<Vec<u8>> = chosen.iter().flat_map(|a| case_variants(a)).collect();
        if variants.is_empty() || variants.len() > MAX_ANCHORS {
            return None;
        }
        let mut builder = packed::Config::new()
            .match_kind(packed::MatchKind::LeftmostFirst)
            .builder();
        builder.extend(&variants);
        let searcher = builder.build()?;
        let reach = words.iter().map(String::len).max().unwrap_or(0)
            + variants.iter().map(Vec::len).max().unwrap_or(0);
        Some(Anchors { searcher, reach })
    }

    /// The stretches of `text` that may hold a word, merged, in order, on character
    /// boundaries.
    fn stretches(&self, text: &str, out: &mut Vec<(usize, usize)>) {
        let bytes = text.as_bytes();
        for m in self.searcher.find_iter(bytes) {
            let mut lo = m.start().saturating_sub(self.reach);
            while !text.is_char_boundary(lo) {
                lo -= 1;
            }
            let mut hi = (m.end() + self.reach).min(text.len());
            while !text.is_char_boundary(hi) {
                hi += 1;
            }
            match out.last_mut() {
                Some(last) if lo <= last.1 => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl KeywordMatcher {
    /// Compiles the sets; fails only if the automaton would be too large. `prefilter` enables
    /// the anchor prefilter (off only to test it against the plain automaton).
    pub fn new(
        sets: &[KeywordSet<'_>],
        prefilter: bool,
    ) -> Result<KeywordMatcher, aho_corasick::BuildError> {
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
                anchors: None,
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
            anchors: if prefilter {
                Anchors::new(&words)
            } else {
                None
            },
        })
    }

    /// Appends every keyword match in `text` (normalised) to `out`.
    pub fn find(&self, text: &str, out: &mut Vec<KeywordHit>) {
        let Some(ac) = &self.automaton else { return };
        match &self.anchors {
            Some(anchors) => {
                let mut stretches = Vec::new();
                anchors.stretches(text, &mut stretches);
                for (lo, hi) in stretches {
                    self.find_in(ac, text, lo, hi, out);
                }
            }
            None => self.find_in(ac, text, 0, text.len(), out),
        }
    }

    /// The matches inside `text[lo..hi]` (word boundaries are checked against the whole text).
    fn find_in(
        &self,
        ac: &AhoCorasick,
        text: &str,
        lo: usize,
        hi: usize,
        out: &mut Vec<KeywordHit>,
    ) {
        let bytes = text.as_bytes();
        for m in ac.find_iter(&text[lo..hi]) {
            let m = aho_corasick::Match::new(m.pattern(), lo + m.start()..lo + m.end());
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
    use proptest::prelude::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn whole_words_case_and_exclusions() {
        let labels = s(&["Confidential", "機密"]);
        let exclude = s(&["機密性"]);
        let strict = s(&["Strictly Confidential"]);
        let code = s(&["ProjX"]);
        let sets = [
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
        ];
        for prefilter in [false, true] {
            let matcher = KeywordMatcher::new(&sets, prefilter).unwrap();
            assert_eq!(matcher.anchors.is_some(), prefilter);
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

    #[test]
    fn anchors_cover_every_word() {
        let words = s(&[
            "社外秘",
            "社内限り",
            "機密性",
            "Confidential",
            "Top Secret",
            "ab1",
            "(秘)",
        ]);
        let anchors = Anchors::new(&words).unwrap();
        for w in &words {
            let mut out = Vec::new();
            anchors.stretches(w, &mut out);
            assert_eq!(out, vec![(0, w.len())], "{w}");
            let upper = w.to_ascii_uppercase();
            out.clear();
            anchors.stretches(&upper, &mut out);
            assert_eq!(out, vec![(0, w.len())], "{upper}");
        }
        // Too many case variants: no prefilter, the automaton runs on everything.
        // Seven three-letter words sharing no trigram: 7 x 8 case variants.
        let many = s(&["jqa", "jqb", "jqc", "jqd", "jqe", "jqf", "jqg"]);
        assert!(Anchors::new(&many).is_none());
    }

    fn builtin_sets(rules: &crate::Rules) -> Vec<KeywordSet<'_>> {
        rules
            .dictionaries
            .iter()
            .enumerate()
            .map(|(i, d)| KeywordSet {
                detector: i,
                words: &d.words,
                standalone: &d.standalone,
                exclude: &d.exclude,
                whole_word: d.whole_word,
                case_sensitive: d.case_sensitive,
            })
            .collect()
    }

    #[test]
    fn builtin_labels_get_a_prefilter() {
        let rules = crate::Rules::builtin();
        let matcher = KeywordMatcher::new(&builtin_sets(&rules), true).unwrap();
        let anchors = matcher.anchors.expect("a prefilter");
        // Rare anchors: not the 取 of 取引 nor the 社 of 会社, nor a trigram with a space.
        let mut stretches = Vec::new();
        anchors.stretches(
            "取引先の会社で注意する。the end of the order is near",
            &mut stretches,
        );
        assert_eq!(stretches, vec![]);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
        /// The prefiltered search finds exactly what the plain automaton finds, on text made of
        /// the labels' own pieces (so that matches, near misses and overlaps are frequent).
        #[test]
        fn prefilter_is_exact(
            pieces in proptest::collection::vec(prop_oneof![
                proptest::string::string_regex("[a-zA-Z _\\-]{0,6}").unwrap(),
                proptest::sample::select(vec![
                    "社外秘", "社外", "秘", "秘書", "極", "機密", "機密性", "秘密鍵", "取扱注意",
                    "社内限り", "Confidential", "CONFIDENTIAL", "confidentiality", "Strictly ",
                    "Internal Use Only", "internal only", "Top Secret", "secret", "SeCrEt",
                    "secretary", "㊙", "マル秘", "(秘)", "【秘】", "\n", " ", "é", "𠮷",
                    "Company Confidential", "Highly", "Proprietary and Confidential",
                ]).prop_map(str::to_string),
                proptest::string::string_regex("\\PC{0,4}").unwrap(),
            ], 0..40)
        ) {
            let text: String = pieces.concat();
            let rules = crate::Rules::builtin();
            let sets = builtin_sets(&rules);
            let plain = KeywordMatcher::new(&sets, false).unwrap();
            let fast = KeywordMatcher::new(&sets, true).unwrap();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            plain.find(&text, &mut a);
            fast.find(&text, &mut b);
            prop_assert_eq!(a, b);
        }
    }
}
