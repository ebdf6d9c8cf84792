//! What the first steps of any scan cost, with nothing else: the floor under `mamori scan`
//! for the plain-text comparison with `rg` (`bench/scan_floor.sh` runs it beside both).
//!
//! Each mode adds one step to the one before, on every file under the directories given, on
//! `--threads` threads taking files from one list (as `mamori scan` and `rg` do):
//!
//! * `read`: read each file whole into a buffer the thread reuses;
//! * `labels`: and search it for the label literals of `--labels FILE` (one per line) with
//!   `aho-corasick`, counting matches: what `rg -c -F -f FILE` does;
//! * `utf8`: and validate it as UTF-8 (`simdutf8`, what the engine's text decoding uses);
//! * `nfkc-check`: and run ICU4X's NFKC quick check over the whole text (`icu_normalizer`'s
//!   `split_normalized`, resumed after each character that is not normal): the library's own
//!   least work to know where normalisation has anything to do, without doing it;
//! * `normalize`: instead of the quick check, run the engine's normalisation (`mamori_inspect::normalize`: the NFKC
//!   quick check, with the fast paths the engine takes, and the copy when anything changes);
//!   the label search then runs on the normalised text, as in the engine.
//!
//! ```text
//! cargo run --release -p mamori-inspect --example scan_floor -- \
//!     --mode utf8 --threads 2 --labels bench/out/text-120mb/labels.txt bench/out/text-120mb
//! ```
//!
//! Prints the number of files, bytes and label matches (so that a mode cannot be optimised
//! away, and so the counts can be compared with `rg -c`; `nfkc-check` adds the characters it
//! stopped at).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use aho_corasick::{AhoCorasick, MatchKind};

#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum Mode {
    Read,
    Labels,
    Utf8,
    NfkcCheck,
    Normalize,
}

fn files_under(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.path());
        for entry in entries {
            files_under(&entry.path(), out)?;
        }
    } else {
        out.push(path.to_owned());
    }
    Ok(())
}

/// How many characters of `text` ICU's NFKC quick check stops at.
fn not_normal(mut text: &str) -> usize {
    const NFKC: icu_normalizer::ComposingNormalizerBorrowed<'static> =
        icu_normalizer::ComposingNormalizerBorrowed::new_nfkc();
    let mut stops = 0;
    loop {
        let normal = NFKC.split_normalized(text).0.len();
        let rest = &text[normal..];
        let Some(c) = rest.chars().next() else {
            return stops;
        };
        stops += 1;
        text = &rest[c.len_utf8()..];
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut mode = Mode::Labels;
    let mut threads = 2usize;
    let mut labels_file = None;
    let mut roots = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--mode" => {
                mode = match args.next().as_deref() {
                    Some("read") => Mode::Read,
                    Some("labels") => Mode::Labels,
                    Some("utf8") => Mode::Utf8,
                    Some("nfkc-check") => Mode::NfkcCheck,
                    Some("normalize") => Mode::Normalize,
                    other => {
                        return Err(format!(
                            "--mode read|labels|utf8|nfkc-check|normalize, not {other:?}"
                        )
                        .into());
                    }
                }
            }
            "--threads" => threads = args.next().ok_or("--threads N")?.parse()?,
            "--labels" => labels_file = Some(args.next().ok_or("--labels FILE")?),
            _ => roots.push(PathBuf::from(arg)),
        }
    }
    let labels_file = labels_file.ok_or("--labels FILE is required")?;
    let labels: Vec<String> = std::fs::read_to_string(&labels_file)?
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    // Leftmost-first, as `rg` and the engine search: the packed (Teddy) search runs then.
    let searcher = AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostFirst)
        .build(&labels)?;
    let mut files = Vec::new();
    for root in &roots {
        files_under(root, &mut files)?;
    }
    // The label list itself is not scanned, as `rg` would count it too: leave it out of both.
    let labels_path = std::fs::canonicalize(&labels_file)?;
    files.retain(|f| std::fs::canonicalize(f).map_or(true, |f| f != labels_path));

    let next = AtomicUsize::new(0);
    let totals: Vec<(usize, usize)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let (mut bytes, mut matches) = (0usize, 0usize);
                    let mut buffer = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = files.get(i) else { break };
                        buffer.clear();
                        let Ok(mut file) = std::fs::File::open(path) else {
                            continue;
                        };
                        if file.read_to_end(&mut buffer).is_err() {
                            continue;
                        }
                        bytes += buffer.len();
                        if mode == Mode::Read {
                            continue;
                        }
                        if mode >= Mode::Utf8 {
                            let Ok(text) = simdutf8::basic::from_utf8(&buffer) else {
                                continue;
                            };
                            if mode == Mode::NfkcCheck {
                                matches += not_normal(text);
                            }
                            if mode == Mode::Normalize {
                                let normalised = mamori_inspect::normalize(text);
                                matches += searcher.find_iter(normalised.as_str()).count();
                                continue;
                            }
                        }
                        matches += searcher.find_iter(&buffer).count();
                    }
                    (bytes, matches)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });
    let (bytes, matches) = totals
        .iter()
        .fold((0, 0), |(b, m), &(tb, tm)| (b + tb, m + tm));
    println!(
        "files {} bytes {bytes} label matches {matches}",
        files.len()
    );
    Ok(())
}
