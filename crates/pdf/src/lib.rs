//! PDF text extraction for Mamori, Japanese included, with hard limits.
//!
//! [`extract`] reads the text layer of a PDF page by page, plus the document's metadata (the
//! Info dictionary and the XMP packet), so that the inspection engine can look for confidential
//! markings and identifiers in it. It reads:
//!
//! * simple fonts (Type 1, TrueType, Type 3) through `/ToUnicode`, their encoding
//!   (Standard, WinAnsi, MacRoman) and `/Differences` glyph names;
//! * composite (Type 0) fonts through `/ToUnicode`, or through the predefined CJK CMaps whose
//!   codes are a known encoding: `*-RKSJ-*` (Shift_JIS), `EUC-H/V`, `H/V` (JIS X 0208),
//!   `Uni*-UCS2-*`, `Uni*-UTF16-*`, `Uni*-UTF8-*`, and the Chinese and Korean equivalents;
//! * CID-keyed fonts of the Adobe-Japan1 collection without `/ToUnicode`, through Adobe's
//!   Adobe-Japan1-UCS2 table;
//! * form XObjects, recursively, and annotations: comments, form field values, stamps and the
//!   text of their appearance streams;
//! * embedded files ([`PdfText::attachments`]), for the caller to inspect in turn; bookmarks
//!   go into the metadata.
//!
//! Text that cannot be read is reported, never returned as garbage: `Identity-H` fonts without a
//! `/ToUnicode` map (what `cupsfilter`/`texttopdf` produce) and scanned pages (images, no text)
//! count in [`PdfText::pages_without_text`]; a document with nothing readable at all (no page
//! with a text layer, no annotation text, no attachment) is [`PdfError::NoTextLayer`]
//! ([`extract_metadata`] still reads its metadata). Encrypted documents are read when the empty user password opens
//! them (documents that only restrict printing or copying) and are [`PdfError::Encrypted`]
//! otherwise.
//!
//! Hostile input is expected: every decoded stream is capped ([`PdfLimits::max_stream_bytes`],
//! [`PdfLimits::max_total_decoded`]), the object and page counts are bounded, the deadline is
//! checked inside the content interpreter, and a panic anywhere in the parser becomes
//! [`PdfError::Panicked`].
//!
//! ```
//! // A one-page PDF showing "Confidential" in Helvetica, with a correct cross-reference table.
//! let mut pdf = b"%PDF-1.4\n".to_vec();
//! let content = b"BT /F1 12 Tf 72 720 Td (Confidential) Tj ET";
//! let objects = [
//!     "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
//!     "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
//!     "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
//!      /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
//!     format!("<< /Length {} >>\nstream\n{}\nendstream", content.len(), String::from_utf8_lossy(content)),
//!     "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_string(),
//! ];
//! let mut offsets = Vec::new();
//! for (i, body) in objects.iter().enumerate() {
//!     offsets.push(pdf.len());
//!     pdf.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
//! }
//! let xref = pdf.len();
//! pdf.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
//! for offset in offsets {
//!     pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
//! }
//! pdf.extend_from_slice(format!("trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n").as_bytes());
//!
//! let text = mamori_pdf::extract(&pdf, &mamori_pdf::PdfLimits::default()).unwrap();
//! assert_eq!(text.pages, ["Confidential"]);
//! assert_eq!(text.pages_without_text, 0);
//!
//! // Garbage is an error naming the problem, never a panic.
//! assert!(matches!(
//!     mamori_pdf::extract(b"not a pdf", &Default::default()),
//!     Err(mamori_pdf::PdfError::Corrupt(_))
//! ));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cmap;
mod content;
mod embedded;
mod encodings;
mod filters;
mod font;
mod metadata;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use lopdf::{Dictionary, Document, LoadOptions, Object, ObjectId};

use crate::content::{FontCache, Interpreter};
use crate::embedded::Attachments;
use crate::filters::{Budget, DecodeError};

/// Hard limits on what extracting one PDF may cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdfLimits {
    /// Most indirect objects in the document.
    pub max_objects: usize,
    /// Most bytes any one stream (content, CMap, XMP, object stream) may decode to.
    pub max_stream_bytes: u64,
    /// Most bytes all decoded streams of the document may add up to.
    pub max_total_decoded: u64,
    /// Most pages.
    pub max_pages: usize,
    /// When to give up with [`PdfError::Timeout`]; `None` for no deadline.
    pub deadline: Option<Instant>,
}

impl Default for PdfLimits {
    /// 1,000,000 objects, 64 MiB per stream, 256 MiB in all, 10,000 pages, no deadline.
    fn default() -> PdfLimits {
        PdfLimits {
            max_objects: 1_000_000,
            max_stream_bytes: 64 << 20,
            max_total_decoded: 256 << 20,
            max_pages: 10_000,
            deadline: None,
        }
    }
}

/// The text of a PDF.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PdfText {
    /// The text of each page, in page order; lines are separated by `\n`. A page without a
    /// text layer has an empty string here.
    pub pages: Vec<String>,
    /// Metadata entries: Info dictionary keys (`Title`, `Author`, custom keys such as
    /// `MSIP_Label_…`), XMP properties (`dc:title`, `dc:creator`, `pdf:Keywords`…) and
    /// bookmark titles (`Outline`), in that order.
    pub metadata: Vec<(String, String)>,
    /// Pages with content that has no readable text: scanned images, or text in fonts without
    /// any way to map glyphs to characters (`Identity-H` without `/ToUnicode`). Blank pages do
    /// not count.
    pub pages_without_text: usize,
    /// Files embedded in the document (`/EmbeddedFiles` and file attachment annotations),
    /// decoded, for the caller to inspect in turn.
    pub attachments: Vec<PdfAttachment>,
    /// Embedded files that could not be decoded (a filter Mamori does not implement): not
    /// inspected, so a caller should treat them as uninspectable content.
    pub attachments_unreadable: usize,
}

/// A file embedded in a PDF.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PdfAttachment {
    /// Its file name as the document gives it (may be empty or a path).
    pub name: String,
    /// Its decoded bytes.
    pub data: Vec<u8>,
}

impl PdfText {
    /// All page texts joined by form feeds, as `pdftotext` separates pages.
    pub fn text(&self) -> String {
        self.pages.join("\x0C")
    }
}

/// Why a PDF could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PdfError {
    /// The document is encrypted and the empty user password does not open it.
    #[error("PDF is encrypted with a password / パスワードで暗号化された PDF です")]
    Encrypted,
    /// Nothing readable at all: no page with a text layer (a scanned document, or fonts without
    /// a Unicode mapping), no annotation text, no attachment. [`extract_metadata`] still reads
    /// the metadata of such a document.
    #[error(
        "PDF has no readable text layer (scanned, or fonts without ToUnicode) / テキスト層がない PDF です（スキャン画像、または ToUnicode のないフォント）"
    )]
    NoTextLayer,
    /// The bytes are not a readable PDF.
    #[error("corrupt PDF / 壊れた PDF: {0}")]
    Corrupt(String),
    /// A limit of [`PdfLimits`] was hit; the string names it.
    #[error("PDF exceeds the limit on {0} / PDF が上限を超えています: {0}")]
    LimitExceeded(&'static str),
    /// [`PdfLimits::deadline`] passed.
    #[error("PDF extraction timed out / PDF の抽出が時間切れです")]
    Timeout,
    /// The parser panicked; the string is the panic message. The process is unharmed (as long
    /// as it is built with the default `panic = "unwind"`).
    #[error("PDF parser panicked / PDF パーサが異常終了しました: {0}")]
    Panicked(String),
}

/// Extracts the text layer and metadata of a PDF.
///
/// Never panics, never runs past [`PdfLimits::deadline`] (outside the object parser, which is
/// linear in the input), never decodes more than the limits allow.
pub fn extract(bytes: &[u8], limits: &PdfLimits) -> Result<PdfText, PdfError> {
    guarded(|| {
        let mut budget = Budget::new(limits);
        let doc = load(bytes, limits, &mut budget)?;
        extract_document(&doc, limits, &mut budget)
    })
}

/// Extracts only the metadata (Info dictionary and XMP), without interpreting pages: useful for
/// documents whose text layer is missing ([`PdfError::NoTextLayer`]) but whose title or custom
/// properties may still carry a confidentiality label.
pub fn extract_metadata(
    bytes: &[u8],
    limits: &PdfLimits,
) -> Result<Vec<(String, String)>, PdfError> {
    guarded(|| {
        let mut budget = Budget::new(limits);
        let doc = load(bytes, limits, &mut budget)?;
        metadata::read(&doc, &mut budget)
    })
}

/// Counts the pages of the page tree, without interpreting them (a print job's page count).
pub fn page_count(bytes: &[u8], limits: &PdfLimits) -> Result<usize, PdfError> {
    guarded(|| {
        let mut budget = Budget::new(limits);
        let doc = load(bytes, limits, &mut budget)?;
        Ok(doc
            .page_iter()
            .take(limits.max_pages.saturating_add(1))
            .count())
    })
}

/// Runs `work`, turning a panic into [`PdfError::Panicked`].
fn guarded<T>(work: impl FnOnce() -> Result<T, PdfError>) -> Result<T, PdfError> {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(PdfError::Panicked(message))
        }
    }
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    memchr::memmem::find_iter(haystack, needle).count()
}

/// Parses the object structure with lopdf, bounding what it may decode and allocate.
fn load(bytes: &[u8], limits: &PdfLimits, budget: &mut Budget) -> Result<Document, PdfError> {
    budget.check_time()?;
    // Viewers accept a header anywhere (files with junk or a mail header in front), and open
    // files without one that still hold objects (poppler does): stripping the
    // header must not hide a document from inspection. Such a file gets a header in front and
    // its cross-reference table rebuilt by lopdf's scan.
    let with_header: Vec<u8>;
    let bytes = if memchr::memmem::find(bytes, b"%PDF-").is_some() {
        bytes
    } else if count(bytes, b"endobj") > 0 {
        with_header = [&b"%PDF-1.7\n"[..], bytes].concat();
        &with_header
    } else {
        return Err(PdfError::Corrupt(
            "no %PDF- header and no objects / PDF ではありません".into(),
        ));
    };
    // Objects written `N G obj` at file level are visible in the raw bytes: refuse a file with
    // far too many before lopdf builds them. Objects inside object streams are counted after
    // loading (their streams are capped meanwhile).
    if count(bytes, b"obj").saturating_sub(count(bytes, b"endobj"))
        > limits.max_objects.saturating_mul(2)
    {
        return Err(PdfError::LimitExceeded("objects"));
    }
    // lopdf decodes object and cross-reference streams while loading; all of them together
    // must stay within the total, so each gets an equal share.
    let containers = (count(bytes, b"/ObjStm") + count(bytes, b"/XRef")).max(1) as u64;
    let per_stream = limits
        .max_stream_bytes
        .min(limits.max_total_decoded / containers)
        .max(1);
    let options = LoadOptions {
        max_decompressed_size: Some(usize::try_from(per_stream).unwrap_or(usize::MAX)),
        ..LoadOptions::default()
    };
    let doc = match Document::load_mem_with_options(bytes, options) {
        Ok(doc) => doc,
        Err(lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded { .. })) => {
            return Err(PdfError::LimitExceeded("stream bytes"));
        }
        Err(
            lopdf::Error::Decryption(_)
            | lopdf::Error::InvalidPassword
            | lopdf::Error::Unimplemented(_)
            | lopdf::Error::AlreadyEncrypted,
        ) if count(bytes, b"/Encrypt") > 0 => return Err(PdfError::Encrypted),
        Err(error) => return Err(PdfError::Corrupt(error_chain(&error))),
    };
    budget.check_time()?;
    if doc.trailer.has(b"Encrypt") {
        return Err(PdfError::Encrypted);
    }
    if doc.objects.len() > limits.max_objects {
        return Err(PdfError::LimitExceeded("objects"));
    }
    Ok(doc)
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

fn extract_document(
    doc: &Document,
    limits: &PdfLimits,
    budget: &mut Budget,
) -> Result<PdfText, PdfError> {
    let page_ids: Vec<ObjectId> = doc
        .page_iter()
        .take(limits.max_pages.saturating_add(1))
        .collect();
    if page_ids.len() > limits.max_pages {
        return Err(PdfError::LimitExceeded("pages"));
    }
    if page_ids.is_empty() {
        return Err(PdfError::Corrupt(
            "the page tree has no pages / ページがありません".into(),
        ));
    }
    let metadata = metadata::read(doc, budget)?;
    let mut attachments = Attachments::default();
    attachments.collect_from_catalog(doc, budget)?;
    let mut annotations_read = false;
    let mut fonts = FontCache::default();
    let mut pages = Vec::with_capacity(page_ids.len());
    let mut pages_without_text = 0;
    for page_id in page_ids {
        budget.check_time()?;
        let Ok(page) = doc.get_dictionary(page_id) else {
            pages.push(String::new());
            continue;
        };
        let content = page_content(doc, page, budget)?;
        let resources = page_resources(doc, page);
        let seen = Interpreter::new(doc, budget, &mut fonts).run_page(&content, resources)?;
        if seen.readable_glyphs == 0 && (seen.unreadable_glyphs > 0 || seen.images > 0) {
            pages_without_text += 1;
        }
        let mut text = seen.text;
        for extra in annotation_texts(doc, page, budget, &mut fonts, &mut attachments)? {
            annotations_read = true;
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&extra);
        }
        pages.push(text);
    }
    let attachments_unreadable = attachments.unreadable;
    let attachments = attachments.into_vec();
    if pages_without_text == pages.len() && !annotations_read && attachments.is_empty() {
        return Err(PdfError::NoTextLayer);
    }
    Ok(PdfText {
        pages,
        metadata,
        pages_without_text,
        attachments,
        attachments_unreadable,
    })
}

/// The page's content streams, decoded and joined.
fn page_content(
    doc: &Document,
    page: &Dictionary,
    budget: &mut Budget,
) -> Result<Vec<u8>, PdfError> {
    let mut content = Vec::new();
    let Ok(contents) = page.get(b"Contents") else {
        return Ok(content);
    };
    let streams: Vec<&Object> = match filters::resolve(doc, contents) {
        Object::Array(items) => items
            .iter()
            .take(10_000)
            .map(|o| filters::resolve(doc, o))
            .collect(),
        other => vec![other],
    };
    for object in streams {
        let Object::Stream(stream) = object else {
            continue;
        };
        match filters::decode_stream(stream, doc, budget) {
            Ok(data) => {
                content.extend_from_slice(&data);
                content.push(b'\n');
            }
            Err(DecodeError::Fatal(error)) => return Err(error),
            Err(DecodeError::Unsupported) => {}
        }
    }
    Ok(content)
}

/// The page's resources, inherited from the page tree when the page has none.
fn page_resources<'a>(doc: &'a Document, page: &'a Dictionary) -> Option<&'a Dictionary> {
    let mut node = page;
    for _ in 0..64 {
        if let Ok(resources) = node.get(b"Resources")
            && let Object::Dictionary(d) = filters::resolve(doc, resources)
        {
            return Some(d);
        }
        match node.get(b"Parent").ok().map(|p| filters::resolve(doc, p)) {
            Some(Object::Dictionary(parent)) => node = parent,
            _ => return None,
        }
    }
    None
}

/// Most annotations read on one page.
const MAX_ANNOTATIONS: usize = 4096;

/// The text of a page's annotations: comments (`/Contents`), form field values (`/V`), stamp
/// names (`/Confidential`…) and the text drawn by their appearance streams (stamps, free text,
/// filled-in fields), which viewers and printers show although it is not in the page content.
fn annotation_texts(
    doc: &Document,
    page: &Dictionary,
    budget: &mut Budget,
    fonts: &mut FontCache,
    attachments: &mut Attachments,
) -> Result<Vec<String>, PdfError> {
    let mut texts: Vec<String> = Vec::new();
    let Some(Object::Array(annotations)) =
        page.get(b"Annots").ok().map(|o| filters::resolve(doc, o))
    else {
        return Ok(texts);
    };
    let push = |texts: &mut Vec<String>, text: String| {
        let text = text.trim();
        if !text.is_empty() && !texts.iter().any(|t| t == text) {
            texts.push(text.to_owned());
        }
    };
    for annotation in annotations.iter().take(MAX_ANNOTATIONS) {
        budget.check_time()?;
        let Object::Dictionary(annotation) = filters::resolve(doc, annotation) else {
            continue;
        };
        let name = |key: &[u8]| match annotation.get(key).ok().map(|o| filters::resolve(doc, o)) {
            Some(Object::Name(n)) => Some(n.as_slice()),
            _ => None,
        };
        let subtype = name(b"Subtype").unwrap_or_default();
        if matches!(subtype, b"Link" | b"Popup") {
            continue;
        }
        if let Some(stream) = appearance(doc, annotation, name(b"AS")) {
            match filters::decode_stream(stream, doc, budget) {
                Ok(content) => {
                    let resources = match stream
                        .dict
                        .get(b"Resources")
                        .ok()
                        .map(|o| filters::resolve(doc, o))
                    {
                        Some(Object::Dictionary(d)) => Some(d),
                        _ => None,
                    };
                    let seen =
                        Interpreter::new(doc, budget, fonts).run_page(&content, resources)?;
                    push(&mut texts, seen.text);
                }
                Err(DecodeError::Fatal(error)) => return Err(error),
                Err(DecodeError::Unsupported) => {}
            }
        }
        for key in [&b"Contents"[..], b"V", b"RC"] {
            if let Some(Object::String(bytes, _)) =
                annotation.get(key).ok().map(|o| filters::resolve(doc, o))
            {
                let text = encodings::decode_text_string(bytes);
                // Rich text (`/RC`) is XHTML: keep its text only.
                let text = if key == b"RC" {
                    metadata::strip_tags(&text)
                } else {
                    text
                };
                push(&mut texts, text);
            }
        }
        if subtype == b"FileAttachment" {
            attachments.collect_from_annotation(doc, annotation, budget)?;
        }
        if subtype == b"Stamp"
            && let Some(stamp) = name(b"Name")
        {
            push(&mut texts, String::from_utf8_lossy(stamp).into_owned());
        }
    }
    Ok(texts)
}

/// The normal appearance stream of an annotation, picking the current state (`/AS`) when the
/// appearance has several.
fn appearance<'a>(
    doc: &'a Document,
    annotation: &'a Dictionary,
    state: Option<&[u8]>,
) -> Option<&'a lopdf::Stream> {
    let Object::Dictionary(ap) = filters::resolve(doc, annotation.get(b"AP").ok()?) else {
        return None;
    };
    match filters::resolve(doc, ap.get(b"N").ok()?) {
        Object::Stream(stream) => Some(stream),
        Object::Dictionary(states) => match filters::resolve(doc, states.get(state?).ok()?) {
            Object::Stream(stream) => Some(stream),
            _ => None,
        },
        _ => None,
    }
}
