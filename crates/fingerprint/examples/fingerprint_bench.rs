//! Measures document fingerprints and exact data match; prints the tables recorded in
//! `docs/benchmarks.md`. Run through `bench/fingerprint/run.sh`.
//!
//! ```text
//! fingerprint_bench quality CORPUS_DIR   detection per derived-document bucket, false positives
//! fingerprint_bench scale                10,000 documents / 100 MB: index build, size, load, scan
//! fingerprint_bench edm CORPUS_DIR       1 M-row table: build, memory, detection, scan speed
//! fingerprint_bench make-index DATA_DIR  writes the scale test's index (10,000 documents,
//!                                        100 MB) to DATA_DIR/fingerprints/documents.idx, for
//!                                        `mamori scan --data-dir DATA_DIR` (bench/fingerprint/scan_cost.sh)
//! ```
//! CORPUS_DIR holds `ja/*.txt` and `en/*.txt` (made by `bench/fingerprint/prepare_corpus.py`
//! from the installed manual pages). Everything else is generated here, deterministically.
//! `FP_ALL=1` prints the whole rule sweep, `FP_WINDOW=N` one window only; `FP_DIAG=1` also prints each
//! false positive and each missed paragraph, with the runs behind them.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use mamori_fingerprint::{
    EdmDetector, EdmKey, EdmOptions, EdmTable, FingerprintDetector, FingerprintIndex, IndexParams,
    MatchRule, Run, WinnowParams, fingerprints, normalize,
};
use mamori_inspect::DocumentDetector as _;

/// xorshift64*: a small deterministic generator (no dependency needed for a benchmark).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("quality") => quality(Path::new(&args[2])),
        Some("scale") => scale(),
        Some("edm") => edm(Path::new(&args[2])),
        Some("make-index") => make_index(Path::new(&args[2])),
        _ => {
            eprintln!("usage: fingerprint_bench quality|scale|edm|make-index [CORPUS_DIR|DATA_DIR]")
        }
    }
}

fn load_dir(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

// ---- derived documents ----------------------------------------------------------------------

/// Like text extracted from a PDF of the document: lines wrapped at 38 characters, CRLF, a
/// running header and a page number every 30 lines.
fn other_format(text: &str) -> String {
    let flat: Vec<char> = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .collect();
    let mut out = String::new();
    for (i, line) in flat.chunks(38).enumerate() {
        if i % 30 == 0 {
            out.push_str(&format!(
                "社外秘  株式会社サンプル技研  - {} -\r\n",
                i / 30 + 1
            ));
        }
        out.extend(line);
        out.push_str("\r\n");
    }
    out
}

/// Lines shuffled, ASCII turned full-width, random extra spaces and line breaks.
fn reformatted(text: &str, rng: &mut Rng) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    for i in (1..lines.len()).rev() {
        lines.swap(i, rng.below(i + 1));
    }
    let mut out = String::new();
    for line in lines {
        for c in line.chars() {
            out.push(match c {
                '!'..='~' => char::from_u32(c as u32 + 0xFEE0).unwrap(),
                c => c,
            });
            match rng.below(40) {
                0 => out.push(' '),
                1 => out.push('\u{3000}'),
                2 => out.push('\n'),
                _ => {}
            }
        }
        out.push('\n');
    }
    out
}

/// A contiguous excerpt starting at a random place: `size` letters and digits (punctuation,
/// symbols and spaces come along but do not count), or, for English, `size` words.
fn excerpt(text: &str, english: bool, size: usize, rng: &mut Rng) -> String {
    if english {
        let words: Vec<&str> = text.split_whitespace().collect();
        let size = size.min(words.len());
        let start = rng.below(words.len() - size + 1);
        return words[start..start + size].join(" ");
    }
    let chars: Vec<char> = text.chars().collect();
    let nonblank = chars.iter().filter(|c| c.is_alphanumeric()).count();
    let size = size.min(nonblank);
    // pick a start such that enough non-blank characters follow
    let mut starts = Vec::new();
    let mut seen = 0;
    for (i, c) in chars.iter().enumerate() {
        if seen + size <= nonblank {
            starts.push(i);
        }
        if c.is_alphanumeric() {
            seen += 1;
        }
    }
    let start = starts[rng.below(starts.len())];
    let mut out = String::new();
    let mut taken = 0;
    for &c in &chars[start..] {
        if taken >= size {
            break;
        }
        out.push(c);
        if c.is_alphanumeric() {
            taken += 1;
        }
    }
    out
}

fn embed(host: &str, piece: &str) -> String {
    let chars: Vec<char> = host.chars().collect();
    let mid = chars.len() / 2;
    let mut out: String = chars[..mid].iter().collect();
    out.push('\n');
    out.push_str(piece);
    out.push('\n');
    out.extend(&chars[mid..]);
    out
}

fn nonblank_len(text: &str, english: bool) -> usize {
    if english {
        text.split_whitespace().count()
    } else {
        text.chars().filter(|c| c.is_alphanumeric()).count()
    }
}

// ---- quality --------------------------------------------------------------------------------

const BUCKETS: [&str; 8] = [
    "whole",
    "other format",
    "reformatted",
    "paragraph",
    "5 %",
    "5 % (>= paragraph)",
    "20 %",
    "50 %",
];

const HEADER_JA: &str = "株式会社みらい技研 技術本部\n社外秘\n";
const DISCLAIMER_JA: &str = "本資料には株式会社みらい技研の機密情報が含まれています。\
    本資料の全部または一部を当社の書面による事前の承諾なく複製、転載、第三者へ開示することを禁じます。\
    本資料の内容は作成時点の情報に基づくものであり、予告なく変更されることがあります。\
    誤って本資料を受け取られた場合は、直ちに送信者へご連絡のうえ破棄してください。\n\
    | 項目 | 内容 | 担当者 | 期限 | 備考 |\n";
const HEADER_EN: &str = "Mirai Giken Co., Ltd. Engineering Division\nCONFIDENTIAL\n";
const DISCLAIMER_EN: &str = "This document contains confidential and proprietary information of \
    Mirai Giken Co., Ltd. No part of it may be copied, reproduced or disclosed to any third party \
    without the prior written consent of the company. If you have received this document in \
    error, please notify the sender immediately and destroy all copies.\n\
    | Item | Description | Owner | Due | Notes |\n";

/// Loads the manual pages, removes lines found in three or more pages (their own
/// boilerplate), groups pages that share any run of 50 normalised characters (aliases,
/// translations, pages copied from each other) and gives whole groups to one side: registered
/// or unrelated. Every page then gets the same company letterhead, disclaimer and table
/// heading, so unrelated documents share boilerplate with registered ones, as in an office.
/// (name, text, English?)
type Doc = (String, String, bool);

fn corpus_split(corpus: &Path) -> (Vec<Doc>, Vec<Doc>) {
    let mut docs: Vec<Doc> = Vec::new();
    for (lang, english) in [("ja", false), ("en", true)] {
        for (name, text) in load_dir(&corpus.join(lang)) {
            docs.push((format!("{lang}/{name}"), text, english));
        }
    }
    let mut line_df: HashMap<String, usize> = HashMap::new();
    for (_, text, _) in &docs {
        let mut lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        lines.sort_unstable();
        lines.dedup();
        for l in lines {
            *line_df.entry(l.to_owned()).or_default() += 1;
        }
    }
    for doc in &mut docs {
        doc.1 = doc
            .1
            .lines()
            .filter(|l| line_df.get(l.trim()).is_none_or(|&n| n < 3))
            .collect::<Vec<_>>()
            .join("\n");
    }
    docs.retain(|d| nonblank_len(&d.1, d.2) >= if d.2 { 300 } else { 1000 });
    // union-find over pages sharing a 50-character run
    let params = WinnowParams {
        k: 50,
        window: 1,
        seed: 0,
    };
    let mut parent: Vec<usize> = (0..docs.len()).collect();
    fn root(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    let mut owner: HashMap<u64, usize> = HashMap::new();
    for (i, (_, text, _)) in docs.iter().enumerate() {
        for h in fingerprints(&normalize(text), params) {
            let first = *owner.entry(h).or_insert(i);
            let (a, b) = (root(&mut parent, first), root(&mut parent, i));
            if a != b {
                parent[a.max(b)] = a.min(b);
            }
        }
    }
    let mut groups: Vec<usize> = (0..docs.len()).map(|i| root(&mut parent, i)).collect();
    let mut order: Vec<usize> = groups.clone();
    order.sort_unstable();
    order.dedup();
    let side: HashMap<usize, bool> = order
        .iter()
        .enumerate()
        .map(|(i, &g)| (g, i % 2 == 0))
        .collect();
    let (mut registered, mut unrelated) = (Vec::new(), Vec::new());
    for (i, (name, text, english)) in docs.into_iter().enumerate() {
        let text = if english {
            format!("{HEADER_EN}{DISCLAIMER_EN}{text}\n{HEADER_EN}")
        } else {
            format!("{HEADER_JA}{DISCLAIMER_JA}{text}\n{HEADER_JA}")
        };
        if side[&groups[i]] {
            registered.push((name, text, english));
        } else {
            unrelated.push((name, text, english));
        }
    }
    groups.clear();
    (registered, unrelated)
}

fn quality(corpus: &Path) {
    let (registered, unrelated) = corpus_split(corpus);
    let hosts_ja: Vec<&String> = unrelated.iter().filter(|u| !u.2).map(|u| &u.1).collect();
    let hosts_en: Vec<&String> = unrelated.iter().filter(|u| u.2).map(|u| &u.1).collect();
    let mut rng = Rng(42);
    // (bucket, registered doc index, text)
    let mut derived: Vec<(usize, usize, String)> = Vec::new();
    // The copied paragraph of each registered document (index: document).
    let mut paragraphs: Vec<String> = Vec::new();
    for (d, (_, text, english)) in registered.iter().enumerate() {
        let hosts = if *english { &hosts_en } else { &hosts_ja };
        let host = hosts[d % hosts.len()];
        // Excerpts come from the page itself, not from the letterhead and disclaimer every
        // page was given (copying those is copying boilerplate, which must not be found).
        let (head, tail) = if *english {
            (HEADER_EN.len() + DISCLAIMER_EN.len(), HEADER_EN.len() + 1)
        } else {
            (HEADER_JA.len() + DISCLAIMER_JA.len(), HEADER_JA.len() + 1)
        };
        let body = &text[head..text.len() - tail];
        let total = nonblank_len(body, *english);
        let paragraph = if *english { 50 } else { 200 };
        derived.push((0, d, text.clone()));
        derived.push((1, d, other_format(text)));
        derived.push((2, d, reformatted(text, &mut rng)));
        let piece = excerpt(body, *english, paragraph, &mut rng);
        derived.push((3, d, embed(host, &piece)));
        paragraphs.push(piece);
        let text = body;
        let five = total * 5 / 100;
        let piece = embed(host, &excerpt(text, *english, five, &mut rng));
        if five >= paragraph {
            derived.push((5, d, piece.clone()));
        }
        derived.push((4, d, piece));
        derived.push((
            6,
            d,
            embed(host, &excerpt(text, *english, total * 20 / 100, &mut rng)),
        ));
        derived.push((
            7,
            d,
            embed(host, &excerpt(text, *english, total * 50 / 100, &mut rng)),
        ));
    }
    let reg_bytes: usize = registered.iter().map(|r| r.1.len()).sum();
    println!(
        "corpus: {} registered documents ({} Japanese, {} English, {:.1} MB), {} unrelated documents of the same kind (manual pages)",
        registered.len(),
        registered.iter().filter(|r| !r.2).count(),
        registered.iter().filter(|r| r.2).count(),
        reg_bytes as f64 / 1e6,
        unrelated.len()
    );
    let mut counts = [0usize; 8];
    for (b, _, _) in &derived {
        counts[*b] += 1;
    }
    println!(
        "derived documents per bucket: {}",
        BUCKETS
            .iter()
            .zip(counts)
            .map(|(b, n)| format!("{b} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!();
    let only_window: Option<u32> = std::env::var("FP_WINDOW").ok().and_then(|v| v.parse().ok());
    let all_rows = std::env::var_os("FP_ALL").is_some();
    println!(
        "| window | gap (windows) | skipped | min run | min span | min shared | containment % | {} | false positives (ja/en) | index bytes / text MB |",
        {
            let mut b = BUCKETS.to_vec();
            b.insert(4, "paragraph, not boilerplate");
            b.join(" | ")
        }
    );
    println!("|{}", "---|".repeat(BUCKETS.len() + 10));
    for window in [21u32, 31, 41] {
        if only_window.is_some_and(|w| w != window) {
            continue;
        }
        let params = IndexParams {
            k: 10,
            window,
            ..IndexParams::default()
        };
        let mut index = FingerprintIndex::with_seed(params, 7);
        for (name, text, _) in &registered {
            index.add_document(name, "hi", text).unwrap();
        }
        index.commit();
        let per_mb = index.stats().bytes_per_text_mb;
        let fps: Vec<u32> = index.documents().iter().map(|d| d.fingerprints).collect();
        // Paragraphs that are mostly boilerplate by the index's own rule (half of their
        // fingerprints or more are in 3+ registered documents, e.g. option text shared by
        // dozens of gcloud pages): finding them would contradict "shared text is ignored".
        let boilerplate: Vec<bool> = paragraphs
            .iter()
            .map(|p| {
                let f = index.fingerprints_of(p);
                let stopped = f.iter().filter(|&&h| index.is_stopped(h)).count();
                f.is_empty() || stopped * 2 >= f.len()
            })
            .collect();
        println!(
            "window {window}: {} of {} copied paragraphs are mostly boilerplate ({})",
            boilerplate.iter().filter(|&&b| b).count(),
            paragraphs.len(),
            registered
                .iter()
                .zip(&boilerplate)
                .filter(|(_, b)| **b)
                .map(|(r, _)| r.0.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        // The streaming detector (`FingerprintDetector`, what `mamori scan` runs: gated by
        // anchors, fed the engine's normalised text) and the offline decision on recorded runs
        // (every fingerprint, no gate) must agree, document by document, for the default rule.
        let rule = MatchRule::default();
        let detector = mamori_fingerprint::FingerprintDetector::new(index.clone());
        let position = |name: &str| {
            index
                .documents()
                .iter()
                .position(|d| d.name == name)
                .unwrap() as u32
        };
        let mut disagreements = 0;
        for (label, text) in derived
            .iter()
            .map(|d| ((d.0, d.1), &d.2))
            .chain(unrelated.iter().map(|u| ((usize::MAX, 0), &u.1)))
        {
            let mut scan = detector.start();
            scan.feed(mamori_inspect::normalize(text).as_str());
            let mut streamed: Vec<u32> = scan
                .finish()
                .into_iter()
                .filter_map(|f| f.document.map(|d| position(&d.document)))
                .collect();
            streamed.sort_unstable();
            let runs = index.scan_runs(text, rule.gap_windows, rule.max_skipped);
            if streamed != flagged_documents(&runs, &fps, rule) {
                disagreements += 1;
                if std::env::var_os("FP_DIAG").is_some() {
                    println!(
                        "  disagreement (bucket, source) {label:?}: streamed {streamed:?}, offline {:?}",
                        flagged_documents(&runs, &fps, rule)
                    );
                }
            }
        }
        println!(
            "window {window}: streaming detector and offline decision disagree on {disagreements} texts"
        );
        let pairs: &[(u32, u32)] = if all_rows {
            &[
                (99, 2),
                (2, 0),
                (2, 1),
                (2, 2),
                (3, 0),
                (3, 1),
                (3, 2),
                (4, 1),
                (4, 2),
            ]
        } else {
            &[(99, 2), (2, 1), (3, 0), (3, 1), (3, 2)]
        };
        for &(gap, skip) in pairs {
            // Every run of every document in every text; rules are applied to them below
            // (the streaming detector decides exactly the same way, run by run).
            let derived_runs: Vec<Vec<Run>> = derived
                .iter()
                .map(|(_, _, text)| index.scan_runs(text, gap, skip))
                .collect();
            let unrelated_runs: Vec<Vec<Run>> = unrelated
                .iter()
                .map(|(_, text, _)| index.scan_runs(text, gap, skip))
                .collect();
            let rules: Vec<MatchRule> = if all_rows {
                let mut v = Vec::new();
                for min_containment_percent in [0u32, 20, 30, 50] {
                    for min_span in [0u32, 60, 80, 100, 120, 140, 160] {
                        for min_shared in [1u32, 3, 4, 6] {
                            v.push(MatchRule {
                                min_span,
                                min_run: 4,
                                gap_windows: gap,
                                max_skipped: skip,
                                min_shared,
                                min_containment_percent,
                            });
                        }
                    }
                }
                v
            } else {
                let d = MatchRule {
                    gap_windows: gap,
                    max_skipped: skip,
                    ..MatchRule::default()
                };
                vec![
                    // The rule before spans: runs of 4, 6 shared, nothing else.
                    MatchRule {
                        min_span: 0,
                        min_shared: 6,
                        min_containment_percent: 0,
                        ..d
                    },
                    MatchRule {
                        min_containment_percent: 0,
                        ..d
                    },
                    d,
                    MatchRule { min_span: 100, ..d },
                    MatchRule { min_span: 140, ..d },
                    MatchRule { min_shared: 3, ..d },
                    MatchRule { min_shared: 6, ..d },
                ]
            };
            for rule in rules {
                let mut found = [0usize; 8];
                let (mut para_found, mut para_total) = (0, 0);
                for ((b, d, _), runs) in derived.iter().zip(&derived_runs) {
                    let hit = decide(&runs_of(runs, *d as u32), fps[*d], rule);
                    if hit {
                        found[*b] += 1;
                    }
                    if *b == 3 && !boilerplate[*d] {
                        para_total += 1;
                        para_found += usize::from(hit);
                    }
                }
                let (mut fp_ja, mut fp_en) = (0, 0);
                for ((name, _, english), runs) in unrelated.iter().zip(&unrelated_runs) {
                    let flagged: Vec<u32> = flagged_documents(runs, &fps, rule);
                    if !flagged.is_empty() {
                        if *english {
                            fp_en += 1
                        } else {
                            fp_ja += 1
                        }
                        if std::env::var_os("FP_DIAG").is_some() {
                            for d in flagged {
                                let best = runs
                                    .iter()
                                    .filter(|r| r.document == d)
                                    .map(|r| (r.span, r.matches))
                                    .max();
                                println!(
                                    "FP {name} ~ {} (fps {}), longest run (span, matches) {best:?}",
                                    index.documents()[d as usize].name,
                                    fps[d as usize]
                                );
                            }
                        }
                    }
                }
                if std::env::var_os("FP_DIAG").is_some() {
                    for ((b, d, _), runs) in derived.iter().zip(&derived_runs) {
                        if (*b == 2 || (*b == 3 && !boilerplate[*d]))
                            && !decide(&runs_of(runs, *d as u32), fps[*d], rule)
                        {
                            let best: Vec<(u64, u32)> = runs
                                .iter()
                                .filter(|r| r.document == *d as u32)
                                .map(|r| (r.span, r.matches))
                                .take(3)
                                .collect();
                            println!(
                                "MISS bucket {b} {} (fps {}), runs (span, matches) {best:?}",
                                index.documents()[*d].name,
                                fps[*d]
                            );
                        }
                    }
                }
                let mut cells: Vec<String> = (0..8)
                    .map(|b| format!("{:.1} %", 100.0 * found[b] as f64 / counts[b].max(1) as f64))
                    .collect();
                cells.insert(
                    4,
                    format!(
                        "{:.1} % ({para_found}/{para_total})",
                        100.0 * para_found as f64 / para_total.max(1) as f64
                    ),
                );
                println!(
                    "| {window} | {gap} | {skip} | {} | {} | {} | {} | {} | {} / {} ({fp_ja}/{fp_en}) | {per_mb:.0} |",
                    rule.min_run,
                    rule.min_span,
                    rule.min_shared,
                    rule.min_containment_percent,
                    cells.join(" | "),
                    fp_ja + fp_en,
                    unrelated.len()
                );
            }
        }
    }
}

fn runs_of(runs: &[Run], d: u32) -> Vec<&Run> {
    runs.iter().filter(|r| r.document == d).collect()
}

/// The detector's decision for one document, from its runs (see `MatchRule`).
fn decide(runs: &[&Run], fingerprints: u32, rule: MatchRule) -> bool {
    let fps = fingerprints.max(1);
    let needed = rule.min_shared.max(1).min(fingerprints.max(3));
    if rule.min_containment_percent > 0 {
        let mut matched: Vec<u64> = runs.iter().flat_map(|r| r.hashes.iter().copied()).collect();
        matched.sort_unstable();
        matched.dedup();
        let n = matched.len() as u64;
        if n > 0
            && n >= u64::from(needed)
            && n * 100 >= u64::from(rule.min_containment_percent) * u64::from(fingerprints)
        {
            return true;
        }
    }
    let mut shared: Vec<u64> = runs
        .iter()
        .filter(|r| {
            r.matches >= rule.min_run.max(1).min(fps)
                && (r.span >= u64::from(rule.min_span) || r.matches >= fps)
        })
        .flat_map(|r| r.hashes.iter().copied())
        .collect();
    shared.sort_unstable();
    shared.dedup();
    !shared.is_empty() && shared.len() as u32 >= needed
}

fn flagged_documents(runs: &[Run], fps: &[u32], rule: MatchRule) -> Vec<u32> {
    let mut docs: Vec<u32> = runs.iter().map(|r| r.document).collect();
    docs.sort_unstable();
    docs.dedup();
    docs.into_iter()
        .filter(|&d| decide(&runs_of(runs, d), fps[d as usize], rule))
        .collect()
}

// ---- scale ----------------------------------------------------------------------------------

/// The scale test's 10,000 documents of 10 kB, written where `mamori scan` finds them.
fn make_index(data_dir: &Path) {
    let mut rng = Rng(1);
    let mut index = FingerprintIndex::new(IndexParams::default()).unwrap();
    for i in 0..10_000 {
        let text = synthetic_japanese(&mut rng, 10_000);
        index
            .add_document(&format!("doc-{i:05}"), "gokuhi", &text)
            .unwrap();
    }
    let store = mamori_fingerprint::FingerprintStore::in_data_dir(data_dir);
    std::fs::create_dir_all(store.dir()).unwrap();
    index.save(&store.index_path()).unwrap();
    let stats = index.stats();
    println!(
        "{}: {} documents, {:.1} MB of text, index {:.1} MB",
        store.index_path().display(),
        stats.documents,
        stats.text_bytes as f64 / 1e6,
        stats.file_bytes as f64 / 1e6
    );
}

fn synthetic_japanese(rng: &mut Rng, bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + 8);
    let mut n = 0;
    while out.len() < bytes {
        let x = rng.next();
        let c = match x % 10 {
            0..=5 => char::from_u32(0x4E00 + (x >> 16) as u32 % 3000).unwrap(),
            6..=8 => char::from_u32(0x3042 + (x >> 16) as u32 % 80).unwrap(),
            _ => char::from_u32(0x30A2 + (x >> 16) as u32 % 80).unwrap(),
        };
        out.push(c);
        n += 1;
        if n % 40 == 0 {
            out.push_str("。\n");
        }
    }
    out
}

fn scale() {
    let docs = 10_000;
    let mut rng = Rng(1);
    let texts: Vec<String> = (0..docs)
        .map(|_| synthetic_japanese(&mut rng, 10_000))
        .collect();
    let total: usize = texts.iter().map(String::len).sum();
    println!(
        "{docs} synthetic Japanese documents, {:.1} MB of text",
        total as f64 / 1e6
    );

    let started = cpu_seconds();
    let mut index = FingerprintIndex::new(IndexParams::default()).unwrap();
    for (i, text) in texts.iter().enumerate() {
        index
            .add_document(&format!("doc-{i:05}"), "hi", text)
            .unwrap();
    }
    index.commit();
    let build = cpu_seconds() - started;
    let dir = std::env::temp_dir().join(format!("mamori-fp-bench-{}", std::process::id()));
    let path = dir.join("documents.idx");
    let started = Instant::now();
    index.save(&path).unwrap();
    let save = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let loaded = FingerprintIndex::load(&path).unwrap();
    let load = started.elapsed().as_secs_f64();
    let stats = loaded.stats();
    let _ = std::fs::remove_dir_all(&dir);

    // 32 MB of other text to scan, with one registered document's paragraph in every 64 KiB.
    let mut scan_text = String::new();
    while scan_text.len() < 32 << 20 {
        scan_text.push_str(&synthetic_japanese(&mut rng, 64 << 10));
        let d = &texts[rng.below(docs)];
        scan_text.push_str(&d[..d.floor_char_boundary(900)]);
    }
    let mb = scan_text.len() as f64 / 1e6;
    // Baseline: the normalisation pass the inspection engine does anyway (NFKC), whose
    // output the document detectors are fed.
    let started = cpu_seconds();
    let mut engine_text = Vec::new();
    for chunk in chunks(&scan_text, 64 << 10) {
        engine_text.push(mamori_inspect::normalize(chunk).as_str().to_owned());
    }
    let base = cpu_seconds() - started;
    let normalised_total: usize = engine_text.iter().map(String::len).sum();
    let normalised: Vec<String> = engine_text.iter().map(|t| normalize(t)).collect();
    let detector = FingerprintDetector::new(loaded);
    let started = cpu_seconds();
    let mut scan = detector.start();
    for chunk in &engine_text {
        scan.feed(chunk);
    }
    let findings = scan.finish();
    let fp_time = cpu_seconds() - started;
    let started = cpu_seconds();
    let mut emitted = 0;
    for chunk in &normalised {
        emitted += fingerprints(chunk, detector.index().winnow_params()).len();
    }
    let winnow_only = cpu_seconds() - started;
    println!("winnowing alone: {winnow_only:.2} s CPU, {emitted} fingerprints");

    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!("| documents indexed | {} |", stats.documents);
    println!("| text indexed | {:.1} MB |", total as f64 / 1e6);
    println!(
        "| build (fingerprint + sort) | {build:.2} s ({:.0} MB/s) |",
        total as f64 / 1e6 / build
    );
    println!("| save (atomic write) | {save:.2} s |");
    println!(
        "| index file | {:.1} MB ({:.0} bytes per text MB) |",
        stats.file_bytes as f64 / 1e6,
        stats.bytes_per_text_mb
    );
    println!("| postings | {} |", stats.postings);
    println!("| load (read + validate) | {:.0} ms |", load * 1000.0);
    println!(
        "| scan text | {mb:.1} MB, {} registered documents found |",
        findings.len()
    );
    println!(
        "| the engine's normalisation pass alone (NFKC) | {:.0} MB/s ({normalised_total} bytes out) |",
        mb / base
    );
    println!(
        "| fingerprint scan of the engine's text (letters and digits, lower case, winnow, look up) | {:.0} MB/s |",
        mb / fp_time
    );
    println!(
        "| (CPU seconds of this process: build {build:.2}, normalise {base:.2}, scan {fp_time:.2}) | |"
    );
}

/// CPU seconds used by this process so far (user + system), from /proc: the machine is shared,
/// so wall-clock time would measure the neighbours too.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| {
        f.iter().map(|x| x.parse::<f64>().unwrap_or(0.0)).sum()
    });
    ticks / 100.0
}

fn chunks(text: &str, size: usize) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let cut = rest.floor_char_boundary(size.min(rest.len()));
        let cut = if cut == 0 { rest.len() } else { cut };
        let (head, tail) = rest.split_at(cut);
        rest = tail;
        Some(head)
    })
}

// ---- exact data match -----------------------------------------------------------------------

const SURNAMES: [&str; 40] = [
    "佐藤",
    "鈴木",
    "高橋",
    "田中",
    "伊藤",
    "渡辺",
    "山本",
    "中村",
    "小林",
    "加藤",
    "吉田",
    "山田",
    "佐々木",
    "山口",
    "松本",
    "井上",
    "木村",
    "林",
    "斎藤",
    "清水",
    "山崎",
    "森",
    "池田",
    "橋本",
    "阿部",
    "石川",
    "山下",
    "中島",
    "石井",
    "小川",
    "前田",
    "岡田",
    "長谷川",
    "藤田",
    "後藤",
    "近藤",
    "村上",
    "遠藤",
    "青木",
    "坂本",
];
const GIVEN: [&str; 40] = [
    "太郎",
    "花子",
    "一郎",
    "陽菜",
    "翔",
    "結衣",
    "大輔",
    "美咲",
    "健太",
    "さくら",
    "拓也",
    "愛",
    "直樹",
    "彩",
    "亮",
    "舞",
    "誠",
    "優子",
    "隆",
    "恵",
    "浩二",
    "由美",
    "学",
    "真由美",
    "剛",
    "千尋",
    "悠斗",
    "葵",
    "蓮",
    "凛",
    "湊",
    "陽翔",
    "樹",
    "芽依",
    "大翔",
    "莉子",
    "颯",
    "結菜",
    "智子",
    "修",
];

fn my_number(rng: &mut Rng) -> String {
    let digits: Vec<u32> = (0..11).map(|_| (rng.next() % 10) as u32).collect();
    let weights = [6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
    let r = digits.iter().zip(weights).map(|(d, w)| d * w).sum::<u32>() % 11;
    let check = if r <= 1 { 0 } else { 11 - r };
    digits
        .iter()
        .chain(std::iter::once(&check))
        .map(|d| char::from_digit(*d, 10).unwrap())
        .collect()
}

fn edm(corpus: &Path) {
    let rows = 1_000_000;
    let mut rng = Rng(9);
    let mut csv = String::from("氏名,個人番号,電話番号,メール\n");
    let mut records = Vec::with_capacity(rows);
    for i in 0..rows {
        let name = format!("{}{}", SURNAMES[rng.below(40)], GIVEN[rng.below(40)]);
        let number = my_number(&mut rng);
        let phone = format!(
            "0{}-{:04}-{:04}",
            1 + rng.below(9),
            rng.below(10_000),
            rng.below(10_000)
        );
        let mail = format!("user{i}.{}@example.jp", rng.below(1000));
        csv.push_str(&format!("{name},{number},{phone},{mail}\n"));
        records.push((name, number, phone));
    }
    let key = EdmKey::from_bytes([5; 16]);
    let started = cpu_seconds();
    let (table, report) = EdmTable::from_csv(
        csv.as_bytes(),
        Path::new("customers.csv"),
        "customers",
        "kojin",
        &key,
        &EdmOptions::default(),
    )
    .unwrap();
    let build = cpu_seconds() - started;
    let file_bytes = table.to_bytes().len();

    let hosts: Vec<String> = load_dir(&corpus.join("ja"))
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    // 200 leaks: a name and that person's My Number (written 4-4-4) inside a manual page.
    let detector = EdmDetector::new(vec![table], key);
    let mut found = 0;
    let mut leak_bytes = 0;
    let started = cpu_seconds();
    for i in 0..200 {
        let (name, number, _) = &records[rng.below(rows)];
        let leak = format!(
            "お客様 {name} 様の個人番号は {}-{}-{} です。",
            &number[..4],
            &number[4..8],
            &number[8..]
        );
        let text = embed(&hosts[i % hosts.len()], &leak);
        leak_bytes += text.len();
        let mut scan = detector.start();
        scan.feed(&text);
        if scan.finish().iter().any(|f| f.count >= 1) {
            found += 1;
        }
    }
    let leak_time = cpu_seconds() - started;
    // Unrelated text: every Japanese manual page, which is full of names of nobody and numbers.
    let mut false_records = 0;
    let mut clean_bytes = 0;
    let started = cpu_seconds();
    for host in &hosts {
        clean_bytes += host.len();
        let mut scan = detector.start();
        scan.feed(host);
        false_records += scan.finish().iter().map(|f| f.count).sum::<u32>();
    }
    let clean_time = cpu_seconds() - started;
    // A surname-only text: many common names, no other cells.
    let names_only: String = (0..2000)
        .map(|i| format!("{}さん、", records[i].0))
        .collect();
    let mut scan = detector.start();
    scan.feed(&names_only);
    let names_only_records: u32 = scan.finish().iter().map(|f| f.count).sum();

    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| rows x indexed columns | {} x 4 ({} cells, {} skipped) |",
        report.rows, report.cells, report.skipped_cells
    );
    println!("| build from CSV (normalise + keyed hash + sort) | {build:.2} s |");
    println!(
        "| table in memory / file | {:.1} MB / {:.1} MB |",
        detector.tables()[0].memory_bytes() as f64 / 1e6,
        file_bytes as f64 / 1e6
    );
    println!("| leaks found (name + My Number in a manual page) | {found} / 200 |");
    println!(
        "| records reported in {} unrelated manual pages | {false_records} |",
        hosts.len()
    );
    println!("| records reported in 2,000 names without other cells | {names_only_records} |");
    println!(
        "| scan speed, manual pages (mostly Japanese), CPU time | {:.1} MB/s |",
        (leak_bytes + clean_bytes) as f64 / 1e6 / (leak_time + clean_time)
    );
}
