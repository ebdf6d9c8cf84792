//! Engine tests: every detector through the public API, evasions, windows, rules files.

use std::sync::{Arc, Mutex};

use mamori_model::{Category, Confidence, Finding, Location};
use proptest::prelude::*;

use crate::{DocumentDetector, DocumentScan, Inspector, InspectorBuilder, Rules, RulesError};

fn builtin() -> Inspector {
    InspectorBuilder::new().build().unwrap()
}

fn detectors(findings: &[Finding]) -> Vec<(&str, Confidence)> {
    findings
        .iter()
        .map(|f| (f.detector.as_str(), f.confidence))
        .collect()
}

fn find<'a>(findings: &'a [Finding], id: &str) -> Option<&'a Finding> {
    findings.iter().find(|f| f.detector == id)
}

#[test]
fn inspector_is_shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Inspector>();
    assert_send_sync::<Rules>();
    let inspector = Arc::new(builtin());
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let inspector = Arc::clone(&inspector);
            std::thread::spawn(move || inspector.inspect_text("社外秘").len())
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 1);
    }
}

#[test]
fn builtin_examples_all_pass() {
    let report = Rules::builtin().check_examples().unwrap();
    let failures: Vec<String> = report.failures.iter().map(ToString::to_string).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(report.checked > 80, "only {} examples", report.checked);
}

#[test]
fn every_builtin_detector_has_positive_and_negative_examples() {
    let rules = Rules::builtin();
    for d in &rules.dictionaries {
        assert!(
            !d.examples.matches.is_empty() && !d.examples.no_match.is_empty(),
            "{}",
            d.id
        );
    }
    for r in &rules.regexes {
        assert!(
            !r.examples.matches.is_empty() && !r.examples.no_match.is_empty(),
            "{}",
            r.id
        );
    }
    for i in &rules.identifiers {
        assert!(
            !i.examples.matches.is_empty() && !i.examples.no_match.is_empty(),
            "{}",
            i.kind.id()
        );
    }
}

#[test]
fn my_number_vectors_and_context() {
    let inspector = builtin();
    for valid in [
        "123456789018",
        "983205673214",
        "548836529885",
        "654327654322",
    ] {
        let f = inspector.inspect_text(valid);
        assert_eq!(
            detectors(&f),
            vec![("jp.my_number", Confidence::Low)],
            "{valid}"
        );
        let with_context = inspector.inspect_text(&format!("個人番号カード：{valid}"));
        assert_eq!(
            find(&with_context, "jp.my_number").unwrap().confidence,
            Confidence::High
        );
    }
    assert!(
        find(
            &inspector.inspect_text("マイナンバー 123456789019"),
            "jp.my_number"
        )
        .is_none()
    );
    // Context farther than 300 characters does not count.
    let far = format!("マイナンバー{}123456789018", "あ".repeat(301));
    assert_eq!(
        find(&inspector.inspect_text(&far), "jp.my_number")
            .unwrap()
            .confidence,
        Confidence::Low
    );
    let near = format!("マイナンバー{}123456789018", "あ".repeat(290));
    assert_eq!(
        find(&inspector.inspect_text(&near), "jp.my_number")
            .unwrap()
            .confidence,
        Confidence::High
    );
}

#[test]
fn digits_in_every_disguise() {
    let inspector = builtin();
    let forms = [
        "１２３４５６７８９０１８",
        "1234 5678 9018",
        "1234.5678.9018",
        "1234-5678-9018",
        "1234\u{2010}5678\u{2011}9018",
        "1234\u{2012}5678\u{2013}9018",
        "1234\u{2014}5678\u{2015}9018",
        "1234\u{2212}5678\u{FF0D}9018",
        "1234ー5678ｰ9018",
        "１２３４　５６７８　９０１８",
        "12\u{200B}34-5678-9018",
    ];
    for form in forms {
        let f = inspector.inspect_text(&format!("マイナンバー：{form}"));
        let hit = find(&f, "jp.my_number").unwrap_or_else(|| panic!("missed {form:?}"));
        assert_eq!(hit.confidence, Confidence::High, "{form:?}");
        assert!(
            hit.sample.ends_with("9018") && hit.sample.starts_with("1234"),
            "{form:?}: {}",
            hit.sample
        );
        assert!(!hit.sample.contains("5678"), "{form:?}: {}", hit.sample);
    }
}

#[test]
fn corporate_invoice_card_phone() {
    let inspector = builtin();
    for n in [
        "7000012050002",
        "4011001098993",
        "1010601008968",
        "6010701027558",
    ] {
        let f = inspector.inspect_text(&format!("法人番号 {n}"));
        let hit = find(&f, "jp.corporate_number").unwrap();
        assert_eq!(hit.confidence, Confidence::High);
        assert_eq!(hit.category, Category::CorporateId);
        let f = inspector.inspect_text(&format!("登録番号 T{n}"));
        assert_eq!(
            find(&f, "jp.invoice_number").unwrap().sample,
            format!("T{n}")
        );
        assert!(find(&f, "jp.corporate_number").is_none());
    }
    let f = inspector.inspect_text("カード番号: 4111 1111 1111 1111 有効期限 12/30");
    let card = find(&f, "financial.credit_card").unwrap();
    assert_eq!(
        (card.confidence, card.sample.as_str()),
        (Confidence::High, "4111 **** **** 1111")
    );
    let f = inspector.inspect_text("TEL：０３－１２３４－５６７８");
    assert_eq!(find(&f, "contact.phone_jp").unwrap().sample, "03-****-5678");
}

#[test]
fn licence_bank_passport_residence_need_context() {
    let inspector = builtin();
    assert!(
        find(
            &inspector.inspect_text("301234567891"),
            "jp.drivers_license"
        )
        .is_none()
    );
    assert!(
        find(
            &inspector.inspect_text("免許証番号 301234567891"),
            "jp.drivers_license"
        )
        .is_some()
    );
    assert!(find(&inspector.inspect_text("3141592"), "jp.bank_account").is_none());
    let f = inspector.inspect_text("三井住友銀行 本店営業部 普通預金 口座番号 3141592");
    assert_eq!(
        find(&f, "jp.bank_account").unwrap().confidence,
        Confidence::Medium
    );
    assert!(find(&inspector.inspect_text("TK1234567"), "jp.passport").is_none());
    assert!(
        find(
            &inspector.inspect_text("旅券番号：TK1234567"),
            "jp.passport"
        )
        .is_some()
    );
    let f = inspector.inspect_text("在留カード番号 AB12345678CD");
    assert_eq!(
        find(&f, "jp.residence_card").unwrap().confidence,
        Confidence::High
    );
}

#[test]
fn label_evasions() {
    let inspector = builtin();
    for text in [
        "社外秘",
        "社\u{200B}外\u{200C}秘",
        "社 外 秘",
        "社外\n秘",
        "社　外　秘",
        "社外\r\n秘",
        "社\u{FEFF}外秘",
    ] {
        let f = inspector.inspect_text(text);
        let hit = find(&f, "label.shagaihi").unwrap_or_else(|| panic!("missed {text:?}"));
        assert_eq!(hit.offsets, vec![(0, text.len())], "{text:?}");
        assert_eq!(hit.sample, "社外秘");
    }
    let f = inspector.inspect_text("ＣＯＮＦＩＤＥＮＴＩＡＬ");
    assert_eq!(
        find(&f, "label.confidential").unwrap().sample,
        "CONFIDENTIAL"
    );
    let f = inspector.inspect_text("This document is Confidential.");
    assert!(find(&f, "label.confidential").is_some());
}

#[test]
fn maru_hi_yes_hisho_no() {
    let inspector = builtin();
    for yes in [
        "㊙",
        "マル秘",
        "【秘】",
        "（秘）",
        "(秘)",
        "秘",
        "議事録\n　秘　\n本文",
        "〔秘〕",
    ] {
        let f = inspector.inspect_text(yes);
        assert!(find(&f, "label.maruhi").is_some(), "missed {yes:?}");
    }
    for no in [
        "秘書",
        "便秘",
        "神秘",
        "秘書課の秘訣",
        "神秘的な秘境",
        "秘 書類",
    ] {
        let f = inspector.inspect_text(no);
        assert!(
            f.iter().all(|f| f.category != Category::Label),
            "{no:?}: {f:?}"
        );
    }
    let f = inspector.inspect_text("㊙");
    assert_eq!(find(&f, "label.maruhi").unwrap().sample, "㊙");
}

#[test]
fn characters_outside_the_bmp_do_not_break_matching() {
    let inspector = builtin();
    let text = "氏名：𠮷田太郎 マイナンバー：123456789018 社外秘";
    let f = inspector.inspect_text(text);
    let my_number = find(&f, "jp.my_number").unwrap();
    let (s, e) = my_number.offsets[0];
    assert_eq!(&text[s..e], "123456789018");
    assert!(find(&f, "label.shagaihi").is_some());
}

#[test]
fn matches_are_folded_with_count_and_offsets() {
    let inspector = builtin();
    let text = "社外秘 ".repeat(10);
    let f = inspector.inspect_text(&text);
    let hit = find(&f, "label.shagaihi").unwrap();
    assert_eq!(hit.count, 10);
    assert_eq!(hit.offsets.len(), crate::engine::MAX_OFFSETS);
    assert_eq!(hit.offsets[1], (10, 19));
    assert_eq!(f.len(), 1);
}

#[test]
fn a_window_buffer_kept_for_the_next_part_carries_nothing_over() {
    // The window buffer of a finished part is kept for the next one on the same thread: the
    // text of one inspection must never be seen by the next, whatever their sizes.
    for inspector in [builtin(), small_windows(Rules::builtin())] {
        let long = format!("{}社外秘", "x".repeat(3000));
        assert!(find(&inspector.inspect_text(&long), "label.shagaihi").is_some());
        assert!(inspector.inspect_text("外").is_empty());
        assert!(inspector.inspect_text("秘 and more").is_empty());
        // Two parts of one inspection: the label split across them is not joined.
        let f = inspector.inspect_parts([
            (mamori_model::Location::root().child("a"), "社外"),
            (mamori_model::Location::root().child("b"), "秘"),
        ]);
        assert!(find(&f, "label.shagaihi").is_none(), "{f:?}");
    }
}

#[test]
fn raw_samples_only_on_request() {
    let text = "AKIAIOSFODNN7EXAMPLE";
    let masked = builtin().inspect_text(text);
    assert_eq!(
        find(&masked, "secret.aws_access_key").unwrap().sample,
        "AKIA****"
    );
    let raw = InspectorBuilder::new()
        .raw_samples(true)
        .build()
        .unwrap()
        .inspect_text(text);
    assert_eq!(find(&raw, "secret.aws_access_key").unwrap().sample, text);
}

#[test]
fn secrets() {
    let inspector = builtin();
    let text = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n\
                token=ghp_abcdefghijklmnopqrstuvwxyz0123456789 mail: hanako@example.co.jp";
    let f = inspector.inspect_text(text);
    assert_eq!(
        find(&f, "secret.private_key").unwrap().sample,
        "-----BEGIN OPENSSH PRIVATE KEY-----"
    );
    assert_eq!(find(&f, "secret.github_token").unwrap().sample, "ghp_****");
    assert_eq!(
        find(&f, "contact.email").unwrap().sample,
        "h***@example.co.jp"
    );
    assert!(!format!("{f:?}").contains("abcdefghijklmnopqrstuvwxyz"));
}

#[test]
fn report_from_bytes_and_reader() {
    let inspector = builtin();
    let bytes = "極秘\n".as_bytes();
    let report = inspector.inspect_bytes(bytes);
    assert_eq!(report.bytes_read, bytes.len() as u64);
    assert!(!report.is_clean());
    assert_eq!(report.findings[0].detector, "label.gokuhi");
    let report = inspector
        .inspect_reader(&mut std::io::Cursor::new(b"nothing here".to_vec()), 12)
        .unwrap();
    assert!(report.is_clean());
}

#[test]
fn parts_keep_their_locations() {
    let inspector = builtin();
    let f = inspector.inspect_parts([
        (Location::root().child("Subject"), "社外秘"),
        (Location::root().child("body"), "本文 社外秘 社外秘"),
    ]);
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].location.to_string(), "Subject");
    assert_eq!(
        (f[1].location.to_string().as_str(), f[1].count),
        ("body", 2)
    );
}

#[test]
fn detector_catalogue() {
    let ids: Vec<String> = Rules::builtin().detectors().map(|d| d.id).collect();
    for id in [
        "label.shagaihi",
        "label.gokuhi",
        "label.confidential",
        "jp.my_number",
        "jp.corporate_number",
        "secret.aws_access_key",
    ] {
        assert!(ids.contains(&id.to_string()), "{id}");
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "ids are unique");
    assert_eq!(builtin().detectors().len(), ids.len());
}

// ---- windows ----

fn small_windows(rules: Rules) -> Inspector {
    InspectorBuilder::new()
        .rules(rules)
        .window_sizes(256, 128, 64)
        .build()
        .unwrap()
}

fn streamed(inspector: &Inspector, chunks: &[&str]) -> Vec<Finding> {
    use mamori_extract::TextSink;
    let mut session = crate::engine::Session::new(&inspector.engine);
    session.begin(&Location::root());
    for c in chunks {
        session.text(c);
    }
    session.end();
    session.finish().0
}

#[test]
fn label_straddling_the_real_window_boundary_is_found_once() {
    let inspector = builtin();
    let window = crate::engine::WINDOW;
    for shift in 0..3 {
        let mut text = "a".repeat(window - 3 - shift);
        text.push_str("社外秘");
        text.push_str(&"b ".repeat(window / 2));
        text.push_str(" 社外秘 end");
        // Stream in 1 MiB chunks, as an extractor would.
        let chunks: Vec<&str> = {
            let mut out = Vec::new();
            let mut rest = text.as_str();
            while !rest.is_empty() {
                let mut n = (1 << 20).min(rest.len());
                while !rest.is_char_boundary(n) {
                    n -= 1;
                }
                out.push(&rest[..n]);
                rest = &rest[n..];
            }
            out
        };
        let f = streamed(&inspector, &chunks);
        let hit = find(&f, "label.shagaihi").unwrap();
        assert_eq!(hit.count, 2, "shift {shift}");
        let (s, e) = hit.offsets[0];
        assert_eq!(&text[s..e], "社外秘");
        let (s, e) = hit.offsets[1];
        assert_eq!(&text[s..e], "社外秘");
    }
}

#[test]
fn small_windows_see_everything_once() {
    let inspector = small_windows(Rules::builtin());
    let unit = "前置き 社外秘 マイナンバー 1234-5678-9018 と AKIAIOSFODNN7EXAMPLE。\n";
    let text = unit.repeat(40);
    let whole = builtin().inspect_text(&text);
    let windowed = inspector.inspect_text(&text);
    assert_eq!(detectors(&windowed), detectors(&whole));
    for (a, b) in windowed.iter().zip(&whole) {
        assert_eq!(a.count, 40, "{}", a.detector);
        assert_eq!(
            (a.count, &a.offsets),
            (b.count, &b.offsets),
            "{}",
            a.detector
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn chunking_and_windows_do_not_change_findings(
        pieces in proptest::collection::vec(prop_oneof![
            Just("社外秘"), Just("社 外\n秘"), Just("極秘"), Just("123456789018"), Just("ＣＯＮＦＩＤＥＮＴＩＡＬ"),
            Just("あいうえお"), Just(" "), Just("\n"), Just("abc"), Just("4111-1111-1111-1111"), Just("秘"),
            Just("T7000012050002"), Just("𠮷"), Just("\u{200B}"),
        ], 0..120),
        cut in 1usize..40,
    ) {
        let text: String = pieces.concat();
        let whole = builtin().inspect_text(&text);
        let inspector = small_windows(Rules::builtin());
        let mut chunks = Vec::new();
        let mut rest = text.as_str();
        while !rest.is_empty() {
            let mut n = cut.min(rest.len());
            while !rest.is_char_boundary(n) { n += 1; }
            chunks.push(&rest[..n]);
            rest = &rest[n..];
        }
        let windowed = streamed(&inspector, &chunks);
        let key = |f: &[Finding]| f.iter().map(|f| (f.detector.clone(), f.confidence, f.count, f.offsets.clone())).collect::<Vec<_>>();
        prop_assert_eq!(key(&windowed), key(&whole));
    }

    #[test]
    fn arbitrary_text_never_panics_and_offsets_are_valid(text in "\\PC{0,200}") {
        let findings = small_windows(Rules::builtin()).inspect_text(&text);
        for f in &findings {
            for &(s, e) in &f.offsets {
                prop_assert!(s <= e && e <= text.len() && text.is_char_boundary(s) && text.is_char_boundary(e));
            }
        }
    }
}

// ---- fast paths against the reference engine ----

fn reference(window: Option<(usize, usize, usize)>) -> Inspector {
    let mut b = InspectorBuilder::new().reference_engine(true);
    if let Some((w, c, l)) = window {
        b = b.window_sizes(w, c, l);
    }
    b.build().unwrap()
}

/// Adversarial pieces: labels whole, split and disguised; digits in every width and with every
/// dash; credentials; characters that stop the normaliser's fast scans.
const ADVERSARIAL: &[&str] = &[
    "社外秘",
    "社",
    "外",
    "秘",
    "秘書",
    "秘密",
    "秘密鍵",
    "極秘",
    "機密",
    "機密性",
    "取扱注意",
    "扱",
    "社内限り",
    "部外秘",
    "関係者外秘",
    "㊙",
    "マル秘",
    "(秘)",
    "（秘）",
    "【秘】",
    "Confidential",
    "CONFIDENTIAL",
    "ＣＯＮＦＩＤＥＮＴＩＡＬ",
    "conﬁdential",
    "Strictly ",
    "Internal Use Only",
    "internal only",
    "Top Secret",
    "secret",
    "secretary",
    "\u{200B}",
    "\u{00AD}",
    "\u{2060}",
    "\u{FEFF}",
    " ",
    "\u{3000}",
    "\n",
    "\r\n",
    "\t",
    "1234",
    "5678",
    "9018",
    "１２３４",
    "－",
    "-",
    "ー",
    "‐",
    "−",
    "―",
    "ｰ",
    ".",
    "マイナンバー",
    "個人番号",
    "カード番号",
    "TEL",
    "法人番号",
    "T",
    "4111",
    "03",
    "AKIA",
    "IOSFODNN7EXAMPLE",
    "ghp_",
    "abcdefghijklmnopqrstuvwxyz0123456789",
    "-----BEGIN RSA PRIVATE KEY-----",
    "@",
    "taro",
    "example.co.jp",
    "ｶﾞ",
    "か\u{3099}",
    "e\u{0301}",
    "𠮷",
    "、",
    "。",
    "資料",
    "の",
    "a",
    "TK",
    "AB",
    "CD",
    "0",
    "7",
    "the plain text of a long English sentence ",
    "設計の資料を確認した。",
];

#[test]
fn fast_paths_find_what_the_reference_engine_finds_on_the_examples() {
    let fast = builtin();
    let slow = reference(None);
    let text = ADVERSARIAL.concat();
    assert!(!fast.inspect_text(&text).is_empty());
    assert_eq!(fast.inspect_text(&text), slow.inspect_text(&text));
    for w in ADVERSARIAL.windows(3) {
        let t = w.concat();
        assert_eq!(fast.inspect_text(&t), slow.inspect_text(&t), "{t:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    /// Findings (detector, confidence, count, offsets, sample) are identical with and without
    /// the fast paths, with the real window sizes and with small ones (labels at window edges).
    #[test]
    fn fast_paths_find_what_the_reference_engine_finds(
        pieces in proptest::collection::vec(prop_oneof![
            4 => proptest::sample::select(ADVERSARIAL),
            1 => "\\PC{0,6}".prop_map(|s| &*s.leak()),
        ], 0..150),
    ) {
        let text: String = pieces.concat();
        prop_assert_eq!(builtin().inspect_text(&text), reference(None).inspect_text(&text));
        let small = (256, 128, 64);
        prop_assert_eq!(
            InspectorBuilder::new().window_sizes(small.0, small.1, small.2).build().unwrap().inspect_text(&text),
            reference(Some(small)).inspect_text(&text)
        );
    }
}

// ---- document detectors ----

#[derive(Debug, Default)]
struct Recorder {
    fed: Arc<Mutex<String>>,
}

struct RecorderScan {
    fed: Arc<Mutex<String>>,
}

impl DocumentDetector for Recorder {
    fn start(&self) -> Box<dyn DocumentScan> {
        Box::new(RecorderScan {
            fed: self.fed.clone(),
        })
    }
}

impl DocumentScan for RecorderScan {
    fn feed(&mut self, normalised: &str) {
        self.fed.lock().unwrap().push_str(normalised);
    }
    fn finish(self: Box<Self>) -> Vec<Finding> {
        vec![Finding::new(
            "fingerprint.test",
            Category::Fingerprint,
            Confidence::High,
        )]
    }
}

#[test]
fn document_detectors_get_each_normalised_byte_once() {
    let recorder = Arc::new(Recorder::default());
    let fed = recorder.fed.clone();
    let inspector = InspectorBuilder::new()
        .document_detector(recorder)
        .window_sizes(256, 128, 64)
        .build()
        .unwrap();
    let unit = "ＡＢＣ 社 外 秘 text\u{200B}here ";
    let text = unit.repeat(50);
    let findings = inspector.inspect_text(&text);
    assert!(find(&findings, "fingerprint.test").is_some());
    let expected = crate::normalize(&text).as_str().to_owned();
    assert_eq!(*fed.lock().unwrap(), expected);
}

// ---- rules files ----

fn issues(err: &RulesError) -> Vec<String> {
    err.issues().iter().map(|i| i.to_string()).collect()
}

#[test]
fn rules_file_adds_dictionaries_regexes_and_context() {
    let toml = r#"
disable = ["label.secret"]

[[dictionary]]
id = "keyword.sakura"
words = ["Project Sakura", "さくら計画"]
confidence = "high"
examples.match = ["PROJECT SAKURA の件"]
examples.no_match = ["さくら"]

[[regex]]
id = "custom.employee_id"
pattern = 'EMP-[0-9]{6}'
confidence = "low"
context = ["社員番号"]
examples.match = ["EMP-123456"]
examples.no_match = ["EMP-12345"]

[[context]]
detector = "jp.my_number"
words = ["被保険者"]
"#;
    let extra = Rules::from_toml(toml, "rules.toml").unwrap();
    let inspector = InspectorBuilder::new()
        .rules(Rules::builtin().merge(extra))
        .build()
        .unwrap();
    let f = inspector.inspect_text("さくら計画 社員番号 EMP-123456 被保険者 123456789018 secret");
    assert_eq!(
        find(&f, "keyword.sakura").unwrap().confidence,
        Confidence::High
    );
    let emp = find(&f, "custom.employee_id").unwrap();
    assert_eq!(
        (emp.confidence, emp.category, emp.sample.as_str()),
        (Confidence::High, Category::Custom, "EM*-****56")
    );
    assert_eq!(
        find(&f, "jp.my_number").unwrap().confidence,
        Confidence::High
    );
    assert!(find(&f, "label.secret").is_none());
    assert!(
        inspector
            .detectors()
            .iter()
            .any(|d| d.id == "keyword.sakura")
    );
    assert!(!inspector.detectors().iter().any(|d| d.id == "label.secret"));
}

#[test]
fn rules_errors_name_line_and_field() {
    let cases: &[(&str, &str)] = &[
        (
            "[[regex]]\nid = \"custom.x\"\npattern = '(unclosed'\n",
            "rules.toml:3:11: regex.pattern: invalid regex",
        ),
        (
            "[[regex]]\nid = \"custom.x\"\npatern = 'x'\n",
            "rules.toml:3:1: patern: unknown field `patern`",
        ),
        (
            "[[regex]]\nid = \"custom.x\"\n",
            ":1:1: pattern: missing field `pattern`",
        ),
        (
            "[[dictionary]]\nid = \"k.x\"\nwords = [\"a\"]\ncategory = \"secretz\"\n",
            "rules.toml:4:12: dictionary.category: unknown category",
        ),
        (
            "[[dictionary]]\nid = \"k.x\"\nwords = [\"a\"]\nconfidence = \"sure\"\n",
            "rules.toml:4:14: dictionary.confidence: unknown confidence",
        ),
        (
            "[[dictionary]]\nid = \"k.x\"\nwords = []\n",
            "rules.toml:3:9: dictionary.words: a dictionary needs at least one word",
        ),
        (
            "[[dictionary]]\nid = \"k.x\"\nwords = [\" \"]\n",
            "rules.toml:3:10: dictionary.words: empty word",
        ),
        (
            "[[dictionary]]\nid = \"label.shagaihi\"\nwords = [\"x\"]\n",
            "rules.toml:2:6: dictionary.id: id \"label.shagaihi\" is already a built-in detector",
        ),
        (
            "[[dictionary]]\nid = \"Bad Id\"\nwords = [\"x\"]\n",
            "rules.toml:2:6: dictionary.id: invalid id",
        ),
        (
            "[[dictionary]]\nid = \"k.a\"\nwords = [\"x\"]\n[[dictionary]]\nid = \"k.a\"\nwords = [\"y\"]\n",
            "rules.toml:5:6: dictionary.id: id \"k.a\" is defined twice",
        ),
        (
            "[[regex]]\nid = \"c.e\"\npattern = 'x*'\n",
            "rules.toml:3:11: regex.pattern: pattern matches the empty string",
        ),
        (
            "[[regex]]\nid = \"c.e\"\npattern = 'x'\nwindow = 0\n",
            "rules.toml:4:10: regex.window: window must be between",
        ),
        (
            "[[regex]]\nid = \"c.e\"\npattern = 'x'\nmask = \"hide\"\n",
            "rules.toml:4:8: regex.mask: unknown mask",
        ),
        (
            "[[regex]]\nid = \"c.e\"\npattern = 'x'\nrequire_context = true\n",
            "rules.toml:4:19: regex.require_context: require_context = true needs context words",
        ),
        (
            "[[context]]\ndetector = \"jp.nope\"\nwords = [\"x\"]\n",
            "rules.toml:2:12: context.detector: unknown detector \"jp.nope\"",
        ),
        (
            "disable = [\"nope\"]\n",
            "rules.toml:1:12: disable: unknown detector \"nope\"",
        ),
        (
            "[[dictionary]]\nid = \"k.x\"\nwords = [\"abc\"]\nexamples.match = [\"xyz\"]\n",
            "rules.toml:4:19: examples.match: example \"xyz\" does not match rule k.x",
        ),
        (
            "[[dictionary]]\nid = \"k.x\"\nwords = [\"abc\"]\nexamples.no_match = [\"abc\"]\n",
            "rules.toml:4:22: examples.no_match: example \"abc\" matches rule k.x",
        ),
        (
            "[[regex]]\nid = \"c.e\"\npattern = 'x'\nwindow = \"big\"\n",
            "rules.toml:4:10: window: invalid type",
        ),
        ("[[regex\n", "rules.toml:1:"),
        // Found by the rules_toml fuzz target: an empty table header named no field.
        (
            "[[dictionary]]\n[]\ncategory = \"nope\"\n",
            "rules.toml:2:2: syntax: unquoted keys cannot be empty",
        ),
        ("= 1\n", "rules.toml:1:1: syntax:"),
        // Found by the rules_toml fuzz target: an empty quoted key named no field.
        (
            "#[[\n\n\n\"\"= \"\"\n\n",
            "rules.toml:4:1: \"\": unknown field ``",
        ),
    ];
    for (toml, expected) in cases {
        let err = Rules::from_toml(toml, "rules.toml").expect_err(toml);
        let all = issues(&err).join("\n");
        assert!(
            all.contains(expected),
            "for {toml:?}\nexpected {expected:?}\ngot {all:?}"
        );
        for issue in err.issues() {
            assert!(
                issue.line >= 1 && issue.column >= 1 && !issue.field.is_empty(),
                "{issue}"
            );
        }
    }
}

#[test]
fn oversized_rules_files_are_refused() {
    let text = "#".repeat((16 << 20) + 1);
    let err = Rules::from_toml(&text, "big.toml").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("big.toml:1:1: file: rules file larger than 16 MiB"),
        "{err}"
    );
}

#[test]
fn rules_errors_are_all_collected() {
    let toml = "[[dictionary]]\nid = \"k.x\"\nwords = []\ncategory = \"nope\"\n[[regex]]\nid = \"c.y\"\npattern = '('\n";
    let err = Rules::from_toml(toml, "r.toml").unwrap_err();
    assert_eq!(err.issues().len(), 3, "{err}");
}

#[test]
fn duplicate_ids_across_files_fail_the_build() {
    let a = Rules::from_toml("[[dictionary]]\nid = \"k.x\"\nwords = [\"a\"]\n", "a.toml").unwrap();
    let b = Rules::from_toml("[[dictionary]]\nid = \"k.x\"\nwords = [\"b\"]\n", "b.toml").unwrap();
    let err = InspectorBuilder::new()
        .rules(Rules::builtin().merge(a).merge(b))
        .build()
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("b.toml:2:6: detector id \"k.x\""),
        "{err}"
    );
}

#[test]
fn case_sensitive_and_standalone_user_words() {
    let toml = "[[dictionary]]\nid = \"k.code\"\nwords = [\"KZ\"]\ncase_sensitive = true\nstandalone = [\"案\"]\n";
    let rules = Rules::from_toml(toml, "r.toml").unwrap();
    let inspector = InspectorBuilder::new().rules(rules).build().unwrap();
    assert_eq!(
        inspector.inspect_text("KZ kz").first().map(|f| f.count),
        Some(1)
    );
    assert!(inspector.inspect_text("案件").is_empty());
    assert_eq!(inspector.inspect_text("表紙\n案\n本文").len(), 1);
}
