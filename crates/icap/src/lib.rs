//! An ICAP (RFC 3507) server for proxies such as Squid, and the HTTP body decoders an upload
//! scanner needs.
//!
//! The protocol is written here rather than taken from a crate: the one Rust ICAP crate
//! (`icap-rs` 0.3) holds each body whole in memory and needs workarounds to talk to Squid
//! (Squid's OPTIONS has no `Encapsulated` header; Squid uses Preview only with
//! `Transfer-Preview: *`). This crate streams: bodies are decoded chunk by chunk as they
//! arrive, kept in memory up to a threshold and spooled to a temporary file past it.
//!
//! The crate knows nothing of Mamori's policy. The server calls an [`Adapter`] with the
//! request's heads and its body and sends whatever [`Verdict`] comes back:
//!
//! ```no_run
//! use std::sync::Arc;
//! use mamori_icap::{Adapter, Body, Request, Server, ServerConfig, Verdict};
//!
//! struct AllowAll;
//! impl Adapter for AllowAll {
//!     fn istag(&self) -> String { "allow-all-1".into() }
//!     fn decide(&self, _: &Request, _: Body<'_>, _: u64, _: bool) -> Verdict { Verdict::Allow }
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:1344").await?;
//! Server::new(ServerConfig::default(), Arc::new(AllowAll)).serve(listener).await
//! # }
//! ```
//!
//! What the server does, per RFC 3507 and Squid's behaviour (measured with Squid 5.7):
//! - OPTIONS is answered with or without `Encapsulated`, with `Methods`, `ISTag`,
//!   `Max-Connections`, `Options-TTL`, `Allow: 204`, `Preview` and `Transfer-Preview: *`
//!   (without the last, Squid never sends a preview).
//! - A preview ending in `ieof` holds the whole body: the verdict is answered at once, a 204
//!   when allowed. Otherwise `100 Continue` asks for the rest.
//! - An allowed message is answered 204 only where the client allows it (`Allow: 204`, which
//!   Squid offers only for bodies under 64 KiB of known length, or inside a preview); otherwise
//!   the message is echoed back whole with 200.
//! - A blocked message is `ICAP/1.0 200` carrying the adapter's HTTP response.
//! - Bad input gets an ICAP error status, is reported to [`Adapter::log_error`] and closes the
//!   connection; nothing a peer sends can panic the server.
//!
//! [`content`] turns an HTTP body into the parts worth inspecting: each file of a
//! `multipart/form-data` upload with its name, form fields, JSON string values, and the
//! decompressed body of `Content-Encoding: gzip`, `deflate` or `br`, all within limits.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod chunked;
pub mod client;
pub mod content;
mod error;
pub mod head;
pub mod http;
pub mod multipart;
mod server;
mod spool;

pub use error::{Error, ErrorKind};
pub use head::{HeadLimits, Headers, Method, RequestHead};
pub use http::{HttpRequestHead, HttpResponse, HttpResponseHead};
pub use server::{Adapter, DEFAULT_PREVIEW, Request, Server, ServerConfig, Verdict};
pub use spool::{Body, Spool};
