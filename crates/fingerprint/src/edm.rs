//! Exact data match (EDM): find records of a registered table of sensitive data in text.
//!
//! Each cell of the table (a customer's name, phone number, My Number...) is normalised like
//! fingerprint text (NFKC, lower case, letters and digits only, so `1234-5678-9018` and
//! `１２３４５６７８９０１８` are the same cell) and stored as a keyed 64-bit hash: SipHash-1-3
//! with a 128-bit secret key kept next to the tables (mode 0600). SipHash is a keyed
//! pseudo-random function built for short inputs; it is used rather than HMAC-SHA256 or keyed
//! BLAKE3 because scanning hashes every plausible cell of the text (all substrings of CJK runs
//! of the lengths seen at registration), tens of hashes per character, and SipHash is several
//! times faster on such short inputs. Without the key, the table file does not let anyone test
//! a guessed My Number or name; no plaintext is stored.
//!
//! A record is reported when at least `min_cells` (default 2) *distinct* cells of the *same*
//! row appear within `window` (default 300) normalised characters of each other. A common
//! value (a surname shared by many rows) is not enough on its own: it is one cell, and a value
//! found in more than [`MAX_ANCHOR_ROWS`] rows can confirm a record but not start one.
//!
//! # Candidate cells in scanned text
//! Japanese names appear without spaces (`山田太郎様`), so text is turned into a compact stream
//! of normalised characters with *cut points*: between any two CJK characters, where a
//! separator was dropped, and where the character class (digit, letter, CJK) changes. Every
//! substring between two cut points whose length is one of the cell lengths seen at
//! registration is hashed and looked up. Digit runs are cut only at their ends and separators,
//! so a 12-digit number is never found inside a 13-digit one.

use std::collections::BTreeMap;
use std::hash::Hasher as _;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use icu_normalizer::ComposingNormalizerBorrowed;
use mamori_inspect::{DocumentDetector, DocumentScan};
use mamori_model::{Category, Confidence, Finding};
use siphasher::sip::SipHasher13;

use crate::codec::{self, Reader, Writer};
use crate::error::{Error, Result};
use crate::normalize::normalize;

const MAGIC: &[u8; 8] = b"MAMORIED";
const VERSION: u32 = 1;

/// Cells of the same record needed for a finding, by default.
pub const DEFAULT_MIN_CELLS: u32 = 2;
/// How close (in normalised characters) the cells of one record must be, by default.
pub const DEFAULT_WINDOW: u32 = 300;
/// Shortest cell indexed, in normalised characters; shorter ones (a one-character gender,
/// `A`) would match everywhere.
pub const MIN_CELL_CHARS: usize = 2;
/// Longest cell indexed, in normalised characters; longer cells (free text) are skipped and
/// counted.
pub const MAX_CELL_CHARS: usize = 64;
/// A value present in more rows than this can confirm a record but not start one.
pub const MAX_ANCHOR_ROWS: usize = 256;
/// Most cell hits kept per scanned document (bounds memory on hostile input).
const MAX_HITS: usize = 1 << 20;
/// Most (anchor row, nearby cell) pairs examined per table and document.
const MAX_PAIRING_STEPS: u64 = 50_000_000;
/// Most columns in one table (column numbers are stored in a byte).
const MAX_COLUMNS: usize = 255;

/// The secret key of the EDM tables of one data directory.
#[derive(Clone, PartialEq, Eq)]
pub struct EdmKey([u8; 16]);

impl std::fmt::Debug for EdmKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EdmKey(..)")
    }
}

impl EdmKey {
    /// A fresh random key.
    pub fn generate() -> Result<EdmKey> {
        Ok(EdmKey(codec::random_bytes::<16>()?))
    }

    /// A key from its 16 bytes (tests).
    pub fn from_bytes(bytes: [u8; 16]) -> EdmKey {
        EdmKey(bytes)
    }

    /// Reads the key file, or creates it (mode 0600) with a fresh key if it does not exist.
    pub fn load_or_create(path: &Path) -> Result<EdmKey> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let bytes: [u8; 16] = bytes.try_into().map_err(|b: Vec<u8>| Error::Corrupt {
                    path: path.to_owned(),
                    what: "EDM key",
                    reason: format!("{} bytes instead of 16", b.len()),
                })?;
                Ok(EdmKey(bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = EdmKey::generate()?;
                codec::write_atomic(path, &key.0)?;
                Ok(key)
            }
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// Reads an existing key file.
    pub fn load(path: &Path) -> Result<EdmKey> {
        let bytes = codec::read_file(path)?;
        let bytes: [u8; 16] = bytes.try_into().map_err(|b: Vec<u8>| Error::Corrupt {
            path: path.to_owned(),
            what: "EDM key",
            reason: format!("{} bytes instead of 16", b.len()),
        })?;
        Ok(EdmKey(bytes))
    }

    #[inline]
    fn hash(&self, normalised_cell: &[u8]) -> u64 {
        let mut h = SipHasher13::new_with_key(&self.0);
        h.write(normalised_cell);
        h.finish()
    }

    /// Seed of the quick pre-filter hash (derived from the key, so the filter bits say
    /// nothing to someone without it).
    fn quick_seed(&self) -> u64 {
        self.hash(b"\0mamori edm quick filter")
    }

    /// A value stored in each table to recognise the key it was made with.
    fn check_value(&self) -> u64 {
        self.hash(b"\0mamori edm key check")
    }
}

/// How a table is registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdmOptions {
    /// Columns to index, by header name; `None` for all.
    pub columns: Option<Vec<String>>,
    /// Distinct cells of one record needed for a finding.
    pub min_cells: u32,
    /// How close the cells must be, in normalised characters.
    pub window: u32,
}

impl Default for EdmOptions {
    fn default() -> EdmOptions {
        EdmOptions {
            columns: None,
            min_cells: DEFAULT_MIN_CELLS,
            window: DEFAULT_WINDOW,
        }
    }
}

/// What registering a table did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EdmBuildReport {
    /// Data rows read (header excluded).
    pub rows: u64,
    /// Cells hashed.
    pub cells: u64,
    /// Cells skipped: empty, shorter than [`MIN_CELL_CHARS`] or longer than [`MAX_CELL_CHARS`]
    /// after normalisation.
    pub skipped_cells: u64,
}

/// A registered table of sensitive records, as keyed cell hashes.
#[derive(Clone)]
pub struct EdmTable {
    name: String,
    level: String,
    columns: Vec<String>,
    min_cells: u32,
    window: u32,
    rows: u32,
    /// Per class of a cell's first character (digit, letter, CJK): bit `L - 1` set when some
    /// cell starting with that class is `L` normalised characters long. Candidates in scanned
    /// text are only tried at these lengths (Japanese names are short even when addresses and
    /// mail addresses are long).
    length_masks: [u64; 3],
    key_check: u64,
    /// Entries sorted by (hash, row, column).
    hashes: Vec<u64>,
    row_ids: Vec<u32>,
    cols: Vec<u8>,
    /// Quick pre-filter over the cells (see [`quick_step`]), about 16 bits per cell.
    filter: Vec<u64>,
    buckets: Vec<u32>,
}

impl std::fmt::Debug for EdmTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdmTable")
            .field("name", &self.name)
            .field("level", &self.level)
            .field("columns", &self.columns)
            .field("rows", &self.rows)
            .field("cells", &self.hashes.len())
            .field("min_cells", &self.min_cells)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

/// One record of a table found in text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHit {
    /// Zero-based data row (the CSV line is `row + 2` with a header).
    pub row: u32,
    /// Names of the columns whose cells were found, in table order.
    pub columns: Vec<String>,
}

impl EdmTable {
    /// Registers a CSV table (first line: column names) read from `reader`. `path` names the
    /// file in errors.
    pub fn from_csv(
        reader: impl Read,
        path: &Path,
        name: &str,
        level: &str,
        key: &EdmKey,
        options: &EdmOptions,
    ) -> Result<(EdmTable, EdmBuildReport)> {
        check_name(name)?;
        if level.trim().is_empty() || level.chars().any(char::is_control) {
            return Err(Error::InvalidInput {
                field: "level",
                reason: format!("{level:?} is not a valid level"),
            });
        }
        if options.min_cells < 1 || options.min_cells > MAX_COLUMNS as u32 {
            return Err(Error::InvalidInput {
                field: "min-cells",
                reason: format!("{} is not between 1 and {MAX_COLUMNS}", options.min_cells),
            });
        }
        let csv_error = |line: u64, reason: String| Error::Csv {
            path: path.to_owned(),
            line,
            reason,
        };
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(reader);
        let headers: Vec<String> = csv
            .headers()
            .map_err(|e| csv_error(1, e.to_string()))?
            .iter()
            .map(|h| h.trim().trim_start_matches('\u{feff}').to_owned())
            .collect();
        if headers.is_empty() || headers.iter().all(String::is_empty) {
            return Err(csv_error(1, "no header line with column names".into()));
        }
        let selected: Vec<usize> = match &options.columns {
            None => (0..headers.len()).collect(),
            Some(wanted) => wanted
                .iter()
                .map(|w| {
                    headers
                        .iter()
                        .position(|h| h == w.trim())
                        .ok_or_else(|| Error::InvalidInput {
                            field: "columns",
                            reason: format!(
                                "no column {w:?} (the header has: {})",
                                headers.join(", ")
                            ),
                        })
                })
                .collect::<Result<_>>()?,
        };
        if selected.len() > MAX_COLUMNS {
            return Err(Error::InvalidInput {
                field: "columns",
                reason: format!(
                    "{} columns; at most {MAX_COLUMNS} are supported",
                    selected.len()
                ),
            });
        }
        if (selected.len() as u32) < options.min_cells {
            return Err(Error::InvalidInput {
                field: "min-cells",
                reason: format!(
                    "{} cells per record required but only {} columns indexed",
                    options.min_cells,
                    selected.len()
                ),
            });
        }
        let mut entries: Vec<(u64, u32, u8)> = Vec::new();
        let mut quick: Vec<u64> = Vec::new();
        let quick_seed = key.quick_seed();
        let mut report = EdmBuildReport::default();
        let mut length_masks = [0u64; 3];
        let mut record = csv::StringRecord::new();
        loop {
            match csv.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    let line = e.position().map(|p| p.line()).unwrap_or(0);
                    return Err(csv_error(line, e.to_string()));
                }
            }
            let row = u32::try_from(report.rows)
                .map_err(|_| csv_error(report.rows + 1, "more than 4 billion rows".into()))?;
            report.rows += 1;
            for (col, &field) in selected.iter().enumerate() {
                let Some(value) = record.get(field) else {
                    report.skipped_cells += 1;
                    continue;
                };
                let cell = normalize(value);
                let chars = cell.chars().count();
                if !(MIN_CELL_CHARS..=MAX_CELL_CHARS).contains(&chars) {
                    report.skipped_cells += 1;
                    continue;
                }
                let first = cell.chars().next().map_or(CharClass::Word, class_of);
                length_masks[first as usize] |= 1 << (chars - 1);
                entries.push((key.hash(cell.as_bytes()), row, col as u8));
                quick.push(quick_step(quick_seed, cell.as_bytes()));
                report.cells += 1;
            }
        }
        entries.sort_unstable();
        entries.dedup();
        let columns = selected.iter().map(|&i| headers[i].clone()).collect();
        let mut table = EdmTable {
            name: name.to_owned(),
            level: level.to_owned(),
            columns,
            min_cells: options.min_cells,
            window: options.window.max(1),
            rows: report.rows as u32,
            length_masks,
            key_check: key.check_value(),
            hashes: entries.iter().map(|e| e.0).collect(),
            row_ids: entries.iter().map(|e| e.1).collect(),
            cols: entries.iter().map(|e| e.2).collect(),
            filter: build_filter(quick.len(), quick.iter().copied()),
            buckets: Vec::new(),
        };
        table.rebuild_buckets();
        Ok((table, report))
    }

    fn rebuild_buckets(&mut self) {
        let mut buckets = vec![0u32; (1 << 16) + 1];
        for &h in &self.hashes {
            buckets[(h >> 48) as usize + 1] += 1;
        }
        for i in 1..buckets.len() {
            buckets[i] += buckets[i - 1];
        }
        self.buckets = buckets;
    }

    /// The table's name (detector id `edm.<name>`).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The classification level of the records.
    pub fn level(&self) -> &str {
        &self.level
    }
    /// Indexed column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }
    /// Data rows registered.
    pub fn rows(&self) -> u32 {
        self.rows
    }
    /// Cells stored.
    pub fn cells(&self) -> usize {
        self.hashes.len()
    }
    /// Distinct cells of one record needed for a finding.
    pub fn min_cells(&self) -> u32 {
        self.min_cells
    }
    /// Window in normalised characters.
    pub fn window(&self) -> u32 {
        self.window
    }
    /// Bytes the table takes in memory (about its file size).
    pub fn memory_bytes(&self) -> usize {
        self.hashes.len() * 13 + self.buckets.len() * 4 + self.filter.len() * 8
    }

    /// True when `key` is the key the table was made with.
    pub fn key_matches(&self, key: &EdmKey) -> bool {
        self.key_check == key.check_value()
    }

    /// Range of entries with this hash.
    #[inline]
    fn lookup(&self, hash: u64) -> (u32, u32) {
        let b = (hash >> 48) as usize;
        let (lo, hi) = (self.buckets[b] as usize, self.buckets[b + 1] as usize);
        let slice = &self.hashes[lo..hi];
        let first = slice.partition_point(|&h| h < hash);
        let last = first + slice[first..].partition_point(|&h| h == hash);
        ((lo + first) as u32, (lo + last) as u32)
    }

    /// Records of this table found in `text` (any text; normalised here).
    pub fn scan_text(&self, key: &EdmKey, text: &str) -> Vec<RecordHit> {
        let mut scan = TableScan::default();
        let mut stream = CompactStream::default();
        stream.fill(text);
        scan.collect(self, key, &stream, 0);
        scan.records(self)
    }

    /// The table as file bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new(MAGIC, VERSION);
        w.str(&self.name);
        w.str(&self.level);
        w.u32(self.columns.len() as u32);
        for c in &self.columns {
            w.str(c);
        }
        w.u32(self.min_cells);
        w.u32(self.window);
        w.u32(self.rows);
        for mask in self.length_masks {
            w.u64(mask);
        }
        w.u64(self.key_check);
        w.u64(self.hashes.len() as u64);
        w.bytes.reserve(self.hashes.len() * 13 + 4);
        for &h in &self.hashes {
            w.u64(h);
        }
        for &r in &self.row_ids {
            w.u32(r);
        }
        for &c in &self.cols {
            w.u8(c);
        }
        w.u64(self.filter.len() as u64);
        for &f in &self.filter {
            w.u64(f);
        }
        w.finish()
    }

    /// Parses table file bytes; every inconsistency is an [`Error::Corrupt`] naming `path`.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<EdmTable> {
        codec::parse_file(
            bytes,
            None,
            path,
            MAGIC,
            VERSION..=VERSION,
            "EDM table",
            |r, _| Self::parse_body(r),
        )
    }

    fn parse_body(r: &mut Reader<'_>) -> codec::ReadResult<EdmTable> {
        let name = r.str("table name")?;
        let level = r.str("table level")?;
        let column_count = r.u32()?;
        if column_count as usize > MAX_COLUMNS {
            return Err(format!("{column_count} columns (at most {MAX_COLUMNS})"));
        }
        let mut columns = Vec::with_capacity(column_count as usize);
        for _ in 0..column_count {
            columns.push(r.str("column name")?);
        }
        let min_cells = r.u32()?;
        let window = r.u32()?;
        let rows = r.u32()?;
        let length_masks = [r.u64()?, r.u64()?, r.u64()?];
        let key_check = r.u64()?;
        let count = r.u64()?;
        r.check_room(count, 13, "cells")?;
        let hashes = r.u64_array(count, "cell hashes")?;
        let row_ids = r.u32_array(count, "cell rows")?;
        let cols = r.u8_array(count, "cell columns")?;
        let filter_words = r.u64()?;
        let filter = r.u64_array(filter_words, "cell filter")?;
        r.expect_end()?;
        if filter.len() < 64 || !filter.len().is_power_of_two() {
            return Err(format!(
                "cell filter of {} words (a power of two >= 64 expected)",
                filter.len()
            ));
        }
        if min_cells == 0 || window == 0 {
            return Err(format!(
                "min_cells {min_cells} and window {window} must be positive"
            ));
        }
        for i in 0..hashes.len() {
            if row_ids[i] >= rows || u32::from(cols[i]) >= column_count {
                return Err(format!("cell {i} is outside the table"));
            }
            if i > 0
                && (hashes[i - 1], row_ids[i - 1], cols[i - 1]) >= (hashes[i], row_ids[i], cols[i])
            {
                return Err(format!("cells are not sorted at entry {i}"));
            }
        }
        let mut table = EdmTable {
            name,
            level,
            columns,
            min_cells,
            window,
            rows,
            length_masks,
            key_check,
            hashes,
            row_ids,
            cols,
            filter,
            buckets: Vec::new(),
        };
        table.rebuild_buckets();
        Ok(table)
    }

    /// Loads a table file.
    pub fn load(path: &Path) -> Result<EdmTable> {
        let bytes = codec::read_file(path)?;
        EdmTable::from_bytes(&bytes, path)
    }

    /// Writes the table atomically (mode 0600).
    pub fn save(&self, path: &Path) -> Result<()> {
        codec::write_atomic(path, &self.to_bytes())
    }
}

/// One step of the quick pre-filter hash (FNV-1a over bytes from a keyed seed): cheap enough
/// to extend a candidate cell character by character, so that the keyed SipHash runs only on
/// candidates the filter lets through.
#[inline]
fn quick_step(h: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(h, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[inline]
fn filter_bit(filter: &[u64], h: u64) -> bool {
    let mask = (filter.len() as u64 * 64) - 1;
    let bit = crate::winnow::mix64(h) & mask;
    filter[(bit >> 6) as usize] & (1 << (bit & 63)) != 0
}

fn build_filter(cells: usize, quick: impl Iterator<Item = u64>) -> Vec<u64> {
    let bits = (cells * 16).next_power_of_two().clamp(1 << 12, 1 << 31);
    let mut filter = vec![0u64; bits / 64];
    let mask = (bits - 1) as u64;
    for h in quick {
        let bit = crate::winnow::mix64(h) & mask;
        filter[(bit >> 6) as usize] |= 1 << (bit & 63);
    }
    filter
}

/// Table names become file names and detector ids: keep them simple.
pub(crate) fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput {
            field: "name",
            reason: format!("{name:?}: use 1-64 ASCII letters, digits, '-' or '_'"),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum CharClass {
    Digit = 0,
    Word = 1,
    Cjk = 2,
}

fn class_of(c: char) -> CharClass {
    if c.is_numeric() {
        CharClass::Digit
    } else if u32::from(c) >= 0x2E80 {
        CharClass::Cjk
    } else {
        CharClass::Word
    }
}

/// Normalised characters of a text with the cut points between them.
#[derive(Debug, Default)]
struct CompactStream {
    text: String,
    /// Byte offset of each character in `text`, plus the end.
    offsets: Vec<u32>,
    /// `cut[p]`: a cell may start or end before character `p` (`p == len` is the end).
    cut: Vec<bool>,
    /// Class of each character.
    class: Vec<CharClass>,
}

impl CompactStream {
    fn fill(&mut self, text: &str) {
        self.text.clear();
        self.offsets.clear();
        self.cut.clear();
        self.class.clear();
        let nfkc = if text.is_ascii() {
            std::borrow::Cow::Borrowed(text)
        } else {
            ComposingNormalizerBorrowed::new_nfkc().normalize(text)
        };
        let mut gap = true;
        let mut previous: Option<CharClass> = None;
        for c in nfkc.chars() {
            if !c.is_alphanumeric() {
                gap = true;
                continue;
            }
            let mut lower_buf = [char::default(); 3];
            let mut n = 0;
            if c.is_ascii() {
                lower_buf[0] = c.to_ascii_lowercase();
                n = 1;
            } else if crate::normalize::is_caseless_japanese_letter(c) {
                lower_buf[0] = c;
                n = 1;
            } else {
                for l in c.to_lowercase().filter(|l| l.is_alphanumeric()).take(3) {
                    lower_buf[n] = l;
                    n += 1;
                }
            }
            for &l in &lower_buf[..n] {
                let class = class_of(l);
                let cut = gap
                    || previous.is_none_or(|p| p != class || p == CharClass::Cjk)
                    || class == CharClass::Cjk;
                self.offsets.push(self.text.len() as u32);
                self.cut.push(cut);
                self.class.push(class);
                self.text.push(l);
                previous = Some(class);
                gap = false;
            }
        }
        self.offsets.push(self.text.len() as u32);
        self.cut.push(true);
    }

    fn chars(&self) -> usize {
        self.offsets.len() - 1
    }

    fn slice(&self, start: usize, end: usize) -> &[u8] {
        &self.text.as_bytes()[self.offsets[start] as usize..self.offsets[end] as usize]
    }
}

/// Cell hits of one table in one document.
#[derive(Debug, Default)]
struct TableScan {
    /// (position in normalised characters, entry range start, entry range end), by position.
    hits: Vec<(u64, u32, u32)>,
}

impl TableScan {
    fn collect(&mut self, table: &EdmTable, key: &EdmKey, stream: &CompactStream, base: u64) {
        let n = stream.chars();
        if table.length_masks.iter().all(|&m| m == 0) {
            return;
        }
        let seed = key.quick_seed();
        for start in 0..n {
            if !stream.cut[start] {
                continue;
            }
            let mask = table.length_masks[stream.class[start] as usize];
            if mask == 0 {
                continue;
            }
            let max_len = 64 - mask.leading_zeros() as usize;
            let mut quick = seed;
            for end in start + 1..=n.min(start + max_len) {
                quick = quick_step(quick, stream.slice(end - 1, end));
                let len = end - start;
                if mask & (1 << (len - 1)) == 0 || !stream.cut[end] {
                    continue;
                }
                if !filter_bit(&table.filter, quick) {
                    continue;
                }
                let (lo, hi) = table.lookup(key.hash(stream.slice(start, end)));
                if lo < hi && self.hits.len() < MAX_HITS {
                    self.hits.push((base + start as u64, lo, hi));
                }
            }
        }
    }

    fn records(&self, table: &EdmTable) -> Vec<RecordHit> {
        let window = u64::from(table.window);
        // row -> bit set of matched columns
        let mut matched: BTreeMap<u32, Vec<bool>> = BTreeMap::new();
        // Bounds the pairing work on hostile text full of registered values: past the budget,
        // what was found so far is reported.
        let mut budget = MAX_PAIRING_STEPS;
        'anchors: for (i, &(pos, lo, hi)) in self.hits.iter().enumerate() {
            if (hi - lo) as usize > MAX_ANCHOR_ROWS {
                continue;
            }
            let from = self.hits.partition_point(|h| h.0 + window < pos);
            let to = self.hits.partition_point(|h| h.0 <= pos + window);
            for entry in lo..hi {
                let row = table.row_ids[entry as usize];
                if matched.contains_key(&row) {
                    continue;
                }
                // Distinct hashes (values) of this row found near the anchor.
                let mut values: Vec<u64> = vec![table.hashes[entry as usize]];
                let mut columns = vec![false; table.columns.len()];
                columns[table.cols[entry as usize] as usize] = true;
                for (j, &(_, lo2, hi2)) in self.hits[from..to].iter().enumerate() {
                    if from + j == i {
                        continue;
                    }
                    if budget == 0 {
                        break 'anchors;
                    }
                    budget -= 1;
                    let range = lo2 as usize..hi2 as usize;
                    let rows = &table.row_ids[range.clone()];
                    let at = rows.partition_point(|&r| r < row);
                    if at < rows.len() && rows[at] == row {
                        let e = range.start + at;
                        let h = table.hashes[e];
                        if !values.contains(&h) {
                            values.push(h);
                        }
                        for k in e..range.end {
                            if table.row_ids[k] != row {
                                break;
                            }
                            columns[table.cols[k] as usize] = true;
                        }
                    }
                }
                if values.len() as u32 >= table.min_cells {
                    matched.insert(row, columns);
                }
            }
        }
        matched
            .into_iter()
            .map(|(row, columns)| RecordHit {
                row,
                columns: table
                    .columns
                    .iter()
                    .zip(columns)
                    .filter(|(_, hit)| *hit)
                    .map(|(name, _)| name.clone())
                    .collect(),
            })
            .collect()
    }
}

/// Reports records of registered tables found in inspected content (`edm.<table>`).
///
/// ```
/// use std::path::Path;
/// use mamori_fingerprint::{EdmDetector, EdmKey, EdmOptions, EdmTable};
/// use mamori_inspect::DocumentDetector;
///
/// let csv = "氏名,個人番号,電話\n山田太郎,123456789018,03-1234-5678\n佐藤花子,983205673214,06-9876-5432\n";
/// let key = EdmKey::from_bytes([7; 16]);
/// let (table, _) = EdmTable::from_csv(csv.as_bytes(), Path::new("staff.csv"), "staff", "hi",
///     &key, &EdmOptions::default()).unwrap();
/// let detector = EdmDetector::new(vec![table], key);
/// let mut scan = detector.start();
/// scan.feed("担当: 佐藤花子様 (個人番号 9832 0567 3214)");
/// let findings = scan.finish();
/// assert_eq!(findings[0].detector, "edm.staff");
/// assert_eq!(findings[0].count, 1);
/// ```
#[derive(Debug, Clone)]
pub struct EdmDetector {
    tables: Arc<Vec<EdmTable>>,
    key: EdmKey,
}

impl EdmDetector {
    /// A detector over these tables, all made with `key`.
    pub fn new(tables: Vec<EdmTable>, key: EdmKey) -> EdmDetector {
        EdmDetector {
            tables: Arc::new(tables),
            key,
        }
    }

    /// The tables searched.
    pub fn tables(&self) -> &[EdmTable] {
        &self.tables
    }
}

impl DocumentDetector for EdmDetector {
    fn start(&self) -> Box<dyn DocumentScan> {
        Box::new(EdmScan {
            tables: Arc::clone(&self.tables),
            key: self.key.clone(),
            scans: self.tables.iter().map(|_| TableScan::default()).collect(),
            stream: CompactStream::default(),
            position: 0,
        })
    }
}

#[derive(Debug)]
struct EdmScan {
    tables: Arc<Vec<EdmTable>>,
    key: EdmKey,
    scans: Vec<TableScan>,
    stream: CompactStream,
    /// Normalised characters fed so far.
    position: u64,
}

impl DocumentScan for EdmScan {
    fn feed(&mut self, normalised: &str) {
        self.stream.fill(normalised);
        for (table, scan) in self.tables.iter().zip(&mut self.scans) {
            scan.collect(table, &self.key, &self.stream, self.position);
        }
        // Keep chunks apart by more than any window so cells never pair across a gap that
        // does not exist, yet positions stay monotonic.
        self.position += self.stream.chars() as u64;
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        let mut findings = Vec::new();
        for (table, scan) in self.tables.iter().zip(&self.scans) {
            let records = scan.records(table);
            if records.is_empty() {
                continue;
            }
            let most = records.iter().map(|r| r.columns.len()).max().unwrap_or(0);
            let confidence = if most as u32 > table.min_cells || records.len() > 1 {
                Confidence::High
            } else {
                Confidence::Medium
            };
            let shown: Vec<String> = records
                .iter()
                .take(5)
                .map(|r| format!("{}: {}", r.row + 1, r.columns.join("+")))
                .collect();
            let mut finding = Finding::new(
                format!("edm.{}", table.name),
                Category::ExactData,
                confidence,
            )
            .with_sample(format!("行/rows {}", shown.join(", ")));
            finding.count = records.len() as u32;
            findings.push(finding);
        }
        findings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CSV: &str = "氏名,フリガナ,個人番号,電話番号,メール\n\
        山田太郎,ヤマダタロウ,123456789018,03-1234-5678,taro.yamada@example.jp\n\
        佐藤花子,サトウハナコ,983205673214,06-9876-5432,hanako@example.jp\n\
        佐藤一郎,サトウイチロウ,548836529885,045-111-2222,ichiro.sato@example.jp\n";

    fn table() -> (EdmTable, EdmKey) {
        let key = EdmKey::from_bytes([3; 16]);
        let (t, report) = EdmTable::from_csv(
            CSV.as_bytes(),
            Path::new("t.csv"),
            "customers",
            "hi",
            &key,
            &EdmOptions::default(),
        )
        .unwrap();
        assert_eq!(report.rows, 3);
        assert_eq!(report.cells, 15);
        (t, key)
    }

    #[test]
    fn name_and_number_of_one_row_match() {
        let (t, key) = table();
        let hits = t.scan_text(
            &key,
            "顧客の山田太郎さんのマイナンバーは１２３４－５６７８－９０１８です。",
        );
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].row, 0);
        assert_eq!(hits[0].columns, vec!["氏名", "個人番号"]);
    }

    #[test]
    fn cells_of_different_rows_do_not_match() {
        let (t, key) = table();
        assert!(t.scan_text(&key, "山田太郎さんと 983205673214").is_empty());
    }

    #[test]
    fn a_single_value_does_not_match_even_if_repeated() {
        let (t, key) = table();
        assert!(t.scan_text(&key, "佐藤花子 佐藤花子 佐藤花子").is_empty());
        assert!(t.scan_text(&key, "山田太郎").is_empty());
    }

    #[test]
    fn cells_too_far_apart_do_not_match() {
        let (t, key) = table();
        let filler = "あ".repeat(400);
        assert!(
            t.scan_text(&key, &format!("山田太郎{filler}03-1234-5678"))
                .is_empty()
        );
        assert_eq!(
            t.scan_text(&key, &format!("山田太郎{}03-1234-5678", &filler[..300]))
                .len(),
            1
        );
    }

    #[test]
    fn numbers_are_not_found_inside_longer_numbers() {
        let (t, key) = table();
        assert!(t.scan_text(&key, "山田太郎 91234567890185").is_empty());
        assert_eq!(t.scan_text(&key, "山田太郎 (1234 5678 9018)").len(), 1);
    }

    #[test]
    fn english_words_respect_word_boundaries() {
        let key = EdmKey::from_bytes([1; 16]);
        let csv = "name,email\nJohn Smith,js@example.com\n";
        let (t, _) = EdmTable::from_csv(
            csv.as_bytes(),
            Path::new("x"),
            "x",
            "hi",
            &key,
            &EdmOptions::default(),
        )
        .unwrap();
        assert_eq!(
            t.scan_text(&key, "Contact: JOHN  SMITH <js@example.com>")
                .len(),
            1
        );
        assert!(
            t.scan_text(&key, "Contact: Johnsmithers <js@example.comx>")
                .is_empty()
        );
    }

    #[test]
    fn selected_columns_and_errors() {
        let key = EdmKey::from_bytes([1; 16]);
        let opts = EdmOptions {
            columns: Some(vec!["氏名".into(), "個人番号".into()]),
            ..EdmOptions::default()
        };
        let (t, r) =
            EdmTable::from_csv(CSV.as_bytes(), Path::new("x"), "x", "hi", &key, &opts).unwrap();
        assert_eq!(r.cells, 6);
        assert_eq!(t.columns(), ["氏名", "個人番号"]);
        // The phone is not indexed: name + phone is one cell.
        assert!(t.scan_text(&key, "山田太郎 03-1234-5678").is_empty());

        let bad = EdmOptions {
            columns: Some(vec!["nope".into()]),
            ..EdmOptions::default()
        };
        let err =
            EdmTable::from_csv(CSV.as_bytes(), Path::new("x"), "x", "hi", &key, &bad).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        assert!(
            EdmTable::from_csv(
                CSV.as_bytes(),
                Path::new("x"),
                "a b",
                "hi",
                &key,
                &EdmOptions::default()
            )
            .is_err()
        );
        let err = EdmTable::from_csv(
            &b"a,b\n\xff\xfe,1\n"[..],
            Path::new("bad.csv"),
            "x",
            "hi",
            &key,
            &EdmOptions::default(),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("bad.csv: line"), "{err}");
    }

    #[test]
    fn save_load_round_trip_and_key_check() {
        let (t, key) = table();
        let bytes = t.to_bytes();
        let loaded = EdmTable::from_bytes(&bytes, Path::new("t.edm")).unwrap();
        assert!(loaded.key_matches(&key));
        assert!(!loaded.key_matches(&EdmKey::from_bytes([4; 16])));
        assert_eq!(loaded.scan_text(&key, "佐藤一郎 045-111-2222").len(), 1);
        // No plaintext in the file.
        let haystack = String::from_utf8_lossy(&bytes);
        assert!(!haystack.contains("山田") && !haystack.contains("123456789018"));
        for cut in [0, 12, bytes.len() / 2, bytes.len() - 1] {
            let err = EdmTable::from_bytes(&bytes[..cut], Path::new("t.edm")).unwrap_err();
            assert!(
                err.to_string().starts_with("t.edm: not a valid EDM table"),
                "{err}"
            );
        }
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("edm.key");
        let a = EdmKey::load_or_create(&path).unwrap();
        let b = EdmKey::load_or_create(&path).unwrap();
        assert_eq!(a, b);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(&path, b"short").unwrap();
        assert!(EdmKey::load(&path).is_err());
    }

    proptest! {
        #[test]
        fn scanning_arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let (t, key) = table();
            let _ = t.scan_text(&key, &text);
        }

        #[test]
        fn a_record_is_found_however_it_is_spaced(sep in "[ \\-\u{3000}\n、]{0,3}", filler in "[a-z ]{0,100}") {
            let (t, key) = table();
            let text = format!("{filler} 佐藤{sep}一郎 {filler} 5488{sep}3652{sep}9885 {filler}");
            let hits = t.scan_text(&key, &text);
            prop_assert_eq!(hits.len(), 1);
            prop_assert_eq!(hits[0].row, 2);
        }
    }
}
