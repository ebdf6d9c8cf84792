//! One scan for digit runs in normalised text.
//!
//! Every digit identifier (My Number, corporate number, cards, phones, accounts, licences) is
//! found from the same pass: a run is a maximal sequence of ASCII digit groups joined by single
//! separators (a space, a dot, or any dash: `-`, U+2010-2015, U+2212, `ー`). Full-width digits
//! and dashes were already folded by NFKC. The identifier validators then look at the run's digits
//! and its grouping.

/// A group of consecutive ASCII digits: `[start, end)` in the scanned text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Group {
    pub start: usize,
    pub end: usize,
}

impl Group {
    pub fn len(&self) -> usize {
        self.end - self.start
    }
}

/// How two groups of a run are joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Separator {
    /// A space: a weak join, undone when the whole run is no identifier.
    Space,
    /// A dot or a dash.
    Mark,
}

/// Is `c` a separator that may join two digit groups?
pub(crate) fn is_separator(c: char) -> Option<Separator> {
    match c {
        ' ' | '\t' => Some(Separator::Space),
        '.' | '-' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{30FC}' | '\u{FF70}' | '\u{FE63}' => {
            Some(Separator::Mark)
        }
        _ => None,
    }
}

/// The first ASCII digit at or after `from`. Blocks of 16 bytes are tested at once (the
/// compiler vectorises the test) before the digit is looked for inside a block.
fn first_digit(bytes: &[u8], from: usize) -> Option<usize> {
    const BLOCK: usize = 16;
    let mut i = from;
    while let Some(block) = bytes.get(i..i + BLOCK) {
        let mut any = false;
        for b in block {
            any |= b.is_ascii_digit();
        }
        if any {
            break;
        }
        i += BLOCK;
    }
    bytes
        .get(i..)?
        .iter()
        .position(u8::is_ascii_digit)
        .map(|p| i + p)
}

/// A maximal digit run.
#[derive(Debug, Default, Clone)]
pub(crate) struct Run {
    pub groups: Vec<Group>,
    /// `separators[i]` joins `groups[i]` and `groups[i + 1]`.
    pub separators: Vec<Separator>,
}

/// Iterates over the digit runs of a text, reusing one [`Run`] buffer.
#[derive(Debug)]
pub(crate) struct DigitScanner<'t> {
    text: &'t str,
    pos: usize,
}

impl<'t> DigitScanner<'t> {
    pub fn new(text: &'t str) -> Self {
        DigitScanner { text, pos: 0 }
    }

    /// Fills `run` with the next run; false at the end of the text.
    pub fn next_run(&mut self, run: &mut Run) -> bool {
        run.groups.clear();
        run.separators.clear();
        let bytes = self.text.as_bytes();
        let Some(mut i) = first_digit(bytes, self.pos) else {
            self.pos = bytes.len();
            return false;
        };
        loop {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            run.groups.push(Group { start, end: i });
            // A single separator followed by a digit continues the run.
            let Some(c) = self.text[i..].chars().next() else {
                break;
            };
            let Some(sep) = is_separator(c) else { break };
            let after = i + c.len_utf8();
            if bytes.get(after).is_some_and(u8::is_ascii_digit) {
                run.separators.push(sep);
                i = after;
            } else {
                break;
            }
        }
        self.pos = i;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(text: &str) -> Vec<Vec<&str>> {
        let mut scanner = DigitScanner::new(text);
        let mut run = Run::default();
        let mut out = Vec::new();
        while scanner.next_run(&mut run) {
            out.push(run.groups.iter().map(|g| &text[g.start..g.end]).collect());
        }
        out
    }

    #[test]
    fn runs_join_groups_with_single_separators() {
        assert_eq!(
            runs("番号 1234-5678-9018 です"),
            vec![vec!["1234", "5678", "9018"]]
        );
        assert_eq!(runs("1234 5678.9018"), vec![vec!["1234", "5678", "9018"]]);
        assert_eq!(
            runs("1234\u{2015}5678\u{2212}9018ー1"),
            vec![vec!["1234", "5678", "9018", "1"]]
        );
        assert_eq!(runs("12--34"), vec![vec!["12"], vec!["34"]]);
        assert_eq!(runs("a1b22c"), vec![vec!["1"], vec!["22"]]);
        assert_eq!(runs("1234-"), vec![vec!["1234"]]);
        assert!(runs("no digits at all").is_empty());
        assert_eq!(
            runs(
                "a long line with no digit for more than sixteen bytes 7 and 社外秘社外秘社外秘 42"
            ),
            vec![vec!["7"], vec!["42"]]
        );
    }

    proptest::proptest! {
        #[test]
        fn first_digit_is_the_plain_search(s in "[a社 0-9]{0,80}", from in 0usize..100) {
            let bytes = s.as_bytes();
            let from = from.min(bytes.len());
            proptest::prop_assert_eq!(
                first_digit(bytes, from),
                bytes[from..].iter().position(u8::is_ascii_digit).map(|p| from + p)
            );
        }
    }
}
