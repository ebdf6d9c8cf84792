//! Fuzzes the kernel uevent parser (netlink datagrams): a uevent or an error, never a panic,
//! and never more variables than the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_agent::device::{MAX_UEVENT_VARS, parse_uevent};

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = parse_uevent(data) {
        assert!(e.vars.len() <= MAX_UEVENT_VARS);
        assert!(e.devpath.starts_with('/'));
    }
});
