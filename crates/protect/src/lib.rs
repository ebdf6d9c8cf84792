//! Protected files for Mamori: encryption on [age], group keys, and a signed classification
//! header that agents and gateways read without decrypting.
//!
//! A protected file (`NAME.mamori`) is a small signed header followed by an unmodified age v1
//! file (X25519 recipients, ChaCha20-Poly1305 STREAM in 64 KiB chunks). No cryptography here is
//! home-made: age does the encryption, Ed25519 (`ed25519-dalek`) the signature, scrypt (inside
//! age) the passphrase protection of private keys. See [`format`] for the byte layout.
//!
//! # Keys
//! Each user has an X25519 identity (to decrypt) and an Ed25519 key (to sign), stored encrypted
//! with the user's passphrase. Each group has one X25519 key per *epoch*, stored wrapped to each
//! member; removing a member starts a new epoch that only the remaining members get. A file is
//! encrypted to the current epoch of each of its groups and, unless turned off, to its owner.
//! See [`KeyStore`].
//!
//! # What "authenticated header" means
//! [`read_header`] checks, without any decryption key, that the header verifies under the
//! Ed25519 key named in it. The signature covers the classification header (level, owner,
//! original name, groups and their epochs, file id, time) *and* the age header (recipient
//! stanzas, header MAC, payload nonce). So, before decrypting, a reader knows:
//! * nobody changed the level, owner, name or groups since the holder of that signing key wrote
//!   them (a changed byte anywhere in the prefix fails with [`FormatError::BadSignature`]);
//! * the header cannot be moved onto another file's ciphertext, and the file cannot be
//!   re-addressed to other recipients, without a new signature;
//! * whether that signing key is the one the key store has for the named user is a separate
//!   question: [`KeyStore::signer_is_known`]. Without a key store (a gateway), the header is
//!   self-consistent but the signer is only as trustworthy as its key.
//!
//! What it does not prove: the *content* is protected by age's authenticated encryption
//! (nobody without a key of the file can change it undetected), but age is not a signature
//! scheme: a person who can decrypt the file knows its file key and could write different
//! content under the same signed header. Trust the signature for the classification, and the
//! group membership for the content.
//!
//! # Example
//! ```
//! use std::sync::Arc;
//! use age::secrecy::SecretString;
//! use mamori_protect::{KdfCost, KeyStore, MemorySink, ProtectRequest, read_header};
//!
//! let dir = tempfile::tempdir()?;
//! let audit = Arc::new(MemorySink::default());
//! let store = KeyStore::load(dir.path())?.with_audit(audit.clone());
//! let pass = SecretString::from("correct horse battery".to_string());
//! store.create_user("alice", &pass, KdfCost::insecure_for_tests())?;
//! let alice = store.unlock("alice", &pass)?;
//! store.create_group("research", &alice)?;
//!
//! let mut request = ProtectRequest::new("社外秘", vec!["research".into()]);
//! request.original_name = "plan.txt".into();
//! let mut protected = Vec::new();
//! store.protect(&alice, &request, &b"secret plan"[..], &mut protected, None)?;
//!
//! // Anyone can read the classification, no key needed.
//! let signed = read_header(&mut &protected[..])?;
//! assert_eq!(signed.header.level, "社外秘");
//! assert_eq!(signed.header.groups[0].group, "research");
//!
//! // A member opens it.
//! let mut plain = Vec::new();
//! store.open(&alice, &protected[..], &mut plain, None)?;
//! assert_eq!(plain, b"secret plan");
//! assert_eq!(audit.events().len(), 4); // user, group, protect, open
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [age]: https://age-encryption.org/v1
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod audit;
mod error;
mod files;
pub mod format;
mod keystore;
mod stream;

pub use age::secrecy;
pub use audit::{
    AuditSink, JsonLinesSink, KeyChange, MemorySink, NullSink, ProtectEvent, ProtectOp,
};
pub use error::{Error, FormatError, Result};
pub use files::{
    EXTENSION, OpenOutput, ProtectFileOptions, open_file, protect_file, protected_path, rekey_file,
    shred_and_remove,
};
pub use format::{GroupGrant, Header, SignedHeader, SignerInfo, parse_prefix};
pub use keystore::{Epoch, GroupInfo, KdfCost, KeyStore, UserKeys, UserPublic, validate_name};
pub use stream::{ProtectRequest, decrypt_stream, protect_stream, read_header, read_header_file};

/// Seconds since the Unix epoch, 0 if the clock is before it.
pub(crate) fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
