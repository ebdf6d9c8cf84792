//! Stream filters with hard limits, and the budget every decode is charged to.
//!
//! lopdf can decode streams itself, but without a size cap per call and without counting the
//! total of a document; content streams, CMaps and XMP packets are therefore decoded here. Every
//! decoder writes into a buffer that refuses to grow past the smaller of the per-stream cap and
//! what is left of the document's budget.

use std::io::Read;
use std::time::Instant;

use lopdf::{Dictionary, Document, Object, Stream};

use crate::{PdfError, PdfLimits};

/// What one extraction may still spend: decoded bytes and time.
#[derive(Debug)]
pub(crate) struct Budget {
    max_stream_bytes: u64,
    remaining_total: u64,
    deadline: Option<Instant>,
}

impl Budget {
    pub(crate) fn new(limits: &PdfLimits) -> Budget {
        Budget {
            max_stream_bytes: limits.max_stream_bytes,
            remaining_total: limits.max_total_decoded,
            deadline: limits.deadline,
        }
    }

    /// Fails with [`PdfError::Timeout`] once the deadline has passed.
    pub(crate) fn check_time(&self) -> Result<(), PdfError> {
        match self.deadline {
            Some(deadline) if Instant::now() >= deadline => Err(PdfError::Timeout),
            _ => Ok(()),
        }
    }

    /// The most bytes the next stream may decode to; also the most text one page may yield.
    pub(crate) fn stream_cap(&self) -> u64 {
        self.max_stream_bytes.min(self.remaining_total)
    }

    /// Records `bytes` decoded; fails when the document's total is exhausted.
    pub(crate) fn charge(&mut self, bytes: u64) -> Result<(), PdfError> {
        if bytes > self.remaining_total {
            self.remaining_total = 0;
            return Err(PdfError::LimitExceeded("total decoded bytes"));
        }
        self.remaining_total -= bytes;
        Ok(())
    }

    /// The error for page text that outgrew [`Budget::stream_cap`]: which of the two limits
    /// it hit.
    pub(crate) fn text_over_cap(&self) -> PdfError {
        if self.remaining_total < self.max_stream_bytes {
            PdfError::LimitExceeded("total decoded bytes")
        } else {
            PdfError::LimitExceeded("text bytes")
        }
    }

    /// The error for a stream that outgrew [`Budget::stream_cap`]: which of the two limits
    /// it hit.
    fn over_cap(&self) -> PdfError {
        if self.remaining_total < self.max_stream_bytes {
            PdfError::LimitExceeded("total decoded bytes")
        } else {
            PdfError::LimitExceeded("stream bytes")
        }
    }
}

/// Why a stream could not be decoded.
#[derive(Debug)]
pub(crate) enum DecodeError {
    /// A limit or the deadline was hit: extraction must stop.
    Fatal(PdfError),
    /// An image filter (DCT, JPX, JBIG2, CCITT) or an unknown one: not text.
    Unsupported,
}

impl From<PdfError> for DecodeError {
    fn from(error: PdfError) -> DecodeError {
        DecodeError::Fatal(error)
    }
}

/// The filter names of a stream, resolving references, in application order.
fn filter_names(dict: &Dictionary, doc: &Document) -> Vec<Vec<u8>> {
    let Ok(filter) = dict.get(b"Filter") else {
        return Vec::new();
    };
    let filter = resolve(doc, filter);
    match filter {
        Object::Name(name) => vec![name.clone()],
        Object::Array(items) => items
            .iter()
            .filter_map(|item| match resolve(doc, item) {
                Object::Name(name) => Some(name.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The `/DecodeParms` dictionary for the filter at `index`, if any.
fn decode_parms<'a>(
    dict: &'a Dictionary,
    doc: &'a Document,
    index: usize,
) -> Option<&'a Dictionary> {
    let parms = resolve(doc, dict.get(b"DecodeParms").ok()?);
    match parms {
        Object::Dictionary(d) if index == 0 => Some(d),
        Object::Array(items) => match resolve(doc, items.get(index)?) {
            Object::Dictionary(d) => Some(d),
            _ => None,
        },
        _ => None,
    }
}

/// Follows a reference (a bounded number of hops); anything unresolvable is `Null`.
pub(crate) fn resolve<'a>(doc: &'a Document, mut object: &'a Object) -> &'a Object {
    for _ in 0..32 {
        match object {
            Object::Reference(id) => match doc.get_object(*id) {
                Ok(target) => object = target,
                Err(_) => return &Object::Null,
            },
            _ => return object,
        }
    }
    &Object::Null
}

/// Decodes a stream's data through all its filters, within the budget.
pub(crate) fn decode_stream(
    stream: &Stream,
    doc: &Document,
    budget: &mut Budget,
) -> Result<Vec<u8>, DecodeError> {
    budget.check_time()?;
    let filters = filter_names(&stream.dict, doc);
    if filters.is_empty() {
        budget.charge(stream.content.len() as u64)?;
        return Ok(stream.content.clone());
    }
    let mut data: Option<Vec<u8>> = None;
    for (index, filter) in filters.iter().enumerate() {
        let input: &[u8] = data.as_deref().unwrap_or(&stream.content);
        let cap = budget.stream_cap();
        let decoded = match filter.as_slice() {
            b"FlateDecode" | b"Fl" => inflate_capped(input, cap),
            b"LZWDecode" | b"LZW" => {
                let early = decode_parms(&stream.dict, doc, index)
                    .and_then(|p| p.get(b"EarlyChange").ok())
                    .and_then(|o| o.as_i64().ok())
                    .unwrap_or(1);
                lzw_capped(input, cap, early != 0)
            }
            b"ASCIIHexDecode" | b"AHx" => Ok(ascii_hex(input)),
            b"ASCII85Decode" | b"A85" => ascii85(input, cap),
            b"RunLengthDecode" | b"RL" => run_length(input, cap),
            b"Crypt" => Ok(input.to_vec()),
            _ => return Err(DecodeError::Unsupported),
        };
        let decoded = decoded.map_err(|Overflow| budget.over_cap())?;
        let decoded = match decode_parms(&stream.dict, doc, index) {
            Some(parms)
                if matches!(
                    filter.as_slice(),
                    b"FlateDecode" | b"Fl" | b"LZWDecode" | b"LZW"
                ) =>
            {
                apply_predictor(decoded, parms)
            }
            _ => decoded,
        };
        budget.charge(decoded.len() as u64)?;
        data = Some(decoded);
    }
    Ok(data.unwrap_or_default())
}

/// A decoder produced more than its cap.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Overflow;

/// Inflates zlib (or, failing its header, raw deflate) data, refusing to produce more than
/// `cap` bytes. Corrupt data yields what was inflated before the damage, as viewers do.
///
/// This is the one place the raw flate2 decoders are used: the `take(cap + 1)` is the cap.
#[allow(clippy::disallowed_types)]
pub(crate) fn inflate_capped(data: &[u8], cap: u64) -> Result<Vec<u8>, Overflow> {
    let zlib_header = data.len() >= 2
        && data[0] & 0x0F == 8
        && (u16::from(data[0]) << 8 | u16::from(data[1])) % 31 == 0;
    let mut out = Vec::new();
    let limit = cap.saturating_add(1);
    let result = if zlib_header {
        flate2::read::ZlibDecoder::new(data)
            .take(limit)
            .read_to_end(&mut out)
    } else {
        flate2::read::DeflateDecoder::new(data)
            .take(limit)
            .read_to_end(&mut out)
    };
    // A read error leaves the bytes inflated before it in `out`: keep them.
    let _ = result;
    if out.len() as u64 > cap {
        return Err(Overflow);
    }
    Ok(out)
}

/// LZW as PDF uses it (MSB first, 8-bit codes, early change by default), capped.
fn lzw_capped(data: &[u8], cap: u64, early_change: bool) -> Result<Vec<u8>, Overflow> {
    let mut decoder = if early_change {
        weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
    } else {
        weezl::decode::Decoder::new(weezl::BitOrder::Msb, 8)
    };
    let mut out = Vec::new();
    let mut buffer = [0u8; 8192];
    let mut input = data;
    loop {
        let result = decoder.decode_bytes(input, &mut buffer);
        out.extend_from_slice(&buffer[..result.consumed_out]);
        if out.len() as u64 > cap {
            return Err(Overflow);
        }
        input = &input[result.consumed_in..];
        match result.status {
            Ok(weezl::LzwStatus::Ok) if result.consumed_in > 0 || result.consumed_out > 0 => {}
            _ => break,
        }
    }
    Ok(out)
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// ASCIIHexDecode: output is at most half the input, so no cap is needed.
fn ascii_hex(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 2);
    let mut high: Option<u8> = None;
    for &byte in data {
        if byte == b'>' {
            break;
        }
        let Some(value) = hex_value(byte) else {
            continue;
        };
        match high.take() {
            Some(h) => out.push(h << 4 | value),
            None => high = Some(value),
        }
    }
    if let Some(h) = high {
        out.push(h << 4);
    }
    out
}

/// ASCII85Decode (`z` expands one byte to four, hence the cap).
fn ascii85(data: &[u8], cap: u64) -> Result<Vec<u8>, Overflow> {
    let data = data.strip_prefix(b"<~").unwrap_or(data);
    let mut out = Vec::with_capacity(data.len());
    let mut group = [0u8; 5];
    let mut count = 0;
    for &byte in data {
        match byte {
            b'~' => break,
            b'z' if count == 0 => out.extend_from_slice(&[0; 4]),
            b'!'..=b'u' => {
                group[count] = byte - b'!';
                count += 1;
                if count == 5 {
                    let value = group.iter().fold(0u64, |acc, &d| acc * 85 + u64::from(d));
                    out.extend_from_slice(&(value as u32).to_be_bytes());
                    count = 0;
                }
            }
            _ => {}
        }
        if out.len() as u64 > cap {
            return Err(Overflow);
        }
    }
    if count > 1 {
        for slot in group.iter_mut().skip(count) {
            *slot = 84;
        }
        let value = group.iter().fold(0u64, |acc, &d| acc * 85 + u64::from(d));
        out.extend_from_slice(&(value as u32).to_be_bytes()[..count - 1]);
    }
    Ok(out)
}

/// RunLengthDecode (one run expands two bytes to 128, hence the cap).
fn run_length(data: &[u8], cap: u64) -> Result<Vec<u8>, Overflow> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        let length = data[i];
        i += 1;
        match length {
            128 => break,
            0..=127 => {
                let n = usize::from(length) + 1;
                let end = (i + n).min(data.len());
                out.extend_from_slice(&data[i..end]);
                i = end;
            }
            _ => {
                let Some(&byte) = data.get(i) else { break };
                i += 1;
                out.extend(std::iter::repeat_n(byte, 257 - usize::from(length)));
            }
        }
        if out.len() as u64 > cap {
            return Err(Overflow);
        }
    }
    Ok(out)
}

/// PNG and TIFF predictors (`/Predictor` in `/DecodeParms`). The output is never larger than
/// the input, so no cap is needed.
fn apply_predictor(data: Vec<u8>, parms: &Dictionary) -> Vec<u8> {
    let int = |key: &[u8], default: i64| {
        parms
            .get(key)
            .ok()
            .and_then(|o| o.as_i64().ok())
            .unwrap_or(default)
    };
    let predictor = int(b"Predictor", 1);
    if predictor < 10 {
        // TIFF predictor 2 only matters for images; 1 is none.
        return data;
    }
    let colors = int(b"Colors", 1).clamp(1, 32) as usize;
    let bits = int(b"BitsPerComponent", 8).clamp(1, 16) as usize;
    let columns = int(b"Columns", 1).clamp(1, 1 << 20) as usize;
    let bpp = (colors * bits).div_ceil(8).max(1);
    let row_len = (colors * bits * columns).div_ceil(8);
    let mut out = Vec::with_capacity(data.len());
    let mut previous = vec![0u8; row_len];
    for row in data.chunks(row_len + 1) {
        let Some((&kind, raw)) = row.split_first() else {
            break;
        };
        let mut current = raw.to_vec();
        current.resize(row_len, 0);
        for i in 0..row_len {
            let left = if i >= bpp { current[i - bpp] } else { 0 };
            let up = previous[i];
            let up_left = if i >= bpp { previous[i - bpp] } else { 0 };
            current[i] = match kind {
                1 => current[i].wrapping_add(left),
                2 => current[i].wrapping_add(up),
                3 => current[i].wrapping_add(((u16::from(left) + u16::from(up)) / 2) as u8),
                4 => current[i].wrapping_add(paeth(left, up, up_left)),
                _ => current[i],
            };
        }
        out.extend_from_slice(&current[..raw.len().min(row_len)]);
        previous = current;
    }
    out
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let pa = (p - i16::from(a)).abs();
    let pb = (p - i16::from(b)).abs();
    let pc = (p - i16::from(c)).abs();
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut encoder =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn inflate_reads_zlib_and_raw_deflate() {
        assert_eq!(
            inflate_capped(&zlib(b"BT (x) Tj ET"), 100).unwrap(),
            b"BT (x) Tj ET"
        );
        assert_eq!(
            inflate_capped(&deflate(b"BT (x) Tj ET"), 100).unwrap(),
            b"BT (x) Tj ET"
        );
    }

    #[test]
    fn inflate_stops_at_the_cap() {
        let bomb = zlib(&vec![0u8; 1 << 20]);
        assert!(bomb.len() < 2000);
        assert_eq!(inflate_capped(&bomb, 1000), Err(Overflow));
        assert_eq!(inflate_capped(&bomb, 1 << 20).unwrap().len(), 1 << 20);
    }

    #[test]
    fn inflate_keeps_what_precedes_damage() {
        let mut data = zlib(&b"hello world ".repeat(100));
        let cut = data.len() - 6;
        data.truncate(cut);
        let out = inflate_capped(&data, 10_000).unwrap();
        assert!(out.starts_with(b"hello world hello"));
    }

    #[test]
    fn ascii_filters_decode() {
        assert_eq!(ascii_hex(b"48 65 6c6C6f>ignored"), b"Hello");
        assert_eq!(ascii_hex(b"4"), b"\x40");
        assert_eq!(
            ascii85(b"<~87cURD]i,\"Ebo80~>", 100).unwrap(),
            b"Hello World!"
        );
        assert_eq!(ascii85(b"87cURD]i,\"Ebo7~>", 100).unwrap(), b"Hello World");
        assert_eq!(ascii85(b"z~>", 100).unwrap(), vec![0; 4]);
        assert_eq!(ascii85(&b"z".repeat(100), 40), Err(Overflow));
    }

    #[test]
    fn run_length_decodes_and_caps() {
        assert_eq!(
            run_length(&[2, b'a', b'b', b'c', 254, b'x', 128], 100).unwrap(),
            b"abcxxx"
        );
        assert_eq!(run_length(&[129, b'x'].repeat(10), 500), Err(Overflow));
    }

    #[test]
    fn lzw_round_trips_and_caps() {
        let data = b"BT /F1 12 Tf (lzw text) Tj ET ".repeat(20);
        let encoded = weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
            .encode(&data)
            .unwrap();
        assert_eq!(lzw_capped(&encoded, 10_000, true).unwrap(), data);
        assert_eq!(lzw_capped(&encoded, 100, true), Err(Overflow));
    }

    #[test]
    fn png_up_predictor_is_undone() {
        let mut parms = Dictionary::new();
        parms.set("Predictor", 12);
        parms.set("Columns", 3);
        let encoded = vec![2, 1, 2, 3, 2, 1, 1, 1];
        assert_eq!(apply_predictor(encoded, &parms), vec![1, 2, 3, 2, 3, 4]);
    }
}
