//! The milter's journal summary (subject, attachment names, sizes, types) of arbitrary mail.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let summary = mamori_milter::summarize(data);
    assert!(summary.attachments.len() <= mamori_milter::MAX_ATTACHMENTS);
});
