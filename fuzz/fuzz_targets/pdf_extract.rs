//! Fuzzes `mamori_pdf::extract`: any bytes must give text or an error, never a panic
//! (`Panicked` means the isolation caught one: still a bug to fix), a hang or a huge allocation.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use mamori_pdf::{PdfError, PdfLimits, extract};

fuzz_target!(|data: &[u8]| {
    let limits = PdfLimits {
        max_objects: 10_000,
        max_stream_bytes: 4 << 20,
        max_total_decoded: 16 << 20,
        max_pages: 200,
        deadline: Some(Instant::now() + Duration::from_secs(2)),
    };
    if let Err(PdfError::Panicked(message)) = extract(data, &limits) {
        panic!("the PDF parser panicked: {message}");
    }
});
