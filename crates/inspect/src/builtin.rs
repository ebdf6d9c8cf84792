//! The built-in rules: confidentiality labels, identifiers, credentials. Every rule ships
//! positive and negative examples, run by the test suite and by [`crate::Rules::check_examples`].

use mamori_model::{Bilingual, Category, Confidence};

use crate::identifiers::IdKind;
use crate::mask::MaskStyle;
use crate::rules::{DictionaryRule, Examples, IdentifierRule, RegexRule};

/// Purview's default proximity window, in characters.
pub(crate) const DEFAULT_WINDOW: usize = 300;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn examples(matches: &[&str], no_match: &[&str]) -> Examples {
    Examples {
        matches: strings(matches),
        no_match: strings(no_match),
        ..Default::default()
    }
}

struct Label<'a> {
    id: &'a str,
    confidence: Confidence,
    words: &'a [&'a str],
    standalone: &'a [&'a str],
    exclude: &'a [&'a str],
    ja: &'a str,
    en: &'a str,
    matches: &'a [&'a str],
    no_match: &'a [&'a str],
}

const LABELS: &[Label<'static>] = &[
    Label {
        id: "label.gokuhi",
        confidence: Confidence::High,
        words: &["極秘"],
        standalone: &[],
        exclude: &[],
        ja: "「極秘」の表示",
        en: "the marking 極秘 (top secret)",
        matches: &["【極秘】2025年度事業計画", "極 秘", "極\u{200B}秘"],
        no_match: &["極めて重要な秘書業務"],
    },
    Label {
        id: "label.shagaihi",
        confidence: Confidence::High,
        words: &["社外秘"],
        standalone: &[],
        exclude: &[],
        ja: "「社外秘」の表示",
        en: "the marking 社外秘 (not for outside the company)",
        matches: &[
            "社外秘",
            "社 外 秘",
            "社外\n秘",
            "社\u{200B}外秘",
            "(社外秘)議事録",
        ],
        no_match: &["社外の秘書", "社外\n\n秘書"],
    },
    Label {
        id: "label.bugaihi",
        confidence: Confidence::High,
        words: &["部外秘"],
        standalone: &[],
        exclude: &[],
        ja: "「部外秘」の表示",
        en: "the marking 部外秘 (not for outside the department)",
        matches: &["部外秘", "部　外　秘"],
        no_match: &["部外者"],
    },
    Label {
        id: "label.kankeishagaihi",
        confidence: Confidence::High,
        words: &["関係者外秘"],
        standalone: &[],
        exclude: &[],
        ja: "「関係者外秘」の表示",
        en: "the marking 関係者外秘 (for the people concerned only)",
        matches: &["関係者外秘", "関係者\n外秘"],
        no_match: &["関係者各位"],
    },
    Label {
        id: "label.shanai_gentei",
        confidence: Confidence::Medium,
        words: &["社内限り", "社内限定", "社内専用", "社内のみ"],
        standalone: &[],
        exclude: &[],
        ja: "「社内限り」「社内限定」の表示",
        en: "the markings 社内限り / 社内限定 (internal only)",
        matches: &["社内限り", "【社内限定】"],
        no_match: &["社内規定"],
    },
    Label {
        id: "label.toriatsukai_chui",
        confidence: Confidence::Medium,
        words: &["取扱注意", "取り扱い注意", "取扱い注意", "取り扱注意"],
        standalone: &[],
        exclude: &[],
        ja: "「取扱注意」の表示",
        en: "the marking 取扱注意 (handle with care)",
        matches: &["取扱注意", "取り扱い注意"],
        no_match: &["取扱説明書"],
    },
    Label {
        id: "label.kimitsu",
        confidence: Confidence::Medium,
        words: &["機密", "機密情報", "機密文書", "機密資料"],
        standalone: &[],
        exclude: &["機密性"],
        ja: "「機密」の表示",
        en: "the word 機密 (classified)",
        matches: &["機密情報", "機密"],
        no_match: &["機密性、完全性、可用性"],
    },
    Label {
        id: "label.himitsu",
        confidence: Confidence::Low,
        words: &["秘密"],
        standalone: &[],
        exclude: &["秘密鍵", "秘密裏", "秘密裡"],
        ja: "「秘密」の語",
        en: "the word 秘密 (secret)",
        matches: &["秘密の資料"],
        no_match: &["秘密鍵を生成する", "秘書"],
    },
    Label {
        id: "label.maruhi",
        confidence: Confidence::High,
        words: &[
            "㊙",
            "マル秘",
            "まる秘",
            "○秘",
            "◯秘",
            "(秘)",
            "【秘】",
            "[秘]",
            "〔秘〕",
            "「秘」",
            "『秘』",
            "<秘>",
            "〈秘〉",
            "《秘》",
            "≪秘≫",
        ],
        standalone: &["秘"],
        exclude: &[],
        ja: "「秘」「㊙」「マル秘」の表示",
        en: "the marking 秘 / ㊙ (secret), as a stamp, in brackets or alone on a line",
        matches: &[
            "㊙",
            "マル秘",
            "【秘】",
            "（秘）",
            "資料\n秘\n本文",
            "  秘  ",
        ],
        no_match: &["秘書", "便秘", "神秘", "秘密鍵", "極秘書類の扱い秘訣"],
    },
    Label {
        id: "label.confidential",
        confidence: Confidence::Medium,
        words: &[
            "Confidential",
            "Company Confidential",
            "Proprietary and Confidential",
        ],
        standalone: &[],
        exclude: &[],
        ja: "「Confidential」の表示",
        en: "the marking Confidential",
        matches: &[
            "CONFIDENTIAL",
            "ＣＯＮＦＩＤＥＮＴＩＡＬ",
            "Company Confidential",
            "Confi\u{00AD}dential",
        ],
        no_match: &["confidentiality agreement", "nonconfidential"],
    },
    Label {
        id: "label.strictly_confidential",
        confidence: Confidence::High,
        words: &["Strictly Confidential", "Highly Confidential"],
        standalone: &[],
        exclude: &[],
        ja: "「Strictly Confidential」の表示",
        en: "the marking Strictly Confidential",
        matches: &["STRICTLY CONFIDENTIAL", "Highly Confidential"],
        no_match: &["strictly speaking"],
    },
    Label {
        id: "label.internal_use_only",
        confidence: Confidence::Medium,
        words: &[
            "Internal Use Only",
            "For Internal Use Only",
            "Internal Only",
        ],
        standalone: &[],
        exclude: &[],
        ja: "「Internal Use Only」の表示",
        en: "the marking Internal Use Only",
        matches: &["For internal use only", "INTERNAL ONLY"],
        no_match: &["internal use of the API"],
    },
    Label {
        id: "label.top_secret",
        confidence: Confidence::High,
        words: &["Top Secret"],
        standalone: &[],
        exclude: &[],
        ja: "「Top Secret」の表示",
        en: "the marking Top Secret",
        matches: &["TOP SECRET"],
        no_match: &["top secrets"],
    },
    Label {
        id: "label.secret",
        confidence: Confidence::Low,
        words: &["Secret"],
        standalone: &[],
        exclude: &[],
        ja: "「Secret」の語",
        en: "the word Secret",
        matches: &["SECRET", "This is secret."],
        no_match: &["secretary", "client_secret"],
    },
];

pub(crate) fn dictionaries() -> Vec<DictionaryRule> {
    LABELS
        .iter()
        .map(|l| DictionaryRule {
            id: l.id.to_string(),
            category: Category::Label,
            confidence: l.confidence,
            words: strings(l.words),
            standalone: strings(l.standalone),
            exclude: strings(l.exclude),
            whole_word: true,
            case_sensitive: false,
            description: Bilingual::new(l.ja, l.en),
            examples: examples(l.matches, l.no_match),
            origin: None,
        })
        .collect()
}

struct Pattern<'a> {
    id: &'a str,
    category: Category,
    pattern: &'a str,
    /// Literals one of which starts every match (see [`RegexRule::prefixes`]).
    prefixes: &'static [&'static str],
    without_context: Option<Confidence>,
    with_context: Confidence,
    context: &'a [&'a str],
    mask: MaskStyle,
    ja: &'a str,
    en: &'a str,
    matches: &'a [&'a str],
    no_match: &'a [&'a str],
}

const PATTERNS: &[Pattern<'static>] = &[
    Pattern {
        id: "secret.aws_access_key",
        category: Category::Credential,
        pattern: r"(?-u:\b)(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?-u:\b)",
        prefixes: &["AKIA", "ASIA", "ABIA", "ACCA"],
        without_context: Some(Confidence::High),
        with_context: Confidence::High,
        context: &[],
        mask: MaskStyle::Credential,
        ja: "AWS のアクセスキー ID",
        en: "AWS access key id",
        matches: &[
            "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
            "ＡＫＩＡＩＯＳＦＯＤＮＮ７ＥＸＡＭＰＬＥ",
        ],
        no_match: &["AKIAIOSFODNN7EXAMPL", "XAKIAIOSFODNN7EXAMPLE"],
    },
    Pattern {
        id: "secret.private_key",
        category: Category::Credential,
        pattern: r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
        prefixes: &["-----BEGIN "],
        without_context: Some(Confidence::High),
        with_context: Confidence::High,
        context: &[],
        mask: MaskStyle::Clear,
        ja: "秘密鍵のブロック",
        en: "private key block",
        matches: &[
            "-----BEGIN RSA PRIVATE KEY-----\nMIIE",
            "-----BEGIN OPENSSH PRIVATE KEY-----",
            "-----BEGIN PRIVATE KEY-----",
            "-----BEGIN PGP PRIVATE KEY BLOCK-----",
        ],
        no_match: &["-----BEGIN PUBLIC KEY-----", "-----BEGIN CERTIFICATE-----"],
    },
    Pattern {
        id: "secret.github_token",
        category: Category::Credential,
        pattern: r"(?-u:\b)(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{82})(?-u:\b)",
        prefixes: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
        without_context: Some(Confidence::High),
        with_context: Confidence::High,
        context: &[],
        mask: MaskStyle::Credential,
        ja: "GitHub のトークン",
        en: "GitHub token",
        matches: &["token: ghp_abcdefghijklmnopqrstuvwxyz0123456789"],
        no_match: &["ghp_short", "ghx_abcdefghijklmnopqrstuvwxyz0123456789"],
    },
    Pattern {
        id: "secret.slack_token",
        category: Category::Credential,
        pattern: r"(?-u:\b)xox[abposr]-[0-9A-Za-z]{8,}-[0-9A-Za-z-]{8,}",
        prefixes: &["xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-"],
        without_context: Some(Confidence::High),
        with_context: Confidence::High,
        context: &[],
        mask: MaskStyle::Credential,
        ja: "Slack のトークン",
        en: "Slack token",
        matches: &["xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"],
        no_match: &["xoxb-", "xoxz-123456789012-1234567890123"],
    },
    Pattern {
        id: "secret.google_api_key",
        category: Category::Credential,
        pattern: r"(?-u:\b)AIza[0-9A-Za-z_\-]{35}",
        prefixes: &["AIza"],
        without_context: Some(Confidence::Medium),
        with_context: Confidence::High,
        context: &["api key", "apikey", "api_key", "APIキー"],
        mask: MaskStyle::Credential,
        ja: "Google の API キー",
        en: "Google API key",
        matches: &["key=AIzaSyA1234567890abcdefghijklmnopqrstuv"],
        no_match: &["AIzaShort"],
    },
    Pattern {
        id: "secret.jwt",
        category: Category::Credential,
        pattern: r"(?-u:\b)eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        prefixes: &["eyJ"],
        without_context: Some(Confidence::Medium),
        with_context: Confidence::High,
        context: &["authorization", "bearer"],
        mask: MaskStyle::Credential,
        ja: "JSON Web Token",
        en: "JSON Web Token",
        matches: &[
            "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        ],
        no_match: &["eyJhbGciOiJIUzI1NiJ9"],
    },
    Pattern {
        id: "contact.email",
        category: Category::Contact,
        pattern: r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}(?-u:\b)",
        prefixes: &[],
        without_context: Some(Confidence::Medium),
        with_context: Confidence::High,
        context: &[],
        mask: MaskStyle::Email,
        ja: "メールアドレス",
        en: "e-mail address",
        matches: &[
            "連絡先: taro.yamada@example.co.jp",
            "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ",
        ],
        no_match: &["user@localhost", "@example.com"],
    },
];

pub(crate) fn regexes() -> Vec<RegexRule> {
    PATTERNS
        .iter()
        .map(|p| RegexRule {
            id: p.id.to_string(),
            category: p.category,
            pattern: p.pattern.to_string(),
            without_context: p.without_context,
            with_context: p.with_context,
            context: strings(p.context),
            window: DEFAULT_WINDOW,
            mask: p.mask,
            description: Bilingual::new(p.ja, p.en),
            examples: examples(p.matches, p.no_match),
            origin: None,
            anchor: (p.id == "contact.email").then_some(b'@'),
            prefixes: p.prefixes,
        })
        .collect()
}

pub(crate) fn identifiers() -> Vec<IdentifierRule> {
    IdKind::ALL
        .into_iter()
        .map(|kind| {
            let (context, ja, en, matches, no_match): (&[&str], &str, &str, &[&str], &[&str]) =
                match kind {
                    IdKind::MyNumber => (
                        &[
                            "マイナンバー",
                            "個人番号",
                            "個人番号カード",
                            "通知カード",
                            "my number",
                        ],
                        "マイナンバー(個人番号、検査用数字で検証)",
                        "My Number (individual number, check digit verified)",
                        &[
                            "マイナンバー: 1234 5678 9018",
                            "個人番号 １２３４－５６７８－９０１８",
                            "983205673214",
                            "5488\u{2010}3652\u{2010}9885",
                            "6543ー2765ー4322",
                        ],
                        &[
                            "123456789019",
                            "000000000000",
                            "注文番号 1234567890189",
                            "ID abc123456789018",
                        ],
                    ),
                    IdKind::CorporateNumber => (
                        &["法人番号", "corporate number"],
                        "法人番号(検査用数字で検証)",
                        "corporate number (check digit verified)",
                        &["法人番号 7000012050002", "4011001098993"],
                        &["8000012050002", "17000012050002"],
                    ),
                    IdKind::InvoiceNumber => (
                        &["登録番号", "適格請求書", "インボイス", "invoice"],
                        "適格請求書発行事業者の登録番号(T+法人番号)",
                        "invoice registration number (T + corporate number)",
                        &["登録番号：T7000012050002", "T1010601008968"],
                        &["T7000012050003", "AT7000012050002"],
                    ),
                    IdKind::DriversLicence => (
                        &[
                            "免許証",
                            "運転免許",
                            "免許番号",
                            "driver's license",
                            "drivers license",
                            "driving licence",
                        ],
                        "運転免許証番号(文脈語が必要)",
                        "driver's licence number (needs context words)",
                        &["運転免許証番号 301234567891"],
                        &["301234567891", "運転免許証 151234567891"],
                    ),
                    IdKind::BankAccount => (
                        &[
                            "口座番号",
                            "口座",
                            "支店",
                            "普通預金",
                            "当座預金",
                            "振込先",
                            "account number",
                            "bank account",
                        ],
                        "銀行口座番号(文脈語が必要)",
                        "bank account number (needs context words)",
                        &["口座番号 3141592", "振込先: 0001-123-3141592"],
                        &["注文番号 3141592", "3141592"],
                    ),
                    IdKind::CreditCard => (
                        &[
                            "カード番号",
                            "クレジット",
                            "credit card",
                            "card number",
                            "有効期限",
                            "セキュリティコード",
                        ],
                        "クレジットカード番号(Luhn とブランドで検証)",
                        "payment card number (Luhn and brand verified)",
                        &[
                            "カード番号 4111-1111-1111-1111",
                            "5555555555554444",
                            "３５３０ １１１３ ３３３０ ００００",
                        ],
                        &["4111-1111-1111-1112", "1234567812345670"],
                    ),
                    IdKind::Passport => (
                        &["パスポート", "旅券", "旅券番号", "passport"],
                        "旅券番号(パスポート、文脈語が必要)",
                        "Japanese passport number (needs context words)",
                        &["旅券番号: TK1234567", "Passport No. ＭＺ１２３４５６７"],
                        &["TK1234567", "旅券番号 TK12345678", "旅券番号 ATK1234567"],
                    ),
                    IdKind::ResidenceCard => (
                        &[
                            "在留カード",
                            "在留カード番号",
                            "特別永住者証明書",
                            "residence card",
                        ],
                        "在留カード番号",
                        "residence card number",
                        &["在留カード番号 AB12345678CD", "AB12345678CD"],
                        &["AB12345678C", "XAB12345678CD"],
                    ),
                    IdKind::Phone => (
                        &["電話", "TEL", "携帯", "FAX", "連絡先", "phone"],
                        "日本の電話番号",
                        "Japanese phone number",
                        &[
                            "TEL 03-1234-5678",
                            "携帯：０９０－１２３４－５６７８",
                            "090ー1234ー5678",
                        ],
                        &["19012345678", "03-1234-56789", "0312345678"],
                    ),
                };
            IdentifierRule {
                kind,
                context: strings(context),
                window: DEFAULT_WINDOW,
                description: Bilingual::new(ja, en),
                examples: examples(matches, no_match),
            }
        })
        .collect()
}
