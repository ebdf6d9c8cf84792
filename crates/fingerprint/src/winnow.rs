//! Winnowing (Schleimer, Wilkerson and Aiken, SIGMOD 2003) over character k-grams.
//!
//! Every run of `k` consecutive normalised characters is hashed; of every `window` consecutive
//! hashes the minimum is kept as a fingerprint. Two texts sharing a run of at least
//! `k + window - 1` normalised characters are guaranteed to share a fingerprint, and the density
//! of fingerprints is about `2 / (window + 1)` per character, whatever the language. Japanese has
//! no word boundaries, so the scheme is deliberately character-level.
//!
//! Ties are broken the robust way: when the minimum of the new window equals the fingerprint
//! already chosen and that one is still inside the window, nothing new is emitted; otherwise the
//! rightmost minimum is chosen. This keeps low-entropy runs (long rows of the same character)
//! from flooding the index.
//!
//! The [`Winnower`] is streaming: characters may arrive in any number of pieces and the result
//! is the same as for the whole text at once, with memory bounded by `k + window`.

/// Winnowing parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WinnowParams {
    /// Characters per k-gram.
    pub k: u32,
    /// k-gram hashes per window.
    pub window: u32,
    /// Per-index secret mixed into every hash, so that hashes of one index say nothing about
    /// another's and cannot be looked up in a precomputed table.
    pub seed: u64,
}

impl WinnowParams {
    /// The shortest shared run of normalised characters that is guaranteed to be detected.
    pub fn guaranteed_match_length(&self) -> u32 {
        self.k + self.window - 1
    }
}

/// Largest k-gram length (the ring buffer is fixed-size).
pub const MAX_K: usize = 64;
/// Largest window (the hash history is fixed-size; larger windows are clamped).
pub const MAX_WINDOW: usize = 1024;
/// Slots of the hash history: a power of two at least [`MAX_WINDOW`], so that an index masked
/// with `RING - 1` needs no bounds check.
const RING: usize = MAX_WINDOW;

/// The multiplier of the polynomial rolling hash (an odd 64-bit constant, arithmetic mod 2^64).
const BASE: u64 = 0x9E37_79B9_7F4A_7C15 | 1;

/// The 64-bit finaliser of MurmurHash3: spreads the rolling hash over all bits, so that the
/// minimum of a window is not biased towards particular characters.
#[inline]
pub(crate) fn mix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    x
}

/// Streaming winnowing over normalised characters.
#[derive(Debug, Clone)]
pub struct Winnower {
    params: WinnowParams,
    /// The last `k` characters (as hash inputs), a ring buffer indexed by `chars % k`.
    gram: [u64; MAX_K],
    /// Characters pushed so far.
    chars: u64,
    /// Next ring-buffer slot (`chars % k`, kept without a division).
    slot: usize,
    /// BASE^k, to remove the character leaving the k-gram.
    base_pow_k: u64,
    rolling: u64,
    /// Index of the next k-gram.
    next_gram: u64,
    /// Hashes of the last `window` k-grams, k-gram `i` at `history[i % RING]`.
    history: Box<[u64; RING]>,
    /// The rightmost minimum of the current window (hash, k-gram index), if any k-gram yet.
    ///
    /// Kept without the usual monotonic queue: a new hash at or below it replaces it, and when
    /// it leaves the window the window is searched again (about once per window, a branch-free
    /// loop). The queue's pops were unpredictable branches, a third of `mamori scan`'s time
    /// with an index.
    minimum: Option<(u64, u64)>,
    /// The fingerprint chosen for the previous window.
    chosen: Option<(u64, u64)>,
}

impl Winnower {
    /// A winnower with the given parameters. `k` and `window` must be at least 1 (they are
    /// clamped).
    pub fn new(params: WinnowParams) -> Winnower {
        let params = WinnowParams {
            k: params.k.clamp(1, MAX_K as u32),
            window: params.window.clamp(1, MAX_WINDOW as u32),
            ..params
        };
        let mut base_pow_k: u64 = 1;
        for _ in 0..params.k {
            base_pow_k = base_pow_k.wrapping_mul(BASE);
        }
        Winnower {
            params,
            gram: [0; MAX_K],
            chars: 0,
            slot: 0,
            base_pow_k,
            rolling: 0,
            next_gram: 0,
            history: Box::new([0; RING]),
            minimum: None,
            chosen: None,
        }
    }

    /// The parameters in force.
    pub fn params(&self) -> WinnowParams {
        self.params
    }

    /// Characters pushed so far.
    pub fn pushed(&self) -> u64 {
        self.chars
    }

    /// Feeds one normalised character; calls `emit(hash)` for each new fingerprint.
    #[inline]
    pub fn push(&mut self, c: char, emit: &mut impl FnMut(u64)) {
        self.push_at(c, &mut |hash, _| emit(hash));
    }

    /// Feeds one normalised character; calls `emit(hash, start)` for each new fingerprint,
    /// where `start` is the position (in normalised characters since the first one pushed)
    /// of the k-gram's first character. The k-gram covers `start..start + k`.
    #[inline]
    pub fn push_at(&mut self, c: char, emit: &mut impl FnMut(u64, u64)) {
        let value = u64::from(c) + 1;
        let k = self.params.k as u64;
        let slot = self.slot;
        // The character leaving the k-gram (0 while the first k-gram fills up).
        let old = self.gram[slot];
        self.gram[slot] = value;
        self.slot = if slot + 1 == self.params.k as usize {
            0
        } else {
            slot + 1
        };
        self.chars += 1;
        self.rolling = self
            .rolling
            .wrapping_mul(BASE)
            .wrapping_add(value)
            .wrapping_sub(old.wrapping_mul(self.base_pow_k));
        if self.chars < k {
            return;
        }
        let hash = mix64(self.rolling ^ self.params.seed);
        let index = self.next_gram;
        self.next_gram += 1;
        const MASK: usize = RING - 1;
        self.history[index as usize & MASK] = hash;
        let window = u64::from(self.params.window);
        // The window is the k-grams (index + 1 - window ..= index).
        let (min_hash, min_index) = match self.minimum {
            Some((m, _)) if hash <= m => (hash, index),
            Some((m, at)) if at + window > index => (m, at),
            // The minimum left the window (or this is the first k-gram): search it again.
            _ => {
                let first = (index + 1).saturating_sub(window);
                let mut best = (u64::MAX, first);
                for i in first..=index {
                    let h = self.history[i as usize & MASK];
                    if h <= best.0 {
                        best = (h, i);
                    }
                }
                best
            }
        };
        self.minimum = Some((min_hash, min_index));
        if index + 1 < window {
            return;
        }
        if let Some((chosen_hash, chosen_index)) = self.chosen
            && chosen_hash == min_hash
            && chosen_index + window > index
        {
            return;
        }
        self.chosen = Some((min_hash, min_index));
        emit(min_hash, min_index);
    }

    /// Feeds normalised text (see [`crate::normalize`]).
    pub fn push_str(&mut self, normalised: &str, emit: &mut impl FnMut(u64)) {
        for c in normalised.chars() {
            self.push(c, emit);
        }
    }

    /// Feeds normalised text; `emit(hash, start)` as in [`Winnower::push_at`].
    pub fn push_str_at(&mut self, normalised: &str, emit: &mut impl FnMut(u64, u64)) {
        for c in normalised.chars() {
            self.push_at(c, emit);
        }
    }

    /// Ends the text. A text too short to fill one window but at least `k` characters long
    /// still gets one fingerprint (the minimum over what there is), so short documents can be
    /// registered.
    pub fn finish(self, emit: &mut impl FnMut(u64)) {
        self.finish_at(&mut |hash, _| emit(hash));
    }

    /// [`Winnower::finish`], with the k-gram's start as in [`Winnower::push_at`].
    pub fn finish_at(self, emit: &mut impl FnMut(u64, u64)) {
        if self.chosen.is_none()
            && let Some((hash, start)) = self.minimum
        {
            emit(hash, start);
        }
    }
}

/// All fingerprints of a normalised text, in order of appearance (with repeats).
pub fn fingerprints(normalised: &str, params: WinnowParams) -> Vec<u64> {
    let mut out = Vec::new();
    let mut winnower = Winnower::new(params);
    winnower.push_str(normalised, &mut |h| out.push(h));
    winnower.finish(&mut |h| out.push(h));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const P: WinnowParams = WinnowParams {
        k: 5,
        window: 8,
        seed: 42,
    };

    fn set(v: Vec<u64>) -> std::collections::BTreeSet<u64> {
        v.into_iter().collect()
    }

    #[test]
    fn short_text_has_no_or_one_fingerprint() {
        assert!(fingerprints("abcd", P).is_empty());
        assert_eq!(fingerprints("abcde", P).len(), 1);
    }

    #[test]
    fn seed_changes_hashes() {
        let text = "これは十分に長い日本語の文章でありますよね";
        let a = set(fingerprints(text, P));
        let b = set(fingerprints(text, WinnowParams { seed: 43, ..P }));
        assert!(a.is_disjoint(&b));
    }

    #[test]
    fn repeated_character_gives_few_fingerprints() {
        let text: String = std::iter::repeat_n('あ', 1000).collect();
        // Every k-gram hashes the same; robust winnowing keeps one per window span, not one
        // per position.
        let fps = fingerprints(&text, P);
        assert!(fps.len() <= 1000 / P.window as usize + 2, "{}", fps.len());
    }

    #[test]
    fn density_is_near_two_over_window_plus_one() {
        let text: String = (0..20_000u32)
            .map(|i| char::from_u32(0x4E00 + (mix64(u64::from(i)) % 2000) as u32).unwrap())
            .collect();
        let p = WinnowParams {
            k: 10,
            window: 41,
            seed: 7,
        };
        let n = fingerprints(&text, p).len() as f64;
        let expected = 20_000.0 * 2.0 / 42.0;
        assert!((n / expected - 1.0).abs() < 0.15, "{n} vs {expected}");
    }

    #[test]
    fn positions_name_the_k_gram_of_each_fingerprint() {
        let text: String = (0..2000u32)
            .map(|i| char::from_u32(0x4E00 + (mix64(u64::from(i) + 5) % 500) as u32).unwrap())
            .collect();
        let chars: Vec<char> = text.chars().collect();
        let mut seen = Vec::new();
        let mut w = Winnower::new(P);
        w.push_str_at(&text, &mut |h, at| seen.push((h, at)));
        assert!(seen.len() > 100);
        let one = WinnowParams { window: 1, ..P };
        let mut last = 0;
        for (hash, at) in seen {
            assert!(at >= last, "positions go forward");
            last = at;
            let gram: String = chars[at as usize..at as usize + P.k as usize]
                .iter()
                .collect();
            assert_eq!(fingerprints(&gram, one), vec![hash], "at {at}");
        }
    }

    /// Winnowing by its definition, window by window: the rightmost minimum, unless the
    /// fingerprint chosen before is still inside and still minimal.
    fn reference(text: &str, p: WinnowParams) -> Vec<(u64, u64)> {
        let chars: Vec<char> = text.chars().collect();
        let k = p.k as usize;
        if chars.len() < k {
            return Vec::new();
        }
        let one = WinnowParams { window: 1, ..p };
        let hashes: Vec<u64> = (0..=chars.len() - k)
            .map(|i| fingerprints(&chars[i..i + k].iter().collect::<String>(), one)[0])
            .collect();
        let w = p.window as usize;
        let mut out = Vec::new();
        let mut chosen: Option<(u64, usize)> = None;
        if hashes.len() < w {
            let min = *hashes.iter().min().unwrap();
            let at = hashes.iter().rposition(|&h| h == min).unwrap();
            return vec![(min, at as u64)];
        }
        for start in 0..=hashes.len() - w {
            let min = *hashes[start..start + w].iter().min().unwrap();
            if let Some((h, at)) = chosen
                && h == min
                && at >= start
            {
                continue;
            }
            let at = start
                + hashes[start..start + w]
                    .iter()
                    .rposition(|&h| h == min)
                    .unwrap();
            chosen = Some((min, at));
            out.push((min, at as u64));
        }
        out
    }

    proptest! {
        #[test]
        fn streaming_in_pieces_equals_whole(text in "[a-zあ-ん]{0,300}", cut in 0usize..300) {
            let whole = fingerprints(&text, P);
            let cut = text.char_indices().map(|(i, _)| i).nth(cut).unwrap_or(text.len());
            let mut out = Vec::new();
            let mut w = Winnower::new(P);
            w.push_str(&text[..cut], &mut |h| out.push(h));
            w.push_str(&text[cut..], &mut |h| out.push(h));
            w.finish(&mut |h| out.push(h));
            prop_assert_eq!(whole, out);
        }

        #[test]
        fn agrees_with_the_definition(text in "[ab]{0,120}|[a-zあ-ん]{0,200}", window in 1u32..12) {
            let p = WinnowParams { k: 4, window, seed: 3 };
            let mut out = Vec::new();
            let mut w = Winnower::new(p);
            w.push_str_at(&text, &mut |h, at| out.push((h, at)));
            w.finish_at(&mut |h, at| out.push((h, at)));
            prop_assert_eq!(out, reference(&text, p));
        }

        #[test]
        fn shared_run_of_guaranteed_length_shares_a_fingerprint(
            a in "[a-z]{0,100}", shared in "[a-zあ-ん]{12,80}", b in "[0-9]{0,100}", c in "[A-Z]{0,50}",
        ) {
            prop_assume!(shared.chars().count() as u32 >= P.guaranteed_match_length());
            let one = set(fingerprints(&format!("{a}{shared}{b}"), P));
            let two = set(fingerprints(&format!("{c}{shared}"), P));
            prop_assert!(!one.is_disjoint(&two));
        }
    }
}
