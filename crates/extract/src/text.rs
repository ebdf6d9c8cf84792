//! Plain text: encoding detection and chunked decoding.
//!
//! UTF-8 is validated and passed through without copying; other encodings go through an
//! `encoding_rs` decoder one chunk at a time, so a file of any size is streamed in bounded
//! memory.

use std::borrow::Cow;
use std::io::{self, Read};

use encoding_rs::{
    CoderResult, Decoder, Encoding, ISO_2022_JP, SHIFT_JIS, UTF_8, UTF_16BE, UTF_16LE,
};

/// How much of an input the encoding detector looks at (chardetng is slow on large input).
pub(crate) const SAMPLE_BYTES: usize = 64 * 1024;

/// Text is handed to the sink in chunks of about this size.
pub(crate) const CHUNK_BYTES: usize = 1 << 20;

/// Detects the encoding of text from a sample of its first bytes, or `None` if the bytes do not
/// look like text. `complete` says whether the sample is the whole content.
#[cfg(test)]
pub(crate) fn sniff_encoding(sample: &[u8], complete: bool) -> Option<&'static Encoding> {
    sniff_encoding_and_text(sample, complete).0
}

/// [`sniff_encoding`], and the sample as text when it was judged UTF-8 and is valid UTF-8 to
/// its last byte (validated once here: the caller need not validate it again).
pub(crate) fn sniff_encoding_and_text(
    sample: &[u8],
    complete: bool,
) -> (Option<&'static Encoding>, Option<&str>) {
    let sample = &sample[..sample.len().min(SAMPLE_BYTES)];
    let complete = complete && sample.len() < SAMPLE_BYTES;
    if let Some((encoding, _)) = Encoding::for_bom(sample) {
        return (Some(encoding), None);
    }
    if sample.is_empty() {
        return (Some(UTF_8), None);
    }
    // UTF-16 without a byte-order mark has NUL bytes (see `sniff_utf16`); other text has none.
    if memchr::memchr(0, sample).is_some() {
        return (sniff_utf16(sample), None);
    }
    let encoding = if let Some(valid) = utf8_prefix(sample) {
        if sample.is_ascii() && has_iso2022_escape(sample) {
            ISO_2022_JP
        } else {
            // Valid UTF-8 (but for a cut-off last character) needs no decoding to be judged.
            return if looks_like_utf8_text(sample, valid) {
                (Some(UTF_8), (valid.len() == sample.len()).then_some(valid))
            } else {
                (None, None)
            };
        }
    } else {
        let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Allow);
        detector.feed(sample, complete);
        detector.guess(Some(b"jp"), chardetng::Utf8Detection::Allow)
    };
    (looks_like_text(sample, encoding).then_some(encoding), None)
}

/// The valid part of `sample` when the whole of it is UTF-8, except perhaps a character cut
/// off at its end (a sample of a larger content, or truncated content).
fn utf8_prefix(sample: &[u8]) -> Option<&str> {
    // simdutf8's `compat` gives std's `valid_up_to` and `error_len`, with SIMD (std's
    // `from_utf8` here was a tenth of `mamori icap`'s time on 64 KiB uploads).
    match simdutf8::compat::from_utf8(sample) {
        Ok(text) => Some(text),
        Err(e) if e.error_len().is_none() && sample.len() - e.valid_up_to() < 4 => {
            simdutf8::basic::from_utf8(&sample[..e.valid_up_to()]).ok()
        }
        Err(_) => None,
    }
}

fn has_iso2022_escape(sample: &[u8]) -> bool {
    sample
        .windows(3)
        .any(|w| matches!(w, [0x1b, b'$', b'B' | b'@'] | [0x1b, b'(', b'J' | b'I']))
}

/// UTF-16 without a byte-order mark: ASCII-heavy text has NUL bytes on one side of each pair;
/// Japanese text has code units that are nearly all kana, kanji, full-width forms or ASCII.
fn sniff_utf16(sample: &[u8]) -> Option<&'static Encoding> {
    let pairs = sample.len() / 2;
    if pairs < 2 {
        return None;
    }
    let mut zero_even = 0usize;
    let mut zero_odd = 0usize;
    for pair in sample.chunks_exact(2) {
        zero_even += usize::from(pair[0] == 0);
        zero_odd += usize::from(pair[1] == 0);
    }
    // Newlines and spaces put NUL bytes on one side of the pairs only; text in a legacy
    // encoding has no NUL bytes at all.
    let candidate = if zero_odd > 0 && zero_even * 20 <= zero_odd {
        UTF_16LE
    } else if zero_even > 0 && zero_odd * 20 <= zero_even {
        UTF_16BE
    } else {
        return None;
    };
    let big_endian = candidate == UTF_16BE;
    let zeros = if big_endian { zero_even } else { zero_odd };
    let ascii_heavy = zeros * 10 >= pairs * 3;
    let plausible = if ascii_heavy {
        plausible_utf16(sample, candidate)
    } else {
        utf16_text_share(sample, big_endian) >= 0.9
    };
    plausible.then_some(candidate)
}

fn unit(pair: &[u8], big_endian: bool) -> u16 {
    if big_endian {
        u16::from_be_bytes([pair[0], pair[1]])
    } else {
        u16::from_le_bytes([pair[0], pair[1]])
    }
}

/// Share of code units that are common in Japanese or ASCII text.
fn utf16_text_share(sample: &[u8], big_endian: bool) -> f64 {
    let mut good = 0usize;
    let mut total = 0usize;
    for pair in sample.chunks_exact(2) {
        let u = unit(pair, big_endian);
        total += 1;
        good += usize::from(matches!(u,
            0x09 | 0x0a | 0x0d | 0x20..=0x7e | 0x3000..=0x30ff | 0x4e00..=0x9fff | 0xff01..=0xffef));
    }
    good as f64 / total.max(1) as f64
}

fn plausible_utf16(sample: &[u8], encoding: &'static Encoding) -> bool {
    let big_endian = encoding == UTF_16BE;
    let mut control = 0usize;
    let mut total = 0usize;
    for pair in sample.chunks_exact(2) {
        let u = unit(pair, big_endian);
        total += 1;
        control += usize::from(u < 0x20 && !matches!(u, 0x09 | 0x0a | 0x0c | 0x0d));
    }
    control * 20 <= total
}

/// Few enough control characters for text.
fn few_controls(sample: &[u8]) -> bool {
    // Counted in blocks of 64 bytes with byte-wide sums and no branches, which the compiler
    // turns into vector compares (the byte-at-a-time count was most of the sniffing time).
    let control: usize = sample
        .chunks(64)
        .map(|block| {
            block
                .iter()
                .map(|&b| {
                    let allowed =
                        (b == 0x09) | (b == 0x0a) | (b == 0x0c) | (b == 0x0d) | (b == 0x1b);
                    u8::from(((b < 0x20) & !allowed) | (b == 0x7f))
                })
                .sum::<u8>() as usize
        })
        .sum();
    control * 50 <= sample.len()
}

/// Few enough replacement characters among `chars`; a cut-off character at the end of a
/// sample decodes to one of them, which is not held against it.
fn few_replacements(replaced: usize, chars: usize) -> bool {
    replaced.saturating_sub(1) * 50 <= chars.max(1)
}

/// The bytes decode to text with few control characters and replacement characters.
fn looks_like_text(sample: &[u8], encoding: &'static Encoding) -> bool {
    if !few_controls(sample) {
        return false;
    }
    let (decoded, _) = encoding.decode_without_bom_handling(sample);
    let chars = decoded.chars().count();
    let replaced = decoded.chars().filter(|&c| c == '\u{fffd}').count();
    few_replacements(replaced, chars)
}

/// [`looks_like_text`] for UTF-8, given the sample's valid part (all of it but a cut-off last
/// character): the decoded text would be that part plus one U+FFFD for the cut-off character,
/// so it is counted instead of decoded.
fn looks_like_utf8_text(sample: &[u8], valid: &str) -> bool {
    if !few_controls(sample) {
        return false;
    }
    let cut = usize::from(valid.len() < sample.len());
    let chars = valid.chars().count() + cut;
    // U+FFFD starts with the byte 0xEF: when even counting every 0xEF as one leaves few enough,
    // the exact count is not needed. (Japanese text has 0xEF in its full-width forms and
    // half-width katakana; where they are many, the exact count below runs.)
    let at_most = memchr::memchr_iter(0xef, valid.as_bytes()).count() + cut;
    if few_replacements(at_most, chars) {
        return true;
    }
    // In valid UTF-8 these three bytes are always the character U+FFFD itself.
    let replaced = memchr::memmem::find_iter(valid.as_bytes(), "\u{fffd}".as_bytes()).count() + cut;
    few_replacements(replaced, chars)
}

/// The encoding a `charset` label names (`Shift_JIS`, `cp932`, `euc-jp`, `utf-8`...).
pub(crate) fn encoding_for_label(label: &str) -> Option<&'static Encoding> {
    let label = label.trim().trim_matches(|c| c == '"' || c == '\'');
    match label.to_ascii_lowercase().as_str() {
        "cp932" | "ms932" | "windows-31j" | "sjis" | "x-sjis" => Some(SHIFT_JIS),
        other => Encoding::for_label(other.as_bytes()),
    }
}

/// The `charset=` of a content type, for reporting.
pub(crate) fn content_type(mime: &str, encoding: &'static Encoding) -> String {
    format!("{mime}; charset={}", encoding.name())
}

/// Decodes a whole buffer, stripping a BOM. Borrows when the buffer is valid UTF-8.
pub(crate) fn decode<'a>(bytes: &'a [u8], encoding: &'static Encoding) -> Cow<'a, str> {
    if let Some((bom_encoding, len)) = Encoding::for_bom(bytes) {
        return bom_encoding.decode_without_bom_handling(&bytes[len..]).0;
    }
    encoding.decode_without_bom_handling(bytes).0
}

/// Turns byte chunks of one encoding into `&str` chunks, holding back characters cut at a
/// chunk boundary until the next chunk.
pub(crate) struct ChunkDecoder {
    kind: DecoderKind,
    /// Decoded text of the latest chunk (non-UTF-8 encodings).
    out: String,
}

enum DecoderKind {
    /// UTF-8 is validated in place; `carry` holds the start of a character cut at the end of
    /// the previous chunk.
    Utf8 {
        carry: Vec<u8>,
        bom_checked: bool,
    },
    Other(Decoder),
}

impl ChunkDecoder {
    pub(crate) fn new(encoding: &'static Encoding) -> ChunkDecoder {
        let kind = if encoding == UTF_8 {
            DecoderKind::Utf8 {
                carry: Vec::new(),
                bom_checked: false,
            }
        } else {
            DecoderKind::Other(encoding.new_decoder_with_bom_removal())
        };
        ChunkDecoder {
            kind,
            out: String::new(),
        }
    }

    /// Decodes one chunk, calling `emit` with the text (maybe several times). `last` must be
    /// true for the final chunk (it may be empty).
    pub(crate) fn feed(&mut self, mut chunk: &[u8], last: bool, emit: &mut dyn FnMut(&str)) {
        match &mut self.kind {
            DecoderKind::Utf8 { carry, bom_checked } => {
                // A BOM decodes to U+FEFF at the very start: drop it there.
                let mut at_start = !*bom_checked;
                let mut emit = |s: &str| {
                    if at_start && !s.is_empty() {
                        at_start = false;
                        emit(s.strip_prefix('\u{feff}').unwrap_or(s));
                    } else {
                        emit(s);
                    }
                };
                if !carry.is_empty() {
                    // Complete the character cut at the previous chunk boundary.
                    let before = carry.len();
                    let take = chunk.len().min(4usize.saturating_sub(before));
                    carry.extend_from_slice(&chunk[..take]);
                    match std::str::from_utf8(carry) {
                        Ok(s) => {
                            emit(s);
                            chunk = &chunk[take..];
                        }
                        Err(e) if e.valid_up_to() > 0 => {
                            if let Ok(s) = std::str::from_utf8(&carry[..e.valid_up_to()]) {
                                emit(s);
                            }
                            chunk =
                                &chunk[e.valid_up_to().saturating_sub(before).min(chunk.len())..];
                        }
                        Err(e) => match e.error_len() {
                            None if !last && take == chunk.len() => {
                                // Still incomplete: wait for the next chunk.
                                *bom_checked |= !at_start;
                                return;
                            }
                            None => {
                                emit("\u{fffd}");
                                chunk = &chunk[take..];
                            }
                            Some(bad) => {
                                emit("\u{fffd}");
                                chunk = &chunk[bad.saturating_sub(before).min(chunk.len())..];
                            }
                        },
                    }
                    carry.clear();
                }
                utf8_lossy_chunks(chunk, last, carry, &mut emit);
                *bom_checked |= !at_start;
            }
            DecoderKind::Other(decoder) => {
                let out = &mut self.out;
                loop {
                    out.clear();
                    let need = decoder
                        .max_utf8_buffer_length(chunk.len())
                        .unwrap_or(CHUNK_BYTES * 4)
                        .clamp(64, CHUNK_BYTES * 4);
                    out.reserve(need);
                    let (result, read, _) = decoder.decode_to_string(chunk, out, last);
                    emit(out);
                    chunk = &chunk[read..];
                    if result == CoderResult::InputEmpty {
                        break;
                    }
                }
            }
        }
    }
}

/// Emits the valid UTF-8 of `bytes` as borrowed slices, U+FFFD for each invalid sequence, and
/// keeps a trailing incomplete character in `carry` unless `last`.
fn utf8_lossy_chunks(
    mut bytes: &[u8],
    last: bool,
    carry: &mut Vec<u8>,
    emit: &mut dyn FnMut(&str),
) {
    loop {
        // `simdutf8` validates with SIMD (std's `from_utf8` was 15 % of a plain-text scan of
        // Japanese text) and reports the same `valid_up_to` / `error_len` as std. A chunk cut
        // inside a character has its valid prefix validated again to borrow it as `&str`
        // without `unsafe`; at SIMD speed that second pass costs little.
        match simdutf8::compat::from_utf8(bytes) {
            Ok(s) => {
                emit(s);
                return;
            }
            Err(e) => {
                let (valid, rest) = bytes.split_at(e.valid_up_to());
                if let Ok(s) = simdutf8::basic::from_utf8(valid) {
                    emit(s);
                }
                match e.error_len() {
                    Some(bad) => {
                        emit("\u{fffd}");
                        bytes = &rest[bad..];
                    }
                    None if last => {
                        emit("\u{fffd}");
                        return;
                    }
                    None => {
                        carry.extend_from_slice(rest);
                        return;
                    }
                }
            }
        }
    }
}

/// Streams `reader` through a [`ChunkDecoder`] in chunks of [`CHUNK_BYTES`]; `keep_going` is
/// asked between chunks (the deadline) and stops the stream when it says no.
pub(crate) fn stream(
    reader: &mut dyn Read,
    encoding: &'static Encoding,
    emit: &mut dyn FnMut(&str),
    keep_going: &mut dyn FnMut() -> bool,
) -> io::Result<u64> {
    let mut decoder = ChunkDecoder::new(encoding);
    // This thread's read buffer from the previous stream, if any: a fresh zeroed megabyte per
    // file was fresh memory the kernel cleared for every file of a scan (perf).
    let mut buf = SPARE_READ_BUFFER.take();
    buf.resize(CHUNK_BYTES, 0);
    let result = stream_with(reader, &mut decoder, &mut buf, emit, keep_going);
    SPARE_READ_BUFFER.set(buf);
    result
}

thread_local! {
    /// The read buffer of [`stream`], kept between streams on the same thread.
    static SPARE_READ_BUFFER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

fn stream_with(
    reader: &mut dyn Read,
    decoder: &mut ChunkDecoder,
    buf: &mut [u8],
    emit: &mut dyn FnMut(&str),
    keep_going: &mut dyn FnMut() -> bool,
) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        let mut filled = 0;
        while filled < buf.len() {
            match reader.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        total += filled as u64;
        let last = filled < buf.len();
        decoder.feed(&buf[..filled], last, emit);
        if last {
            return Ok(total);
        }
        if !keep_going() {
            decoder.feed(&[], true, emit);
            return Ok(total);
        }
    }
}

/// Hands already validated text to `emit` in pieces of about [`CHUNK_BYTES`], as
/// [`decode_chunks`] would have handed the same bytes in UTF-8 (without a byte-order mark).
pub(crate) fn emit_chunks(
    text: &str,
    emit: &mut dyn FnMut(&str),
    keep_going: &mut dyn FnMut() -> bool,
) {
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = rest.len().min(CHUNK_BYTES);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        emit(&rest[..cut]);
        rest = &rest[cut..];
        if !rest.is_empty() && !keep_going() {
            return;
        }
    }
}

/// Decodes in-memory bytes chunk by chunk (no copy for UTF-8).
pub(crate) fn decode_chunks(
    bytes: &[u8],
    encoding: &'static Encoding,
    emit: &mut dyn FnMut(&str),
    keep_going: &mut dyn FnMut() -> bool,
) {
    let mut decoder = ChunkDecoder::new(encoding);
    let mut chunks = bytes.chunks(CHUNK_BYTES).peekable();
    if chunks.peek().is_none() {
        decoder.feed(&[], true, emit);
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        decoder.feed(chunk, last, emit);
        if !last && !keep_going() {
            decoder.feed(&[], true, emit);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::{EUC_JP, WINDOWS_1252};
    use proptest::prelude::*;

    const JA: &str = "社外秘：この文書は関係者外秘です。マイナンバー 123456789018 を含みます。\n\
                      取扱注意の資料につき、部外者への開示を禁じます。\n";

    fn collect(bytes: &[u8], encoding: &'static Encoding, chunk: usize) -> String {
        let mut out = String::new();
        let mut decoder = ChunkDecoder::new(encoding);
        let mut chunks = bytes.chunks(chunk.max(1)).peekable();
        if chunks.peek().is_none() {
            decoder.feed(&[], true, &mut |s| out.push_str(s));
        }
        while let Some(c) = chunks.next() {
            let last = chunks.peek().is_none();
            decoder.feed(c, last, &mut |s| out.push_str(s));
        }
        out
    }

    #[test]
    fn emit_chunks_cuts_at_character_boundaries_and_stops_when_told() {
        let text = "社外秘".repeat(CHUNK_BYTES / 9 + 1);
        let mut pieces = Vec::new();
        emit_chunks(&text, &mut |t| pieces.push(t.len()), &mut || true);
        assert_eq!(pieces.len(), 2, "{pieces:?}");
        assert!(pieces[0] <= CHUNK_BYTES && pieces[0] % 3 == 0);
        assert_eq!(pieces.iter().sum::<usize>(), text.len());
        let mut calls = 0;
        emit_chunks(&text, &mut |_| calls += 1, &mut || false);
        assert_eq!(calls, 1, "the deadline stops the stream between chunks");
        // A sample cut inside a character, or bigger than the sample, gives no text.
        let long = "あ".repeat(SAMPLE_BYTES);
        assert_eq!(sniff_encoding_and_text(long.as_bytes(), true).1, None);
        assert_eq!(
            sniff_encoding_and_text(&"あい".as_bytes()[..4], true).1,
            None
        );
        assert_eq!(
            sniff_encoding_and_text("あい".as_bytes(), true).1,
            Some("あい")
        );
    }

    #[test]
    fn detects_each_japanese_encoding() {
        let text = JA.repeat(3);
        for encoding in [SHIFT_JIS, EUC_JP, ISO_2022_JP, UTF_8] {
            let (bytes, _, unmappable) = encoding.encode(&text);
            assert!(!unmappable);
            assert_eq!(
                sniff_encoding(&bytes, true),
                Some(encoding),
                "{}",
                encoding.name()
            );
            assert_eq!(collect(&bytes, encoding, 7), text);
        }
    }

    #[test]
    fn detects_utf16_with_and_without_bom() {
        for (encoding, big) in [(UTF_16LE, false), (UTF_16BE, true)] {
            let mut bytes = Vec::new();
            for u in JA.encode_utf16() {
                bytes.extend_from_slice(&if big {
                    u.to_be_bytes()
                } else {
                    u.to_le_bytes()
                });
            }
            assert_eq!(sniff_encoding(&bytes, true), Some(encoding), "no BOM");
            assert_eq!(collect(&bytes, encoding, 5), JA);
            let mut with_bom = if big {
                vec![0xfe, 0xff]
            } else {
                vec![0xff, 0xfe]
            };
            with_bom.extend_from_slice(&bytes);
            assert_eq!(sniff_encoding(&with_bom, true), Some(encoding), "BOM");
            assert_eq!(collect(&with_bom, encoding, 3), JA);
            // ASCII-only UTF-16 is found by its NUL bytes.
            let ascii: Vec<u8> = "Confidential: 123456789018\n"
                .encode_utf16()
                .flat_map(|u| {
                    if big {
                        u.to_be_bytes()
                    } else {
                        u.to_le_bytes()
                    }
                })
                .collect();
            assert_eq!(sniff_encoding(&ascii, true), Some(encoding));
        }
    }

    #[test]
    fn binary_is_not_text() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x10\x08\x06\0\0\0";
        assert_eq!(sniff_encoding(png, true), None);
        let noise: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert_eq!(sniff_encoding(&noise, true), None);
    }

    #[test]
    fn utf8_bom_is_stripped_and_split_characters_rejoined() {
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend_from_slice(JA.as_bytes());
        for chunk in [1, 2, 3, 4, 5, 1000] {
            assert_eq!(collect(&bytes, UTF_8, chunk), JA, "chunk {chunk}");
        }
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        let bytes = b"ab\xffcd\xe7\xa4";
        assert_eq!(collect(bytes, UTF_8, 3), "ab\u{fffd}cd\u{fffd}");
        assert_eq!(collect(bytes, UTF_8, 100), "ab\u{fffd}cd\u{fffd}");
    }

    #[test]
    fn labels_include_windows_aliases() {
        assert_eq!(encoding_for_label("cp932"), Some(SHIFT_JIS));
        assert_eq!(encoding_for_label("\"Shift_JIS\""), Some(SHIFT_JIS));
        assert_eq!(encoding_for_label("euc-jp"), Some(EUC_JP));
        assert_eq!(encoding_for_label("nonsense"), None);
        assert_eq!(
            content_type("text/plain", WINDOWS_1252),
            "text/plain; charset=windows-1252"
        );
    }

    #[test]
    fn stream_reads_everything_and_honours_keep_going() {
        let text = "あいう".repeat(CHUNK_BYTES / 4);
        let mut out = String::new();
        let n = stream(
            &mut text.as_bytes(),
            UTF_8,
            &mut |s| out.push_str(s),
            &mut || true,
        )
        .unwrap();
        assert_eq!(n as usize, text.len());
        assert_eq!(out, text);
        let mut out = String::new();
        stream(
            &mut text.as_bytes(),
            UTF_8,
            &mut |s| out.push_str(s),
            &mut || false,
        )
        .unwrap();
        assert!(out.len() <= CHUNK_BYTES + 4 && !out.is_empty());
    }

    /// Mostly ordinary characters, with replacement characters and controls about as rare as
    /// the thresholds (one in fifty), so that both answers come up.
    fn utf8_sample() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            40 => prop::sample::select(vec!["a", "Z", " ", "\n", "\t", "社", "外", "秘", "\u{10348}", "Ａ"]),
            1 => Just("\u{fffd}"),
            1 => prop::sample::select(vec!["\u{1}", "\u{7f}", "\u{1b}"]),
        ];
        (proptest::collection::vec(piece, 0..400), 0usize..4).prop_map(|(pieces, cut)| {
            let bytes = pieces.concat().into_bytes();
            let keep = bytes.len().saturating_sub(cut);
            bytes[..keep].to_vec()
        })
    }

    proptest! {
        /// The UTF-8 shortcut judges a sample exactly as decoding it would.
        #[test]
        fn utf8_judgement_matches_decoding(sample in utf8_sample()) {
            if let Some(valid) = utf8_prefix(&sample) {
                prop_assert_eq!(
                    looks_like_utf8_text(&sample, valid),
                    looks_like_text(&sample, UTF_8)
                );
            }
        }

        /// The block-wise control count is the byte-at-a-time one.
        #[test]
        fn few_controls_counts_like_the_plain_filter(bytes in proptest::collection::vec(prop_oneof![8 => 0x20u8..0x7f, 1 => 0u8..0x20, 1 => any::<u8>()], 0..300)) {
            let control = bytes
                .iter()
                .filter(|&&b| (b < 0x20 && !matches!(b, 0x09 | 0x0a | 0x0c | 0x0d | 0x1b)) || b == 0x7f)
                .count();
            prop_assert_eq!(few_controls(&bytes), control * 50 <= bytes.len());
        }

        /// `utf8_prefix` accepts what std's validation accepts, cut-off last character included.
        #[test]
        fn utf8_prefix_matches_std(bytes in proptest::collection::vec(any::<u8>(), 0..64), sample in utf8_sample()) {
            for input in [&bytes[..], &sample[..]] {
                let expected = match std::str::from_utf8(input) {
                    Ok(text) => Some(text.len()),
                    Err(e) if e.error_len().is_none() && input.len() - e.valid_up_to() < 4 => Some(e.valid_up_to()),
                    Err(_) => None,
                };
                prop_assert_eq!(utf8_prefix(input).map(str::len), expected);
            }
        }

        #[test]
        fn a_sample_validated_by_the_sniff_is_the_decoded_text(
            s in "\\PC{1,300}|[a-z 社外秘0-9\n]{1,300}",
            bytes in proptest::collection::vec(any::<u8>(), 1..64),
        ) {
            for input in [s.as_bytes(), &bytes[..]] {
                let (encoding, validated) = sniff_encoding_and_text(input, true);
                prop_assert_eq!(encoding, sniff_encoding(input, true));
                if let Some(text) = validated {
                    // Only when judged UTF-8, and only for the whole input.
                    prop_assert_eq!(encoding, Some(UTF_8));
                    prop_assert_eq!(text.as_bytes(), input);
                    let mut emitted = String::new();
                    emit_chunks(text, &mut |t| emitted.push_str(t), &mut || true);
                    let mut decoded = String::new();
                    decode_chunks(input, UTF_8, &mut |t| decoded.push_str(t), &mut || true);
                    prop_assert_eq!(emitted, decoded);
                }
            }
        }

        #[test]
        fn utf8_chunking_is_lossless(s in "\\PC{0,200}", chunk in 1usize..17) {
            prop_assert_eq!(collect(s.as_bytes(), UTF_8, chunk), s);
        }

        #[test]
        fn utf8_chunking_matches_std_lossy(bytes in proptest::collection::vec(any::<u8>(), 0..200), chunk in 1usize..17) {
            let expected = String::from_utf8_lossy(&bytes);
            // Skip a leading BOM, which the decoder strips.
            let expected = expected.strip_prefix('\u{feff}').unwrap_or(&expected);
            prop_assert_eq!(collect(&bytes, UTF_8, chunk), expected);
        }

        #[test]
        fn shift_jis_chunking_is_lossless(s in "[あ-んア-ン社外秘極部関係者資料0-9a-z\n]{0,100}", chunk in 1usize..9) {
            let (bytes, _, _) = SHIFT_JIS.encode(&s);
            prop_assert_eq!(collect(&bytes, SHIFT_JIS, chunk), s);
        }

        #[test]
        fn sniffing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512), complete: bool) {
            let _ = sniff_encoding(&bytes, complete);
        }
    }
}
