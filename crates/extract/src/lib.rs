//! Text extraction for Mamori: bytes in, text parts out, with hard limits.
//!
//! SKELETON: the public API below is the contract the inspection engine builds on. The format
//! readers are being written; until then every input is read as UTF-8 text.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::io::{Read, Seek};
use std::time::Duration;

use mamori_model::{Location, Uninspectable};

/// Hard limits on what one input may cost. Hitting any of them yields an [`Uninspectable`]
/// with the matching reason, never a panic or a silent pass.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest input accepted, in bytes (top-level content; plain text is streamed past it).
    pub max_input_bytes: u64,
    /// Deepest container nesting (zip in zip in docx...).
    pub max_depth: usize,
    /// Most bytes expanded from all compressed members of one input together.
    pub max_expanded_bytes: u64,
    /// Largest expansion ratio of one compressed member (expanded / compressed).
    pub max_ratio: u64,
    /// Most archive entries in one input, all containers together.
    pub max_entries: usize,
    /// Time budget for one input.
    pub time_budget: Duration,
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
        }
    }
}

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
        let root = Location::root();
        sink.begin(&root);
        sink.text(&String::from_utf8_lossy(bytes));
        sink.end();
        Summary {
            content_type: "text/plain".into(),
            bytes_read: bytes.len() as u64,
            bytes_expanded: 0,
            parts: 1,
        }
    }

    /// Extracts the text of content read from `reader` (a file, usually), whose length is `len`.
    /// Plain text is streamed; other formats are read whole, up to [`Limits::max_input_bytes`].
    pub fn extract_reader(
        &self,
        reader: &mut dyn ReadSeek,
        len: u64,
        sink: &mut dyn TextSink,
    ) -> std::io::Result<Summary> {
        let mut bytes = Vec::with_capacity(len.min(self.limits.max_input_bytes) as usize);
        reader
            .take(self.limits.max_input_bytes)
            .read_to_end(&mut bytes)?;
        Ok(self.extract_bytes(&bytes, sink))
    }
}
