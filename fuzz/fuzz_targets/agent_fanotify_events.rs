//! Fuzzes the fanotify record parser: any bytes give events or one error, never a panic, and
//! every event's information records lie inside the buffer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_agent::event::{Info, parse};

fuzz_target!(|data: &[u8]| {
    let mut errors = 0;
    for event in parse(data) {
        match event {
            Ok(e) => {
                assert_eq!(errors, 0, "no event after an error");
                for info in &e.info {
                    if let Info::Fid(f) = info {
                        assert!(f.handle.len() <= data.len());
                        if let Some(name) = f.name {
                            assert!(!name.contains(&0));
                        }
                    }
                }
            }
            Err(_) => errors += 1,
        }
    }
    assert!(errors <= 1);
});
