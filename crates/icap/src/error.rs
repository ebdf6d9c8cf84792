//! The crate's error type.

use std::fmt;

/// What went wrong, for callers that match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The ICAP request line or a header line is malformed.
    BadHead,
    /// Not `ICAP/1.0`.
    BadVersion,
    /// The `Encapsulated` header is missing where needed or malformed.
    BadEncapsulated,
    /// An encapsulated HTTP head is malformed.
    BadHttp,
    /// The chunked body framing is malformed.
    BadChunk,
    /// A multipart, urlencoded, JSON or compressed body is malformed.
    BadBody,
    /// A limit on size or count was passed.
    TooLarge,
    /// The peer was silent for longer than the timeout.
    Timeout,
    /// The connection closed in the middle of a message.
    UnexpectedEof,
    /// Reading from or writing to the peer failed.
    Io,
    /// Something on our side failed (spooling to disk, the adapter panicked).
    Internal,
}

/// An error with its kind and a short English reason (for the log).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub struct Error {
    kind: ErrorKind,
    reason: String,
    #[source]
    source: Option<std::io::Error>,
}

impl Error {
    /// A new error.
    pub fn new(kind: ErrorKind, reason: impl Into<String>) -> Error {
        Error {
            kind,
            reason: reason.into(),
            source: None,
        }
    }

    /// An I/O error with context.
    pub fn io(reason: impl Into<String>, source: std::io::Error) -> Error {
        Error {
            kind: ErrorKind::Io,
            reason: reason.into(),
            source: Some(source),
        }
    }

    /// An internal failure.
    pub fn internal(reason: impl Into<String>, source: Option<std::io::Error>) -> Error {
        Error {
            kind: ErrorKind::Internal,
            reason: reason.into(),
            source,
        }
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The ICAP status code a server answers this error with.
    pub fn icap_status(&self) -> u16 {
        match self.kind {
            ErrorKind::BadVersion => 505,
            ErrorKind::Io | ErrorKind::Timeout | ErrorKind::UnexpectedEof | ErrorKind::Internal => {
                500
            }
            _ => 400,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.reason)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}
