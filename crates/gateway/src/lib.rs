//! Mamori's enforcement core: the one flow every enforcement point shares.
//!
//! ```text
//! source  ->  inspect  ->  classify + decide  ->  act  ->  record
//! (ICAP,      Gatekeeper::  Gatekeeper::judge     (the      Gatekeeper::record
//!  milter,    inspect_*)    -> Judgement          caller)   -> journal
//!  print,
//!  agent)
//! ```
//!
//! A gateway (ICAP, milter, print backend) or the agent holds one [`Gatekeeper`]. For each
//! upload, message or job it inspects every part ([`Gatekeeper::inspect_bytes`],
//! [`Gatekeeper::inspect_file`]), asks for one [`Judgement`] over all parts
//! ([`Gatekeeper::judge`]), acts on [`Judgement::decision`], and records
//! [`Judgement::event`] with [`Gatekeeper::record`].
//!
//! Inspection does not depend on the policy; classification and decision do, and both are
//! made in [`Gatekeeper::judge`] against one snapshot of the policy, so a reload
//! ([`Gatekeeper::replace_policy`], on SIGHUP) between inspecting and judging is harmless.
//!
//! ```
//! use mamori_gateway::{Gatekeeper, Lang};
//! use mamori_model::{Action, Channel};
//! use mamori_policy::{Destination, Policy, Principal};
//!
//! let inspector = mamori_inspect::InspectorBuilder::new().build().unwrap();
//! let gatekeeper = Gatekeeper::new(inspector, Policy::default_policy());
//! let part = gatekeeper.inspect_bytes(Some("plan.txt"), "社外秘: 新製品の設計".as_bytes());
//! let judgement = gatekeeper.judge(
//!     &[part],
//!     Channel::WebUpload,
//!     &Principal::new("sato"),
//!     &Destination::Url("https://uploads.example.com/x".into()),
//! );
//! assert_eq!(judgement.level, "internal");
//! assert!(judgement.decision.action > Action::Audit);
//! assert!(judgement.message(Lang::En).contains("label.shagaihi"));
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fs::File;
use std::sync::{Arc, PoisonError, RwLock};

use mamori_inspect::Inspector;
use mamori_journal::{Event, EventId, Item, Journal, JournalError, Operation};
use mamori_model::{
    Action, Bilingual, Channel, Confidence, Decision, Finding, Location, Uninspectable,
};
use mamori_policy::{ClassifyInput, DecideInput, Destination, LevelId, Policy, Principal};

/// What can go wrong when recording.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The journal refused the event (disk full, closed after an I/O error...).
    #[error("cannot record the event in the journal / 監査ログに記録できません: {0}")]
    Journal(#[from] JournalError),
}

/// The language of a message shown to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// 日本語.
    #[default]
    Ja,
    /// English.
    En,
}

impl Lang {
    /// The language an HTTP `Accept-Language` header prefers, among Japanese and English (the
    /// first of the two listed with the highest weight; Japanese when neither is listed, since
    /// Mamori's users are in Japan).
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for item in header.split(',') {
            let mut fields = item.split(';');
            let tag = fields.next().unwrap_or("").trim().to_ascii_lowercase();
            let weight = fields
                .filter_map(|f| f.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let lang = if tag == "ja" || tag.starts_with("ja-") {
                Lang::Ja
            } else if tag == "en" || tag.starts_with("en-") {
                Lang::En
            } else {
                continue;
            };
            if best.is_none_or(|(w, _)| weight > w) {
                best = Some((weight, lang));
            }
        }
        best.map_or(Lang::Ja, |(_, lang)| lang)
    }

    /// The language of a POSIX locale name (`ja_JP.UTF-8` → Japanese, `C`/`en_US` → English).
    pub fn from_locale(locale: &str) -> Lang {
        if locale.to_ascii_lowercase().starts_with("ja") {
            Lang::Ja
        } else {
            Lang::En
        }
    }

    /// The text of `b` in this language.
    pub fn pick(self, b: &Bilingual) -> &str {
        match self {
            Lang::Ja => &b.ja,
            Lang::En => &b.en,
        }
    }
}

/// One inspected part: an uploaded file, an attachment, a mail body, a print job's document.
///
/// Inspection is independent of the policy; [`Gatekeeper::judge`] classifies.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Part {
    /// The part's name as the sender gave it (an upload's file name, an attachment's name).
    pub name: Option<String>,
    /// The content type detected from the bytes.
    pub content_type: String,
    /// The part's size in bytes.
    pub bytes: u64,
    /// What the engine found.
    pub findings: Vec<Finding>,
    /// What the engine could not read, and why.
    pub uninspectable: Vec<Uninspectable>,
}

impl Part {
    fn from_report(name: Option<&str>, size: u64, report: mamori_inspect::Report) -> Part {
        Part {
            name: name.map(str::to_owned),
            content_type: report.content_type,
            bytes: size.max(report.bytes_read),
            findings: report.findings,
            uninspectable: report.uninspectable,
        }
    }
}

/// One part's level, as the judgement saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartLevel {
    /// The part's name, if it had one.
    pub name: Option<String>,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its content type.
    pub content_type: String,
    /// Its level (a policy level id).
    pub level: String,
}

/// The outcome for one upload, message or job: its level, the decision, and what was found.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// The level id: the highest level of any part.
    pub level: String,
    /// The level's display names.
    pub level_name: Bilingual,
    /// What the policy decided (action, matched rules, reason).
    pub decision: Decision,
    /// Every part's findings; the location of a named part's findings starts with its name.
    pub findings: Vec<Finding>,
    /// Every part's unreadable content, located like the findings.
    pub uninspectable: Vec<Uninspectable>,
    /// Why the content got its level, deciding reasons first.
    pub reasons: Vec<Bilingual>,
    /// Each part's level.
    pub parts: Vec<PartLevel>,
    /// Where the content was going, as the journal records it.
    pub destination: mamori_journal::Destination,
    /// What was found, described for a person, surest and most frequent first (see [`Found`]).
    pub found: Vec<Found>,
}

/// One kind of thing found, described for the person whose action was decided: the detector's
/// own description (「社外秘」の表示, "the marking 社外秘") or, for a fingerprint, the registered
/// document, with how many times it was found. The detector id stays for the help desk.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The detector's stable id (`label.shagaihi`, `jp.my_number`, `fingerprint.document`).
    pub detector: String,
    /// What it is, in both languages.
    pub description: Bilingual,
    /// How many times it was found, over every part.
    pub count: u64,
}

impl Found {
    /// `description ×count`, in `lang`.
    pub fn text(&self, lang: Lang) -> String {
        let description = lang.pick(&self.description);
        match (self.count, lang) {
            (0 | 1, _) => description.to_owned(),
            (n, Lang::Ja) => format!("{description}（{n} 件）"),
            (n, Lang::En) => format!("{description} ({n} times)"),
        }
    }
}

/// Groups `findings` by detector (and, for fingerprints, by registered document), described
/// with `describe(detector id)`; the surest first (a label before an e-mail address), then the
/// most frequent, then by id.
fn found_for_people(
    findings: &[Finding],
    describe: impl Fn(&str) -> Option<Bilingual>,
) -> Vec<Found> {
    let mut found: Vec<(Option<&str>, Confidence, Found)> = Vec::new();
    for f in findings {
        let document = f.document.as_ref().map(|d| d.document.as_str());
        match found
            .iter_mut()
            .find(|(doc, _, x)| x.detector == f.detector && *doc == document)
        {
            Some((_, confidence, x)) => {
                x.count += u64::from(f.count);
                *confidence = (*confidence).max(f.confidence);
            }
            None => {
                let description = match document {
                    Some(name) => Bilingual::new(
                        format!("登録された機密文書「{name}」の内容"),
                        format!("text of the registered document \"{name}\""),
                    ),
                    None => describe(&f.detector)
                        .unwrap_or_else(|| Bilingual::new(f.detector.clone(), f.detector.clone())),
                };
                found.push((
                    document,
                    f.confidence,
                    Found {
                        detector: f.detector.clone(),
                        description,
                        count: u64::from(f.count),
                    },
                ));
            }
        }
    }
    found.sort_by(|(_, ca, a), (_, cb, b)| {
        cb.cmp(ca)
            .then(b.count.cmp(&a.count))
            .then_with(|| a.detector.cmp(&b.detector))
    });
    found.into_iter().map(|(_, _, x)| x).collect()
}

impl Judgement {
    /// True when the content must not go through: `block` or `quarantine` (a gateway holds
    /// quarantined content for review), or `justify` / `encrypt`, which a gateway cannot ask
    /// for in-line and so refuses.
    pub fn stops(&self) -> bool {
        self.decision.action >= Action::Justify
    }

    /// A journal event for this judgement: level, findings (masked), channel, destination and
    /// decision filled in; the caller adds who, the transfer and the rest.
    pub fn event(&self, op: Operation, channel: Channel) -> Event {
        let mut event = Event::new(op)
            .with_level(self.level.clone())
            .with_findings(self.findings.clone())
            .with_channel(channel)
            .with_decision(self.decision.clone());
        if self.destination != mamori_journal::Destination::default() {
            event = event.with_destination(self.destination.clone());
        }
        event
    }

    /// The parts as transfer items for the journal.
    pub fn items(&self) -> Vec<Item> {
        self.parts
            .iter()
            .map(|p| Item {
                name: p.name.clone(),
                size: p.bytes,
                content_type: (!p.content_type.is_empty()).then(|| p.content_type.clone()),
                level: Some(p.level.clone()),
            })
            .collect()
    }

    /// The distinct detector ids found, with counts, most frequent first: `label.shagaihi ×2`.
    pub fn detector_summary(&self) -> Vec<String> {
        let mut counts: Vec<(String, u64)> = Vec::new();
        for f in &self.findings {
            match counts.iter_mut().find(|(d, _)| *d == f.detector) {
                Some((_, n)) => *n += u64::from(f.count),
                None => counts.push((f.detector.clone(), u64::from(f.count))),
            }
        }
        counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        counts
            .into_iter()
            .map(|(d, n)| if n > 1 { format!("{d} ×{n}") } else { d })
            .collect()
    }

    /// What was found, for a person, in `lang`: one [`Found::text`] per kind.
    pub fn found_text(&self, lang: Lang) -> Vec<String> {
        self.found.iter().map(|f| f.text(lang)).collect()
    }

    /// What could not be inspected, for a person ([`UninspectableReason::describe`]), each
    /// reason once, in the order met.
    ///
    /// [`UninspectableReason::describe`]: mamori_model::UninspectableReason::describe
    pub fn unreadable(&self) -> Vec<Bilingual> {
        let mut out: Vec<Bilingual> = Vec::new();
        for u in &self.uninspectable {
            let described = u.reason.describe();
            if !out.contains(&described) {
                out.push(described);
            }
        }
        out
    }

    /// A message for the person whose action was decided: what was found, the level, the
    /// deciding rule and the policy's reason. Never contains a raw secret (samples are left out).
    pub fn message(&self, lang: Lang) -> String {
        let found = self.found_text(lang);
        let described = self.unreadable();
        let unreadable: Vec<&str> = described.iter().map(|u| lang.pick(u)).collect();
        let ids = self.detector_summary();
        let rule = self.decision.rules.first().map(String::as_str);
        let mut out = String::new();
        match lang {
            Lang::Ja => {
                out.push_str(&format!("機密区分: {}\n", self.level_name.ja));
                if !found.is_empty() {
                    out.push_str(&format!("検出: {}\n", found.join("、")));
                }
                if !unreadable.is_empty() {
                    out.push_str(&format!("検査できない内容: {}\n", unreadable.join("、")));
                }
                if let Some(rule) = rule {
                    out.push_str(&format!("規則: {rule}\n"));
                }
                out.push_str(&format!("理由: {}", self.decision.reason.ja));
                if !ids.is_empty() {
                    out.push_str(&format!("\n（管理者向け: {}）", ids.join(", ")));
                }
            }
            Lang::En => {
                out.push_str(&format!("Classification: {}\n", self.level_name.en));
                if !found.is_empty() {
                    out.push_str(&format!("Found: {}\n", found.join("; ")));
                }
                if !unreadable.is_empty() {
                    out.push_str(&format!("Could not inspect: {}\n", unreadable.join("; ")));
                }
                if let Some(rule) = rule {
                    out.push_str(&format!("Rule: {rule}\n"));
                }
                out.push_str(&format!("Reason: {}", self.decision.reason.en));
                if !ids.is_empty() {
                    out.push_str(&format!("\n(For the administrator: {})", ids.join(", ")));
                }
            }
        }
        out
    }
}

/// The policy's destination as the journal records it.
pub fn journal_destination(destination: &Destination) -> mamori_journal::Destination {
    let mut out = mamori_journal::Destination::default();
    match destination {
        Destination::Usb(device) => out.device_serial = Some(device.to_string()),
        Destination::Mail(recipients) => out.recipients = recipients.clone(),
        Destination::Url(url) => out.url = Some(url.clone()),
        Destination::Printer(printer) => out.printer = Some(printer.clone()),
        Destination::Share(path) => out.url = Some(path.clone()),
        // Unknown, or a kind added later: nothing to record.
        _ => {}
    }
    out
}

/// Inspection engine, policy and journal, shared by every connection of a gateway.
///
/// Cheap to share behind an `Arc`; every method takes `&self`.
#[derive(Debug)]
pub struct Gatekeeper {
    inspector: Arc<Inspector>,
    policy: RwLock<Arc<Policy>>,
    journal: Option<Arc<Journal>>,
}

impl Gatekeeper {
    /// A gatekeeper that records nothing (add a journal with [`Gatekeeper::with_journal`]).
    pub fn new(inspector: Inspector, policy: Policy) -> Gatekeeper {
        Gatekeeper {
            inspector: Arc::new(inspector),
            policy: RwLock::new(Arc::new(policy)),
            journal: None,
        }
    }

    /// This gatekeeper recording into `journal`.
    pub fn with_journal(mut self, journal: Arc<Journal>) -> Gatekeeper {
        self.journal = Some(journal);
        self
    }

    /// The inspection engine.
    pub fn inspector(&self) -> &Inspector {
        &self.inspector
    }

    /// The journal, when there is one.
    pub fn journal(&self) -> Option<&Arc<Journal>> {
        self.journal.as_ref()
    }

    /// The policy in force now (a snapshot: a reload does not change it under the caller).
    pub fn policy(&self) -> Arc<Policy> {
        self.policy
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts a new policy in force (after it was loaded and validated: a reload that fails
    /// keeps the old one). Judgements under way finish with the policy they started with.
    pub fn replace_policy(&self, policy: Policy) {
        *self.policy.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(policy);
    }

    /// Inspects one in-memory part.
    pub fn inspect_bytes(&self, name: Option<&str>, bytes: &[u8]) -> Part {
        let report = self.inspector.inspect_bytes(bytes);
        Part::from_report(name, bytes.len() as u64, report)
    }

    /// Inspects one part spooled to a file, read from its current start; memory stays bounded
    /// whatever its size.
    pub fn inspect_file(&self, name: Option<&str>, file: &mut File) -> std::io::Result<Part> {
        use std::io::Seek as _;
        let len = file.metadata()?.len();
        file.rewind()?;
        let report = self.inspector.inspect_reader(file, len)?;
        Ok(Part::from_report(name, len, report))
    }

    /// Classifies every part and decides for the whole: the level is the highest part's level,
    /// decided once for `channel`, `principal` and `destination` with one policy snapshot.
    /// With no parts (an empty upload) the policy's default level is decided.
    pub fn judge(
        &self,
        parts: &[Part],
        channel: Channel,
        principal: &Principal,
        destination: &Destination,
    ) -> Judgement {
        let policy = self.policy();
        let mut level: LevelId = policy.default_level();
        let mut reasons: Vec<(LevelId, Bilingual)> = Vec::new();
        let mut part_levels = Vec::with_capacity(parts.len());
        let mut findings = Vec::new();
        let mut uninspectable = Vec::new();
        for part in parts {
            let class = policy.classify(&ClassifyInput {
                path: None,
                findings: &part.findings,
                uninspectable: &part.uninspectable,
                explicit_label: None,
            });
            if class.level > level {
                level = class.level;
            }
            for why in &class.reasons {
                let text = policy.explain(why);
                if !reasons.iter().any(|(_, t)| *t == text) {
                    reasons.push((why.level(), text));
                }
            }
            part_levels.push(PartLevel {
                name: part.name.clone(),
                bytes: part.bytes,
                content_type: part.content_type.clone(),
                level: policy.level(class.level).id.clone(),
            });
            let prefix = |location: &Location| match &part.name {
                Some(name) if parts.len() > 1 || !name.is_empty() => {
                    let mut segments = vec![name.clone()];
                    segments.extend(location.segments.iter().cloned());
                    Location {
                        segments,
                        page: location.page,
                    }
                }
                _ => location.clone(),
            };
            findings.extend(part.findings.iter().map(|f| {
                let mut f = f.clone();
                f.location = prefix(&f.location);
                f
            }));
            uninspectable.extend(part.uninspectable.iter().map(|u| Uninspectable {
                location: prefix(&u.location),
                reason: u.reason.clone(),
            }));
        }
        // The reasons giving the final level first, then the rest in the order found.
        reasons.sort_by_key(|(l, _)| std::cmp::Reverse(*l == level));
        let decision = policy.decide(&DecideInput {
            level,
            channel,
            principal,
            destination,
        });
        let level_info = policy.level(level);
        let detectors = self.inspector.detectors();
        let found = found_for_people(&findings, |id| {
            detectors
                .iter()
                .find(|d| d.id == id)
                .map(|d| d.description.clone())
        });
        Judgement {
            level: level_info.id.clone(),
            level_name: Bilingual::new(level_info.ja.clone(), level_info.en.clone()),
            decision,
            findings,
            uninspectable,
            reasons: reasons.into_iter().map(|(_, t)| t).collect(),
            parts: part_levels,
            destination: journal_destination(destination),
            found,
        }
    }

    /// Records an event in the journal; `Ok(None)` when this gatekeeper has no journal.
    pub fn record(&self, event: Event) -> Result<Option<EventId>, GatewayError> {
        match &self.journal {
            Some(journal) => Ok(Some(journal.append(event)?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests;
