//! Signed policies: Ed25519 signatures in a detached `FILE.sig`, so that agents can refuse a
//! policy the management server did not sign.
//!
//! All three files are small text files, one header line and `key value` lines:
//!
//! ```text
//! mamori-policy-secret-key v1           mamori-policy-public-key v1
//! <64 hex digits: the Ed25519 seed>     <64 hex digits: the Ed25519 public key>
//!
//! mamori-policy-signature v1
//! key <64 hex digits: the signer's public key>
//! signature <128 hex digits>
//! ```
//!
//! The signature covers the exact bytes of the policy file, prefixed with the context string
//! `mamori-policy-v1\0` so that a policy key's signatures mean nothing anywhere else. The policy's
//! `[policy] version` is inside the signed bytes, so a signed old version cannot be passed off
//! as a new one; refusing to go back to an older version is the agent's job.

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

const CONTEXT: &[u8] = b"mamori-policy-v1\0";
const SECRET_HEADER: &str = "mamori-policy-secret-key v1";
const PUBLIC_HEADER: &str = "mamori-policy-public-key v1";
const SIGNATURE_HEADER: &str = "mamori-policy-signature v1";

/// Why a key or signature file is refused, or a signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// A key file is not in the expected form.
    #[error("not a Mamori {what} file: {reason}")]
    BadKeyFile {
        /// "secret key" or "public key".
        what: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The signature file is not in the expected form.
    #[error("not a Mamori policy signature file: {0}")]
    BadSignatureFile(&'static str),
    /// The policy was signed with another key than the one trusted.
    #[error(
        "signed by another key ({signed_by}), not the trusted key ({trusted}) / 信頼する鍵以外で署名されています"
    )]
    WrongKey {
        /// Fingerprint of the key that signed.
        signed_by: String,
        /// Fingerprint of the trusted key.
        trusted: String,
    },
    /// The signature does not match the policy: the file was changed after signing, or the
    /// signature is forged.
    #[error(
        "signature does not match: the policy was changed after it was signed / 署名が一致しません: 署名後にポリシーが変更されています"
    )]
    Mismatch,
}

/// A secret key that signs policies. Zeroed on drop.
#[derive(Debug, Clone)]
pub struct SecretKey(SigningKey);

/// A public key that verifies policy signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl SecretKey {
    /// A key from 32 random bytes (the caller draws them from the operating system).
    pub fn from_seed(seed: [u8; 32]) -> SecretKey {
        SecretKey(SigningKey::from_bytes(&seed))
    }

    /// Parses a secret key file.
    pub fn parse(text: &str) -> Result<SecretKey, SignatureError> {
        let what = "secret key";
        let body = strip_header(text, SECRET_HEADER).ok_or(SignatureError::BadKeyFile {
            what,
            reason: "missing header line",
        })?;
        let seed: [u8; 32] = decode_hex(body.trim()).ok_or(SignatureError::BadKeyFile {
            what,
            reason: "expected 64 hex digits",
        })?;
        Ok(SecretKey::from_seed(seed))
    }

    /// The key file text.
    pub fn to_file_text(&self) -> String {
        format!("{SECRET_HEADER}\n{}\n", encode_hex(&self.0.to_bytes()))
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs a policy file's bytes; returns the text of its `.sig` file.
    pub fn sign(&self, policy: &[u8]) -> String {
        let mut message = Vec::with_capacity(CONTEXT.len() + policy.len());
        message.extend_from_slice(CONTEXT);
        message.extend_from_slice(policy);
        let signature = self.0.sign(&message);
        format!(
            "{SIGNATURE_HEADER}\nkey {}\nsignature {}\n",
            encode_hex(self.public_key().0.as_bytes()),
            encode_hex(&signature.to_bytes())
        )
    }
}

impl PublicKey {
    /// Parses a public key file.
    pub fn parse(text: &str) -> Result<PublicKey, SignatureError> {
        let what = "public key";
        let body = strip_header(text, PUBLIC_HEADER).ok_or(SignatureError::BadKeyFile {
            what,
            reason: "missing header line",
        })?;
        let bytes: [u8; 32] = decode_hex(body.trim()).ok_or(SignatureError::BadKeyFile {
            what,
            reason: "expected 64 hex digits",
        })?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| SignatureError::BadKeyFile {
                what,
                reason: "not a valid Ed25519 point",
            })
    }

    /// The key file text.
    pub fn to_file_text(&self) -> String {
        format!("{PUBLIC_HEADER}\n{}\n", encode_hex(self.0.as_bytes()))
    }

    /// A short name for the key: its first 8 bytes in hex.
    pub fn fingerprint(&self) -> String {
        encode_hex(&self.0.as_bytes()[..8])
    }

    /// Verifies a policy file's bytes against the text of its `.sig` file.
    pub fn verify(&self, policy: &[u8], signature_file: &str) -> Result<(), SignatureError> {
        let body = strip_header(signature_file, SIGNATURE_HEADER)
            .ok_or(SignatureError::BadSignatureFile("missing header line"))?;
        let (mut key, mut signature) = (None, None);
        for line in body.lines().map(str::trim).filter(|l| !l.is_empty()) {
            match line.split_once(' ') {
                Some(("key", value)) if key.is_none() => key = Some(value.trim()),
                Some(("signature", value)) if signature.is_none() => signature = Some(value.trim()),
                _ => return Err(SignatureError::BadSignatureFile("unexpected line")),
            }
        }
        let key: [u8; 32] = key
            .and_then(decode_hex)
            .ok_or(SignatureError::BadSignatureFile(
                "missing or malformed `key` line",
            ))?;
        let signature: [u8; 64] =
            signature
                .and_then(decode_hex)
                .ok_or(SignatureError::BadSignatureFile(
                    "missing or malformed `signature` line",
                ))?;
        if key != *self.0.as_bytes() {
            return Err(SignatureError::WrongKey {
                signed_by: encode_hex(&key[..8]),
                trusted: self.fingerprint(),
            });
        }
        let mut message = Vec::with_capacity(CONTEXT.len() + policy.len());
        message.extend_from_slice(CONTEXT);
        message.extend_from_slice(policy);
        self.0
            .verify_strict(&message, &Signature::from_bytes(&signature))
            .map_err(|_| SignatureError::Mismatch)
    }
}

fn strip_header<'t>(text: &'t str, header: &str) -> Option<&'t str> {
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    (first.trim() == header).then_some(rest)
}

// Hex by hand: twelve lines, not worth a dependency in the signing path.
fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let text = text.as_bytes();
    if text.len() != N * 2 {
        return None;
    }
    let digit = |c: u8| char::from(c).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; N];
    for (i, pair) in text.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SecretKey {
        SecretKey::from_seed([n; 32])
    }

    #[test]
    fn sign_then_verify() {
        let policy = b"[policy]\nversion = 3\n";
        let sig = key(1).sign(policy);
        assert!(sig.starts_with("mamori-policy-signature v1\nkey "));
        assert_eq!(key(1).public_key().verify(policy, &sig), Ok(()));
    }

    #[test]
    fn changed_policy_is_a_mismatch() {
        let sig = key(1).sign(b"version = 3\n");
        assert_eq!(
            key(1).public_key().verify(b"version = 4\n", &sig),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn another_signer_is_named() {
        let sig = key(2).sign(b"x");
        let err = key(1).public_key().verify(b"x", &sig).unwrap_err();
        assert_eq!(
            err,
            SignatureError::WrongKey {
                signed_by: key(2).public_key().fingerprint(),
                trusted: key(1).public_key().fingerprint(),
            }
        );
        assert!(
            err.to_string().starts_with("signed by another key ("),
            "{err}"
        );
    }

    #[test]
    fn tampered_signature_bytes_are_a_mismatch() {
        let sig = key(1).sign(b"x");
        let last = sig.trim_end().chars().last().unwrap();
        let flipped = if last == '0' { '1' } else { '0' };
        let tampered = format!("{}{flipped}\n", &sig.trim_end()[..sig.trim_end().len() - 1]);
        assert_eq!(
            key(1).public_key().verify(b"x", &tampered),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn key_files_round_trip() {
        let secret = key(7);
        let parsed = SecretKey::parse(&secret.to_file_text()).unwrap();
        assert_eq!(parsed.public_key(), secret.public_key());
        let public = PublicKey::parse(&secret.public_key().to_file_text()).unwrap();
        assert_eq!(public, secret.public_key());
    }

    #[test]
    fn malformed_files_are_named() {
        let cases: [(Result<(), SignatureError>, &str); 6] = [
            (
                SecretKey::parse("hello").map(drop),
                "not a Mamori secret key file: missing header line",
            ),
            (
                SecretKey::parse("mamori-policy-secret-key v1\nabc\n").map(drop),
                "not a Mamori secret key file: expected 64 hex digits",
            ),
            (
                PublicKey::parse(&key(1).to_file_text()).map(drop),
                "not a Mamori public key file: missing header line",
            ),
            (
                key(1).public_key().verify(b"x", "nope"),
                "not a Mamori policy signature file: missing header line",
            ),
            (
                key(1)
                    .public_key()
                    .verify(b"x", "mamori-policy-signature v1\nkey 00\n"),
                "not a Mamori policy signature file: missing or malformed `key` line",
            ),
            (
                key(1)
                    .public_key()
                    .verify(b"x", "mamori-policy-signature v1\nfoo bar\n"),
                "not a Mamori policy signature file: unexpected line",
            ),
        ];
        for (result, message) in cases {
            assert_eq!(result.unwrap_err().to_string(), message);
        }
    }

    #[test]
    fn hex_round_trips() {
        let bytes: [u8; 4] = [0, 0x7f, 0x80, 0xff];
        assert_eq!(encode_hex(&bytes), "007f80ff");
        assert_eq!(decode_hex::<4>("007F80ff"), Some(bytes));
        assert_eq!(decode_hex::<4>("007f80f"), None);
        assert_eq!(decode_hex::<4>("007f80fg"), None);
    }
}
