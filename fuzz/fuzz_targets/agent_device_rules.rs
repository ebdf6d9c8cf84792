//! Fuzzes the USBGuard-like device rule parser, then evaluates what parsed against a fixed
//! device: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_agent::device::{Target, UsbInfo, evaluate, parse_rules};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match parse_rules(&text) {
        Ok(rules) => {
            let stick = UsbInfo {
                vendor: 0x0951,
                product: 0x1666,
                serial: Some("AA1234".into()),
                name: Some("DataTraveler".into()),
                manufacturer: None,
                port: "1-1".into(),
                interfaces: vec![[8, 6, 0x50]],
            };
            let _ = evaluate(&rules, &stick, Target::Block);
        }
        Err(e) => assert!(!e.0.is_empty()),
    }
});
