//! Incremental decoding of ICAP's chunked bodies, including the `ieof` extension that ends a
//! preview holding the whole body.
//!
//! Written by hand because the decoder must hand out borrowed slices of the caller's buffer
//! as they arrive (no copy, no whole-body buffer) and must report the `ieof` chunk extension,
//! which HTTP chunked decoders drop.

use crate::error::{Error, ErrorKind};

/// Longest chunk-size line (size plus extensions) accepted.
pub const MAX_SIZE_LINE: usize = 1024;
/// Most trailer bytes accepted after the last chunk.
pub const MAX_TRAILER: usize = 8 * 1024;

/// What [`ChunkedDecoder::decode`] found next.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Body bytes.
    Data(&'a [u8]),
    /// The last chunk and its trailer were read. `ieof` is set when the zero chunk carried the
    /// `ieof` extension: in a preview, the body ended inside the preview.
    End {
        /// The zero-length chunk carried `; ieof`.
        ieof: bool,
    },
    /// Everything given was consumed; more input is needed.
    NeedMore,
}

#[derive(Debug)]
enum State {
    Size,
    Data(u64),
    DataCr,
    DataLf,
    Trailer { ieof: bool, total: usize },
    Done,
}

/// The decoder; one per chunked body (a preview and its continuation are two bodies).
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    line: Vec<u8>,
    received: u64,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder::new()
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub fn new() -> ChunkedDecoder {
        ChunkedDecoder {
            state: State::Size,
            line: Vec::new(),
            received: 0,
        }
    }

    /// Body bytes handed out so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Whether the body has ended.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Decodes from the start of `buf`: returns how many bytes of `buf` were consumed and what
    /// was found. Call again with the rest until [`Piece::NeedMore`] or [`Piece::End`].
    pub fn decode<'a>(&mut self, buf: &'a [u8]) -> Result<(usize, Piece<'a>), Error> {
        let mut pos = 0;
        loop {
            match self.state {
                State::Size => {
                    let Some(lf) = memchr::memchr(b'\n', &buf[pos..]) else {
                        self.push_line(&buf[pos..], MAX_SIZE_LINE)?;
                        return Ok((buf.len(), Piece::NeedMore));
                    };
                    self.push_line(&buf[pos..pos + lf], MAX_SIZE_LINE)?;
                    pos += lf + 1;
                    let (size, ieof) = parse_size_line(&self.line)?;
                    self.line.clear();
                    self.state = if size == 0 {
                        State::Trailer { ieof, total: 0 }
                    } else if ieof {
                        return Err(bad("ieof on a chunk that is not the last"));
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(left) => {
                    if pos == buf.len() {
                        return Ok((pos, Piece::NeedMore));
                    }
                    let take = usize::try_from(left)
                        .unwrap_or(usize::MAX)
                        .min(buf.len() - pos);
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::DataCr
                    } else {
                        State::Data(left)
                    };
                    self.received += take as u64;
                    return Ok((pos + take, Piece::Data(&buf[pos..pos + take])));
                }
                State::DataCr | State::DataLf => {
                    let Some(&b) = buf.get(pos) else {
                        return Ok((pos, Piece::NeedMore));
                    };
                    pos += 1;
                    self.state = match (&self.state, b) {
                        (State::DataCr, b'\r') => State::DataLf,
                        (State::DataCr, b'\n') | (State::DataLf, b'\n') => State::Size,
                        _ => return Err(bad("chunk data not followed by CRLF")),
                    };
                }
                State::Trailer { ieof, total } => {
                    let Some(lf) = memchr::memchr(b'\n', &buf[pos..]) else {
                        self.push_line(&buf[pos..], MAX_TRAILER)?;
                        let total = total + (buf.len() - pos);
                        if total > MAX_TRAILER {
                            return Err(Error::new(ErrorKind::TooLarge, "trailer too long"));
                        }
                        self.state = State::Trailer { ieof, total };
                        return Ok((buf.len(), Piece::NeedMore));
                    };
                    self.push_line(&buf[pos..pos + lf], MAX_TRAILER)?;
                    let total = total + lf + 1;
                    pos += lf + 1;
                    if total > MAX_TRAILER {
                        return Err(Error::new(ErrorKind::TooLarge, "trailer too long"));
                    }
                    let empty = matches!(self.line.as_slice(), b"" | b"\r");
                    self.line.clear();
                    if empty {
                        self.state = State::Done;
                        return Ok((pos, Piece::End { ieof }));
                    }
                    self.state = State::Trailer { ieof, total };
                }
                State::Done => return Err(bad("data after the end of the body")),
            }
        }
    }

    fn push_line(&mut self, bytes: &[u8], max: usize) -> Result<(), Error> {
        if self.line.len() + bytes.len() > max {
            return Err(Error::new(ErrorKind::TooLarge, "chunk line too long"));
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }
}

fn bad(why: &str) -> Error {
    Error::new(ErrorKind::BadChunk, why)
}

/// `1a2b; ieof` → (0x1a2b, true). The line has its LF removed; a trailing CR is dropped.
fn parse_size_line(line: &[u8]) -> Result<(u64, bool), Error> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(bad("chunk size is not hexadecimal"));
    }
    if digits > 15 {
        return Err(Error::new(ErrorKind::TooLarge, "chunk size too large"));
    }
    let text = std::str::from_utf8(&line[..digits]).map_err(|_| bad("chunk size"))?;
    let size = u64::from_str_radix(text, 16).map_err(|_| bad("chunk size"))?;
    let rest = &line[digits..];
    let rest = trim_ws(rest);
    let mut ieof = false;
    if !rest.is_empty() {
        let Some(exts) = rest.strip_prefix(b";") else {
            return Err(bad("junk after the chunk size"));
        };
        for ext in exts.split(|&b| b == b';') {
            let ext = trim_ws(ext);
            let name = ext.split(|&b| b == b'=').next().unwrap_or_default();
            if trim_ws(name).eq_ignore_ascii_case(b"ieof") {
                ieof = true;
            }
            if ext.iter().any(|b| b.is_ascii_control() && *b != b'\t') {
                return Err(bad("a control character in a chunk extension"));
            }
        }
    }
    Ok((size, ieof))
}

fn trim_ws(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Decodes `input` fed in pieces of `step` bytes; returns the body, the ieof flag and how
    /// many bytes of `input` follow the end of the body.
    fn decode_all(input: &[u8], step: usize) -> Result<(Vec<u8>, bool, usize), Error> {
        let mut dec = ChunkedDecoder::new();
        let mut body = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        let mut fed = 0;
        for piece in input.chunks(step.max(1)) {
            pending.extend_from_slice(piece);
            fed += piece.len();
            let mut pos = 0;
            loop {
                let (n, p) = dec.decode(&pending[pos..])?;
                pos += n;
                match p {
                    Piece::Data(d) => body.extend_from_slice(d),
                    Piece::NeedMore => break,
                    Piece::End { ieof } => {
                        return Ok((body, ieof, pending.len() - pos + input.len() - fed));
                    }
                }
            }
            pending.drain(..pos);
        }
        Err(Error::new(ErrorKind::UnexpectedEof, "no end"))
    }

    fn encode(body: &[u8], sizes: &[usize], ieof: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = body;
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes.get(i).copied().unwrap_or(7).clamp(1, rest.len());
            i += 1;
            out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
            out.extend_from_slice(&rest[..n]);
            out.extend_from_slice(b"\r\n");
            rest = &rest[n..];
        }
        out.extend_from_slice(if ieof {
            b"0; ieof\r\n\r\n"
        } else {
            b"0\r\n\r\n"
        });
        out
    }

    #[test]
    fn simple_body_and_ieof() {
        let input = b"5\r\nhello\r\n6\r\n world\r\n0; ieof\r\n\r\nNEXT";
        let (body, ieof, rest) = decode_all(input, 1000).unwrap();
        assert_eq!(body, b"hello world");
        assert!(ieof);
        assert_eq!(rest, 4);
        let (_, ieof, _) = decode_all(b"0\r\n\r\n", 1).unwrap();
        assert!(!ieof);
    }

    #[test]
    fn extensions_case_and_trailers() {
        let input = b"3;name=x\r\nabc\r\n0;IEOF\r\nX-T: 1\r\n\r\n";
        let (body, ieof, _) = decode_all(input, 2).unwrap();
        assert_eq!(body, b"abc");
        assert!(ieof);
    }

    #[test]
    fn bad_framing() {
        for bad in [
            &b"x\r\n"[..],
            b"3\r\nabcX\r\n0\r\n\r\n",
            b"3 junk\r\nabc\r\n0\r\n\r\n",
            b"3; ieof\r\nabc\r\n0\r\n\r\n",
            b"ffffffffffffffff\r\n",
        ] {
            assert!(
                decode_all(bad, 1000).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = vec![b'1'; MAX_SIZE_LINE + 1];
        assert_eq!(
            decode_all(&long, 100).unwrap_err().kind(),
            ErrorKind::TooLarge
        );
    }

    proptest! {
        #[test]
        fn roundtrip_any_split(body in proptest::collection::vec(any::<u8>(), 0..2000),
                               sizes in proptest::collection::vec(1usize..300, 0..20),
                               step in 1usize..64, ieof: bool) {
            let enc = encode(&body, &sizes, ieof);
            let (out, got_ieof, rest) = decode_all(&enc, step).unwrap();
            prop_assert_eq!(out, body);
            prop_assert_eq!(got_ieof, ieof);
            prop_assert_eq!(rest, 0);
        }

        #[test]
        fn never_panics(input in proptest::collection::vec(any::<u8>(), 0..300), step in 1usize..20) {
            let _ = decode_all(&input, step);
        }
    }
}
