//! A streaming `multipart/form-data` decoder (RFC 7578).
//!
//! Written by hand because the one well-kept crate, `multer`, is built on async streams, while
//! here bodies are decoded on a blocking thread from memory or a spool file; this decoder is
//! fed any slices and calls a [`PartSink`] with each part's headers and data, keeping only a
//! boundary's length of bytes between calls.

use crate::error::{Error, ErrorKind};

/// Limits on a multipart body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultipartLimits {
    /// Most parts accepted.
    pub max_parts: usize,
    /// Most bytes of one part's header block.
    pub max_header_bytes: usize,
}

impl Default for MultipartLimits {
    fn default() -> MultipartLimits {
        MultipartLimits {
            max_parts: 1000,
            max_header_bytes: 8 * 1024,
        }
    }
}

/// The headers of one part that matter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartHead {
    /// The form field name (`name=` of `Content-Disposition`).
    pub name: Option<String>,
    /// The file name (`filename=` or `filename*=`), when the part is a file.
    pub file_name: Option<String>,
    /// The part's `Content-Type`.
    pub content_type: Option<String>,
}

/// Receives the parts as they are decoded.
pub trait PartSink {
    /// A part begins.
    fn start(&mut self, head: PartHead) -> Result<(), Error>;
    /// Bytes of the current part.
    fn data(&mut self, bytes: &[u8]) -> Result<(), Error>;
    /// The current part ended.
    fn end(&mut self) -> Result<(), Error>;
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    Preamble,
    AfterDelimiter,
    Headers,
    Body,
    Epilogue,
}

/// The decoder.
#[derive(Debug)]
pub struct MultipartDecoder {
    delimiter: Vec<u8>,
    finder: memchr::memmem::Finder<'static>,
    buf: Vec<u8>,
    state: State,
    parts: usize,
    limits: MultipartLimits,
}

impl MultipartDecoder {
    /// A decoder for `boundary` (from the `Content-Type`, see [`boundary`]).
    pub fn new(boundary: &str, limits: MultipartLimits) -> Result<MultipartDecoder, Error> {
        if boundary.is_empty() || boundary.len() > 200 {
            return Err(Error::new(ErrorKind::BadBody, "bad multipart boundary"));
        }
        let delimiter = [b"\r\n--", boundary.as_bytes()].concat();
        Ok(MultipartDecoder {
            finder: memchr::memmem::Finder::new(&delimiter).into_owned(),
            delimiter,
            // The first delimiter may start the body, with no CRLF before it.
            buf: b"\r\n".to_vec(),
            state: State::Preamble,
            parts: 0,
            limits,
        })
    }

    /// Decodes more of the body.
    pub fn feed(&mut self, input: &[u8], sink: &mut impl PartSink) -> Result<(), Error> {
        if self.state == State::Epilogue {
            return Ok(());
        }
        self.buf.extend_from_slice(input);
        let mut pos = 0;
        let result = self.run(&mut pos, sink);
        self.buf.drain(..pos);
        result
    }

    fn run(&mut self, pos: &mut usize, sink: &mut impl PartSink) -> Result<(), Error> {
        loop {
            let rest = &self.buf[*pos..];
            match self.state {
                State::Preamble => match self.finder.find(rest) {
                    Some(i) => {
                        *pos += i + self.delimiter.len();
                        self.state = State::AfterDelimiter;
                    }
                    None => {
                        *pos += rest.len().saturating_sub(self.delimiter.len() - 1);
                        return Ok(());
                    }
                },
                State::AfterDelimiter => {
                    if rest.len() < 2 {
                        return Ok(());
                    }
                    if rest.starts_with(b"--") {
                        self.state = State::Epilogue;
                        *pos = self.buf.len();
                        return Ok(());
                    }
                    // Transport padding, then CRLF.
                    let Some(lf) = memchr::memchr(b'\n', rest) else {
                        if rest.len() > 256 {
                            return Err(bad("junk after a multipart boundary"));
                        }
                        return Ok(());
                    };
                    let line = &rest[..lf];
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    if line.iter().any(|b| !matches!(b, b' ' | b'\t')) {
                        return Err(bad("junk after a multipart boundary"));
                    }
                    *pos += lf + 1;
                    self.state = State::Headers;
                }
                State::Headers => {
                    // An empty header block is allowed: the part starts with CRLF.
                    let end = if rest.starts_with(b"\r\n") {
                        Some((0, 2))
                    } else {
                        memchr::memmem::find(rest, b"\r\n\r\n").map(|i| (i, i + 4))
                    };
                    let Some((end, skip)) = end else {
                        if rest.len() > self.limits.max_header_bytes {
                            return Err(Error::new(
                                ErrorKind::TooLarge,
                                "multipart part headers too long",
                            ));
                        }
                        return Ok(());
                    };
                    if end > self.limits.max_header_bytes {
                        return Err(Error::new(
                            ErrorKind::TooLarge,
                            "multipart part headers too long",
                        ));
                    }
                    if self.parts == self.limits.max_parts {
                        return Err(Error::new(ErrorKind::TooLarge, "too many multipart parts"));
                    }
                    self.parts += 1;
                    let head = parse_part_head(&rest[..end]);
                    *pos += skip;
                    sink.start(head)?;
                    self.state = State::Body;
                }
                State::Body => match self.finder.find(rest) {
                    Some(i) => {
                        if i > 0 {
                            sink.data(&rest[..i])?;
                        }
                        sink.end()?;
                        *pos += i + self.delimiter.len();
                        self.state = State::AfterDelimiter;
                    }
                    None => {
                        let safe = rest.len().saturating_sub(self.delimiter.len() - 1);
                        if safe > 0 {
                            sink.data(&rest[..safe])?;
                        }
                        *pos += safe;
                        return Ok(());
                    }
                },
                State::Epilogue => {
                    *pos = self.buf.len();
                    return Ok(());
                }
            }
        }
    }

    /// Ends the body. A body cut short still hands its last part's bytes to the sink (they
    /// are worth inspecting), then reports the truncation.
    pub fn finish(&mut self, sink: &mut impl PartSink) -> Result<(), Error> {
        match self.state {
            State::Epilogue => Ok(()),
            State::Body => {
                let rest = std::mem::take(&mut self.buf);
                if !rest.is_empty() {
                    sink.data(&rest)?;
                }
                sink.end()?;
                self.state = State::Epilogue;
                Err(bad("multipart body ends inside a part"))
            }
            _ => {
                self.state = State::Epilogue;
                Err(bad("multipart body has no closing boundary"))
            }
        }
    }
}

fn bad(why: &str) -> Error {
    Error::new(ErrorKind::BadBody, why)
}

fn parse_part_head(block: &[u8]) -> PartHead {
    let text = String::from_utf8_lossy(block);
    let mut head = PartHead::default();
    for line in text.split("\r\n") {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("Content-Disposition") {
            let params = parameters(value);
            let mut star = None;
            for (key, val) in params {
                match key.to_ascii_lowercase().as_str() {
                    "name" => head.name = Some(val),
                    "filename" => head.file_name = Some(val),
                    "filename*" => star = decode_ext_value(&val),
                    _ => {}
                }
            }
            if star.is_some() {
                head.file_name = star;
            }
        } else if name.eq_ignore_ascii_case("Content-Type") {
            head.content_type = Some(value.trim().to_owned());
        }
    }
    head
}

/// The `key=value` parameters after the first `;` of a header value; quoted values unescaped.
pub fn parameters(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = value.chars().peekable();
    // Skip the leading token (`form-data`, `multipart/form-data`).
    for c in chars.by_ref() {
        if c == ';' {
            break;
        }
    }
    loop {
        while chars
            .peek()
            .is_some_and(|c| *c == ' ' || *c == '\t' || *c == ';')
        {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ';' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.peek().is_none() && key.trim().is_empty() {
            break;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
                chars.next();
            }
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(n) = chars.next() {
                                val.push(n);
                            }
                        }
                        c => val.push(c),
                    }
                }
                // Skip anything up to the next parameter.
                while chars.peek().is_some_and(|c| *c != ';') {
                    chars.next();
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ';' {
                        break;
                    }
                    val.push(c);
                    chars.next();
                }
                val = val.trim().to_owned();
            }
        }
        let key = key.trim();
        if !key.is_empty() {
            out.push((key.to_owned(), val));
        }
        if chars.peek().is_none() {
            break;
        }
    }
    out
}

/// RFC 8187 `UTF-8''%E7%A4%BE.docx` → the decoded name.
fn decode_ext_value(value: &str) -> Option<String> {
    let mut pieces = value.splitn(3, '\'');
    let charset = pieces.next()?;
    let _language = pieces.next()?;
    let encoded = pieces.next()?;
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    let bytes: Vec<u8> = percent_decode(encoded.as_bytes());
    String::from_utf8(bytes).ok()
}

fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%'
            && i + 2 < input.len()
            && let (Some(h), Some(l)) = (hex(input[i + 1]), hex(input[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// The `boundary` parameter of a `multipart/*` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let essence = content_type.split(';').next()?.trim();
    if !essence.to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    parameters(content_type)
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Default, Debug, PartialEq)]
    struct Collect(Vec<(PartHead, Vec<u8>)>, bool);

    impl PartSink for Collect {
        fn start(&mut self, head: PartHead) -> Result<(), Error> {
            assert!(!self.1, "start inside a part");
            self.1 = true;
            self.0.push((head, Vec::new()));
            Ok(())
        }
        fn data(&mut self, bytes: &[u8]) -> Result<(), Error> {
            assert!(self.1, "data outside a part");
            self.0.last_mut().unwrap().1.extend_from_slice(bytes);
            Ok(())
        }
        fn end(&mut self) -> Result<(), Error> {
            assert!(self.1, "end outside a part");
            self.1 = false;
            Ok(())
        }
    }

    fn decode(body: &[u8], boundary: &str, step: usize) -> (Collect, Result<(), Error>) {
        let mut dec = MultipartDecoder::new(boundary, MultipartLimits::default()).unwrap();
        let mut sink = Collect::default();
        for piece in body.chunks(step.max(1)) {
            if let Err(e) = dec.feed(piece, &mut sink) {
                return (sink, Err(e));
            }
        }
        let r = dec.finish(&mut sink);
        (sink, r)
    }

    const BODY: &[u8] = b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"comment\"\r\n\r\nhello\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\xe7\xa4\xbe.docx\"\r\nContent-Type: application/octet-stream\r\n\r\nPK\x03\x04\r\n--Xy\r\nnot a boundary\r\n--XyZ--\r\nepilogue";

    #[test]
    fn fields_and_files_at_every_split() {
        for step in [1, 2, 3, 7, 1000] {
            let (sink, r) = decode(BODY, "XyZ", step);
            r.unwrap();
            assert_eq!(sink.0.len(), 2, "step {step}");
            assert_eq!(sink.0[0].0.name.as_deref(), Some("comment"));
            assert_eq!(sink.0[0].0.file_name, None);
            assert_eq!(sink.0[0].1, b"hello");
            assert_eq!(sink.0[1].0.file_name.as_deref(), Some("社.docx"));
            assert_eq!(
                sink.0[1].0.content_type.as_deref(),
                Some("application/octet-stream")
            );
            assert_eq!(sink.0[1].1, b"PK\x03\x04\r\n--Xy\r\nnot a boundary");
        }
    }

    #[test]
    fn body_starting_with_the_boundary_and_rfc8187_names() {
        let body = b"--b\r\nContent-Disposition: form-data; name=f; filename*=UTF-8''%E7%A4%BE%E5%A4%96%E7%A7%98.txt\r\n\r\nx\r\n--b--";
        let (sink, r) = decode(body, "b", 5);
        r.unwrap();
        assert_eq!(sink.0[0].0.file_name.as_deref(), Some("社外秘.txt"));
        assert_eq!(sink.0[0].0.name.as_deref(), Some("f"));
    }

    #[test]
    fn truncated_body_still_hands_out_its_bytes() {
        let body = b"--b\r\nContent-Disposition: form-data; name=f\r\n\r\nsecret data";
        let (sink, r) = decode(body, "b", 3);
        assert_eq!(r.unwrap_err().kind(), ErrorKind::BadBody);
        assert_eq!(sink.0[0].1, b"secret data");
    }

    #[test]
    fn limits() {
        let mut body = Vec::new();
        for _ in 0..5 {
            body.extend_from_slice(b"--b\r\nContent-Disposition: form-data; name=f\r\n\r\nx\r\n");
        }
        body.extend_from_slice(b"--b--");
        let limits = MultipartLimits {
            max_parts: 3,
            max_header_bytes: 100,
        };
        let mut dec = MultipartDecoder::new("b", limits).unwrap();
        let mut sink = Collect::default();
        assert_eq!(
            dec.feed(&body, &mut sink).unwrap_err().kind(),
            ErrorKind::TooLarge
        );
        let long = [b"--b\r\nX: ".as_slice(), &[b'a'; 200]].concat();
        let mut dec = MultipartDecoder::new("b", limits).unwrap();
        assert_eq!(
            dec.feed(&long, &mut Collect::default()).unwrap_err().kind(),
            ErrorKind::TooLarge
        );
    }

    #[test]
    fn boundary_from_content_type() {
        assert_eq!(
            boundary("multipart/form-data; boundary=----WebKitFormBoundaryABC").as_deref(),
            Some("----WebKitFormBoundaryABC")
        );
        assert_eq!(
            boundary("Multipart/Form-Data; charset=utf-8; boundary=\"a b\"").as_deref(),
            Some("a b")
        );
        assert_eq!(boundary("text/plain; boundary=x"), None);
        assert_eq!(boundary("multipart/form-data"), None);
        assert_eq!(boundary("multipart/form-data; boundary="), None);
    }

    proptest! {
        #[test]
        fn roundtrip(parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..5),
                     step in 1usize..50) {
            let boundary = "q1w2e3";
            let mut body = Vec::new();
            for (i, p) in parts.iter().enumerate() {
                body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"p{i}\"\r\n\r\n").as_bytes());
                body.extend_from_slice(p);
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
            // A part that contains the delimiter itself cannot round-trip; skip those.
            prop_assume!(!parts.iter().any(|p| memchr::memmem::find(p, b"--q1w2e3").is_some() || p.ends_with(b"\r\n--q1w2e") ));
            let (sink, r) = decode(&body, boundary, step);
            prop_assert!(r.is_ok());
            let got: Vec<Vec<u8>> = sink.0.into_iter().map(|(_, d)| d).collect();
            prop_assert_eq!(got, parts);
        }

        #[test]
        fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..400), step in 1usize..30) {
            let _ = decode(&body, "b", step);
        }
    }
}
