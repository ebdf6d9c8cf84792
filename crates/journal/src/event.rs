//! The event model: who, when, which file, what operation, what was found, what was decided.
//!
//! An [`Event`] is what every enforcement point hands to the journal. It is small, serialisable
//! and documented field by field in `docs/events.md`. Findings are stored masked only: see
//! [`Event::with_findings`].

use std::fmt;
use std::str::FromStr;

use mamori_model::{Action, Category, Channel, Decision, Finding};
use serde::{Deserialize, Serialize};

/// The stable identity of an event: a UUID version 7 (time-ordered, random in its low bits).
///
/// The id is given when the event is created, before it is journalled, so that replaying the
/// journal into a store twice stores every event once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub uuid::Uuid);

impl EventId {
    /// A new, unique id for an event happening now.
    pub fn new() -> EventId {
        EventId(uuid::Uuid::now_v7())
    }
}

impl Default for EventId {
    fn default() -> Self {
        EventId::new()
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for EventId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<EventId, uuid::Error> {
        uuid::Uuid::parse_str(s).map(EventId)
    }
}

/// Which log an event belongs to.
///
/// The seed article keeps normal operations in an audit log and pulls policy violations out as a
/// warning log; Mamori keeps one journal and tags each event instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A normal operation, recorded for the record (no decision, or allow / audit).
    Audit,
    /// A policy violation: any decision other than allow or audit.
    Warning,
}

impl Kind {
    /// The stable name (`audit`, `warning`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Audit => "audit",
            Kind::Warning => "warning",
        }
    }

    /// Parses the stable name; `None` for an unknown one.
    pub fn parse(name: &str) -> Option<Kind> {
        match name {
            "audit" => Some(Kind::Audit),
            "warning" => Some(Kind::Warning),
            _ => None,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Operation {
    /// A file was opened.
    Open,
    /// A file was read.
    Read,
    /// A file was written.
    Write,
    /// A file was created.
    Create,
    /// A file was renamed or moved (`path` is the old name, `new_path` the new one).
    Rename,
    /// A file was deleted.
    Delete,
    /// A file was copied (`path` is the source, `new_path` the copy).
    Copy,
    /// A file system was mounted or unmounted.
    Mount,
    /// A device was attached, detached, authorised or refused.
    Device,
    /// A document was printed.
    Print,
    /// Content was uploaded over the web.
    Upload,
    /// Content was sent by mail.
    Mail,
    /// A file was inspected by `mamori scan`.
    Scan,
    /// A confidentiality label was put on a file.
    Label,
    /// The policy was changed or reloaded.
    PolicyChange,
    /// Mamori itself started, stopped or changed its configuration.
    Service,
    /// A file was encrypted into its protected form (`mamori protect`, the `encrypt` action).
    Encrypt,
    /// Someone opened a protected file; the decision says whether the plaintext was released.
    Decrypt,
    /// The key store changed: a user or group created, a member added or removed.
    KeyChange,
    /// A program was executed (the endpoint agent).
    Exec,
}

impl Operation {
    /// Every operation, in declaration order.
    pub const ALL: [Operation; 20] = [
        Operation::Open,
        Operation::Read,
        Operation::Write,
        Operation::Create,
        Operation::Rename,
        Operation::Delete,
        Operation::Copy,
        Operation::Mount,
        Operation::Device,
        Operation::Print,
        Operation::Upload,
        Operation::Mail,
        Operation::Scan,
        Operation::Label,
        Operation::PolicyChange,
        Operation::Service,
        Operation::Encrypt,
        Operation::Decrypt,
        Operation::KeyChange,
        Operation::Exec,
    ];

    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Open => "open",
            Operation::Read => "read",
            Operation::Write => "write",
            Operation::Create => "create",
            Operation::Rename => "rename",
            Operation::Delete => "delete",
            Operation::Copy => "copy",
            Operation::Mount => "mount",
            Operation::Device => "device",
            Operation::Print => "print",
            Operation::Upload => "upload",
            Operation::Mail => "mail",
            Operation::Scan => "scan",
            Operation::Label => "label",
            Operation::PolicyChange => "policy_change",
            Operation::Service => "service",
            Operation::Encrypt => "encrypt",
            Operation::Decrypt => "decrypt",
            Operation::KeyChange => "key_change",
            Operation::Exec => "exec",
        }
    }

    /// Parses the snake_case name; `None` for an unknown one.
    pub fn parse(name: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|o| o.as_str() == name)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The person on whose behalf the operation ran.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct User {
    /// Numeric user id.
    pub uid: u32,
    /// Login name, when it could be resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The process that performed the operation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Process {
    /// Process id.
    pub pid: u32,
    /// Path of the executable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe: Option<String>,
    /// Command line, one element per argument.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cmdline: Vec<String>,
    /// Parent process id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ppid: Option<u32>,
    /// Path of the parent's executable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_exe: Option<String>,
}

/// Which file, independent of its name: device and inode, and what it contains.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileIdentity {
    /// Device number of the file system holding the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<u64>,
    /// Inode number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inode: Option<u64>,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// SHA-256 of the content, lower-case hex. Copies share it: `log trail` follows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl FileIdentity {
    /// The identity of a file on disk: device, inode and size from its metadata, and, when
    /// `hash` is set, the SHA-256 of its content (read in 64 KiB blocks, bounded memory).
    pub fn from_file(path: &std::path::Path, hash: bool) -> std::io::Result<FileIdentity> {
        use sha2::Digest as _;
        use std::io::Read as _;
        use std::os::unix::fs::MetadataExt as _;
        let mut file = std::fs::File::open(path)?;
        let meta = file.metadata()?;
        let sha256 = if hash && meta.is_file() {
            let mut hasher = sha2::Sha256::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
            Some(hex::encode(hasher.finalize()))
        } else {
            None
        };
        Ok(FileIdentity {
            dev: Some(meta.dev()),
            inode: Some(meta.ino()),
            size: Some(meta.len()),
            sha256,
        })
    }
}

/// Where content went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Destination {
    /// Serial number of a removable device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_serial: Option<String>,
    /// URL of an upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Mail recipients.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
    /// Printer (queue) name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printer: Option<String>,
}

impl Destination {
    /// One line for tables: the first field that is set.
    pub fn summary(&self) -> String {
        if let Some(s) = &self.device_serial {
            return format!("device:{s}");
        }
        if let Some(u) = &self.url {
            return u.clone();
        }
        if !self.recipients.is_empty() {
            return self.recipients.join(",");
        }
        if let Some(p) = &self.printer {
            return format!("printer:{p}");
        }
        String::new()
    }
}

/// What crossed a gateway: the message, upload or print job around the content.
///
/// Enforcement points that see more than a file (the ICAP, milter and print gateways) fill it
/// in; the agent leaves it out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Transfer {
    /// The client's network address (an ICAP `X-Client-IP`, an SMTP client, a print host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The envelope sender of a mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// The subject of a mail, the title of a print job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The gateway's own reference: a mail queue id, a print job id, an HTTP method and URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The parts carried: attachments, uploaded files, the printed document.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<Item>,
}

/// One part of a [`Transfer`]: an attachment, an uploaded file, a printed document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Item {
    /// Its file name, as the sender gave it (decoded), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its size in bytes.
    pub size: u64,
    /// Its content type as detected from the bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Its classification level (a policy level id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
}

/// One journalled event. See `docs/events.md` for every field.
///
/// ```
/// use mamori_journal::{Event, Operation, User};
/// let event = Event::new(Operation::Open)
///     .with_user(User { uid: 1000, name: Some("tanaka".into()) })
///     .with_path("/srv/secret/plan.docx");
/// assert_eq!(event.kind(), mamori_journal::Kind::Audit);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Stable id.
    pub id: EventId,
    /// When it happened: nanoseconds since the Unix epoch, UTC.
    pub time_ns: i64,
    /// Host name. Filled in by the journal when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// Who.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    /// Which process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    /// What operation.
    pub op: Operation,
    /// The file (for a rename or copy: the source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The new name of a rename, or the copy of a copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_path: Option<String>,
    /// Which file, by identity and content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileIdentity>,
    /// Classification level of the content (a policy level id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// What was found, masked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// The way out the content took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    /// Where it went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<Destination>,
    /// What the policy decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// Free text (a policy change summary, a device name...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The message, upload or print job around the content, for gateway events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<Transfer>,
    /// How many identical events this one stands for (noise control); 1 when not folded.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub count: u64,
    /// For a folded event: the time of the last repetition (the first is `time_ns`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_time_ns: Option<i64>,
    /// For a folded event: the id of the first occurrence, which was journalled on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_of: Option<EventId>,
}

fn one() -> u64 {
    1
}

fn is_one(n: &u64) -> bool {
    *n == 1
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_ns() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Formats nanoseconds since the epoch as RFC 3339 UTC with nanoseconds.
pub fn format_time(time_ns: i64) -> String {
    match jiff::Timestamp::from_nanosecond(i128::from(time_ns)) {
        Ok(ts) => format!("{ts:.9}"),
        Err(_) => time_ns.to_string(),
    }
}

impl Event {
    /// A new event of an operation, happening now, with a fresh id.
    pub fn new(op: Operation) -> Event {
        Event {
            id: EventId::new(),
            time_ns: now_ns(),
            host: String::new(),
            user: None,
            process: None,
            op,
            path: None,
            new_path: None,
            file: None,
            level: None,
            findings: Vec::new(),
            channel: None,
            destination: None,
            decision: None,
            detail: None,
            transfer: None,
            count: 1,
            last_time_ns: None,
            repeat_of: None,
        }
    }

    /// A `scan` event: `mamori scan --record` found `findings` in the file at `path`.
    pub fn scan(path: impl Into<String>, findings: Vec<Finding>, level: Option<String>) -> Event {
        let mut event = Event::new(Operation::Scan)
            .with_path(path)
            .with_findings(findings);
        event.level = level;
        event
    }

    /// The log this event belongs to: warning for any decision other than allow or audit.
    pub fn kind(&self) -> Kind {
        match &self.decision {
            Some(d) if d.action.is_warning() => Kind::Warning,
            _ => Kind::Audit,
        }
    }

    /// The decided action, if any.
    pub fn action(&self) -> Option<Action> {
        self.decision.as_ref().map(|d| d.action)
    }

    /// This event at another time.
    pub fn with_time_ns(mut self, time_ns: i64) -> Event {
        self.time_ns = time_ns;
        self
    }

    /// This event on a named host.
    pub fn with_host(mut self, host: impl Into<String>) -> Event {
        self.host = host.into();
        self
    }

    /// This event done by a user.
    pub fn with_user(mut self, user: User) -> Event {
        self.user = Some(user);
        self
    }

    /// This event done by a process.
    pub fn with_process(mut self, process: Process) -> Event {
        self.process = Some(process);
        self
    }

    /// This event on a file.
    pub fn with_path(mut self, path: impl Into<String>) -> Event {
        self.path = Some(path.into());
        self
    }

    /// This event's second path: the new name of a rename, the copy of a copy.
    pub fn with_new_path(mut self, path: impl Into<String>) -> Event {
        self.new_path = Some(path.into());
        self
    }

    /// This event with the file's identity.
    pub fn with_file(mut self, file: FileIdentity) -> Event {
        self.file = Some(file);
        self
    }

    /// This event with a classification level.
    pub fn with_level(mut self, level: impl Into<String>) -> Event {
        self.level = Some(level.into());
        self
    }

    /// This event with findings. Samples are masked defensively: a sample of an identifier,
    /// financial, contact, credential or exact-data finding that contains no `*` is masked here
    /// (labels and keywords are kept: which keyword was detected is the evidence asked for).
    /// Match offsets are dropped: they are useless without the content.
    pub fn with_findings(mut self, findings: Vec<Finding>) -> Event {
        self.findings = findings
            .into_iter()
            .map(|mut f| {
                f.offsets.clear();
                if needs_masking(f.category) && !f.sample.contains('*') {
                    f.sample = mask(&f.sample);
                }
                f
            })
            .collect();
        self
    }

    /// This event through a channel.
    pub fn with_channel(mut self, channel: Channel) -> Event {
        self.channel = Some(channel);
        self
    }

    /// This event to a destination.
    pub fn with_destination(mut self, destination: Destination) -> Event {
        self.destination = Some(destination);
        self
    }

    /// This event with the policy's decision (its level becomes the event's level if unset).
    pub fn with_decision(mut self, decision: Decision) -> Event {
        if self.level.is_none() && !decision.level.is_empty() {
            self.level = Some(decision.level.clone());
        }
        self.decision = Some(decision);
        self
    }

    /// This event with what crossed a gateway (message, upload, print job).
    pub fn with_transfer(mut self, transfer: Transfer) -> Event {
        self.transfer = Some(transfer);
        self
    }

    /// This event with a free-text detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Event {
        self.detail = Some(detail.into());
        self
    }

    /// The user's name, else their uid, else empty.
    pub fn user_label(&self) -> String {
        match &self.user {
            Some(User { name: Some(n), .. }) => n.clone(),
            Some(User { uid, .. }) => uid.to_string(),
            None => String::new(),
        }
    }
}

fn needs_masking(category: Category) -> bool {
    !matches!(
        category,
        Category::Label | Category::Keyword | Category::Fingerprint | Category::Custom
    )
}

/// Masks a sample, keeping at most the first and last two characters of anything longer than
/// six characters, and nothing of shorter ones.
pub fn mask(sample: &str) -> String {
    let chars: Vec<char> = sample.chars().collect();
    if chars.len() <= 6 {
        return "*".repeat(chars.len());
    }
    let mut out = String::new();
    out.extend(&chars[..2]);
    out.push_str(&"*".repeat(chars.len() - 4));
    out.extend(&chars[chars.len() - 2..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mamori_model::{Bilingual, Confidence};

    #[test]
    fn kind_follows_the_decision() {
        let e = Event::new(Operation::Copy);
        assert_eq!(e.kind(), Kind::Audit);
        for action in Action::ALL {
            let e = Event::new(Operation::Copy).with_decision(Decision {
                action,
                level: "secret".into(),
                rules: vec!["r1".into()],
                reason: Bilingual::new("理由", "reason"),
            });
            let want = if matches!(action, Action::Allow | Action::Audit) {
                Kind::Audit
            } else {
                Kind::Warning
            };
            assert_eq!(e.kind(), want, "{action}");
            assert_eq!(e.level.as_deref(), Some("secret"));
        }
    }

    #[test]
    fn raw_identifiers_are_masked_and_labels_kept() {
        let e = Event::new(Operation::Scan).with_findings(vec![
            Finding::new("jp.my_number", Category::PersonalId, Confidence::High)
                .with_sample("123456789018"),
            Finding::new("jp.my_number", Category::PersonalId, Confidence::High)
                .with_sample("1234-****-9018"),
            Finding::new("label.shagaihi", Category::Label, Confidence::High).with_sample("社外秘"),
        ]);
        assert_eq!(e.findings[0].sample, "12********18");
        assert_eq!(e.findings[1].sample, "1234-****-9018");
        assert_eq!(e.findings[2].sample, "社外秘");
    }

    #[test]
    fn file_identity_reads_inode_and_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, b"abc").unwrap();
        let id = FileIdentity::from_file(&path, true).unwrap();
        assert_eq!(id.size, Some(3));
        assert!(id.inode.is_some());
        assert_eq!(
            id.sha256.as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(FileIdentity::from_file(&path, false).unwrap().sha256, None);
        assert!(FileIdentity::from_file(&dir.path().join("missing"), true).is_err());
    }

    #[test]
    fn mask_never_reveals_short_values() {
        assert_eq!(mask(""), "");
        assert_eq!(mask("abc"), "***");
        assert_eq!(mask("abcdefg"), "ab***fg");
    }

    #[test]
    fn json_round_trip_and_compactness() {
        let e = Event::new(Operation::Rename)
            .with_host("pc01")
            .with_path("/a")
            .with_new_path("/b");
        let json = serde_json::to_string(&e).unwrap();
        assert!(!json.contains("count"), "{json}");
        assert!(!json.contains("null"), "{json}");
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn names_round_trip() {
        for op in Operation::ALL {
            assert_eq!(Operation::parse(op.as_str()), Some(op));
            assert_eq!(serde_json::to_value(op).unwrap(), op.as_str());
        }
        assert_eq!(Kind::parse("warning"), Some(Kind::Warning));
        assert_eq!(Kind::parse("x"), None);
    }

    #[test]
    fn time_formats_as_rfc3339_utc() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            format_time(1_500_000_000_123_456_789),
            "2017-07-14T02:40:00.123456789Z"
        );
    }
}
