//! Extractor::extract_bytes on a valid zip whose one member is the fuzzer's bytes (so the
//! member readers are reached), and on the bytes themselves: no panic, no hang, no unbounded
//! memory, and the sink protocol (begin/text/end) kept.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mamori_extract::{Extractor, Limits, TextSink};
use mamori_model::{Location, Uninspectable};

#[derive(Default)]
struct Check {
    open: bool,
    text: usize,
}

impl TextSink for Check {
    fn begin(&mut self, _location: &Location) {
        assert!(!self.open);
        self.open = true;
    }
    fn text(&mut self, chunk: &str) {
        assert!(self.open);
        self.text += chunk.len();
    }
    fn end(&mut self) {
        assert!(self.open);
        self.open = false;
    }
    fn uninspectable(&mut self, _u: Uninspectable) {}
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_input_bytes: 1 << 20,
        max_depth: 4,
        max_expanded_bytes: 4 << 20,
        max_ratio: 100,
        max_entries: 100,
        time_budget: Duration::from_secs(2),
        max_text_bytes: 4 << 20,
    };
    // A stored zip around the data: the archive parses, and the member is whatever the fuzzer
    // made (often itself a zip, an OOXML part, a gzip...). The raw bytes are tried too.
    let mut zip = Vec::new();
    let name = b"word/document.xml";
    let crc = crc32(data);
    let len = data.len() as u32;
    zip.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00");
    zip.extend_from_slice(&crc.to_le_bytes());
    zip.extend_from_slice(&len.to_le_bytes());
    zip.extend_from_slice(&len.to_le_bytes());
    zip.extend_from_slice(&(name.len() as u16).to_le_bytes());
    zip.extend_from_slice(&0u16.to_le_bytes());
    zip.extend_from_slice(name);
    zip.extend_from_slice(data);
    let cd = zip.len() as u32;
    zip.extend_from_slice(b"PK\x01\x02\x14\x00\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00");
    zip.extend_from_slice(&crc.to_le_bytes());
    zip.extend_from_slice(&len.to_le_bytes());
    zip.extend_from_slice(&len.to_le_bytes());
    zip.extend_from_slice(&(name.len() as u16).to_le_bytes());
    zip.extend_from_slice(&[0u8; 12]);
    zip.extend_from_slice(&0u32.to_le_bytes());
    zip.extend_from_slice(name);
    let cd_len = zip.len() as u32 - cd;
    zip.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00\x01\x00\x01\x00");
    zip.extend_from_slice(&cd_len.to_le_bytes());
    zip.extend_from_slice(&cd.to_le_bytes());
    zip.extend_from_slice(&0u16.to_le_bytes());
    for input in [&zip[..], data] {
        let mut sink = Check::default();
        let summary = Extractor::new(limits.clone()).extract_bytes(input, &mut sink);
        assert!(!sink.open);
        assert!(summary.bytes_expanded <= 4 << 20);
    }
});

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
