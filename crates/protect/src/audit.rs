//! Audit events: every protect, open (granted or refused) and key change is recorded.
//!
//! The crate does not know where events go: callers hand the [`crate::KeyStore`] an
//! [`AuditSink`]. The `mamori` binary records them in the journal (`mamori-journal`);
//! [`JsonLinesSink`] appends one JSON object per line to a file, for tools without a journal.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProtectOp {
    /// A file was encrypted into its protected form.
    Protect,
    /// Someone tried to open a protected file.
    Open {
        /// Whether the plaintext was released.
        granted: bool,
    },
    /// A protected file was re-encrypted to the groups' current keys.
    Rekey,
    /// The key store changed.
    KeyChange {
        /// What changed.
        change: KeyChange,
    },
}

/// A change to the key store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum KeyChange {
    /// A user identity was created.
    CreateUser,
    /// A group was created (epoch 1).
    CreateGroup,
    /// A user was given the group's keys.
    AddMember {
        /// The new member.
        member: String,
    },
    /// A user was removed and the group key rotated.
    RemoveMember {
        /// The removed member.
        member: String,
        /// The group key's new epoch.
        new_epoch: u32,
    },
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectEvent {
    /// Seconds since the Unix epoch (UTC).
    pub time_unix: u64,
    /// What happened.
    #[serde(flatten)]
    pub op: ProtectOp,
    /// The acting user.
    pub user: String,
    /// The file involved, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// The protected file's id, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    /// The classification level, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// The groups involved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Why it failed, for refusals and errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ProtectEvent {
    /// An event for `op` by `user`, stamped now.
    pub fn new(op: ProtectOp, user: impl Into<String>) -> ProtectEvent {
        ProtectEvent {
            time_unix: crate::now_unix(),
            op,
            user: user.into(),
            path: None,
            file_id: None,
            level: None,
            groups: Vec::new(),
            reason: None,
        }
    }
}

/// Where audit events go.
///
/// Implementations must not fail the operation: a sink that cannot write should report the
/// problem its own way (the journal raises an alert). The operation has already happened when
/// `record` is called.
pub trait AuditSink: Send + Sync {
    /// Records one event.
    fn record(&self, event: ProtectEvent);
}

/// A sink that drops every event (for tests and tools that keep no journal).
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl AuditSink for NullSink {
    fn record(&self, _event: ProtectEvent) {}
}

/// A sink that keeps events in memory (for tests and for callers that forward them).
#[derive(Debug, Default)]
pub struct MemorySink {
    events: Mutex<Vec<ProtectEvent>>,
}

impl MemorySink {
    /// The events recorded so far.
    pub fn events(&self) -> Vec<ProtectEvent> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl AuditSink for MemorySink {
    fn record(&self, event: ProtectEvent) {
        if let Ok(mut events) = self.events.lock() {
            events.push(event);
        }
    }
}

/// Interim sink: appends each event as one JSON line to a file (created 0600).
///
/// Replaced by the journal once `mamori-journal` lands. A write failure is printed to standard
/// error once per event, since the operation itself has already happened.
#[derive(Debug)]
pub struct JsonLinesSink {
    path: PathBuf,
    lock: Mutex<()>,
}

impl JsonLinesSink {
    /// A sink appending to `path`.
    pub fn new(path: impl AsRef<Path>) -> JsonLinesSink {
        JsonLinesSink {
            path: path.as_ref().to_path_buf(),
            lock: Mutex::new(()),
        }
    }

    fn append(&self, event: &ProtectEvent) -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut line = serde_json::to_vec(event)?;
        line.push(b'\n');
        let _guard = self.lock.lock();
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)?;
        file.write_all(&line)?;
        file.sync_data()
    }
}

impl AuditSink for JsonLinesSink {
    fn record(&self, event: ProtectEvent) {
        if let Err(e) = self.append(&event) {
            eprintln!(
                "mamori: cannot record audit event in {}: {e}",
                self.path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_flat_with_op_tag() {
        let mut e = ProtectEvent::new(ProtectOp::Open { granted: false }, "bob");
        e.reason = Some("access denied".into());
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains(r#""op":"open""#), "{json}");
        assert!(json.contains(r#""granted":false"#), "{json}");
        let back: ProtectEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
        let k = ProtectEvent::new(
            ProtectOp::KeyChange {
                change: KeyChange::RemoveMember {
                    member: "carol".into(),
                    new_epoch: 2,
                },
            },
            "alice",
        );
        let json = serde_json::to_string(&k).unwrap();
        assert!(json.contains(r#""kind":"remove_member""#), "{json}");
    }

    #[test]
    fn json_lines_sink_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let sink = JsonLinesSink::new(&path);
        sink.record(ProtectEvent::new(ProtectOp::Protect, "a"));
        sink.record(ProtectEvent::new(ProtectOp::Rekey, "b"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
    }
}
