//! Mamori's tamper-evident journal: who did what to which file, what was found, what was decided.
//!
//! * [`Event`]: the event model (documented in `docs/events.md`), each event `audit` or
//!   `warning` ([`Kind`]).
//! * [`Journal`]: append-only segment files under the data directory, every record chained to the
//!   one before by SHA-256, checkpoints signed with the host's Ed25519 key, group commit with
//!   `fdatasync`, crash recovery, rotation and retention; optional folding of repeated events
//!   ([`FoldOptions`]).
//! * [`verify()`]: walks the chain and names the first modified, missing, reordered or truncated
//!   record.
//! * [`Store`] and [`SqliteStore`]: the searchable copy, fed idempotently from the journal, with
//!   [`Query`] for `log search` and [`SqliteStore::trail`] for the life of a file and its copies.
//! * [`export`]: JSON lines, OCSF and RFC 5424 syslog over TCP or TLS.
//!
//! ```
//! use mamori_journal::{Event, Journal, JournalOptions, Operation, Query, SqliteStore, Store, User};
//!
//! let data_dir = tempfile::tempdir()?;
//! let journal = Journal::open(data_dir.path(), JournalOptions::default())?;
//! journal.append(
//!     Event::new(Operation::Copy)
//!         .with_user(User { uid: 1000, name: Some("sato".into()) })
//!         .with_path("/srv/設計/図面.dxf")
//!         .with_new_path("/media/usb/図面.dxf"),
//! )?;
//! journal.flush()?;
//!
//! let mut store = SqliteStore::open(data_dir.path())?;
//! store.catch_up(data_dir.path())?;
//! let hits = store.search(&Query { user: Some("sato".into()), ..Query::default() })?;
//! assert_eq!(hits.len(), 1);
//! drop(journal);
//! assert!(mamori_journal::verify(data_dir.path())?.is_intact());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

mod event;
pub mod export;
mod fold;
pub mod frame;
mod journal;
mod keys;
mod relay;
mod store;
mod verify;

pub use event::{
    Destination, Event, EventId, FileIdentity, Item, Kind, Operation, Process, Transfer, User,
    format_time, mask, now_ns,
};
pub use fold::{FoldOptions, Folder, Offer};
pub use journal::{
    BatchInfo, Cursor, Journal, JournalOptions, JournalReader, Note, ReadEvent, host_name,
    journal_dir, list_segments, segment_path,
};
pub use keys::{Anchor, Checkpoint, HostKey};
pub use store::{IngestStats, Query, SqliteStore, Store, parse_time};
pub use verify::{Problem, ProblemKind, VerifyReport, verify};

/// What can go wrong in the journal, the store or an export.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Another process has the journal open for writing.
    #[error(
        "{path}: the journal is already open for writing by another process / ジャーナルは別のプロセスが書き込み中です"
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// The host key is unusable.
    #[error("{path}: host key unusable: {reason}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A journal file is damaged in a way that stops reading it.
    #[error("{path} at byte {offset}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where.
        offset: u64,
        /// What.
        reason: String,
    },
    /// The writer failed earlier (disk full, I/O error); nothing more is accepted.
    #[error("the journal writer failed: {0}")]
    Failed(String),
    /// The store's database failed.
    #[error("store: {0}")]
    Store(#[from] rusqlite::Error),
    /// A search filter is not valid.
    #[error("invalid --{field}: {reason}")]
    Query {
        /// The filter.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// An export destination failed.
    #[error("export to {target}: {reason}")]
    Export {
        /// Where to.
        target: String,
        /// Why.
        reason: String,
    },
}

impl JournalError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> JournalError {
        JournalError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
