//! Mail: arbitrary bytes after a minimal header block, so detection routes them to the MIME
//! reader (multipart bodies, encodings, attachments, nested messages).
#![no_main]

#[path = "common/extract.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut mail = b"From: a@example.jp\r\nSubject: fuzz\r\n".to_vec();
    mail.extend_from_slice(data);
    common::extract_and_check(&mail);
});
