//! The generated 1,000-rule policy and queries shared by the decision benchmarks.
#![allow(dead_code)]

use mamori_model::Channel;
use mamori_policy::{Destination, Policy, Principal};

const LEVELS: [&str; 4] = ["top_secret", "secret", "internal", "public"];
const ACTIONS: [&str; 7] = [
    "allow",
    "audit",
    "notify",
    "justify",
    "encrypt",
    "quarantine",
    "block",
];

/// A small deterministic generator (xorshift), so every run measures the same policy.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A policy of `n` decision rules: a third unconditional, a third on users and groups, a third
/// on destinations (USB devices, mail domains, printers, upload domains, shares); one in ten an
/// exception and one in twenty final.
pub fn generated_policy(n: usize) -> String {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut text = String::from(
        "[policy]\nversion = 1\n[internal]\nmail_domains = [\"corp.example\"]\n\
         [[level]]\nid = \"top_secret\"\nja = \"極秘\"\nen = \"Top secret\"\n\
         [[level]]\nid = \"secret\"\nja = \"秘\"\nen = \"Secret\"\n\
         [[level]]\nid = \"internal\"\nja = \"社外秘\"\nen = \"Internal\"\n\
         [[level]]\nid = \"public\"\nja = \"公開\"\nen = \"Public\"\n",
    );
    for i in 0..n {
        text.push_str(&format!(
            "[[rule]]\nid = \"rule-{i:04}\"\naction = \"{}\"\nlevels = [\"{}\"]\n",
            ACTIONS[rng.below(ACTIONS.len())],
            LEVELS[rng.below(LEVELS.len())]
        ));
        match i % 20 {
            0 => text.push_str("final = true\n"),
            1 | 2 => text.push_str("exception = true\n"),
            _ => {}
        }
        match i % 3 {
            0 => {
                let channel = Channel::ALL[rng.below(7)];
                text.push_str(&format!("channels = [\"{channel}\"]\n"));
            }
            1 => {
                let channel = Channel::ALL[rng.below(7)];
                text.push_str(&format!(
                    "channels = [\"{channel}\"]\nusers = [\"user{}\"]\ngroups = [\"group{}\"]\n",
                    rng.below(50),
                    rng.below(20)
                ));
            }
            _ => match rng.below(5) {
                0 => text.push_str(&format!("usb = [\"0781:{:04x}\"]\n", rng.below(16))),
                1 => text.push_str(&format!(
                    "mail_domains = [\"partner{}.example\"]\n",
                    rng.below(30)
                )),
                2 => text.push_str(&format!("printers = [\"floor{}-*\"]\n", rng.below(10))),
                3 => text.push_str(&format!(
                    "url_domains = [\"site{}.example\"]\n",
                    rng.below(30)
                )),
                _ => text.push_str(&format!("shares = [\"/mnt/dept{}/**\"]\n", rng.below(10))),
            },
        }
    }
    text
}

pub struct Query {
    pub level: usize,
    pub channel: Channel,
    pub principal: Principal,
    pub destination: Destination,
}

pub fn queries(policy: &Policy, count: usize) -> Vec<Query> {
    let mut rng = Rng(42);
    (0..count)
        .map(|_| {
            let channel = Channel::ALL[rng.below(7)];
            let destination = match channel {
                Channel::RemovableMedia => {
                    Destination::parse(channel, &format!("0781:{:04x}:SN1", rng.below(20))).unwrap()
                }
                Channel::Mail => {
                    Destination::parse(channel, &format!("a@partner{}.example", rng.below(40)))
                        .unwrap()
                }
                Channel::Print => Destination::Printer(format!("floor{}-a", rng.below(12))),
                Channel::WebUpload => {
                    Destination::Url(format!("https://www.site{}.example/up", rng.below(40)))
                }
                Channel::NetworkShare => {
                    Destination::Share(format!("/mnt/dept{}/x/y.xlsx", rng.below(12)))
                }
                _ => Destination::Unknown,
            };
            Query {
                level: rng.below(policy.levels().len()),
                channel,
                principal: Principal::new(format!("user{}", rng.below(60)))
                    .with_groups([format!("group{}", rng.below(25)), "staff".to_owned()]),
                destination,
            }
        })
        .collect()
}
