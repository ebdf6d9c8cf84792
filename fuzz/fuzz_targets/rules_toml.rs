//! Arbitrary bytes through the rules-file loader: never a panic; every error names a line and
//! a field; accepted rules build an inspector.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_inspect::{InspectorBuilder, Rules};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Rules::from_toml(text, "fuzz.toml") {
        Ok(rules) => {
            let inspector = InspectorBuilder::new().rules(Rules::builtin().merge(rules)).build();
            if let Ok(inspector) = inspector {
                let _ = inspector.inspect_text("社外秘 123456789018 sample text");
            }
        }
        Err(err) => {
            for issue in err.issues() {
                assert!(issue.line >= 1 && issue.column >= 1 && !issue.field.is_empty(), "{issue}");
            }
        }
    }
});
