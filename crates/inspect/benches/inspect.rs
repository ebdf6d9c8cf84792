//! Single-core throughput of the inspection engine on generated text.
//!
//! `cargo bench -p mamori-inspect --bench inspect`
//!
//! * `mixed_ja_en`: Japanese prose with English sentences, a few labels and identifiers;
//! * `digits_heavy`: a CSV-like table where every line holds phone, card and My Number shaped
//!   numbers;
//! * `ascii_log`: plain ASCII log lines (the fast path).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mamori_inspect::InspectorBuilder;

const SIZE: usize = 4 << 20;

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

fn mixed(size: usize) -> String {
    let ja = [
        "本書は当社の製品開発に関する資料であり、関係部署での検討に用いる。",
        "次期システムの要件定義は第三四半期までに完了する予定です。",
        "会議の議事録を共有します。ご確認のほどよろしくお願いいたします。",
        "秘書課より連絡がありました。神秘的な話ではありません。",
        "お客様の住所と氏名は個人情報として適切に取り扱うこと。",
        "東京都千代田区霞が関一丁目、𠮷田様宛てに送付済み。",
    ];
    let en = [
        "The quarterly report summarises revenue, costs and the outlook for next year.",
        "Please review the attached design document before the meeting on Friday.",
        "Build 4521 passed all integration tests on the staging cluster.",
        "Contact the service desk if the VPN client fails to connect.",
    ];
    let rare = [
        "社外秘",
        "【極秘】",
        "Confidential",
        "マイナンバー：1234-5678-9018",
        "TEL 03-1234-5678",
    ];
    let mut rng = Rng(0x9E3779B97F4A7C15);
    let mut out = String::with_capacity(size + 256);
    while out.len() < size {
        let r = rng.next() % 100;
        let s = if r < 55 {
            rng.pick(&ja)
        } else if r < 98 {
            rng.pick(&en)
        } else {
            rng.pick(&rare)
        };
        out.push_str(s);
        out.push(if rng.next().is_multiple_of(3) {
            '\n'
        } else {
            ' '
        });
    }
    out
}

fn digits(size: usize) -> String {
    let mut rng = Rng(12345);
    let mut out = String::with_capacity(size + 256);
    let mut n = 0u64;
    while out.len() < size {
        n += 1;
        let a = rng.next() % 100_000_000_000;
        let b = rng.next() % 10_000_000_000_000_000;
        out.push_str(&format!(
            "{n},山田 太郎,090-{:04}-{:04},{:016},{:012},2024-04-{:02}\n",
            a % 10000,
            (a / 10000) % 10000,
            b,
            a,
            n % 28 + 1
        ));
    }
    out
}

fn ascii(size: usize) -> String {
    let mut rng = Rng(777);
    let mut out = String::with_capacity(size + 256);
    while out.len() < size {
        out.push_str(&format!(
            "2026-11-23T11:{:02}:{:02}Z INFO request id={} path=/api/v1/items status=200 bytes={}\n",
            rng.next() % 60,
            rng.next() % 60,
            rng.next() % 1_000_000,
            rng.next() % 100_000
        ));
    }
    out
}

fn bench(c: &mut Criterion) {
    let inspector = InspectorBuilder::new()
        .build()
        .expect("built-in rules compile");
    let mut group = c.benchmark_group("inspect_text");
    group.sample_size(10);
    for (name, text) in [
        ("mixed_ja_en", mixed(SIZE)),
        ("digits_heavy", digits(SIZE)),
        ("ascii_log", ascii(SIZE)),
    ] {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &text, |b, text| {
            b.iter(|| inspector.inspect_text(text))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("normalize");
    group.sample_size(10);
    let text = mixed(SIZE);
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("mixed_ja_en", |b| {
        b.iter(|| mamori_inspect::normalize(&text).as_str().len())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
