//! The HTTP heads carried inside ICAP messages (parsed with `httparse`), and the HTTP
//! responses a service sends back instead of the original message.

use crate::error::{Error, ErrorKind};
use crate::head::Headers;

/// An encapsulated HTTP request head, with its raw bytes kept to send back unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequestHead {
    /// `POST`, `PUT`, ...
    pub method: String,
    /// The request target as sent: an absolute URL from a proxy, or a path.
    pub target: String,
    /// The header fields (values decoded as UTF-8, invalid bytes replaced).
    pub headers: Headers,
    /// The section's bytes exactly as received.
    pub raw: Vec<u8>,
}

impl HttpRequestHead {
    /// The full URL: the target if absolute, otherwise `http://` + `Host` + target.
    pub fn url(&self) -> String {
        if self.target.contains("://") {
            self.target.clone()
        } else {
            let host = self.headers.get("Host").unwrap_or("");
            // A CONNECT target is `host:port` and has no path.
            if self.method.eq_ignore_ascii_case("CONNECT") {
                format!("https://{}", self.target)
            } else {
                format!("http://{host}{}", self.target)
            }
        }
    }
}

/// An encapsulated HTTP response head (RESPMOD), with its raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponseHead {
    /// The status code.
    pub status: u16,
    /// The header fields.
    pub headers: Headers,
    /// The section's bytes exactly as received.
    pub raw: Vec<u8>,
}

fn convert_headers(headers: &[httparse::Header<'_>]) -> Headers {
    Headers(
        headers
            .iter()
            .map(|h| {
                (
                    h.name.to_owned(),
                    String::from_utf8_lossy(h.value).trim().to_owned(),
                )
            })
            .collect(),
    )
}

fn http_error(what: &str, err: httparse::Error) -> Error {
    match err {
        httparse::Error::TooManyHeaders => Error::new(
            ErrorKind::TooLarge,
            format!("{what}: too many header fields"),
        ),
        other => Error::new(ErrorKind::BadHttp, format!("{what}: {other}")),
    }
}

/// Parses an encapsulated HTTP request head; `raw` must be the whole section.
pub fn parse_http_request(raw: &[u8], max_headers: usize) -> Result<HttpRequestHead, Error> {
    let mut storage = vec![httparse::EMPTY_HEADER; max_headers];
    let mut req = httparse::Request::new(&mut storage);
    match req.parse(raw) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(Error::new(
                ErrorKind::BadHttp,
                "encapsulated HTTP request head is incomplete",
            ));
        }
        Err(err) => return Err(http_error("encapsulated HTTP request", err)),
    }
    Ok(HttpRequestHead {
        method: req.method.unwrap_or_default().to_owned(),
        target: req.path.unwrap_or_default().to_owned(),
        headers: convert_headers(req.headers),
        raw: raw.to_vec(),
    })
}

/// Parses an encapsulated HTTP response head; `raw` must be the whole section.
pub fn parse_http_response(raw: &[u8], max_headers: usize) -> Result<HttpResponseHead, Error> {
    let mut storage = vec![httparse::EMPTY_HEADER; max_headers];
    let mut res = httparse::Response::new(&mut storage);
    match res.parse(raw) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(Error::new(
                ErrorKind::BadHttp,
                "encapsulated HTTP response head is incomplete",
            ));
        }
        Err(err) => return Err(http_error("encapsulated HTTP response", err)),
    }
    Ok(HttpResponseHead {
        status: res.code.unwrap_or_default(),
        headers: convert_headers(res.headers),
        raw: raw.to_vec(),
    })
}

/// An HTTP response a service sends in place of the original message (a block page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code, e.g. 403.
    pub status: u16,
    /// Reason phrase, e.g. `Forbidden`.
    pub reason: String,
    /// Header fields; `Content-Length` is added from the body.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The response head as sent, ending with the empty line.
    pub fn head_bytes(&self) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, self.reason);
        for (name, value) in &self.headers {
            // Header text comes from the service; never let it break the framing.
            let clean = |s: &str| s.replace(['\r', '\n'], " ");
            out.push_str(&format!("{}: {}\r\n", clean(name), clean(value)));
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        out.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_head_from_squid() {
        let raw = b"POST http://127.0.0.1:8080/upload HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 10\r\n\r\n";
        let head = parse_http_request(raw, 100).unwrap();
        assert_eq!(head.method, "POST");
        assert_eq!(head.url(), "http://127.0.0.1:8080/upload");
        assert_eq!(
            head.headers.get("content-type"),
            Some("multipart/form-data; boundary=x")
        );
        assert_eq!(head.raw, raw);
    }

    #[test]
    fn origin_form_uses_host() {
        let raw = b"PUT /a/b HTTP/1.1\r\nHost: files.example\r\n\r\n";
        assert_eq!(
            parse_http_request(raw, 10).unwrap().url(),
            "http://files.example/a/b"
        );
    }

    #[test]
    fn bad_and_incomplete_heads() {
        assert!(parse_http_request(b"POST / HTTP/1.1\r\nHost: x\r\n", 10).is_err());
        assert!(parse_http_request(b"\x00\x01 garbage\r\n\r\n", 10).is_err());
        let many = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        assert_eq!(
            parse_http_request(many, 2).unwrap_err().kind(),
            ErrorKind::TooLarge
        );
        assert!(parse_http_response(b"HTTP/1.1 200 OK\r\n\r\n", 10).is_ok());
        assert!(parse_http_response(b"HTTP/1.1 abc OK\r\n\r\n", 10).is_err());
    }

    #[test]
    fn response_head_cannot_inject_headers() {
        let resp = HttpResponse {
            status: 403,
            reason: "Forbidden".into(),
            headers: vec![("X-A".into(), "1\r\nSet-Cookie: x".into())],
            body: b"no".to_vec(),
        };
        let head = String::from_utf8(resp.head_bytes()).unwrap();
        assert_eq!(
            head,
            "HTTP/1.1 403 Forbidden\r\nX-A: 1  Set-Cookie: x\r\nContent-Length: 2\r\n\r\n"
        );
    }
}
