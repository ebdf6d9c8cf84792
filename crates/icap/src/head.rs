//! The ICAP request head (request line and headers) and the `Encapsulated` header.
//!
//! Written by hand: `httparse` accepts only `HTTP/1.x` request lines, and ICAP needs its own
//! `ICAP/1.0` line plus the `Encapsulated` offsets. The parser is pure and incremental: it is
//! given whatever bytes have arrived and answers "not yet", "here is the head and its length" or
//! an error, with limits on the head's size and header count.

use crate::error::{Error, ErrorKind};

/// Limits on what a peer may send before the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// Bytes of the ICAP head, request line and terminating empty line included.
    pub max_head_bytes: usize,
    /// Header fields in the ICAP head, and separately in each encapsulated HTTP head.
    pub max_headers: usize,
    /// Bytes of the encapsulated HTTP header sections together.
    pub max_encapsulated_bytes: usize,
}

impl Default for HeadLimits {
    fn default() -> HeadLimits {
        HeadLimits {
            max_head_bytes: 16 * 1024,
            max_headers: 100,
            max_encapsulated_bytes: 64 * 1024,
        }
    }
}

/// The ICAP method.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// `OPTIONS`: the proxy asks what the service does.
    Options,
    /// `REQMOD`: request modification (uploads).
    Reqmod,
    /// `RESPMOD`: response modification (downloads).
    Respmod,
    /// Any other token; answered with 501.
    Other(String),
}

impl Method {
    fn from_token(token: &str) -> Method {
        match token {
            "OPTIONS" => Method::Options,
            "REQMOD" => Method::Reqmod,
            "RESPMOD" => Method::Respmod,
            other => Method::Other(other.to_owned()),
        }
    }

    /// The method as it is written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Options => "OPTIONS",
            Method::Reqmod => "REQMOD",
            Method::Respmod => "RESPMOD",
            Method::Other(other) => other,
        }
    }
}

/// Header fields in arrival order; names compare case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    /// The first value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether a comma-separated list header `name` contains `token` (case-insensitive).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.0
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

/// A parsed ICAP request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The method.
    pub method: Method,
    /// The ICAP URI as sent (`icap://host:port/service?query`).
    pub uri: String,
    /// The header fields.
    pub headers: Headers,
    /// The `Encapsulated` header, parsed; `None` when absent (Squid's OPTIONS has none).
    pub encapsulated: Option<Encapsulated>,
    /// The `Preview` header: how many body bytes the preview carries.
    pub preview: Option<u64>,
}

impl RequestHead {
    /// Whether the client accepts a 204 outside a preview (`Allow: 204`).
    pub fn allows_204(&self) -> bool {
        self.headers.has_token("Allow", "204")
    }

    /// The service path of the URI: `/reqmod` for `icap://127.0.0.1:1344/reqmod?x=1`.
    pub fn service(&self) -> &str {
        let path = match self.uri.find("://") {
            Some(i) => {
                let rest = &self.uri[i + 3..];
                rest.find('/').map_or("/", |j| &rest[j..])
            }
            None => self.uri.as_str(),
        };
        path.split(['?', '#']).next().unwrap_or("/")
    }

    /// Whether the client asked to close the connection after this exchange.
    pub fn wants_close(&self) -> bool {
        self.headers.has_token("Connection", "close")
    }
}

/// One section named in the `Encapsulated` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Section {
    /// `req-hdr`: the encapsulated HTTP request head.
    ReqHdr,
    /// `res-hdr`: the encapsulated HTTP response head.
    ResHdr,
    /// `req-body`: the HTTP request body (chunked).
    ReqBody,
    /// `res-body`: the HTTP response body (chunked).
    ResBody,
    /// `opt-body`: an OPTIONS body (chunked).
    OptBody,
    /// `null-body`: there is no body.
    NullBody,
}

impl Section {
    fn from_name(name: &str) -> Option<Section> {
        Some(match name {
            "req-hdr" => Section::ReqHdr,
            "res-hdr" => Section::ResHdr,
            "req-body" => Section::ReqBody,
            "res-body" => Section::ResBody,
            "opt-body" => Section::OptBody,
            "null-body" => Section::NullBody,
            _ => return None,
        })
    }

    fn is_body(self) -> bool {
        matches!(
            self,
            Section::ReqBody | Section::ResBody | Section::OptBody | Section::NullBody
        )
    }
}

/// The `Encapsulated` header: header sections with their offsets, then exactly one body
/// section (possibly `null-body`) whose offset is where the header sections end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encapsulated {
    /// `req-hdr` byte range, if present.
    pub req_hdr: Option<(usize, usize)>,
    /// `res-hdr` byte range, if present.
    pub res_hdr: Option<(usize, usize)>,
    /// The body section and its offset (the total length of the header sections).
    pub body: (Section, usize),
}

impl Encapsulated {
    /// Parses a header value such as `req-hdr=0, req-body=412`.
    pub fn parse(value: &str, max_bytes: usize) -> Result<Encapsulated, Error> {
        let bad = |why: &str| Error::new(ErrorKind::BadEncapsulated, why);
        let mut entries: Vec<(Section, usize)> = Vec::new();
        for item in value.split(',') {
            let item = item.trim();
            let (name, offset) = item
                .split_once('=')
                .ok_or_else(|| bad("an entry without '='"))?;
            let section =
                Section::from_name(name.trim()).ok_or_else(|| bad("an unknown section name"))?;
            let offset = offset.trim();
            if offset.is_empty() || offset.len() > 10 || !offset.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(bad("an offset that is not a decimal number"));
            }
            let offset: usize = offset.parse().map_err(|_| bad("an offset out of range"))?;
            if let Some(&(_, last)) = entries.last()
                && offset < last
            {
                return Err(bad("offsets out of order"));
            }
            if entries.iter().any(|&(s, _)| s == section) {
                return Err(bad("a section named twice"));
            }
            entries.push((section, offset));
        }
        let (&body, headers) = entries.split_last().ok_or_else(|| bad("no sections"))?;
        if !body.0.is_body() {
            return Err(bad("the last section is not a body"));
        }
        if headers.iter().any(|&(s, _)| s.is_body()) {
            return Err(bad("a body section before the last"));
        }
        if body.1 > max_bytes {
            return Err(Error::new(
                ErrorKind::TooLarge,
                "encapsulated HTTP headers are larger than the limit",
            ));
        }
        let mut req_hdr = None;
        let mut res_hdr = None;
        for (i, &(section, start)) in headers.iter().enumerate() {
            let end = headers.get(i + 1).map_or(body.1, |&(_, o)| o);
            match section {
                Section::ReqHdr => req_hdr = Some((start, end)),
                Section::ResHdr => res_hdr = Some((start, end)),
                _ => unreachable!("body sections were rejected above"),
            }
        }
        if let Some(&(_, first)) = entries.first()
            && first != 0
            && !headers.is_empty()
        {
            return Err(bad("the first section does not start at 0"));
        }
        Ok(Encapsulated {
            req_hdr,
            res_hdr,
            body,
        })
    }

    /// Bytes of encapsulated HTTP headers that follow the ICAP head.
    pub fn header_bytes(&self) -> usize {
        self.body.1
    }

    /// Whether a chunked body follows the header sections.
    pub fn has_body(&self) -> bool {
        self.body.0 != Section::NullBody
    }
}

/// Parses an ICAP request head from the start of `buf`.
///
/// Returns `Ok(None)` when `buf` does not yet hold the whole head (read more and call again),
/// `Ok(Some((head, n)))` with the number of bytes the head took, or an error for bad input or a
/// head over the limits.
pub fn parse_request_head(
    buf: &[u8],
    limits: &HeadLimits,
) -> Result<Option<(RequestHead, usize)>, Error> {
    // Tolerate empty lines between requests (RFC 7230 3.5 allows it for HTTP; clients do it).
    let mut start = 0;
    while buf[start..].starts_with(b"\r\n") {
        start += 2;
    }
    let Some(end) = memchr::memmem::find(&buf[start..], b"\r\n\r\n") else {
        if buf.len() > limits.max_head_bytes {
            return Err(Error::new(ErrorKind::TooLarge, "ICAP head over the limit"));
        }
        return Ok(None);
    };
    let head_len = start + end + 4;
    if head_len > limits.max_head_bytes {
        return Err(Error::new(ErrorKind::TooLarge, "ICAP head over the limit"));
    }
    let text = std::str::from_utf8(&buf[start..start + end])
        .map_err(|_| Error::new(ErrorKind::BadHead, "the head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::new(ErrorKind::BadHead, "malformed request line"));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) || uri.is_empty() {
        return Err(Error::new(ErrorKind::BadHead, "malformed request line"));
    }
    if version != "ICAP/1.0" {
        return Err(Error::new(ErrorKind::BadVersion, "not ICAP/1.0"));
    }
    let mut headers = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            return Err(Error::new(
                ErrorKind::BadHead,
                "folded header lines are not accepted",
            ));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| Error::new(ErrorKind::BadHead, "a header line without ':'"))?;
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(Error::new(ErrorKind::BadHead, "a bad header name"));
        }
        if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(Error::new(
                ErrorKind::BadHead,
                "a control character in a header value",
            ));
        }
        if headers.len() == limits.max_headers {
            return Err(Error::new(ErrorKind::TooLarge, "too many header fields"));
        }
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    let headers = Headers(headers);
    let encapsulated = headers
        .get("Encapsulated")
        .map(|v| Encapsulated::parse(v, limits.max_encapsulated_bytes))
        .transpose()?;
    let preview = match headers.get("Preview") {
        None => None,
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| Error::new(ErrorKind::BadHead, "Preview is not a number"))?,
        ),
    };
    let method = Method::from_token(method);
    if matches!(method, Method::Reqmod | Method::Respmod) && encapsulated.is_none() {
        return Err(Error::new(
            ErrorKind::BadEncapsulated,
            "REQMOD and RESPMOD need an Encapsulated header",
        ));
    }
    Ok(Some((
        RequestHead {
            method,
            uri: uri.to_owned(),
            headers,
            encapsulated,
            preview,
        },
        head_len,
    )))
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQUID_OPTIONS: &[u8] = b"OPTIONS icap://127.0.0.1:1344/reqmod ICAP/1.0\r\nHost: 127.0.0.1:1344\r\nAllow: 206\r\n\r\n";

    #[test]
    fn squid_options_without_encapsulated_is_accepted() {
        let (head, n) = parse_request_head(SQUID_OPTIONS, &HeadLimits::default())
            .unwrap()
            .unwrap();
        assert_eq!(n, SQUID_OPTIONS.len());
        assert_eq!(head.method, Method::Options);
        assert_eq!(head.encapsulated, None);
        assert_eq!(head.service(), "/reqmod");
        assert!(!head.allows_204());
    }

    #[test]
    fn incomplete_head_asks_for_more_at_every_cut() {
        for cut in 0..SQUID_OPTIONS.len() {
            assert_eq!(
                parse_request_head(&SQUID_OPTIONS[..cut], &HeadLimits::default()).unwrap(),
                None,
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn reqmod_with_preview_and_allow() {
        let raw = b"REQMOD icap://icap.example/reqmod?x=1 ICAP/1.0\r\nHost: x\r\nAllow: 204, trailers\r\nPreview: 0\r\nEncapsulated: req-hdr=0, req-body=120\r\n\r\nPOST";
        let (head, n) = parse_request_head(raw, &HeadLimits::default())
            .unwrap()
            .unwrap();
        assert_eq!(&raw[n..], b"POST");
        assert_eq!(head.method, Method::Reqmod);
        assert_eq!(head.preview, Some(0));
        assert!(head.allows_204());
        assert_eq!(head.service(), "/reqmod");
        let enc = head.encapsulated.unwrap();
        assert_eq!(enc.req_hdr, Some((0, 120)));
        assert_eq!(enc.body, (Section::ReqBody, 120));
    }

    #[test]
    fn reqmod_without_encapsulated_is_refused() {
        let raw = b"REQMOD icap://x/reqmod ICAP/1.0\r\nHost: x\r\n\r\n";
        let err = parse_request_head(raw, &HeadLimits::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadEncapsulated);
    }

    #[test]
    fn respmod_sections() {
        let enc = Encapsulated::parse("req-hdr=0, res-hdr=45, res-body=100", 1000).unwrap();
        assert_eq!(enc.req_hdr, Some((0, 45)));
        assert_eq!(enc.res_hdr, Some((45, 100)));
        assert_eq!(enc.body, (Section::ResBody, 100));
        let enc = Encapsulated::parse("null-body=0", 1000).unwrap();
        assert!(!enc.has_body());
    }

    #[test]
    fn bad_encapsulated_values() {
        for bad in [
            "",
            "req-hdr=0",
            "req-body=0, req-hdr=5",
            "req-hdr=10, req-body=5",
            "req-hdr=0, req-hdr=4, req-body=9",
            "req-hdr=x, req-body=1",
            "foo=0, req-body=1",
            "req-hdr=1, req-body=5",
            "req-hdr=0, req-body=99999999999",
        ] {
            assert!(Encapsulated::parse(bad, 65536).is_err(), "{bad:?}");
        }
        assert_eq!(
            Encapsulated::parse("req-hdr=0, req-body=70000", 65536)
                .unwrap_err()
                .kind(),
            ErrorKind::TooLarge
        );
    }

    #[test]
    fn limits_are_enforced() {
        let limits = HeadLimits {
            max_head_bytes: 64,
            max_headers: 2,
            max_encapsulated_bytes: 1024,
        };
        let long = vec![b'A'; 65];
        assert_eq!(
            parse_request_head(&long, &limits).unwrap_err().kind(),
            ErrorKind::TooLarge
        );
        let many = b"OPTIONS /x ICAP/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        assert_eq!(
            parse_request_head(many, &limits).unwrap_err().kind(),
            ErrorKind::TooLarge
        );
    }

    #[test]
    fn bad_request_lines() {
        for bad in [
            &b"OPTIONS icap://x/ ICAP/1.1\r\n\r\n"[..],
            b"OPTIONS icap://x/ HTTP/1.1\r\n\r\n",
            b"OPTIONS  icap://x/ ICAP/1.0\r\n\r\n",
            b"options icap://x/ ICAP/1.0\r\n\r\n",
            b"OPTIONS icap://x/ ICAP/1.0\r\nNo colon\r\n\r\n",
            b"OPTIONS icap://x/ ICAP/1.0\r\nA: 1\r\n folded\r\n\r\n",
            b"OPTIONS icap://x/ ICAP/1.0\r\nBad Name: 1\r\n\r\n",
            b"OPTIONS icap://x/ ICAP/1.0\r\nPreview: -1\r\n\r\n",
            b"OPTIONS icap://x/ ICAP/1.0\r\nA: \x01\r\n\r\n",
            b"\xff\xfe icap://x/ ICAP/1.0\r\n\r\n",
        ] {
            assert!(
                parse_request_head(bad, &HeadLimits::default()).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn unknown_method_parses_for_a_501() {
        let raw = b"FOO icap://x/ ICAP/1.0\r\n\r\n";
        let (head, _) = parse_request_head(raw, &HeadLimits::default())
            .unwrap()
            .unwrap();
        assert_eq!(head.method, Method::Other("FOO".into()));
    }

    #[test]
    fn service_path_forms() {
        let mk = |uri: &str| RequestHead {
            method: Method::Options,
            uri: uri.into(),
            headers: Headers::default(),
            encapsulated: None,
            preview: None,
        };
        assert_eq!(mk("icap://h:1/a/b?c").service(), "/a/b");
        assert_eq!(mk("icap://h:1").service(), "/");
        assert_eq!(mk("/reqmod").service(), "/reqmod");
    }
}
