//! Loading fingerprint index and EDM table files: outside bytes (an index may be copied from
//! another host, or damaged). Must give an error, never a panic, a hang or a huge allocation;
//! whatever loads must scan without panicking.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mamori_fingerprint::{EdmKey, EdmTable, FingerprintDetector, FingerprintIndex, MatchRule};
use mamori_inspect::DocumentDetector;

fuzz_target!(|data: &[u8]| {
    load(data);
    // Most mutations break the trailing CRC-32; also try the bytes with a valid checksum so
    // the fuzzer reaches the structural checks behind it.
    if data.len() >= 16 {
        let mut fixed = data.to_vec();
        let body = fixed.len() - 4;
        let crc = crc32fast::hash(&fixed[..body]).to_le_bytes();
        fixed[body..].copy_from_slice(&crc);
        load(&fixed);
    }
});

fn load(data: &[u8]) {
    let path = Path::new("fuzz.idx");
    if let Ok(mut index) = FingerprintIndex::from_bytes(data, path) {
        let _ = index.scan_text_with(
            "社外秘の設計書の本文です。The quick brown fox jumps.",
            MatchRule::with_min_shared(1),
        );
        let again = index.to_bytes();
        assert!(FingerprintIndex::from_bytes(&again, path).is_ok());
        // The streaming scan, gated by the index's anchors when it has them all.
        let mut scan = FingerprintDetector::new(index).start();
        scan.feed("社外秘の設計書の本文です。The Mamori module, もうひとつの文が続きます。");
        scan.feed(&"本文が続く。".repeat(40));
        let _ = scan.finish();
    }
    if let Ok(table) = EdmTable::from_bytes(data, path) {
        let key = EdmKey::from_bytes([0; 16]);
        let _ = table.scan_text(&key, "山田太郎 123456789018 03-1234-5678");
        assert!(EdmTable::from_bytes(&table.to_bytes(), path).is_ok());
    }
}
