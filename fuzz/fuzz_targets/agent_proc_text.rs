//! Fuzzes the agent's parsers of kernel text: `/proc/self/mountinfo`, `/proc/PID/stat`,
//! `/proc/PID/fdinfo/N`, `/proc/PID/status` and command lines. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_agent::{mounts, procinfo};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (mounts, bad) = mounts::parse_mountinfo(&text);
    assert!(mounts.len() + bad <= text.lines().count());
    for m in &mounts {
        let _ = m.dev();
        let _ = m.read_only();
    }
    let _ = mounts::mount_of(&mounts, std::path::Path::new("/media/usb/x"));
    let _ = procinfo::parse_stat(&text);
    let _ = procinfo::parse_fdinfo(&text).map(|f| f.writable());
    let _ = procinfo::parse_status_uid(&text);
    let _ = procinfo::parse_cmdline(data);
});
