//! Document fingerprints and exact data match for Mamori.
//!
//! Labels and keywords miss the most common leak: paragraphs of a confidential document copied
//! into a new, unlabelled file, a DOCX saved as PDF, a customer table pasted into a mail. This
//! crate finds both kinds:
//!
//! * **Document fingerprints** ([`FingerprintIndex`], [`FingerprintDetector`]): registered
//!   documents are reduced to winnowed hashes of 10-character k-grams of their *normalised*
//!   text ([`normalize`]: NFKC, lower case, letters and digits only), so the same text in any
//!   format, reflowed, re-spaced or converted to full-width, yields the same fingerprints.
//!   Scanned text is reported with the registered document's name, level, and two ratios: how
//!   much of the document is present (containment) and how much of the text comes from it
//!   (coverage). Hashes found in several registered documents (near-duplicate versions count
//!   once) or in declared common text (letterheads, disclaimers) are ignored. A [`MatchRule`]
//!   decides: matches count within a *run* of consecutive matches of one document that covers
//!   120+ normalised characters (a copied paragraph does, what unrelated texts share by chance
//!   does not), or when 20 % of the document is found (the whole document, reordered). The
//!   defaults (k = 10, window 31, runs of 4 matches with at most one unmatched fingerprint
//!   between, 4 shared fingerprints) are measured in `docs/benchmarks.md`.
//! * **Exact data match** ([`EdmTable`], [`EdmDetector`]): each cell of a table of sensitive
//!   records is stored as a keyed hash; a record is reported when several distinct cells of the
//!   same row appear close together.
//!
//! Both detectors plug into the inspection engine through
//! [`mamori_inspect::DocumentDetector`]; [`FingerprintStore::load_detectors`] loads whatever a
//! data directory holds (`<data-dir>/fingerprints/`). Index and table files hold hashes only, never text,
//! are written atomically and are validated (checksum, bounds, ordering) when loaded.
//!
//! ```
//! use mamori_fingerprint::{FingerprintIndex, IndexParams};
//!
//! let design = "冷却板の流路は蛇行形状とし、入口温度二十五度で最大発熱四百ワットを想定する。\
//!     筐体はアルミダイカスト製で、防水等級はIP67を目標とする。量産開始は来年度第三四半期、\
//!     月産一万二千台、単価は四十ドル以下とし、熊本工場の第二ラインで組み立てる。";
//! let mut index = FingerprintIndex::new(IndexParams::default()).unwrap();
//! index.add_document("cooling-design", "gokuhi", design).unwrap();
//! index.commit();
//!
//! // Re-typed in full-width with other line breaks, inside an unrelated mail:
//! let pasted: String = design.chars().map(|c| match c {
//!     'A'..='Z' => char::from_u32(c as u32 + 0xFEE0).unwrap(),
//!     '、' => '\n',
//!     c => c,
//! }).collect();
//! let mail = format!("田中様\n\nいつもお世話になっております。\n{pasted}\nご確認ください。");
//! let hits = index.scan_text(&mail);
//! assert_eq!(hits[0].document.name, "cooling-design");
//! assert!(hits[0].containment > 0.9);
//! ```
// `unsafe` in four places, each with its reason beside it: mapping the index file
// (`section::MappedFile::map`), calling the AVX2 builds of the anchor search
// (`anchor::for_each_anchor_chunk`) and of the load-time posting check
// (`index::check_postings`) after checking that the CPU has AVX2, and the prefetch hint of
// the anchor filter (`index::prefetch`).
#![deny(unsafe_code)]
#![deny(missing_docs)]

mod anchor;
mod codec;
mod collect;
mod detector;
mod edm;
mod error;
mod index;
mod normalize;
mod section;
mod store;
mod winnow;

pub use collect::TextCollector;
pub use detector::{FINGERPRINT_DETECTOR, FingerprintDetector};
pub use edm::{
    DEFAULT_MIN_CELLS, DEFAULT_WINDOW as DEFAULT_EDM_WINDOW, EdmBuildReport, EdmDetector, EdmKey,
    EdmOptions, EdmTable, MAX_ANCHOR_ROWS, MAX_CELL_CHARS, MIN_CELL_CHARS, RecordHit,
};
pub use error::{Error, Result};
pub use index::{
    DEFAULT_GAP_WINDOWS, DEFAULT_K, DEFAULT_MAX_SKIPPED, DEFAULT_MIN_CONTAINMENT_PERCENT,
    DEFAULT_MIN_RUN, DEFAULT_MIN_SHARED, DEFAULT_MIN_SPAN, DEFAULT_STOP_DF, DEFAULT_WINDOW,
    DocumentHit, DocumentInfo, FingerprintIndex, IndexParams, IndexStats, MatchRule, Run,
};
pub use normalize::{normalize, normalize_into};
pub use store::FingerprintStore;
pub use winnow::{WinnowParams, Winnower, fingerprints};
