//! Errors of this crate.

use std::path::PathBuf;

/// What went wrong reading, writing or changing a fingerprint index or an EDM table.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file is not a valid index or table: truncated, corrupted, or of another format.
    #[error("{path}: not a valid {what}: {reason}")]
    Corrupt {
        /// The file (empty when parsing bytes in memory).
        path: PathBuf,
        /// `fingerprint index` or `EDM table`.
        what: &'static str,
        /// What is wrong, for a person.
        reason: String,
    },
    /// A file was written by a newer, incompatible version of Mamori.
    #[error(
        "{path}: format version {found} is not supported (this build reads versions up to {supported}; a newer Mamori wrote it?)"
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// A document of that name is already registered.
    #[error("a document named {0:?} is already registered")]
    DuplicateDocument(String),
    /// No document or table of that name is registered.
    #[error("nothing named {0:?} is registered")]
    NotFound(String),
    /// A name, level or parameter is not acceptable.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Which input (`name`, `level`, `columns`...).
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A CSV file of sensitive records could not be read.
    #[error("{path}: line {line}: {reason}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// One-based line number (0 when unknown).
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// The random key could not be generated.
    #[error("cannot generate a random key: {0}")]
    Random(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
