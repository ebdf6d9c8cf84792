//! Fuzzes the kernel uevent parser: any datagram parses or is refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_device::uevent::Uevent;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = Uevent::parse(data) {
        let _ = event.usb_port();
        let _ = event.block_device();
        let _ = event.usb_parent_port();
    }
});
