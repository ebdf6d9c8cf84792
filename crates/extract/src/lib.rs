//! Text extraction for Mamori: bytes in, text parts out, with hard limits.
//!
//! An [`Extractor`] detects what some content is from its bytes (never from a file name), reads
//! its text part by part into a [`TextSink`], and reports what it could not read as
//! [`Uninspectable`] values: encrypted members, zip bombs, nesting too deep, damaged files,
//! time running out. It never panics on bad input and never holds more than the configured
//! [`Limits`] allow.
//!
//! Formats: plain text in UTF-8, UTF-16, Shift_JIS/CP932, EUC-JP, ISO-2022-JP (detected;
//! streamed in chunks); HTML; RTF; CSV (as text); DOCX/XLSX/PPTX with every text-bearing part
//! (headers, footers, notes, comments, tracked deletions, hidden sheets, pivot caches,
//! properties, sensitivity labels, embedded objects); ODF; legacy `.xls`; mail (`.eml`, MIME,
//! attachments); zip, tar, gzip, nested. PDF is detected and handed to the `mamori-pdf` crate.
//!
//! ```
//! use mamori_extract::{Extractor, Limits, TextSink};
//! use mamori_model::{Location, Uninspectable};
//!
//! #[derive(Default)]
//! struct Collect { text: String, problems: Vec<Uninspectable> }
//! impl TextSink for Collect {
//!     fn begin(&mut self, _location: &Location) {}
//!     fn text(&mut self, chunk: &str) { self.text.push_str(chunk) }
//!     fn end(&mut self) { self.text.push('\n') }
//!     fn uninspectable(&mut self, u: Uninspectable) { self.problems.push(u) }
//! }
//!
//! let (shift_jis, _, _) = encoding_rs::SHIFT_JIS.encode("この資料は社外秘です。");
//! let mut sink = Collect::default();
//! let summary = Extractor::new(Limits::default()).extract_bytes(&shift_jis, &mut sink);
//! assert_eq!(summary.content_type, "text/plain; charset=Shift_JIS");
//! assert!(sink.text.contains("社外秘"));
//! assert!(sink.problems.is_empty());
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::io::{Read, Seek};
use std::time::Duration;

use mamori_model::{Location, Uninspectable, UninspectableReason};

pub mod detect;
pub mod limits;

mod archive;
mod html;
mod legacy;
mod mail;
mod odf;
mod ooxml;
mod pdf;
mod rtf;
mod run;
mod text;
mod xml;

pub use detect::ContentKind;

use detect::detect_prefix;
use run::{Halt, Run};

/// Hard limits on what one input may cost. Hitting any of them yields an [`Uninspectable`]
/// with the matching reason, never a panic or a silent pass.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest input accepted, in bytes (top-level content; plain text is streamed past it).
    pub max_input_bytes: u64,
    /// Deepest container nesting (zip in zip in docx...). Values above [`MAX_DEPTH_CEILING`]
    /// are treated as that ceiling, so a configuration cannot make extraction recurse without
    /// bound.
    pub max_depth: usize,
    /// Most bytes expanded from all compressed members of one input together.
    pub max_expanded_bytes: u64,
    /// Largest expansion ratio of one compressed member (expanded / compressed). Members that
    /// expand to less than [`limits::RATIO_GRACE_BYTES`] are exempt.
    pub max_ratio: u64,
    /// Most archive entries in one input, all containers together.
    pub max_entries: usize,
    /// Time budget for one input.
    pub time_budget: Duration,
    /// Most text sent to the sink from one input's structured content (documents, archives,
    /// mail). Plain text streamed from the input itself is not counted. This bounds
    /// amplification such as one shared string referenced by a million spreadsheet cells.
    pub max_text_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_input_bytes: 256 << 20,
            max_depth: 8,
            max_expanded_bytes: 256 << 20,
            max_ratio: 100,
            max_entries: 10_000,
            time_budget: Duration::from_secs(10),
            max_text_bytes: 256 << 20,
        }
    }
}

/// The deepest nesting [`Limits::max_depth`] can allow.
pub const MAX_DEPTH_CEILING: usize = 32;

/// Receives the text of an input, part by part.
///
/// A part is a unit of text with one [`Location`]: a plain-text file, a DOCX header, a sheet, a
/// PDF page, a MIME part, an archive member. Its text arrives as one or more chunks between
/// [`TextSink::begin`] and [`TextSink::end`]; chunks of one part are consecutive text (a long
/// plain-text file is streamed in chunks), so a word may be split across two chunks.
pub trait TextSink {
    /// A new part starts.
    fn begin(&mut self, location: &Location);
    /// More text of the current part.
    fn text(&mut self, chunk: &str);
    /// The current part ends.
    fn end(&mut self);
    /// Something could not be read; extraction goes on with the rest.
    fn uninspectable(&mut self, uninspectable: Uninspectable);
}

/// What extraction saw, besides the text it sent to the sink.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// The detected type of the top-level content (`text/plain; charset=Shift_JIS`,
    /// `application/vnd.openxmlformats-officedocument.wordprocessingml.document`, ...).
    pub content_type: String,
    /// Bytes read from the input.
    pub bytes_read: u64,
    /// Bytes expanded from compressed members.
    pub bytes_expanded: u64,
    /// Text parts sent to the sink.
    pub parts: u64,
}

/// Something a reader could seek in: a file or an in-memory buffer.
pub trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

/// Extracts text from content of any supported type, detected from its bytes.
#[derive(Debug, Clone, Default)]
pub struct Extractor {
    limits: Limits,
}

impl Extractor {
    /// An extractor with the given limits.
    pub fn new(limits: Limits) -> Extractor {
        Extractor { limits }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Extracts the text of in-memory content.
    pub fn extract_bytes(&self, bytes: &[u8], sink: &mut dyn TextSink) -> Summary {
        let mut run = Run::new(&self.limits, sink);
        let root = Location::root();
        // Plain UTF-8 text up to the sniff's sample size was validated by the sniff: it is
        // handed on as it is, not validated a second time (a tenth of an ICAP server's time on
        // 64 KiB uploads went to the two validations).
        let (kind, validated) = detect::detect_with_text(bytes);
        run.content_type = Some(kind.content_type());
        if bytes.len() as u64 > self.limits.max_input_bytes && !matches!(kind, ContentKind::Text(_))
        {
            run.report(&root, UninspectableReason::TooLarge);
        } else {
            let _ = dispatch_kind(&mut run, bytes, kind, &root, 0, Some(validated));
        }
        summary(run, bytes.len() as u64)
    }

    /// Extracts the text of content read from `reader` (a file, usually), whose length is `len`.
    /// Plain text is streamed; other formats are read whole, up to [`Limits::max_input_bytes`].
    pub fn extract_reader(
        &self,
        reader: &mut dyn ReadSeek,
        len: u64,
        sink: &mut dyn TextSink,
    ) -> std::io::Result<Summary> {
        let mut sample = Vec::with_capacity(text::SAMPLE_BYTES);
        (&mut *reader)
            .take(text::SAMPLE_BYTES as u64)
            .read_to_end(&mut sample)?;
        if sample.len() < text::SAMPLE_BYTES {
            return Ok(self.extract_bytes(&sample, sink));
        }
        let kind = detect_prefix(&sample);
        if let ContentKind::Text(encoding) = kind {
            let mut run = Run::new(&self.limits, sink);
            run.content_type = Some(kind.content_type());
            let root = Location::root();
            let mut whole = std::io::Cursor::new(&sample[..]).chain(reader);
            let read = stream_plain_text(&mut run, &mut whole, encoding, &root)?;
            return Ok(summary(run, read));
        }
        let max = self.limits.max_input_bytes;
        if len > max || sample.len() as u64 > max {
            let mut run = Run::new(&self.limits, sink);
            run.content_type = Some(kind.content_type());
            run.report(&Location::root(), UninspectableReason::TooLarge);
            return Ok(summary(run, sample.len() as u64));
        }
        let mut bytes = sample;
        bytes.reserve(
            usize::try_from(len.min(max))
                .unwrap_or(0)
                .saturating_sub(bytes.len()),
        );
        reader
            .take((max + 1).saturating_sub(bytes.len() as u64))
            .read_to_end(&mut bytes)?;
        if bytes.len() as u64 > max {
            // The file grew while being read.
            let mut run = Run::new(&self.limits, sink);
            run.content_type = Some(kind.content_type());
            run.report(&Location::root(), UninspectableReason::TooLarge);
            return Ok(summary(run, bytes.len() as u64));
        }
        Ok(self.extract_bytes(&bytes, sink))
    }
}

fn summary(run: Run<'_>, bytes_read: u64) -> Summary {
    Summary {
        content_type: run.content_type.unwrap_or_default(),
        bytes_read,
        bytes_expanded: run.expanded,
        parts: run.parts,
    }
}

/// Streams plain text from a reader as one part.
fn stream_plain_text(
    run: &mut Run<'_>,
    reader: &mut dyn Read,
    encoding: &'static encoding_rs::Encoding,
    location: &Location,
) -> std::io::Result<u64> {
    let deadline = run.deadline;
    let mut timed_out = false;
    run.stream_begin(location);
    let result = {
        let mut emit = |s: &str| run.stream_text(s);
        text::stream(reader, encoding, &mut emit, &mut || {
            timed_out = deadline.expired();
            !timed_out
        })
    };
    run.stream_end();
    if timed_out {
        let _ = run.halt(location, UninspectableReason::Timeout);
    }
    result
}

/// Extracts some content found at `location`, `depth` containers deep.
pub(crate) fn dispatch(
    run: &mut Run<'_>,
    bytes: &[u8],
    location: &Location,
    depth: usize,
) -> Result<(), Halt> {
    run.tick(location)?;
    let kind = detect::detect(bytes);
    dispatch_kind(run, bytes, kind, location, depth, None)
}

/// Extracts content found inside a container, skipping blobs already read in this input.
pub(crate) fn dispatch_inner(
    run: &mut Run<'_>,
    bytes: &[u8],
    location: &Location,
    depth: usize,
) -> Result<(), Halt> {
    if bytes.is_empty() || !run.first_sight(bytes) {
        return Ok(());
    }
    dispatch(run, bytes, location, depth)
}

/// `top` is `Some` for the input itself (not something found inside it), with the input as
/// text when the encoding sniff already validated all of it as UTF-8.
fn dispatch_kind(
    run: &mut Run<'_>,
    bytes: &[u8],
    kind: ContentKind,
    location: &Location,
    depth: usize,
    top: Option<Option<&str>>,
) -> Result<(), Halt> {
    if kind.is_container() && depth >= run.limits.max_depth.min(MAX_DEPTH_CEILING) {
        run.report(location, UninspectableReason::TooDeep);
        return Ok(());
    }
    match kind {
        ContentKind::Text(encoding) => {
            if let Some(validated) = top {
                // The input itself: streamed in chunks, not counted against the text limit.
                let deadline = run.deadline;
                let mut timed_out = false;
                run.stream_begin(location);
                {
                    let mut emit = |s: &str| run.stream_text(s);
                    let mut keep_going = || {
                        timed_out = deadline.expired();
                        !timed_out
                    };
                    match validated {
                        Some(text) => text::emit_chunks(text, &mut emit, &mut keep_going),
                        None => text::decode_chunks(bytes, encoding, &mut emit, &mut keep_going),
                    }
                }
                run.stream_end();
                if timed_out {
                    return Err(run.halt(location, UninspectableReason::Timeout));
                }
                Ok(())
            } else {
                let text = text::decode(bytes, encoding);
                run.emit(location, &text)
            }
        }
        ContentKind::Html(encoding) => {
            let text = html::html_bytes_to_text(bytes, encoding);
            run.emit(location, &text)
        }
        ContentKind::Rtf => rtf::extract(run, bytes, location),
        ContentKind::Mail => mail::extract(run, bytes, location, depth),
        ContentKind::Pdf => pdf::extract_pdf(run, bytes, location, depth),
        ContentKind::Zip
        | ContentKind::Docx
        | ContentKind::Xlsx
        | ContentKind::Pptx
        | ContentKind::Ooxml => archive::zip(run, bytes, location, depth),
        ContentKind::Odt | ContentKind::Ods | ContentKind::Odp | ContentKind::Odf => {
            archive::zip(run, bytes, location, depth)
        }
        ContentKind::Gzip => archive::gzip(run, bytes, location, depth),
        ContentKind::Tar => archive::tar(run, bytes, location, depth),
        ContentKind::EncryptedOffice => {
            run.report(location, UninspectableReason::Encrypted);
            Ok(())
        }
        ContentKind::Xls | ContentKind::Doc | ContentKind::Ppt | ContentKind::Cfb => {
            legacy::extract(run, bytes, location, depth)
        }
        ContentKind::UnsupportedArchive(mime) => {
            run.report(
                location,
                UninspectableReason::ParserFailure(format!("no reader for {mime}")),
            );
            Ok(())
        }
        ContentKind::Binary(_) | ContentKind::Unknown => {
            archive::appended_zip(run, bytes, location, depth)
        }
    }
}
