//! Builders for the test inputs (documents, archives, mail) and a sink that records everything.
#![allow(dead_code)]

use std::io::{Cursor, Write};

use mamori_extract::{Extractor, Limits, Summary, TextSink};
use mamori_model::{Location, Uninspectable, UninspectableReason};
use zip::write::SimpleFileOptions;

/// Records every part and every problem.
#[derive(Debug, Default)]
pub struct Collect {
    pub parts: Vec<(Location, String)>,
    pub problems: Vec<Uninspectable>,
    open: bool,
}

impl TextSink for Collect {
    fn begin(&mut self, location: &Location) {
        assert!(!self.open, "begin inside a part");
        self.open = true;
        self.parts.push((location.clone(), String::new()));
    }
    fn text(&mut self, chunk: &str) {
        assert!(self.open, "text outside a part");
        self.parts.last_mut().unwrap().1.push_str(chunk);
    }
    fn end(&mut self) {
        assert!(self.open, "end outside a part");
        self.open = false;
    }
    fn uninspectable(&mut self, u: Uninspectable) {
        self.problems.push(u);
    }
}

impl Collect {
    /// All text, parts separated by newlines.
    pub fn all(&self) -> String {
        self.parts
            .iter()
            .map(|(_, t)| t.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
    /// Text of the parts whose location displays as `location`.
    pub fn at(&self, location: &str) -> String {
        self.parts
            .iter()
            .filter(|(l, _)| l.to_string() == location)
            .map(|(_, t)| t.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
    pub fn locations(&self) -> Vec<String> {
        self.parts.iter().map(|(l, _)| l.to_string()).collect()
    }
    /// Kinds of the problems, with their locations.
    pub fn problem_kinds(&self) -> Vec<(String, &'static str)> {
        self.problems
            .iter()
            .map(|u| (u.location.to_string(), u.reason.kind()))
            .collect()
    }
    pub fn has_problem(&self, kind: &str) -> bool {
        self.problems.iter().any(|u| u.reason.kind() == kind)
    }
}

pub fn extract(bytes: &[u8]) -> (Summary, Collect) {
    extract_with(bytes, Limits::default())
}

pub fn extract_with(bytes: &[u8], limits: Limits) -> (Summary, Collect) {
    let mut sink = Collect::default();
    let summary = Extractor::new(limits).extract_bytes(bytes, &mut sink);
    (summary, sink)
}

pub fn reason(u: &Uninspectable) -> &UninspectableReason {
    &u.reason
}

/// A deflated zip of `(name, content)` entries.
pub fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in entries {
        writer.start_file(*name, options).unwrap();
        writer.write_all(content).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

pub fn gzip(content: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(content).unwrap();
    enc.finish().unwrap()
}

pub fn tar(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, content) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, *content).unwrap();
    }
    builder.into_inner().unwrap()
}

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/></Types>"#;

/// A paragraph of runs.
pub fn w_p(runs: &[&str]) -> String {
    let runs: String = runs
        .iter()
        .map(|r| format!("<w:r><w:t xml:space=\"preserve\">{r}</w:t></w:r>"))
        .collect();
    format!("<w:p>{runs}</w:p>")
}

pub fn w_document(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:v="urn:schemas-microsoft-com:vml" xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape"><w:body>{body}</w:body></w:document>"#
    )
}

/// A DOCX with the given document body and extra parts.
pub fn docx(body: &str, extra: &[(&str, &[u8])]) -> Vec<u8> {
    let document = w_document(body);
    let mut entries: Vec<(&str, &[u8])> = vec![
        ("[Content_Types].xml", CONTENT_TYPES.as_bytes()),
        ("word/document.xml", document.as_bytes()),
    ];
    entries.extend_from_slice(extra);
    zip(&entries)
}

/// An XLSX with the given sheets `(name, state, sheet xml)`, shared strings and extra parts.
pub fn xlsx(sheets: &[(&str, &str, &str)], shared: &[&str], extra: &[(&str, &[u8])]) -> Vec<u8> {
    let mut workbook = String::from(
        r#"<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>"#,
    );
    let mut rels = String::from(
        r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">"#,
    );
    let mut parts: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, (name, state, xml)) in sheets.iter().enumerate() {
        let n = i + 1;
        workbook.push_str(&format!(
            r#"<sheet name="{name}" sheetId="{n}" state="{state}" r:id="rId{n}"/>"#
        ));
        rels.push_str(&format!(
            r#"<Relationship Id="rId{n}" Type="worksheet" Target="worksheets/sheet{n}.xml"/>"#
        ));
        parts.push((
            format!("xl/worksheets/sheet{n}.xml"),
            format!("<worksheet><sheetData>{xml}</sheetData></worksheet>").into_bytes(),
        ));
    }
    workbook.push_str("</sheets></workbook>");
    rels.push_str("</Relationships>");
    let sst: String = shared
        .iter()
        .map(|s| format!("<si><t>{s}</t></si>"))
        .collect();
    let sst = format!("<sst>{sst}</sst>");
    let mut entries: Vec<(&str, &[u8])> = vec![
        ("[Content_Types].xml", CONTENT_TYPES.as_bytes()),
        ("xl/workbook.xml", workbook.as_bytes()),
        ("xl/_rels/workbook.xml.rels", rels.as_bytes()),
        ("xl/sharedStrings.xml", sst.as_bytes()),
    ];
    for (name, content) in &parts {
        entries.push((name.as_str(), content.as_slice()));
    }
    entries.extend_from_slice(extra);
    zip(&entries)
}

/// A PPTX whose slides (xml bodies) are listed in the given order of file numbers.
pub fn pptx(slides: &[(u32, &str)], order: &[u32], extra: &[(&str, &[u8])]) -> Vec<u8> {
    let ids: String = order
        .iter()
        .map(|n| format!(r#"<p:sldId id="{}" r:id="rId{n}"/>"#, 255 + n))
        .collect();
    let presentation = format!(
        r#"<p:presentation xmlns:p="p" xmlns:r="r"><p:sldIdLst>{ids}</p:sldIdLst></p:presentation>"#
    );
    let rels: String = slides
        .iter()
        .map(|(n, _)| {
            format!(r#"<Relationship Id="rId{n}" Type="slide" Target="slides/slide{n}.xml"/>"#)
        })
        .collect();
    let rels = format!("<Relationships>{rels}</Relationships>");
    let parts: Vec<(String, String)> = slides
        .iter()
        .map(|(n, body)| (format!("ppt/slides/slide{n}.xml"), format!(r#"<p:sld xmlns:p="p" xmlns:a="a"><p:cSld><p:spTree>{body}</p:spTree></p:cSld></p:sld>"#)))
        .collect();
    let mut entries: Vec<(&str, &[u8])> = vec![
        ("[Content_Types].xml", CONTENT_TYPES.as_bytes()),
        ("ppt/presentation.xml", presentation.as_bytes()),
        ("ppt/_rels/presentation.xml.rels", rels.as_bytes()),
    ];
    for (name, content) in &parts {
        entries.push((name.as_str(), content.as_bytes()));
    }
    entries.extend_from_slice(extra);
    zip(&entries)
}

/// A drawing text body with one paragraph of runs.
pub fn a_p(runs: &[&str]) -> String {
    let runs: String = runs
        .iter()
        .map(|r| format!("<a:r><a:t>{r}</a:t></a:r>"))
        .collect();
    format!("<p:sp><p:txBody><a:p>{runs}</a:p></p:txBody></p:sp>")
}

/// An ODF package of the given type with content.xml, styles.xml and meta.xml.
pub fn odf(mime: &str, content: &str, styles: &str, meta: &str) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let deflated =
        SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    writer.start_file("mimetype", stored).unwrap();
    writer.write_all(mime.as_bytes()).unwrap();
    for (name, xml) in [
        ("content.xml", content),
        ("styles.xml", styles),
        ("meta.xml", meta),
    ] {
        writer.start_file(name, deflated).unwrap();
        writer.write_all(xml.as_bytes()).unwrap();
    }
    writer
        .start_file("META-INF/manifest.xml", deflated)
        .unwrap();
    writer.write_all(b"<manifest/>").unwrap();
    writer.finish().unwrap().into_inner()
}

/// Marks every entry of a zip as encrypted (general purpose flag bit 0), without encrypting.
pub fn mark_encrypted(mut zip: Vec<u8>) -> Vec<u8> {
    let mut i = 0;
    while i + 4 <= zip.len() {
        if &zip[i..i + 4] == b"PK\x03\x04" {
            zip[i + 6] |= 1;
        } else if &zip[i..i + 4] == b"PK\x01\x02" {
            zip[i + 8] |= 1;
        }
        i += 1;
    }
    zip
}

/// An OLE compound file with the given streams.
pub fn cfb(streams: &[(&str, &[u8])]) -> Vec<u8> {
    let mut file = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
    for (name, content) in streams {
        let mut stream = file.create_stream(name).unwrap();
        stream.write_all(content).unwrap();
    }
    file.flush().unwrap();
    file.into_inner().into_inner()
}

/// Standard base64 with line breaks every 76 characters.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for (i, chunk) in data.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
