//! Collecting the extracted text of a document to register it.

use mamori_extract::TextSink;
use mamori_model::{Location, Uninspectable};

/// A [`TextSink`] that keeps the text of every part, parts separated by a line break, and
/// what could not be read. Fingerprints are taken from this text, so a document registered
/// as DOCX matches the same text later seen as PDF, mail or plain text.
///
/// ```
/// use mamori_extract::{Extractor, Limits};
/// use mamori_fingerprint::TextCollector;
///
/// let mut collector = TextCollector::new(1 << 20);
/// Extractor::new(Limits::default()).extract_bytes("社外秘の設計書".as_bytes(), &mut collector);
/// assert_eq!(collector.as_str(), "社外秘の設計書\n");
/// ```
#[derive(Debug, Default)]
pub struct TextCollector {
    text: String,
    limit: usize,
    truncated: bool,
    uninspectable: Vec<Uninspectable>,
}

impl TextCollector {
    /// A collector keeping at most `limit_bytes` of text (the rest is dropped and
    /// [`TextCollector::truncated`] says so).
    pub fn new(limit_bytes: usize) -> TextCollector {
        TextCollector {
            limit: limit_bytes,
            ..TextCollector::default()
        }
    }
    /// The collected text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
    /// The collected text, owned.
    pub fn into_text(self) -> String {
        self.text
    }
    /// True when text was dropped at the limit.
    pub fn truncated(&self) -> bool {
        self.truncated
    }
    /// Parts that could not be read.
    pub fn uninspectable(&self) -> &[Uninspectable] {
        &self.uninspectable
    }
}

impl TextSink for TextCollector {
    fn begin(&mut self, _location: &Location) {}

    fn text(&mut self, chunk: &str) {
        let room = self.limit.saturating_sub(self.text.len());
        if chunk.len() <= room {
            self.text.push_str(chunk);
        } else {
            let mut cut = room;
            while !chunk.is_char_boundary(cut) {
                cut -= 1;
            }
            self.text.push_str(&chunk[..cut]);
            self.truncated = true;
        }
    }

    fn end(&mut self) {
        if !self.truncated && self.text.len() < self.limit {
            self.text.push('\n');
        }
    }

    fn uninspectable(&mut self, uninspectable: Uninspectable) {
        self.uninspectable.push(uninspectable);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_on_a_character_boundary() {
        let mut c = TextCollector::new(7);
        c.begin(&Location::root());
        TextSink::text(&mut c, "あいうえ");
        c.end();
        assert_eq!(c.as_str(), "あい");
        assert!(c.truncated());
    }
}
