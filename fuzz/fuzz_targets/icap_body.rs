//! Fuzzes the HTTP body decoders behind the ICAP server: multipart, urlencoded, JSON and
//! gzip/deflate/br, chosen by the first byte. Never a panic; decompression stays within the
//! limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_icap::Body;
use mamori_icap::Headers;
use mamori_icap::content::{ContentLimits, decode_body};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let content_type = match selector % 5 {
        0 => "multipart/form-data; boundary=b",
        1 => "application/x-www-form-urlencoded",
        2 => "application/json",
        3 => "text/plain",
        _ => "multipart/form-data; boundary=\"----x\"",
    };
    let encoding = match (selector / 5) % 5 {
        0 => None,
        1 => Some("gzip"),
        2 => Some("deflate"),
        3 => Some("br"),
        _ => Some("gzip, br"),
    };
    let mut headers = vec![("Content-Type".to_owned(), content_type.to_owned())];
    if let Some(e) = encoding {
        headers.push(("Content-Encoding".to_owned(), e.to_owned()));
    }
    let limits = ContentLimits {
        max_decoded: 4 << 20,
        max_structured: 1 << 20,
        spool_threshold: 64 << 10,
        ..ContentLimits::default()
    };
    if let Ok(decoded) = decode_body(&Headers(headers), Body::Memory(body), &limits) {
        let total: u64 = decoded.parts.iter().map(|p| p.data.len()).sum();
        // Inflating is capped at 4 MiB, JSON text at 4 x 1 MiB (plus one last line), and form
        // text adds a few bytes per field.
        let bound = (4u64 << 20) + (4 << 20) + 1024 + 4 * (4 << 20);
        assert!(total <= bound, "{total}");
    }
});
