//! Extraction throughput: plain text (UTF-8 passed through, Shift_JIS decoded), from memory and
//! streamed from a reader, and DOCX/XLSX (inflate + streaming XML).
//!
//! Run: `cargo bench -p mamori-extract --bench extract`

use std::io::{Cursor, Write};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mamori_extract::{Extractor, Limits, TextSink};
use mamori_model::{Location, Uninspectable};

/// Counts what arrives, as a real consumer would at least look at it.
#[derive(Default)]
struct Count {
    bytes: usize,
}

impl TextSink for Count {
    fn begin(&mut self, _location: &Location) {}
    fn text(&mut self, chunk: &str) {
        self.bytes += chunk.len();
    }
    fn end(&mut self) {}
    fn uninspectable(&mut self, u: Uninspectable) {
        panic!("unexpected: {u}");
    }
}

const LINE: &str = "2026-11-23 10:15:02 INFO 社外秘の資料を送信しました user=yamada id=123456789018 path=/srv/share/計画.xlsx\n";

fn text_utf8(size: usize) -> Vec<u8> {
    LINE.repeat(size / LINE.len()).into_bytes()
}

fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in entries {
        writer.start_file(*name, options).unwrap();
        writer.write_all(content).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// A DOCX of `paragraphs` paragraphs of three runs each; returns the file and its XML size.
fn docx(paragraphs: usize) -> (Vec<u8>, usize) {
    let mut body = String::new();
    for i in 0..paragraphs {
        body.push_str(&format!(
            "<w:p><w:pPr><w:pStyle w:val=\"Normal\"/></w:pPr><w:r><w:rPr><w:b/></w:rPr><w:t>第{i}条 この資料は社外</w:t></w:r><w:r><w:t>秘です。</w:t></w:r><w:r><w:t xml:space=\"preserve\"> 担当者の個人番号は 123456789018 です。</w:t></w:r></w:p>"
        ));
    }
    let document = format!("<w:document xmlns:w=\"w\"><w:body>{body}</w:body></w:document>");
    let file = zip(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("word/document.xml", document.as_bytes()),
    ]);
    (file, document.len())
}

fn xlsx(rows: usize) -> (Vec<u8>, usize) {
    let mut sheet = String::from("<worksheet><sheetData>");
    for r in 0..rows {
        sheet.push_str(&format!(
            "<row r=\"{r}\"><c r=\"A{r}\" t=\"s\"><v>{}</v></c><c r=\"B{r}\"><v>{}</v></c><c r=\"C{r}\" t=\"inlineStr\"><is><t>社外秘</t></is></c></row>",
            r % 100,
            123_456_789_000u64 + r as u64
        ));
    }
    sheet.push_str("</sheetData></worksheet>");
    let shared: String = (0..100)
        .map(|i| format!("<si><t>氏名{i}</t></si>"))
        .collect();
    let shared = format!("<sst>{shared}</sst>");
    let file = zip(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("xl/workbook.xml", b"<workbook xmlns:r=\"r\"><sheets><sheet name=\"S\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>"),
        ("xl/_rels/workbook.xml.rels", b"<Relationships><Relationship Id=\"rId1\" Target=\"worksheets/sheet1.xml\"/></Relationships>"),
        ("xl/sharedStrings.xml", shared.as_bytes()),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
    ]);
    (file, sheet.len() + shared.len())
}

fn bench(c: &mut Criterion) {
    let extractor = Extractor::new(Limits::default());
    let mut group = c.benchmark_group("extract");
    group.sample_size(10);

    let utf8 = text_utf8(64 << 20);
    group.throughput(Throughput::Bytes(utf8.len() as u64));
    group.bench_function("text_utf8_64MiB_bytes", |b| {
        b.iter(|| {
            let mut sink = Count::default();
            extractor.extract_bytes(&utf8, &mut sink);
            sink.bytes
        })
    });
    group.bench_function("text_utf8_64MiB_reader", |b| {
        b.iter(|| {
            let mut sink = Count::default();
            let mut reader = Cursor::new(&utf8[..]);
            extractor
                .extract_reader(&mut reader, utf8.len() as u64, &mut sink)
                .unwrap();
            sink.bytes
        })
    });

    let sjis_text = LINE.repeat((16 << 20) / LINE.len());
    let sjis = encoding_rs::SHIFT_JIS.encode(&sjis_text).0.into_owned();
    group.throughput(Throughput::Bytes(sjis.len() as u64));
    group.bench_function("text_shift_jis_reader", |b| {
        b.iter(|| {
            let mut sink = Count::default();
            let mut reader = Cursor::new(&sjis[..]);
            extractor
                .extract_reader(&mut reader, sjis.len() as u64, &mut sink)
                .unwrap();
            sink.bytes
        })
    });

    let (docx, xml_len) = docx(60_000);
    group.throughput(Throughput::Bytes(xml_len as u64));
    group.bench_function("docx_xml_bytes", |b| {
        b.iter(|| {
            let mut sink = Count::default();
            extractor.extract_bytes(&docx, &mut sink);
            sink.bytes
        })
    });

    let (xlsx, xml_len) = xlsx(100_000);
    group.throughput(Throughput::Bytes(xml_len as u64));
    group.bench_function("xlsx_xml_bytes", |b| {
        b.iter(|| {
            let mut sink = Count::default();
            extractor.extract_bytes(&xlsx, &mut sink);
            sink.bytes
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
