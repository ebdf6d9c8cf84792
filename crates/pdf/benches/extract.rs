//! Throughput of `mamori_pdf::extract` on a generated 50-page PDF (Flate content streams,
//! Latin text in TJ arrays and Japanese text through a ToUnicode map).
//!
//! `cargo bench -p mamori-pdf --bench extract`

#[path = "../tests/support/mod.rs"]
mod support;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mamori_pdf::{PdfLimits, extract};
use support::*;

/// A 50-page report: 45 lines a page, alternating Latin TJ lines and Japanese Identity-H lines.
pub fn report(pages: usize) -> Vec<u8> {
    let japanese = "社外秘の設計資料につき取扱注意個人番号は一二三四五六七八九〇";
    let map: Vec<(u16, String)> = japanese
        .chars()
        .enumerate()
        .map(|(i, c)| (0x100 + i as u16, c.to_string()))
        .collect();
    let pairs: Vec<(u16, &str)> = map.iter().map(|(c, t)| (*c, t.as_str())).collect();
    let codes: String = (0..japanese.chars().count())
        .map(|i| format!("{:04X}", 0x100 + i))
        .collect();
    let mut doc = Doc::new();
    doc.font("F1", HELVETICA);
    doc.cjk_font("F2", "Identity-H", Some(&to_unicode(&pairs)));
    for page in 1..=pages {
        let mut content = String::from("BT 14 TL 72 760 Td\n");
        for line in 0..45 {
            if line % 2 == 0 {
                content.push_str(&format!(
                    "/F1 10 Tf [(Page {page} line {line}: the quarterly ) -250 (figures of the ) 20 (Conf) -15 (idential project are attached.)] TJ T*\n"
                ));
            } else {
                content.push_str(&format!("/F2 10 Tf <{codes}> Tj T*\n"));
            }
        }
        content.push_str("ET\n");
        doc.page_flate(content.as_bytes());
    }
    doc.build()
}

fn bench(c: &mut Criterion) {
    let pdf = report(50);
    let text = extract(&pdf, &PdfLimits::default()).unwrap();
    let chars: usize = text.pages.iter().map(|p| p.chars().count()).sum();
    eprintln!(
        "50-page PDF: {} bytes, {} pages, {chars} characters of text",
        pdf.len(),
        text.pages.len()
    );
    let mut group = c.benchmark_group("pdf");
    group.throughput(Throughput::Bytes(pdf.len() as u64));
    group.bench_function("extract_50_pages", |b| {
        b.iter(|| extract(&pdf, &PdfLimits::default()).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
