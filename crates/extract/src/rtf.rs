//! RTF to text.
//!
//! Handles `\uN` with `\ucN` fallback skipping, `\'hh` bytes in the document's code page
//! (`\ansicpgN`) or the current font's charset (`\fcharset128` is Shift_JIS), `\binN` data,
//! `{\*\dest}` destinations and the tables (fonts, colours, styles, pictures...) that hold no
//! text. Written by hand: the RTF crates on crates.io do not handle code pages or `\uc`.

use encoding_rs::{Encoding, WINDOWS_1252};
use mamori_model::{Location, UninspectableReason};

use crate::run::{Deadline, Halt, Run, TimedOut};

pub(crate) fn extract(run: &mut Run<'_>, bytes: &[u8], location: &Location) -> Result<(), Halt> {
    match rtf_to_text(bytes, run.deadline) {
        Ok(text) => run.emit(location, &text),
        Err(TimedOut) => Err(run.halt(location, UninspectableReason::Timeout)),
    }
}

/// Destinations whose content is not document text.
const SKIPPED: [&str; 18] = [
    "fonttbl",
    "colortbl",
    "stylesheet",
    "pict",
    "themedata",
    "colorschememapping",
    "datastore",
    "latentstyles",
    "listtable",
    "listoverridetable",
    "rsidtbl",
    "generator",
    "xmlnstbl",
    "mmathPr",
    "filetbl",
    "revtbl",
    "objdata",
    "blipuid",
];

/// The encoding of a Windows code page number.
fn code_page(number: i32) -> Option<&'static Encoding> {
    let label = match number {
        932 => "shift_jis",
        936 => "gbk",
        949 => "euc-kr",
        950 => "big5",
        1250..=1258 => return Encoding::for_label(format!("windows-{number}").as_bytes()),
        874 => "windows-874",
        20932 | 51932 => "euc-jp",
        50220..=50222 => "iso-2022-jp",
        65001 => "utf-8",
        _ => return None,
    };
    Encoding::for_label(label.as_bytes())
}

/// The encoding of an RTF `\fcharsetN`.
fn charset(number: i32) -> Option<&'static Encoding> {
    let page = match number {
        0 => 1252,
        128 => 932,
        129 => 949,
        134 => 936,
        136 => 950,
        161 => 1253,
        162 => 1254,
        177 => 1255,
        178 => 1256,
        186 => 1257,
        204 => 1251,
        222 => 874,
        238 => 1250,
        _ => return None,
    };
    code_page(page)
}

#[derive(Clone, Copy)]
struct Group {
    skip: bool,
    /// Characters to skip after `\uN`.
    uc: i32,
    font: i32,
    /// Inside the font table: `\fN` defines a font, `\fcharsetN` its charset.
    in_fonttbl: bool,
}

/// Converts an RTF document to text.
pub(crate) fn rtf_to_text(bytes: &[u8], deadline: Deadline) -> Result<String, TimedOut> {
    let mut out = String::new();
    let mut pending: Vec<u8> = Vec::new(); // \'hh bytes not yet decoded
    let mut document_encoding: &'static Encoding = WINDOWS_1252;
    let mut fonts: Vec<(i32, &'static Encoding)> = Vec::new();
    let mut defining_font: i32 = -1;
    let mut stack: Vec<Group> = Vec::new();
    let mut group = Group {
        skip: false,
        uc: 1,
        font: -1,
        in_fonttbl: false,
    };
    let mut skip_fallback = 0i32; // characters still to skip after \uN
    let mut i = 0usize;
    let mut steps = 0u32;

    let encoding_of =
        |fonts: &[(i32, &'static Encoding)], font: i32, document: &'static Encoding| {
            fonts
                .iter()
                .find(|(f, _)| *f == font)
                .map_or(document, |(_, e)| *e)
        };
    let flush = |pending: &mut Vec<u8>, out: &mut String, encoding: &'static Encoding| {
        if !pending.is_empty() {
            // Some writers put raw UTF-8 in RTF; take it as such when it is.
            let encoding = if !pending.is_ascii() && std::str::from_utf8(pending).is_ok() {
                encoding_rs::UTF_8
            } else {
                encoding
            };
            out.push_str(&encoding.decode_without_bom_handling(pending).0);
            pending.clear();
        }
    };

    while i < bytes.len() {
        steps += 1;
        if steps.is_multiple_of(65_536) && deadline.expired() {
            return Err(TimedOut);
        }
        let b = bytes[i];
        match b {
            b'{' => {
                flush(
                    &mut pending,
                    &mut out,
                    encoding_of(&fonts, group.font, document_encoding),
                );
                if stack.len() < 4096 {
                    stack.push(group);
                }
                i += 1;
                // `{\*\dest` marks a destination readers may ignore.
                if bytes[i..].starts_with(b"\\*") {
                    group.skip = true;
                    i += 2;
                }
            }
            b'}' => {
                flush(
                    &mut pending,
                    &mut out,
                    encoding_of(&fonts, group.font, document_encoding),
                );
                if group.in_fonttbl && defining_font >= 0 {
                    defining_font = -1;
                }
                group = stack.pop().unwrap_or(group);
                i += 1;
            }
            b'\\' => {
                i += 1;
                let Some(&next) = bytes.get(i) else { break };
                if next == b'\'' {
                    // \'hh: a byte in the current code page.
                    let hex = bytes
                        .get(i + 1..i + 3)
                        .and_then(|h| std::str::from_utf8(h).ok());
                    i += 3;
                    if let Some(value) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                        if skip_fallback > 0 {
                            skip_fallback -= 1;
                        } else if !group.skip {
                            pending.push(value);
                        }
                    }
                    continue;
                }
                flush(
                    &mut pending,
                    &mut out,
                    encoding_of(&fonts, group.font, document_encoding),
                );
                if !next.is_ascii_alphabetic() {
                    // A control symbol.
                    i += 1;
                    let text = match next {
                        b'\\' => Some('\\'),
                        b'{' => Some('{'),
                        b'}' => Some('}'),
                        b'~' => Some('\u{a0}'),
                        b'_' => Some('\u{2011}'),
                        b'\n' | b'\r' => Some('\n'),
                        _ => None,
                    };
                    if let Some(c) = text {
                        if skip_fallback > 0 {
                            skip_fallback -= 1;
                        } else if !group.skip {
                            out.push(c);
                        }
                    }
                    continue;
                }
                let word_start = i;
                while i < bytes.len() && bytes[i].is_ascii_alphabetic() && i - word_start < 32 {
                    i += 1;
                }
                let word = std::str::from_utf8(&bytes[word_start..i]).unwrap_or("");
                let num_start = i;
                if i < bytes.len() && bytes[i] == b'-' {
                    i += 1;
                }
                while i < bytes.len() && bytes[i].is_ascii_digit() && i - num_start < 11 {
                    i += 1;
                }
                let param: Option<i32> = std::str::from_utf8(&bytes[num_start..i])
                    .ok()
                    .and_then(|s| s.parse().ok());
                if i < bytes.len() && bytes[i] == b' ' {
                    i += 1; // the delimiter space belongs to the control word
                }
                match word {
                    "bin" => {
                        let n = usize::try_from(param.unwrap_or(0)).unwrap_or(0);
                        i = i.saturating_add(n).min(bytes.len());
                    }
                    "u" => {
                        if let Some(mut n) = param {
                            if n < 0 {
                                n += 65_536;
                            }
                            if !group.skip {
                                out.push(char::from_u32(n as u32).unwrap_or('\u{fffd}'));
                            }
                            skip_fallback = group.uc;
                        }
                    }
                    "uc" => group.uc = param.unwrap_or(1).clamp(0, 16),
                    "ansicpg" => {
                        if let Some(encoding) = param.and_then(code_page) {
                            document_encoding = encoding;
                        }
                    }
                    "fonttbl" => {
                        group.in_fonttbl = true;
                        group.skip = true;
                    }
                    "f" if group.in_fonttbl => defining_font = param.unwrap_or(-1),
                    "fcharset" if group.in_fonttbl => {
                        if let Some(encoding) = param.and_then(charset)
                            && defining_font >= 0
                        {
                            fonts.push((defining_font, encoding));
                        }
                    }
                    "f" => group.font = param.unwrap_or(-1),
                    "par" | "line" | "row" | "sect" | "page" if !group.skip => out.push('\n'),
                    "tab" | "cell" if !group.skip => out.push('\t'),
                    "emdash" if !group.skip => out.push('—'),
                    "endash" if !group.skip => out.push('–'),
                    "lquote" if !group.skip => out.push('‘'),
                    "rquote" if !group.skip => out.push('’'),
                    "ldblquote" if !group.skip => out.push('“'),
                    "rdblquote" if !group.skip => out.push('”'),
                    "bullet" if !group.skip => out.push('•'),
                    w if SKIPPED.contains(&w) => group.skip = true,
                    _ => {}
                }
                if word != "u" && skip_fallback > 0 && !matches!(word, "uc") {
                    // A control word counts as one fallback character.
                    skip_fallback -= 1;
                }
            }
            b'\r' | b'\n' => i += 1,
            _ => {
                if skip_fallback > 0 {
                    skip_fallback -= 1;
                } else if !group.skip {
                    pending.push(b);
                }
                i += 1;
            }
        }
    }
    flush(
        &mut pending,
        &mut out,
        encoding_of(&fonts, group.font, document_encoding),
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text(rtf: &str) -> String {
        rtf_to_text(rtf.as_bytes(), Deadline::never()).unwrap()
    }

    #[test]
    fn unicode_escapes_skip_their_fallbacks() {
        assert_eq!(text(r"{\rtf1\ansi \u31038?\u22806?\u31192?}"), "社外秘");
        assert_eq!(text(r"{\rtf1\ansi\uc2 \u31038\'8e\'d0\u22806??}"), "社外");
        assert_eq!(text(r"{\rtf1\ansi\uc0 \u31192 x}"), "秘x");
    }

    #[test]
    fn code_page_bytes_decode() {
        // 社 in CP932 is 8E D0.
        assert_eq!(
            text(r"{\rtf1\ansi\ansicpg932 \'8e\'d0\'8a\'4f\'94\'e9}"),
            "社外秘"
        );
        // Or through a font with a Shift_JIS charset, whatever the document code page.
        let rtf = r"{\rtf1\ansi\ansicpg1252{\fonttbl{\f0\froman Times;}{\f1\fnil\fcharset128 MS Mincho;}}\f1 \'8e\'d0\f0  ok}";
        assert_eq!(text(rtf), "社 ok");
    }

    #[test]
    fn tables_and_destinations_are_skipped() {
        let rtf = r"{\rtf1{\fonttbl{\f0 Arial;}}{\colortbl;\red0\green0\blue0;}{\stylesheet{\s0 Normal;}}{\*\generator Word;}{\pict\pngblip 89504e47}本\par 文}";
        assert_eq!(text(rtf), "本\n文");
        assert_eq!(text(r"{\rtf1 a\{b\}\\c\tab d}"), "a{b}\\c\td");
        assert_eq!(text(r"{\rtf1 x\bin2 {}y}"), "xy");
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = rtf_to_text(&bytes, Deadline::never());
        }
    }
}
