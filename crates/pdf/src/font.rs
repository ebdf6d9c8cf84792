//! Fonts: how the bytes of a shown string become codes, codes become text, and how far each
//! glyph advances.
//!
//! Simple fonts (Type1, TrueType, Type3) have one-byte codes and an encoding (base encoding plus
//! `/Differences`). Composite (Type0) fonts have a CMap: `Identity-H/V` (two-byte codes that
//! only a `/ToUnicode` map can turn into text), an embedded CMap, or a predefined CJK CMap
//! whose bytes are a known character encoding (Shift_JIS, EUC-JP, UCS-2...). A `/ToUnicode`
//! map, when present, always wins.

use std::collections::BTreeMap;

use lopdf::{Dictionary, Document, Object};

use crate::PdfError;
use crate::cmap::CMap;
use crate::encodings::{self, BaseEncoding};
use crate::filters::{self, Budget, DecodeError};

/// A character encoding that a predefined CMap's codes are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Predefined {
    /// `*-RKSJ-*`: Shift_JIS (Windows code page 932 for `90ms`).
    ShiftJis,
    /// `EUC-H/V`: EUC-JP.
    EucJp,
    /// `H`/`V`: JIS X 0208 row/cell bytes (EUC-JP without the high bits).
    JisRowCell,
    /// `Uni*-UCS2-*`: UCS-2 big-endian.
    Ucs2,
    /// `Uni*-UTF16-*`: UTF-16 big-endian.
    Utf16,
    /// `Uni*-UTF8-*`: UTF-8.
    Utf8,
    /// `Uni*-UTF32-*`: UTF-32 big-endian.
    Utf32,
    /// Simplified Chinese `GB*-EUC`, `GBK*`: GB 18030.
    Gbk,
    /// Traditional Chinese `B5*`, `ETen*`, `HKscs*`: Big5.
    Big5,
    /// Korean `KSC*`: EUC-KR (UHC).
    EucKr,
}

impl Predefined {
    /// The encoding of a predefined CMap, by its name, and whether it writes vertically.
    pub(crate) fn from_cmap_name(name: &str) -> Option<(Predefined, bool)> {
        let vertical = name == "V" || name.ends_with("-V");
        let kind = if name.contains("RKSJ") {
            Predefined::ShiftJis
        } else if name.starts_with("Uni") && name.contains("UCS2") {
            Predefined::Ucs2
        } else if name.starts_with("Uni") && name.contains("UTF16") {
            Predefined::Utf16
        } else if name.starts_with("Uni") && name.contains("UTF8") {
            Predefined::Utf8
        } else if name.starts_with("Uni") && name.contains("UTF32") {
            Predefined::Utf32
        } else if name.starts_with("GB") {
            Predefined::Gbk
        } else if name.starts_with("B5") || name.starts_with("ETen") || name.starts_with("HKscs") {
            Predefined::Big5
        } else if name.starts_with("KSC") {
            Predefined::EucKr
        } else if matches!(name, "EUC-H" | "EUC-V" | "78-EUC-H" | "78-EUC-V") {
            Predefined::EucJp
        } else if matches!(
            name,
            "H" | "V" | "78-H" | "78-V" | "Add-H" | "Add-V" | "Ext-H" | "Ext-V" | "NWP-H" | "NWP-V"
        ) {
            Predefined::JisRowCell
        } else {
            return None;
        };
        Some((kind, vertical))
    }

    /// The length of the code at the start of `bytes`.
    fn code_length(self, bytes: &[u8]) -> usize {
        let lead = bytes[0];
        let len = match self {
            Predefined::ShiftJis => {
                if matches!(lead, 0x81..=0x9F | 0xE0..=0xFC) {
                    2
                } else {
                    1
                }
            }
            Predefined::EucJp => match lead {
                0x8E | 0xA1..=0xFE => 2,
                0x8F => 3,
                _ => 1,
            },
            Predefined::JisRowCell | Predefined::Ucs2 => 2,
            Predefined::Utf16 => {
                if matches!(lead, 0xD8..=0xDB) {
                    4
                } else {
                    2
                }
            }
            Predefined::Utf8 => match lead {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF7 => 4,
                _ => 1,
            },
            Predefined::Utf32 => 4,
            Predefined::Gbk => match (lead, bytes.get(1)) {
                (0x81..=0xFE, Some(0x30..=0x39)) => 4,
                (0x81..=0xFE, _) => 2,
                _ => 1,
            },
            Predefined::Big5 | Predefined::EucKr => {
                if matches!(lead, 0x81..=0xFE) {
                    2
                } else {
                    1
                }
            }
        };
        len.min(bytes.len())
    }

    /// The text of one code, or `None` when the bytes are not a character of the encoding.
    fn decode(self, code: &[u8]) -> Option<String> {
        let decoded = match self {
            Predefined::ShiftJis => decode_with(encoding_rs::SHIFT_JIS, code),
            Predefined::EucJp => decode_with(encoding_rs::EUC_JP, code),
            Predefined::JisRowCell => {
                let high: Vec<u8> = code.iter().map(|b| b | 0x80).collect();
                decode_with(encoding_rs::EUC_JP, &high)
            }
            Predefined::Ucs2 | Predefined::Utf16 => decode_with(encoding_rs::UTF_16BE, code),
            Predefined::Utf8 => std::str::from_utf8(code).ok().map(str::to_owned),
            Predefined::Utf32 => {
                let value = code.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b));
                char::from_u32(value).map(String::from)
            }
            Predefined::Gbk => decode_with(encoding_rs::GB18030, code),
            Predefined::Big5 => decode_with(encoding_rs::BIG5, code),
            Predefined::EucKr => decode_with(encoding_rs::EUC_KR, code),
        };
        decoded.filter(|text| !text.is_empty())
    }
}

fn decode_with(encoding: &'static encoding_rs::Encoding, bytes: &[u8]) -> Option<String> {
    let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
    (!had_errors).then(|| text.into_owned())
}

/// How a composite font's bytes are split into codes and, lacking `/ToUnicode`, read.
#[derive(Debug, Clone)]
enum CodeMap {
    /// `Identity-H/V`: two-byte codes equal to CIDs; text only through `/ToUnicode`.
    Identity,
    /// A predefined CMap whose codes are characters of a known encoding.
    Predefined(Predefined),
    /// A CMap embedded in the file (code → CID); text only through `/ToUnicode` or its
    /// `usecmap` parent.
    Embedded(Box<CMap>, Option<Predefined>),
    /// A predefined CMap not known here: two-byte codes, text only through `/ToUnicode`.
    Unknown,
}

#[derive(Debug, Clone)]
enum Kind {
    /// One-byte codes; the text of each code after the encoding and `/Differences`.
    Simple {
        codes: Box<[Option<Box<str>>; 256]>,
        first_char: i64,
        widths: Vec<f64>,
        missing_width: f64,
    },
    /// Multi-byte codes through a CMap; widths by CID.
    Composite {
        code_map: CodeMap,
        widths: BTreeMap<u32, (u32, f64)>,
        default_width: f64,
    },
}

/// A font of a page, ready to decode shown strings.
#[derive(Debug, Clone)]
pub(crate) struct Font {
    kind: Kind,
    to_unicode: Option<CMap>,
    base_font: Vec<u8>,
    /// Vertical writing mode (`-V` CMaps).
    pub(crate) vertical: bool,
    /// Type3 fonts scale glyph widths by their `/FontMatrix`.
    width_scale: f64,
    /// CID → Unicode of the font's character collection, for CID-keyed (CFF) fonts of the
    /// Adobe-Japan1 collection whose codes reach CIDs directly (`Identity-H`, embedded CMaps).
    collection: Option<&'static CMap>,
}

/// Adobe's Adobe-Japan1-UCS2 CMap (BSD-3-Clause, copyright notice in the file), parsed once.
fn adobe_japan1() -> &'static CMap {
    static TABLE: std::sync::OnceLock<CMap> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| CMap::parse(include_bytes!("../data/Adobe-Japan1-UCS2")))
}

/// One glyph of a shown string.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Glyph {
    /// The text it stands for; `None` when the font gives no way to know it.
    pub(crate) text: Option<String>,
    /// Advance width in text-space units per unit of font size (glyph width / 1000).
    pub(crate) width: f64,
    /// Whether this is the single-byte code 32, to which word spacing applies.
    pub(crate) is_word_space: bool,
}

fn number(object: &Object) -> Option<f64> {
    match object {
        Object::Integer(i) => Some(*i as f64),
        Object::Real(r) => Some(f64::from(*r)),
        _ => None,
    }
}

fn dict<'a>(doc: &'a Document, object: Option<&'a Object>) -> Option<&'a Dictionary> {
    match filters::resolve(doc, object?) {
        Object::Dictionary(d) => Some(d),
        Object::Stream(s) => Some(&s.dict),
        _ => None,
    }
}

fn name_of<'a>(doc: &'a Document, object: Option<&'a Object>) -> Option<&'a [u8]> {
    match filters::resolve(doc, object?) {
        Object::Name(n) => Some(n),
        _ => None,
    }
}

/// Decodes a stream-valued entry (`/ToUnicode`, `/Encoding`), charging the budget.
fn stream_data(
    doc: &Document,
    object: Option<&Object>,
    budget: &mut Budget,
) -> Result<Option<Vec<u8>>, PdfError> {
    let Some(Object::Stream(stream)) = object.map(|o| filters::resolve(doc, o)) else {
        return Ok(None);
    };
    match filters::decode_stream(stream, doc, budget) {
        Ok(data) => Ok(Some(data)),
        Err(DecodeError::Fatal(error)) => Err(error),
        Err(DecodeError::Unsupported) => Ok(None),
    }
}

impl Font {
    /// Reads a font dictionary.
    pub(crate) fn load(
        doc: &Document,
        font: &Dictionary,
        budget: &mut Budget,
    ) -> Result<Font, PdfError> {
        let to_unicode = stream_data(doc, font.get(b"ToUnicode").ok(), budget)?
            .map(|data| CMap::parse(&data))
            .filter(CMap::has_text);
        let base_font = name_of(doc, font.get(b"BaseFont").ok())
            .unwrap_or_default()
            .to_vec();
        let subtype = name_of(doc, font.get(b"Subtype").ok()).unwrap_or_default();
        if subtype == b"Type0" {
            return Font::load_composite(doc, font, to_unicode, base_font, budget);
        }
        let mut codes: Box<[Option<Box<str>>; 256]> = Box::new(std::array::from_fn(|_| None));
        let encoding = font.get(b"Encoding").ok().map(|o| filters::resolve(doc, o));
        let base = match encoding {
            Some(Object::Name(name)) => BaseEncoding::from_name(name),
            Some(Object::Dictionary(d)) => {
                name_of(doc, d.get(b"BaseEncoding").ok()).and_then(BaseEncoding::from_name)
            }
            _ => None,
        };
        let is_symbolic = {
            let name = String::from_utf8_lossy(&base_font);
            name.contains("Symbol") || name.contains("Dingbats")
        };
        let base = base.unwrap_or(if subtype == b"TrueType" {
            BaseEncoding::WinAnsi
        } else {
            BaseEncoding::Standard
        });
        let explicit_base = match encoding {
            Some(Object::Name(_)) => true,
            Some(Object::Dictionary(d)) => d.has(b"BaseEncoding"),
            _ => false,
        };
        // An embedded Type 1 font without an explicit base encoding uses its own (TeX fonts
        // put bullets, ligatures and math there).
        let builtin = if !explicit_base && matches!(subtype, b"Type1" | b"MMType1") {
            let descriptor = dict(doc, font.get(b"FontDescriptor").ok());
            match descriptor.and_then(|d| d.get(b"FontFile").ok()) {
                Some(program) => stream_data(doc, Some(program), budget)?
                    .and_then(|data| type1_builtin_encoding(&data)),
                None => None,
            }
        } else {
            None
        };
        if let Some(builtin) = builtin {
            for (slot, name) in codes.iter_mut().zip(builtin.iter()) {
                *slot = name
                    .as_deref()
                    .and_then(encodings::glyph_name_to_text)
                    .map(String::into_boxed_str);
            }
        } else if !is_symbolic || encoding.is_some() {
            for (code, slot) in codes.iter_mut().enumerate() {
                *slot = base
                    .decode(code as u8)
                    .map(|c| c.to_string().into_boxed_str());
            }
        }
        if let Some(Object::Dictionary(d)) = encoding
            && let Some(Object::Array(differences)) =
                d.get(b"Differences").ok().map(|o| filters::resolve(doc, o))
        {
            let mut code: i64 = 0;
            for item in differences {
                match filters::resolve(doc, item) {
                    Object::Integer(start) => code = *start,
                    Object::Name(name) => {
                        if let Some(slot) =
                            usize::try_from(code).ok().and_then(|c| codes.get_mut(c))
                        {
                            let name = String::from_utf8_lossy(name);
                            *slot =
                                encodings::glyph_name_to_text(&name).map(String::into_boxed_str);
                        }
                        code += 1;
                    }
                    _ => {}
                }
            }
        }
        let first_char = font.get(b"FirstChar").ok().and_then(number).unwrap_or(0.0) as i64;
        let widths = match font.get(b"Widths").ok().map(|o| filters::resolve(doc, o)) {
            Some(Object::Array(items)) => items
                .iter()
                .take(256)
                .map(|w| number(filters::resolve(doc, w)).unwrap_or(0.0))
                .collect(),
            _ => Vec::new(),
        };
        let missing_width = dict(doc, font.get(b"FontDescriptor").ok())
            .and_then(|d| d.get(b"MissingWidth").ok())
            .and_then(number)
            .unwrap_or(0.0);
        let width_scale = match font
            .get(b"FontMatrix")
            .ok()
            .map(|o| filters::resolve(doc, o))
        {
            Some(Object::Array(m)) if subtype == b"Type3" => m
                .first()
                .and_then(number)
                .map_or(1.0, |a| (a * 1000.0).abs().clamp(1e-6, 1e6)),
            _ => 1.0,
        };
        Ok(Font {
            kind: Kind::Simple {
                codes,
                first_char,
                widths,
                missing_width,
            },
            to_unicode,
            base_font,
            vertical: false,
            width_scale,
            collection: None,
        })
    }

    fn load_composite(
        doc: &Document,
        font: &Dictionary,
        to_unicode: Option<CMap>,
        base_font: Vec<u8>,
        budget: &mut Budget,
    ) -> Result<Font, PdfError> {
        let encoding = font.get(b"Encoding").ok();
        let (code_map, vertical) = match encoding.map(|o| filters::resolve(doc, o)) {
            Some(Object::Name(name)) => {
                let name = String::from_utf8_lossy(name);
                match name.as_ref() {
                    "Identity-H" => (CodeMap::Identity, false),
                    "Identity-V" => (CodeMap::Identity, true),
                    other => match Predefined::from_cmap_name(other) {
                        Some((kind, vertical)) => (CodeMap::Predefined(kind), vertical),
                        None => (CodeMap::Unknown, other.ends_with("-V")),
                    },
                }
            }
            Some(Object::Stream(_)) => match stream_data(doc, encoding, budget)? {
                Some(data) => {
                    let cmap = CMap::parse(&data);
                    let parent = cmap
                        .use_cmap
                        .as_deref()
                        .and_then(Predefined::from_cmap_name);
                    let vertical = cmap.wmode == 1 || parent.is_some_and(|(_, v)| v);
                    (
                        CodeMap::Embedded(Box::new(cmap), parent.map(|(kind, _)| kind)),
                        vertical,
                    )
                }
                None => (CodeMap::Unknown, false),
            },
            _ => (CodeMap::Identity, false),
        };
        let descendant = match font
            .get(b"DescendantFonts")
            .ok()
            .map(|o| filters::resolve(doc, o))
        {
            Some(Object::Array(items)) => items.first().and_then(|d| dict(doc, Some(d))),
            Some(Object::Dictionary(d)) => Some(d),
            _ => None,
        };
        let mut widths = BTreeMap::new();
        let mut default_width = 1000.0;
        let reaches_cids = matches!(code_map, CodeMap::Identity | CodeMap::Embedded(_, None));
        let collection = descendant
            .filter(|d| {
                reaches_cids && name_of(doc, d.get(b"Subtype").ok()) == Some(b"CIDFontType0")
            })
            .and_then(|d| dict(doc, d.get(b"CIDSystemInfo").ok()))
            .filter(|info| {
                let string = |key: &[u8]| match info.get(key).ok().map(|o| filters::resolve(doc, o))
                {
                    Some(Object::String(s, _)) => s.clone(),
                    _ => Vec::new(),
                };
                string(b"Registry") == b"Adobe" && string(b"Ordering") == b"Japan1"
            })
            .map(|_| adobe_japan1());
        if let Some(descendant) = descendant {
            default_width = descendant
                .get(b"DW")
                .ok()
                .and_then(number)
                .unwrap_or(1000.0);
            if let Some(Object::Array(w)) =
                descendant.get(b"W").ok().map(|o| filters::resolve(doc, o))
            {
                parse_cid_widths(doc, w, &mut widths);
            }
        }
        Ok(Font {
            kind: Kind::Composite {
                code_map,
                widths,
                default_width,
            },
            to_unicode,
            base_font,
            vertical,
            width_scale: 1.0,
            collection,
        })
    }

    /// Whether text shown in this font can be turned into characters at all: false for
    /// `Identity-H` and unknown or embedded CMaps without a `/ToUnicode` map (what
    /// `cupsfilter`/`texttopdf` produce), whose bytes are glyph ids.
    pub(crate) fn has_text_mapping(&self) -> bool {
        if self.to_unicode.is_some() || self.collection.is_some() {
            return true;
        }
        match &self.kind {
            Kind::Simple { .. } => true,
            Kind::Composite { code_map, .. } => match code_map {
                CodeMap::Predefined(_) | CodeMap::Embedded(_, Some(_)) => true,
                CodeMap::Identity | CodeMap::Unknown | CodeMap::Embedded(_, None) => false,
            },
        }
    }

    /// Splits a shown string into glyphs.
    pub(crate) fn glyphs(&self, bytes: &[u8], out: &mut Vec<Glyph>) {
        out.clear();
        let mut rest = bytes;
        while !rest.is_empty() {
            let len = self.code_length(rest).clamp(1, rest.len());
            let (code, tail) = rest.split_at(len);
            rest = tail;
            out.push(self.glyph(code));
        }
    }

    fn code_length(&self, bytes: &[u8]) -> usize {
        match &self.kind {
            Kind::Simple { .. } => 1,
            Kind::Composite { code_map, .. } => match code_map {
                CodeMap::Identity | CodeMap::Unknown => 2,
                CodeMap::Predefined(kind) => kind.code_length(bytes),
                CodeMap::Embedded(cmap, parent) => {
                    if cmap.has_codespace() {
                        cmap.code_length(bytes)
                    } else if let Some(kind) = parent {
                        kind.code_length(bytes)
                    } else {
                        2
                    }
                }
            },
        }
    }

    fn glyph(&self, code: &[u8]) -> Glyph {
        let from_to_unicode = self
            .to_unicode
            .as_ref()
            .and_then(|m| m.lookup(code))
            .map(str::to_owned);
        match &self.kind {
            Kind::Simple {
                codes,
                first_char,
                widths,
                missing_width,
            } => {
                let byte = code[0];
                let text = from_to_unicode
                    .or_else(|| codes[usize::from(byte)].as_deref().map(str::to_owned));
                let index = i64::from(byte) - first_char;
                let declared = usize::try_from(index)
                    .ok()
                    .and_then(|i| widths.get(i))
                    .copied();
                let width = match declared {
                    Some(w) if w > 0.0 => w,
                    _ if *missing_width > 0.0 => *missing_width,
                    _ => {
                        let ch = text
                            .as_deref()
                            .and_then(|t| t.chars().next())
                            .unwrap_or('n');
                        encodings::standard_width(&self.base_font, ch)
                    }
                };
                Glyph {
                    text,
                    width: width * self.width_scale / 1000.0,
                    is_word_space: byte == 32,
                }
            }
            Kind::Composite {
                code_map,
                widths,
                default_width,
            } => {
                let (text, cid) = match code_map {
                    CodeMap::Identity | CodeMap::Unknown => (
                        from_to_unicode,
                        Some(code.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b))),
                    ),
                    CodeMap::Predefined(kind) => {
                        (from_to_unicode.or_else(|| kind.decode(code)), None)
                    }
                    CodeMap::Embedded(cmap, parent) => (
                        from_to_unicode.or_else(|| parent.and_then(|k| k.decode(code))),
                        cmap.cid(code),
                    ),
                };
                let text = text.or_else(|| {
                    let cid = u16::try_from(cid?).ok()?;
                    let mapped = self.collection?.lookup(&cid.to_be_bytes())?;
                    (mapped != "\u{FFFD}").then(|| mapped.to_owned())
                });
                let width = match cid.and_then(|cid| cid_width(widths, cid)) {
                    Some(w) => w,
                    // Without a CID we cannot look widths up: half width for one-byte codes
                    // (ASCII and half-width kana in the Japanese CMaps), else the default.
                    None if cid.is_none() && code.len() == 1 => default_width / 2.0,
                    None => *default_width,
                };
                let width = if self.vertical { 1000.0 } else { width };
                Glyph {
                    text,
                    width: width / 1000.0,
                    is_word_space: code == [32],
                }
            }
        }
    }
}

/// The built-in encoding of a Type 1 font program (`/Encoding 256 array ... dup 15 /bullet put
/// ... readonly def` in its clear-text part), or `None` when it uses StandardEncoding or has
/// none that can be read.
fn type1_builtin_encoding(program: &[u8]) -> Option<Vec<Option<String>>> {
    let clear_end = program
        .windows(5)
        .position(|w| w == b"eexec")
        .unwrap_or(program.len());
    let clear = &program[..clear_end];
    let start = clear.windows(9).position(|w| w == b"/Encoding")?;
    let text = String::from_utf8_lossy(&clear[start..]);
    if text[9..].trim_start().starts_with("StandardEncoding") {
        return None;
    }
    let mut names: Vec<Option<String>> = vec![None; 256];
    let mut found = false;
    let tokens: Vec<&str> = text.split_ascii_whitespace().take(256 * 4 + 64).collect();
    for window in tokens.windows(4) {
        if window[0] == "def" {
            break;
        }
        if window[0] == "dup"
            && window[3] == "put"
            && let Ok(code) = window[1].parse::<usize>()
            && let Some(name) = window[2].strip_prefix('/')
            && code < 256
        {
            names[code] = Some(name.to_owned());
            found = true;
        }
    }
    found.then_some(names)
}

/// Parses a CIDFont `/W` array: `c [w1 w2 ...]` and `c_first c_last w` entries.
fn parse_cid_widths(doc: &Document, w: &[Object], widths: &mut BTreeMap<u32, (u32, f64)>) {
    let mut i = 0;
    while i < w.len() && widths.len() < crate::cmap::MAX_ENTRIES {
        let Some(first) = number(filters::resolve(doc, &w[i])) else {
            break;
        };
        let first = first.max(0.0) as u32;
        match w.get(i + 1).map(|o| filters::resolve(doc, o)) {
            Some(Object::Array(list)) => {
                for (offset, width) in list.iter().enumerate() {
                    if let Some(width) = number(filters::resolve(doc, width)) {
                        let cid = first.saturating_add(offset as u32);
                        widths.insert(cid, (cid, width));
                    }
                }
                i += 2;
            }
            Some(last) => {
                let (Some(last), Some(width)) = (
                    number(last),
                    w.get(i + 2).and_then(|o| number(filters::resolve(doc, o))),
                ) else {
                    break;
                };
                widths.insert(first, ((last.max(0.0) as u32).max(first), width));
                i += 3;
            }
            None => break,
        }
    }
}

fn cid_width(widths: &BTreeMap<u32, (u32, f64)>, cid: u32) -> Option<f64> {
    let (_, (last, width)) = widths.range(..=cid).next_back()?;
    (cid <= *last).then_some(*width)
}

#[cfg(test)]
mod tests {
    use lopdf::dictionary;

    use super::*;
    use crate::PdfLimits;

    fn load(font: Dictionary, doc: &Document) -> Font {
        let mut budget = Budget::new(&PdfLimits::default());
        Font::load(doc, &font, &mut budget).unwrap()
    }

    fn text(font: &Font, bytes: &[u8]) -> (String, usize) {
        let mut glyphs = Vec::new();
        font.glyphs(bytes, &mut glyphs);
        let missing = glyphs.iter().filter(|g| g.text.is_none()).count();
        (glyphs.into_iter().filter_map(|g| g.text).collect(), missing)
    }

    #[test]
    fn predefined_cmap_names() {
        assert_eq!(
            Predefined::from_cmap_name("90ms-RKSJ-H"),
            Some((Predefined::ShiftJis, false))
        );
        assert_eq!(
            Predefined::from_cmap_name("90ms-RKSJ-V"),
            Some((Predefined::ShiftJis, true))
        );
        assert_eq!(
            Predefined::from_cmap_name("UniJIS-UCS2-H"),
            Some((Predefined::Ucs2, false))
        );
        assert_eq!(
            Predefined::from_cmap_name("UniJIS-UTF16-V"),
            Some((Predefined::Utf16, true))
        );
        assert_eq!(
            Predefined::from_cmap_name("UniJIS-UTF8-H"),
            Some((Predefined::Utf8, false))
        );
        assert_eq!(
            Predefined::from_cmap_name("EUC-H"),
            Some((Predefined::EucJp, false))
        );
        assert_eq!(
            Predefined::from_cmap_name("H"),
            Some((Predefined::JisRowCell, false))
        );
        assert_eq!(
            Predefined::from_cmap_name("V"),
            Some((Predefined::JisRowCell, true))
        );
        assert_eq!(
            Predefined::from_cmap_name("GBK-EUC-H"),
            Some((Predefined::Gbk, false))
        );
        assert_eq!(
            Predefined::from_cmap_name("KSCms-UHC-H"),
            Some((Predefined::EucKr, false))
        );
        assert_eq!(Predefined::from_cmap_name("Adobe-Japan1-6"), None);
    }

    #[test]
    fn predefined_encodings_decode_japanese() {
        let doc = Document::new();
        let font = |cmap: &str| {
            load(
                dictionary! { "Subtype" => "Type0", "BaseFont" => "MS-Mincho", "Encoding" => cmap },
                &doc,
            )
        };
        // 社外秘 in each encoding.
        assert_eq!(
            text(&font("90ms-RKSJ-H"), b"\x8E\xD0\x8A\x4F\x94\xE9A1"),
            ("社外秘A1".into(), 0)
        );
        assert_eq!(
            text(&font("EUC-H"), b"\xBC\xD2\xB3\xB0\xC8\xEB"),
            ("社外秘".into(), 0)
        );
        assert_eq!(
            text(&font("H"), b"\x3C\x52\x33\x30\x48\x6B"),
            ("社外秘".into(), 0)
        );
        assert_eq!(
            text(&font("UniJIS-UCS2-H"), b"\x79\x3E\x59\x16\x79\xD8"),
            ("社外秘".into(), 0)
        );
        assert_eq!(
            text(&font("UniJIS-UTF16-H"), b"\xD8\x42\xDF\xB7\x79\x3E"),
            ("𠮷社".into(), 0)
        );
        assert_eq!(
            text(&font("UniJIS-UTF8-H"), "極秘".as_bytes()),
            ("極秘".into(), 0)
        );
        assert_eq!(
            text(&font("UniJIS-UTF32-H"), b"\x00\x02\x0B\xB7"),
            ("𠮷".into(), 0)
        );
        // Bytes that are not Shift_JIS are reported, not guessed.
        assert_eq!(text(&font("90ms-RKSJ-H"), b"\x81\x20").1, 1);
    }

    #[test]
    fn adobe_japan1_cids_read_without_to_unicode() {
        let mut doc = Document::new();
        let descendant = doc.add_object(dictionary! {
            "Type" => "Font",
            "Subtype" => "CIDFontType0",
            "CIDSystemInfo" => dictionary! {
                "Registry" => Object::string_literal("Adobe"),
                "Ordering" => Object::string_literal("Japan1"),
                "Supplement" => 6,
            },
        });
        let font = load(
            dictionary! { "Subtype" => "Type0", "Encoding" => "Identity-H", "DescendantFonts" => vec![descendant.into()] },
            &doc,
        );
        assert!(font.has_text_mapping());
        // CIDs 34 (A), 17 (0) and 2302 (社) of Adobe-Japan1.
        assert_eq!(text(&font, b"\x00\x22\x00\x11\x08\xFE"), ("A0社".into(), 0));
        assert_eq!(text(&font, b"\x00\x00").1, 1, "CID 0 (.notdef) is not text");
    }

    #[test]
    fn identity_without_to_unicode_has_no_text() {
        let doc = Document::new();
        let font = load(
            dictionary! { "Subtype" => "Type0", "Encoding" => "Identity-H" },
            &doc,
        );
        assert!(!font.has_text_mapping());
        assert_eq!(text(&font, b"\x00\x01\x00\x02"), (String::new(), 2));
    }

    #[test]
    fn simple_font_with_differences_and_widths() {
        let doc = Document::new();
        let font = load(
            dictionary! {
                "Subtype" => "Type1",
                "BaseFont" => "Helvetica",
                "FirstChar" => 65,
                "Widths" => vec![600.into(), 700.into()],
                "Encoding" => dictionary! {
                    "BaseEncoding" => "WinAnsiEncoding",
                    "Differences" => vec![66.into(), Object::Name(b"uni793E".to_vec()), Object::Name(b"g7".to_vec())],
                },
            },
            &doc,
        );
        let mut glyphs = Vec::new();
        font.glyphs(b"ABC\x93 ", &mut glyphs);
        let texts: Vec<_> = glyphs.iter().map(|g| g.text.as_deref()).collect();
        assert_eq!(texts, [Some("A"), Some("社"), None, Some("“"), Some(" ")]);
        assert_eq!(glyphs[0].width, 0.6);
        assert_eq!(glyphs[1].width, 0.7);
        assert!(glyphs[4].is_word_space);
        assert!(
            (glyphs[4].width - 0.278).abs() < 1e-9,
            "Helvetica's space from the built-in metrics"
        );
    }

    #[test]
    fn type1_builtin_encodings_are_read_from_the_program() {
        let program = b"%!PS-AdobeFont-1.0: CMSY10\n/Encoding 256 array\n0 1 255 {1 index exch /.notdef put} for\n\
            dup 15 /bullet put\ndup 32 /space put\ndup 102 /braceleft put\nreadonly def\ncurrentfile eexec\n\x80\x81dup 1 /a put";
        let names = type1_builtin_encoding(program).unwrap();
        assert_eq!(names[15].as_deref(), Some("bullet"));
        assert_eq!(names[102].as_deref(), Some("braceleft"));
        assert_eq!(names[1], None, "nothing after eexec is read");
        assert_eq!(
            type1_builtin_encoding(b"/Encoding StandardEncoding def currentfile eexec"),
            None
        );
        assert_eq!(type1_builtin_encoding(b"garbage"), None);

        let mut doc = Document::new();
        let file = doc.add_object(lopdf::Stream::new(Dictionary::new(), program.to_vec()));
        let font = load(
            dictionary! {
                "Subtype" => "Type1",
                "BaseFont" => "AQTFCU+CMSY10",
                "FontDescriptor" => dictionary! { "FontFile" => file },
            },
            &doc,
        );
        assert_eq!(text(&font, b"\x0F f"), ("• {".into(), 0));
    }

    #[test]
    fn cid_widths_parse_both_forms() {
        let doc = Document::new();
        let w = vec![
            1.into(),
            vec![500.into(), 600.into()].into(),
            10.into(),
            20.into(),
            250.into(),
        ];
        let mut widths = BTreeMap::new();
        parse_cid_widths(&doc, &w, &mut widths);
        assert_eq!(cid_width(&widths, 1), Some(500.0));
        assert_eq!(cid_width(&widths, 2), Some(600.0));
        assert_eq!(cid_width(&widths, 3), None);
        assert_eq!(cid_width(&widths, 15), Some(250.0));
        assert_eq!(cid_width(&widths, 21), None);
    }
}
