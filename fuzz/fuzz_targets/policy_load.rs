//! Fuzzes the policy loader: any text must give a policy or errors, never a panic or a hang;
//! a policy that loads must answer every channel and level.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_model::Channel;
use mamori_policy::{ClassifyInput, DecideInput, Destination, Policy, Principal};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Policy::from_toml(text, "fuzz.toml") {
        Ok(policy) => {
            let class = policy.classify(&ClassifyInput {
                path: Some(std::path::Path::new("/srv/rd/a.txt")),
                explicit_label: Some("secret"),
                ..Default::default()
            });
            let principal = Principal::new("alice").with_groups(["rd"]);
            for channel in Channel::ALL {
                for (level, _) in policy.levels() {
                    let _ = policy.decide(&DecideInput {
                        level: level.max(class.level),
                        channel,
                        principal: &principal,
                        destination: &Destination::Unknown,
                    });
                }
            }
        }
        Err(errors) => {
            assert!(!errors.is_empty());
            for e in errors.errors() {
                assert!(e.line >= 1 && e.column >= 1);
            }
        }
    }
});
