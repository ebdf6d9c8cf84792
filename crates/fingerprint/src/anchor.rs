//! Anchors: a cheap first look at scanned text, so that winnowing runs only where a registered
//! document may be.
//!
//! Winnowing costs a rolling hash, a 64-bit mix and a window comparison for every character;
//! most scanned text holds nothing registered, and the inspection engine itself reads text at
//! close to a gigabyte per second per core. An *anchor* is every occurrence, in the engine's
//! normalised text, of one of the bytes in [`ANCHOR_BYTES`], and its hash is the hash of the
//! [`ANCHOR_WIDTH`] bytes starting there (ASCII letters lower-cased). Registration records the
//! anchors of each document's engine text; the scan finds the anchor bytes a block at a time
//! (64 bytes with AVX2 where the CPU has it, else 16 with SSE2: SIMD comparisons and a bit
//! mask) and hashes only there. Text with no registered
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

/// The three words of the window at `p` (`p + ANCHOR_WIDTH <= text.len()`), folded.
#[inline]
fn folded_window(text: &[u8], p: usize) -> [u64; 3] {
    let word = |i: usize| {
        let bytes: [u8; 8] = text
            .get(p + i..p + i + 8)
            .and_then(|w| w.try_into().ok())
            .unwrap_or_default();
        fold(u64::from_le_bytes(bytes))
    };
    [word(0), word(8), word(16)]
}

/// The hash of a window from its three folded words.
#[inline]
fn window_hash([w0, w1, w2]: [u64; 3], seed: u64) -> u64 {
    // Three independent multiplications (a bijection of each word), combined, then the high
    // half folded into the low one and multiplied once more, so that every bit the lookups
    // use (the filter takes bits 6-43, the buckets the top 16) depends on every byte. Good
    // enough for set membership: a collision only makes a block winnowed.
    let x = w0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ w1.wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
        ^ w2.wrapping_mul(0x1656_67B1_9E37_79F9)
        ^ seed;
    crate::winnow::mix64(x)
}

/// Bytes of text whose anchors [`for_each_anchor_chunk`] hands over at once.
const CHUNK: usize = 2048;

/// Entries an offset buffer needs beyond one per byte: the finders write a few positions
/// past the last one found instead of testing for each.
const OFFSET_SLACK: usize = 8;

/// Writes to `out` the offsets from `from` of the anchor bytes in `text[from..to]`, in order,
/// and returns how many there are (`out.len() >= to - from + OFFSET_SLACK`; bytes after `to`
/// may be read, never reported). 16 bytes at a time with SSE2 (`wide`): what every x86-64
/// has, and the reference the AVX2 version is tested against. On the machine of the
/// benchmarks it is eight times slower than the AVX2 one (60 against 7.6 ms for 124 MB): each
/// block pays a mask test and a population count done in software.
fn portable_anchor_offsets(text: &[u8], from: usize, to: usize, out: &mut [u32]) -> usize {
    let wanted = ANCHOR_BYTES.map(u8x16::splat);
    let mut found = 0usize;
    let mut at = from;
    while at < to {
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
        if to - at < 16 {
            mask &= (1u32 << (to - at)) - 1;
        }
        let base = (at - from) as u32;
        while mask != 0 {
            out[found] = base + mask.trailing_zeros();
            mask &= mask - 1;
            found += 1;
        }
        at += 16;
    }
    found
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::{
        __m256i, _mm256_and_si256, _mm256_andnot_si256, _mm256_cmpeq_epi8, _mm256_cmpgt_epi8,
        _mm256_movemask_epi8, _mm256_or_si256, _mm256_set1_epi8,
    };

    use super::ANCHOR_BYTES;

    /// [`super::for_each_anchor_chunk`] with AVX2: the anchor bytes found 64 at a time, each
    /// anchor's window folded in one register. (Folding the whole chunk 32 bytes at a time
    /// before hashing was tried: slower, 218 → 239 ms on the benchmark scan, since the windows
    /// cover less than half of the text.)
    #[target_feature(enable = "avx2,popcnt,bmi1")]
    pub(super) fn for_each_anchor_chunk(
        text: &[u8],
        seed: u64,
        f: &mut dyn FnMut(&[usize], &[u64]),
    ) {
        super::anchor_chunks(
            text,
            seed,
            f,
            |text, from, to, out| anchor_offsets(text, from, to, out),
            |text, p| folded_window(text, p),
        );
    }

    /// The three folded words of the window at `p` ([`super::folded_window`]), folded 32
    /// bytes at once when 32 bytes can be read from `p`: the fold is byte by byte, so the
    /// words are the same either way.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn folded_window(text: &[u8], p: usize) -> [u64; 3] {
        let Some(bytes) = text.get(p..p + 32) else {
            return super::folded_window(text, p);
        };
        let bytes: [u8; 32] = bytes.try_into().unwrap_or([0; 32]);
        let v: __m256i = bytemuck::cast(bytes);
        // Signed compares: bytes from 0x80 up are negative, neither capitals nor controls.
        let upper = _mm256_and_si256(
            _mm256_cmpgt_epi8(v, _mm256_set1_epi8(b'A' as i8 - 1)),
            _mm256_cmpgt_epi8(_mm256_set1_epi8(b'Z' as i8 + 1), v),
        );
        let control = _mm256_and_si256(
            _mm256_cmpgt_epi8(_mm256_set1_epi8(0x20), v),
            _mm256_cmpgt_epi8(v, _mm256_set1_epi8(-1)),
        );
        let space = _mm256_set1_epi8(0x20);
        let folded = _mm256_or_si256(
            _mm256_or_si256(
                _mm256_andnot_si256(control, v),
                _mm256_and_si256(control, space),
            ),
            _mm256_and_si256(upper, space),
        );
        let [w0, w1, w2, _]: [u64; 4] = bytemuck::cast(folded);
        [w0, w1, w2]
    }

    /// Loads 32 bytes of `bytes` from `at`, zeros past its end.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn load32(bytes: &[u8], at: usize) -> __m256i {
        let block: [u8; 32] = match bytes.get(at..at + 32) {
            Some(b) => b.try_into().unwrap_or([0; 32]),
            None => {
                let mut block = [0u8; 32];
                let tail = bytes.get(at..).unwrap_or_default();
                block[..tail.len()].copy_from_slice(tail);
                block
            }
        };
        bytemuck::cast(block)
    }

    /// The anchor bytes of 32 bytes, as a bit mask.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn mask32(v: __m256i) -> u32 {
        let [a, b, c] = ANCHOR_BYTES.map(|x| _mm256_set1_epi8(x as i8));
        let hits = _mm256_or_si256(
            _mm256_or_si256(_mm256_cmpeq_epi8(v, a), _mm256_cmpeq_epi8(v, b)),
            _mm256_cmpeq_epi8(v, c),
        );
        _mm256_movemask_epi8(hits) as u32
    }

    /// [`super::portable_anchor_offsets`] 64 bytes at a time: two 32-byte compares make one
    /// 64-bit mask, and its positions are written four at a time without a branch per
    /// position (an anchor comes about once per 60 bytes; more than four in a block take a
    /// short loop).
    #[target_feature(enable = "avx2,popcnt,bmi1")]
    pub(super) fn anchor_offsets(text: &[u8], from: usize, to: usize, out: &mut [u32]) -> usize {
        let mut found = 0usize;
        let mut at = from;
        while at < to {
            let mut mask = u64::from(mask32(load32(text, at)))
                | (u64::from(mask32(load32(text, at + 32))) << 32);
            if to - at < 64 {
                mask &= (1u64 << (to - at)) - 1;
            }
            let count = mask.count_ones() as usize;
            let base = (at - from) as u32;
            // Four written whatever the count (a zero mask gives 64: past the count, never
            // read).
            for slot in &mut out[found..found + 4] {
                *slot = base + mask.trailing_zeros();
                mask &= mask.wrapping_sub(1);
            }
            let mut extra = found + 4;
            while mask != 0 {
                out[extra] = base + mask.trailing_zeros();
                mask &= mask - 1;
                extra += 1;
            }
            found += count;
            at += 64;
        }
        found
    }
}

/// Calls `f(positions, hashes)` with the anchors of `text` whose window lies inside it, in
/// order, a chunk of text at a time (`positions[i]` is where the anchor with `hashes[i]`
/// starts). `seed` is the index's.
///
/// Written in passes over a chunk, because an anchor comes every 30-odd bytes and a loop that
/// branches on each one mispredicts: the anchor bytes are found a block at a time and their
/// positions written without a branch per position (four unconditionally, the count added
/// after); then the hashes are computed in a loop without branches, dropping the last byte
/// of a CJK punctuation mark by not advancing the output. The caller gets whole arrays to
/// probe its filters with, loads that do not wait for one another. With AVX2 (checked at run
/// time) the blocks are 64 bytes ([`avx2`]).
#[inline]
pub(crate) fn for_each_anchor_chunk(text: &[u8], seed: u64, mut f: impl FnMut(&[usize], &[u64])) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("popcnt")
        && std::arch::is_x86_feature_detected!("bmi1")
    {
        #[allow(unsafe_code)]
        // SAFETY: the function is compiled for AVX2, POPCNT and BMI1, and the CPU has all
        // three (checked just above); it does nothing else that needs care (safe slice
        // indexing, safe intrinsics on values).
        unsafe {
            avx2::for_each_anchor_chunk(text, seed, &mut f);
        }
        return;
    }
    portable_for_each_anchor_chunk(text, seed, &mut f);
}

/// [`for_each_anchor_chunk`] with SSE2 only.
fn portable_for_each_anchor_chunk(text: &[u8], seed: u64, f: &mut dyn FnMut(&[usize], &[u64])) {
    anchor_chunks(text, seed, f, portable_anchor_offsets, folded_window);
}

/// The chunk loop both paths share: `find_offsets(text, from, to, out)` is
/// [`portable_anchor_offsets`] or its AVX2 twin, `fold_window` [`folded_window`] or its twin.
/// Inlined into each, so that the AVX2 one is compiled with its features.
#[inline(always)]
fn anchor_chunks(
    text: &[u8],
    seed: u64,
    f: &mut dyn FnMut(&[usize], &[u64]),
    find_offsets: impl Fn(&[u8], usize, usize, &mut [u32]) -> usize,
    fold_window: impl Fn(&[u8], usize) -> [u64; 3],
) {
    // Anchors at positions before `end` have their whole window in the text.
    let Some(end) = text.len().checked_sub(ANCHOR_WIDTH - 1) else {
        return;
    };
    // Room for every byte of a chunk being an anchor, and for the unconditional writes past
    // the last one.
    let mut offsets = [0u32; CHUNK + OFFSET_SLACK];
    let mut positions = [0usize; CHUNK];
    let mut hashes = [0u64; CHUNK];
    let mut chunk_start = 0;
    while chunk_start < end {
        let chunk_end = (chunk_start + CHUNK).min(end);
        let found = find_offsets(text, chunk_start, chunk_end, &mut offsets);
        let mut kept = 0;
        for &offset in &offsets[..found] {
            let p = chunk_start + offset as usize;
            positions[kept] = p;
            hashes[kept] = window_hash(fold_window(text, p), seed);
            kept += usize::from(!in_punctuation_mark(text, p));
        }
        f(&positions[..kept], &hashes[..kept]);
        chunk_start = chunk_end;
    }
}

/// Whether the byte at `p` is the last of a CJK punctuation mark (「 is E3 80 8C): no anchor.
#[inline]
fn in_punctuation_mark(text: &[u8], p: usize) -> bool {
    // One comparison of the two bytes before as a 16-bit word, not two tests in a row: in
    // Japanese text the byte two before an anchor is a lead byte, E3 (kana) as often as not,
    // and a branch on it mispredicted often enough to be a fifth of the anchor pass.
    let before = match p.checked_sub(2).and_then(|at| text.get(at..p)) {
        Some(&[a, b]) => u16::from_le_bytes([a, b]),
        _ => 0,
    };
    before == u16::from_le_bytes([0xE3, 0x80])
}

/// Calls `f(position, hash)` for every anchor of `text` whose window lies inside it, in
/// order. `seed` is the index's.
#[inline]
pub(crate) fn for_each_anchor(text: &[u8], seed: u64, mut f: impl FnMut(usize, u64)) {
    for_each_anchor_chunk(text, seed, |positions, hashes| {
        for (&p, &h) in positions.iter().zip(hashes) {
            f(p, h);
        }
    });
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
                out.push((p, window_hash(folded_window(&window, 0), seed)));
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

    fn found_portably(text: &[u8], seed: u64) -> Vec<(usize, u64)> {
        let mut out = Vec::new();
        portable_for_each_anchor_chunk(text, seed, &mut |positions, hashes| {
            out.extend(positions.iter().copied().zip(hashes.iter().copied()));
        });
        out
    }

    proptest! {
        /// Long texts (several chunks, anchors dense and sparse, capitals and control bytes
        /// for the folding): the path this machine takes (AVX2 where it has it) and the SSE2
        /// one find the same anchors as a byte-by-byte search.
        #[test]
        fn both_paths_agree_with_byte_by_byte_across_chunks(
            text in proptest::collection::vec(
                prop_oneof![
                    Just(b'm'), Just(b'M'), Just(0x8Cu8), Just(0xE3), Just(0x80), Just(b'\t'),
                    Just(b'\n'), Just(b' '), b'A'..=b'Z', b'a'..=b'z', any::<u8>(),
                ],
                0..6000,
            ),
            sparse in any::<bool>(),
            seed in any::<u64>(),
        ) {
            // Sparse: most anchor bytes turned into another letter.
            let text: Vec<u8> = if sparse {
                text.iter().enumerate().map(|(i, &b)| if ANCHOR_BYTES.contains(&b) && i % 7 != 0 { b'x' } else { b }).collect()
            } else {
                text
            };
            let expected = reference(&text, seed);
            prop_assert_eq!(&found(&text, seed), &expected);
            prop_assert_eq!(&found_portably(&text, seed), &expected);
        }

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
