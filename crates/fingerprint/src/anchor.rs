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
//! The hash is over the raw bytes of the window, folded only where that costs a few
//! instructions for eight bytes at once: ASCII letters lower-cased, and tabs, carriage returns
//! and line feeds made spaces (a copy re-wrapped at another width keeps its anchors). The
//! engine's normalisation has already folded full-width forms and joined line breaks between
//! Japanese characters. What breaks an anchor is a change inside its window that changes its
//! length: a doubled space, CRLF for LF, mail quoting, an inserted word. The other anchors of
//! the passage remain, and one registered anchor is enough; but English text re-spaced
//! throughout (every space doubled) loses them all, and is then found only when something else
//! in the scanned text is hot. Making the window skip what the fingerprints skip was tried
//! (2026-12-05): each way of writing it (branches, branch-free stores, a multiply per kept
//! byte) cost 80-90 ns per anchor, against about 20 for all the rest, and tripled the scan's
//! cost with an index (`docs/benchmarks.md`).

use wide::u8x16;

/// Bytes of text an anchor's hash covers, from the anchor byte on.
pub(crate) const ANCHOR_WIDTH: usize = 24;
/// Bytes from an anchor that its hash depends on: what must be carried into the next piece
/// to find anchors that cross the boundary.
pub(crate) const ANCHOR_REACH: usize = ANCHOR_WIDTH;

/// The bytes that start an anchor (see the module documentation for why these).
pub(crate) const ANCHOR_BYTES: [u8; 3] = [b'm', b'M', 0x8C];

/// Folds eight bytes at once: ASCII capitals become small letters, and ASCII control
/// bytes (tab, line feed, carriage return) become spaces; other bytes are left alone. Written
/// as arithmetic on the whole word instead of eight branches.
#[inline]
fn fold(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x80 * ONES;
    let low7 = x & (0x7F * ONES);
    let ascii = !x & HIGH;
    // High bit of each byte set when its low seven bits are >= 'A' (resp. > 'Z', >= 0x20);
    // no carry crosses bytes since each sum stays below 0x100.
    let at_least_a = low7 + (0x80 - u64::from(b'A')) * ONES;
    let above_z = low7 + (0x7F - u64::from(b'Z')) * ONES;
    let printable = low7 + (0x80 - 0x20) * ONES;
    let upper = at_least_a & !above_z & ascii;
    let control = !printable & ascii & HIGH;
    // A control byte becomes 0x20: clear it (its high bit, shifted down, selects the byte),
    // then set bit 5.
    let control_bytes = (control >> 7) * 0xFF;
    ((x & !control_bytes) | (control >> 2)) | (upper >> 2)
}

/// The hash of one anchor's window (`window.len() == ANCHOR_WIDTH`).
#[inline]
fn window_hash(window: &[u8; ANCHOR_WIDTH], seed: u64) -> u64 {
    let word = |i: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&window[i..i + 8]);
        fold(u64::from_le_bytes(bytes))
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

/// Calls `f(position, hash)` for every anchor of `text` whose window lies inside it, in
/// order. `seed` is the index's.
#[inline]
pub(crate) fn for_each_anchor(text: &[u8], seed: u64, mut f: impl FnMut(usize, u64)) {
    // Anchors at positions before `end` have their whole window in the text.
    let Some(end) = text.len().checked_sub(ANCHOR_WIDTH - 1) else {
        return;
    };
    let wanted = ANCHOR_BYTES.map(u8x16::splat);
    let mut at = 0;
    while at < end {
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
        if end - at < 16 {
            mask &= (1u32 << (end - at)) - 1;
        }
        while mask != 0 {
            let p = at + mask.trailing_zeros() as usize;
            mask &= mask - 1;
            // The last byte of a CJK punctuation mark (「 is E3 80 8C) is no anchor.
            if p >= 2 && text[p - 2] == 0xE3 && text[p - 1] == 0x80 {
                continue;
            }
            let mut window = [0u8; ANCHOR_WIDTH];
            window.copy_from_slice(&text[p..p + ANCHOR_WIDTH]);
            f(p, window_hash(&window, seed));
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

    /// The same anchors, found one byte at a time with the plain lower-casing.
    fn reference(text: &[u8], seed: u64) -> Vec<(usize, u64)> {
        let mut out = Vec::new();
        for p in 0..text.len() {
            let in_mark = p >= 2 && text[p - 2] == 0xE3 && text[p - 1] == 0x80;
            if ANCHOR_BYTES.contains(&text[p]) && p + ANCHOR_WIDTH <= text.len() && !in_mark {
                let mut window = [0u8; ANCHOR_WIDTH];
                for (w, &b) in window.iter_mut().zip(&text[p..]) {
                    *w = if b < 0x20 {
                        b' '
                    } else {
                        b.to_ascii_lowercase()
                    };
                }
                // Lower-cased already: the hash's own folding must change nothing more.
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
    fn folding_makes_capitals_small_and_control_bytes_spaces() {
        let all: Vec<u8> = (0..=255).collect();
        for chunk in all.chunks(8) {
            let word = u64::from_le_bytes(chunk.try_into().unwrap());
            for (&b, f) in chunk.iter().zip(fold(word).to_le_bytes()) {
                let expected = if b < 0x20 {
                    b' '
                } else {
                    b.to_ascii_lowercase()
                };
                assert_eq!(f, expected, "{b:#x}");
            }
        }
    }

    #[test]
    fn rewrapping_keeps_the_anchors() {
        let text = "The Mamori module measures 120 mm across and must remain confidential until \
                    the product announcement planned for the third quarter of the year.";
        let anchors = |t: &str| -> std::collections::BTreeSet<u64> {
            found(t.as_bytes(), 7).into_iter().map(|(_, h)| h).collect()
        };
        let mine = anchors(text);
        assert!(mine.len() >= 4, "{}", mine.len());
        let rewrapped: String = text
            .split(' ')
            .enumerate()
            .map(|(i, w)| {
                if i % 4 == 3 {
                    format!("{w}\n")
                } else {
                    format!("{w} ")
                }
            })
            .collect();
        assert_eq!(anchors(rewrapped.trim_end()), mine);
        assert_eq!(anchors(&text.replace(' ', "\t")), mine);
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
    fn short_text_has_no_anchor() {
        assert!(found(b"mmmmmmmmmmmmmmmmmmmmmmm", 1).is_empty());
        assert_eq!(found(b"mmmmmmmmmmmmmmmmmmmmmmmm", 1).len(), 1);
    }

    proptest! {
        #[test]
        fn block_search_agrees_with_byte_by_byte(
            text in proptest::collection::vec(
                prop_oneof![Just(b'm'), Just(b'M'), Just(0x8Cu8), Just(0xE3), Just(0x80), Just(b'\n'), any::<u8>()],
                0..200,
            ),
            seed in any::<u64>(),
        ) {
            prop_assert_eq!(found(&text, seed), reference(&text, seed));
        }
    }
}
