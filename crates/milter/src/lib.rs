//! Mamori's milter: the protocol side of the mail gateway, free of policy.
//!
//! Postfix and Sendmail hand every message to content filters over the *milter* protocol
//! (version 6). This crate speaks it (packets decoded and encoded by the MIT-licensed
//! `miltr-common`, framed here with a cap on packet size; only the end of each message is
//! answered, the MTA being asked for no replies before it), collects one [`Message`] per SMTP
//! transaction — envelope, macros, headers and
//! body, the body spooled to a temporary file past a threshold — and asks a [`Filter`] for a
//! [`Verdict`] at the end of the message. The filter runs on a blocking thread under a time limit:
//! when it is late, panics or the spool fails, the connection is answered with
//! [`Filter::fail`]'s verdict, so the MTA is never left waiting past its own timeouts.
//!
//! Verdicts map onto milter replies: accept (optionally adding headers), quarantine
//! (`SMFIR_QUARANTINE`, Postfix's HOLD queue), reject or tempfail with an SMTP reply code
//! (`SMFIR_REPLYCODE`), discard.
//!
//! ```no_run
//! use std::sync::Arc;
//! use mamori_milter::{Envelope, Failure, Filter, Listen, Message, ServerConfig, Verdict};
//!
//! struct AcceptAll;
//! impl Filter for AcceptAll {
//!     fn decide(&self, _message: &Message) -> Verdict {
//!         Verdict::accept()
//!     }
//!     fn fail(&self, _envelope: &Envelope, _failure: &Failure) -> Verdict {
//!         Verdict::tempfail_default()
//!     }
//! }
//!
//! # async fn run() -> Result<(), mamori_milter::MilterError> {
//! let listen: Listen = "unix:/var/spool/postfix/mamori/milter.sock".parse()?;
//! mamori_milter::serve(listen, Arc::new(AcceptAll), ServerConfig::default(), std::future::pending()).await
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod error;
mod message;
mod notice;
mod server;
mod summary;
mod verdict;

pub use config::{Config, FailAction, NoticeConfig};
pub use error::MilterError;
pub use message::{Collector, Envelope, Incomplete, Limits, MemoryBudget, Message};
pub use notice::{Outcome, SenderNotice};
pub use server::{Failure, Filter, Listen, ServerConfig, handle_connection, serve};
pub use summary::{Attachment, MAX_ATTACHMENTS, MailPart, PartKind, Summary, summarize, walk};
pub use verdict::{Reply, Verdict};
