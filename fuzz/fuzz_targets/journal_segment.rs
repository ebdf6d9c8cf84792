//! Reading a journal segment file: header, frames, and the JSON payloads inside them. Segment
//! files are outside bytes as far as `log verify` and the store's ingest are concerned (anyone
//! with write access to the data directory can put anything there).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_journal::frame::{self, FrameType, HEADER_LEN, SegmentHeader};

fuzz_target!(|data: &[u8]| {
    let _ = SegmentHeader::decode(data);
    let mut pos = if data.len() >= HEADER_LEN {
        HEADER_LEN
    } else {
        0
    };
    while pos < data.len() {
        match frame::decode_frame(&data[pos..]) {
            Ok(f) => {
                assert!(f.len > 0);
                match f.frame_type {
                    FrameType::Event => {
                        let _ = serde_json::from_slice::<mamori_journal::Event>(f.payload);
                    }
                    FrameType::Checkpoint => {
                        let _ = serde_json::from_slice::<mamori_journal::Checkpoint>(f.payload);
                    }
                    _ => {}
                }
                pos += f.len;
            }
            Err(_) => break,
        }
    }
    // The whole-journal verifier on the same bytes as a segment file.
    let dir = std::env::temp_dir().join(format!("mamori-fuzz-journal-{}", std::process::id()));
    let journal = dir.join("journal");
    if std::fs::create_dir_all(&journal).is_ok()
        && std::fs::write(journal.join("seg-0000000000000001.mj"), data).is_ok()
        && mamori_journal::HostKey::load_or_create(&dir).is_ok()
    {
        let _ = mamori_journal::verify(&dir);
    }
});
