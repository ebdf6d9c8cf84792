//! Capped decompression: the one place where inflating happens.
//!
//! Every decompressor is wrapped in a [`LimitedReader`], which counts the bytes it *actually*
//! hands out (declared sizes in archive headers are never trusted) and fails with a
//! [`LimitExceeded`] error as soon as one more byte would pass the cap. The cap is the smaller
//! of what the compression-ratio limit allows for this member and what is left of the
//! expansion budget of the whole input.

use std::fmt;
use std::io::{self, Read};

/// Members that expand to fewer bytes than this are never refused for their ratio: a small
/// file of repeated characters compresses far better than 100:1 and is no bomb.
pub const RATIO_GRACE_BYTES: u64 = 1 << 20;

/// Which limit a [`LimitedReader`] hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitKind {
    /// The member expanded more than the ratio limit allows for its compressed size.
    CompressionRatio,
    /// The expansion budget of the whole input is spent.
    ExpansionLimit,
}

/// The error a [`LimitedReader`] returns (inside an [`io::Error`] of kind `Other`) when its
/// cap is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("decompression limit reached: {kind:?} after {bytes} bytes")]
pub struct LimitExceeded {
    /// Which limit.
    pub kind: LimitKind,
    /// Bytes read before the limit was hit.
    pub bytes: u64,
}

impl LimitExceeded {
    /// The [`LimitExceeded`] inside an I/O error, if that is what the error is.
    pub fn from_io(error: &io::Error) -> Option<LimitExceeded> {
        error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<LimitExceeded>())
            .copied()
    }
}

/// How much one compressed member may expand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cap {
    /// Bytes allowed.
    pub bytes: u64,
    /// The limit that set `bytes`, reported when it is passed.
    pub kind: LimitKind,
}

impl Cap {
    /// The cap for a member of `compressed` bytes, with `max_ratio` allowed and `budget_left`
    /// bytes left of the whole input's expansion budget.
    pub fn for_member(compressed: u64, max_ratio: u64, budget_left: u64) -> Cap {
        let by_ratio = compressed.saturating_mul(max_ratio).max(RATIO_GRACE_BYTES);
        if by_ratio < budget_left {
            Cap {
                bytes: by_ratio,
                kind: LimitKind::CompressionRatio,
            }
        } else {
            Cap {
                bytes: budget_left,
                kind: LimitKind::ExpansionLimit,
            }
        }
    }
}

/// A reader that hands out at most `cap.bytes` bytes of `inner` and fails with
/// [`LimitExceeded`] if `inner` has more.
pub struct LimitedReader<R> {
    inner: R,
    cap: Cap,
    count: u64,
}

impl<R: Read> LimitedReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R, cap: Cap) -> LimitedReader<R> {
        LimitedReader {
            inner,
            cap,
            count: 0,
        }
    }

    /// Bytes handed out so far.
    pub fn count(&self) -> u64 {
        self.count
    }
}

impl<R> fmt::Debug for LimitedReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimitedReader")
            .field("cap", &self.cap)
            .field("count", &self.count)
            .finish()
    }
}

impl<R: Read> Read for LimitedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let left = self.cap.bytes - self.count;
        if left == 0 {
            // At the cap: the member is fine only if it ends exactly here.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other(LimitExceeded {
                    kind: self.cap.kind,
                    bytes: self.count,
                })),
            };
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Why inflating a member stopped early.
#[derive(Debug)]
pub(crate) enum InflateError {
    /// A limit was hit.
    Limit(LimitExceeded),
    /// The compressed data is damaged or truncated.
    Io(io::Error),
}

/// Reads `reader` to its end through a [`LimitedReader`]. Returns what was read, and the reason
/// it stopped early if it did (the partial output is still returned).
pub(crate) fn read_capped<R: Read>(reader: R, cap: Cap) -> (Vec<u8>, Option<InflateError>) {
    let mut limited = LimitedReader::new(reader, cap);
    let mut out = Vec::new();
    match limited.read_to_end(&mut out) {
        Ok(_) => (out, None),
        Err(error) => match LimitExceeded::from_io(&error) {
            Some(limit) => (out, Some(InflateError::Limit(limit))),
            None => (out, Some(InflateError::Io(error))),
        },
    }
}

/// Inflates a gzip stream (all members) with a cap.
#[allow(clippy::disallowed_types)] // the decoder is wrapped in a LimitedReader right here
pub(crate) fn gunzip_capped(compressed: &[u8], cap: Cap) -> (Vec<u8>, Option<InflateError>) {
    read_capped(flate2::read::MultiGzDecoder::new(compressed), cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_input_that_fits_exactly() {
        let data = [7u8; 100];
        let cap = Cap {
            bytes: 100,
            kind: LimitKind::ExpansionLimit,
        };
        let (out, err) = read_capped(&data[..], cap);
        assert_eq!(out.len(), 100);
        assert!(err.is_none());
    }

    #[test]
    fn fails_one_byte_past_the_cap() {
        let data = [7u8; 101];
        let cap = Cap {
            bytes: 100,
            kind: LimitKind::CompressionRatio,
        };
        let (out, err) = read_capped(&data[..], cap);
        assert_eq!(out.len(), 100);
        match err {
            Some(InflateError::Limit(l)) => assert_eq!(l.kind, LimitKind::CompressionRatio),
            other => panic!("expected a limit, got {other:?}"),
        }
    }

    #[test]
    fn cap_picks_the_tighter_limit() {
        let c = Cap::for_member(1 << 20, 100, 10 << 20);
        assert_eq!(
            c,
            Cap {
                bytes: 10 << 20,
                kind: LimitKind::ExpansionLimit
            }
        );
        let c = Cap::for_member(1 << 20, 5, 100 << 20);
        assert_eq!(
            c,
            Cap {
                bytes: 5 << 20,
                kind: LimitKind::CompressionRatio
            }
        );
        // Tiny members get the grace allowance.
        let c = Cap::for_member(10, 100, 100 << 20);
        assert_eq!(c.bytes, RATIO_GRACE_BYTES);
        // No overflow on absurd declared sizes.
        let c = Cap::for_member(u64::MAX, u64::MAX, 7);
        assert_eq!(c.bytes, 7);
    }

    #[test]
    fn gunzip_stops_a_bomb() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&vec![0u8; 8 << 20]).unwrap();
        let gz = enc.finish().unwrap();
        let cap = Cap::for_member(gz.len() as u64, 100, 256 << 20);
        let (out, err) = gunzip_capped(&gz, cap);
        assert!(out.len() as u64 <= cap.bytes);
        assert!(
            matches!(err, Some(InflateError::Limit(l)) if l.kind == LimitKind::CompressionRatio)
        );
    }
}
