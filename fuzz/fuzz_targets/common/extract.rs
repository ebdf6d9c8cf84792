//! What the `extract_*` fuzz targets share: small limits, and a sink that checks the
//! begin/text/end protocol while it counts.

use std::time::Duration;

use mamori_extract::{Extractor, Limits, TextSink};
use mamori_model::{Location, Uninspectable};

/// Limits small enough that every input finishes fast.
pub fn small_limits() -> Limits {
    Limits {
        max_input_bytes: 1 << 20,
        max_depth: 4,
        max_expanded_bytes: 4 << 20,
        max_ratio: 100,
        max_entries: 100,
        time_budget: Duration::from_secs(2),
        max_text_bytes: 4 << 20,
    }
}

#[derive(Default)]
struct Check {
    open: bool,
    text: usize,
}

impl TextSink for Check {
    fn begin(&mut self, _location: &Location) {
        assert!(!self.open, "begin inside a part");
        self.open = true;
    }
    fn text(&mut self, chunk: &str) {
        assert!(self.open, "text outside a part");
        self.text += chunk.len();
    }
    fn end(&mut self) {
        assert!(self.open, "end outside a part");
        self.open = false;
    }
    fn uninspectable(&mut self, _u: Uninspectable) {}
}

/// Extracts `input` with [`small_limits`]: no panic, the sink protocol kept, every part
/// closed, and no more expanded than the limit.
pub fn extract_and_check(input: &[u8]) {
    let mut sink = Check::default();
    let summary = Extractor::new(small_limits()).extract_bytes(input, &mut sink);
    assert!(!sink.open, "a part was left open");
    assert!(summary.bytes_expanded <= small_limits().max_expanded_bytes);
}
