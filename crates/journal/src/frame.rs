//! The on-disk format of segment files. Pure: bytes in, values out.
//!
//! A segment is a fixed header followed by frames:
//!
//! ```text
//! header (68 bytes):  "MAMORIJ\x01" | segment u64 | first_seq u64 | prev_hash [32] | created_ns i64 | crc32 u32
//! frame:              len u32 | crc32 u32 | body (len bytes)
//! body:               type u8 | seq u64 | prev_hash [32] | payload
//! ```
//!
//! All integers are little-endian. `crc32` (IEEE, as in zlib) covers the body and catches torn or
//! damaged frames. `prev_hash` is the SHA-256 of the previous frame's *body*, so that every frame
//! is chained to the one before, across segments; the header repeats the hash the segment starts
//! from. Changing a frame's payload changes its hash and breaks the next frame's link even when
//! the CRC is recomputed; only a signed checkpoint (a frame of type [`FrameType::Checkpoint`])
//! protects the last links, see `checkpoint.rs`.

use sha2::{Digest, Sha256};

/// The magic bytes starting every segment file, version 1.
pub const MAGIC: &[u8; 8] = b"MAMORIJ\x01";
/// Length of the segment header.
pub const HEADER_LEN: usize = 68;
/// Length of a frame's `len` and `crc32` fields.
pub const FRAME_PREFIX_LEN: usize = 8;
/// Length of a body's `type`, `seq` and `prev_hash` fields.
pub const BODY_FIXED_LEN: usize = 1 + 8 + 32;
/// The largest body accepted: bigger lengths are damage, not data.
pub const MAX_BODY_LEN: usize = 4 * 1024 * 1024;

/// A SHA-256 chain hash.
pub type Hash = [u8; 32];

/// The hash the very first frame of a journal links to.
pub const GENESIS: Hash = [0; 32];

/// The header of a segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Segment number, from 1, without gaps.
    pub segment: u64,
    /// Sequence number of the segment's first frame.
    pub first_seq: u64,
    /// Chain hash of the frame before the segment's first frame.
    pub prev_hash: Hash,
    /// When the segment was created, nanoseconds since the epoch.
    pub created_ns: i64,
}

impl SegmentHeader {
    /// The header's bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..8].copy_from_slice(MAGIC);
        out[8..16].copy_from_slice(&self.segment.to_le_bytes());
        out[16..24].copy_from_slice(&self.first_seq.to_le_bytes());
        out[24..56].copy_from_slice(&self.prev_hash);
        out[56..64].copy_from_slice(&self.created_ns.to_le_bytes());
        let crc = crc32fast::hash(&out[..64]);
        out[64..68].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Parses a header.
    pub fn decode(bytes: &[u8]) -> Result<SegmentHeader, HeaderError> {
        if bytes.len() < HEADER_LEN {
            return Err(HeaderError::Short(bytes.len()));
        }
        if &bytes[..8] != MAGIC {
            return Err(HeaderError::Magic);
        }
        let crc = u32::from_le_bytes(bytes[64..68].try_into().unwrap_or_default());
        if crc != crc32fast::hash(&bytes[..64]) {
            return Err(HeaderError::Checksum);
        }
        Ok(SegmentHeader {
            segment: u64_at(bytes, 8),
            first_seq: u64_at(bytes, 16),
            prev_hash: hash_at(bytes, 24),
            created_ns: u64_at(bytes, 56) as i64,
        })
    }
}

/// Why a segment header could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The file is shorter than a header.
    #[error("segment header is short ({0} of 68 bytes)")]
    Short(usize),
    /// Not a Mamori segment, or another version.
    #[error("not a Mamori journal segment (bad magic)")]
    Magic,
    /// The header was damaged.
    #[error("segment header checksum mismatch")]
    Checksum,
}

/// What a frame holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FrameType {
    /// An [`crate::Event`] as JSON.
    Event,
    /// A signed checkpoint as JSON.
    Checkpoint,
    /// A note the journal wrote about itself (recovery after a crash), as JSON.
    Note,
    /// A type this version does not know (kept for verification).
    Other(u8),
}

impl FrameType {
    /// The type byte.
    pub fn to_byte(self) -> u8 {
        match self {
            FrameType::Event => 1,
            FrameType::Checkpoint => 2,
            FrameType::Note => 3,
            FrameType::Other(b) => b,
        }
    }

    /// The type of a type byte.
    pub fn from_byte(b: u8) -> FrameType {
        match b {
            1 => FrameType::Event,
            2 => FrameType::Checkpoint,
            3 => FrameType::Note,
            other => FrameType::Other(other),
        }
    }
}

/// One decoded frame, borrowing its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// What the payload is.
    pub frame_type: FrameType,
    /// Global sequence number.
    pub seq: u64,
    /// Chain hash of the previous frame.
    pub prev_hash: Hash,
    /// The payload bytes.
    pub payload: &'a [u8],
    /// The whole body (type, seq, prev_hash, payload).
    pub body: &'a [u8],
    /// Bytes the frame takes on disk, prefix included.
    pub len: usize,
}

impl Frame<'_> {
    /// SHA-256 of this frame's body: the next frame's `prev_hash`.
    pub fn hash(&self) -> Hash {
        Sha256::digest(self.body).into()
    }
}

/// Why the bytes at some offset are not a whole, intact frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// Fewer bytes than the frame announces: a torn write, or a truncated file.
    #[error("incomplete frame: {have} of {need} bytes")]
    Incomplete {
        /// Bytes present.
        have: usize,
        /// Bytes needed.
        need: usize,
    },
    /// The announced length is impossible.
    #[error("impossible frame length {0}")]
    Length(usize),
    /// The body does not match its checksum.
    #[error("frame checksum mismatch")]
    Checksum,
}

/// Encodes one frame and returns its chain hash.
pub fn encode_frame(
    out: &mut Vec<u8>,
    frame_type: FrameType,
    seq: u64,
    prev_hash: &Hash,
    payload: &[u8],
) -> Hash {
    let body_len = BODY_FIXED_LEN + payload.len();
    let start = out.len();
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    let body_start = out.len();
    out.push(frame_type.to_byte());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(prev_hash);
    out.extend_from_slice(payload);
    let body = &out[body_start..];
    let crc = crc32fast::hash(body);
    let hash: Hash = Sha256::digest(body).into();
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    hash
}

/// Decodes the frame at the start of `bytes`.
pub fn decode_frame(bytes: &[u8]) -> Result<Frame<'_>, FrameError> {
    if bytes.len() < FRAME_PREFIX_LEN {
        return Err(FrameError::Incomplete {
            have: bytes.len(),
            need: FRAME_PREFIX_LEN,
        });
    }
    let body_len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    if !(BODY_FIXED_LEN..=MAX_BODY_LEN).contains(&body_len) {
        return Err(FrameError::Length(body_len));
    }
    let need = FRAME_PREFIX_LEN + body_len;
    if bytes.len() < need {
        return Err(FrameError::Incomplete {
            have: bytes.len(),
            need,
        });
    }
    let crc = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    let body = &bytes[FRAME_PREFIX_LEN..need];
    if crc32fast::hash(body) != crc {
        return Err(FrameError::Checksum);
    }
    Ok(Frame {
        frame_type: FrameType::from_byte(body[0]),
        seq: u64_at(body, 1),
        prev_hash: hash_at(body, 9),
        payload: &body[BODY_FIXED_LEN..],
        body,
        len: need,
    })
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

fn hash_at(bytes: &[u8], at: usize) -> Hash {
    let mut h = [0u8; 32];
    h.copy_from_slice(&bytes[at..at + 32]);
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_round_trip_and_damage() {
        let h = SegmentHeader {
            segment: 7,
            first_seq: 1234,
            prev_hash: [9; 32],
            created_ns: 42,
        };
        let bytes = h.encode();
        assert_eq!(SegmentHeader::decode(&bytes), Ok(h));
        assert_eq!(
            SegmentHeader::decode(&bytes[..10]),
            Err(HeaderError::Short(10))
        );
        let mut bad = bytes;
        bad[20] ^= 1;
        assert_eq!(SegmentHeader::decode(&bad), Err(HeaderError::Checksum));
        bad[0] = b'X';
        assert_eq!(SegmentHeader::decode(&bad), Err(HeaderError::Magic));
    }

    #[test]
    fn frames_chain_and_detect_damage() {
        let mut buf = Vec::new();
        let h1 = encode_frame(&mut buf, FrameType::Event, 1, &GENESIS, b"one");
        let first_len = buf.len();
        let h2 = encode_frame(&mut buf, FrameType::Note, 2, &h1, b"two");
        let f1 = decode_frame(&buf).unwrap();
        assert_eq!(f1.seq, 1);
        assert_eq!(f1.hash(), h1);
        assert_eq!(f1.payload, b"one");
        let f2 = decode_frame(&buf[f1.len..]).unwrap();
        assert_eq!(f2.prev_hash, h1);
        assert_eq!(f2.hash(), h2);
        assert_eq!(f2.frame_type, FrameType::Note);
        // Torn: any strict prefix of a frame is incomplete, never a frame.
        for cut in 0..first_len {
            assert!(matches!(
                decode_frame(&buf[..cut]),
                Err(FrameError::Incomplete { .. })
            ));
        }
        let mut bad = buf.clone();
        bad[first_len - 1] ^= 0x20;
        assert_eq!(decode_frame(&bad), Err(FrameError::Checksum));
        let mut huge = buf.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(decode_frame(&huge), Err(FrameError::Length(_))));
    }

    proptest! {
        #[test]
        fn any_payload_round_trips(payload in proptest::collection::vec(any::<u8>(), 0..2000), seq in any::<u64>(), t in 0u8..=255) {
            let mut buf = Vec::new();
            let hash = encode_frame(&mut buf, FrameType::from_byte(t), seq, &[3; 32], &payload);
            let f = decode_frame(&buf).unwrap();
            prop_assert_eq!(f.payload, &payload[..]);
            prop_assert_eq!(f.seq, seq);
            prop_assert_eq!(f.hash(), hash);
            prop_assert_eq!(f.frame_type.to_byte(), t);
        }

        #[test]
        fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_frame(&bytes);
            let _ = SegmentHeader::decode(&bytes);
        }

        #[test]
        fn any_single_bit_flip_is_detected(payload in proptest::collection::vec(any::<u8>(), 0..200), bit in any::<usize>()) {
            let mut buf = Vec::new();
            encode_frame(&mut buf, FrameType::Event, 5, &[1; 32], &payload);
            let bit = bit % (buf.len() * 8);
            buf[bit / 8] ^= 1 << (bit % 8);
            // Either the frame is refused, or (flip in the length) it is no longer the same frame.
            if let Ok(f) = decode_frame(&buf) { prop_assert!(f.payload != &payload[..] || f.seq != 5) }
        }
    }
}
