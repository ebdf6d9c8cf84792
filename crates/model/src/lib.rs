//! The vocabulary of Mamori.
//!
//! Every enforcement point in Mamori follows one flow: *source → classify → decide → act → record*.
//! The values that cross from one step to the next are defined here, small and serialisable, so
//! that the inspection engine, the policy, the journal, the agent and the gateways all speak the
//! same language without depending on each other:
//!
//! * [`Finding`]: something confidential the inspection engine found, with where it was
//!   ([`Location`]), how sure it is ([`Confidence`]) and a masked sample.
//! * [`Uninspectable`]: content the engine could not read (encrypted, corrupt, over a limit). The
//!   policy treats it as a finding class of its own, never as a silent pass.
//! * [`Channel`], [`Action`] and [`Decision`]: what the policy answers for a file on a way out.
//!
//! ```
//! use mamori_model::{Category, Confidence, Finding, Location};
//!
//! let finding = Finding::new("jp.my_number", Category::PersonalId, Confidence::High)
//!     .with_location(Location::root().child("customers.zip").child("list.csv"))
//!     .with_sample("1234-****-9018");
//! assert_eq!(finding.location.to_string(), "customers.zip > list.csv");
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fmt;

use serde::{Deserialize, Serialize};

/// How sure a detector is that a match is what it claims to be.
///
/// The tiers follow the convention of Microsoft Purview and Google DLP: a bare pattern is
/// [`Confidence::Low`], a pattern with a valid check digit is [`Confidence::Medium`], and a valid
/// pattern with supporting context words nearby is [`Confidence::High`]. Ordered, so a policy can
/// ask for "at least medium".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// A plausible match without corroboration (Purview 65).
    Low,
    /// A match that passed validation (check digit, structure) (Purview 75).
    Medium,
    /// A validated match with supporting evidence such as context words (Purview 85).
    High,
}

impl Confidence {
    /// The numeric score used by Purview-style rule packs: 65, 75 or 85.
    pub fn score(self) -> u8 {
        match self {
            Confidence::Low => 65,
            Confidence::Medium => 75,
            Confidence::High => 85,
        }
    }

    /// The stable lower-case name (`low`, `medium`, `high`).
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

impl fmt::Display for Confidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of confidential information a finding is.
///
/// Policies match on categories as well as on detector ids, so that "any personal identifier"
/// can be written once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// A confidentiality marking: 社外秘, 極秘, ㊙, Confidential.
    Label,
    /// A word from a dictionary: project code names, product names, customer names.
    Keyword,
    /// An identifier of a person: My Number, driver's licence, passport, residence card.
    PersonalId,
    /// An identifier of an organisation: corporate number, invoice registration number.
    CorporateId,
    /// Payment and banking data: card numbers, bank accounts.
    Financial,
    /// Contact data: phone numbers, e-mail addresses, postal addresses.
    Contact,
    /// Credentials: cloud access keys, private keys, API tokens.
    Credential,
    /// Text copied from a registered confidential document.
    Fingerprint,
    /// Cells of a registered table of sensitive records (exact data match).
    ExactData,
    /// Anything a user-defined rule declares.
    Custom,
}

impl Category {
    /// Every category, in declaration order.
    pub const ALL: [Category; 10] = [
        Category::Label,
        Category::Keyword,
        Category::PersonalId,
        Category::CorporateId,
        Category::Financial,
        Category::Contact,
        Category::Credential,
        Category::Fingerprint,
        Category::ExactData,
        Category::Custom,
    ];

    /// The stable snake_case name used in rules files, policies and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Label => "label",
            Category::Keyword => "keyword",
            Category::PersonalId => "personal_id",
            Category::CorporateId => "corporate_id",
            Category::Financial => "financial",
            Category::Contact => "contact",
            Category::Credential => "credential",
            Category::Fingerprint => "fingerprint",
            Category::ExactData => "exact_data",
            Category::Custom => "custom",
        }
    }

    /// Parses the snake_case name; `None` for an unknown one.
    pub fn parse(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where inside a piece of content something was found.
///
/// A location is a chain of segments from the outermost container inwards, for example
/// `outer.zip > inner.zip > docs/spec.docx > word/header1.xml`, plus an optional page or sheet
/// number. The file on disk itself is *not* part of the location: reports carry the path next to
/// it. An empty chain means "the content itself".
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Location {
    /// Segments from the outside in: archive members, document parts, sheet names, MIME parts.
    pub segments: Vec<String>,
    /// One-based page (PDF) or slide number, where the format has pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
}

impl Location {
    /// The location of the content itself.
    pub fn root() -> Location {
        Location::default()
    }

    /// This location with one more segment inside it.
    pub fn child(&self, segment: impl Into<String>) -> Location {
        let mut segments = self.segments.clone();
        segments.push(segment.into());
        Location {
            segments,
            page: None,
        }
    }

    /// This location on a given one-based page.
    pub fn with_page(mut self, page: u32) -> Location {
        self.page = Some(page);
        self
    }

    /// True for the location of the content itself.
    pub fn is_root(&self) -> bool {
        self.segments.is_empty() && self.page.is_none()
    }

    /// How many containers deep this location is.
    pub fn depth(&self) -> usize {
        self.segments.len()
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str(" > ")?;
            }
            f.write_str(segment)?;
        }
        if let Some(page) = self.page {
            if !self.segments.is_empty() {
                f.write_str(" ")?;
            }
            write!(f, "(page {page})")?;
        }
        Ok(())
    }
}

/// A match of a registered confidential document inside scanned content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentMatch {
    /// The name the document was registered under.
    pub document: String,
    /// The classification level the document was registered with (a policy level id).
    pub level: String,
    /// Share of the registered document's fingerprints present in the scanned text, 0.0 to 1.0.
    pub containment: f64,
    /// Share of the scanned text's fingerprints that come from the registered document, 0.0 to 1.0.
    pub coverage: f64,
}

/// Something confidential found by a detector.
///
/// Findings never carry the secret itself: [`Finding::sample`] is masked
/// (`1234-****-9018`) unless the caller explicitly asked the engine for raw samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable detector id, for example `label.shagaihi`, `jp.my_number`, `secret.aws_access_key`.
    pub detector: String,
    /// What kind of information this is.
    pub category: Category,
    /// How sure the detector is.
    pub confidence: Confidence,
    /// How many matches this finding stands for (matches of one detector at one location and
    /// confidence are folded into one finding).
    pub count: u32,
    /// Where the matches were.
    pub location: Location,
    /// Byte ranges of (at most the first few) matches in the extracted, *un-normalised* text of
    /// the location, as `[start, end)` pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offsets: Vec<(usize, usize)>,
    /// A masked example of what matched.
    pub sample: String,
    /// For fingerprint findings: which registered document matched, and how much of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<DocumentMatch>,
}

impl Finding {
    /// A finding with a count of one, at the root location, with no sample.
    pub fn new(detector: impl Into<String>, category: Category, confidence: Confidence) -> Finding {
        Finding {
            detector: detector.into(),
            category,
            confidence,
            count: 1,
            location: Location::root(),
            offsets: Vec::new(),
            sample: String::new(),
            document: None,
        }
    }

    /// This finding at another location.
    pub fn with_location(mut self, location: Location) -> Finding {
        self.location = location;
        self
    }

    /// This finding with a (masked) sample.
    pub fn with_sample(mut self, sample: impl Into<String>) -> Finding {
        self.sample = sample.into();
        self
    }
}

/// Why some content could not be inspected.
///
/// Each reason is a finding class of its own for the policy (`uninspectable`): an encrypted
/// archive is not a clean archive.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
#[non_exhaustive]
pub enum UninspectableReason {
    /// The content is encrypted (OOXML `EncryptedPackage`, PDF `/Encrypt`, encrypted zip entry).
    Encrypted,
    /// The content is damaged or not what its magic bytes claim; the detail says what broke.
    Corrupt(String),
    /// A PDF or image with no extractable text layer (a scan, or fonts without a Unicode map).
    NoTextLayer,
    /// Bigger than the configured input size limit.
    TooLarge,
    /// Containers nested deeper than the configured depth.
    TooDeep,
    /// More expanded bytes than the configured total, across all nested content.
    ExpansionLimit,
    /// A compressed member whose expansion ratio exceeds the limit (zip bomb).
    CompressionRatio,
    /// More archive entries than the configured limit.
    TooManyEntries,
    /// The time budget for this content ran out.
    Timeout,
    /// A parser failed internally (a caught panic); the detail names the parser.
    ParserFailure(String),
}

impl UninspectableReason {
    /// The stable snake_case name of the reason's kind (`encrypted`, `too_deep`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            UninspectableReason::Encrypted => "encrypted",
            UninspectableReason::Corrupt(_) => "corrupt",
            UninspectableReason::NoTextLayer => "no_text_layer",
            UninspectableReason::TooLarge => "too_large",
            UninspectableReason::TooDeep => "too_deep",
            UninspectableReason::ExpansionLimit => "expansion_limit",
            UninspectableReason::CompressionRatio => "compression_ratio",
            UninspectableReason::TooManyEntries => "too_many_entries",
            UninspectableReason::Timeout => "timeout",
            UninspectableReason::ParserFailure(_) => "parser_failure",
        }
    }

    /// What the reason means, for the person whose upload, mail or print job it stopped: a
    /// noun phrase that follows "検査できない内容:" / "Could not inspect:", with no parser
    /// names or other internals (those are in [`fmt::Display`] and the journal).
    pub fn describe(&self) -> Bilingual {
        let (ja, en) = match self {
            UninspectableReason::Encrypted => ("暗号化された内容", "encrypted content"),
            UninspectableReason::Corrupt(_) => (
                "壊れているか形式が正しくない内容",
                "damaged or malformed content",
            ),
            UninspectableReason::NoTextLayer => (
                "文字情報のない PDF や画像（スキャンなど）",
                "a PDF or image without text (a scan, for example)",
            ),
            UninspectableReason::TooLarge => (
                "検査できる大きさを超えた内容",
                "content too large to inspect",
            ),
            UninspectableReason::TooDeep => {
                ("入れ子が深すぎる圧縮ファイル", "archives nested too deeply")
            }
            UninspectableReason::ExpansionLimit | UninspectableReason::TooManyEntries => (
                "展開すると大きすぎる圧縮ファイル",
                "an archive too large once unpacked",
            ),
            UninspectableReason::CompressionRatio => (
                "圧縮率が異常な圧縮ファイル（圧縮爆弾の疑い）",
                "an archive with an abnormal compression ratio (a possible zip bomb)",
            ),
            UninspectableReason::Timeout => (
                "時間内に検査を終えられなかった内容",
                "content whose inspection did not finish in time",
            ),
            UninspectableReason::ParserFailure(_) => {
                ("読み取りに失敗した内容", "content that could not be read")
            }
        };
        Bilingual::new(ja, en)
    }
}

impl fmt::Display for UninspectableReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UninspectableReason::Corrupt(detail) => write!(f, "corrupt: {detail}"),
            UninspectableReason::ParserFailure(detail) => write!(f, "parser failure: {detail}"),
            other => f.write_str(other.kind()),
        }
    }
}

/// A part of some content that could not be inspected, and why.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Uninspectable {
    /// Where the unreadable part is.
    pub location: Location,
    /// Why it could not be read.
    pub reason: UninspectableReason,
}

impl fmt::Display for Uninspectable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.location.is_root() {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "{}: {}", self.location, self.reason)
        }
    }
}

/// A way information can leave, or be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Opening the file at all.
    FileAccess,
    /// Copy, rename or move to another local place.
    LocalCopy,
    /// Writing to removable media (USB storage, SD cards).
    RemovableMedia,
    /// Writing to a network share (NFS, SMB, SSHFS).
    NetworkShare,
    /// Printing.
    Print,
    /// Uploading over the web.
    WebUpload,
    /// Sending by mail.
    Mail,
}

impl Channel {
    /// Every channel, in declaration order.
    pub const ALL: [Channel; 7] = [
        Channel::FileAccess,
        Channel::LocalCopy,
        Channel::RemovableMedia,
        Channel::NetworkShare,
        Channel::Print,
        Channel::WebUpload,
        Channel::Mail,
    ];

    /// The stable snake_case name used in policies, the journal and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::FileAccess => "file_access",
            Channel::LocalCopy => "local_copy",
            Channel::RemovableMedia => "removable_media",
            Channel::NetworkShare => "network_share",
            Channel::Print => "print",
            Channel::WebUpload => "web_upload",
            Channel::Mail => "mail",
        }
    }

    /// Parses the snake_case name; `None` for an unknown one.
    pub fn parse(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an enforcement point does with an operation.
///
/// Ordered from the most permissive to the most restrictive, so that "the most restrictive
/// matching action wins" is `max()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Let it happen.
    Allow,
    /// Let it happen and record it in the audit log.
    Audit,
    /// Let it happen, tell the person, and record a warning.
    Notify,
    /// Let it happen only once the person gives a business reason, which is recorded.
    Justify,
    /// Let it happen once the content is encrypted (removable media, mail).
    Encrypt,
    /// Hold it for a reviewer (mail).
    Quarantine,
    /// Refuse it, tell the person, and record a warning.
    Block,
}

impl Action {
    /// Every action, from the most permissive to the most restrictive.
    pub const ALL: [Action; 7] = [
        Action::Allow,
        Action::Audit,
        Action::Notify,
        Action::Justify,
        Action::Encrypt,
        Action::Quarantine,
        Action::Block,
    ];

    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Audit => "audit",
            Action::Notify => "notify",
            Action::Justify => "justify",
            Action::Encrypt => "encrypt",
            Action::Quarantine => "quarantine",
            Action::Block => "block",
        }
    }

    /// Parses the snake_case name; `None` for an unknown one.
    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// True for actions whose events belong in the warning log (anything other than allow and
    /// audit).
    pub fn is_warning(self) -> bool {
        !matches!(self, Action::Allow | Action::Audit)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A sentence for a person, in Japanese and English.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Bilingual {
    /// 日本語.
    pub ja: String,
    /// English.
    pub en: String,
}

impl Bilingual {
    /// A sentence from its two translations.
    pub fn new(ja: impl Into<String>, en: impl Into<String>) -> Bilingual {
        Bilingual {
            ja: ja.into(),
            en: en.into(),
        }
    }

    /// The translation for a language tag (`ja`, `ja_JP.UTF-8`, `en`...): Japanese for any tag
    /// starting with `ja`, English otherwise.
    pub fn for_lang(&self, lang: &str) -> &str {
        if lang.starts_with("ja") {
            &self.ja
        } else {
            &self.en
        }
    }
}

/// What the policy decided for one operation, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// What to do.
    pub action: Action,
    /// The classification level of the content (a policy level id).
    pub level: String,
    /// Ids of every rule that matched, the deciding one first.
    pub rules: Vec<String>,
    /// A reason a person can read in a pop-up, in Japanese and English.
    pub reason: Bilingual,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_display_joins_segments_and_page() {
        assert_eq!(Location::root().to_string(), "");
        let loc = Location::root()
            .child("outer.zip")
            .child("inner.zip")
            .child("a/b.txt");
        assert_eq!(loc.to_string(), "outer.zip > inner.zip > a/b.txt");
        assert_eq!(
            Location::root().child("x.pdf").with_page(3).to_string(),
            "x.pdf (page 3)"
        );
        assert_eq!(Location::root().with_page(2).to_string(), "(page 2)");
    }

    #[test]
    fn actions_are_ordered_by_restrictiveness() {
        assert!(Action::Block > Action::Quarantine);
        assert!(Action::Notify > Action::Audit);
        assert_eq!(
            [Action::Notify, Action::Block, Action::Allow]
                .into_iter()
                .max(),
            Some(Action::Block)
        );
        assert!(!Action::Audit.is_warning());
        assert!(Action::Notify.is_warning());
    }

    #[test]
    fn names_round_trip() {
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
            assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
        }
        for c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
        assert_eq!(Channel::parse("usb"), None);
    }

    #[test]
    fn uninspectable_serialises_with_kind() {
        let u = Uninspectable {
            location: Location::root().child("a.zip"),
            reason: UninspectableReason::Corrupt("bad central directory".into()),
        };
        let json = serde_json::to_string(&u).unwrap();
        assert!(json.contains(r#""kind":"corrupt""#), "{json}");
        assert_eq!(u.to_string(), "a.zip: corrupt: bad central directory");
    }

    #[test]
    fn bilingual_picks_language() {
        let b = Bilingual::new("社外秘", "internal");
        assert_eq!(b.for_lang("ja_JP.UTF-8"), "社外秘");
        assert_eq!(b.for_lang("en_US"), "internal");
    }
}
