//! CMaps embedded in PDFs: `/ToUnicode` maps (code → text) and embedded encoding CMaps
//! (code → CID), with their codespace ranges.
//!
//! Written by hand because the format is a tiny PostScript subset and a parser of outside bytes
//! here must be bounded in memory: a `bfrange` of `<0000> <FFFF>` is stored as a range, never
//! expanded beyond [`MAX_ENTRIES`] single entries per CMap.

use std::collections::HashMap;

/// Most code → text entries kept from one CMap (ranges are expanded up to this count).
pub(crate) const MAX_ENTRIES: usize = 1 << 17;

/// One codespace range: codes of `len` bytes whose every byte lies between the bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CodespaceRange {
    len: usize,
    low: [u8; 4],
    high: [u8; 4],
}

impl CodespaceRange {
    fn matches(&self, bytes: &[u8]) -> bool {
        bytes.len() >= self.len
            && (0..self.len).all(|i| self.low[i] <= bytes[i] && bytes[i] <= self.high[i])
    }
}

/// A `cidrange`: codes `low..=high` of `len` bytes map to CIDs from `first_cid` on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CidRange {
    len: usize,
    low: u32,
    high: u32,
    first_cid: u32,
}

/// A parsed CMap.
#[derive(Debug, Clone, Default)]
pub(crate) struct CMap {
    codespace: Vec<CodespaceRange>,
    /// Keyed by [`key`] (code length and code).
    text: HashMap<u64, Box<str>>,
    cid_ranges: Vec<CidRange>,
    /// The predefined CMap this one builds on (`usecmap`).
    pub(crate) use_cmap: Option<String>,
    /// 1 for vertical writing.
    pub(crate) wmode: i64,
}

fn key(len: usize, code: u32) -> u64 {
    (len as u64) << 32 | u64::from(code)
}

fn code_value(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b))
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Hex(Vec<u8>),
    Literal(Vec<u8>),
    Name(String),
    Int(i64),
    ArrayStart,
    ArrayEnd,
    Word(String),
}

struct Lexer<'a> {
    data: &'a [u8],
    pos: usize,
}

fn is_delimiter(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

impl Iterator for Lexer<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        let data = self.data;
        loop {
            let &b = data.get(self.pos)?;
            if b.is_ascii_whitespace() || b == 0 {
                self.pos += 1;
            } else if b == b'%' {
                while self.pos < data.len() && !matches!(data[self.pos], b'\n' | b'\r') {
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
        let start = self.pos;
        let b = data[start];
        self.pos += 1;
        match b {
            b'<' if data.get(self.pos) == Some(&b'<') => {
                self.pos += 1;
                Some(Token::Word("<<".into()))
            }
            b'>' if data.get(self.pos) == Some(&b'>') => {
                self.pos += 1;
                Some(Token::Word(">>".into()))
            }
            b'<' => {
                let mut digits = Vec::new();
                while let Some(&c) = data.get(self.pos) {
                    self.pos += 1;
                    if c == b'>' {
                        break;
                    }
                    if c.is_ascii_hexdigit() {
                        digits.push(c);
                    }
                }
                if digits.len() % 2 == 1 {
                    digits.push(b'0');
                }
                let bytes = digits
                    .chunks(2)
                    .map(|pair| {
                        let text = std::str::from_utf8(pair).unwrap_or("00");
                        u8::from_str_radix(text, 16).unwrap_or(0)
                    })
                    .collect();
                Some(Token::Hex(bytes))
            }
            b'(' => {
                let mut depth = 1usize;
                let mut out = Vec::new();
                while let Some(&c) = data.get(self.pos) {
                    self.pos += 1;
                    match c {
                        b'\\' => {
                            if let Some(&e) = data.get(self.pos) {
                                self.pos += 1;
                                out.push(e);
                            }
                        }
                        b'(' => {
                            depth += 1;
                            out.push(c);
                        }
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                            out.push(c);
                        }
                        _ => out.push(c),
                    }
                }
                Some(Token::Literal(out))
            }
            b'[' => Some(Token::ArrayStart),
            b']' => Some(Token::ArrayEnd),
            b'/' => {
                while self.pos < data.len()
                    && !data[self.pos].is_ascii_whitespace()
                    && !is_delimiter(data[self.pos])
                {
                    self.pos += 1;
                }
                Some(Token::Name(
                    String::from_utf8_lossy(&data[start + 1..self.pos]).into_owned(),
                ))
            }
            _ => {
                while self.pos < data.len()
                    && !data[self.pos].is_ascii_whitespace()
                    && !is_delimiter(data[self.pos])
                {
                    self.pos += 1;
                }
                let word = String::from_utf8_lossy(&data[start..self.pos]).into_owned();
                Some(match word.parse::<i64>() {
                    Ok(n) => Token::Int(n),
                    Err(_) => Token::Word(word),
                })
            }
        }
    }
}

/// Text for a `bfrange` destination `base` advanced by `offset`: the last UTF-16 code unit is
/// incremented, as the specification says (9.10.3).
/// Longest destination kept from one mapping, in bytes (the specification allows 512; longer
/// ones would let each glyph of a page expand into megabytes of text).
const MAX_DESTINATION_BYTES: usize = 512;

fn offset_text(base: &[u8], offset: u32) -> Option<Box<str>> {
    let base = &base[..base.len().min(MAX_DESTINATION_BYTES)];
    let mut units: Vec<u16> = base
        .chunks(2)
        .map(|c| {
            if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from(c[0])
            }
        })
        .collect();
    let last = units.last_mut()?;
    *last = last.wrapping_add(offset as u16);
    Some(utf16_text(&units))
}

fn utf16_text(units: &[u16]) -> Box<str> {
    char::decode_utf16(units.iter().copied())
        .map(|r| r.unwrap_or('\u{FFFD}'))
        .collect::<String>()
        .into_boxed_str()
}

fn bytes_text(bytes: &[u8]) -> Box<str> {
    let bytes = &bytes[..bytes.len().min(MAX_DESTINATION_BYTES)];
    let units: Vec<u16> = bytes
        .chunks(2)
        .map(|c| {
            if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from(c[0])
            }
        })
        .collect();
    utf16_text(&units)
}

impl CMap {
    /// Parses CMap text. Never fails: what cannot be read is skipped, as viewers do.
    pub(crate) fn parse(data: &[u8]) -> CMap {
        let mut cmap = CMap::default();
        let mut tokens = Lexer { data, pos: 0 }.peekable();
        let mut previous: Option<Token> = None;
        while let Some(token) = tokens.next() {
            match &token {
                Token::Word(w) if w == "begincodespacerange" => {
                    while let Some(Token::Hex(low)) = tokens.next_if(|t| matches!(t, Token::Hex(_)))
                    {
                        let Some(Token::Hex(high)) = tokens.next_if(|t| matches!(t, Token::Hex(_)))
                        else {
                            break;
                        };
                        cmap.add_codespace(&low, &high);
                    }
                }
                Token::Word(w) if w == "beginbfchar" => {
                    while let Some(Token::Hex(src)) = tokens.next_if(|t| matches!(t, Token::Hex(_)))
                    {
                        match tokens.next() {
                            Some(Token::Hex(dst)) => cmap.insert_text(&src, bytes_text(&dst)),
                            Some(Token::Name(name)) => {
                                if let Some(text) = crate::encodings::glyph_name_to_text(&name) {
                                    cmap.insert_text(&src, text.into_boxed_str());
                                }
                            }
                            _ => break,
                        }
                    }
                }
                Token::Word(w) if w == "beginbfrange" => {
                    while let Some(Token::Hex(low)) = tokens.next_if(|t| matches!(t, Token::Hex(_)))
                    {
                        let Some(Token::Hex(high)) = tokens.next() else {
                            break;
                        };
                        match tokens.next() {
                            Some(Token::Hex(dst)) => {
                                cmap.insert_range(&low, &high, |i| offset_text(&dst, i))
                            }
                            Some(Token::ArrayStart) => {
                                let mut items = Vec::new();
                                for item in tokens.by_ref() {
                                    match item {
                                        Token::Hex(dst) => items.push(Some(bytes_text(&dst))),
                                        Token::Name(name) => items.push(
                                            crate::encodings::glyph_name_to_text(&name)
                                                .map(String::into_boxed_str),
                                        ),
                                        Token::ArrayEnd => break,
                                        _ => items.push(None),
                                    }
                                }
                                cmap.insert_range(&low, &high, |i| {
                                    items.get(i as usize).cloned().flatten()
                                });
                            }
                            _ => break,
                        }
                    }
                }
                Token::Word(w) if w == "begincidrange" => {
                    while let Some(Token::Hex(low)) = tokens.next_if(|t| matches!(t, Token::Hex(_)))
                    {
                        let (Some(Token::Hex(high)), Some(Token::Int(cid))) =
                            (tokens.next(), tokens.next())
                        else {
                            break;
                        };
                        cmap.add_cid_range(&low, &high, cid);
                    }
                }
                Token::Word(w) if w == "begincidchar" => {
                    while let Some(Token::Hex(code)) =
                        tokens.next_if(|t| matches!(t, Token::Hex(_)))
                    {
                        let Some(Token::Int(cid)) = tokens.next() else {
                            break;
                        };
                        cmap.add_cid_range(&code, &code, cid);
                    }
                }
                Token::Word(w) if w == "usecmap" => {
                    if let Some(Token::Name(name)) = &previous {
                        cmap.use_cmap = Some(name.clone());
                    }
                }
                Token::Int(n) => {
                    if matches!(&previous, Some(Token::Name(name)) if name == "WMode") {
                        cmap.wmode = *n;
                    }
                }
                _ => {}
            }
            previous = Some(token);
        }
        // Sorted for `cid`; the stable sort keeps later duplicates after earlier ones, so the
        // later definition wins, as in a sequential reading.
        cmap.cid_ranges.sort_by_key(|r| (r.len, r.low));
        cmap
    }

    fn add_codespace(&mut self, low: &[u8], high: &[u8]) {
        let len = low.len();
        if !(1..=4).contains(&len) || high.len() != len || self.codespace.len() >= 256 {
            return;
        }
        let mut range = CodespaceRange {
            len,
            low: [0; 4],
            high: [0; 4],
        };
        range.low[..len].copy_from_slice(low);
        range.high[..len].copy_from_slice(high);
        self.codespace.push(range);
        self.codespace.sort_by_key(|r| r.len);
    }

    fn add_cid_range(&mut self, low: &[u8], high: &[u8], cid: i64) {
        let len = low.len();
        if !(1..=4).contains(&len) || high.len() != len || self.cid_ranges.len() >= MAX_ENTRIES {
            return;
        }
        let Ok(first_cid) = u32::try_from(cid) else {
            return;
        };
        self.cid_ranges.push(CidRange {
            len,
            low: code_value(low),
            high: code_value(high),
            first_cid,
        });
    }

    fn insert_text(&mut self, src: &[u8], text: Box<str>) {
        if !(1..=4).contains(&src.len()) || self.text.len() >= MAX_ENTRIES {
            return;
        }
        self.text.insert(key(src.len(), code_value(src)), text);
    }

    fn insert_range(&mut self, low: &[u8], high: &[u8], text_at: impl Fn(u32) -> Option<Box<str>>) {
        let len = low.len();
        if !(1..=4).contains(&len) || high.len() != len {
            return;
        }
        let (low, high) = (code_value(low), code_value(high));
        if high < low {
            return;
        }
        for offset in 0..=(high - low) {
            if self.text.len() >= MAX_ENTRIES {
                return;
            }
            if let Some(text) = text_at(offset) {
                self.text.insert(key(len, low + offset), text);
            }
        }
    }

    /// Whether this CMap maps any code to text.
    pub(crate) fn has_text(&self) -> bool {
        !self.text.is_empty()
    }

    /// Whether this CMap declares codespace ranges.
    pub(crate) fn has_codespace(&self) -> bool {
        !self.codespace.is_empty()
    }

    /// The length in bytes of the code at the start of `bytes` (never 0 for non-empty input),
    /// by the codespace ranges; without a matching range, the shortest declared length.
    pub(crate) fn code_length(&self, bytes: &[u8]) -> usize {
        if let Some(range) = self.codespace.iter().find(|r| r.matches(bytes)) {
            return range.len;
        }
        let shortest = self.codespace.first().map_or(1, |r| r.len);
        shortest.clamp(1, bytes.len().max(1))
    }

    /// The text a code maps to.
    pub(crate) fn lookup(&self, code: &[u8]) -> Option<&str> {
        if code.is_empty() || code.len() > 4 {
            return None;
        }
        self.text
            .get(&key(code.len(), code_value(code)))
            .map(|t| &**t)
    }

    /// The CID a code maps to, by `cidrange`/`cidchar`: a binary search over the ranges
    /// sorted when parsing ended (a linear scan per glyph would let a CMap with a hundred
    /// thousand ranges stall the interpreter).
    pub(crate) fn cid(&self, code: &[u8]) -> Option<u32> {
        let value = code_value(code);
        let len = code.len();
        let after = self
            .cid_ranges
            .partition_point(|r| (r.len, r.low) <= (len, value));
        // Ranges may nest (a `cidchar` overriding part of a `cidrange`): look back a little for
        // the innermost range that holds the code.
        let range = self.cid_ranges[..after]
            .iter()
            .rev()
            .take(64)
            .find(|r| r.len == len && value <= r.high)?;
        Some(range.first_cid.saturating_add(value - range.low))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const TO_UNICODE: &[u8] = br"/CIDInit /ProcSet findresource begin
12 dict begin
begincmap
/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def
/CMapName /Adobe-Identity-UCS def
/CMapType 2 def
1 begincodespacerange
<0000> <FFFF>
endcodespacerange
3 beginbfchar
<0001> <793E>
<0002> <5916>
<0003> <79D8>
endbfchar
2 beginbfrange
<0010> <0019> <0030>
<0020> <0022> [<D842DFB7> <0041> <00660069>]
endbfrange
1 beginbfchar
<0030> /eacute
endbfchar
endcmap
CMapName currentdict /CMap defineresource pop
end
end
";

    #[test]
    fn to_unicode_chars_ranges_and_surrogates() {
        let cmap = CMap::parse(TO_UNICODE);
        assert_eq!(cmap.lookup(&[0, 1]), Some("社"));
        assert_eq!(cmap.lookup(&[0, 3]), Some("秘"));
        assert_eq!(cmap.lookup(&[0, 0x10]), Some("0"));
        assert_eq!(cmap.lookup(&[0, 0x19]), Some("9"));
        assert_eq!(cmap.lookup(&[0, 0x20]), Some("𠮷"));
        assert_eq!(cmap.lookup(&[0, 0x21]), Some("A"));
        assert_eq!(cmap.lookup(&[0, 0x22]), Some("fi"));
        assert_eq!(cmap.lookup(&[0, 0x30]), Some("é"));
        assert_eq!(cmap.lookup(&[0, 0x1A]), None);
        assert_eq!(
            cmap.lookup(&[0x01]),
            None,
            "a one-byte code is not the two-byte code 0001"
        );
        assert_eq!(cmap.code_length(&[0, 1, 0, 2]), 2);
    }

    #[test]
    fn mixed_codespace_splits_one_and_two_byte_codes() {
        let cmap = CMap::parse(
            b"2 begincodespacerange <00> <80> <8140> <9FFC> endcodespacerange
              1 begincidrange <8140> <817E> 633 endcidrange
              1 begincidchar <41> 34 endcidchar
              /WMode 1 def",
        );
        assert_eq!(cmap.code_length(b"A\x81\x40"), 1);
        assert_eq!(cmap.code_length(b"\x81\x40"), 2);
        assert_eq!(
            cmap.code_length(b"\xF0"),
            1,
            "an unmatched byte falls back to the shortest length"
        );
        assert_eq!(cmap.cid(b"\x81\x41"), Some(634));
        assert_eq!(cmap.cid(b"A"), Some(34));
        assert_eq!(cmap.cid(b"B"), None);
        let nested = CMap::parse(
            b"1 begincidrange <8140> <817E> 633 endcidrange 1 begincidchar <8150> 9000 endcidchar",
        );
        assert_eq!(nested.cid(b"\x81\x50"), Some(9000));
        assert_eq!(nested.cid(b"\x81\x51"), Some(650));
        assert_eq!(nested.cid(b"\x81\x7F"), None);
        assert_eq!(cmap.wmode, 1);
    }

    #[test]
    fn usecmap_is_recorded() {
        let cmap = CMap::parse(
            b"/UniJIS-UCS2-H usecmap 1 begincodespacerange <0000> <FFFF> endcodespacerange",
        );
        assert_eq!(cmap.use_cmap.as_deref(), Some("UniJIS-UCS2-H"));
    }

    #[test]
    fn huge_ranges_are_bounded() {
        let cmap = CMap::parse(b"1 beginbfrange <00000000> <FFFFFFFF> <0041> endbfrange");
        assert_eq!(cmap.text.len(), MAX_ENTRIES);
    }

    proptest! {
        #[test]
        fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let cmap = CMap::parse(&data);
            let _ = cmap.code_length(&data);
            let _ = cmap.lookup(&data[..data.len().min(2)]);
        }

        #[test]
        fn bfchar_round_trips(code in 0u16..=0xFFFF, ch in proptest::char::any()) {
            let mut units = [0u16; 2];
            let dst: String = ch.encode_utf16(&mut units).iter().map(|u| format!("{u:04X}")).collect();
            let text = format!("1 beginbfchar <{code:04X}> <{dst}> endbfchar");
            let cmap = CMap::parse(text.as_bytes());
            let expected = ch.to_string();
            prop_assert_eq!(cmap.lookup(&code.to_be_bytes()), Some(expected.as_str()));
        }
    }
}
