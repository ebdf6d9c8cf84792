//! Errors a caller can match on.

use std::io;
use std::path::PathBuf;

/// Why the bytes in front of the encrypted payload are not a valid protected-file header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The input does not start with Mamori's magic bytes: it is not a protected file.
    #[error("not a Mamori protected file (bad magic bytes)")]
    NotProtected,
    /// A format version this build does not know (written by a newer Mamori).
    #[error("unsupported protected-file version {0} (this build reads version 1)")]
    UnsupportedVersion(u8),
    /// The input ended inside the header.
    #[error("protected file is truncated inside its header")]
    Truncated,
    /// A length field is larger than the format allows.
    #[error("{field} is {len} bytes, more than the maximum {max}")]
    TooLarge {
        /// Which part of the header.
        field: &'static str,
        /// The declared length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The header is not valid JSON of the expected shape.
    #[error("header is not valid: {0}")]
    Malformed(String),
    /// A header field has a value the format does not allow.
    #[error("header field `{field}` is invalid: {reason}")]
    InvalidField {
        /// The field's name.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The Ed25519 signature over the header does not verify: the header or the encryption
    /// header was changed after signing.
    #[error("header signature does not verify: the file was tampered with")]
    BadSignature,
}

/// Everything that can go wrong while protecting, opening or managing keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The protected file's header is invalid.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// None of the reader's keys opens the file: not a member of any of its groups (or removed
    /// before the file was created), and not its owner.
    #[error("access denied: {user} holds no key for groups [{groups}] of this file", groups = .groups.join(", "))]
    AccessDenied {
        /// Who tried.
        user: String,
        /// The groups the file was encrypted to.
        groups: Vec<String>,
    },
    /// The encrypted payload failed authentication: it was changed or corrupted.
    #[error(
        "the encrypted content failed authentication: the file was tampered with or is corrupt"
    )]
    Tampered,
    /// The encrypted payload ended early.
    #[error("the protected file is truncated")]
    Truncated,
    /// The passphrase does not unlock the user's private key.
    #[error("wrong passphrase for user {0}")]
    WrongPassphrase(String),
    /// No such user in the key store.
    #[error("unknown user {0} (create it with `mamori keys create-user`)")]
    UnknownUser(String),
    /// No such group in the key store.
    #[error("unknown group {0} (create it with `mamori keys create-group`)")]
    UnknownGroup(String),
    /// A user or group of that name exists already.
    #[error("{kind} {name} already exists")]
    AlreadyExists {
        /// `user` or `group`.
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// The user is already a member of the group.
    #[error("{user} is already a member of {group}")]
    AlreadyMember {
        /// The group.
        group: String,
        /// The user.
        user: String,
    },
    /// The user is not a member of the group.
    #[error("{user} is not a member of {group}")]
    NotMember {
        /// The group.
        group: String,
        /// The user.
        user: String,
    },
    /// A user or group name that cannot be used.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The key store directory or a key file can be read or written by others.
    #[error(
        "{path}: permissions {mode:04o} are too open; the key store must be private to its owner (chmod go-rwx)"
    )]
    PermissionsTooOpen {
        /// The offending path.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A key-store file is damaged.
    #[error("{path}: key store file is damaged: {reason}")]
    KeyStoreCorrupt {
        /// The damaged file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The request itself is not usable (no group, empty level...).
    #[error("{0}")]
    InvalidRequest(String),
    /// An encryption-library error that is none of the above.
    #[error("encryption error: {0}")]
    Crypto(String),
    /// Reading or writing failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file involved (empty for streams).
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// An I/O error on a path.
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// An I/O error on a stream (no path).
    pub(crate) fn stream(source: io::Error) -> Error {
        Error::io("<stream>", source)
    }

    /// True when the error means "this reader may not open this file" rather than a fault.
    pub fn is_access_denied(&self) -> bool {
        matches!(self, Error::AccessDenied { .. })
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
