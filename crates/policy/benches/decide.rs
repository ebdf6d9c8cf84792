//! Decisions per second with a generated policy of 1,000 decision rules (the agent calls
//! `decide` on hot paths; the target is over 1 M decisions/s on one core).
//!
//! Run: `cargo bench -p mamori-policy --bench decide`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mamori_model::Channel;
use mamori_policy::{ClassifyInput, DecideInput, Destination, Policy, Principal};

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
fn generated_policy(n: usize) -> String {
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

struct Query {
    level: usize,
    channel: Channel,
    principal: Principal,
    destination: Destination,
}

fn queries(policy: &Policy, count: usize) -> Vec<Query> {
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

fn bench_decide(c: &mut Criterion) {
    let policy = Policy::from_toml(&generated_policy(1_000), "generated.toml").unwrap();
    let levels: Vec<_> = policy.levels().map(|(id, _)| id).collect();
    let queries = queries(&policy, 4_096);
    let mut group = c.benchmark_group("decide");
    group.throughput(Throughput::Elements(queries.len() as u64));
    group.bench_function("1000_rules_4096_decisions", |b| {
        b.iter(|| {
            for q in &queries {
                black_box(policy.decide(&DecideInput {
                    level: levels[q.level],
                    channel: q.channel,
                    principal: &q.principal,
                    destination: &q.destination,
                }));
            }
        })
    });
    group.bench_function("1000_rules_4096_verdicts", |b| {
        b.iter(|| {
            for q in &queries {
                black_box(policy.verdict(&DecideInput {
                    level: levels[q.level],
                    channel: q.channel,
                    principal: &q.principal,
                    destination: &q.destination,
                }));
            }
        })
    });
    for channel in Channel::ALL {
        let subset: Vec<&Query> = queries.iter().filter(|q| q.channel == channel).collect();
        group.throughput(Throughput::Elements(subset.len() as u64));
        group.bench_function(format!("1000_rules_{channel}"), |b| {
            b.iter(|| {
                for q in &subset {
                    black_box(policy.decide(&DecideInput {
                        level: levels[q.level],
                        channel: q.channel,
                        principal: &q.principal,
                        destination: &q.destination,
                    }));
                }
            })
        });
    }
    group.throughput(Throughput::Elements(queries.len() as u64));
    let default = Policy::default_policy();
    let default_levels: Vec<_> = default.levels().map(|(id, _)| id).collect();
    group.bench_function("default_policy_4096_decisions", |b| {
        b.iter(|| {
            for q in &queries {
                black_box(default.decide(&DecideInput {
                    level: default_levels[q.level % default_levels.len()],
                    channel: q.channel,
                    principal: &q.principal,
                    destination: &q.destination,
                }));
            }
        })
    });
    group.finish();

    let text = generated_policy(1_000);
    let mut load = c.benchmark_group("load");
    load.throughput(Throughput::Bytes(text.len() as u64));
    load.bench_function("1000_rules", |b| {
        b.iter(|| Policy::from_toml(black_box(&text), "g").unwrap())
    });
    load.finish();

    let mut classify = c.benchmark_group("classify");
    classify.throughput(Throughput::Elements(1));
    let findings = [mamori_model::Finding::new(
        "jp.my_number",
        mamori_model::Category::PersonalId,
        mamori_model::Confidence::High,
    )];
    classify.bench_function("default_policy_one_finding_with_path", |b| {
        b.iter(|| {
            black_box(default.classify(&ClassifyInput {
                path: Some(std::path::Path::new("/srv/rd/project/spec.docx")),
                findings: &findings,
                ..Default::default()
            }))
        })
    });
    classify.finish();
}

criterion_group!(benches, bench_decide);
criterion_main!(benches);
