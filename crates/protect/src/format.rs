//! The protected-file container: a signed classification header in front of an age file.
//!
//! ```text
//! offset  size  field
//! 0       8     magic  89 'M' 'A' 'M' 'O' 'R' 'I' 0A
//! 8       1     format version (1)
//! 9       4     header length H, big-endian (at most 64 KiB)
//! 13      H     header: UTF-8 JSON (see [`Header`])
//! 13+H    4     age prefix length A, big-endian (at most 256 KiB)
//! 17+H    64    Ed25519 signature
//! 81+H    ...   an unmodified age v1 file: its header (recipient stanzas + MAC) and 16-byte
//!               payload nonce (together the A-byte "age prefix"), then the
//!               ChaCha20-Poly1305 STREAM payload in 64 KiB chunks
//! ```
//!
//! The signature is made with the signer's Ed25519 key over
//! `SIGNATURE_CONTEXT || bytes 0..17+H || age prefix`, so it covers the magic, version,
//! lengths, the whole classification header *and* the age header with its recipient stanzas,
//! its header MAC (keyed by the file key) and the payload nonce.
//!
//! Everything here is pure: no files, no clock, no randomness.

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::error::FormatError;

/// The eight bytes every protected file starts with. The high-bit first byte and the trailing
/// newline catch 7-bit and newline-translating transfers, as PNG's magic does.
pub const MAGIC: [u8; 8] = *b"\x89MAMORI\n";
/// The container format version this build writes and reads.
pub const VERSION: u8 = 1;
/// The largest classification header accepted.
pub const MAX_HEADER_LEN: usize = 64 * 1024;
/// The largest age prefix (age header + nonce) accepted; X25519 stanzas are ~120 bytes each.
pub const MAX_AGE_PREFIX_LEN: usize = 256 * 1024;
/// The most groups one file may be encrypted to.
pub const MAX_GROUPS: usize = 64;
/// Domain separation for the header signature.
pub const SIGNATURE_CONTEXT: &[u8] = b"mamori-protect/v1 header signature\0";
/// Length of the fixed part before the header (magic, version, header length).
const LEAD_LEN: usize = 8 + 1 + 4;
const SIG_LEN: usize = 64;

/// The classification header of a protected file, readable without decrypting it.
///
/// Agents and gateways read it with [`crate::read_header`] to learn a protected file's level,
/// owner and groups; the signature proves who wrote it (see the crate documentation for exactly
/// what that does and does not prove).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// A random 128-bit id (32 lower-case hex digits), kept across re-keying.
    pub file_id: String,
    /// The classification level, a policy level id such as `confidential` or `shagaihi`.
    pub level: String,
    /// The user who owns the content.
    pub owner: String,
    /// The file name the plaintext had (no directories).
    pub original_name: String,
    /// The groups whose keys open the file.
    pub groups: Vec<GroupGrant>,
    /// The owner's own age recipient, when the owner may open the file without a group key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_recipient: Option<String>,
    /// When the file was protected, in seconds since the Unix epoch (UTC).
    pub created_unix: u64,
    /// Length of the plaintext in bytes, when known in advance (informational: the
    /// authenticated stream decides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plaintext_len: Option<u64>,
    /// Who signed this header.
    pub signer: SignerInfo,
}

/// One group a file is encrypted to: the group's key of one epoch (generation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupGrant {
    /// The group's name.
    pub group: String,
    /// Which generation of the group key (it changes when a member is removed).
    pub epoch: u32,
    /// That generation's age X25519 recipient (`age1...`).
    pub recipient: String,
}

/// The signer of a header: a user name and the Ed25519 public key that signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignerInfo {
    /// The signing user's name.
    pub user: String,
    /// The Ed25519 verifying key, 64 lower-case hex digits.
    pub public_key: String,
}

/// A parsed and signature-checked header, with the bytes needed to decrypt the rest.
#[derive(Debug, Clone)]
pub struct SignedHeader {
    /// The classification header.
    pub header: Header,
    /// The age header and payload nonce that followed it (the start of the age file).
    pub age_prefix: Vec<u8>,
    /// Total length of the container prefix in front of the age file.
    pub container_len: usize,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> FormatError {
    FormatError::InvalidField {
        field,
        reason: reason.into(),
    }
}

/// Checks a user, group or level name as it appears in a header.
pub(crate) fn check_name(field: &'static str, name: &str) -> Result<(), FormatError> {
    if name.is_empty() {
        return Err(invalid(field, "empty"));
    }
    if name.chars().count() > 128 {
        return Err(invalid(field, "longer than 128 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(field, "contains control characters"));
    }
    Ok(())
}

impl Header {
    /// Checks every field's shape: ids, names, keys, limits.
    pub fn validate(&self) -> Result<(), FormatError> {
        if self.file_id.len() != 32
            || !self
                .file_id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(invalid("file_id", "not 32 lower-case hex digits"));
        }
        check_name("level", &self.level)?;
        check_name("owner", &self.owner)?;
        check_name("signer.user", &self.signer.user)?;
        if self.original_name.len() > 1024 {
            return Err(invalid("original_name", "longer than 1024 bytes"));
        }
        if self.original_name.contains('/') || self.original_name.contains('\0') {
            return Err(invalid("original_name", "contains '/' or NUL"));
        }
        if self.groups.is_empty() && self.owner_recipient.is_none() {
            return Err(invalid(
                "groups",
                "no group and no owner key: nobody could open it",
            ));
        }
        if self.groups.len() > MAX_GROUPS {
            return Err(invalid("groups", format!("more than {MAX_GROUPS}")));
        }
        for grant in &self.groups {
            check_name("groups.group", &grant.group)?;
            parse_recipient(&grant.recipient).map_err(|r| invalid("groups.recipient", r))?;
        }
        if let Some(r) = &self.owner_recipient {
            parse_recipient(r).map_err(|r| invalid("owner_recipient", r))?;
        }
        verifying_key(&self.signer.public_key)?;
        Ok(())
    }

    /// The group names, in header order.
    pub fn group_names(&self) -> Vec<String> {
        self.groups.iter().map(|g| g.group.clone()).collect()
    }
}

/// Parses an age X25519 recipient string.
pub(crate) fn parse_recipient(s: &str) -> Result<age::x25519::Recipient, String> {
    s.parse::<age::x25519::Recipient>()
        .map_err(|e| format!("not an age X25519 recipient: {e}"))
}

/// Parses a hex Ed25519 verifying key.
pub(crate) fn verifying_key(hex_key: &str) -> Result<VerifyingKey, FormatError> {
    let bytes = hex_decode::<32>(hex_key)
        .ok_or_else(|| invalid("signer.public_key", "not 64 hex digits"))?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| invalid("signer.public_key", "not an Ed25519 public key"))
}

/// Lower-case hex of some bytes.
pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// Decodes exactly `N` bytes of hex (either case).
pub(crate) fn hex_decode<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.as_bytes();
    if s.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in s.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

fn signed_message(lead_and_header: &[u8], age_len_field: &[u8; 4], age_prefix: &[u8]) -> Vec<u8> {
    let mut msg =
        Vec::with_capacity(SIGNATURE_CONTEXT.len() + lead_and_header.len() + 4 + age_prefix.len());
    msg.extend_from_slice(SIGNATURE_CONTEXT);
    msg.extend_from_slice(lead_and_header);
    msg.extend_from_slice(age_len_field);
    msg.extend_from_slice(age_prefix);
    msg
}

/// Builds the container prefix (everything before the age file) for a header and the age
/// prefix it will be followed by, signed with `key`.
///
/// The header must carry `key`'s public key in [`Header::signer`].
pub fn encode_prefix(
    header: &Header,
    age_prefix: &[u8],
    key: &SigningKey,
) -> Result<Vec<u8>, FormatError> {
    header.validate()?;
    if header.signer.public_key != hex_encode(key.verifying_key().as_bytes()) {
        return Err(invalid(
            "signer.public_key",
            "does not match the signing key",
        ));
    }
    let json = serde_json::to_vec(header).map_err(|e| FormatError::Malformed(e.to_string()))?;
    if json.len() > MAX_HEADER_LEN {
        return Err(FormatError::TooLarge {
            field: "header",
            len: json.len() as u64,
            max: MAX_HEADER_LEN as u64,
        });
    }
    if age_prefix.len() > MAX_AGE_PREFIX_LEN {
        return Err(FormatError::TooLarge {
            field: "age header",
            len: age_prefix.len() as u64,
            max: MAX_AGE_PREFIX_LEN as u64,
        });
    }
    let mut out = Vec::with_capacity(LEAD_LEN + json.len() + 4 + SIG_LEN);
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&(json.len() as u32).to_be_bytes());
    out.extend_from_slice(&json);
    let age_len_field = (age_prefix.len() as u32).to_be_bytes();
    let signature = key.sign(&signed_message(&out, &age_len_field, age_prefix));
    out.extend_from_slice(&age_len_field);
    out.extend_from_slice(&signature.to_bytes());
    Ok(out)
}

/// Something [`parse_prefix`] can read from: a byte slice or any reader.
///
/// Reads exactly what it is asked for, so after parsing, the reader stands at the first byte
/// of the encrypted payload.
pub(crate) trait ReadExact {
    fn read_exact_or_eof(&mut self, buf: &mut [u8]) -> std::io::Result<bool>;
}

impl<R: std::io::Read> ReadExact for R {
    /// Ok(false) when the input ended before `buf` was filled.
    fn read_exact_or_eof(&mut self, buf: &mut [u8]) -> std::io::Result<bool> {
        match self.read_exact(buf) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Why reading the prefix stopped: a format problem or an I/O error of the reader.
#[derive(Debug)]
pub(crate) enum PrefixError {
    Format(FormatError),
    Io(std::io::Error),
}

impl From<FormatError> for PrefixError {
    fn from(e: FormatError) -> Self {
        PrefixError::Format(e)
    }
}

fn read_field<R: ReadExact>(r: &mut R, buf: &mut [u8]) -> Result<(), PrefixError> {
    match r.read_exact_or_eof(buf) {
        Ok(true) => Ok(()),
        Ok(false) => Err(FormatError::Truncated.into()),
        Err(e) => Err(PrefixError::Io(e)),
    }
}

/// Reads and checks the container prefix from a reader, leaving it at the encrypted payload.
pub(crate) fn read_prefix<R: ReadExact>(r: &mut R) -> Result<SignedHeader, PrefixError> {
    let mut lead = [0u8; LEAD_LEN];
    // A short input that does not even hold the magic is "not protected", not "truncated",
    // unless what is there is a prefix of the magic.
    match r.read_exact_or_eof(&mut lead) {
        Ok(true) => {}
        Ok(false) => return Err(FormatError::NotProtected.into()),
        Err(e) => return Err(PrefixError::Io(e)),
    }
    if lead[..8] != MAGIC {
        return Err(FormatError::NotProtected.into());
    }
    if lead[8] != VERSION {
        return Err(FormatError::UnsupportedVersion(lead[8]).into());
    }
    let header_len = u32::from_be_bytes([lead[9], lead[10], lead[11], lead[12]]) as usize;
    if header_len > MAX_HEADER_LEN {
        return Err(FormatError::TooLarge {
            field: "header",
            len: header_len as u64,
            max: MAX_HEADER_LEN as u64,
        }
        .into());
    }
    let mut signed = Vec::with_capacity(LEAD_LEN + header_len);
    signed.extend_from_slice(&lead);
    signed.resize(LEAD_LEN + header_len, 0);
    read_field(r, &mut signed[LEAD_LEN..])?;
    let mut age_len_field = [0u8; 4];
    read_field(r, &mut age_len_field)?;
    let age_len = u32::from_be_bytes(age_len_field) as usize;
    if age_len > MAX_AGE_PREFIX_LEN {
        return Err(FormatError::TooLarge {
            field: "age header",
            len: age_len as u64,
            max: MAX_AGE_PREFIX_LEN as u64,
        }
        .into());
    }
    let mut sig = [0u8; SIG_LEN];
    read_field(r, &mut sig)?;
    let mut age_prefix = vec![0u8; age_len];
    read_field(r, &mut age_prefix)?;

    let header: Header = serde_json::from_slice(&signed[LEAD_LEN..])
        .map_err(|e| FormatError::Malformed(e.to_string()))?;
    header.validate()?;
    let key = verifying_key(&header.signer.public_key)?;
    let signature = Signature::from_bytes(&sig);
    key.verify(
        &signed_message(&signed, &age_len_field, &age_prefix),
        &signature,
    )
    .map_err(|_| FormatError::BadSignature)?;
    Ok(SignedHeader {
        header,
        age_prefix,
        container_len: LEAD_LEN + header_len + 4 + SIG_LEN,
    })
}

/// Parses and verifies the header at the start of `bytes` (a whole file or just its start).
///
/// This is the parser of outside bytes that the `protect_header` fuzz target drives: it never
/// panics, allocates at most [`MAX_HEADER_LEN`] + [`MAX_AGE_PREFIX_LEN`] bytes, and rejects any
/// header whose signature does not verify.
pub fn parse_prefix(bytes: &[u8]) -> Result<SignedHeader, FormatError> {
    let mut r = bytes;
    match read_prefix(&mut r) {
        Ok(h) => Ok(h),
        Err(PrefixError::Format(e)) => Err(e),
        // A slice reader has no I/O errors other than running out.
        Err(PrefixError::Io(_)) => Err(FormatError::Truncated),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn recipient() -> String {
        age::x25519::Identity::generate().to_public().to_string()
    }

    fn header(key: &SigningKey) -> Header {
        Header {
            file_id: "00112233445566778899aabbccddeeff".into(),
            level: "社外秘".into(),
            owner: "alice".into(),
            original_name: "設計書.docx".into(),
            groups: vec![GroupGrant {
                group: "research".into(),
                epoch: 1,
                recipient: recipient(),
            }],
            owner_recipient: None,
            created_unix: 1_790_000_000,
            plaintext_len: Some(42),
            signer: SignerInfo {
                user: "alice".into(),
                public_key: hex_encode(key.verifying_key().as_bytes()),
            },
        }
    }

    #[test]
    fn round_trip_and_every_flipped_byte_is_refused() {
        let k = key(7);
        let h = header(&k);
        let age_prefix =
            b"age-encryption.org/v1\n-> X25519 abc\n--- mac\n0123456789abcdef".to_vec();
        let mut bytes = encode_prefix(&h, &age_prefix, &k).unwrap();
        bytes.extend_from_slice(&age_prefix);
        bytes.extend_from_slice(b"payload");
        let parsed = parse_prefix(&bytes).unwrap();
        assert_eq!(parsed.header, h);
        assert_eq!(parsed.age_prefix, age_prefix);
        assert_eq!(
            parsed.container_len + age_prefix.len() + b"payload".len(),
            bytes.len()
        );
        let signed_end = parsed.container_len + age_prefix.len();
        for i in 0..signed_end {
            let mut t = bytes.clone();
            t[i] ^= 0x01;
            assert!(parse_prefix(&t).is_err(), "flip at {i} accepted");
        }
        for cut in 0..signed_end {
            assert!(
                parse_prefix(&bytes[..cut]).is_err(),
                "cut at {cut} accepted"
            );
        }
    }

    #[test]
    fn foreign_signature_is_refused() {
        let alice = key(1);
        let mallory = key(2);
        let mut h = header(&alice);
        // Mallory signs a header claiming Alice's key: encode refuses to do it...
        assert!(encode_prefix(&h, b"x", &mallory).is_err());
        // ...and a header naming Mallory's key but re-labelled as Alice's user only proves
        // Mallory's key signed it.
        h.signer.public_key = hex_encode(mallory.verifying_key().as_bytes());
        let bytes = encode_prefix(&h, b"x", &mallory).unwrap();
        let mut full = bytes.clone();
        full.push(b'x');
        let parsed = parse_prefix(&full).unwrap();
        assert_eq!(
            parsed.header.signer.public_key,
            hex_encode(mallory.verifying_key().as_bytes())
        );
    }

    #[test]
    fn limits_and_errors_are_specific() {
        assert_eq!(parse_prefix(b"").unwrap_err(), FormatError::NotProtected);
        assert_eq!(
            parse_prefix(b"age-encryption.org/v1\n").unwrap_err(),
            FormatError::NotProtected
        );
        let mut v2 = MAGIC.to_vec();
        v2.extend_from_slice(&[2, 0, 0, 0, 0]);
        assert_eq!(
            parse_prefix(&v2).unwrap_err(),
            FormatError::UnsupportedVersion(2)
        );
        let mut huge = MAGIC.to_vec();
        huge.push(VERSION);
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            parse_prefix(&huge).unwrap_err(),
            FormatError::TooLarge {
                field: "header",
                ..
            }
        ));
        let mut short = MAGIC.to_vec();
        short.push(VERSION);
        short.extend_from_slice(&10u32.to_be_bytes());
        short.extend_from_slice(b"{}");
        assert_eq!(parse_prefix(&short).unwrap_err(), FormatError::Truncated);
    }

    #[test]
    fn validation_catches_bad_fields() {
        let k = key(3);
        let mut h = header(&k);
        h.file_id = "xyz".into();
        assert!(matches!(
            h.validate(),
            Err(FormatError::InvalidField {
                field: "file_id",
                ..
            })
        ));
        let mut h = header(&k);
        h.original_name = "a/b".into();
        assert!(h.validate().is_err());
        let mut h = header(&k);
        h.groups.clear();
        assert!(h.validate().is_err());
        let mut h = header(&k);
        h.groups[0].recipient = "age1nope".into();
        assert!(h.validate().is_err());
        let mut h = header(&k);
        h.level = "a\nb".into();
        assert!(h.validate().is_err());
    }

    proptest::proptest! {
        #[test]
        fn hex_round_trips(bytes in proptest::array::uniform32(0u8..)) {
            proptest::prop_assert_eq!(hex_decode::<32>(&hex_encode(&bytes)), Some(bytes));
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(0u8.., 0..512)) {
            let _ = parse_prefix(&bytes);
            let mut with_magic = MAGIC.to_vec();
            with_magic.push(VERSION);
            with_magic.extend_from_slice(&bytes);
            let _ = parse_prefix(&with_magic);
        }
    }
}
