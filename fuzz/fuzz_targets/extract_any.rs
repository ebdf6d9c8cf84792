//! Extractor::extract_bytes on arbitrary bytes, with small limits: no panic, no hang, no
//! unbounded memory, and the sink protocol (begin/text/end) kept.
#![no_main]

#[path = "common/extract.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| common::extract_and_check(data));
