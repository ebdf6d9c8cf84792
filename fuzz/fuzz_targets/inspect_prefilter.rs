//! Differential target for the engine's fast paths (the keyword anchor prefilter, the
//! vectorised normaliser scans, the credential rules searched from their literals): the default
//! engine and the reference engine
//! (`reference_engine(true)`, every fast path off) must report identical findings: detector,
//! confidence, count, offsets and sample. Each input byte picks a piece of adversarial text
//! (labels split by zero-width characters or spaces, full-width digits, every dash, `㊙`,
//! `秘書`...) or, when the input is itself UTF-8, the text is also compared as it is. Small
//! windows put labels and identifiers at window edges.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_inspect::{Inspector, InspectorBuilder};
use std::sync::OnceLock;

const PIECES: &[&str] = &[
    "社外秘", "社", "外", "秘", "秘書", "秘密", "秘密鍵", "極秘", "機密", "機密性", "取扱注意", "扱",
    "社内限り", "部外秘", "関係者外秘", "㊙", "マル秘", "(秘)", "（秘）", "【秘】", "Confidential",
    "CONFIDENTIAL", "ＣＯＮＦＩＤＥＮＴＩＡＬ", "conﬁdential", "Strictly ", "Internal Use Only",
    "internal only", "Top Secret", "secret", "secretary", "\u{200B}", "\u{00AD}", "\u{2060}",
    "\u{FEFF}", " ", "\u{3000}", "\n", "\r\n", "\t", "1234", "5678", "9018", "１２３４", "－",
    "-", "ー", "‐", "−", "―", "ｰ", ".", "マイナンバー", "個人番号", "カード番号", "TEL", "法人番号",
    "T", "4111", "03", "AKIA", "IOSFODNN7EXAMPLE", "ghp_", "abcdefghijklmnopqrstuvwxyz0123456789",
    "-----BEGIN RSA PRIVATE KEY-----", "@", "taro", "example.co.jp", "ｶﾞ", "か\u{3099}",
    "e\u{0301}", "𠮷", "、", "。", "資料", "の", "a", "TK", "AB", "CD", "0", "7",
    // The literals the credential rules are searched from (`patterns::Prefixed`).
    "ASIA", "ghr_", "github_pat_", "xox", "xoxb-", "AIza", "eyJ", ".eyJ", "-----BEGIN ", "PGP ",
    "PRIVATE KEY", " BLOCK", "-----", "_",
];

fn engines() -> &'static (Inspector, Inspector) {
    static ENGINES: OnceLock<(Inspector, Inspector)> = OnceLock::new();
    ENGINES.get_or_init(|| {
        let build = |reference: bool| {
            InspectorBuilder::new()
                .window_sizes(512, 256, 96)
                .reference_engine(reference)
                .build()
                .expect("built-in rules compile")
        };
        (build(false), build(true))
    })
}

fn same(text: &str) {
    let (fast, reference) = engines();
    assert_eq!(fast.inspect_text(text), reference.inspect_text(text), "{text:?}");
}

fuzz_target!(|data: &[u8]| {
    let pieces: String = data.iter().map(|b| PIECES[usize::from(*b) % PIECES.len()]).collect();
    same(&pieces);
    if let Ok(text) = std::str::from_utf8(data) {
        same(text);
    }
});
