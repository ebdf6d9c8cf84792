//! Single-byte encodings of simple fonts, PDFDocEncoding, glyph names and standard-14 widths.
//!
//! These are small fixed tables from the PDF specification (ISO 32000-1, annex D) and the Adobe
//! Glyph List; no crate ships them in a form usable without pulling a whole PDF stack, so they
//! are written out here. Windows-1252 and Mac Roman come from `encoding_rs`.

/// The base encoding of a simple font.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BaseEncoding {
    /// Adobe StandardEncoding: the default of Type 1 fonts.
    Standard,
    /// WinAnsiEncoding (Windows-1252).
    WinAnsi,
    /// MacRomanEncoding.
    MacRoman,
    /// PDFDocEncoding, used for text strings outside content streams.
    PdfDoc,
}

impl BaseEncoding {
    /// The encoding named by a `/Encoding` or `/BaseEncoding` name.
    pub(crate) fn from_name(name: &[u8]) -> Option<BaseEncoding> {
        match name {
            b"StandardEncoding" => Some(BaseEncoding::Standard),
            b"WinAnsiEncoding" => Some(BaseEncoding::WinAnsi),
            b"MacRomanEncoding" | b"MacExpertEncoding" => Some(BaseEncoding::MacRoman),
            b"PDFDocEncoding" => Some(BaseEncoding::PdfDoc),
            _ => None,
        }
    }

    /// The character a code stands for, if any.
    pub(crate) fn decode(self, code: u8) -> Option<char> {
        match self {
            BaseEncoding::Standard => standard(code),
            BaseEncoding::WinAnsi => {
                if code < 0x20 {
                    return None;
                }
                single_byte(encoding_rs::WINDOWS_1252, code)
            }
            BaseEncoding::MacRoman => {
                if code < 0x20 {
                    return None;
                }
                single_byte(encoding_rs::MACINTOSH, code)
            }
            BaseEncoding::PdfDoc => pdf_doc(code),
        }
    }
}

fn single_byte(encoding: &'static encoding_rs::Encoding, code: u8) -> Option<char> {
    let bytes = [code];
    let (text, _) = encoding.decode_without_bom_handling(&bytes);
    text.chars().next().filter(|c| *c != '\u{FFFD}')
}

/// Adobe StandardEncoding.
fn standard(code: u8) -> Option<char> {
    match code {
        0x27 => Some('\u{2019}'),
        0x60 => Some('\u{2018}'),
        0x20..=0x7E => Some(code as char),
        0xA1..=0xFB => {
            let c = match code {
                0xA1 => '¡',
                0xA2 => '¢',
                0xA3 => '£',
                0xA4 => '\u{2044}',
                0xA5 => '¥',
                0xA6 => 'ƒ',
                0xA7 => '§',
                0xA8 => '¤',
                0xA9 => '\'',
                0xAA => '“',
                0xAB => '«',
                0xAC => '‹',
                0xAD => '›',
                0xAE => '\u{FB01}',
                0xAF => '\u{FB02}',
                0xB1 => '–',
                0xB2 => '†',
                0xB3 => '‡',
                0xB4 => '·',
                0xB6 => '¶',
                0xB7 => '•',
                0xB8 => '‚',
                0xB9 => '„',
                0xBA => '”',
                0xBB => '»',
                0xBC => '…',
                0xBD => '‰',
                0xBF => '¿',
                0xC1 => '`',
                0xC2 => '´',
                0xC3 => 'ˆ',
                0xC4 => '˜',
                0xC5 => '¯',
                0xC6 => '˘',
                0xC7 => '˙',
                0xC8 => '¨',
                0xCA => '˚',
                0xCB => '¸',
                0xCD => '˝',
                0xCE => '˛',
                0xCF => 'ˇ',
                0xD0 => '—',
                0xE1 => 'Æ',
                0xE3 => 'ª',
                0xE8 => 'Ł',
                0xE9 => 'Ø',
                0xEA => 'Œ',
                0xEB => 'º',
                0xF1 => 'æ',
                0xF5 => 'ı',
                0xF8 => 'ł',
                0xF9 => 'ø',
                0xFA => 'œ',
                0xFB => 'ß',
                _ => return None,
            };
            Some(c)
        }
        _ => None,
    }
}

/// PDFDocEncoding (ISO 32000-1, D.2): Latin-1 with typographic characters in 0x18-0x1F and
/// 0x80-0xA0.
pub(crate) fn pdf_doc(code: u8) -> Option<char> {
    let c = match code {
        0x09 | 0x0A | 0x0D => code as char,
        0x18 => '˘',
        0x19 => 'ˇ',
        0x1A => 'ˆ',
        0x1B => '˙',
        0x1C => '˝',
        0x1D => '˛',
        0x1E => '˚',
        0x1F => '˜',
        0x20..=0x7E => code as char,
        0x80 => '•',
        0x81 => '†',
        0x82 => '‡',
        0x83 => '…',
        0x84 => '—',
        0x85 => '–',
        0x86 => 'ƒ',
        0x87 => '⁄',
        0x88 => '‹',
        0x89 => '›',
        0x8A => '−',
        0x8B => '‰',
        0x8C => '„',
        0x8D => '“',
        0x8E => '”',
        0x8F => '‘',
        0x90 => '’',
        0x91 => '‚',
        0x92 => '™',
        0x93 => '\u{FB01}',
        0x94 => '\u{FB02}',
        0x95 => 'Ł',
        0x96 => 'Œ',
        0x97 => 'Š',
        0x98 => 'Ÿ',
        0x99 => 'Ž',
        0x9A => 'ı',
        0x9B => 'ł',
        0x9C => 'œ',
        0x9D => 'š',
        0x9E => 'ž',
        0xA0 => '€',
        0xA1..=0xFF => char::from(code),
        _ => return None,
    };
    Some(c)
}

/// Decodes a PDF text string (Info dictionary values, outline titles): UTF-16BE or UTF-8 with a
/// byte-order mark, else PDFDocEncoding.
pub(crate) fn decode_text_string(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        let (text, _) = encoding_rs::UTF_16BE.decode_without_bom_handling(rest);
        return text.into_owned();
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        let (text, _) = encoding_rs::UTF_16LE.decode_without_bom_handling(rest);
        return text.into_owned();
    }
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return String::from_utf8_lossy(rest).into_owned();
    }
    bytes.iter().filter_map(|&b| pdf_doc(b)).collect()
}

/// Names of Latin-1 characters U+00A0..U+00FF in the Adobe Glyph List.
const LATIN1_NAMES: [&str; 96] = [
    "nbspace",
    "exclamdown",
    "cent",
    "sterling",
    "currency",
    "yen",
    "brokenbar",
    "section",
    "dieresis",
    "copyright",
    "ordfeminine",
    "guillemotleft",
    "logicalnot",
    "sfthyphen",
    "registered",
    "macron",
    "degree",
    "plusminus",
    "twosuperior",
    "threesuperior",
    "acute",
    "mu",
    "paragraph",
    "periodcentered",
    "cedilla",
    "onesuperior",
    "ordmasculine",
    "guillemotright",
    "onequarter",
    "onehalf",
    "threequarters",
    "questiondown",
    "Agrave",
    "Aacute",
    "Acircumflex",
    "Atilde",
    "Adieresis",
    "Aring",
    "AE",
    "Ccedilla",
    "Egrave",
    "Eacute",
    "Ecircumflex",
    "Edieresis",
    "Igrave",
    "Iacute",
    "Icircumflex",
    "Idieresis",
    "Eth",
    "Ntilde",
    "Ograve",
    "Oacute",
    "Ocircumflex",
    "Otilde",
    "Odieresis",
    "multiply",
    "Oslash",
    "Ugrave",
    "Uacute",
    "Ucircumflex",
    "Udieresis",
    "Yacute",
    "Thorn",
    "germandbls",
    "agrave",
    "aacute",
    "acircumflex",
    "atilde",
    "adieresis",
    "aring",
    "ae",
    "ccedilla",
    "egrave",
    "eacute",
    "ecircumflex",
    "edieresis",
    "igrave",
    "iacute",
    "icircumflex",
    "idieresis",
    "eth",
    "ntilde",
    "ograve",
    "oacute",
    "ocircumflex",
    "otilde",
    "odieresis",
    "divide",
    "oslash",
    "ugrave",
    "uacute",
    "ucircumflex",
    "udieresis",
    "yacute",
    "thorn",
    "ydieresis",
];

/// Names of printable ASCII U+0020..U+007E in the Adobe Glyph List.
const ASCII_NAMES: [&str; 95] = [
    "space",
    "exclam",
    "quotedbl",
    "numbersign",
    "dollar",
    "percent",
    "ampersand",
    "quotesingle",
    "parenleft",
    "parenright",
    "asterisk",
    "plus",
    "comma",
    "hyphen",
    "period",
    "slash",
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "colon",
    "semicolon",
    "less",
    "equal",
    "greater",
    "question",
    "at",
    "A",
    "B",
    "C",
    "D",
    "E",
    "F",
    "G",
    "H",
    "I",
    "J",
    "K",
    "L",
    "M",
    "N",
    "O",
    "P",
    "Q",
    "R",
    "S",
    "T",
    "U",
    "V",
    "W",
    "X",
    "Y",
    "Z",
    "bracketleft",
    "backslash",
    "bracketright",
    "asciicircum",
    "underscore",
    "grave",
    "a",
    "b",
    "c",
    "d",
    "e",
    "f",
    "g",
    "h",
    "i",
    "j",
    "k",
    "l",
    "m",
    "n",
    "o",
    "p",
    "q",
    "r",
    "s",
    "t",
    "u",
    "v",
    "w",
    "x",
    "y",
    "z",
    "braceleft",
    "bar",
    "braceright",
    "asciitilde",
];

/// Other glyph names of the standard Latin character sets (ISO 32000-1, D.1).
const OTHER_NAMES: &[(&str, &str)] = &[
    ("quoteleft", "\u{2018}"),
    ("quoteright", "\u{2019}"),
    ("quotedblleft", "\u{201C}"),
    ("quotedblright", "\u{201D}"),
    ("quotesinglbase", "\u{201A}"),
    ("quotedblbase", "\u{201E}"),
    ("dagger", "\u{2020}"),
    ("daggerdbl", "\u{2021}"),
    ("bullet", "\u{2022}"),
    ("ellipsis", "\u{2026}"),
    ("perthousand", "\u{2030}"),
    ("guilsinglleft", "\u{2039}"),
    ("guilsinglright", "\u{203A}"),
    ("endash", "\u{2013}"),
    ("emdash", "\u{2014}"),
    ("trademark", "\u{2122}"),
    ("Euro", "\u{20AC}"),
    ("florin", "\u{0192}"),
    ("fraction", "\u{2044}"),
    ("minus", "\u{2212}"),
    ("fi", "fi"),
    ("fl", "fl"),
    ("ff", "ff"),
    ("ffi", "ffi"),
    ("ffl", "ffl"),
    ("OE", "\u{0152}"),
    ("oe", "\u{0153}"),
    ("Scaron", "\u{0160}"),
    ("scaron", "\u{0161}"),
    ("Zcaron", "\u{017D}"),
    ("zcaron", "\u{017E}"),
    ("Ydieresis", "\u{0178}"),
    ("Lslash", "\u{0141}"),
    ("lslash", "\u{0142}"),
    ("dotlessi", "\u{0131}"),
    ("circumflex", "\u{02C6}"),
    ("tilde", "\u{02DC}"),
    ("breve", "\u{02D8}"),
    ("dotaccent", "\u{02D9}"),
    ("ring", "\u{02DA}"),
    ("hungarumlaut", "\u{02DD}"),
    ("ogonek", "\u{02DB}"),
    ("caron", "\u{02C7}"),
    ("nonbreakingspace", "\u{00A0}"),
    ("periodcentered", "\u{00B7}"),
    ("middot", "\u{00B7}"),
    ("softhyphen", "\u{00AD}"),
    ("mu1", "\u{00B5}"),
    ("Delta", "\u{2206}"),
    ("Omega", "\u{2126}"),
    ("pi", "\u{03C0}"),
    ("notequal", "\u{2260}"),
    ("lessequal", "\u{2264}"),
    ("greaterequal", "\u{2265}"),
    ("infinity", "\u{221E}"),
    ("summation", "\u{2211}"),
    ("product", "\u{220F}"),
    ("radical", "\u{221A}"),
    ("approxequal", "\u{2248}"),
    ("partialdiff", "\u{2202}"),
    ("integral", "\u{222B}"),
    ("lozenge", "\u{25CA}"),
    ("apple", "\u{F8FF}"),
];

/// The text a glyph name stands for: Adobe Glyph List names of the Latin sets, `uniXXXX`
/// (one or more code units), `uXXXX[XX]`, ligature names joined by `_`, and names with a
/// `.suffix` (small caps, alternates). `None` for names that carry no meaning (`g12`, `cid34`).
pub(crate) fn glyph_name_to_text(name: &str) -> Option<String> {
    let base = name.split('.').next().unwrap_or(name);
    if base.is_empty() {
        return None;
    }
    if base.contains('_') {
        let mut out = String::new();
        for part in base.split('_') {
            out.push_str(&single_glyph_name(part)?);
        }
        return Some(out);
    }
    single_glyph_name(base)
}

fn single_glyph_name(name: &str) -> Option<String> {
    if let Some(i) = ASCII_NAMES.iter().position(|n| *n == name) {
        return char::from_u32(0x20 + i as u32).map(String::from);
    }
    if let Some(i) = LATIN1_NAMES.iter().position(|n| *n == name) {
        return char::from_u32(0xA0 + i as u32).map(String::from);
    }
    if let Some((_, text)) = OTHER_NAMES.iter().find(|(n, _)| *n == name) {
        return Some((*text).to_owned());
    }
    if let Some(hex) = name.strip_prefix("uni")
        && !hex.is_empty()
        && hex.len() % 4 == 0
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        let units: Vec<u16> = hex
            .as_bytes()
            .chunks(4)
            .filter_map(|c| u16::from_str_radix(std::str::from_utf8(c).ok()?, 16).ok())
            .collect();
        let text: String = char::decode_utf16(units).filter_map(Result::ok).collect();
        return (!text.is_empty()).then_some(text);
    }
    if let Some(hex) = name.strip_prefix('u')
        && (4..=6).contains(&hex.len())
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        let value = u32::from_str_radix(hex, 16).ok()?;
        return char::from_u32(value).map(String::from);
    }
    None
}

/// Advance widths (thousandths of an em) of printable ASCII in Helvetica.
const HELVETICA_WIDTHS: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // 0x20
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 0x30
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // 0x40
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // 0x50
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // 0x60
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // 0x70
];

/// Advance widths (thousandths of an em) of printable ASCII in Times-Roman.
const TIMES_WIDTHS: [u16; 95] = [
    250, 333, 408, 500, 500, 833, 778, 180, 333, 333, 500, 564, 250, 333, 250, 278, // 0x20
    500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 278, 278, 564, 564, 564, 444, // 0x30
    921, 722, 667, 667, 722, 611, 556, 722, 722, 333, 389, 722, 611, 889, 722, 722, // 0x40
    556, 722, 667, 556, 611, 722, 722, 944, 722, 722, 611, 333, 278, 333, 469, 500, // 0x50
    333, 444, 500, 444, 500, 444, 333, 500, 500, 278, 278, 500, 278, 778, 500, 500, // 0x60
    500, 500, 333, 389, 278, 500, 500, 722, 500, 500, 444, 480, 200, 480, 541, // 0x70
];

/// The width of a character in one of the standard 14 fonts, from the font's base name, for
/// fonts that carry no `/Widths`. Approximate outside ASCII; good enough to tell word gaps.
pub(crate) fn standard_width(base_font: &[u8], ch: char) -> f64 {
    let name = base_font.rsplit(|b| *b == b'+').next().unwrap_or(base_font);
    let contains = |needle: &[u8]| name.windows(needle.len()).any(|w| w == needle);
    if contains(b"Courier") || contains(b"Mono") {
        return 600.0;
    }
    let table = if contains(b"Times") || contains(b"Serif") {
        &TIMES_WIDTHS
    } else {
        &HELVETICA_WIDTHS
    };
    let code = ch as u32;
    if (0x20..0x7F).contains(&code) {
        f64::from(table[(code - 0x20) as usize])
    } else if is_wide(ch) {
        1000.0
    } else {
        500.0
    }
}

/// Whether a character is a full-width East Asian character (CJK ideographs, kana, full-width
/// forms), which Japanese text joins without spaces.
pub(crate) fn is_wide(ch: char) -> bool {
    matches!(ch as u32,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x20000..=0x3FFFD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_encodings_decode_their_specific_codes() {
        assert_eq!(BaseEncoding::WinAnsi.decode(b'A'), Some('A'));
        assert_eq!(BaseEncoding::WinAnsi.decode(0x80), Some('€'));
        assert_eq!(BaseEncoding::WinAnsi.decode(0x93), Some('“'));
        assert_eq!(BaseEncoding::WinAnsi.decode(0xE9), Some('é'));
        assert_eq!(BaseEncoding::WinAnsi.decode(0x05), None);
        assert_eq!(BaseEncoding::MacRoman.decode(0x8E), Some('é'));
        assert_eq!(BaseEncoding::Standard.decode(0x27), Some('’'));
        assert_eq!(BaseEncoding::Standard.decode(0xAE), Some('ﬁ'));
        assert_eq!(BaseEncoding::Standard.decode(0xE9), Some('Ø'));
        assert_eq!(BaseEncoding::Standard.decode(0xB0), None);
        assert_eq!(BaseEncoding::PdfDoc.decode(0x92), Some('™'));
        assert_eq!(BaseEncoding::PdfDoc.decode(0xE9), Some('é'));
    }

    #[test]
    fn text_strings_honour_byte_order_marks() {
        assert_eq!(
            decode_text_string(b"\xFE\xFF\x79\x3E\x59\x16\x79\xD8"),
            "社外秘"
        );
        assert_eq!(
            decode_text_string(b"\xEF\xBB\xBF\xE6\xA5\xB5\xE7\xA7\x98"),
            "極秘"
        );
        assert_eq!(decode_text_string(b"Caf\xE9 \x8Dx\x8E \x93"), "Café “x” ﬁ");
        // A lone surrogate is replaced, not a panic.
        assert_eq!(decode_text_string(b"\xFE\xFF\xD8\x00"), "\u{FFFD}");
    }

    #[test]
    fn glyph_names_cover_agl_uni_and_ligatures() {
        assert_eq!(glyph_name_to_text("A").as_deref(), Some("A"));
        assert_eq!(glyph_name_to_text("space").as_deref(), Some(" "));
        assert_eq!(glyph_name_to_text("eacute").as_deref(), Some("é"));
        assert_eq!(glyph_name_to_text("quoteright").as_deref(), Some("’"));
        assert_eq!(glyph_name_to_text("uni793E").as_deref(), Some("社"));
        assert_eq!(glyph_name_to_text("uni793E5916").as_deref(), Some("社外"));
        assert_eq!(glyph_name_to_text("uniD842DFB7").as_deref(), Some("𠮷"));
        assert_eq!(glyph_name_to_text("u20BB7").as_deref(), Some("𠮷"));
        assert_eq!(glyph_name_to_text("f_f_i").as_deref(), Some("ffi"));
        assert_eq!(glyph_name_to_text("a.sc").as_deref(), Some("a"));
        assert_eq!(glyph_name_to_text("g123"), None);
        assert_eq!(glyph_name_to_text("cid00042"), None);
        assert_eq!(glyph_name_to_text(".notdef"), None);
        assert_eq!(glyph_name_to_text("uniZZZZ"), None);
    }

    #[test]
    fn standard_widths_follow_the_font_family() {
        assert_eq!(standard_width(b"Helvetica", 'i'), 222.0);
        assert_eq!(standard_width(b"ABCDEF+Helvetica-Bold", 'W'), 944.0);
        assert_eq!(standard_width(b"Times-Roman", 'i'), 278.0);
        assert_eq!(standard_width(b"Courier", 'i'), 600.0);
        assert_eq!(standard_width(b"Helvetica", '社'), 1000.0);
    }

    #[test]
    fn wide_characters_are_cjk() {
        assert!(is_wide('社'));
        assert!(is_wide('あ'));
        assert!(is_wide('Ａ'));
        assert!(is_wide('𠮷'));
        assert!(!is_wide('A'));
        assert!(!is_wide('ｱ'));
    }
}
