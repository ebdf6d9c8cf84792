//! HTTP bodies → the parts worth inspecting.
//!
//! `Content-Encoding` (gzip, deflate, br) is undone first, within a size and ratio cap; then the
//! `Content-Type` decides: each file of a `multipart/form-data` body becomes a part with its file
//! name, the form's other fields one text part; `application/x-www-form-urlencoded` and JSON
//! become one text part of `name: value` lines (JSON: every string and number value, keyed by
//! its path); anything else is one raw part. Parts larger than the spool threshold go to
//! temporary files. Problems (a corrupt gzip stream, a truncated multipart body, a limit) are
//! reported, and `complete` is false when some content could not be decoded.

use std::io::{self, Read};
use std::path::PathBuf;

use mamori_extract::limits::{Cap, LimitExceeded, LimitedReader};

use crate::error::{Error, ErrorKind};
use crate::head::Headers;
use crate::multipart::{self, MultipartDecoder, MultipartLimits, PartHead, PartSink};
use crate::spool::{Body, Spool};

/// Limits on decoding one body.
#[derive(Debug, Clone)]
pub struct ContentLimits {
    /// Most bytes a compressed body may expand to.
    pub max_decoded: u64,
    /// Most expansion ratio of a compressed body (past 1 MiB of output).
    pub max_ratio: u64,
    /// Urlencoded and JSON bodies are parsed in memory up to this size; larger ones are
    /// inspected raw.
    pub max_structured: usize,
    /// Multipart limits.
    pub multipart: MultipartLimits,
    /// Parts larger than this go to a temporary file.
    pub spool_threshold: usize,
    /// Where they go (the system's temporary directory when `None`).
    pub spool_dir: Option<PathBuf>,
}

impl Default for ContentLimits {
    fn default() -> ContentLimits {
        ContentLimits {
            max_decoded: 256 << 20,
            max_ratio: 100,
            max_structured: 16 << 20,
            multipart: MultipartLimits::default(),
            spool_threshold: 4 << 20,
            spool_dir: None,
        }
    }
}

/// How a part came out of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PartKind {
    /// A file of a multipart upload.
    File,
    /// The non-file fields of a form, as `name: value` lines.
    Form,
    /// The string and number values of a JSON body, as `path: value` lines.
    Json,
    /// The body itself.
    Raw,
}

/// One part to inspect.
#[derive(Debug)]
pub struct Part {
    /// What it is.
    pub kind: PartKind,
    /// A short name for reports: the file name, `form`, `json` or `body`.
    pub label: String,
    /// The form field it came in (multipart files).
    pub field: Option<String>,
    /// The file name the browser sent.
    pub file_name: Option<String>,
    /// The part's declared content type.
    pub content_type: Option<String>,
    /// The bytes.
    pub data: Spool,
}

/// What kind of trouble decoding met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProblemKind {
    /// A size or ratio limit was reached; the content was decoded only in part.
    Limit,
    /// The content is malformed (corrupt compression, bad JSON, a truncated multipart body).
    Corrupt,
    /// An encoding this decoder does not undo (stacked or unknown content encodings).
    Unsupported,
}

/// One decoding problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What kind.
    pub kind: ProblemKind,
    /// What happened, in English.
    pub detail: String,
}

impl Problem {
    fn new(kind: ProblemKind, detail: impl Into<String>) -> Problem {
        Problem {
            kind,
            detail: detail.into(),
        }
    }
}

/// The result of decoding one body.
#[derive(Debug)]
pub struct Decoded {
    /// The parts, in body order (the form-fields part last).
    pub parts: Vec<Part>,
    /// What could not be decoded, for the log and the journal.
    pub problems: Vec<Problem>,
    /// False when part of the content could not be decoded (limits, corrupt encoding).
    pub complete: bool,
}

/// Decodes `body`, sent with the HTTP `headers`.
pub fn decode_body(
    headers: &Headers,
    body: Body<'_>,
    limits: &ContentLimits,
) -> Result<Decoded, Error> {
    let mut decoded = Decoded {
        parts: Vec::new(),
        problems: Vec::new(),
        complete: true,
    };
    let encodings = content_encodings(headers);
    let content_type = headers.get("Content-Type").unwrap_or("").to_owned();
    let (body_len, mut reader): (u64, Box<dyn Read + '_>) = match body {
        Body::Memory(bytes) => (bytes.len() as u64, Box::new(bytes)),
        Body::File(file) => (
            file.metadata()
                .map_err(|e| Error::io("reading the spooled body", e))?
                .len(),
            Box::new(file),
        ),
    };
    match encodings.as_slice() {
        [] => decode_typed(&content_type, &mut reader, limits, &mut decoded)?,
        [encoding] => {
            let mut inflated = new_spool(limits);
            if let Err(problem) = inflate(encoding, reader, body_len, limits, &mut inflated) {
                decoded.problems.push(problem);
                decoded.complete = false;
            }
            let mut source = inflated;
            match source
                .body()
                .map_err(|e| Error::io("reading the spool", e))?
            {
                Body::Memory(bytes) => {
                    decode_typed(&content_type, &mut &*bytes, limits, &mut decoded)?;
                }
                Body::File(file) => decode_typed(&content_type, file, limits, &mut decoded)?,
            }
        }
        _ => {
            decoded.problems.push(Problem::new(
                ProblemKind::Unsupported,
                format!(
                    "stacked content encodings are not decoded: {}",
                    encodings.join(", ")
                ),
            ));
            decoded.complete = false;
            raw_part(&mut reader, limits, &mut decoded)?;
        }
    }
    Ok(decoded)
}

fn new_spool(limits: &ContentLimits) -> Spool {
    Spool::new(limits.spool_threshold, limits.spool_dir.clone())
}

/// Whether [`decode_body`] would hand this body over as one raw part, byte for byte: no content
/// encoding, and not multipart, a form or JSON. A caller can then inspect the body itself and
/// skip the copy (at 1 MiB per upload the copy was a tenth of `mamori icap`'s time).
pub fn is_raw_body(headers: &Headers) -> bool {
    let content_type = headers.get("Content-Type").unwrap_or("");
    content_encodings(headers).is_empty()
        && multipart::boundary(content_type).is_none()
        && structured(&essence(content_type)).is_none()
}

/// The content encodings applied, in order (`identity` left out).
fn content_encodings(headers: &Headers) -> Vec<String> {
    headers
        .get("Content-Encoding")
        .unwrap_or("")
        .split(',')
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty() && t != "identity")
        .collect()
}

/// A body type decoded as fields: a form or JSON.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Structured {
    Form,
    Json,
}

fn structured(essence: &str) -> Option<Structured> {
    if essence == "application/json" || essence == "text/json" || essence.ends_with("+json") {
        Some(Structured::Json)
    } else if essence == "application/x-www-form-urlencoded" {
        Some(Structured::Form)
    } else {
        None
    }
}

/// Writes everything `reader` gives into `spool`.
fn copy_into(reader: &mut dyn Read, spool: &mut Spool) -> io::Result<()> {
    let mut block = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut block) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        spool.write(&block[..n])?;
    }
}

/// Undoes one content encoding into `out`; an `Err` is a problem to report (what was
/// inflated before it stays in `out`).
// The decompressors are wrapped in a `LimitedReader` right here, which is what the
// `disallowed_types` rule asks for.
#[allow(clippy::disallowed_types)]
fn inflate(
    encoding: &str,
    reader: Box<dyn Read + '_>,
    compressed: u64,
    limits: &ContentLimits,
    out: &mut Spool,
) -> Result<(), Problem> {
    let cap = Cap::for_member(compressed, limits.max_ratio, limits.max_decoded);
    let mut reader = io::BufReader::new(reader);
    let inner: Box<dyn Read + '_> = match encoding {
        "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        "deflate" => {
            // HTTP's "deflate" is zlib-wrapped, but some clients send raw deflate.
            let zlib = {
                use io::BufRead;
                let head = reader
                    .fill_buf()
                    .map_err(|e| Problem::new(ProblemKind::Corrupt, e.to_string()))?;
                head.len() >= 2
                    && head[0] & 0x0f == 8
                    && (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 == 0
            };
            if zlib {
                Box::new(flate2::read::ZlibDecoder::new(reader))
            } else {
                Box::new(flate2::read::DeflateDecoder::new(reader))
            }
        }
        "br" => Box::new(brotli_decompressor::Decompressor::new(reader, 64 * 1024)),
        other => {
            return Err(Problem::new(
                ProblemKind::Unsupported,
                format!("content encoding {other:?} is not decoded"),
            ));
        }
    };
    let mut limited = LimitedReader::new(inner, cap);
    copy_into(&mut limited, out).map_err(|e| match LimitExceeded::from_io(&e) {
        Some(limit) => Problem::new(
            ProblemKind::Limit,
            format!(
                "{encoding} body expands past the limit ({} bytes inflated)",
                limit.bytes
            ),
        ),
        None => Problem::new(
            ProblemKind::Corrupt,
            format!("corrupt {encoding} body: {e}"),
        ),
    })
}

fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn decode_typed(
    content_type: &str,
    reader: &mut dyn Read,
    limits: &ContentLimits,
    decoded: &mut Decoded,
) -> Result<(), Error> {
    let essence = essence(content_type);
    if let Some(boundary) = multipart::boundary(content_type) {
        return decode_multipart(&boundary, reader, limits, decoded);
    }
    if let Some(kind) = structured(&essence) {
        let json = kind == Structured::Json;
        let mut bytes = Vec::new();
        reader
            .take(limits.max_structured as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io("reading the body", e))?;
        if bytes.len() > limits.max_structured {
            decoded.problems.push(Problem::new(
                ProblemKind::Limit,
                format!(
                    "{essence} body larger than {} bytes: inspected as raw bytes",
                    limits.max_structured
                ),
            ));
            let mut chained = (&bytes[..]).chain(reader);
            return raw_part(&mut chained, limits, decoded);
        }
        let text = if json {
            match json_text(&bytes, limits.max_structured.saturating_mul(4)) {
                Ok(text) => text,
                Err(problem) => {
                    decoded
                        .problems
                        .push(Problem::new(ProblemKind::Corrupt, problem));
                    return raw_part(&mut &bytes[..], limits, decoded);
                }
            }
        } else {
            let mut text = String::new();
            for (name, value) in form_urlencoded::parse(&bytes) {
                text.push_str(&name);
                text.push_str(": ");
                text.push_str(&value);
                text.push('\n');
            }
            text
        };
        let mut data = new_spool(limits);
        data.write(text.as_bytes())
            .map_err(|e| Error::io("spooling a part", e))?;
        decoded.parts.push(Part {
            kind: if json { PartKind::Json } else { PartKind::Form },
            label: if json { "json" } else { "form" }.into(),
            field: None,
            file_name: None,
            content_type: Some(essence),
            data,
        });
        return Ok(());
    }
    raw_part(reader, limits, decoded)
}

fn raw_part(
    reader: &mut dyn Read,
    limits: &ContentLimits,
    decoded: &mut Decoded,
) -> Result<(), Error> {
    let mut data = new_spool(limits);
    copy_into(reader, &mut data).map_err(|e| Error::io("reading the body", e))?;
    decoded.parts.push(Part {
        kind: PartKind::Raw,
        label: "body".into(),
        field: None,
        file_name: None,
        content_type: None,
        data,
    });
    Ok(())
}

/// Paths longer than this stop growing (deep nesting would otherwise make the text grow with
/// the square of the input).
const MAX_JSON_PATH: usize = 200;

/// The JSON document's string and number values as `path: value` lines, at most `max_out`
/// bytes of them.
pub fn json_text(bytes: &[u8], max_out: usize) -> Result<String, String> {
    // serde_json refuses nesting deeper than 128, so the walk below is bounded too.
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("malformed JSON body: {e}"))?;
    let mut out = String::new();
    let mut path = String::new();
    walk_json(&value, &mut path, &mut out, max_out);
    Ok(out)
}

fn walk_json(value: &serde_json::Value, path: &mut String, out: &mut String, max_out: usize) {
    use serde_json::Value;
    if out.len() >= max_out {
        return;
    }
    match value {
        Value::String(s) => {
            out.push_str(path);
            out.push_str(": ");
            out.push_str(s);
            out.push('\n');
        }
        Value::Number(n) => {
            out.push_str(path);
            out.push_str(": ");
            out.push_str(&n.to_string());
            out.push('\n');
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                if len < MAX_JSON_PATH {
                    path.push_str(&format!("[{i}]"));
                }
                walk_json(item, path, out, max_out);
                path.truncate(len);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let len = path.len();
                if len < MAX_JSON_PATH {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
                walk_json(item, path, out, max_out);
                path.truncate(len);
            }
        }
        Value::Bool(_) | Value::Null => {}
    }
}

struct Collector<'l> {
    limits: &'l ContentLimits,
    /// Memory the parts may still take together: parts after it is spent go to disk, so a
    /// body of many middle-sized files is never held whole in memory.
    memory_left: usize,
    files: Vec<Part>,
    form: Spool,
    current: Option<Part>,
}

impl PartSink for Collector<'_> {
    fn start(&mut self, head: PartHead) -> Result<(), Error> {
        if head.file_name.is_some() {
            let label = head
                .file_name
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| head.name.clone().unwrap_or_else(|| "file".into()));
            self.current = Some(Part {
                kind: PartKind::File,
                label,
                field: head.name,
                file_name: head.file_name,
                content_type: head.content_type,
                data: Spool::new(self.memory_left, self.limits.spool_dir.clone()),
            });
        } else {
            let line = format!("{}: ", head.name.as_deref().unwrap_or(""));
            self.form
                .write(line.as_bytes())
                .map_err(|e| Error::io("spooling a form field", e))?;
        }
        Ok(())
    }

    fn data(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let target = match &mut self.current {
            Some(part) => &mut part.data,
            None => &mut self.form,
        };
        target
            .write(bytes)
            .map_err(|e| Error::io("spooling a part", e))
    }

    fn end(&mut self) -> Result<(), Error> {
        match self.current.take() {
            Some(part) => {
                if !part.data.on_disk() {
                    self.memory_left = self
                        .memory_left
                        .saturating_sub(usize::try_from(part.data.len()).unwrap_or(usize::MAX));
                }
                self.files.push(part);
            }
            None => self
                .form
                .write(b"\n")
                .map_err(|e| Error::io("spooling a form field", e))?,
        }
        Ok(())
    }
}

fn decode_multipart(
    boundary: &str,
    reader: &mut dyn Read,
    limits: &ContentLimits,
    decoded: &mut Decoded,
) -> Result<(), Error> {
    let mut decoder = MultipartDecoder::new(boundary, limits.multipart)?;
    let mut sink = Collector {
        limits,
        memory_left: limits.spool_threshold,
        files: Vec::new(),
        form: new_spool(limits),
        current: None,
    };
    let mut block = vec![0u8; 64 * 1024];
    let mut failed = None;
    loop {
        let n = match reader.read(&mut block) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("reading the body", e)),
        };
        if let Err(e) = decoder.feed(&block[..n], &mut sink) {
            failed = Some(e);
            break;
        }
    }
    let finish = match failed {
        Some(e) => Err(e),
        None => decoder.finish(&mut sink),
    };
    if let Err(e) = finish {
        if e.kind() == ErrorKind::Io {
            return Err(e);
        }
        let kind = if e.kind() == ErrorKind::TooLarge {
            ProblemKind::Limit
        } else {
            ProblemKind::Corrupt
        };
        decoded
            .problems
            .push(Problem::new(kind, format!("multipart body: {e}")));
        decoded.complete = false;
    }
    if let Some(part) = sink.current.take() {
        sink.files.push(part);
    }
    decoded.parts.append(&mut sink.files);
    if !sink.form.is_empty() {
        decoded.parts.push(Part {
            kind: PartKind::Form,
            label: "form".into(),
            field: None,
            file_name: None,
            content_type: None,
            data: sink.form,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        Headers(
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        )
    }

    fn bytes_of(part: &mut Part) -> Vec<u8> {
        match part.data.body().unwrap() {
            Body::Memory(b) => b.to_vec(),
            Body::File(f) => {
                let mut v = Vec::new();
                f.read_to_end(&mut v).unwrap();
                v
            }
        }
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    /// `is_raw_body` says yes exactly when decoding would give back the body as one raw part.
    #[test]
    fn raw_bodies_are_recognised_exactly() {
        let body = b"plain upload \xe7\xa4\xbe\xe5\xa4\x96\xe7\xa7\x98 a=b&c=d {\"x\": 1}";
        let types = [
            None,
            Some("text/plain"),
            Some("application/octet-stream"),
            Some("APPLICATION/JSON; charset=utf-8"),
            Some("application/ld+json"),
            Some("text/json"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=B"),
            Some("multipart/mixed"),
            Some("text/html"),
        ];
        let encodings = [
            None,
            Some("identity"),
            Some(" Identity , "),
            Some("gzip"),
            Some("br, gzip"),
        ];
        for content_type in types {
            for encoding in encodings {
                let mut pairs = Vec::new();
                if let Some(t) = content_type {
                    pairs.push(("Content-Type", t));
                }
                if let Some(e) = encoding {
                    pairs.push(("Content-Encoding", e));
                }
                let h = headers(&pairs);
                let mut d = decode_body(&h, Body::Memory(body), &ContentLimits::default()).unwrap();
                let whole = d.parts.len() == 1
                    && d.problems.is_empty()
                    && d.parts[0].kind == PartKind::Raw
                    && matches!(d.parts[0].data.body().unwrap(), Body::Memory(b) if b == body);
                assert_eq!(is_raw_body(&h), whole, "{content_type:?} {encoding:?}");
            }
        }
    }

    #[test]
    fn multipart_files_and_fields() {
        let body = b"--B\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n\xe7\xa4\xbe\xe5\xa4\x96\xe7\xa7\x98\r\n--B\r\nContent-Disposition: form-data; name=\"up\"; filename=\"a.docx\"\r\nContent-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document\r\n\r\nPK\x03\x04data\r\n--B--\r\n";
        let h = headers(&[("Content-Type", "multipart/form-data; boundary=B")]);
        let mut d = decode_body(&h, Body::Memory(body), &ContentLimits::default()).unwrap();
        assert!(d.complete, "{:?}", d.problems);
        assert_eq!(d.parts.len(), 2);
        assert_eq!(d.parts[0].kind, PartKind::File);
        assert_eq!(d.parts[0].label, "a.docx");
        assert_eq!(d.parts[0].field.as_deref(), Some("up"));
        assert_eq!(bytes_of(&mut d.parts[0]), b"PK\x03\x04data");
        assert_eq!(d.parts[1].kind, PartKind::Form);
        assert_eq!(bytes_of(&mut d.parts[1]), "note: 社外秘\n".as_bytes());
    }

    #[test]
    fn json_values_with_paths() {
        let body =
            "{\"user\":{\"name\":\"山田\",\"個人番号\":\"123456789018\"},\"n\":[1,2.5,true]}";
        let h = headers(&[("Content-Type", "application/json; charset=utf-8")]);
        let mut d =
            decode_body(&h, Body::Memory(body.as_bytes()), &ContentLimits::default()).unwrap();
        assert_eq!(d.parts.len(), 1);
        let text = String::from_utf8(bytes_of(&mut d.parts[0])).unwrap();
        assert_eq!(
            text,
            "n[0]: 1\nn[1]: 2.5\nuser.name: 山田\nuser.個人番号: 123456789018\n"
        );
    }

    #[test]
    fn deep_json_paths_and_output_are_bounded() {
        let key = "k".repeat(100);
        let mut doc = String::new();
        for _ in 0..100 {
            doc.push_str(&format!("{{\"{key}\":"));
        }
        doc.push('[');
        doc.push_str(&vec!["1"; 10_000].join(","));
        doc.push(']');
        doc.push_str(&"}".repeat(100));
        let text = json_text(doc.as_bytes(), 1 << 30).unwrap();
        assert!(
            text.lines().all(|l| l.len() < 2 * MAX_JSON_PATH),
            "paths stop growing"
        );
        assert_eq!(text.lines().count(), 10_000);
        let capped = json_text(doc.as_bytes(), 1000).unwrap();
        assert!(capped.len() < 1000 + 2 * MAX_JSON_PATH);
    }

    #[test]
    fn bad_json_is_inspected_raw() {
        let h = headers(&[("Content-Type", "application/json")]);
        let mut d = decode_body(
            &h,
            Body::Memory(b"{\"a\": 12345"),
            &ContentLimits::default(),
        )
        .unwrap();
        assert_eq!(d.parts[0].kind, PartKind::Raw);
        assert_eq!(bytes_of(&mut d.parts[0]), b"{\"a\": 12345");
        assert_eq!(d.problems.len(), 1);
    }

    #[test]
    fn urlencoded_fields() {
        let h = headers(&[("Content-Type", "application/x-www-form-urlencoded")]);
        let mut d = decode_body(
            &h,
            Body::Memory(b"q=%E7%A4%BE%E5%A4%96%E7%A7%98&x=a+b"),
            &ContentLimits::default(),
        )
        .unwrap();
        assert_eq!(bytes_of(&mut d.parts[0]), "q: 社外秘\nx: a b\n".as_bytes());
    }

    #[test]
    fn gzip_then_json() {
        let body = gzip(b"{\"id\":\"123456789018\"}");
        let h = headers(&[
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
        ]);
        let mut d = decode_body(&h, Body::Memory(&body), &ContentLimits::default()).unwrap();
        assert!(d.complete);
        assert_eq!(bytes_of(&mut d.parts[0]), b"id: 123456789018\n");
    }

    #[test]
    fn deflate_zlib_raw_and_brotli() {
        let data = b"hello hello hello";
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(data).unwrap();
        let zlib = z.finish().unwrap();
        let mut r = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        r.write_all(data).unwrap();
        let raw = r.finish().unwrap();
        for body in [zlib, raw] {
            let h = headers(&[("Content-Encoding", "deflate")]);
            let mut d = decode_body(&h, Body::Memory(&body), &ContentLimits::default()).unwrap();
            assert!(d.complete, "{:?}", d.problems);
            assert_eq!(bytes_of(&mut d.parts[0]), data);
        }
        // A hand-made brotli stream of "hi": one uncompressed metablock, then an empty last one.
        let h = headers(&[("Content-Encoding", "br")]);
        let mut d = decode_body(
            &h,
            Body::Memory(b"\x10\x00\x10\x68\x69\x03"),
            &ContentLimits::default(),
        )
        .unwrap();
        assert!(d.complete, "{:?}", d.problems);
        assert_eq!(bytes_of(&mut d.parts[0]), b"hi");
    }

    #[test]
    fn gzip_bomb_is_capped_and_reported() {
        let body = gzip(&vec![0u8; 8 << 20]);
        let h = headers(&[("Content-Encoding", "gzip")]);
        let limits = ContentLimits {
            max_decoded: 2 << 20,
            ..ContentLimits::default()
        };
        let d = decode_body(&h, Body::Memory(&body), &limits).unwrap();
        assert!(!d.complete);
        assert_eq!(d.problems[0].kind, ProblemKind::Limit, "{:?}", d.problems);
        assert!(d.parts[0].data.len() <= 2 << 20);
    }

    #[test]
    fn corrupt_gzip_is_reported() {
        let h = headers(&[("Content-Encoding", "gzip")]);
        let d = decode_body(
            &h,
            Body::Memory(b"not gzip at all"),
            &ContentLimits::default(),
        )
        .unwrap();
        assert!(!d.complete);
        assert_eq!(d.problems[0].kind, ProblemKind::Corrupt);
    }

    #[test]
    fn large_parts_spool_to_disk() {
        let limits = ContentLimits {
            spool_threshold: 10,
            ..ContentLimits::default()
        };
        let mut d = decode_body(&Headers::default(), Body::Memory(&[b'x'; 100]), &limits).unwrap();
        assert!(d.parts[0].data.on_disk());
        assert_eq!(bytes_of(&mut d.parts[0]).len(), 100);
    }

    #[test]
    fn many_parts_share_one_memory_budget() {
        let mut body = Vec::new();
        for i in 0..10 {
            body.extend_from_slice(
                format!("--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"{i}.bin\"\r\n\r\n").as_bytes(),
            );
            body.extend_from_slice(&[b'a'; 300]);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--B--\r\n");
        let h = headers(&[("Content-Type", "multipart/form-data; boundary=B")]);
        let limits = ContentLimits {
            spool_threshold: 1000,
            ..ContentLimits::default()
        };
        let d = decode_body(&h, Body::Memory(&body), &limits).unwrap();
        assert_eq!(d.parts.len(), 10);
        let in_memory: u64 = d
            .parts
            .iter()
            .filter(|p| !p.data.on_disk())
            .map(|p| p.data.len())
            .sum();
        assert!(in_memory <= 1000, "{in_memory}");
        assert!(d.parts.iter().all(|p| p.data.len() == 300));
    }

    #[test]
    fn truncated_multipart_keeps_its_bytes() {
        let body =
            b"--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.txt\"\r\n\r\nsecret";
        let h = headers(&[("Content-Type", "multipart/form-data; boundary=B")]);
        let mut d = decode_body(&h, Body::Memory(body), &ContentLimits::default()).unwrap();
        assert!(!d.complete);
        assert_eq!(bytes_of(&mut d.parts[0]), b"secret");
    }
}
