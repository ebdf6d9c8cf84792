//! Mail: arbitrary bytes after a minimal header block, so detection routes them to the MIME
//! reader (multipart bodies, encodings, attachments, nested messages).
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
    let mut mail = b"From: a@example.jp\r\nSubject: fuzz\r\n".to_vec();
    mail.extend_from_slice(data);
    let mut sink = Check::default();
    let summary = Extractor::new(limits).extract_bytes(&mail, &mut sink);
    assert!(!sink.open);
    assert!(summary.bytes_expanded <= 4 << 20);
});
