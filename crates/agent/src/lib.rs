//! Mamori's Linux endpoint agent, on fanotify.
//!
//! Two fanotify groups, because one group cannot both take permission events and report file
//! names (measured, `EINVAL`):
//! * the **permission group** (`FAN_CLASS_CONTENT`, `FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM`, mount
//!   marks on the watched trees and the controlled mounts) decides opens;
//! * the **notification group** (`FAN_REPORT_DFID_NAME_TARGET`, filesystem marks) sees creates,
//!   writes (close-write), renames and deletes, for the journal, for recomputing levels in the
//!   background, and for the backstop that quarantines what still landed on a controlled mount.
//!
//! The permission path never hangs the machine ([`engine`]): one reader thread answers at once
//! what it can (the agent's own pid and helpers, non-regular files), routes the rest to workers
//! through bounded queues (explicit verdict when full), a deadline thread answers whatever a
//! worker has not answered in time (fail open or closed per level), and a watchdog aborts the
//! process when a worker or the reader stalls, so the kernel lets waiting opens through.
//!
//! The decisions themselves are pure and tested apart: [`decide`] (what to answer), [`taint`]
//! (which processes carry classified content), [`cache`] (levels by file version and content
//! hash), [`mounts`] (which mounts are removable media or network shares), [`procinfo`]
//! (`/proc` parsers) and [`event`] (the fanotify record parser, fuzzed).
#![deny(missing_docs)]

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use mamori_journal::Event;
use mamori_model::Finding;
use mamori_policy::{LevelId, Policy};

pub mod cache;
pub mod decide;
pub mod engine;
pub mod event;
pub mod mounts;
pub mod observe;
pub mod procinfo;
pub mod status;
pub mod sys;
pub mod taint;

pub use engine::{Agent, Config, FailMode, Reload};

/// What the agent needs from the inspection engine and policy: the level of a file's content.
///
/// The binary implements it over `mamori_gateway::Gatekeeper` (or the inspector and policy
/// directly); tests implement it with a few lines.
pub trait Assessor: Send + Sync {
    /// The policy in force (it can change on reload).
    fn policy(&self) -> Arc<Policy>;
    /// Inspects and classifies one file. `file` is an fd the agent already holds (the one the
    /// kernel gave with the event, or one the agent opened), positioned at the start. The
    /// explicit label (`user.mamori.level`) counts.
    fn assess(&self, path: &Path, file: &mut File) -> std::io::Result<Assessment>;
    /// The level of an EMPTY file from its path and label alone, without reading: called on the
    /// thread that answers the kernel, so it must not open files nor block (an `fgetxattr` on
    /// `file` is fine). `None`: no opinion, the normal path decides.
    fn level_of_empty(&self, _path: &Path, _file: &File) -> Option<LevelId> {
        None
    }
}

/// The outcome of [`Assessor::assess`].
#[derive(Debug, Clone)]
pub struct Assessment {
    /// The level.
    pub level: LevelId,
    /// Which rule or label gave it (for the journal).
    pub why: Option<String>,
    /// What was found.
    pub findings: Vec<Finding>,
}

/// Where the agent's events go (the journal, through the binary).
pub trait Recorder: Send + Sync {
    /// Records one event. Called from the agent's audit thread, never from the thread that
    /// answers the kernel.
    fn record(&self, event: Event);
    /// Tells the person `uid` why something was refused or quarantined (a desktop pop-up or a
    /// terminal message; by default nothing).
    fn tell_user(&self, _uid: u32, _message_ja: &str, _message_en: &str) {}
}

/// Device control, supplied by the binary (over `mamori-device`): the agent owns the netlink
/// socket and the journal; the hook decides and acts on each kernel uevent.
pub trait DeviceHook: Send + Sync + std::fmt::Debug {
    /// At start: decide the devices already present (their uevents went to nobody).
    fn present(&self) -> Vec<Event> {
        Vec::new()
    }
    /// One kernel uevent datagram: what was seen and done, as events to record.
    fn on_uevent(&self, datagram: &[u8]) -> Vec<Event>;
}

/// What can go wrong starting the agent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// A system call failed.
    #[error("{what}: {source}")]
    Sys {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// The configuration is not usable.
    #[error("{0}")]
    Config(String),
}
