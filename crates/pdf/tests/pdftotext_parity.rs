//! Parity with poppler's `pdftotext`: on every generated PDF pdftotext reads, each word it
//! outputs must be a word of Mamori's output. CI installs `poppler-utils` (and `poppler-data`
//! for the Japanese CMaps); without `pdftotext` these tests say so and pass.

mod support;

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use mamori_pdf::{PdfLimits, extract};
use proptest::prelude::*;
use support::*;

fn pdftotext_available() -> bool {
    let found = Command::new("pdftotext").arg("-v").output().is_ok();
    if !found {
        eprintln!(
            "SKIPPED: pdftotext (Debian package poppler-utils) is not installed; parity not checked"
        );
    }
    found
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn pdftotext(bytes: &[u8]) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let path: PathBuf =
        std::env::temp_dir().join(format!("mamori-pdf-parity-{}-{n}.pdf", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    let output = Command::new("pdftotext")
        .args(["-q", "-enc", "UTF-8"])
        .arg(&path)
        .arg("-")
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(
        output.status.success(),
        "pdftotext failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Words of pdftotext missing from Mamori's words.
fn missing_words(bytes: &[u8]) -> (Vec<String>, String, String) {
    let reference = pdftotext(bytes);
    let ours = extract(bytes, &PdfLimits::default())
        .map(|t| t.text())
        .unwrap_or_else(|e| format!("<error: {e}>"));
    let our_words: HashSet<&str> = ours.split_whitespace().collect();
    let missing = reference
        .split_whitespace()
        .filter(|w| !our_words.contains(w))
        .map(str::to_owned)
        .collect();
    (missing, reference, ours)
}

#[test]
fn every_word_pdftotext_reads_in_the_samples_mamori_reads_too() {
    if !pdftotext_available() {
        return;
    }
    for sample in readable_samples() {
        let (missing, reference, ours) = missing_words(&sample.bytes);
        assert!(
            missing.is_empty(),
            "{}: missing {missing:?}\npdftotext: {reference:?}\nmamori: {ours:?}",
            sample.name
        );
        // The samples were made so that pdftotext reads them: an empty reference means the
        // comparison proved nothing (poppler-data missing?).
        assert!(
            !reference.trim().is_empty(),
            "{}: pdftotext read nothing",
            sample.name
        );
    }
}

/// A line of words laid out the ways producers do: kerning inside words, gaps or spaces
/// between them, word and character spacing, horizontal scaling, one Td per word.
#[derive(Debug, Clone)]
struct Line {
    words: Vec<String>,
    style: u8,
    size: u8,
    kerning: Vec<i16>,
}

/// Words of two letters or more: on a line of one-letter words all gaps are equal, and
/// pdftotext's adaptive spacing then reads them as letter-spacing and joins them ("a A" →
/// "aA"), a heuristic Mamori does not copy (splitting is the safer error for inspection).
fn word() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[A-Za-z0-9]{2,10}").unwrap()
}

fn line() -> impl Strategy<Value = Line> {
    (
        proptest::collection::vec(word(), 1..8),
        0u8..5,
        8u8..30,
        proptest::collection::vec(-40i16..40, 16),
    )
        .prop_map(|(words, style, size, kerning)| Line {
            words,
            style,
            size,
            kerning,
        })
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('(', "\\(")
        .replace(')', "\\)")
}

fn content(lines: &[Line]) -> Vec<u8> {
    let mut out = String::from("BT\n");
    for (index, line) in lines.iter().enumerate() {
        let y = 750 - index as i32 * 40;
        out.push_str(&format!("/F1 {} Tf 1 0 0 1 40 {y} Tm\n", line.size));
        match line.style {
            // Words split in kerned pieces, separated by large TJ gaps.
            0 => {
                out.push('[');
                for (i, word) in line.words.iter().enumerate() {
                    let (head, tail) = word.split_at(word.len() / 2);
                    out.push_str(&format!(
                        "({}) {} ({}) ",
                        escape(head),
                        line.kerning[i % 16],
                        escape(tail)
                    ));
                    out.push_str("-400 ");
                }
                out.push_str("] TJ\n");
            }
            // Real space characters with word spacing (justified text).
            1 => out.push_str(&format!(
                "3 Tw ({}) Tj 0 Tw\n",
                escape(&line.words.join(" "))
            )),
            // Character spacing and horizontal scaling.
            2 => out.push_str(&format!(
                "0.5 Tc 80 Tz ({}) Tj 0 Tc 100 Tz\n",
                escape(&line.words.join(" "))
            )),
            // One Td per word.
            3 => {
                for word in &line.words {
                    // Helvetica's widest letter is 0.944 em: at least half an em of gap.
                    let width = (word.len() as f64 + 0.5) * f64::from(line.size);
                    out.push_str(&format!("({}) Tj {width:.2} 0 Td\n", escape(word)));
                }
            }
            // Letter by letter, as some report generators write.
            _ => {
                out.push('[');
                for word in &line.words {
                    for ch in word.chars() {
                        out.push_str(&format!("({}) ", escape(&ch.to_string())));
                    }
                    out.push_str("-500 ");
                }
                out.push_str("] TJ\n");
            }
        }
    }
    out.push_str("ET\n");
    out.into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn generated_layouts_read_like_pdftotext(lines in proptest::collection::vec(line(), 1..6)) {
        if pdftotext_available() {
            let mut doc = Doc::new();
            // Wide enough that no line runs off the page (pdftotext drops what does).
            doc.media_box = Some("0 0 5000 800".into());
            doc.font("F1", HELVETICA);
            doc.page(&content(&lines));
            let bytes = doc.build();
            let (missing, reference, ours) = missing_words(&bytes);
            prop_assert!(missing.is_empty(), "missing {:?}\npdftotext: {:?}\nmamori: {:?}", missing, reference, ours);
        }
    }
}
