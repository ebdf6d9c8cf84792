//! Anchors: a cheap first look at scanned text, so that winnowing runs only where a registered
//! document may be.
//!
//! Winnowing costs a rolling hash, a 64-bit mix and a window comparison for every character;
//! most scanned text holds nothing registered, and the inspection engine itself reads text at
//! close to a gigabyte per second per core. An *anchor* is every occurrence, in the engine's
//! normalised text, of one of the bytes in [`ANCHOR_BYTES`], and its hash is the hash of the
//! [`ANCHOR_WIDTH`] bytes starting there (ASCII letters lower-cased). Registration records the
//! anchors of each document's engine text; the scan finds the anchor bytes 16 at a time
//! (`wide`'s SIMD comparisons and a bit mask) and hashes only there. Text with no registered
//! anchor nearby is not winnowed at all (see `detector.rs` for the blocks around an anchor that
//! are).
//!
//! The bytes were chosen by their frequency in the Japanese and English manual pages of the
//! fingerprint benchmark (per 1,000 letters and digits): `m` and `M` (29 in English prose,
//! 16 in Japanese pages) and 0x8C, a continuation byte of UTF-8 (24 in Japanese pages: the
//! particle が and one kanji in 32), about one anchor per 25-35 characters in both languages
//! (33 per 1,000 in the generated text of the scan benchmark). `0` was tried too, so that
//! tables of figures would have anchors of their own: dates and amounts made it 12 per 1,000
//! there, a third of all anchors, for text that is rarely copied without words around it. A copied paragraph of 200
//! Japanese characters or 50 English words holds six or more; one that is registered is
//! enough for its blocks to be winnowed, and winnowing then decides exactly as without
//! anchors. Anchors are a filter, not evidence: a hash collision only costs a winnowed block.
//!
//! The window skips what the fingerprints' normalisation drops (ASCII spaces, line breaks and
//! punctuation, CJK punctuation), so re-wrapped, re-spaced or quoted copies keep their anchors;
//! the engine's normalisation has already folded full-width forms. What still breaks an anchor
//! is an edit inside its window, or a change of case outside ASCII (the bytes of non-ASCII
//! letters are compared as they are); the other anchors of the passage remain.

use wide::u8x16;

/// Bytes of text an anchor's hash covers, from the anchor byte on.
pub(crate) const ANCHOR_WIDTH: usize = 24;

/// The bytes that start an anchor (see the module documentation for why these).
pub(crate) const ANCHOR_BYTES: [u8; 3] = [b'm', b'M', 0x8C];

/// The hash of one anchor's window (`window.len() == ANCHOR_WIDTH`).
#[inline]
fn window_hash(window: &[u8; ANCHOR_WIDTH], seed: u64) -> u64 {
    let word = |i: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&window[i..i + 8]);
        u64::from_le_bytes(bytes)
    };
    // Three independent multiplications (a bijection of each word), combined, then the high
    // half folded into the low one and multiplied once more, so that every bit the lookups
    // use (the filter takes bits 6-43, the buckets the top 16) depends on every byte. Good
    // enough for set membership: a collision only makes a block winnowed.
    let x = word(0).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ word(8).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
        ^ word(16).wrapping_mul(0x1656_67B1_9E37_79F9)
        ^ seed;
    crate::winnow::mix64(x)
}

/// Bytes after an anchor within which its window must find its [`ANCHOR_WIDTH`] kept bytes.
pub(crate) const ANCHOR_REACH: usize = 96;

/// The window of the anchor at `p`: the first [`ANCHOR_WIDTH`] bytes from `p` on that the
/// fingerprints would keep too, ASCII letters lower-cased. Left out, as the fingerprints'
/// normalisation drops them: ASCII spaces, line breaks and punctuation, and the CJK symbols
/// and punctuation of U+3000-U+303F (the ideographic space, 、 。 「 」). So a copy re-wrapped,
/// re-spaced, with other line ends or mail quoting keeps its anchors. `None` when the text
/// ends, or [`ANCHOR_REACH`] bytes pass, before the window is full.
#[inline]
fn window_at(text: &[u8], p: usize) -> Option<[u8; ANCHOR_WIDTH]> {
    let mut window = [0u8; ANCHOR_WIDTH];
    let mut kept = 0;
    let mut i = p;
    let reach = text.len().min(p + ANCHOR_REACH);
    while kept < ANCHOR_WIDTH && i < reach {
        let b = text[i];
        if b < 0x80 {
            if b.is_ascii_alphanumeric() {
                window[kept] = b.to_ascii_lowercase();
                kept += 1;
            }
            i += 1;
        } else if b == 0xE3 && text.get(i + 1) == Some(&0x80) {
            i += 3;
        } else {
            window[kept] = b;
            kept += 1;
            i += 1;
        }
    }
    (kept == ANCHOR_WIDTH).then_some(window)
}

/// Calls `f(position, hash)` for every anchor of `text` whose window is complete inside it
/// ([`window_at`]), in order. `seed` is the index's.
#[inline]
pub(crate) fn for_each_anchor(text: &[u8], seed: u64, mut f: impl FnMut(usize, u64)) {
    let wanted = ANCHOR_BYTES.map(u8x16::splat);
    let mut at = 0;
    while at < text.len() {
        let block = match text.get(at..at + 16) {
            Some(bytes) => <[u8; 16]>::try_from(bytes).unwrap_or_default(),
            None => {
                // The last, partial block: padded with zeros (not an anchor byte).
                let mut block = [0u8; 16];
                block[..text.len() - at].copy_from_slice(&text[at..]);
                block
            }
        };
        let v = u8x16::from(block);
        let mut mask =
            (v.simd_eq(wanted[0]) | v.simd_eq(wanted[1]) | v.simd_eq(wanted[2])).to_bitmask();
        while mask != 0 {
            let p = at + mask.trailing_zeros() as usize;
            mask &= mask - 1;
            // The last byte of a CJK punctuation mark (「 is E3 80 8C) is no anchor: the
            // mark is left out like the rest of the punctuation.
            let in_punctuation = p >= 2 && text[p - 2] == 0xE3 && text[p - 1] == 0x80;
            if !in_punctuation && let Some(window) = window_at(text, p) {
                f(p, window_hash(&window, seed));
            }
        }
        at += 16;
    }
}

/// The distinct anchor hashes of `text` (the engine's normalised text), sorted.
pub(crate) fn anchors_of(text: &str, seed: u64) -> Vec<u64> {
    let mut out = Vec::new();
    for_each_anchor(text.as_bytes(), seed, |_, h| out.push(h));
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The same anchors, found one byte at a time, the window built from the normalised
    /// characters.
    fn reference(text: &[u8], seed: u64) -> Vec<(usize, u64)> {
        let mut out = Vec::new();
        for p in 0..text.len() {
            if !ANCHOR_BYTES.contains(&text[p])
                || (p >= 2 && text[p - 2] == 0xE3 && text[p - 1] == 0x80)
            {
                continue;
            }
            let mut window = Vec::new();
            let mut i = p;
            while window.len() < ANCHOR_WIDTH && i < text.len().min(p + ANCHOR_REACH) {
                match text[i] {
                    b if b.is_ascii_alphanumeric() => window.push(b.to_ascii_lowercase()),
                    b if b.is_ascii() => {}
                    0xE3 if text.get(i + 1) == Some(&0x80) => i += 2,
                    b => window.push(b),
                }
                i += 1;
            }
            if let Ok(window) = <[u8; ANCHOR_WIDTH]>::try_from(window) {
                out.push((p, window_hash(&window, seed)));
            }
        }
        out
    }

    fn found(text: &[u8], seed: u64) -> Vec<(usize, u64)> {
        let mut out = Vec::new();
        for_each_anchor(text, seed, |p, h| out.push((p, h)));
        out
    }

    #[test]
    fn reflowing_respacing_and_line_ends_keep_the_anchors() {
        let english = "The Mamori module measures 120 mm across and must remain confidential \
                       until the product announcement planned for the third quarter.";
        let japanese = "冷却板の流路は蛇行形状とし、入口温度が二十五度で最大発熱四百ワットを想定する。\
                        筐体は「アルミダイカスト製」で、防水等級が目標となる。";
        for original in [english, japanese] {
            let mine = anchor_set(original.as_bytes());
            assert!(mine.len() >= 3, "{}", mine.len());
            let rewrapped: String = original
                .split(' ')
                .enumerate()
                .map(|(i, w)| {
                    if i % 5 == 4 {
                        format!("{w}\r\n")
                    } else {
                        format!("{w}  ")
                    }
                })
                .collect();
            let quoted = format!("> {}", original.replace(' ', "\n> "));
            let punctuated = original.replace('、', "。").replace('「', "『");
            for copy in [rewrapped, quoted, punctuated, original.to_uppercase()] {
                assert_eq!(anchor_set(copy.as_bytes()), mine, "{copy:?}");
            }
        }
    }

    fn anchor_set(text: &[u8]) -> std::collections::BTreeSet<u64> {
        found(text, 7).into_iter().map(|(_, h)| h).collect()
    }

    #[test]
    fn a_copied_passage_keeps_its_anchors_wherever_it_lands() {
        let passage = "冷却板の流路は蛇行形状とし、入口温度が二十五度で最大発熱四百ワットを想定する。\
                       The Mamori module measures 120 mm and weighs 300 g.";
        let mine: std::collections::BTreeSet<u64> = found(passage.as_bytes(), 7)
            .into_iter()
            .map(|(_, h)| h)
            .collect();
        assert!(mine.len() >= 5, "{}", mine.len());
        for prefix in ["", "x", "前置き：", "Hello,\n"] {
            let text = format!("{prefix}{passage} 以上です。");
            let theirs: std::collections::BTreeSet<u64> = found(text.as_bytes(), 7)
                .into_iter()
                .map(|(_, h)| h)
                .collect();
            assert!(mine.is_subset(&theirs), "{prefix:?}");
        }
        // Case does not matter; the seed does.
        let upper = found(passage.to_uppercase().as_bytes(), 7);
        assert_eq!(upper.len(), found(passage.as_bytes(), 7).len());
        assert!(
            upper
                .iter()
                .zip(found(passage.as_bytes(), 7))
                .all(|(a, b)| a.1 == b.1)
        );
        let other_seed: std::collections::BTreeSet<u64> = found(passage.as_bytes(), 8)
            .into_iter()
            .map(|(_, h)| h)
            .collect();
        assert!(mine.is_disjoint(&other_seed));
    }

    #[test]
    fn an_anchor_needs_a_full_window_within_reach() {
        assert!(found(b"mmmmmmmmmmmmmmmmmmmmmmm", 1).is_empty());
        assert_eq!(found(b"mmmmmmmmmmmmmmmmmmmmmmmm", 1).len(), 1);
        // Punctuation and spaces do not count towards the window.
        assert!(found(b"m m m m m m m m m m m m m m m m m m m m m m m", 1).is_empty());
        assert_eq!(
            found(b"m m m m m m m m m m m m m m m m m m m m m m m m", 1).len(),
            1
        );
        // Nor do more than ANCHOR_REACH bytes.
        let far = format!("m{}{}", " ".repeat(ANCHOR_REACH), "a".repeat(30));
        assert!(found(far.as_bytes(), 1).is_empty());
    }

    proptest! {
        #[test]
        fn block_search_agrees_with_byte_by_byte(
            text in proptest::collection::vec(
                prop_oneof![Just(b'm'), Just(b'M'), Just(0x8Cu8), Just(b' '), Just(0xE3), Just(0x80), any::<u8>()],
                0..200,
            ),
            seed in any::<u64>(),
        ) {
            prop_assert_eq!(found(&text, seed), reference(&text, seed));
        }
    }
}
