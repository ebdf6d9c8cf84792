//! How scan results are written: a readable report, JSON lines, CSV or SARIF.
//!
//! Every format receives the same [`FileResult`]s, one per inspected input, in the order the
//! workers finish them, and a [`Totals`] at the end. Samples are masked by the engine: nothing
//! here ever sees a raw secret unless the user asked for raw samples.

use std::io::{self, Write};

use std::collections::HashMap;

use mamori_model::{Bilingual, Finding, Uninspectable};
use serde::Serialize;

use crate::i18n::Lang;

/// The output formats of `mamori scan` and `mamori inspect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A readable report (Japanese or English).
    Text,
    /// One JSON object per line.
    Json,
    /// One CSV row per finding.
    Csv,
    /// A SARIF 2.1.0 log, for code-scanning dashboards.
    Sarif,
}

/// What inspecting one input gave.
#[derive(Debug, Clone, Serialize)]
pub struct FileResult {
    /// The file on disk, or `-` for standard input.
    pub path: String,
    /// The content type detected from the bytes.
    pub content_type: String,
    /// Bytes read.
    pub bytes: u64,
    /// What was found.
    pub findings: Vec<Finding>,
    /// Parts that could not be inspected.
    pub uninspectable: Vec<Uninspectable>,
    /// The level the policy gives the input, when a policy was applied.
    pub level: Option<LevelInfo>,
}

/// A classification level, with its names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LevelInfo {
    /// Stable id (`top_secret`).
    pub id: String,
    /// Japanese name (`極秘`).
    pub ja: String,
    /// English name.
    pub en: String,
}

impl FileResult {
    /// True when there is something to report: a finding or an uninspectable part.
    pub fn is_notable(&self) -> bool {
        !self.findings.is_empty() || !self.uninspectable.is_empty()
    }

    /// The uninspectable parts as one line, or `None`.
    pub fn uninspectable_summary(&self) -> Option<String> {
        if self.uninspectable.is_empty() {
            return None;
        }
        Some(
            self.uninspectable
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

/// Counts over a whole run.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    /// Inputs inspected.
    pub files: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Inputs with at least one finding.
    pub files_with_findings: u64,
    /// Inputs with at least one uninspectable part.
    pub files_uninspectable: u64,
    /// Findings, counting each folded finding's `count`.
    pub findings: u64,
    /// Paths that could not be read at all.
    pub errors: u64,
    /// Wall time.
    pub elapsed: std::time::Duration,
}

/// Writes results in one format.
pub trait ResultWriter {
    /// One input's result. `all` asks for clean inputs too.
    fn result(&mut self, result: &FileResult) -> io::Result<()>;
    /// The run is over.
    fn finish(&mut self, totals: &Totals) -> io::Result<()>;
}

/// What each detector finds, for a person (from [`mamori_inspect::Inspector::detectors`]),
/// by detector id. The readable report and SARIF's rule descriptions use it; JSON and CSV keep
/// the ids alone.
pub type DetectorNames = HashMap<String, Bilingual>;

/// The descriptions of every detector `inspector` runs.
pub fn detector_names(inspector: &mamori_inspect::Inspector) -> DetectorNames {
    inspector
        .detectors()
        .iter()
        .map(|d| (d.id.clone(), d.description.clone()))
        .collect()
}

/// Creates the writer for a format.
pub fn writer<'a>(
    format: Format,
    out: Box<dyn Write + 'a>,
    lang: Lang,
    all: bool,
    names: DetectorNames,
) -> Box<dyn ResultWriter + 'a> {
    match format {
        Format::Text => Box::new(TextWriter {
            out,
            lang,
            all,
            names,
        }),
        Format::Json => Box::new(JsonWriter { out, all }),
        Format::Csv => Box::new(CsvWriter::new(out, all)),
        Format::Sarif => Box::new(SarifWriter {
            out,
            results: Vec::new(),
            rules: Default::default(),
            names,
        }),
    }
}

struct TextWriter<'a> {
    out: Box<dyn Write + 'a>,
    lang: Lang,
    all: bool,
    names: DetectorNames,
}

impl ResultWriter for TextWriter<'_> {
    fn result(&mut self, r: &FileResult) -> io::Result<()> {
        if !r.is_notable() {
            if self.all {
                writeln!(
                    self.out,
                    "{}  ({})",
                    r.path,
                    self.lang.pick("検出なし", "clean")
                )?;
            }
            return Ok(());
        }
        match &r.level {
            Some(level) => writeln!(
                self.out,
                "{}  [{}: {}]",
                r.path,
                self.lang.pick("レベル", "level"),
                self.lang.pick(&level.ja, &level.en)
            )?,
            None => writeln!(self.out, "{}", r.path)?,
        }
        for f in &r.findings {
            let confidence = match (self.lang, f.confidence) {
                (Lang::Ja, mamori_model::Confidence::High) => "確度:高",
                (Lang::Ja, mamori_model::Confidence::Medium) => "確度:中",
                (Lang::Ja, mamori_model::Confidence::Low) => "確度:低",
                (Lang::En, c) => c.as_str(),
            };
            // What it is in words, the id after it for rules files and the JSON output.
            match self.names.get(&f.detector) {
                Some(name) => write!(
                    self.out,
                    "  [{confidence}] {} [{}]",
                    self.lang.pick(&name.ja, &name.en),
                    f.detector
                )?,
                None => write!(self.out, "  [{confidence}] {} ({})", f.detector, f.category)?,
            }
            if f.count > 1 {
                write!(self.out, " x{}", f.count)?;
            }
            if !f.location.is_root() {
                write!(self.out, "  @ {}", f.location)?;
            }
            if !f.sample.is_empty() {
                write!(self.out, "  {}", f.sample)?;
            }
            if let Some(doc) = &f.document {
                write!(
                    self.out,
                    "  {} \"{}\" ({}: {}, {:.0}% / {:.0}%)",
                    self.lang.pick("登録文書", "document"),
                    doc.document,
                    self.lang.pick("レベル", "level"),
                    doc.level,
                    doc.containment * 100.0,
                    doc.coverage * 100.0
                )?;
            }
            writeln!(self.out)?;
        }
        for u in &r.uninspectable {
            let described = u.reason.describe();
            write!(
                self.out,
                "  [{}] ",
                self.lang.pick("検査不能", "uninspectable")
            )?;
            if !u.location.is_root() {
                write!(self.out, "{}: ", u.location)?;
            }
            // The reason in words, then as the journal and JSON say it (with what broke).
            writeln!(
                self.out,
                "{} [{}]",
                self.lang.pick(&described.ja, &described.en),
                u.reason
            )?;
        }
        Ok(())
    }

    fn finish(&mut self, t: &Totals) -> io::Result<()> {
        let secs = t.elapsed.as_secs_f64();
        let mb = t.bytes as f64 / 1e6;
        let rate = if secs > 0.0 { mb / secs } else { 0.0 };
        match self.lang {
            Lang::Ja => writeln!(
                self.out,
                "\n{} ファイル ({mb:.1} MB) を {secs:.1} 秒で検査しました ({rate:.1} MB/秒)。検出あり {} 件 (検出数 {})、検査不能 {} 件、読み取りエラー {} 件。",
                t.files, t.files_with_findings, t.findings, t.files_uninspectable, t.errors
            )?,
            Lang::En => writeln!(
                self.out,
                "\n{} files ({mb:.1} MB) inspected in {secs:.1} s ({rate:.1} MB/s): {} with findings ({} findings), {} uninspectable, {} unreadable.",
                t.files, t.files_with_findings, t.findings, t.files_uninspectable, t.errors
            )?,
        }
        self.out.flush()
    }
}

/// The JSON shape of one finding, as documented in the README.
#[derive(Serialize)]
struct JsonFinding<'a> {
    detector: &'a str,
    category: mamori_model::Category,
    confidence: mamori_model::Confidence,
    count: u32,
    location: String,
    sample: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    offsets: &'a [(usize, usize)],
    #[serde(skip_serializing_if = "Option::is_none")]
    document: Option<&'a mamori_model::DocumentMatch>,
}

#[derive(Serialize)]
struct JsonLine<'a> {
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    level: Option<&'a str>,
    content_type: &'a str,
    bytes: u64,
    findings: Vec<JsonFinding<'a>>,
    uninspectable: Option<String>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    uninspectable_parts: &'a [Uninspectable],
}

/// The JSON object printed for one result.
pub fn json_line(r: &FileResult) -> serde_json::Value {
    let line = JsonLine {
        path: &r.path,
        level: r.level.as_ref().map(|l| l.id.as_str()),
        content_type: &r.content_type,
        bytes: r.bytes,
        findings: r
            .findings
            .iter()
            .map(|f| JsonFinding {
                detector: &f.detector,
                category: f.category,
                confidence: f.confidence,
                count: f.count,
                location: f.location.to_string(),
                sample: &f.sample,
                offsets: &f.offsets,
                document: f.document.as_ref(),
            })
            .collect(),
        uninspectable: r.uninspectable_summary(),
        uninspectable_parts: &r.uninspectable,
    };
    serde_json::to_value(line).expect("plain data serialises")
}

struct JsonWriter<'a> {
    out: Box<dyn Write + 'a>,
    all: bool,
}

impl ResultWriter for JsonWriter<'_> {
    fn result(&mut self, r: &FileResult) -> io::Result<()> {
        if !r.is_notable() && !self.all {
            return Ok(());
        }
        serde_json::to_writer(&mut self.out, &json_line(r))?;
        self.out.write_all(b"\n")
    }

    fn finish(&mut self, _: &Totals) -> io::Result<()> {
        self.out.flush()
    }
}

struct CsvWriter<'a> {
    out: csv::Writer<Box<dyn Write + 'a>>,
    all: bool,
    header_written: bool,
}

impl<'a> CsvWriter<'a> {
    fn new(out: Box<dyn Write + 'a>, all: bool) -> Self {
        CsvWriter {
            out: csv::Writer::from_writer(out),
            all,
            header_written: false,
        }
    }
}

impl ResultWriter for CsvWriter<'_> {
    fn result(&mut self, r: &FileResult) -> io::Result<()> {
        let level = r.level.as_ref().map_or("", |l| l.id.as_str());
        if !self.header_written {
            self.out.write_record([
                "path",
                "level",
                "content_type",
                "detector",
                "category",
                "confidence",
                "count",
                "location",
                "sample",
                "uninspectable",
            ])?;
            self.header_written = true;
        }
        for f in &r.findings {
            self.out.write_record([
                r.path.as_str(),
                level,
                &r.content_type,
                &f.detector,
                f.category.as_str(),
                f.confidence.as_str(),
                &f.count.to_string(),
                &f.location.to_string(),
                &f.sample,
                "",
            ])?;
        }
        for u in &r.uninspectable {
            self.out.write_record([
                r.path.as_str(),
                level,
                &r.content_type,
                "",
                "",
                "",
                "",
                &u.location.to_string(),
                "",
                &u.reason.to_string(),
            ])?;
        }
        if !r.is_notable() && self.all {
            self.out.write_record([
                r.path.as_str(),
                &r.content_type,
                "",
                "",
                "",
                "",
                "",
                "",
                "",
            ])?;
        }
        Ok(())
    }

    fn finish(&mut self, _: &Totals) -> io::Result<()> {
        if !self.header_written {
            self.out.write_record([
                "path",
                "level",
                "content_type",
                "detector",
                "category",
                "confidence",
                "count",
                "location",
                "sample",
                "uninspectable",
            ])?;
        }
        self.out.flush()
    }
}

/// SARIF needs the whole run before it can be written: results are kept (they are small) and
/// written at the end.
struct SarifWriter<'a> {
    out: Box<dyn Write + 'a>,
    results: Vec<serde_json::Value>,
    rules: std::collections::BTreeMap<String, mamori_model::Category>,
    names: DetectorNames,
}

impl ResultWriter for SarifWriter<'_> {
    fn result(&mut self, r: &FileResult) -> io::Result<()> {
        let uri = path_to_uri(&r.path);
        for f in &r.findings {
            self.rules.entry(f.detector.clone()).or_insert(f.category);
            let level = match f.confidence {
                mamori_model::Confidence::High => "error",
                mamori_model::Confidence::Medium => "warning",
                mamori_model::Confidence::Low => "note",
            };
            let mut text = format!("{} ({}) x{}", f.detector, f.category, f.count);
            if !f.location.is_root() {
                text.push_str(&format!(" in {}", f.location));
            }
            if !f.sample.is_empty() {
                text.push_str(&format!(": {}", f.sample));
            }
            self.results.push(serde_json::json!({
                "ruleId": f.detector,
                "level": level,
                "message": { "text": text },
                "locations": [{ "physicalLocation": { "artifactLocation": { "uri": uri } } }],
                "properties": { "category": f.category, "confidence": f.confidence, "count": f.count, "location": f.location.to_string(), "level": r.level.as_ref().map(|l| &l.id) }
            }));
        }
        for u in &r.uninspectable {
            self.rules
                .entry("uninspectable".into())
                .or_insert(mamori_model::Category::Custom);
            self.results.push(serde_json::json!({
                "ruleId": "uninspectable",
                "level": "warning",
                "message": { "text": format!("uninspectable: {u}") },
                "locations": [{ "physicalLocation": { "artifactLocation": { "uri": uri } } }],
                "properties": { "reason": u.reason.kind() }
            }));
        }
        Ok(())
    }

    fn finish(&mut self, _: &Totals) -> io::Result<()> {
        let rules: Vec<_> = self
            .rules
            .iter()
            .map(|(id, category)| match self.names.get(id) {
                Some(name) => serde_json::json!({
                    "id": id,
                    "shortDescription": { "text": name.en },
                    "properties": { "category": category, "description_ja": name.ja }
                }),
                None => serde_json::json!({ "id": id, "properties": { "category": category } }),
            })
            .collect();
        let log = serde_json::json!({
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [{
                "tool": { "driver": {
                    "name": "mamori",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": "https://example.invalid/mamori",
                    "rules": rules,
                }},
                "results": std::mem::take(&mut self.results),
            }]
        });
        serde_json::to_writer_pretty(&mut self.out, &log)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

/// A SARIF artifact URI for a path: relative paths stay relative, absolute ones become `file://`,
/// with the characters URIs reserve percent-encoded.
fn path_to_uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 8);
    if path.starts_with('/') {
        out.push_str("file://");
    }
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mamori_model::{Category, Confidence, Location, UninspectableReason};

    fn sample() -> FileResult {
        FileResult {
            path: "/srv/設計/a b.docx".into(),
            content_type: "application/zip".into(),
            bytes: 10,
            findings: vec![
                Finding::new("label.shagaihi", Category::Label, Confidence::High)
                    .with_location(Location::root().child("word/header1.xml"))
                    .with_sample("社外秘"),
            ],
            uninspectable: vec![Uninspectable {
                location: Location::root().child("x.zip"),
                reason: UninspectableReason::Encrypted,
            }],
            level: Some(LevelInfo {
                id: "internal".into(),
                ja: "社外秘".into(),
                en: "Internal".into(),
            }),
        }
    }

    fn render(format: Format, lang: Lang) -> String {
        let mut buf = Vec::new();
        {
            let names = DetectorNames::from([(
                "label.shagaihi".to_string(),
                Bilingual::new("「社外秘」の表示", "the marking 社外秘"),
            )]);
            let mut w = writer(format, Box::new(&mut buf), lang, false, names);
            w.result(&sample()).unwrap();
            w.finish(&Totals {
                files: 1,
                ..Default::default()
            })
            .unwrap();
        }
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn json_has_documented_shape() {
        let line = render(Format::Json, Lang::En);
        let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(v["path"], "/srv/設計/a b.docx");
        assert_eq!(v["level"], "internal");
        assert_eq!(v["findings"][0]["detector"], "label.shagaihi");
        assert_eq!(v["findings"][0]["category"], "label");
        assert_eq!(v["findings"][0]["confidence"], "high");
        assert_eq!(v["findings"][0]["count"], 1);
        assert_eq!(v["findings"][0]["location"], "word/header1.xml");
        assert_eq!(v["findings"][0]["sample"], "社外秘");
        assert_eq!(v["uninspectable"], "x.zip: encrypted");
    }

    #[test]
    fn csv_quotes_and_has_header() {
        let text = render(Format::Csv, Lang::En);
        let mut lines = text.lines();
        assert!(
            lines
                .next()
                .unwrap()
                .starts_with("path,level,content_type,detector")
        );
        assert!(text.contains("label.shagaihi"));
        assert!(text.contains("encrypted"));
    }

    #[test]
    fn sarif_is_valid_json_with_rules() {
        let v: serde_json::Value = serde_json::from_str(&render(Format::Sarif, Lang::En)).unwrap();
        assert_eq!(v["version"], "2.1.0");
        let results = v["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), 2);
        assert_eq!(results[0]["ruleId"], "label.shagaihi");
        let rules = v["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
        let rule = rules.iter().find(|r| r["id"] == "label.shagaihi").unwrap();
        assert_eq!(rule["shortDescription"]["text"], "the marking 社外秘");
        assert_eq!(rule["properties"]["description_ja"], "「社外秘」の表示");
        assert_eq!(
            results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "file:///srv/%E8%A8%AD%E8%A8%88/a%20b.docx"
        );
    }

    #[test]
    fn text_report_speaks_both_languages() {
        let ja = render(Format::Text, Lang::Ja);
        assert!(
            ja.contains(
                "  [確度:高] 「社外秘」の表示 [label.shagaihi]  @ word/header1.xml  社外秘\n"
            ),
            "{ja}"
        );
        assert!(
            ja.contains("  [検査不能] x.zip: 暗号化された内容 [encrypted]\n"),
            "{ja}"
        );
        let en = render(Format::Text, Lang::En);
        assert!(
            en.contains("  [high] the marking 社外秘 [label.shagaihi]  @ word/header1.xml"),
            "{en}"
        );
        assert!(
            en.contains("  [uninspectable] x.zip: encrypted content [encrypted]\n"),
            "{en}"
        );
    }
}
