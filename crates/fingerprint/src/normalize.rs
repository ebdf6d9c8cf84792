//! The normalisation fingerprints and exact data match share.
//!
//! Text is compared after NFKC (full-width letters and digits become ASCII, half-width katakana
//! becomes full-width), lower-casing, and dropping everything that is not a letter or a digit
//! (spaces, line breaks, punctuation, symbols). Japanese has no spaces between words, so dropping
//! white space costs nothing there and makes reflowed, re-spaced or re-wrapped copies identical
//! to the original. The function is idempotent: already-normalised text comes out unchanged, so
//! the inspection engine may hand over its own NFKC/case-folded text.

use std::borrow::Cow;

use icu_normalizer::ComposingNormalizerBorrowed;

/// Appends the normalised form of `text` to `out`: NFKC, lower case, letters and digits only.
///
/// ```
/// let mut out = String::new();
/// mamori_fingerprint::normalize_into("社外秘：Ｍａｍｏｒｉ 設計書、第２版", &mut out);
/// assert_eq!(out, "社外秘mamori設計書第2版");
/// ```
pub fn normalize_into(text: &str, out: &mut String) {
    let start = out.len();
    out.reserve(text.len());
    for c in nfkc(text).chars() {
        push_normalized_char(c, out);
    }
    // Dropping a separator between two combining marks can leave them out of canonical order
    // ("\u{10a0d} \u{1bc9e}", found by the `idempotent` property test). The appended text is
    // letters and digits only, so one more NFKC pass settles it; already-normal text (almost
    // all of it) comes back borrowed and costs only the quick check.
    if let Cow::Owned(settled) = nfkc(&out[start..]) {
        out.truncate(start);
        for c in settled.chars() {
            push_normalized_char(c, out);
        }
    }
}

/// The normalised form of `text` (see [`normalize_into`]).
pub fn normalize(text: &str) -> String {
    let mut out = String::new();
    normalize_into(text, &mut out);
    out
}

/// NFKC, skipping the normaliser for pure ASCII (the common case for already-normalised text).
fn nfkc(text: &str) -> Cow<'_, str> {
    if text.is_ascii() {
        Cow::Borrowed(text)
    } else {
        ComposingNormalizerBorrowed::new_nfkc().normalize(text)
    }
}

/// Lower-cases one NFKC character and appends it if it is a letter or a digit.
#[inline]
fn push_normalized_char(c: char, out: &mut String) {
    for_each_folded(c, &mut |c| out.push(c));
}

/// Calls `f` with what one NFKC character becomes: itself lower-cased if it is a letter or a
/// digit, nothing otherwise.
#[inline]
fn for_each_folded(c: char, f: &mut impl FnMut(char)) {
    if c.is_ascii() {
        if c.is_ascii_alphanumeric() {
            f(c.to_ascii_lowercase());
        }
        return;
    }
    // Fast path for the bulk of Japanese text: kanji, hiragana and katakana letters have no
    // case and are letters (checked by the `cjk_fast_path_agrees` test).
    if is_caseless_japanese_letter(c) {
        f(c);
        return;
    }
    // Japanese punctuation (、。「」『』・ and the ideographic space): not letters, and slow to
    // look up in the Unicode tables.
    if matches!(c, '\u{3000}'..='\u{3002}' | '\u{300C}'..='\u{300F}' | '\u{30FB}') {
        return;
    }
    if !c.is_alphanumeric() {
        return;
    }
    for lower in c.to_lowercase() {
        // Lower-casing may produce combining marks (U+0130 gives "i\u{307}"): keep only the
        // letters and digits, which keeps the function idempotent.
        if lower.is_alphanumeric() {
            f(lower);
        }
    }
}

/// Calls `f` with each character of [`normalize`]`(text)` when `text` is the inspection
/// engine's normalised text (`mamori_inspect::normalize`: NFKC already applied, case not
/// folded), without a second NFKC pass or a copy: what the scan side of fingerprinting runs
/// on. The engine keeps the secret stamp `㊙` that NFKC turns into `秘`, and compatibility
/// ideographs outside the BMP that NFKC replaces: both are mapped here as NFKC would.
/// (Combining marks that NFKC would reorder after a dropped separator, which
/// [`normalize_into`] settles, are not: such text is not Japanese.)
#[inline]
pub(crate) fn for_each_char_of_engine_text(text: &str, f: &mut impl FnMut(char)) {
    for c in text.chars() {
        match c {
            '\u{3299}' => f('秘'),
            '\u{2F800}'..='\u{2FA1F}' => {
                let mut s = String::new();
                normalize_into(c.encode_utf8(&mut [0; 4]), &mut s);
                s.chars().for_each(&mut *f);
            }
            c => for_each_folded(c, f),
        }
    }
}

/// Kanji, hiragana and katakana letters and the long vowel mark: letters without case, the
/// bulk of Japanese text (checked by the `cjk_fast_path_agrees` test).
#[inline]
pub(crate) fn is_caseless_japanese_letter(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3041}'..='\u{3096}' | '\u{30A1}'..='\u{30FA}' | '\u{30FC}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn full_width_and_spacing_collapse() {
        assert_eq!(
            normalize("Ｃｏｎｆｉｄｅｎｔｉａｌ　１２３"),
            "confidential123"
        );
        assert_eq!(normalize("設計\n書の　概要。"), "設計書の概要");
        assert_eq!(normalize("ｶﾞｲﾄﾞ"), "ガイド");
        assert_eq!(normalize("Straße ÄÖÜ"), "straßeäöü");
        assert_eq!(normalize("Hello, World!"), "helloworld");
        assert_eq!(normalize("İstanbul"), "istanbul");
        assert_eq!(normalize(""), "");
    }

    #[test]
    fn keeps_long_vowel_mark_and_iteration_mark() {
        assert_eq!(normalize("サーバー 人々"), "サーバー人々");
    }

    #[test]
    fn cjk_fast_path_agrees() {
        let ranges = [
            0x4E00..=0x9FFF,
            0x3041..=0x3096,
            0x30A1..=0x30FA,
            0x30FC..=0x30FC,
        ];
        for c in ranges.into_iter().flatten().filter_map(char::from_u32) {
            assert!(c.is_alphanumeric(), "{c:?}");
            assert!(c.to_lowercase().eq(std::iter::once(c)), "{c:?}");
        }
        for c in "\u{3000}、。「」『』・".chars() {
            assert!(!c.is_alphanumeric(), "{c:?}");
        }
    }

    #[test]
    fn combining_marks_separated_by_a_space_settle_in_one_pass() {
        let once = normalize("\u{10a0d} \u{1bc9e}");
        assert_eq!(normalize(&once), once);
    }

    fn from_engine_text(text: &str) -> String {
        let engine = mamori_inspect::normalize(text);
        let mut out = String::new();
        for_each_char_of_engine_text(engine.as_str(), &mut |c| out.push(c));
        out
    }

    #[test]
    fn engine_text_gives_the_registered_form() {
        for text in [
            "社外秘：Ｍａｍｏｒｉ 設計書、第２版",
            "㊙ 冷却板の流路 ｶﾞｲﾄﾞ",
            "Straße ÄÖÜ İstanbul",
            "\u{2F800}\u{2FA1D} 社\u{200B}外秘",
            "ＣＯＮＦＩＤＥＮＴＩＡＬ １２３",
        ] {
            assert_eq!(from_engine_text(text), normalize(text), "{text:?}");
        }
    }

    proptest! {
        #[test]
        fn idempotent(text in "\\PC{0,64}") {
            let once = normalize(&text);
            prop_assert_eq!(normalize(&once), once.clone());
            prop_assert!(once.chars().all(char::is_alphanumeric));
        }

        #[test]
        fn engine_text_agrees(text in "[a-zA-Zａ-ｚＡ-Ｚ０-９0-9あ-んア-ンｱ-ﾝﾞﾟ漢字㊙①Ⅻ \n\u{3000}、。・-]{0,64}") {
            prop_assert_eq!(from_engine_text(&text), normalize(&text));
        }

        #[test]
        fn whitespace_does_not_matter(words in proptest::collection::vec("[a-zA-Z0-9あ-ん漢字]{1,8}", 1..10)) {
            let spaced = words.join(" \n\u{3000}");
            let packed = words.concat();
            prop_assert_eq!(normalize(&spaced), normalize(&packed));
        }
    }
}
