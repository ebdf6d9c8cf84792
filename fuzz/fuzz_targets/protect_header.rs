//! Fuzzes the protected-file header parser: any bytes, never a panic, bounded memory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The slice parser and the streaming reader must agree.
    let from_slice = mamori_protect::parse_prefix(data);
    let from_reader = mamori_protect::read_header(&mut &data[..]);
    assert_eq!(from_slice.is_ok(), from_reader.is_ok());
    if let Ok(signed) = from_slice {
        // A header that verified is valid by construction.
        assert!(signed.header.validate().is_ok());
        assert!(signed.container_len <= data.len());
    }
});
