//! Fuzzes the device rule parser: any text gives rules or errors naming a line, never a panic;
//! rules that parse decide any device.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_device::device::{Interface, UsbDevice};
use mamori_device::rules::{RuleSet, Target};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match RuleSet::parse(text, "fuzz.rules", Target::Block) {
        Ok(rules) => {
            let device = UsbDevice {
                port: "1-1".into(),
                vendor: 0x0781,
                product: 0x5567,
                serial: Some("S".into()),
                name: Some("N".into()),
                interfaces: vec![Interface { class: 8, subclass: 6, protocol: 0x50 }],
                ..UsbDevice::default()
            };
            let _ = rules.decide(&device);
            let _ = RuleSet::allow_present(&[device]);
        }
        Err(errors) => assert!(errors.errors.iter().all(|e| e.starts_with("fuzz.rules:"))),
    }
});
