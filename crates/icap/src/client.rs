//! A minimal ICAP client: builds REQMOD requests and reads responses. Used by the tests and
//! by the load generator (`examples/icap_load.rs`); not meant as a general client.

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::chunked::{ChunkedDecoder, Piece};
use crate::error::{Error, ErrorKind};
use crate::head::{Encapsulated, Headers};

/// An ICAP response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code (100, 200, 204, 400, ...).
    pub status: u16,
    /// The header fields.
    pub headers: Headers,
    /// The encapsulated HTTP head sections, as one byte string.
    pub sections: Vec<u8>,
    /// The decoded body, when the response has one.
    pub body: Option<Vec<u8>>,
}

/// Builds a REQMOD request for an HTTP request head `http_head` (ending with the empty line)
/// and `body`. With `preview = Some(n)`, the first part holds at most `n` body bytes and the
/// second (to send after `100 Continue`) the rest; without it the first part holds everything.
pub fn reqmod(
    uri: &str,
    http_head: &[u8],
    body: Option<&[u8]>,
    preview: Option<usize>,
    allow_204: bool,
    extra_headers: &[(&str, &str)],
) -> (Vec<u8>, Option<Vec<u8>>) {
    let mut out = format!("REQMOD {uri} ICAP/1.0\r\nHost: mamori-client\r\n");
    if allow_204 {
        out.push_str("Allow: 204\r\n");
    }
    for (name, value) in extra_headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    let Some(body) = body else {
        out.push_str(&format!(
            "Encapsulated: req-hdr=0, null-body={}\r\n\r\n",
            http_head.len()
        ));
        let mut out = out.into_bytes();
        out.extend_from_slice(http_head);
        return (out, None);
    };
    if let Some(n) = preview {
        out.push_str(&format!("Preview: {n}\r\n"));
    }
    out.push_str(&format!(
        "Encapsulated: req-hdr=0, req-body={}\r\n\r\n",
        http_head.len()
    ));
    let mut out = out.into_bytes();
    out.extend_from_slice(http_head);
    match preview {
        Some(n) if n < body.len() => {
            push_chunk(&mut out, &body[..n]);
            out.extend_from_slice(b"0\r\n\r\n");
            let mut rest = Vec::with_capacity(body.len() - n + 32);
            push_chunk(&mut rest, &body[n..]);
            rest.extend_from_slice(b"0\r\n\r\n");
            (out, Some(rest))
        }
        Some(_) => {
            push_chunk(&mut out, body);
            out.extend_from_slice(b"0; ieof\r\n\r\n");
            (out, None)
        }
        None => {
            push_chunk(&mut out, body);
            out.extend_from_slice(b"0\r\n\r\n");
            (out, None)
        }
    }
}

fn push_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if !data.is_empty() {
        out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
}

/// Reads one response from `reader`; `buf` keeps bytes read past it for the next call.
pub async fn read_response<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut BytesMut,
) -> Result<Response, Error> {
    let (status, headers) = loop {
        if let Some(end) = memchr::memmem::find(buf, b"\r\n\r\n") {
            let text = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.advance(end + 4);
            let mut lines = text.split("\r\n");
            let status_line = lines.next().unwrap_or_default();
            let status = status_line
                .strip_prefix("ICAP/1.0 ")
                .and_then(|s| s.get(..3))
                .and_then(|s| s.parse::<u16>().ok())
                .ok_or_else(|| Error::new(ErrorKind::BadHead, "bad ICAP status line"))?;
            let headers = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                .collect();
            break (status, Headers(headers));
        }
        fill(reader, buf).await?;
    };
    let encapsulated = headers
        .get("Encapsulated")
        .map(|v| Encapsulated::parse(v, 1 << 20))
        .transpose()?;
    let mut response = Response {
        status,
        headers,
        sections: Vec::new(),
        body: None,
    };
    let Some(enc) = encapsulated else {
        return Ok(response);
    };
    while buf.len() < enc.header_bytes() {
        fill(reader, buf).await?;
    }
    response.sections = buf.split_to(enc.header_bytes()).to_vec();
    if enc.has_body() {
        let mut dec = ChunkedDecoder::new();
        let mut body = Vec::new();
        loop {
            let (n, piece) = dec.decode(buf)?;
            match piece {
                Piece::Data(d) => {
                    body.extend_from_slice(d);
                    buf.advance(n);
                }
                Piece::End { .. } => {
                    buf.advance(n);
                    break;
                }
                Piece::NeedMore => {
                    buf.advance(n);
                    fill(reader, buf).await?;
                }
            }
        }
        response.body = Some(body);
    }
    Ok(response)
}

async fn fill<R: AsyncRead + Unpin>(reader: &mut R, buf: &mut BytesMut) -> Result<(), Error> {
    buf.reserve(64 * 1024);
    match reader.read_buf(buf).await {
        Ok(0) => Err(Error::new(
            ErrorKind::UnexpectedEof,
            "connection closed inside a response",
        )),
        Ok(_) => Ok(()),
        Err(e) => Err(Error::io("reading the response", e)),
    }
}
