//! Decisions per CPU-second of one thread, as a table. The development machines are shared
//! (load averages of 20 on 2 cores are common), so wall-clock throughput says more about the
//! neighbours than about the code; the thread's CPU time does not.
//!
//! Run: `cargo bench -p mamori-policy --bench decide_cpu`

mod common;

use std::hint::black_box;

use common::{Query, generated_policy, queries};
use mamori_model::Channel;
use mamori_policy::{DecideInput, Policy};
use nix::time::{ClockId, clock_gettime};

fn cpu_seconds() -> f64 {
    let t = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).expect("thread CPU clock");
    t.tv_sec() as f64 + t.tv_nsec() as f64 * 1e-9
}

/// Runs `f` over the queries until at least 2 CPU-seconds have passed; returns calls per
/// CPU-second.
fn rate(queries: &[&Query], mut f: impl FnMut(&Query)) -> f64 {
    for q in queries.iter().take(1000) {
        f(q);
    }
    let start = cpu_seconds();
    let mut calls = 0u64;
    loop {
        for q in queries {
            f(q);
        }
        calls += queries.len() as u64;
        let elapsed = cpu_seconds() - start;
        if elapsed >= 2.0 {
            return calls as f64 / elapsed;
        }
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let policy = Policy::from_toml(&generated_policy(1_000), "generated.toml").unwrap();
    let default = Policy::default_policy();
    let all = queries(&policy, 4_096);
    let levels: Vec<_> = policy.levels().map(|(id, _)| id).collect();
    let default_levels: Vec<_> = default.levels().map(|(id, _)| id).collect();
    let input =
        |q: &Query, levels: &[mamori_policy::LevelId]| -> (mamori_policy::LevelId, Channel) {
            (levels[q.level % levels.len()], q.channel)
        };
    println!("| policy | channel | decide (full Decision) /s | verdict (action only) /s |");
    println!("|---|---|---:|---:|");
    let mut rows: Vec<(&str, &Policy, &[mamori_policy::LevelId], Option<Channel>)> = vec![
        ("1,000 rules", &policy, &levels, None),
        ("default", &default, &default_levels, None),
    ];
    for channel in Channel::ALL {
        rows.push(("1,000 rules", &policy, &levels, Some(channel)));
    }
    for (name, p, lv, channel) in rows {
        let subset: Vec<&Query> = all
            .iter()
            .filter(|q| channel.is_none_or(|c| q.channel == c))
            .collect();
        let decide = rate(&subset, |q| {
            let (level, channel) = input(q, lv);
            black_box(p.decide(&DecideInput {
                level,
                channel,
                principal: &q.principal,
                destination: &q.destination,
            }));
        });
        let verdict = rate(&subset, |q| {
            let (level, channel) = input(q, lv);
            black_box(p.verdict(&DecideInput {
                level,
                channel,
                principal: &q.principal,
                destination: &q.destination,
            }));
        });
        let channel = channel.map_or("all (mixed)".to_owned(), |c| c.to_string());
        println!(
            "| {name} | {channel} | {:.2} M | {:.2} M |",
            decide / 1e6,
            verdict / 1e6
        );
    }
}
