//! Arbitrary bytes through what the print backend reads from CUPS: the job options string
//! (`argv[5]`, chosen by the print client), the device URI, and the cupsd.conf transform.
//! Never a panic; a parsed option string holds at most the option limit; hardening is
//! reversible and idempotent on any file it accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_print::cupsd_conf;
use mamori_print::options::{MAX_OPTIONS, Options};
use mamori_print::{Invocation, WrappedUri};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(options) = Options::parse(&text) {
        assert!(options.len() <= MAX_OPTIONS);
        for (name, _) in options.iter() {
            assert!(options.get(name).is_some());
        }
    }
    if let Ok(uri) = WrappedUri::parse(&text) {
        assert!(!uri.scheme.contains('/') && uri.scheme != "mamori");
        assert_eq!(WrappedUri::wrap(&uri.inner), text);
    }
    let _ = Invocation::parse(&["1".into(), "u".into(), "t".into(), "1".into(), text.as_ref().into()]);
    if let Ok(hardened) = cupsd_conf::harden(&text, "default") {
        assert_eq!(cupsd_conf::unharden(&hardened), cupsd_conf::unharden(&text));
        assert_eq!(cupsd_conf::harden(&hardened, "default").as_ref(), Ok(&hardened));
    }
});
