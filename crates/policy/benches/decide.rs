//! Decisions per second with a generated policy of 1,000 decision rules (the agent calls
//! `decide` on hot paths; the target is over 1 M decisions/s on one core).
//!
//! Run: `cargo bench -p mamori-policy --bench decide`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mamori_model::Channel;
use mamori_policy::{ClassifyInput, DecideInput, Policy};

mod common;

use common::{Query, generated_policy, queries};

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
