//! Extractor::extract_bytes on a valid zip whose one member is the fuzzer's bytes (so the
//! member readers are reached), and on the bytes themselves: no panic, no hang, no unbounded
//! memory, and the sink protocol (begin/text/end) kept.
#![no_main]

#[path = "common/extract.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A stored zip around the data: the archive parses, and the member is whatever the fuzzer
    // made (often itself a zip, an OOXML part, a gzip...). The raw bytes are tried too.
    let mut zip = Vec::new();
    let name = b"word/document.xml";
    let crc = crc32fast::hash(data);
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
    common::extract_and_check(&zip);
    common::extract_and_check(data);
});
