//! The tokio ICAP server: OPTIONS, REQMOD, RESPMOD, Preview, `Allow: 204`, keep-alive, a
//! connection cap and timeouts. What to do with a message is the [`Adapter`]'s business.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::chunked::{ChunkedDecoder, Piece};
use crate::error::{Error, ErrorKind};
use crate::head::{HeadLimits, Method, RequestHead, parse_request_head};
use crate::http::{
    HttpRequestHead, HttpResponse, HttpResponseHead, parse_http_request, parse_http_response,
};
use crate::spool::{Body, Spool};

/// How the server behaves; every field has a sensible default.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Service path for REQMOD (`icap://host:port/reqmod`).
    pub reqmod_service: String,
    /// Service path for RESPMOD; `None` turns RESPMOD off (the default).
    pub respmod_service: Option<String>,
    /// The `Service` header of OPTIONS answers.
    pub service_name: String,
    /// Connections served at once; more wait in the listen backlog. Sent as `Max-Connections`.
    pub max_connections: usize,
    /// The `Preview` size offered in OPTIONS. A body no longer than this comes whole in the
    /// preview (`0; ieof`) and is answered with 204 when allowed: the proxy need not receive
    /// it back. Inspection needs every byte anyway, so a small preview saves nothing.
    pub preview: u64,
    /// `Options-TTL` in seconds.
    pub options_ttl: u32,
    /// File extensions the proxy should not send at all (`Transfer-Ignore`); empty by default,
    /// because anything ignored is not inspected.
    pub transfer_ignore: Vec<String>,
    /// File extensions the proxy should send whole, without preview (`Transfer-Complete`).
    pub transfer_complete: Vec<String>,
    /// Bodies larger than this go to a temporary file.
    pub spool_threshold: usize,
    /// Where spooled bodies go (the system's temporary directory when `None`).
    pub spool_dir: Option<PathBuf>,
    /// Bodies are kept up to this size (give or take one read); past it the adapter decides on
    /// the prefix with `complete = false`.
    pub max_body: u64,
    /// Bodies up to this size held in memory are decided on the connection's own task (no
    /// hand-off to the blocking pool, which costs more than inspecting a small body); larger
    /// ones on a blocking thread. 0 sends every body to the pool.
    pub inline_max: u64,
    /// An idle keep-alive connection is closed after this long.
    pub idle_timeout: Duration,
    /// A peer silent this long inside a message gets an error.
    pub read_timeout: Duration,
    /// Head and header limits.
    pub limits: HeadLimits,
}

/// The default [`ServerConfig::preview`]: 32 KiB. With a 4 KiB preview every allowed upload
/// of 4-32 KiB was sent back whole; now it comes whole in the preview and is answered 204.
/// Larger would save more, but Squid 5.7 holds an upload in a 64 KiB pipe buffer and must see
/// one byte past the preview to tell whether the body ends there: a preview of 65,536 bytes
/// made every larger upload through it hang (found by the Squid test of `mamori icap`; 65,535
/// worked). 32 KiB keeps a factor of two from that edge.
pub const DEFAULT_PREVIEW: u64 = 32 << 10;

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            reqmod_service: "/reqmod".into(),
            respmod_service: None,
            service_name: "Mamori ICAP".into(),
            max_connections: 1024,
            preview: DEFAULT_PREVIEW,
            options_ttl: 300,
            transfer_ignore: Vec::new(),
            transfer_complete: Vec::new(),
            spool_threshold: 4 << 20,
            spool_dir: None,
            max_body: 256 << 20,
            inline_max: 16 * 1024,
            idle_timeout: Duration::from_secs(120),
            read_timeout: Duration::from_secs(60),
            limits: HeadLimits::default(),
        }
    }
}

/// One ICAP REQMOD or RESPMOD request, as the adapter sees it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The ICAP head.
    pub icap: RequestHead,
    /// The encapsulated HTTP request head (always for REQMOD; for RESPMOD when sent).
    pub http_request: Option<HttpRequestHead>,
    /// The encapsulated HTTP response head (RESPMOD).
    pub http_response: Option<HttpResponseHead>,
    /// The proxy's address.
    pub peer: SocketAddr,
}

impl Request {
    /// Whether this is a RESPMOD request.
    pub fn is_respmod(&self) -> bool {
        self.icap.method == Method::Respmod
    }

    /// An ICAP header set by the proxy, such as `X-Client-IP` or `X-Authenticated-User`.
    pub fn icap_header(&self, name: &str) -> Option<&str> {
        self.icap.headers.get(name)
    }
}

/// What the adapter wants done with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Let it through unchanged (204 where allowed, otherwise echoed back whole).
    Allow,
    /// Answer the user with this HTTP response instead (a block page).
    Respond(HttpResponse),
}

/// The policy side of the server. The server calls it; it never sees the wire.
pub trait Adapter: Send + Sync + 'static {
    /// The ISTag: changes whenever the service's answers may change (a policy reload).
    fn istag(&self) -> String;

    /// A decision from the heads alone, before any body byte is read (for example for a
    /// request without a body, or a destination that is never inspected). `None` reads the
    /// body and calls [`Adapter::decide`]. Runs on the async runtime: keep it quick.
    fn precheck(&self, _request: &Request) -> Option<Verdict> {
        None
    }

    /// The decision on the body. `complete` is false when the body passed `max_body` and only
    /// its first `len` bytes are given. Runs on a blocking thread; it may take its time.
    fn decide(&self, request: &Request, body: Body<'_>, len: u64, complete: bool) -> Verdict;

    /// Called with every error answered to a peer or ending a connection.
    fn log_error(&self, _peer: SocketAddr, _error: &Error) {}
}

/// The server.
#[derive(Debug)]
pub struct Server<A> {
    config: Arc<ServerConfig>,
    adapter: Arc<A>,
}

impl<A: Adapter> Server<A> {
    /// A server with this configuration and adapter.
    pub fn new(config: ServerConfig, adapter: Arc<A>) -> Server<A> {
        Server {
            config: Arc::new(config),
            adapter,
        }
    }

    /// Accepts and serves connections until the task is dropped or accepting fails for good.
    pub async fn serve(&self, listener: TcpListener) -> std::io::Result<()> {
        let permits = Arc::new(Semaphore::new(self.config.max_connections.max(1)));
        loop {
            let permit = Arc::clone(&permits)
                .acquire_owned()
                .await
                .map_err(std::io::Error::other)?;
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of descriptors and the like: wait a little instead of spinning.
                    self.adapter.log_error(
                        listener.local_addr()?,
                        &Error::io("accepting a connection", err),
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let conn = Conn {
                stream,
                buf: BytesMut::with_capacity(64 * 1024),
                config: Arc::clone(&self.config),
                adapter: Arc::clone(&self.adapter),
                peer,
            };
            tokio::spawn(async move {
                conn.run().await;
                drop(permit);
            });
        }
    }
}

struct Conn<A> {
    stream: TcpStream,
    buf: BytesMut,
    config: Arc<ServerConfig>,
    adapter: Arc<A>,
    peer: SocketAddr,
}

/// Where the body bytes go while a body is pumped.
enum Sink<'a> {
    Spool(&'a mut Spool, u64),
    Discard,
    Forward,
}

enum Pumped {
    End { ieof: bool },
    Oversize,
}

/// How a request ended for the connection.
enum Next {
    KeepAlive,
    Close,
}

const READ_RESERVE: usize = 256 * 1024;

impl<A: Adapter> Conn<A> {
    async fn run(mut self) {
        loop {
            match self.one().await {
                Ok(Next::KeepAlive) => {}
                Ok(Next::Close) => break,
                Err(err) => {
                    self.adapter.log_error(self.peer, &err);
                    if !matches!(err.kind(), ErrorKind::UnexpectedEof | ErrorKind::Io) {
                        let _ = self.write_error(err.icap_status(), "").await;
                    }
                    break;
                }
            }
        }
        let _ = self.stream.shutdown().await;
    }

    /// Reads more bytes; `Ok(0)` at end of stream.
    async fn fill(&mut self, idle: bool) -> Result<usize, Error> {
        self.buf.reserve(READ_RESERVE);
        let limit = if idle {
            self.config.idle_timeout
        } else {
            self.config.read_timeout
        };
        match tokio::time::timeout(limit, self.stream.read_buf(&mut self.buf)).await {
            Err(_) => Err(Error::new(ErrorKind::Timeout, "the peer went silent")),
            Ok(Err(err)) => Err(Error::io("reading from the peer", err)),
            Ok(Ok(n)) => Ok(n),
        }
    }

    async fn fill_or_eof(&mut self) -> Result<(), Error> {
        match self.fill(false).await? {
            0 => Err(Error::new(
                ErrorKind::UnexpectedEof,
                "connection closed inside a message",
            )),
            _ => Ok(()),
        }
    }

    async fn read_head(&mut self) -> Result<Option<RequestHead>, Error> {
        loop {
            if !self.buf.is_empty()
                && let Some((head, n)) = parse_request_head(&self.buf, &self.config.limits)?
            {
                self.buf.advance(n);
                return Ok(Some(head));
            }
            let idle = self.buf.is_empty();
            match self.fill(idle).await {
                Ok(0) if idle => return Ok(None),
                Ok(0) => {
                    return Err(Error::new(
                        ErrorKind::UnexpectedEof,
                        "connection closed inside a head",
                    ));
                }
                Ok(_) => {}
                Err(err) if idle && err.kind() == ErrorKind::Timeout => return Ok(None),
                Err(err) => return Err(err),
            }
        }
    }

    async fn one(&mut self) -> Result<Next, Error> {
        let Some(head) = self.read_head().await? else {
            return Ok(Next::Close);
        };
        let close = head.wants_close();
        let next = match head.method {
            Method::Options => self.options(&head).await?,
            Method::Reqmod | Method::Respmod => {
                if !self.serves(&head) {
                    self.write_error(404, "ICAP Service not found").await?;
                    return Ok(Next::Close);
                }
                self.modify(head).await?
            }
            Method::Other(_) => {
                self.write_error(501, "Method not implemented").await?;
                return Ok(Next::Close);
            }
        };
        Ok(if close { Next::Close } else { next })
    }

    fn serves(&self, head: &RequestHead) -> bool {
        match head.method {
            Method::Reqmod => head.service() == self.config.reqmod_service,
            Method::Respmod => self.config.respmod_service.as_deref() == Some(head.service()),
            _ => false,
        }
    }

    async fn options(&mut self, head: &RequestHead) -> Result<Next, Error> {
        // An OPTIONS body is allowed (opt-body) and means nothing to us: read past it.
        if let Some(enc) = &head.encapsulated {
            self.take_section(enc.header_bytes()).await?;
            if enc.has_body() {
                let mut dec = ChunkedDecoder::new();
                self.pump(&mut dec, &mut Sink::Discard).await?;
            }
        }
        let service = head.service();
        let method = if service == self.config.reqmod_service {
            "REQMOD"
        } else if self.config.respmod_service.as_deref() == Some(service) {
            "RESPMOD"
        } else {
            self.write_error(404, "ICAP Service not found").await?;
            return Ok(Next::Close);
        };
        let c = &self.config;
        let mut out = format!(
            "ICAP/1.0 200 OK\r\nMethods: {method}\r\nService: {}\r\nISTag: {}\r\nMax-Connections: {}\r\nOptions-TTL: {}\r\nAllow: 204\r\nPreview: {}\r\nTransfer-Preview: *\r\n",
            c.service_name.replace(['\r', '\n'], " "),
            quote_istag(&self.adapter.istag()),
            c.max_connections,
            c.options_ttl,
            c.preview,
        );
        if !c.transfer_ignore.is_empty() {
            out.push_str(&format!(
                "Transfer-Ignore: {}\r\n",
                c.transfer_ignore.join(", ")
            ));
        }
        if !c.transfer_complete.is_empty() {
            out.push_str(&format!(
                "Transfer-Complete: {}\r\n",
                c.transfer_complete.join(", ")
            ));
        }
        out.push_str("Encapsulated: null-body=0\r\n\r\n");
        self.write(out.as_bytes()).await?;
        Ok(Next::KeepAlive)
    }

    async fn take_section(&mut self, n: usize) -> Result<BytesMut, Error> {
        while self.buf.len() < n {
            self.fill_or_eof().await?;
        }
        Ok(self.buf.split_to(n))
    }

    async fn modify(&mut self, head: RequestHead) -> Result<Next, Error> {
        let Some(enc) = head.encapsulated.clone() else {
            return Err(Error::new(
                ErrorKind::BadEncapsulated,
                "no Encapsulated header",
            ));
        };
        let sections = self.take_section(enc.header_bytes()).await?;
        let max_headers = self.config.limits.max_headers;
        let http_request = enc
            .req_hdr
            .map(|(a, b)| parse_http_request(&sections[a..b], max_headers))
            .transpose()?;
        let http_response = enc
            .res_hdr
            .map(|(a, b)| parse_http_response(&sections[a..b], max_headers))
            .transpose()?;
        let respmod = head.method == Method::Respmod;
        if (!respmod && http_request.is_none()) || (respmod && http_response.is_none()) {
            return Err(Error::new(
                ErrorKind::BadEncapsulated,
                "the encapsulated HTTP head is missing",
            ));
        }
        let allow_204 = head.allows_204();
        let preview = head.preview;
        let request = Request {
            icap: head,
            http_request,
            http_response,
            peer: self.peer,
        };

        if !enc.has_body() {
            let verdict = match self.adapter.precheck(&request) {
                Some(verdict) => verdict,
                None => {
                    let spool = Spool::new(0, None);
                    self.decide(request.clone(), spool, true).await?.1
                }
            };
            self.answer(&request, verdict, allow_204, None).await?;
            return Ok(Next::KeepAlive);
        }

        let mut spool = Spool::new(self.config.spool_threshold, self.config.spool_dir.clone());
        // The HTTP Content-Length, when given, sizes the in-memory spool at once.
        let declared = if respmod {
            request.http_response.as_ref().map(|h| &h.headers)
        } else {
            request.http_request.as_ref().map(|h| &h.headers)
        }
        .and_then(|h| h.get("Content-Length"))
        .and_then(|v| v.parse::<u64>().ok());
        if let Some(len) = declared {
            spool.expect(len);
        }
        let max_body = self.config.max_body;
        if preview.is_some() {
            let mut dec = ChunkedDecoder::new();
            let ieof = match self
                .pump(&mut dec, &mut Sink::Spool(&mut spool, max_body))
                .await?
            {
                Pumped::End { ieof } => ieof,
                Pumped::Oversize => {
                    return Err(Error::new(
                        ErrorKind::TooLarge,
                        "preview larger than allowed",
                    ));
                }
            };
            if ieof {
                // The whole body came in the preview: a 204 is always allowed here.
                let (spool, verdict) = self.decide(request.clone(), spool, true).await?;
                self.answer(&request, verdict, true, Some(spool)).await?;
                return Ok(Next::KeepAlive);
            }
            if let Some(verdict) = self.adapter.precheck(&request) {
                self.answer(&request, verdict, true, None).await?;
                return Ok(Next::KeepAlive);
            }
            self.write(b"ICAP/1.0 100 Continue\r\n\r\n").await?;
        } else if let Some(verdict) = self.adapter.precheck(&request) {
            let mut dec = ChunkedDecoder::new();
            match verdict {
                Verdict::Allow if !allow_204 => {
                    self.echo_head(&request).await?;
                    self.pump(&mut dec, &mut Sink::Forward).await?;
                    self.write(b"0\r\n\r\n").await?;
                }
                verdict => {
                    self.pump(&mut dec, &mut Sink::Discard).await?;
                    self.answer(&request, verdict, allow_204, None).await?;
                }
            }
            return Ok(Next::KeepAlive);
        }

        let mut dec = ChunkedDecoder::new();
        match self
            .pump(&mut dec, &mut Sink::Spool(&mut spool, max_body))
            .await?
        {
            Pumped::End { .. } => {
                let (spool, verdict) = self.decide(request.clone(), spool, true).await?;
                self.answer(&request, verdict, allow_204, Some(spool))
                    .await?;
            }
            Pumped::Oversize => {
                let (mut spool, verdict) = self.decide(request.clone(), spool, false).await?;
                match verdict {
                    Verdict::Allow if !allow_204 => {
                        // Pass it through: what is kept, then the rest as it arrives.
                        self.echo_head(&request).await?;
                        self.write_spool(&mut spool).await?;
                        drop(spool);
                        self.pump(&mut dec, &mut Sink::Forward).await?;
                        self.write(b"0\r\n\r\n").await?;
                    }
                    verdict => {
                        drop(spool);
                        self.pump(&mut dec, &mut Sink::Discard).await?;
                        self.answer(&request, verdict, allow_204, None).await?;
                    }
                }
            }
        }
        Ok(Next::KeepAlive)
    }

    /// Runs the adapter's decision on a blocking thread (a panic there is an error, not a
    /// crash).
    async fn decide(
        &self,
        request: Request,
        mut spool: Spool,
        complete: bool,
    ) -> Result<(Spool, Verdict), Error> {
        if !spool.on_disk() && spool.len() <= self.config.inline_max {
            let adapter = &self.adapter;
            let len = spool.len();
            let decided = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                spool
                    .body()
                    .map(|body| adapter.decide(&request, body, len, complete))
            }));
            return match decided {
                Ok(Ok(verdict)) => Ok((spool, verdict)),
                Ok(Err(err)) => Err(Error::internal("reading the spooled body", Some(err))),
                Err(_) => Err(Error::internal("the adapter failed (panicked)", None)),
            };
        }
        let adapter = Arc::clone(&self.adapter);
        let joined = tokio::task::spawn_blocking(move || {
            let len = spool.len();
            let verdict = match spool.body() {
                Ok(body) => adapter.decide(&request, body, len, complete),
                Err(err) => return Err(Error::internal("reading the spooled body", Some(err))),
            };
            Ok((spool, verdict))
        })
        .await;
        match joined {
            Ok(result) => result,
            Err(_) => Err(Error::internal("the adapter failed (panicked)", None)),
        }
    }

    /// Decodes chunks from the connection into `sink` until the body ends (or, for a spool,
    /// passes its limit).
    async fn pump(
        &mut self,
        dec: &mut ChunkedDecoder,
        sink: &mut Sink<'_>,
    ) -> Result<Pumped, Error> {
        loop {
            let (n, piece) = dec.decode(&self.buf)?;
            match piece {
                Piece::Data(data) => {
                    let over = match sink {
                        Sink::Spool(spool, limit) => {
                            spool
                                .write(data)
                                .map_err(|e| Error::internal("spooling the body", Some(e)))?;
                            spool.len() > *limit
                        }
                        Sink::Discard => false,
                        Sink::Forward => {
                            let frame = format!("{:x}\r\n", data.len());
                            let stream = &mut self.stream;
                            stream
                                .write_all(frame.as_bytes())
                                .await
                                .map_err(|e| Error::io("writing to the peer", e))?;
                            stream
                                .write_all(data)
                                .await
                                .map_err(|e| Error::io("writing to the peer", e))?;
                            stream
                                .write_all(b"\r\n")
                                .await
                                .map_err(|e| Error::io("writing to the peer", e))?;
                            false
                        }
                    };
                    self.buf.advance(n);
                    if over {
                        return Ok(Pumped::Oversize);
                    }
                }
                Piece::End { ieof } => {
                    self.buf.advance(n);
                    return Ok(Pumped::End { ieof });
                }
                Piece::NeedMore => {
                    self.buf.advance(n);
                    self.fill_or_eof().await?;
                }
            }
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.stream
            .write_all(bytes)
            .await
            .map_err(|e| Error::io("writing to the peer", e))
    }

    fn istag(&self) -> String {
        quote_istag(&self.adapter.istag())
    }

    /// `ICAP/1.0 200` with the original HTTP head; the body chunks follow.
    async fn echo_head(&mut self, request: &Request) -> Result<(), Error> {
        let (section, raw) = if request.is_respmod() {
            ("res", request.http_response.as_ref().map(|h| &h.raw))
        } else {
            ("req", request.http_request.as_ref().map(|h| &h.raw))
        };
        let raw = raw.map(Vec::as_slice).unwrap_or_default();
        let mut out = format!(
            "ICAP/1.0 200 OK\r\nISTag: {}\r\nEncapsulated: {section}-hdr=0, {section}-body={}\r\n\r\n",
            self.istag(),
            raw.len()
        )
        .into_bytes();
        out.extend_from_slice(raw);
        self.write(&out).await
    }

    async fn write_spool(&mut self, spool: &mut Spool) -> Result<(), Error> {
        let body = spool
            .body()
            .map_err(|e| Error::io("reading the spooled body", e))?;
        match body {
            Body::Memory(bytes) => {
                if !bytes.is_empty() {
                    let frame = format!("{:x}\r\n", bytes.len());
                    let stream = &mut self.stream;
                    for part in [frame.as_bytes(), bytes, b"\r\n"] {
                        stream
                            .write_all(part)
                            .await
                            .map_err(|e| Error::io("writing to the peer", e))?;
                    }
                }
            }
            Body::File(file) => {
                let mut block = vec![0u8; READ_RESERVE];
                loop {
                    let n = file
                        .read(&mut block)
                        .map_err(|e| Error::io("reading the spooled body", e))?;
                    if n == 0 {
                        break;
                    }
                    let frame = format!("{n:x}\r\n");
                    let stream = &mut self.stream;
                    for part in [frame.as_bytes(), &block[..n], b"\r\n"] {
                        stream
                            .write_all(part)
                            .await
                            .map_err(|e| Error::io("writing to the peer", e))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Sends the answer for a verdict. `may_204` says whether a 204 is allowed (inside a
    /// preview, or `Allow: 204`); otherwise an allowed message is echoed from `spool`.
    async fn answer(
        &mut self,
        request: &Request,
        verdict: Verdict,
        may_204: bool,
        spool: Option<Spool>,
    ) -> Result<(), Error> {
        match verdict {
            Verdict::Allow if may_204 => {
                let out = format!(
                    "ICAP/1.0 204 No Content\r\nISTag: {}\r\nEncapsulated: null-body=0\r\n\r\n",
                    self.istag()
                );
                self.write(out.as_bytes()).await
            }
            Verdict::Allow => match spool {
                Some(mut spool) => {
                    self.echo_head(request).await?;
                    self.write_spool(&mut spool).await?;
                    self.write(b"0\r\n\r\n").await
                }
                None => {
                    // No body: the head alone.
                    let (section, raw) = if request.is_respmod() {
                        ("res", request.http_response.as_ref().map(|h| &h.raw))
                    } else {
                        ("req", request.http_request.as_ref().map(|h| &h.raw))
                    };
                    let raw = raw.map(Vec::as_slice).unwrap_or_default();
                    let mut out = format!(
                        "ICAP/1.0 200 OK\r\nISTag: {}\r\nEncapsulated: {section}-hdr=0, null-body={}\r\n\r\n",
                        self.istag(),
                        raw.len()
                    )
                    .into_bytes();
                    out.extend_from_slice(raw);
                    self.write(&out).await
                }
            },
            Verdict::Respond(response) => {
                let head = response.head_bytes();
                let mut out = format!(
                    "ICAP/1.0 200 OK\r\nISTag: {}\r\nEncapsulated: res-hdr=0, res-body={}\r\n\r\n",
                    self.istag(),
                    head.len()
                )
                .into_bytes();
                out.extend_from_slice(&head);
                if !response.body.is_empty() {
                    out.extend_from_slice(format!("{:x}\r\n", response.body.len()).as_bytes());
                    out.extend_from_slice(&response.body);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
                self.write(&out).await
            }
        }
    }

    async fn write_error(&mut self, status: u16, reason: &str) -> Result<(), Error> {
        let reason = if reason.is_empty() {
            match status {
                400 => "Bad Request",
                404 => "ICAP Service not found",
                405 => "Method not allowed for service",
                501 => "Method not implemented",
                505 => "ICAP version not supported by server",
                _ => "Server error",
            }
        } else {
            reason
        };
        let out = format!(
            "ICAP/1.0 {status} {reason}\r\nISTag: {}\r\nConnection: close\r\nEncapsulated: null-body=0\r\n\r\n",
            self.istag()
        );
        self.write(out.as_bytes()).await
    }
}

/// ISTag values are quoted strings of at most 32 characters.
fn quote_istag(tag: &str) -> String {
    let clean: String = tag
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\')
        .take(32)
        .collect();
    format!("\"{clean}\"")
}
