//! Mamori's inspection engine: bytes → extracted text → normalised text → findings.
//!
//! An [`Inspector`] is built once from [`Rules`] (the built-in ones, optionally merged with rules
//! files) and shared between threads. It hands input to [`mamori_extract::Extractor`], receives
//! the text parts through the [`mamori_extract::TextSink`] trait, normalises each part (NFKC,
//! format characters dropped, CJK runs joined; see [`normalize()`]) and runs every detector:
//!
//! * **labels and keywords**: the Japanese and English confidentiality markings (`社外秘`, `極秘`,
//!   `㊙`, `Confidential`...) and user dictionaries, in one Aho-Corasick automaton;
//! * **identifiers** with check digits and context words: My Number, corporate and invoice
//!   numbers, payment cards, driver's licences, bank accounts, phone numbers, found from one scan
//!   for digit runs;
//! * **patterns**: credentials (AWS keys, private keys, tokens), e-mail addresses, passport and
//!   residence-card numbers, and user regexes;
//! * **document detectors** ([`DocumentDetector`]): fingerprints and exact data match plug in
//!   here and receive the normalised text of every part.
//!
//! Matches are folded into [`Finding`]s per detector, location and confidence, with a count, the
//! byte offsets of the first few matches in the *original* text of the part, and a masked sample.
//!
//! ```
//! use mamori_inspect::{InspectorBuilder, Rules};
//! use mamori_model::Confidence;
//!
//! let inspector = InspectorBuilder::new().rules(Rules::builtin()).build().unwrap();
//! let findings = inspector.inspect_text("【社 外 秘】 マイナンバー：１２３４－５６７８－９０１８");
//! let label = findings.iter().find(|f| f.detector == "label.shagaihi").unwrap();
//! assert_eq!(label.sample, "社外秘");
//! let my_number = findings.iter().find(|f| f.detector == "jp.my_number").unwrap();
//! assert_eq!(my_number.confidence, Confidence::High);
//! assert_eq!(my_number.sample, "1234-****-9018");
//!
//! // Rules files add dictionaries, regexes and context words.
//! let extra = Rules::from_toml(
//!     "[[dictionary]]\nid = \"keyword.sakura\"\nwords = [\"さくら計画\"]\n",
//!     "rules.toml",
//! )
//! .unwrap();
//! let inspector = InspectorBuilder::new().rules(Rules::builtin().merge(extra)).build().unwrap();
//! assert!(inspector.inspect_text("さくら計画の件").iter().any(|f| f.detector == "keyword.sakura"));
//! ```
// No unsafe code but two calls, each behind a run-time check that the CPU has AVX2, of the
// normaliser's block scans compiled for AVX2 (`normalize.rs`: `skip_plain_blocks`,
// `skip_quiet_blocks`); each says why it is sound where it is.
#![deny(unsafe_code)]
#![deny(missing_docs)]

mod builtin;
mod digits;
mod engine;
mod identifiers;
mod keywords;
mod mask;
pub mod normalize;
mod patterns;
mod rules;

use std::sync::Arc;

pub use mamori_extract::{Limits, ReadSeek};
use mamori_model::{Finding, Location, Uninspectable};

pub use crate::normalize::normalize;
pub use crate::rules::{DetectorInfo, ExampleFailure, ExampleReport, RuleIssue, Rules, RulesError};

use crate::engine::{Compiled, Engine, Session, WindowSizes};

/// A detector that needs a whole document rather than a window of text: document fingerprints
/// and exact data match plug in here. The engine calls [`DocumentDetector::start`] once per
/// inspected input and feeds the scan every part's *normalised* text.
pub trait DocumentDetector: Send + Sync + std::fmt::Debug {
    /// Begins one document.
    fn start(&self) -> Box<dyn DocumentScan>;
}

/// One document being scanned by a [`DocumentDetector`].
pub trait DocumentScan {
    /// More normalised text of the document ([`normalize`]: NFKC, format characters dropped;
    /// case is *not* folded, the detector folds what it compares). Each byte of a part is fed
    /// once, in order, in pieces of up to the engine's window (512 KiB).
    fn feed(&mut self, normalised: &str);
    /// The document ended: what was found.
    fn finish(self: Box<Self>) -> Vec<Finding>;
}

/// Errors building an [`Inspector`].
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Two detectors have the same id (a rules file reusing an id of another).
    #[error("{at}detector id {id:?} is defined twice / 検出器 ID {id:?} が重複しています")]
    DuplicateDetector {
        /// The id.
        id: String,
        /// `file:line:column: ` of the second definition, when it comes from a rules file.
        at: String,
    },
    /// Context words were added to a detector that does not exist.
    #[error("{at}context words for unknown detector {id:?} / 存在しない検出器 {id:?} への文脈語")]
    UnknownDetector {
        /// The id.
        id: String,
        /// `file:line:column: ` of the `[[context]]` entry, when it comes from a rules file.
        at: String,
    },
    /// A regex does not compile (rules files are checked when loaded; this covers rules built
    /// otherwise).
    #[error(
        "regex of detector {id:?} does not compile / 正規表現をコンパイルできません: {message}"
    )]
    Regex {
        /// The detector.
        id: String,
        /// The compiler's message.
        message: String,
    },
    /// A dictionary automaton could not be built (too large).
    #[error("keyword automaton could not be built / キーワード辞書を構築できません: {0}")]
    Automaton(String),
}

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

impl Report {
    /// True when nothing was found and everything could be inspected.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty() && self.uninspectable.is_empty()
    }
}

/// Builds an [`Inspector`].
#[derive(Debug, Default)]
pub struct InspectorBuilder {
    rules: Rules,
    limits: Limits,
    raw_samples: bool,
    document_detectors: Vec<Arc<dyn DocumentDetector>>,
    sizes: Option<WindowSizes>,
    reference: bool,
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
    /// Scans in windows of `window` bytes, keeping `carry` bytes of the previous window and
    /// reporting matches that end at least `lookahead` bytes before a window's end. For tests of
    /// the window logic; the defaults (512 KiB, 8 KiB, 4 KiB) suit everything else.
    #[doc(hidden)]
    pub fn window_sizes(mut self, window: usize, carry: usize, lookahead: usize) -> Self {
        let lookahead = lookahead.max(1);
        let carry = carry.max(lookahead + 1);
        self.sizes = Some(WindowSizes {
            window: window.max(carry + 4),
            lookahead,
            carry,
        });
        self
    }
    /// Turns the fast paths off (the anchor prefilter of the keyword automaton, the vectorised
    /// scans of the normaliser, the credential rules searched from their literals): the plain,
    /// slower passes give the reference findings that tests and the differential fuzz target
    /// `inspect_prefilter` compare the fast paths with. Findings are the same either way.
    #[doc(hidden)]
    pub fn reference_engine(mut self, yes: bool) -> Self {
        self.reference = yes;
        self
    }
    /// Compiles the rules.
    pub fn build(self) -> Result<Inspector, BuildError> {
        let compiled = Compiled::new(&self.rules, !self.reference)?;
        let detectors = self.rules.detectors().collect();
        Ok(Inspector {
            extractor: mamori_extract::Extractor::new(self.limits),
            engine: Engine {
                compiled,
                raw_samples: self.raw_samples,
                document_detectors: self.document_detectors,
                sizes: self.sizes.unwrap_or_default(),
                fast_paths: !self.reference,
            },
            detectors,
        })
    }
}

/// The inspection engine. Cheap to share between threads behind an `Arc`.
#[derive(Debug)]
pub struct Inspector {
    extractor: mamori_extract::Extractor,
    engine: Engine,
    detectors: Vec<DetectorInfo>,
}

impl Inspector {
    /// Inspects in-memory content of any supported type.
    pub fn inspect_bytes(&self, bytes: &[u8]) -> Report {
        let mut session = Session::new(&self.engine);
        let summary = self.extractor.extract_bytes(bytes, &mut session);
        let (findings, uninspectable) = session.finish();
        Report {
            content_type: summary.content_type,
            findings,
            uninspectable,
            bytes_read: summary.bytes_read,
        }
    }

    /// Inspects content read from `reader` (a file, usually) of length `len`.
    pub fn inspect_reader(&self, reader: &mut dyn ReadSeek, len: u64) -> std::io::Result<Report> {
        let mut session = Session::new(&self.engine);
        let summary = self.extractor.extract_reader(reader, len, &mut session)?;
        let (findings, uninspectable) = session.finish();
        Ok(Report {
            content_type: summary.content_type,
            findings,
            uninspectable,
            bytes_read: summary.bytes_read,
        })
    }

    /// Inspects text that is already extracted (a mail body, a form field).
    pub fn inspect_text(&self, text: &str) -> Vec<Finding> {
        self.inspect_parts(std::iter::once((Location::root(), text)))
    }

    /// Inspects several parts of already-extracted text, each with its location (the headers
    /// and body of a mail, the fields of a form), as one document.
    pub fn inspect_parts<'t>(
        &self,
        parts: impl IntoIterator<Item = (Location, &'t str)>,
    ) -> Vec<Finding> {
        use mamori_extract::TextSink;
        let mut session = Session::new(&self.engine);
        for (location, text) in parts {
            session.begin(&location);
            session.text(text);
            session.end();
        }
        session.finish().0
    }

    /// The detectors this inspector runs.
    pub fn detectors(&self) -> &[DetectorInfo] {
        &self.detectors
    }
}

#[cfg(test)]
mod tests;
