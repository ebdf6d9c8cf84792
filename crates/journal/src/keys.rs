//! The host's Ed25519 key and what it signs: checkpoints and retention anchors.
//!
//! The key is generated on first use under `DATA_DIR/keys/` (`host.key`, mode 0600, the 32-byte
//! secret seed in hex; `host.pub`, the public key in hex). Whoever holds the secret key can
//! rewrite the journal and sign anew: ship checkpoints to a remote log (syslog export) to keep
//! evidence out of a local administrator's reach.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::JournalError;
use crate::frame::Hash;

const CHECKPOINT_DOMAIN: &[u8] = b"mamori-journal checkpoint v1\0";
const ANCHOR_DOMAIN: &[u8] = b"mamori-journal anchor v1\0";

/// The host's signing key.
#[derive(Debug)]
pub struct HostKey {
    signing: SigningKey,
}

/// Paths of the key files under a data directory.
pub fn key_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join("keys");
    (dir.join("host.key"), dir.join("host.pub"))
}

impl HostKey {
    /// Loads the host key from the data directory, generating it on first use.
    pub fn load_or_create(data_dir: &Path) -> Result<HostKey, JournalError> {
        let (secret_path, public_path) = key_paths(data_dir);
        match fs::read_to_string(&secret_path) {
            Ok(text) => {
                let seed = parse_hex32(text.trim()).ok_or_else(|| JournalError::Key {
                    path: secret_path.clone(),
                    reason: "not 64 hex digits".into(),
                })?;
                let key = HostKey {
                    signing: SigningKey::from_bytes(&seed),
                };
                if !public_path.exists() {
                    write_file(&public_path, key.public_hex().as_bytes(), 0o644)?;
                }
                Ok(key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).map_err(|e| JournalError::Key {
                    path: secret_path.clone(),
                    reason: format!("no randomness: {e}"),
                })?;
                let key = HostKey {
                    signing: SigningKey::from_bytes(&seed),
                };
                let dir = secret_path.parent().unwrap_or(data_dir);
                create_private_dir(dir)?;
                write_file(&secret_path, hex::encode(seed).as_bytes(), 0o600)?;
                write_file(&public_path, key.public_hex().as_bytes(), 0o644)?;
                Ok(key)
            }
            Err(e) => Err(JournalError::io(&secret_path, e)),
        }
    }

    /// The public key, hex.
    pub fn public_hex(&self) -> String {
        hex::encode(self.signing.verifying_key().as_bytes())
    }

    /// Signs a checkpoint over (segment, seq, chain hash, time).
    pub fn checkpoint(&self, segment: u64, seq: u64, chain: &Hash, time_ns: i64) -> Checkpoint {
        let msg = checkpoint_message(segment, seq, chain, time_ns);
        Checkpoint {
            segment,
            seq,
            chain: hex::encode(chain),
            time_ns,
            sig: hex::encode(self.signing.sign(&msg).to_bytes()),
        }
    }

    /// Signs a retention anchor.
    pub fn anchor(&self, segment: u64, first_seq: u64, prev_hash: &Hash, time_ns: i64) -> Anchor {
        let msg = anchor_message(segment, first_seq, prev_hash, time_ns);
        Anchor {
            segment,
            first_seq,
            prev_hash: hex::encode(prev_hash),
            time_ns,
            sig: hex::encode(self.signing.sign(&msg).to_bytes()),
        }
    }
}

/// Loads the host's public key for verification.
pub fn load_public_key(data_dir: &Path) -> Result<VerifyingKey, JournalError> {
    let (secret_path, public_path) = key_paths(data_dir);
    let bad = |path: &Path, reason: &str| JournalError::Key {
        path: path.to_path_buf(),
        reason: reason.into(),
    };
    match fs::read_to_string(&public_path) {
        Ok(text) => {
            let bytes =
                parse_hex32(text.trim()).ok_or_else(|| bad(&public_path, "not 64 hex digits"))?;
            VerifyingKey::from_bytes(&bytes)
                .map_err(|_| bad(&public_path, "not an Ed25519 public key"))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && secret_path.exists() => {
            Ok(HostKey::load_or_create(data_dir)?.signing.verifying_key())
        }
        Err(e) => Err(JournalError::io(&public_path, e)),
    }
}

/// A signed statement: "the chain up to frame `seq`, whose hash is `chain`, existed at `time_ns`".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Segment holding frame `seq`.
    pub segment: u64,
    /// Sequence number of the last frame covered.
    pub seq: u64,
    /// Chain hash of that frame, hex.
    pub chain: String,
    /// When it was signed.
    pub time_ns: i64,
    /// Ed25519 signature, hex.
    pub sig: String,
}

impl Checkpoint {
    /// True when the signature is the host's over these values.
    pub fn verify(&self, key: &VerifyingKey) -> bool {
        let Some(chain) = parse_hex32(&self.chain) else {
            return false;
        };
        let msg = checkpoint_message(self.segment, self.seq, &chain, self.time_ns);
        verify_sig(key, &msg, &self.sig)
    }

    /// The covered chain hash.
    pub fn chain_hash(&self) -> Option<Hash> {
        parse_hex32(&self.chain)
    }
}

/// A signed statement left by retention: "segments before `segment` were deleted on purpose; the
/// journal now starts at frame `first_seq`, linked to `prev_hash`".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// First segment kept.
    pub segment: u64,
    /// Its first frame's sequence number.
    pub first_seq: u64,
    /// The chain hash it links to, hex.
    pub prev_hash: String,
    /// When retention ran.
    pub time_ns: i64,
    /// Ed25519 signature, hex.
    pub sig: String,
}

impl Anchor {
    /// True when the signature is the host's over these values.
    pub fn verify(&self, key: &VerifyingKey) -> bool {
        let Some(prev) = parse_hex32(&self.prev_hash) else {
            return false;
        };
        let msg = anchor_message(self.segment, self.first_seq, &prev, self.time_ns);
        verify_sig(key, &msg, &self.sig)
    }
}

fn verify_sig(key: &VerifyingKey, msg: &[u8], sig_hex: &str) -> bool {
    let Ok(bytes) = hex::decode(sig_hex) else {
        return false;
    };
    let Ok(bytes) = <[u8; 64]>::try_from(bytes.as_slice()) else {
        return false;
    };
    key.verify(msg, &Signature::from_bytes(&bytes)).is_ok()
}

fn checkpoint_message(segment: u64, seq: u64, chain: &Hash, time_ns: i64) -> Vec<u8> {
    let mut m = CHECKPOINT_DOMAIN.to_vec();
    m.extend_from_slice(&segment.to_le_bytes());
    m.extend_from_slice(&seq.to_le_bytes());
    m.extend_from_slice(chain);
    m.extend_from_slice(&time_ns.to_le_bytes());
    m
}

fn anchor_message(segment: u64, first_seq: u64, prev: &Hash, time_ns: i64) -> Vec<u8> {
    let mut m = ANCHOR_DOMAIN.to_vec();
    m.extend_from_slice(&segment.to_le_bytes());
    m.extend_from_slice(&first_seq.to_le_bytes());
    m.extend_from_slice(prev);
    m.extend_from_slice(&time_ns.to_le_bytes());
    m
}

/// Parses 64 hex digits.
pub fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(s).ok()?;
    bytes.try_into().ok()
}

/// Creates a directory (and parents) readable by its owner only.
pub fn create_private_dir(dir: &Path) -> Result<(), JournalError> {
    use std::os::unix::fs::DirBuilderExt as _;
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| JournalError::io(dir, e))
}

/// Writes a small file atomically (temporary file, fsync, rename, fsync of the directory).
pub fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), JournalError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| JournalError::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| JournalError::io(&tmp, e))?;
    f.sync_all().map_err(|e| JournalError::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| JournalError::io(path, e))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// fsyncs a directory so that a created, renamed or removed entry survives a power cut.
pub fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| JournalError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_created_once_private_and_signs() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let k1 = HostKey::load_or_create(dir.path()).unwrap();
        let k2 = HostKey::load_or_create(dir.path()).unwrap();
        assert_eq!(k1.public_hex(), k2.public_hex());
        let (secret, _) = key_paths(dir.path());
        assert_eq!(
            fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let public = load_public_key(dir.path()).unwrap();
        let cp = k1.checkpoint(3, 99, &[7; 32], 5);
        assert!(cp.verify(&public));
        for tampered in [
            Checkpoint {
                seq: 98,
                ..cp.clone()
            },
            Checkpoint {
                segment: 4,
                ..cp.clone()
            },
            Checkpoint {
                chain: hex::encode([8u8; 32]),
                ..cp.clone()
            },
            Checkpoint {
                time_ns: 6,
                ..cp.clone()
            },
            Checkpoint {
                sig: "00".into(),
                ..cp.clone()
            },
        ] {
            assert!(!tampered.verify(&public), "{tampered:?}");
        }
        let anchor = k1.anchor(4, 100, &[1; 32], 9);
        assert!(anchor.verify(&public));
        assert!(
            !Anchor {
                first_seq: 101,
                ..anchor
            }
            .verify(&public)
        );
    }

    #[test]
    fn a_damaged_key_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let (secret, _) = key_paths(dir.path());
        fs::create_dir_all(secret.parent().unwrap()).unwrap();
        fs::write(&secret, "zz").unwrap();
        let err = HostKey::load_or_create(dir.path()).unwrap_err();
        assert!(err.to_string().contains("host.key"), "{err}");
    }
}
