//! Mamori's inspection engine: bytes → extracted text → normalised text → findings.
//!
//! SKELETON: the public API below is the contract the binary, the agent and the gateways build
//! on. The normaliser and the detectors are being written.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::sync::Arc;

pub use mamori_extract::{Limits, ReadSeek};
use mamori_model::{Finding, Uninspectable};

/// A detector that needs a whole document rather than a window of text: document fingerprints
/// and exact data match plug in here. The engine calls [`DocumentDetector::start`] once per
/// inspected input and feeds the scan every part's *normalised* text.
pub trait DocumentDetector: Send + Sync + std::fmt::Debug {
    /// Begins one document.
    fn start(&self) -> Box<dyn DocumentScan>;
}

/// One document being scanned by a [`DocumentDetector`].
pub trait DocumentScan {
    /// More normalised text (NFKC, case-folded) of the document.
    fn feed(&mut self, normalised: &str);
    /// The document ended: what was found.
    fn finish(self: Box<Self>) -> Vec<Finding>;
}

/// The rules an [`Inspector`] applies: dictionaries, regexes, identifier detectors, context words.
#[derive(Debug, Clone, Default)]
pub struct Rules {}

impl Rules {
    /// The built-in rules: Japanese and English confidentiality labels, identifiers, secrets.
    pub fn builtin() -> Rules {
        Rules {}
    }
}

/// Errors building an [`Inspector`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {}

/// What inspecting one input found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The detected content type of the input.
    pub content_type: String,
    /// Findings, folded per detector, location and confidence.
    pub findings: Vec<Finding>,
    /// Parts that could not be inspected, and why.
    pub uninspectable: Vec<Uninspectable>,
    /// Bytes read from the input.
    pub bytes_read: u64,
}

/// Builds an [`Inspector`].
#[derive(Debug, Default)]
pub struct InspectorBuilder {
    rules: Rules,
    limits: Limits,
    raw_samples: bool,
    document_detectors: Vec<Arc<dyn DocumentDetector>>,
}

impl InspectorBuilder {
    /// A builder with the built-in rules and default limits.
    pub fn new() -> InspectorBuilder {
        InspectorBuilder {
            rules: Rules::builtin(),
            ..Default::default()
        }
    }
    /// Use these rules.
    pub fn rules(mut self, rules: Rules) -> Self {
        self.rules = rules;
        self
    }
    /// Use these limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
    /// Put the unmasked secret in samples (for investigators, never the default).
    pub fn raw_samples(mut self, yes: bool) -> Self {
        self.raw_samples = yes;
        self
    }
    /// Add a whole-document detector (fingerprints, exact data match).
    pub fn document_detector(mut self, detector: Arc<dyn DocumentDetector>) -> Self {
        self.document_detectors.push(detector);
        self
    }
    /// Compiles the rules.
    pub fn build(self) -> Result<Inspector, BuildError> {
        let _ = (self.rules, self.raw_samples, self.document_detectors);
        Ok(Inspector {
            extractor: mamori_extract::Extractor::new(self.limits),
        })
    }
}

/// The inspection engine. Cheap to share between threads behind an `Arc`.
#[derive(Debug)]
pub struct Inspector {
    extractor: mamori_extract::Extractor,
}

impl Inspector {
    /// Inspects in-memory content of any supported type.
    pub fn inspect_bytes(&self, bytes: &[u8]) -> Report {
        Report {
            content_type: "text/plain".into(),
            bytes_read: bytes.len() as u64,
            ..Default::default()
        }
    }

    /// Inspects content read from `reader` (a file, usually) of length `len`.
    pub fn inspect_reader(&self, reader: &mut dyn ReadSeek, len: u64) -> std::io::Result<Report> {
        let _ = &self.extractor;
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes)?;
        let _ = len;
        Ok(self.inspect_bytes(&bytes))
    }

    /// Inspects text that is already extracted (a mail body, a form field).
    pub fn inspect_text(&self, text: &str) -> Vec<Finding> {
        let _ = text;
        Vec::new()
    }
}
