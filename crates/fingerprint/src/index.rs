//! The fingerprint index: registered documents and the hashes of their winnowed k-grams.
//!
//! The index holds hashes only, never text. Each hash is a 64-bit mix of a polynomial hash of
//! `k` normalised characters and a per-index random seed, so hashes of two indexes cannot be
//! correlated and there is no precomputed table to look them up in. Someone holding the index
//! file *can* test a guessed 10-character string against it (the seed is in the file, as any
//! scanner needs it); that reveals only whether a guess appears in some registered document.
//!
//! Boilerplate is handled the way the measurements in the field notes suggest: a hash present
//! in `stop_df` or more registered documents (3 by default), or in the user's "common text", is
//! moved to a stop list and never counts towards a match.
//!
//! Besides the winnowed fingerprints, the index keeps each document's *anchors*
//! ([`crate::anchor`]): hashes of short byte windows at a few byte values, which let a scan skip
//! winnowing where no registered text can be. Anchors found in `stop_df` or more documents, or
//! in common text, are dropped the same way.
//!
//! # File format (version 2, little endian; every array starts at a multiple of 8 bytes,
//! after zero padding)
//! ```text
//! "MAMORIFP" | version u32 | k u32 | window u32 | stop_df u32 | seed u64
//! | document count u32 | per document: name str | level str | fingerprints u32
//! |                                    text_bytes u64 | added_unix u64
//! | posting count u64 | hashes u64 × n | document ids u32 × n     (sorted by hash, then id)
//! | stop count u64 | stop hashes u64 × m                           (sorted, distinct)
//! | anchor count u64 | hashes u64 × a | document ids u32 × a      (sorted by hash, then id)
//! | anchor stop count u64 | hashes u64 × s                         (sorted, distinct)
//! | anchor filter words u64 | bucket bits u32 | filter u64 × f | buckets u32 × (2^bits + 1)
//! | crc32 of everything before
//! ```
//! Version 1 (written before anchors existed) is the same without the anchor part; it is read
//! without anchors: its documents count as having none, so scans winnow everything as before
//! until they are removed and registered again.
//! Loading maps a large file and uses its arrays in place (a small one is read): a checksum
//! and a check of the arrays' order, no allocation per posting; the postings' lookup tables
//! are built when a scan first needs them.

use std::path::Path;

use crate::anchor::anchors_of;
use crate::codec::{self, Reader, Writer};
use crate::error::{Error, Result};
use crate::normalize::normalize_into;
use crate::section::{MappedFile, Section};
use crate::winnow::{WinnowParams, Winnower};

const MAGIC: &[u8; 8] = b"MAMORIFP";
const VERSION: u32 = 2;
/// The oldest file version still read.
const OLDEST_VERSION: u32 = 1;

/// Characters per k-gram. Ten normalised characters is a short Japanese phrase and two English
/// words; shorter k-grams made unrelated Japanese text share fingerprints (field notes, §8).
pub const DEFAULT_K: u32 = 10;
/// k-gram hashes per winnowing window. With k = 10 a window of 31 guarantees that any shared
/// run of 40 normalised characters is found and keeps about one hash per 16 characters; see
/// `docs/benchmarks.md` for the measurement behind it.
pub const DEFAULT_WINDOW: u32 = 31;
/// A hash present in this many registered documents is boilerplate and ignored.
pub const DEFAULT_STOP_DF: u32 = 3;
/// Distinct shared fingerprints (in runs that count, see [`MatchRule`]) needed to report a
/// registered document.
pub const DEFAULT_MIN_SHARED: u32 = 4;

/// Longest accepted document name or level, in bytes.
const MAX_NAME_BYTES: usize = 4096;

/// How an index is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexParams {
    /// Characters per k-gram.
    pub k: u32,
    /// k-gram hashes per window.
    pub window: u32,
    /// Document frequency at which a hash becomes boilerplate.
    pub stop_df: u32,
}

impl Default for IndexParams {
    fn default() -> IndexParams {
        IndexParams {
            k: DEFAULT_K,
            window: DEFAULT_WINDOW,
            stop_df: DEFAULT_STOP_DF,
        }
    }
}

/// A registered document, as the index knows it (no text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentInfo {
    /// The name it was registered under (unique in the index).
    pub name: String,
    /// Its classification level (a policy level id such as `gokuhi`).
    pub level: String,
    /// Fingerprints of the document that are not boilerplate.
    pub fingerprints: u32,
    /// Bytes of extracted text the fingerprints were taken from.
    pub text_bytes: u64,
    /// When it was registered, seconds since the Unix epoch.
    pub added_unix: u64,
}

/// Sizes of an index, for `mamori fingerprint stats`.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexStats {
    /// Registered documents.
    pub documents: usize,
    /// (hash, document) pairs.
    pub postings: usize,
    /// Distinct hashes ignored as boilerplate.
    pub stopped: usize,
    /// Bytes of extracted text registered.
    pub text_bytes: u64,
    /// Size of the index file as it would be written.
    pub file_bytes: u64,
    /// `file_bytes` per MB (10^6 bytes) of registered text.
    pub bytes_per_text_mb: f64,
    /// Characters per k-gram.
    pub k: u32,
    /// Window length.
    pub window: u32,
    /// Boilerplate document frequency.
    pub stop_df: u32,
    /// (anchor hash, document) pairs (see the module documentation).
    pub anchors: usize,
    /// Documents without any anchor: too short to hold one, or registered by a version
    /// before anchors. While there is one, scans winnow all text (the anchors could not lead
    /// to it); remove and register such documents again to speed scans up.
    pub documents_without_anchors: usize,
}

/// A document fingerprint index.
///
/// ```
/// use mamori_fingerprint::{FingerprintIndex, IndexParams};
///
/// let mut index = FingerprintIndex::with_seed(IndexParams::default(), 1);
/// let spec = "本設計書は次世代蓄電池モジュールの冷却構造について記述する。".repeat(3)
///     + "冷却板の流路は蛇行形状とし、入口温度二十五度で最大発熱四百ワットを想定する。"
///     + "筐体はアルミダイカスト製で、防水等級はIP67を目標とする。量産開始は来年度第三四半期。";
/// index.add_document("battery-spec", "gokuhi", &spec).unwrap();
/// index.commit();
///
/// let mail = format!("お疲れさまです。参考までに抜粋を送ります。\n{}\nよろしくお願いします。", &spec);
/// let hits = index.scan_text(&mail);
/// assert_eq!(hits[0].document.name, "battery-spec");
/// assert!(hits[0].containment > 0.9);
/// ```
#[derive(Clone)]
pub struct FingerprintIndex {
    winnow: WinnowParams,
    stop_df: u32,
    documents: Vec<DocumentInfo>,
    /// Posting hashes, sorted (ties by document id).
    hashes: Section<u64>,
    /// Document id of each posting.
    doc_ids: Section<u32>,
    /// Boilerplate hashes, sorted and distinct.
    stop: Section<u64>,
    /// The postings' lookup tables, built when first needed: a scan gated by anchors may
    /// never winnow, and building them is most of what loading a large index costs.
    tables: std::sync::OnceLock<PostingTables>,
    /// Postings and common-text hashes added since the last [`FingerprintIndex::commit`].
    pending: Vec<(u64, u32)>,
    pending_stop: Vec<u64>,
    /// Anchors of the registered documents (see [`crate::anchor`]).
    anchors: Anchors,
}

/// The anchors of an index: postings like the fingerprints', and what a scan looks them up
/// in.
#[derive(Clone, Default)]
struct Anchors {
    /// Registered documents with no anchor here (recounted whenever the anchors change):
    /// while there is one, a scan cannot rely on anchors and winnows everything.
    documents_without: usize,
    /// Anchor hashes, sorted (ties by document id), and the document of each.
    hashes: Section<u64>,
    doc_ids: Section<u32>,
    /// Boilerplate anchors, sorted and distinct.
    stop: Section<u64>,
    /// Top bits of a hash that pick its bucket ([`anchor_bucket_bits`]).
    bucket_bits: u32,
    /// `buckets[b]..buckets[b + 1]` is the range of `hashes` whose top `bucket_bits` bits are
    /// `b`:
    /// a lookup searches a few entries instead of a binary search over megabytes, each step
    /// a cache miss.
    buckets: Section<u32>,
    /// A bit filter over `hashes`, as for the fingerprints. Both tables are saved in the file
    /// (built at load they cost a third of the load of a large index: 2 MB of fresh pages
    /// and a million scattered writes).
    filter: Section<u64>,
    /// Added since the last commit.
    pending: Vec<(u64, u32)>,
    pending_stop: Vec<u64>,
}

impl std::fmt::Debug for FingerprintIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FingerprintIndex")
            .field("k", &self.winnow.k)
            .field("window", &self.winnow.window)
            .field("stop_df", &self.stop_df)
            .field("documents", &self.documents.len())
            .field("postings", &self.hashes.len())
            .field("stopped", &self.stop.len())
            .field("pending", &self.pending.len())
            .field("anchors", &self.anchors.hashes.len())
            .field("documents_without_anchors", &self.anchors.documents_without)
            .finish_non_exhaustive()
    }
}

/// One registered document found in scanned text.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentHit<'a> {
    /// The registered document.
    pub document: &'a DocumentInfo,
    /// Distinct fingerprints of the document found in the text.
    pub shared: u32,
    /// Share of the document's fingerprints found in the text.
    pub containment: f64,
    /// Share of the text's fingerprints (boilerplate excluded) that come from the document.
    pub coverage: f64,
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn check_label(field: &'static str, value: &str) -> Result<()> {
    let reason = if value.trim().is_empty() {
        "must not be empty"
    } else if value.len() > MAX_NAME_BYTES {
        "is too long"
    } else if value.chars().any(char::is_control) {
        "must not contain control characters"
    } else {
        return Ok(());
    };
    Err(Error::InvalidInput {
        field,
        reason: format!("{value:?} {reason}"),
    })
}

impl FingerprintIndex {
    /// An empty index with a fresh random seed.
    pub fn new(params: IndexParams) -> Result<FingerprintIndex> {
        let seed = u64::from_le_bytes(codec::random_bytes::<8>()?);
        Ok(FingerprintIndex::with_seed(params, seed))
    }

    /// An empty index with a chosen seed (tests and reproducible benchmarks).
    pub fn with_seed(params: IndexParams, seed: u64) -> FingerprintIndex {
        let mut index = FingerprintIndex {
            winnow: WinnowParams {
                k: params.k.clamp(1, 64),
                window: params.window.clamp(1, 1024),
                seed,
            },
            stop_df: params.stop_df.max(2),
            documents: Vec::new(),
            hashes: Section::default(),
            doc_ids: Section::default(),
            stop: Section::default(),
            tables: std::sync::OnceLock::new(),
            pending: Vec::new(),
            pending_stop: Vec::new(),
            anchors: Anchors::default(),
        };
        index.invalidate_tables();
        index
    }

    /// The winnowing parameters (including the seed).
    pub fn winnow_params(&self) -> WinnowParams {
        self.winnow
    }

    /// Registered documents, in registration order.
    pub fn documents(&self) -> &[DocumentInfo] {
        &self.documents
    }

    /// The distinct fingerprints of `text` (normalised here) under this index's parameters.
    pub fn fingerprints_of(&self, text: &str) -> Vec<u64> {
        let mut normalised = String::new();
        normalize_into(text, &mut normalised);
        let mut out = Vec::new();
        let mut winnower = Winnower::new(self.winnow);
        winnower.push_str(&normalised, &mut |h| out.push(h));
        winnower.finish(&mut |h| out.push(h));
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Registers the extracted text of a document and returns how many distinct fingerprints
    /// it has (before boilerplate is removed). Takes effect at the next
    /// [`FingerprintIndex::commit`] (which [`FingerprintIndex::save`] does).
    pub fn add_document(&mut self, name: &str, level: &str, text: &str) -> Result<u32> {
        check_label("name", name)?;
        check_label("level", level)?;
        if self.documents.iter().any(|d| d.name == name) {
            return Err(Error::DuplicateDocument(name.to_owned()));
        }
        let id = u32::try_from(self.documents.len()).map_err(|_| Error::InvalidInput {
            field: "name",
            reason: "too many documents in one index".into(),
        })?;
        let fps = self.fingerprints_of(text);
        self.pending.extend(fps.iter().map(|&h| (h, id)));
        let engine_text = mamori_inspect::normalize(text);
        let anchors = anchors_of(engine_text.as_str(), self.winnow.seed);
        self.anchors
            .pending
            .extend(anchors.into_iter().map(|h| (h, id)));
        self.documents.push(DocumentInfo {
            name: name.to_owned(),
            level: level.to_owned(),
            fingerprints: fps.len() as u32,
            text_bytes: text.len() as u64,
            added_unix: now_unix(),
        });
        Ok(fps.len() as u32)
    }

    /// Declares `text` common (letterheads, disclaimers, templates): its fingerprints never
    /// count towards a match. Takes effect at the next commit.
    pub fn add_common_text(&mut self, text: &str) -> usize {
        let fps = self.fingerprints_of(text);
        let n = fps.len();
        self.pending_stop.extend(fps);
        let engine_text = mamori_inspect::normalize(text);
        let anchors = anchors_of(engine_text.as_str(), self.winnow.seed);
        self.anchors.pending_stop.extend(anchors);
        n
    }

    /// Removes a registered document by name.
    pub fn remove_document(&mut self, name: &str) -> Result<DocumentInfo> {
        self.commit();
        let position = self
            .documents
            .iter()
            .position(|d| d.name == name)
            .ok_or_else(|| Error::NotFound(name.to_owned()))?;
        let removed = self.documents.remove(position);
        let id = position as u32;
        let (hashes, doc_ids) = without_document(&self.hashes, &self.doc_ids, id);
        self.hashes = hashes.into();
        self.doc_ids = doc_ids.into();
        self.anchors.remove_document(id, self.documents.len());
        self.invalidate_tables();
        Ok(removed)
    }

    /// Merges what was added since the last commit: sorts the postings, moves hashes found in
    /// `stop_df` or more documents (or in common text) to the stop list, and recounts each
    /// document's fingerprints.
    pub fn commit(&mut self) {
        if self.pending.is_empty()
            && self.pending_stop.is_empty()
            && self.anchors.pending.is_empty()
            && self.anchors.pending_stop.is_empty()
        {
            return;
        }
        let stop = merged_stop(std::mem::take(&mut self.stop), &mut self.pending_stop);
        let all = merged_postings(&self.hashes, &self.doc_ids, &mut self.pending);
        let family = document_families(&all, &stop, self.documents.len());
        let (hashes, doc_ids, stop) = split_boilerplate(&all, stop, &family, self.stop_df);
        self.stop = stop.into();
        self.hashes = hashes.into();
        self.doc_ids = doc_ids.into();
        for doc in &mut self.documents {
            doc.fingerprints = 0;
        }
        for &d in self.doc_ids.iter() {
            if let Some(doc) = self.documents.get_mut(d as usize) {
                doc.fingerprints += 1;
            }
        }
        self.anchors
            .merge(&family, self.stop_df, self.documents.len());
        self.invalidate_tables();
    }

    /// Drops the lookup tables after a change (they are rebuilt when next needed).
    fn invalidate_tables(&mut self) {
        self.tables = std::sync::OnceLock::new();
    }

    fn tables(&self) -> &PostingTables {
        self.tables.get_or_init(|| {
            let hashes: &[u64] = &self.hashes;
            let stop: &[u64] = &self.stop;
            let mut buckets = vec![0u32; (1 << 16) + 1];
            for &h in hashes {
                buckets[(h >> 48) as usize + 1] += 1;
            }
            for i in 1..buckets.len() {
                buckets[i] += buckets[i - 1];
            }
            let bits = ((hashes.len() + stop.len()) * 16)
                .next_power_of_two()
                .clamp(1 << 12, 1 << 30);
            let mut filter = vec![0u64; bits / 64];
            for &h in hashes.iter().chain(stop) {
                let (word, bits) = filter_probe(h, filter.len());
                filter[word] |= bits;
            }
            PostingTables { buckets, filter }
        })
    }

    /// False when `hash` is certainly neither registered nor boilerplate.
    #[inline]
    fn maybe_known(&self, hash: u64) -> bool {
        let filter = &self.tables().filter;
        let (word, bits) = filter_probe(hash, filter.len());
        filter[word] & bits == bits
    }

    /// Whether every registered document has its anchors, so that a scan may winnow only
    /// around registered anchors (see [`crate::anchor`]).
    pub(crate) fn anchors_complete(&self) -> bool {
        self.anchors.documents_without == 0
    }

    /// Whether `hash` is an anchor of a registered document (not boilerplate).
    #[inline]
    pub(crate) fn is_registered_anchor(&self, hash: u64) -> bool {
        self.anchors.maybe_contains(hash) && self.anchors.contains(hash)
    }

    /// Appends to `registered` the positions of `candidates` (position, hash) whose hash is a
    /// registered anchor, in order: [`FingerprintIndex::is_registered_anchor`] for many
    /// hashes at once. Each lookup is two dependent cache misses (a bucket, then its hashes);
    /// done one after another they cost about 230 ns each on the benchmark machine. Here each
    /// step is done for every candidate before the next, so that the loads of one step do
    /// not wait for one another.
    pub(crate) fn registered_anchors_among(
        &self,
        candidates: &[(usize, u64)],
        ranges: &mut Vec<(u32, u32)>,
        registered: &mut Vec<usize>,
    ) {
        self.anchors.contains_many(candidates, ranges, registered);
    }

    /// The bit filter of the registered anchors, for probing many hashes in a row (taken once:
    /// a mapped array costs a few checks each time it is viewed).
    #[inline]
    pub(crate) fn anchor_filter(&self) -> AnchorFilter<'_> {
        AnchorFilter(&self.anchors.filter)
    }

    /// Document ids registered under `hash` (empty for unknown or boilerplate hashes).
    #[inline]
    pub fn lookup(&self, hash: u64) -> &[u32] {
        let b = (hash >> 48) as usize;
        let buckets = &self.tables().buckets;
        let (lo, hi) = (buckets[b] as usize, buckets[b + 1] as usize);
        let slice = &self.hashes[lo..hi];
        let first = slice.partition_point(|&h| h < hash);
        let last = first + slice[first..].partition_point(|&h| h == hash);
        &self.doc_ids[lo + first..lo + last]
    }

    /// True when `hash` is boilerplate.
    #[inline]
    pub fn is_stopped(&self, hash: u64) -> bool {
        !self.stop.is_empty() && self.stop.binary_search(&hash).is_ok()
    }

    /// Registered documents found in `text` under the default [`MatchRule`], best first.
    /// Pending additions are not searched: commit first.
    pub fn scan_text(&self, text: &str) -> Vec<DocumentHit<'_>> {
        self.scan_text_with(text, MatchRule::default())
    }

    /// [`FingerprintIndex::scan_text`] under a chosen rule.
    pub fn scan_text_with(&self, text: &str, rule: MatchRule) -> Vec<DocumentHit<'_>> {
        let mut tally = Tally::new(self, rule);
        self.feed_tally(text, &mut tally);
        tally.hits(self)
    }

    /// Every run of consecutive matches (continued while matches start at most
    /// `gap_windows` windows apart with at most `max_skipped` unmatched fingerprints between) of every registered document in `text`, longest first per
    /// document: what a [`MatchRule`] decides on, for tuning it.
    pub fn scan_runs(&self, text: &str, gap_windows: u32, max_skipped: u32) -> Vec<Run> {
        let mut tally = Tally::recording(self, gap_windows, max_skipped);
        self.feed_tally(text, &mut tally);
        tally.into_runs()
    }

    fn feed_tally(&self, text: &str, tally: &mut Tally) {
        let mut winnower = Winnower::new(self.winnow);
        let mut normalised = String::new();
        normalize_into(text, &mut normalised);
        winnower.push_str_at(&normalised, &mut |h, at| tally.record(self, h, at));
        winnower.finish_at(&mut |h, at| tally.record(self, h, at));
    }

    /// Sizes, for reports.
    pub fn stats(&self) -> IndexStats {
        let text_bytes: u64 = self.documents.iter().map(|d| d.text_bytes).sum();
        let file_bytes = self.encoded_len();
        IndexStats {
            documents: self.documents.len(),
            postings: self.hashes.len() + self.pending.len(),
            stopped: self.stop.len(),
            text_bytes,
            file_bytes,
            bytes_per_text_mb: if text_bytes == 0 {
                0.0
            } else {
                file_bytes as f64 / (text_bytes as f64 / 1e6)
            },
            k: self.winnow.k,
            window: self.winnow.window,
            stop_df: self.stop_df,
            anchors: self.anchors.hashes.len() + self.anchors.pending.len(),
            documents_without_anchors: self.anchors.documents_without,
        }
    }

    fn encoded_len(&self) -> u64 {
        let docs: u64 = self
            .documents
            .iter()
            .map(|d| 8 + d.name.len() as u64 + d.level.len() as u64 + 20)
            .sum();
        let postings = (self.hashes.len() + self.pending.len()) as u64;
        let anchors = (self.anchors.hashes.len() + self.anchors.pending.len()) as u64;
        // As `to_bytes` writes it: arrays start at multiples of 8 bytes.
        let align = |n: u64| n.div_ceil(8) * 8;
        let mut n = 12 + 20 + 4 + docs;
        n = align(n + 8) + postings * 12;
        n = align(n + 8) + self.stop.len() as u64 * 8;
        n = align(n + 8) + anchors * 12;
        n = align(n + 8) + self.anchors.stop.len() as u64 * 8;
        let anchor_buckets = (1u64 << anchor_bucket_bits(anchors as usize)) + 1;
        let anchor_filter = (anchors * 16).next_power_of_two().clamp(1 << 12, 1 << 30) / 64;
        n = align(n + 8 + 4) + anchor_filter * 8 + anchor_buckets * 4;
        n + 4
    }

    /// The index as file bytes (commits first).
    pub fn to_bytes(&mut self) -> Vec<u8> {
        self.commit();
        let mut w = Writer::new(MAGIC, VERSION);
        w.u32(self.winnow.k);
        w.u32(self.winnow.window);
        w.u32(self.stop_df);
        w.u64(self.winnow.seed);
        w.u32(self.documents.len() as u32);
        for d in &self.documents {
            w.str(&d.name);
            w.str(&d.level);
            w.u32(d.fingerprints);
            w.u64(d.text_bytes);
            w.u64(d.added_unix);
        }
        write_postings(&mut w, &self.hashes, &self.doc_ids, &self.stop);
        if self.anchors.buckets.is_empty() {
            // Read from a version 1 file: no tables yet.
            self.anchors.rebuild();
        }
        let anchors = &self.anchors;
        write_postings(&mut w, &anchors.hashes, &anchors.doc_ids, &anchors.stop);
        w.u64(anchors.filter.len() as u64);
        w.u32(anchors.bucket_bits);
        w.align(8);
        for &word in anchors.filter.iter() {
            w.u64(word);
        }
        for &b in anchors.buckets.iter() {
            w.u32(b);
        }
        w.finish()
    }

    /// Parses index file bytes; every inconsistency is an [`Error::Corrupt`] naming `path`.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<FingerprintIndex> {
        FingerprintIndex::parse(bytes, None, path, 1)
    }

    /// Parses with `threads` threads for the checks of the large arrays.
    fn parse(
        bytes: &[u8],
        mapped: Option<&std::sync::Arc<MappedFile>>,
        path: &Path,
        threads: usize,
    ) -> Result<FingerprintIndex> {
        codec::parse_file(
            bytes,
            mapped,
            path,
            MAGIC,
            OLDEST_VERSION..=VERSION,
            "fingerprint index",
            |r, version| Self::parse_body(r, version, threads),
        )
    }

    fn parse_body(
        r: &mut Reader<'_>,
        version: u32,
        threads: usize,
    ) -> codec::ReadResult<FingerprintIndex> {
        let k = r.u32()?;
        let window = r.u32()?;
        let stop_df = r.u32()?;
        let seed = r.u64()?;
        if !(1..=64).contains(&k) || !(1..=1024).contains(&window) || stop_df < 2 {
            return Err(format!(
                "parameters out of range (k {k}, window {window}, stop_df {stop_df})"
            ));
        }
        let doc_count = r.u32()?;
        // Each document takes at least 28 bytes: refuse absurd counts before allocating.
        let doc_count = r.check_room(u64::from(doc_count), 28, "document table")?;
        let mut documents = Vec::with_capacity(doc_count);
        let mut names = std::collections::HashSet::with_capacity(doc_count);
        for i in 0..doc_count {
            let name = r.str("document name")?;
            let level = r.str("document level")?;
            let fingerprints = r.u32()?;
            let text_bytes = r.u64()?;
            let added_unix = r.u64()?;
            if !names.insert(name.clone()) {
                return Err(format!("document {i}: duplicate name {name:?}"));
            }
            documents.push(DocumentInfo {
                name,
                level,
                fingerprints,
                text_bytes,
                added_unix,
            });
        }
        let (hashes, doc_ids, stop, counts) = read_postings(
            r,
            version >= 2,
            PostingNames::FINGERPRINTS,
            documents.len(),
            threads,
        )?;
        let anchors = if version >= 2 {
            Anchors::parse(r, documents.len(), threads)?
        } else {
            Anchors {
                documents_without: documents.len(),
                ..Anchors::default()
            }
        };
        r.expect_end()?;

        for (doc, count) in documents.iter().zip(counts) {
            if doc.fingerprints != count {
                return Err(format!(
                    "document {:?} claims {} fingerprints but has {count}",
                    doc.name, doc.fingerprints
                ));
            }
        }
        let mut index = FingerprintIndex {
            winnow: WinnowParams { k, window, seed },
            stop_df,
            documents,
            hashes,
            doc_ids,
            stop,
            tables: std::sync::OnceLock::new(),
            pending: Vec::new(),
            pending_stop: Vec::new(),
            anchors,
        };
        index.invalidate_tables();
        Ok(index)
    }

    /// Loads an index file. A large one is mapped and its arrays used in place (see
    /// the crate's `section` module); a small one, or one that cannot be mapped, is read.
    pub fn load(path: &Path) -> Result<FingerprintIndex> {
        FingerprintIndex::load_with_threads(path, 1)
    }

    /// [`FingerprintIndex::load`], checking the large arrays of the file with up to `threads`
    /// threads at once: for a caller about to scan on that many, which would otherwise wait
    /// for one thread to read the whole index.
    pub fn load_with_threads(path: &Path, threads: usize) -> Result<FingerprintIndex> {
        FingerprintIndex::load_mapping_from(path, 1 << 20, threads)
    }

    /// [`FingerprintIndex::load_with_threads`], mapping files of `map_from_bytes` or more.
    fn load_mapping_from(
        path: &Path,
        map_from_bytes: u64,
        threads: usize,
    ) -> Result<FingerprintIndex> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if len >= map_from_bytes
            && let Ok(mapped) = MappedFile::map(&file)
        {
            let mapped = std::sync::Arc::new(mapped);
            return FingerprintIndex::parse(mapped.bytes(), Some(&mapped), path, threads);
        }
        let bytes = codec::read_file(path)?;
        FingerprintIndex::parse(&bytes, None, path, threads)
    }

    /// Writes the index atomically (temporary file + rename, mode 0600), committing first.
    pub fn save(&mut self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes();
        codec::write_atomic(path, &bytes)
    }
}

/// How many of `documents` documents have no anchor in `doc_ids`.
fn documents_without_anchors(doc_ids: &[u32], documents: usize) -> usize {
    let mut has = vec![false; documents];
    for &d in doc_ids {
        if let Some(h) = has.get_mut(d as usize) {
            *h = true;
        }
    }
    has.iter().filter(|h| !**h).count()
}

/// How many top bits of an anchor hash pick its bucket: about eight anchors per bucket, at
/// most 16 bits (a table of 65,537 entries, 256 KiB), so that a small index stays small.
fn anchor_bucket_bits(anchors: usize) -> u32 {
    (anchors / 8).max(1).ilog2().min(16)
}

/// The range of the sorted anchor hashes that `hash` would be in: `buckets[b]..buckets[b + 1]`
/// for its bucket `b` (empty if the table has no such bucket).
#[inline]
fn bucket_range(buckets: &[u32], bits: u32, hash: u64) -> (u32, u32) {
    let b = anchor_bucket(hash, bits);
    match (buckets.get(b), buckets.get(b + 1)) {
        (Some(&lo), Some(&hi)) => (lo, hi),
        _ => (0, 0),
    }
}

/// The bucket of `hash` under `bits` top bits.
#[inline]
fn anchor_bucket(hash: u64, bits: u32) -> usize {
    hash.checked_shr(64 - bits).unwrap_or(0) as usize
}

/// What looking up a fingerprint needs besides the postings.
#[derive(Debug, Clone)]
struct PostingTables {
    /// `buckets[b]..buckets[b + 1]` is the range of postings whose hash has top 16 bits `b`.
    buckets: Vec<u32>,
    /// A one-probe bit filter over posting and stop hashes (low bits), about 16 bits per
    /// hash: most hashes of scanned text are in no registered document, and this answers them
    /// from a small array instead of two cache misses in the postings.
    filter: Vec<u64>,
}

impl Anchors {
    /// Merges the pending anchors as [`FingerprintIndex::commit`] does the fingerprints:
    /// anchors in `stop_df` or more document families, or in common text, are dropped.
    fn merge(&mut self, family: &[u32], stop_df: u32, documents: usize) {
        let stop = merged_stop(std::mem::take(&mut self.stop), &mut self.pending_stop);
        let all = merged_postings(&self.hashes, &self.doc_ids, &mut self.pending);
        let (hashes, doc_ids, stop) = split_boilerplate(&all, stop, family, stop_df);
        self.stop = stop.into();
        self.hashes = hashes.into();
        self.doc_ids = doc_ids.into();
        self.documents_without = documents_without_anchors(&self.doc_ids, documents);
        self.rebuild();
    }

    /// Drops the anchors of document `id` and renumbers the ones after it.
    fn remove_document(&mut self, id: u32, documents: usize) {
        let (hashes, doc_ids) = without_document(&self.hashes, &self.doc_ids, id);
        self.hashes = hashes.into();
        self.doc_ids = doc_ids.into();
        self.documents_without = documents_without_anchors(&self.doc_ids, documents);
        self.rebuild();
    }

    fn rebuild(&mut self) {
        let bits = (self.hashes.len() * 16)
            .next_power_of_two()
            .clamp(1 << 12, 1 << 30);
        let mut filter = vec![0u64; bits / 64];
        for &h in self.hashes.iter() {
            let (word, bits) = filter_probe(h, filter.len());
            filter[word] |= bits;
        }
        let bucket_bits = anchor_bucket_bits(self.hashes.len());
        let mut buckets = vec![0u32; (1 << bucket_bits) + 1];
        for &h in self.hashes.iter() {
            buckets[anchor_bucket(h, bucket_bits) + 1] += 1;
        }
        for i in 1..buckets.len() {
            buckets[i] += buckets[i - 1];
        }
        self.filter = filter.into();
        self.buckets = buckets.into();
        self.bucket_bits = bucket_bits;
    }

    /// False when `hash` is certainly not a registered anchor (one probe of the filter).
    #[inline]
    fn maybe_contains(&self, hash: u64) -> bool {
        AnchorFilter(&self.filter).may_contain(hash)
    }

    /// Whether `hash` is a registered anchor (after [`Anchors::maybe_contains`]).
    #[inline]
    fn contains(&self, hash: u64) -> bool {
        let (lo, hi) = bucket_range(&self.buckets, self.bucket_bits, hash);
        self.hashes[lo as usize..hi as usize]
            .binary_search(&hash)
            .is_ok()
    }

    /// [`FingerprintIndex::registered_anchors_among`]: the buckets' bounds of every candidate
    /// first, then the first line of every bucket prefetched, then the searches, whose lines
    /// are in cache by then.
    fn contains_many(
        &self,
        candidates: &[(usize, u64)],
        ranges: &mut Vec<(u32, u32)>,
        registered: &mut Vec<usize>,
    ) {
        let buckets: &[u32] = &self.buckets;
        let hashes: &[u64] = &self.hashes;
        ranges.clear();
        ranges.extend(
            candidates
                .iter()
                .map(|&(_, hash)| bucket_range(buckets, self.bucket_bits, hash)),
        );
        for &(lo, _) in ranges.iter() {
            if let Some(first) = hashes.get(lo as usize) {
                prefetch(first);
            }
        }
        for (&(position, hash), &(lo, hi)) in candidates.iter().zip(ranges.iter()) {
            if hashes[lo as usize..hi as usize]
                .binary_search(&hash)
                .is_ok()
            {
                registered.push(position);
            }
        }
    }

    /// Reads the anchor part of a version 2 file.
    fn parse(r: &mut Reader<'_>, documents: usize, threads: usize) -> codec::ReadResult<Anchors> {
        let (hashes, doc_ids, stop, counts) =
            read_postings(r, true, PostingNames::ANCHORS, documents, threads)?;
        let hash_at: &[u64] = &hashes;
        let words = r.u64()?;
        let bucket_bits = r.u32()?;
        r.align(8, "anchor filter")?;
        if bucket_bits != anchor_bucket_bits(hashes.len()) {
            return Err(format!(
                "anchor buckets of {bucket_bits} bits for {} anchors",
                hashes.len()
            ));
        }
        if !words.is_power_of_two() || words < 64 {
            return Err(format!(
                "anchor filter of {words} words (a power of two, at least 64)"
            ));
        }
        let filter = r.u64_section(words, "anchor filter")?;
        let buckets = r.u32_section((1 << bucket_bits) + 1, "anchor buckets")?;
        // The buckets slice `hashes`: they must rise from 0 to its length, and each hash must
        // lie in its own bucket, or a lookup would slice out of bounds or miss.
        let bounds: &[u32] = &buckets;
        if bounds.first() != Some(&0)
            || bounds.last().map(|&b| b as usize) != Some(hash_at.len())
            || bounds.windows(2).any(|w| w[0] > w[1])
        {
            return Err("anchor buckets do not cover the anchors in order".into());
        }
        // The hashes are sorted (checked by `read_postings`): a bucket whose first and last
        // hash are its own holds only its own.
        for (b, w) in bounds.windows(2).enumerate() {
            let own = |i: u32| anchor_bucket(hash_at[i as usize], bucket_bits) == b;
            if w[0] < w[1] && !(own(w[0]) && own(w[1] - 1)) {
                return Err(format!("anchor bucket {b} holds a hash of another bucket"));
            }
        }
        Ok(Anchors {
            documents_without: counts.iter().filter(|&&n| n == 0).count(),
            hashes,
            doc_ids,
            stop,
            filter,
            buckets,
            bucket_bits,
            ..Anchors::default()
        })
    }
}

/// What the parts of a stored posting list are called in error messages.
struct PostingNames {
    /// One entry ("posting").
    item: &'static str,
    /// The stop list.
    stop: &'static str,
}

impl PostingNames {
    const FINGERPRINTS: PostingNames = PostingNames {
        item: "posting",
        stop: "stop list",
    };
    const ANCHORS: PostingNames = PostingNames {
        item: "anchor",
        stop: "anchor stop list",
    };
}

// The fingerprints and the anchors are both kept as postings, (hash, document) pairs sorted by
// hash then document, with a stop list of boilerplate hashes; the functions below serve both.

/// The postings `hashes`/`doc_ids` with `pending` (emptied) added: sorted and distinct.
fn merged_postings(
    hashes: &[u64],
    doc_ids: &[u32],
    pending: &mut Vec<(u64, u32)>,
) -> Vec<(u64, u32)> {
    let mut all: Vec<(u64, u32)> = Vec::with_capacity(hashes.len() + pending.len());
    all.extend(hashes.iter().copied().zip(doc_ids.iter().copied()));
    all.append(pending);
    all.sort_unstable();
    all.dedup();
    all
}

/// `stop` with `pending` (emptied) added: sorted and distinct.
fn merged_stop(stop: Section<u64>, pending: &mut Vec<u64>) -> Vec<u64> {
    let mut stop = stop.into_vec();
    stop.append(pending);
    stop.sort_unstable();
    stop.dedup();
    stop
}

/// Splits sorted postings into the hashes kept (with their documents) and the stop list: a
/// hash already in `stop`, or held by `stop_df` or more document families (`family[d]` is the
/// family of document `d`), is boilerplate.
fn split_boilerplate(
    all: &[(u64, u32)],
    mut stop: Vec<u64>,
    family: &[u32],
    stop_df: u32,
) -> (Vec<u64>, Vec<u32>, Vec<u64>) {
    let mut hashes = Vec::with_capacity(all.len());
    let mut doc_ids = Vec::with_capacity(all.len());
    let mut new_stop = Vec::new();
    let mut families_seen: Vec<u32> = Vec::new();
    for group in all.chunk_by(|a, b| a.0 == b.0) {
        let hash = group[0].0;
        let boilerplate = group.len() as u32 >= stop_df && {
            families_seen.clear();
            families_seen.extend(
                group
                    .iter()
                    .map(|&(_, d)| family.get(d as usize).copied().unwrap_or(d)),
            );
            families_seen.sort_unstable();
            families_seen.dedup();
            families_seen.len() as u32 >= stop_df
        };
        if stop.binary_search(&hash).is_ok() {
            // already boilerplate
        } else if boilerplate {
            new_stop.push(hash);
        } else {
            for &(h, d) in group {
                hashes.push(h);
                doc_ids.push(d);
            }
        }
    }
    stop.extend(new_stop);
    stop.sort_unstable();
    stop.dedup();
    (hashes, doc_ids, stop)
}

/// The postings without document `id`, the documents after it renumbered.
fn without_document(hashes: &[u64], doc_ids: &[u32], id: u32) -> (Vec<u64>, Vec<u32>) {
    let mut kept_hashes = Vec::with_capacity(hashes.len());
    let mut kept_ids = Vec::with_capacity(doc_ids.len());
    for (&h, &d) in hashes.iter().zip(doc_ids) {
        if d != id {
            kept_hashes.push(h);
            kept_ids.push(if d > id { d - 1 } else { d });
        }
    }
    (kept_hashes, kept_ids)
}

/// Writes postings and their stop list (version 2: each array aligned to 8 bytes).
fn write_postings(w: &mut Writer, hashes: &[u64], doc_ids: &[u32], stop: &[u64]) {
    w.u64(hashes.len() as u64);
    w.bytes.reserve(hashes.len() * 12 + stop.len() * 8 + 32);
    w.align(8);
    for &h in hashes {
        w.u64(h);
    }
    for &d in doc_ids {
        w.u32(d);
    }
    w.u64(stop.len() as u64);
    w.align(8);
    for &h in stop {
        w.u64(h);
    }
}

/// Postings written by [`write_postings`] (without the alignment when not `aligned`: version
/// 1), checked: every document id below `documents`, entries sorted, the stop list sorted and
/// distinct. Also returns how many postings each document has.
#[allow(clippy::type_complexity)]
fn read_postings(
    r: &mut Reader<'_>,
    aligned: bool,
    names: PostingNames,
    documents: usize,
    threads: usize,
) -> codec::ReadResult<(Section<u64>, Section<u32>, Section<u64>, Vec<u32>)> {
    let PostingNames {
        item,
        stop: stop_name,
    } = names;
    let count = r.u64()?;
    if aligned {
        r.align(8, &format!("{item}s"))?;
    }
    r.check_room(count, 12, &format!("{item}s"))?;
    let hashes_at = r.position();
    let hashes = r.u64_section(count, &format!("{item} hashes"))?;
    let doc_ids = r.u32_section(count, &format!("{item} documents"))?;
    let ids_end = r.position();
    let stop_count = r.u64()?;
    if aligned {
        r.align(8, stop_name)?;
    }
    let stop = r.u64_section(stop_count, stop_name)?;
    let mut counts = vec![0u32; documents];
    // The arrays' bytes are added to the file's checksum as they are checked (on a
    // little-endian machine, where the values in memory are the bytes of the file).
    let mut checksums = cfg!(target_endian = "little")
        .then(|| [crc32fast::Hasher::new(), crc32fast::Hasher::new()]);
    let checked = check_postings(&hashes, &doc_ids, &mut counts, checksums.as_mut(), threads);
    if let Some([of_hashes, of_ids]) = &checksums
        && checked.is_ok()
    {
        let ids_at = hashes_at + 8 * hashes.len();
        r.checksum_region(hashes_at, ids_at, of_hashes);
        r.checksum_region(ids_at, ids_end, of_ids);
    }
    match checked {
        Ok(()) => {}
        Err(PostingFault::OutOfOrder(i)) => {
            return Err(format!("{item}s are not sorted at entry {i}"));
        }
        Err(PostingFault::UnknownDocument(i)) => {
            return Err(format!(
                "{item} {i} names document {}, which does not exist",
                doc_ids[i]
            ));
        }
    }
    if stop.windows(2).any(|w| w[0] >= w[1]) {
        return Err(format!("{stop_name} is not sorted"));
    }
    Ok((hashes, doc_ids, stop, counts))
}

/// The first thing wrong with a posting list, by entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PostingFault {
    /// Entry `i` is not strictly after the one before it (by hash, then document id).
    OutOfOrder(usize),
    /// Entry `i` names a document id of `counts.len()` or more.
    UnknownDocument(usize),
}

/// Checks the postings `(hashes[i], doc_ids[i])` (the same length) in one pass: each strictly
/// after the one before it, each document id below `counts.len()`; and adds each document's
/// postings to `counts`, and the arrays' bytes to `checksums` (one for each array) if given.
/// Returns the first entry that fails either check.
///
/// Loading a large index is mostly this: millions of entries, each read once. The order
/// and range checks run a block at a time without a branch per entry (entry by entry only
/// in a block that fails), compiled a second time for AVX2 where the CPU has it (the build
/// targets plain x86-64, whose SSE2 has no 64-bit compare: 2.3 ns an entry against ~0.5);
/// each block's documents are then counted, and its bytes hashed, while the block is in cache.
///
/// With `threads` above one and enough entries, the entries are cut into that many parts
/// checked at the same time, each with its own counts and checksums, added and combined in
/// order after: the same verdict, counts and checksums (a scan run on several threads waits
/// for the load before any of them starts).
fn check_postings(
    hashes: &[u64],
    doc_ids: &[u32],
    counts: &mut [u32],
    checksums: Option<&mut [crc32fast::Hasher; 2]>,
    threads: usize,
) -> Result<(), PostingFault> {
    /// Entries below which one thread checks everything (about a millisecond of work).
    const PARALLEL_FROM: usize = 1 << 18;
    let n = hashes.len().min(doc_ids.len());
    let parts = threads.clamp(1, 16);
    if parts == 1 || n < PARALLEL_FROM {
        return check_postings_part(hashes, doc_ids, 0..n, counts, checksums);
    }
    let with_checksums = checksums.is_some();
    let documents = counts.len();
    let bounds: Vec<usize> = (0..=parts).map(|p| n * p / parts).collect();
    let results: Vec<_> = std::thread::scope(|scope| {
        let workers: Vec<_> = bounds
            .windows(2)
            .map(|range| {
                let range = range[0]..range[1];
                scope.spawn(move || {
                    let mut counts = vec![0u32; documents];
                    let mut checksums = with_checksums
                        .then(|| [crc32fast::Hasher::new(), crc32fast::Hasher::new()]);
                    let result = check_postings_part(
                        hashes,
                        doc_ids,
                        range,
                        &mut counts,
                        checksums.as_mut(),
                    );
                    (result, counts, checksums)
                })
            })
            .collect();
        workers.into_iter().map(|worker| worker.join()).collect()
    });
    let mut combined = checksums;
    for result in results {
        let (result, part_counts, part_checksums) = match result {
            Ok(part) => part,
            // The parts index only what they checked first; a panic would be a bug, and is
            // passed on as it is.
            Err(panic) => std::panic::resume_unwind(panic),
        };
        // Parts in order, each reporting its first fault: the first one found is the
        // first of all.
        result?;
        for (total, part) in counts.iter_mut().zip(&part_counts) {
            *total += part;
        }
        if let (Some([of_hashes, of_ids]), Some([part_hashes, part_ids])) =
            (combined.as_deref_mut(), &part_checksums)
        {
            of_hashes.combine(part_hashes);
            of_ids.combine(part_ids);
        }
    }
    Ok(())
}

/// [`check_postings`] of the entries in `range` (each compared with the one before it, even
/// when that one is outside the range), on one thread.
fn check_postings_part(
    hashes: &[u64],
    doc_ids: &[u32],
    range: std::ops::Range<usize>,
    counts: &mut [u32],
    checksums: Option<&mut [crc32fast::Hasher; 2]>,
) -> Result<(), PostingFault> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[allow(unsafe_code)]
        // SAFETY: the function is compiled for AVX2, which this CPU has (checked just
        // above); its body is safe code (bounds-checked slices, no intrinsics).
        return unsafe { check_postings_avx2(hashes, doc_ids, range, counts, checksums) };
    }
    check_postings_blockwise(hashes, doc_ids, range, counts, checksums)
}

/// [`check_postings_blockwise`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn check_postings_avx2(
    hashes: &[u64],
    doc_ids: &[u32],
    range: std::ops::Range<usize>,
    counts: &mut [u32],
    checksums: Option<&mut [crc32fast::Hasher; 2]>,
) -> Result<(), PostingFault> {
    check_postings_blockwise(hashes, doc_ids, range, counts, checksums)
}

#[inline(always)]
fn check_postings_blockwise(
    hashes: &[u64],
    doc_ids: &[u32],
    range: std::ops::Range<usize>,
    counts: &mut [u32],
    mut checksums: Option<&mut [crc32fast::Hasher; 2]>,
) -> Result<(), PostingFault> {
    const BLOCK: usize = 1024;
    let n = range.end.min(hashes.len()).min(doc_ids.len());
    let first = range.start;
    let documents = counts.len() as u64;
    let fault = |i: usize| {
        let known = u64::from(doc_ids[i]) < documents;
        let in_order = i == 0 || {
            let (h0, h1) = (hashes[i - 1], hashes[i]);
            h0 < h1 || (h0 == h1 && doc_ids[i - 1] < doc_ids[i])
        };
        if !in_order {
            Some(PostingFault::OutOfOrder(i))
        } else if !known {
            Some(PostingFault::UnknownDocument(i))
        } else {
            None
        }
    };
    if first >= n {
        return Ok(());
    }
    // The range's first entry is checked on its own, against the entry before the range (if
    // any); the blocks compare every later entry with the one before it.
    if let Some(fault) = fault(first) {
        return Err(fault);
    }
    let mut start = first;
    while start < n {
        let end = (start + BLOCK).min(n);
        let compared_from = if start == first { first } else { start - 1 };
        let (h, d) = (&hashes[compared_from..end], &doc_ids[compared_from..end]);
        let mut bad = false;
        for ((&h0, &h1), (&d0, &d1)) in h.iter().zip(&h[1..]).zip(d.iter().zip(&d[1..])) {
            bad |= (h0 > h1) | ((h0 == h1) & (d0 >= d1)) | (u64::from(d1) >= documents);
        }
        if bad {
            // Some entry of the block fails: find the first.
            if let Some(fault) = (start..end).find_map(fault) {
                return Err(fault);
            }
        }
        for &d in &doc_ids[start..end] {
            counts[d as usize] += 1;
        }
        if let Some([of_hashes, of_ids]) = checksums.as_deref_mut() {
            of_hashes.update(bytemuck::cast_slice(&hashes[start..end]));
            of_ids.update(bytemuck::cast_slice(&doc_ids[start..end]));
        }
        start = end;
    }
    Ok(())
}

/// The bit filter of an index's registered anchors ([`FingerprintIndex::anchor_filter`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AnchorFilter<'a>(&'a [u64]);

impl AnchorFilter<'_> {
    /// False when `hash` is certainly not a registered anchor; true when it may be (then ask
    /// [`FingerprintIndex::is_registered_anchor`]). One probe of the filter.
    #[inline]
    pub(crate) fn may_contain(self, hash: u64) -> bool {
        if self.0.is_empty() {
            return false;
        }
        let (word, bits) = filter_probe(hash, self.0.len());
        self.0[word] & bits == bits
    }

    /// Asks the CPU to bring the filter words of `hashes` towards its caches, so that the
    /// probes that follow find them there.
    #[inline]
    pub(crate) fn prefetch(self, hashes: &[u64]) {
        if self.0.is_empty() {
            return;
        }
        for &hash in hashes {
            let (word, _) = filter_probe(hash, self.0.len());
            prefetch(&self.0[word]);
        }
    }
}

/// Asks the CPU to bring the cache line of `value` into its caches (a hint: nothing happens
/// where there is no such instruction).
#[inline(always)]
fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T1, _mm_prefetch};
        #[allow(unsafe_code)]
        // SAFETY: a prefetch reads nothing the program sees and never faults; the address is
        // that of a live reference anyway. SSE, which has it, is part of every x86-64.
        unsafe {
            _mm_prefetch::<_MM_HINT_T1>((value as *const T).cast::<i8>());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// Where `hash` lives in the bit filter of `words` 64-bit words (a power of two): one word
/// (low bits) and two bits in it (bits 32-43, independent of the word and of the top 16 bits
/// that pick a posting bucket). Two bits in one word cost no more memory traffic than one and
/// cut false positives, each a lookup in the postings, from about 6 % to about 1.5 % at 16
/// bits per hash.
#[inline]
fn filter_probe(hash: u64, words: usize) -> (usize, u64) {
    let word = (hash >> 6) as usize & (words - 1);
    let bits = (1u64 << ((hash >> 32) & 63)) | (1u64 << ((hash >> 38) & 63));
    (word, bits)
}

/// Groups of near-duplicate documents (versions, copies, translations kept in one file):
/// documents sharing at least half of the smaller one's fingerprints are one family. Document
/// frequency for the boilerplate rule counts families, not documents, so registering three
/// versions of one document does not turn the whole document into "boilerplate".
///
/// `postings` is sorted by hash. Only hashes held by at most [`FAMILY_GROUP_LIMIT`] documents
/// are used to find pairs (larger groups are boilerplate whatever the families are), which
/// keeps this linear in practice.
fn document_families(postings: &[(u64, u32)], stop: &[u64], documents: usize) -> Vec<u32> {
    let mut counts = vec![0u32; documents];
    let mut pairs: std::collections::HashMap<(u32, u32), u32> = std::collections::HashMap::new();
    let mut start = 0;
    while start < postings.len() {
        let hash = postings[start].0;
        let mut end = start + 1;
        while end < postings.len() && postings[end].0 == hash {
            end += 1;
        }
        if stop.binary_search(&hash).is_err() {
            let group = &postings[start..end];
            for &(_, d) in group {
                if let Some(c) = counts.get_mut(d as usize) {
                    *c += 1;
                }
            }
            if group.len() >= 2 && group.len() <= FAMILY_GROUP_LIMIT {
                for (i, &(_, a)) in group.iter().enumerate() {
                    for &(_, b) in &group[i + 1..] {
                        *pairs.entry((a, b)).or_default() += 1;
                    }
                }
            }
        }
        start = end;
    }
    let mut parent: Vec<u32> = (0..documents as u32).collect();
    fn root(parent: &mut [u32], mut x: u32) -> u32 {
        while parent[x as usize] != x {
            let up = parent[parent[x as usize] as usize];
            parent[x as usize] = up;
            x = up;
        }
        x
    }
    for (&(a, b), &shared) in &pairs {
        let (Some(&ca), Some(&cb)) = (counts.get(a as usize), counts.get(b as usize)) else {
            continue;
        };
        if shared * 2 >= ca.min(cb) && shared > 0 {
            let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
            if ra != rb {
                parent[ra.max(rb) as usize] = ra.min(rb);
            }
        }
    }
    (0..documents as u32)
        .map(|d| root(&mut parent, d))
        .collect()
}

/// Largest group of documents sharing one hash that is used to find near-duplicates.
const FAMILY_GROUP_LIMIT: usize = 64;

/// When shared fingerprints make a finding.
///
/// Copying produces *runs*: every fingerprint of a copied passage is a fingerprint of the
/// source, one after the other, over the whole length of the passage. Coincidences (a common
/// technical phrase, a standard sentence that two unrelated documents happen to contain)
/// produce isolated matches or short runs. A run of matches of one document counts only once
/// it *covers* `min_span` normalised characters, from the start of its first matched k-gram to
/// the end of its last one; a match continues a run when it starts at most `gap_windows`
/// winnowing windows after the previous match of the same document (one window is the most
/// two consecutive fingerprints of a text can be apart) with at most `max_skipped`
/// fingerprints of the text matching nothing in between (an edited word, a moved line break).
/// A copy matches fingerprint after fingerprint; unrelated texts sharing a few phrases match
/// here and there, and the phrases do not chain into a long run. A document is reported when the counted runs share
/// at least `min_shared` distinct fingerprints with it.
///
/// A run that holds every fingerprint of a short document counts whatever its span, so a
/// registered document shorter than `min_span` is still found when copied whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchRule {
    /// Normalised characters a run must cover before its matches count.
    pub min_span: u32,
    /// Matches a run must hold before they count (at most the document's fingerprints).
    pub min_run: u32,
    /// Largest distance between the starts of two consecutive matches of a run, in
    /// winnowing windows.
    pub gap_windows: u32,
    /// Fingerprints of the scanned text that match nothing (boilerplate aside) tolerated
    /// between two consecutive matches of a run.
    pub max_skipped: u32,
    /// Distinct fingerprints of a document in counted runs needed for a finding (a
    /// document with fewer fingerprints needs all of them, and at least 3).
    pub min_shared: u32,
    /// A document of which at least this percentage of fingerprints is found (at least
    /// `min_shared`) is reported whatever the runs: the whole document with its lines
    /// reordered or cut into short pieces, which break runs (0: off).
    pub min_containment_percent: u32,
}

/// Normalised characters a run of matches must cover: a copied paragraph is 200+ Japanese
/// characters or 50+ English words (about 230 normalised characters) and its run covers at
/// least 200 - 2 x 30 (a window lost at each end); what unrelated manual pages share is
/// shorter or breaks the run (measured in `docs/benchmarks.md`).
pub const DEFAULT_MIN_SPAN: u32 = 120;
/// See [`MatchRule::gap_windows`].
pub const DEFAULT_GAP_WINDOWS: u32 = 3;
/// See [`MatchRule::max_skipped`].
pub const DEFAULT_MAX_SKIPPED: u32 = 1;
/// See [`MatchRule::min_containment_percent`].
pub const DEFAULT_MIN_CONTAINMENT_PERCENT: u32 = 20;

impl Default for MatchRule {
    fn default() -> MatchRule {
        MatchRule {
            min_span: DEFAULT_MIN_SPAN,
            min_run: DEFAULT_MIN_RUN,
            gap_windows: DEFAULT_GAP_WINDOWS,
            max_skipped: DEFAULT_MAX_SKIPPED,
            min_shared: DEFAULT_MIN_SHARED,
            min_containment_percent: DEFAULT_MIN_CONTAINMENT_PERCENT,
        }
    }
}

impl MatchRule {
    /// The default rule with another `min_shared`.
    pub fn with_min_shared(min_shared: u32) -> MatchRule {
        MatchRule {
            min_shared,
            ..MatchRule::default()
        }
    }
}

/// One run of consecutive matches of a registered document in scanned text (see
/// [`MatchRule`]), as reported by [`FingerprintIndex::scan_runs`] for tuning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Index of the document in [`FingerprintIndex::documents`].
    pub document: u32,
    /// Normalised characters covered.
    pub span: u64,
    /// Matches in the run (with repeats).
    pub matches: u32,
    /// The matched hashes, in order.
    pub hashes: Vec<u64>,
}

/// Counts shared fingerprints per document while text streams past, under a [`MatchRule`].
#[derive(Debug)]
pub(crate) struct Tally {
    /// Fingerprints of the text that are not boilerplate (with repeats).
    pub(crate) total: u64,
    rule: MatchRule,
    /// `rule.gap_windows` in characters for this index.
    gap: u64,
    /// k of the index: a match at `start` covers `start..start + k`.
    k: u64,
    per_doc: std::collections::HashMap<u32, DocTally>,
    /// (document, hash) pairs already counted, to count each hash once per document.
    credited: std::collections::HashSet<(u32, u64)>,
    /// (document, hash) pairs matched, in runs or not.
    matched: std::collections::HashSet<(u32, u64)>,
    /// Every run, when recording for [`FingerprintIndex::scan_runs`].
    runs: Option<Vec<Run>>,
    /// Scratch for [`Tally::record_batch`].
    known: Vec<bool>,
}

/// Consecutive matches of one document needed before they count: copying gives runs of
/// matches, coincidental shared phrases give isolated ones (see `docs/benchmarks.md`).
pub const DEFAULT_MIN_RUN: u32 = 4;

#[derive(Debug, Default, Clone)]
struct DocTally {
    /// Distinct hashes counted.
    distinct: u32,
    /// Counted occurrences.
    occurrences: u64,
    /// Whether a run has started.
    started: bool,
    /// Start of the last match (normalised characters).
    last_start: u64,
    /// Ordinal of the last match among the text's fingerprints.
    last_ordinal: u64,
    /// Start of the current run's first match.
    run_start: u64,
    /// Matches in the current run.
    run: u32,
    /// The current run qualified: its matches count.
    counting: bool,
    /// Matches of the current run not counted yet (all of them, when recording runs).
    pending: Vec<u64>,
    /// Distinct hashes and occurrences matched, in runs or not.
    matched: u32,
    matched_occurrences: u64,
}

impl Tally {
    pub(crate) fn new(index: &FingerprintIndex, rule: MatchRule) -> Tally {
        let window = u64::from(index.winnow.window);
        Tally {
            total: 0,
            rule: MatchRule {
                min_run: rule.min_run.max(1),
                min_shared: rule.min_shared.max(1),
                gap_windows: rule.gap_windows.max(1),
                ..rule
            },
            gap: u64::from(rule.gap_windows.max(1)) * window,
            k: u64::from(index.winnow.k),
            per_doc: std::collections::HashMap::new(),
            credited: std::collections::HashSet::new(),
            matched: std::collections::HashSet::new(),
            runs: None,
            known: Vec::new(),
        }
    }

    /// A tally that records every run instead of deciding.
    fn recording(index: &FingerprintIndex, gap_windows: u32, max_skipped: u32) -> Tally {
        let mut tally = Tally::new(
            index,
            MatchRule {
                gap_windows,
                max_skipped,
                min_span: u32::MAX,
                min_run: u32::MAX,
                ..MatchRule::default()
            },
        );
        tally.runs = Some(Vec::new());
        tally
    }

    /// One fingerprint of the scanned text, whose k-gram starts at normalised character
    /// `start`.
    #[inline]
    pub(crate) fn record(&mut self, index: &FingerprintIndex, hash: u64, start: u64) {
        if index.maybe_known(hash) {
            self.record_known(index, hash, start);
        } else {
            self.total += 1;
        }
    }

    /// [`Tally::record`] for many fingerprints (hash, start), in order. Every hash is first
    /// tested against the index's bit filter in a pass where no test waits for another, so
    /// the processor overlaps the cache misses (the filter of a large index is megabytes and
    /// almost every hash of scanned text is in no document): a third of the scan's time
    /// went to waiting for them one by one.
    pub(crate) fn record_batch(&mut self, index: &FingerprintIndex, batch: &[(u64, u64)]) {
        let mut known = std::mem::take(&mut self.known);
        known.clear();
        known.extend(batch.iter().map(|&(hash, _)| index.maybe_known(hash)));
        for (&(hash, start), &maybe) in batch.iter().zip(&known) {
            if maybe {
                self.record_known(index, hash, start);
            } else {
                self.total += 1;
            }
        }
        self.known = known;
    }

    /// A fingerprint that may be in the index.
    fn record_known(&mut self, index: &FingerprintIndex, hash: u64, start: u64) {
        if index.is_stopped(hash) {
            return;
        }
        let ordinal = self.total;
        self.total += 1;
        for &d in index.lookup(hash) {
            let entry = self.per_doc.entry(d).or_default();
            let in_run = entry.started
                && start.saturating_sub(entry.last_start) <= self.gap
                && ordinal - entry.last_ordinal <= u64::from(self.rule.max_skipped) + 1;
            if !in_run {
                if let Some(runs) = self.runs.as_mut() {
                    close_run(runs, d, entry, self.k);
                }
                entry.started = true;
                entry.run = 0;
                entry.run_start = start;
                entry.counting = false;
                entry.pending.clear();
            }
            entry.last_start = start;
            entry.last_ordinal = ordinal;
            entry.run += 1;
            if self.runs.is_none() {
                if self.matched.insert((d, hash)) {
                    entry.matched += 1;
                }
                entry.matched_occurrences += 1;
            }
            if entry.counting {
                if self.credited.insert((d, hash)) {
                    entry.distinct += 1;
                }
                entry.occurrences += 1;
                continue;
            }
            entry.pending.push(hash);
            if self.runs.is_some() {
                continue;
            }
            let fingerprints = index
                .documents
                .get(d as usize)
                .map_or(1, |doc| doc.fingerprints.max(1));
            let span = start + self.k - entry.run_start;
            let qualifies = entry.run >= self.rule.min_run.min(fingerprints)
                && (span >= u64::from(self.rule.min_span) || entry.run >= fingerprints);
            if !qualifies {
                continue;
            }
            entry.counting = true;
            for h in entry.pending.drain(..) {
                if self.credited.insert((d, h)) {
                    entry.distinct += 1;
                }
                entry.occurrences += 1;
            }
        }
    }

    /// Every run seen, when recording.
    fn into_runs(mut self) -> Vec<Run> {
        let mut runs = self.runs.take().unwrap_or_default();
        for (&d, entry) in &mut self.per_doc {
            close_run(&mut runs, d, entry, self.k);
        }
        runs.sort_by(|a, b| (a.document, b.span).cmp(&(b.document, a.span)));
        runs
    }

    pub(crate) fn hits<'a>(&self, index: &'a FingerprintIndex) -> Vec<DocumentHit<'a>> {
        let min_shared = self.rule.min_shared;
        let mut hits: Vec<DocumentHit<'a>> = self
            .per_doc
            .iter()
            .filter_map(|(&d, tally)| {
                let document = index.documents.get(d as usize)?;
                // A document with fewer fingerprints than the threshold matches when all of
                // them (and at least 3) are present.
                let needed = min_shared.min(document.fingerprints.max(3));
                let percent = self.rule.min_containment_percent;
                let (shared, occurrences) = if percent > 0
                    && tally.matched >= needed
                    && u64::from(tally.matched) * 100
                        >= u64::from(percent) * u64::from(document.fingerprints)
                    && tally.matched > tally.distinct
                {
                    (tally.matched, tally.matched_occurrences)
                } else {
                    (tally.distinct, tally.occurrences)
                };
                if shared < needed || shared == 0 {
                    return None;
                }
                Some(DocumentHit {
                    document,
                    shared,
                    containment: f64::from(shared) / f64::from(document.fingerprints.max(1)),
                    coverage: occurrences as f64 / self.total.max(1) as f64,
                })
            })
            .collect();
        hits.sort_by(|a, b| {
            b.shared
                .cmp(&a.shared)
                .then_with(|| a.document.name.cmp(&b.document.name))
        });
        hits
    }
}

/// Moves the current run of `entry` (if any) to `runs`.
fn close_run(runs: &mut Vec<Run>, document: u32, entry: &mut DocTally, k: u64) {
    if entry.started && entry.run > 0 {
        runs.push(Run {
            document,
            span: entry.last_start + k - entry.run_start,
            matches: entry.run,
            hashes: std::mem::take(&mut entry.pending),
        });
    }
    entry.run = 0;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The blockwise check finds the same first bad entry as a test per entry, and counts
        /// as a plain loop does, in postings long enough to span several blocks (hashes from a
        /// small range, so that equal hashes with equal or falling document ids occur; ids
        /// up to one past the last document).
        #[test]
        fn posting_check_agrees_with_a_test_per_entry(
            mut postings in proptest::collection::vec((0u64..50, 0u32..5), 0..3000),
            sort in any::<bool>(),
            spoil in any::<prop::sample::Index>(),
            documents in 4usize..6,
        ) {
            if sort {
                postings.sort_unstable();
                postings.dedup();
                if postings.len() > 1 {
                    let i = spoil.index(postings.len() - 1) + 1;
                    postings[i] = postings[i - 1];
                }
            }
            let (hashes, doc_ids): (Vec<u64>, Vec<u32>) = postings.iter().copied().unzip();
            let expected = (0..postings.len()).find_map(|i| {
                if i > 0 && postings[i - 1] >= postings[i] {
                    Some(PostingFault::OutOfOrder(i))
                } else if postings[i].1 as usize >= documents {
                    Some(PostingFault::UnknownDocument(i))
                } else {
                    None
                }
            });
            let mut counts = vec![0u32; documents];
            let found = check_postings(&hashes, &doc_ids, &mut counts, None, 1);
            prop_assert_eq!(found.err(), expected);
            if expected.is_none() {
                let mut plain = vec![0u32; documents];
                for &d in &doc_ids {
                    plain[d as usize] += 1;
                }
                prop_assert_eq!(counts, plain);
            }
        }
    }

    /// A fault at either side of a block boundary (blocks are 1,024 entries) is found there:
    /// each block compares its first entry with the last one of the block before.
    #[test]
    fn posting_check_finds_faults_at_block_bounds() {
        let documents = 7;
        let postings: Vec<(u64, u32)> =
            (0..3000u64).map(|i| (10 + i / 2, (i % 2) as u32)).collect();
        let (hashes, doc_ids): (Vec<u64>, Vec<u32>) = postings.iter().copied().unzip();
        let check = |hashes: &[u64], doc_ids: &[u32]| {
            check_postings(hashes, doc_ids, &mut vec![0u32; documents], None, 1)
        };
        assert_eq!(check(&hashes, &doc_ids), Ok(()));
        for at in [1, 1023, 1024, 1025, 2047, 2048, 2049, 2999] {
            let mut falling = hashes.clone();
            falling[at] = falling[at - 1] - 1;
            assert_eq!(
                check(&falling, &doc_ids),
                Err(PostingFault::OutOfOrder(at)),
                "hash falls at {at}"
            );
            let mut repeated = doc_ids.clone();
            repeated[at] = repeated[at - 1];
            let mut same_hash = hashes.clone();
            same_hash[at] = same_hash[at - 1];
            assert_eq!(
                check(&same_hash, &repeated),
                Err(PostingFault::OutOfOrder(at)),
                "entry repeated at {at}"
            );
            let mut unknown = doc_ids.clone();
            unknown[at] = documents as u32;
            assert_eq!(
                check(&hashes, &unknown),
                Err(PostingFault::UnknownDocument(at)),
                "unknown document at {at}"
            );
        }
    }

    /// Cut into parts checked on several threads, a long posting list gets the verdict, the
    /// counts and the checksums of one thread: intact, and spoiled in the first part, at a
    /// boundary between parts, or in the last part.
    #[test]
    fn posting_check_on_several_threads_agrees_with_one() {
        let n = 700_000usize;
        let documents = 1000;
        let mut postings: Vec<(u64, u32)> = (0..n as u64)
            .map(|i| (crate::winnow::mix64(i) >> 20, (i % documents as u64) as u32))
            .collect();
        postings.sort_unstable();
        postings.dedup();
        let check = |postings: &[(u64, u32)], threads: usize| {
            let (hashes, doc_ids): (Vec<u64>, Vec<u32>) = postings.iter().copied().unzip();
            let mut counts = vec![0u32; documents];
            let mut checksums = [crc32fast::Hasher::new(), crc32fast::Hasher::new()];
            let verdict = check_postings(
                &hashes,
                &doc_ids,
                &mut counts,
                Some(&mut checksums),
                threads,
            );
            let [a, b] = checksums;
            (
                verdict,
                verdict
                    .is_ok()
                    .then(|| (counts, a.finalize(), b.finalize())),
            )
        };
        let one = check(&postings, 1);
        assert!(one.0.is_ok());
        assert_eq!(check(&postings, 3), one);
        assert_eq!(check(&postings, 2), one);
        let len = postings.len();
        for spoil in [10, len / 3, len / 2, len - 1] {
            let mut spoiled = postings.clone();
            spoiled[spoil] = spoiled[spoil - 1];
            let one = check(&spoiled, 1);
            assert_eq!(one.0, Err(PostingFault::OutOfOrder(spoil)));
            assert_eq!(check(&spoiled, 3), one, "spoiled at {spoil}");
            let mut unknown = postings.clone();
            unknown[spoil].1 = documents as u32;
            assert_eq!(
                check(&unknown, 3).0,
                Err(PostingFault::UnknownDocument(spoil))
            );
        }
    }

    fn para(seed: u64, chars: usize) -> String {
        // Deterministic pseudo-Japanese: kanji and hiragana drawn from a hash sequence.
        (0..chars as u64)
            .map(|i| {
                let x = crate::winnow::mix64(seed.wrapping_mul(1_000_003).wrapping_add(i));
                if x.is_multiple_of(3) {
                    char::from_u32(0x3042 + (x >> 8) as u32 % 80).unwrap()
                } else {
                    char::from_u32(0x4E00 + (x >> 8) as u32 % 3000).unwrap()
                }
            })
            .collect()
    }

    fn index_with(docs: &[(&str, String)]) -> FingerprintIndex {
        let mut index = FingerprintIndex::with_seed(IndexParams::default(), 99);
        for (name, text) in docs {
            index.add_document(name, "hi", text).unwrap();
        }
        index.commit();
        index
    }

    /// The batched lookup gives what one lookup per hash gives, in order, for registered
    /// anchors, hashes that pass the filter without being registered, and others.
    #[test]
    fn anchors_looked_up_together_are_those_looked_up_one_by_one() {
        let index = index_with(&[("a", para(1, 4000)), ("b", para(2, 4000))]);
        let registered: Vec<u64> = index.anchors.hashes.iter().copied().collect();
        assert!(registered.len() > 50, "{}", registered.len());
        let mut candidates: Vec<(usize, u64)> = Vec::new();
        for i in 0..20_000u64 {
            let hash = if i % 7 == 0 {
                registered[(i as usize / 7) % registered.len()]
            } else {
                crate::winnow::mix64(i ^ 0xABCD)
            };
            // What the scan hands over: hashes that passed the filter.
            if index.anchor_filter().may_contain(hash) {
                candidates.push((i as usize * 3, hash));
            }
        }
        let passed_unregistered = candidates
            .iter()
            .filter(|&&(_, h)| !index.is_registered_anchor(h))
            .count();
        assert!(
            passed_unregistered > 0,
            "no false positive of the filter to test"
        );
        let expected: Vec<usize> = candidates
            .iter()
            .filter(|&&(_, h)| index.is_registered_anchor(h))
            .map(|&(p, _)| p)
            .collect();
        let (mut ranges, mut found) = (Vec::new(), vec![7]);
        index.registered_anchors_among(&candidates, &mut ranges, &mut found);
        assert_eq!(found[0], 7, "appends");
        assert_eq!(found[1..], expected[..]);
        assert!(expected.len() >= 20_000 / 7);
    }

    #[test]
    fn a_mapped_index_reads_in_place_and_finds_the_same() {
        let doc = format!("{}\n\n{}", para(1, 400), para(2, 400));
        let mut index = index_with(&[("spec", doc.clone()), ("other", para(9, 1500))]);
        index.add_common_text(&para(3, 200));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("documents.idx");
        index.save(&path).unwrap();
        let mapped = FingerprintIndex::load_mapping_from(&path, 0, 1).unwrap();
        let read = FingerprintIndex::load_mapping_from(&path, u64::MAX, 1).unwrap();
        assert!(mapped.hashes.is_mapped() && mapped.doc_ids.is_mapped());
        assert!(mapped.anchors.hashes.is_mapped() && mapped.anchors.doc_ids.is_mapped());
        assert!(!read.hashes.is_mapped());
        assert_eq!(&*mapped.hashes, &*read.hashes);
        assert_eq!(&*mapped.anchors.hashes, &*read.anchors.hashes);
        let excerpt: String = doc.chars().skip(100).take(400).collect();
        let text = format!("前置き{excerpt}後書き");
        assert_eq!(mapped.scan_text(&text), read.scan_text(&text));
        assert_eq!(mapped.scan_text(&text)[0].document.name, "spec");
        // The gated scan, with the anchors' arrays and tables read in place.
        assert!(mapped.anchors.filter.is_mapped() && mapped.anchors.buckets.is_mapped());
        assert!(mapped.anchors_complete());
        let detector = crate::FingerprintDetector::new(mapped.clone());
        let mut scan = mamori_inspect::DocumentDetector::start(&detector);
        scan.feed(&format!("{}{text}{}", para(20, 20_000), para(21, 20_000)));
        let names: Vec<_> = scan
            .finish()
            .into_iter()
            .filter_map(|f| f.document.map(|d| d.document))
            .collect();
        assert_eq!(names, ["spec"]);
        // A mapped index can still be changed (its arrays are copied first) and saved.
        let mut changed = mapped;
        changed.add_document("third", "hi", &para(4, 600)).unwrap();
        changed.remove_document("other").unwrap();
        changed.save(&path).unwrap();
        let again = FingerprintIndex::load_mapping_from(&path, 0, 1).unwrap();
        let names: Vec<_> = again.documents().iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["spec", "third"]);
    }

    /// The file an index was saved as before anchors (version 1).
    fn version_1_bytes(index: &mut FingerprintIndex) -> Vec<u8> {
        index.commit();
        let mut w = Writer::new(MAGIC, 1);
        w.u32(index.winnow.k);
        w.u32(index.winnow.window);
        w.u32(index.stop_df);
        w.u64(index.winnow.seed);
        w.u32(index.documents.len() as u32);
        for d in &index.documents {
            w.str(&d.name);
            w.str(&d.level);
            w.u32(d.fingerprints);
            w.u64(d.text_bytes);
            w.u64(d.added_unix);
        }
        w.u64(index.hashes.len() as u64);
        index.hashes.iter().for_each(|&h| w.u64(h));
        index.doc_ids.iter().for_each(|&d| w.u32(d));
        w.u64(index.stop.len() as u64);
        index.stop.iter().for_each(|&h| w.u64(h));
        w.finish()
    }

    #[test]
    fn a_version_1_index_is_read_and_scanned_without_anchors() {
        let doc = para(1, 1200);
        let mut index = index_with(&[("spec", doc.clone()), ("other", para(9, 1500))]);
        let old =
            FingerprintIndex::from_bytes(&version_1_bytes(&mut index), Path::new("v1")).unwrap();
        assert!(!old.anchors_complete() && old.stats().anchors == 0);
        assert_eq!(old.stats().documents_without_anchors, 2);
        // Saved again as it is, it becomes a valid version 2 file, still without anchors.
        let resaved =
            FingerprintIndex::from_bytes(&old.clone().to_bytes(), Path::new("v2")).unwrap();
        assert!(!resaved.anchors_complete());
        assert_eq!(&*old.hashes, &*index.hashes);
        let excerpt: String = doc.chars().skip(300).take(300).collect();
        let detector = crate::FingerprintDetector::new(old.clone());
        let mut scan = mamori_inspect::DocumentDetector::start(&detector);
        scan.feed(&excerpt);
        assert_eq!(scan.finish().len(), 1);
        // Documents added later get anchors, but the old ones have none, so scans go on
        // winnowing everything until they are registered again.
        let mut old = old;
        old.add_document("new", "hi", &para(4, 600)).unwrap();
        let mut again = FingerprintIndex::from_bytes(&old.to_bytes(), Path::new("v2")).unwrap();
        assert!(!again.anchors_complete() && again.stats().anchors > 0);
        assert_eq!(again.stats().documents_without_anchors, 2);
        again.remove_document("spec").unwrap();
        again.remove_document("other").unwrap();
        again.add_document("spec", "hi", &doc).unwrap();
        let renewed = FingerprintIndex::from_bytes(&again.to_bytes(), Path::new("v2")).unwrap();
        assert!(renewed.anchors_complete());
        assert_eq!(renewed.stats().documents_without_anchors, 0);
    }

    #[test]
    fn finds_whole_document_and_paragraph_not_unrelated() {
        let doc = format!("{}\n\n{}\n\n{}", para(1, 400), para(2, 400), para(3, 400));
        let index = index_with(&[("spec", doc.clone()), ("other", para(9, 1500))]);
        let whole = index.scan_text(&doc);
        assert_eq!(whole.len(), 1);
        assert_eq!(whole[0].document.name, "spec");
        assert!(whole[0].containment > 0.99, "{:?}", whole[0]);
        assert!(whole[0].coverage > 0.99);

        let copied = format!("{}{}{}", para(50, 500), &para(2, 400)[..600], para(51, 500));
        let hits = index.scan_text(&copied);
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert!(
            hits[0].containment > 0.1 && hits[0].containment < 0.5,
            "{:?}",
            hits[0]
        );
        assert!(hits[0].coverage < 0.5);

        assert!(
            index
                .scan_text_with(&para(77, 5000), MatchRule::with_min_shared(1))
                .is_empty()
        );
    }

    /// What manual pages share by chance (a sentence or two of 80-90 characters) is not a
    /// finding; a copied paragraph of 200 characters is. Counting shared fingerprints alone
    /// (the rule before spans) flags some of the short passages.
    #[test]
    fn short_shared_passage_is_not_a_finding_but_a_paragraph_is() {
        let count_only = MatchRule {
            min_span: 0,
            max_skipped: 2,
            gap_windows: 1000,
            min_containment_percent: 0,
            ..MatchRule::default()
        };
        let mut flagged_by_count_only = 0;
        for seed in 0..12u64 {
            let doc = para(7000 + seed, 3000);
            let index = index_with(&[("doc", doc.clone()), ("other", para(7100 + seed, 2000))]);
            let chars: Vec<char> = doc.chars().collect();
            let from = 400 + (seed as usize * 137) % 2000;
            let passage: String = chars[from..from + 90].iter().collect();
            let paragraph: String = chars[from..from + 200].iter().collect();
            let host = |piece: &str| {
                format!(
                    "{}\n{piece}\n{}",
                    para(8000 + seed, 600),
                    para(8100 + seed, 600)
                )
            };
            let short = host(&passage);
            assert!(
                index.scan_text(&short).is_empty(),
                "seed {seed}: {:?}",
                index.scan_text(&short)
            );
            if !index.scan_text_with(&short, count_only).is_empty() {
                flagged_by_count_only += 1;
            }
            let hits = index.scan_text(&host(&paragraph));
            assert_eq!(hits.len(), 1, "seed {seed}");
            assert_eq!(hits[0].document.name, "doc");
        }
        assert!(
            flagged_by_count_only > 0,
            "the test text does not exercise the span rule"
        );
    }

    /// A whole document cut into short pieces scattered through other text (lines of a
    /// table between other rows, say) has no long run, and is found by its containment.
    #[test]
    fn whole_document_in_scattered_pieces_is_found() {
        let doc = para(9000, 3000);
        let index = index_with(&[("doc", doc.clone()), ("other", para(9001, 2000))]);
        let chars: Vec<char> = doc.chars().collect();
        let scattered: String = chars
            .chunks(60)
            .enumerate()
            .map(|(i, piece)| {
                format!(
                    "{}\n{}\n",
                    piece.iter().collect::<String>(),
                    para(9500 + i as u64, 70)
                )
            })
            .collect();
        let by_runs = MatchRule {
            min_containment_percent: 0,
            ..MatchRule::default()
        };
        assert!(index.scan_text_with(&scattered, by_runs).is_empty());
        let hits = index.scan_text(&scattered);
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert!(hits[0].containment >= 0.2, "{hits:?}");
    }

    #[test]
    fn runs_report_span_and_matches() {
        let doc = para(9100, 2000);
        let index = index_with(&[("doc", doc.clone())]);
        let chars: Vec<char> = doc.chars().collect();
        let copy: String = chars[500..800].iter().collect();
        let text = format!("{}{copy}{}", para(9101, 500), para(9102, 500));
        let runs = index.scan_runs(&text, DEFAULT_GAP_WINDOWS, DEFAULT_MAX_SKIPPED);
        let longest = &runs[0];
        assert_eq!(longest.document, 0);
        // 300 copied characters: at most a window (31) lost at each end.
        assert!(
            longest.span >= 300 - 2 * 31 && longest.span <= 300,
            "{runs:?}"
        );
        assert_eq!(longest.matches as usize, longest.hashes.len());
    }

    #[test]
    fn filter_has_no_false_negatives_and_few_false_positives() {
        let index = index_with(&[("a", para(1, 60_000)), ("b", para(2, 60_000))]);
        assert!(index.hashes.iter().all(|&h| index.maybe_known(h)));
        let probes = 100_000u64;
        let false_positives = (0..probes)
            .map(|i| crate::winnow::mix64(i ^ 0xABCD))
            .filter(|&h| index.maybe_known(h) && index.lookup(h).is_empty())
            .count();
        assert!(
            false_positives * 100 < probes as usize * 3,
            "{false_positives}"
        );
    }

    #[test]
    fn boilerplate_in_three_documents_is_ignored() {
        let disclaimer = para(1000, 300);
        let docs: Vec<(String, String)> = (0..4)
            .map(|i| (format!("d{i}"), format!("{}{}", para(i, 500), disclaimer)))
            .collect();
        let refs: Vec<(&str, String)> = docs.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
        let index = index_with(&refs);
        assert!(index.stats().stopped > 5);
        let letter = format!("{}{}", para(555, 500), disclaimer);
        assert!(
            index
                .scan_text_with(&letter, MatchRule::with_min_shared(1))
                .is_empty()
        );
    }

    #[test]
    fn versions_of_one_document_stay_detectable() {
        let body = para(3000, 900);
        let docs: Vec<(String, String)> = (0..4)
            .map(|i| (format!("v{i}"), format!("{body}{}", para(3100 + i, 60))))
            .collect();
        let refs: Vec<(&str, String)> = docs.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
        let index = index_with(&refs);
        let hits = index.scan_text(&body[..body.len() / 2]);
        assert_eq!(hits.len(), 4, "{hits:?}");
        assert!(hits.iter().all(|h| h.containment > 0.3), "{hits:?}");
    }

    #[test]
    fn short_document_with_few_fingerprints_is_found_whole() {
        // A document of exactly 3 fingerprints: fewer than the run length of 4.
        let probe = FingerprintIndex::with_seed(IndexParams::default(), 99);
        let short = (100..300)
            .map(|n| para(4000, n))
            .find(|t| probe.fingerprints_of(t).len() == 3)
            .unwrap();
        let index = index_with(&[("short", short.clone()), ("long", para(4001, 3000))]);
        assert_eq!(index.documents()[0].fingerprints, 3);
        let mail = format!("{}{short}{}", para(4002, 300), para(4003, 300));
        let hits = index.scan_text(&mail);
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(hits[0].document.name, "short");
    }

    #[test]
    fn common_text_is_ignored() {
        let header = para(2000, 300);
        let mut index = FingerprintIndex::with_seed(IndexParams::default(), 5);
        index
            .add_document("a", "hi", &format!("{header}{}", para(1, 500)))
            .unwrap();
        index.add_common_text(&header);
        index.commit();
        assert!(
            index
                .scan_text_with(
                    &format!("{header}{}", para(3, 500)),
                    MatchRule::with_min_shared(1)
                )
                .is_empty()
        );
        assert_eq!(index.scan_text(&para(1, 500)).len(), 1);
    }

    #[test]
    fn duplicate_and_bad_names_are_refused() {
        let mut index = FingerprintIndex::with_seed(IndexParams::default(), 5);
        index.add_document("a", "hi", "text").unwrap();
        assert!(matches!(
            index.add_document("a", "hi", "x"),
            Err(Error::DuplicateDocument(_))
        ));
        assert!(index.add_document("", "hi", "x").is_err());
        assert!(index.add_document("b", "a\nb", "x").is_err());
    }

    #[test]
    fn remove_renumbers_documents() {
        let mut index = index_with(&[
            ("a", para(1, 800)),
            ("b", para(2, 800)),
            ("c", para(3, 800)),
        ]);
        index.remove_document("a").unwrap();
        assert!(matches!(
            index.remove_document("zz"),
            Err(Error::NotFound(_))
        ));
        let hits = index.scan_text(&para(3, 800));
        assert_eq!(hits[0].document.name, "c");
        assert!(
            index
                .scan_text_with(&para(1, 800), MatchRule::with_min_shared(1))
                .is_empty()
        );
    }

    #[test]
    fn save_load_round_trip_and_corruption() {
        let mut index = index_with(&[("a", para(1, 800)), ("b", para(2, 800))]);
        let bytes = index.to_bytes();
        let path = Path::new("idx");
        let loaded = FingerprintIndex::from_bytes(&bytes, path).unwrap();
        assert_eq!(loaded.documents(), index.documents());
        assert_eq!(&*loaded.hashes, &*index.hashes);
        assert_eq!(loaded.stats().file_bytes, bytes.len() as u64);
        assert_eq!(loaded.scan_text(&para(2, 800))[0].document.name, "b");

        for cut in [0, 10, 20, bytes.len() / 2, bytes.len() - 1] {
            let err = FingerprintIndex::from_bytes(&bytes[..cut], path).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with("idx: not a valid fingerprint index"),
                "{err}"
            );
        }
        let mut flipped = bytes.clone();
        flipped[40] ^= 0x80;
        assert!(FingerprintIndex::from_bytes(&flipped, path).is_err());
        // Damage inside the posting arrays (hashed as they are checked, not in a pass of its
        // own) that leaves them in order: only the checksum can tell, and does, read or
        // mapped.
        let first = index.hashes[0].to_le_bytes();
        let at = bytes.windows(8).position(|w| w == first).unwrap();
        let ids = at + 8 * index.hashes.len();
        let dir = tempfile::tempdir().unwrap();
        for damaged in [
            at,
            at + 8 * (index.hashes.len() / 2),
            ids + 4 * (index.hashes.len() - 1),
        ] {
            let mut flipped = bytes.clone();
            // The low bit of a hash, or a last document id 1 <-> 0.
            flipped[damaged] ^= 1;
            let file = dir.path().join("damaged.idx");
            std::fs::write(&file, &flipped).unwrap();
            for err in [
                FingerprintIndex::from_bytes(&flipped, path).unwrap_err(),
                FingerprintIndex::load_mapping_from(&file, 0, 1).unwrap_err(),
            ] {
                assert!(err.to_string().contains("checksum mismatch"), "{err}");
            }
        }
        let mut newer = bytes.clone();
        newer[8] = 9;
        let body_len = newer.len() - 4;
        let crc = crc32fast::hash(&newer[..body_len]).to_le_bytes();
        newer[body_len..].copy_from_slice(&crc);
        assert!(matches!(
            FingerprintIndex::from_bytes(&newer, path),
            Err(Error::UnsupportedVersion { found: 9, .. })
        ));
    }

    /// Files with a valid checksum whose arrays break the format (only a crafted file can):
    /// each is refused with the reason.
    #[test]
    fn crafted_files_with_broken_arrays_are_refused() {
        let mut index = index_with(&[("a", para(1, 3000)), ("b", para(2, 3000))]);
        let bytes = index.to_bytes();
        let path = Path::new("idx");
        let resealed = |mut b: Vec<u8>| {
            let body = b.len() - 4;
            let crc = crc32fast::hash(&b[..body]).to_le_bytes();
            b[body..].copy_from_slice(&crc);
            FingerprintIndex::from_bytes(&b, path)
                .unwrap_err()
                .to_string()
        };
        // The postings start where the first hash is written.
        let first = index.hashes[0].to_le_bytes();
        let at = bytes.windows(8).position(|w| w == first).unwrap();
        let count = index.hashes.len();
        let mut swapped = bytes.clone();
        swapped.copy_within(at..at + 8, at + 8);
        swapped[at..at + 8].copy_from_slice(&index.hashes[1].to_le_bytes());
        assert!(resealed(swapped).contains("postings are not sorted at entry 1"));
        let ids = at + 8 * count;
        let mut unknown = bytes.clone();
        unknown[ids + 4 * (count - 1)..ids + 4 * count].copy_from_slice(&7u32.to_le_bytes());
        let reason = resealed(unknown);
        assert!(
            reason.contains(&format!("posting {} names document 7", count - 1)),
            "{reason}"
        );
        // The anchor buckets end the file: move the end of the first bucket that has hashes
        // one entry back, so that its last hash lands in the next bucket.
        let buckets = (1usize << anchor_bucket_bits(index.anchors.hashes.len())) + 1;
        let start = bytes.len() - 4 - 4 * buckets;
        let bound = |b: &[u8], i: usize| {
            u32::from_le_bytes(b[start + 4 * i..start + 4 * i + 4].try_into().unwrap())
        };
        let b = (0..buckets - 2)
            .find(|&i| bound(&bytes, i) + 1 < bound(&bytes, i + 1))
            .unwrap();
        let mut moved = bytes.clone();
        let shifted = (bound(&bytes, b + 1) - 1).to_le_bytes();
        moved[start + 4 * (b + 1)..start + 4 * (b + 2)].copy_from_slice(&shifted);
        let reason = resealed(moved);
        assert!(
            reason.contains("holds a hash of another bucket"),
            "{reason}"
        );
    }

    #[test]
    fn stats_report_size_per_megabyte() {
        let mut index = index_with(&[("a", para(1, 30_000))]);
        let stats = index.stats();
        assert_eq!(stats.file_bytes, index.to_bytes().len() as u64);
        assert!(stats.bytes_per_text_mb > 10_000.0 && stats.bytes_per_text_mb < 1_000_000.0);
    }
}
