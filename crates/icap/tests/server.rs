//! The server against a test adapter, over real loopback sockets.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use mamori_icap::client::{Response, read_response, reqmod};
use mamori_icap::{Adapter, Body, HttpResponse, Request, Server, ServerConfig, Verdict};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, PartialEq)]
struct Seen {
    url: String,
    len: u64,
    complete: bool,
    on_disk: bool,
    client: Option<String>,
}

/// Blocks bodies containing "SECRET"; panics on "PANIC"; remembers what it saw.
#[derive(Default)]
struct TestAdapter {
    seen: Mutex<Vec<Seen>>,
}

impl Adapter for TestAdapter {
    fn istag(&self) -> String {
        "test-1".into()
    }

    fn precheck(&self, request: &Request) -> Option<Verdict> {
        let url = request.http_request.as_ref()?.url();
        url.contains("/skip").then_some(Verdict::Allow)
    }

    fn decide(&self, request: &Request, body: Body<'_>, len: u64, complete: bool) -> Verdict {
        let (bytes, on_disk) = match body {
            Body::Memory(b) => (b.to_vec(), false),
            Body::File(f) => {
                let mut v = Vec::new();
                f.read_to_end(&mut v).unwrap();
                (v, true)
            }
        };
        assert_eq!(bytes.len() as u64, len);
        self.seen.lock().unwrap().push(Seen {
            url: request
                .http_request
                .as_ref()
                .map(|h| h.url())
                .unwrap_or_default(),
            len,
            complete,
            on_disk,
            client: request.icap_header("X-Client-IP").map(str::to_owned),
        });
        if memchr::memmem::find(&bytes, b"PANIC").is_some() {
            panic!("adapter panic requested");
        }
        if memchr::memmem::find(&bytes, b"SECRET").is_some() {
            return Verdict::Respond(HttpResponse {
                status: 403,
                reason: "Forbidden".into(),
                headers: vec![("Content-Type".into(), "text/plain".into())],
                body: b"blocked".to_vec(),
            });
        }
        Verdict::Allow
    }
}

async fn start(config: ServerConfig) -> (SocketAddr, Arc<TestAdapter>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let adapter = Arc::new(TestAdapter::default());
    let server = Server::new(config, Arc::clone(&adapter));
    tokio::spawn(async move { server.serve(listener).await });
    (addr, adapter)
}

const HTTP_HEAD: &[u8] =
    b"POST http://upload.example/files HTTP/1.1\r\nHost: upload.example\r\nContent-Type: text/plain\r\n\r\n";

struct Client {
    stream: TcpStream,
    buf: BytesMut,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        Client {
            stream: TcpStream::connect(addr).await.unwrap(),
            buf: BytesMut::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    async fn response(&mut self) -> Response {
        read_response(&mut self.stream, &mut self.buf)
            .await
            .unwrap()
    }

    /// Sends a REQMOD; answers a 100 Continue with the rest.
    async fn reqmod(
        &mut self,
        body: Option<&[u8]>,
        preview: Option<usize>,
        allow_204: bool,
    ) -> Response {
        let (first, rest) = reqmod(
            "icap://127.0.0.1/reqmod",
            HTTP_HEAD,
            body,
            preview,
            allow_204,
            &[("X-Client-IP", "192.0.2.7")],
        );
        self.send(&first).await;
        let response = self.response().await;
        match rest {
            Some(rest) if response.status == 100 => {
                self.send(&rest).await;
                self.response().await
            }
            _ => response,
        }
    }

    async fn closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.stream.read(&mut byte).await, Ok(0) | Err(_))
    }
}

#[tokio::test]
async fn options_without_encapsulated_as_squid_sends_it() {
    let (addr, _) = start(ServerConfig::default()).await;
    let mut c = Client::connect(addr).await;
    c.send(b"OPTIONS icap://127.0.0.1:1344/reqmod ICAP/1.0\r\nHost: 127.0.0.1:1344\r\nAllow: 206\r\n\r\n")
        .await;
    let r = c.response().await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers.get("Methods"), Some("REQMOD"));
    assert_eq!(r.headers.get("Transfer-Preview"), Some("*"));
    assert_eq!(r.headers.get("Allow"), Some("204"));
    assert_eq!(r.headers.get("ISTag"), Some("\"test-1\""));
    assert_eq!(r.headers.get("Preview"), Some("32768"));
    assert!(r.headers.get("Max-Connections").is_some());
    assert!(r.headers.get("Options-TTL").is_some());
    // Keep-alive: the same connection serves a REQMOD next.
    let r = c.reqmod(Some(b"hello"), Some(4096), true).await;
    assert_eq!(r.status, 204);
}

#[tokio::test]
async fn preview_with_ieof_is_answered_204_even_without_allow_204() {
    let (addr, adapter) = start(ServerConfig::default()).await;
    let mut c = Client::connect(addr).await;
    let r = c.reqmod(Some(b"all of it"), Some(4096), false).await;
    assert_eq!(r.status, 204);
    let seen = adapter.seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].len, 9);
    assert!(seen[0].complete);
    assert_eq!(seen[0].url, "http://upload.example/files");
    assert_eq!(seen[0].client.as_deref(), Some("192.0.2.7"));
}

#[tokio::test]
async fn preview_then_continue_then_block() {
    let (addr, _) = start(ServerConfig::default()).await;
    let mut c = Client::connect(addr).await;
    let mut body = vec![b'a'; 10_000];
    body.extend_from_slice(b"SECRET");
    let r = c.reqmod(Some(&body), Some(16), false).await;
    assert_eq!(r.status, 200);
    let head = String::from_utf8(r.sections.clone()).unwrap();
    assert!(head.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{head}");
    assert!(head.contains("Content-Length: 7\r\n"));
    assert_eq!(r.body.as_deref(), Some(&b"blocked"[..]));
    assert_eq!(
        r.headers.get("Encapsulated").unwrap(),
        format!("res-hdr=0, res-body={}", head.len())
    );
}

#[tokio::test]
async fn allowed_without_204_is_echoed_byte_for_byte() {
    let (addr, _) = start(ServerConfig::default()).await;
    let mut c = Client::connect(addr).await;
    let body: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    for preview in [None, Some(100)] {
        let r = c.reqmod(Some(&body), preview, false).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.sections, HTTP_HEAD);
        assert_eq!(r.body.as_deref(), Some(&body[..]));
    }
    // With Allow: 204 the same body is a 204.
    let r = c.reqmod(Some(&body), None, true).await;
    assert_eq!(r.status, 204);
}

#[tokio::test]
async fn request_without_body() {
    let (addr, adapter) = start(ServerConfig::default()).await;
    let mut c = Client::connect(addr).await;
    let r = c.reqmod(None, None, false).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.sections, HTTP_HEAD);
    assert_eq!(r.body, None);
    let r = c.reqmod(None, None, true).await;
    assert_eq!(r.status, 204);
    assert_eq!(adapter.seen.lock().unwrap()[0].len, 0);
}

#[tokio::test]
async fn large_bodies_are_spooled_to_disk() {
    let config = ServerConfig {
        spool_threshold: 1000,
        ..ServerConfig::default()
    };
    let (addr, adapter) = start(config).await;
    let mut c = Client::connect(addr).await;
    let body = vec![b'z'; 50_000];
    let r = c.reqmod(Some(&body), None, false).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.as_deref(), Some(&body[..]));
    let seen = adapter.seen.lock().unwrap();
    assert!(seen[0].on_disk);
    assert_eq!(seen[0].len, 50_000);
}

#[tokio::test]
async fn over_the_hard_limit_the_prefix_is_decided_and_the_rest_streams_through() {
    let config = ServerConfig {
        max_body: 100_000,
        spool_threshold: 10_000,
        ..ServerConfig::default()
    };
    let (addr, adapter) = start(config).await;
    let mut c = Client::connect(addr).await;
    let body: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    let r = c.reqmod(Some(&body), None, false).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.as_deref(), Some(&body[..]));
    {
        let seen = adapter.seen.lock().unwrap();
        assert!(!seen[0].complete);
        assert!(
            seen[0].len > 100_000 && seen[0].len < 1_000_000,
            "{}",
            seen[0].len
        );
    }
    // A secret inside the kept prefix blocks even when the body is too large.
    let mut body = b"SECRET".to_vec();
    body.resize(1_000_000, b'x');
    let r = c.reqmod(Some(&body), Some(10), true).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.as_deref(), Some(&b"blocked"[..]));
    // And the connection is still usable.
    assert_eq!(c.reqmod(Some(b"ok"), None, true).await.status, 204);
}

#[tokio::test]
async fn precheck_allows_without_reading_into_the_adapter() {
    let (addr, adapter) = start(ServerConfig::default()).await;
    let mut c = Client::connect(addr).await;
    let head = b"POST http://upload.example/skip HTTP/1.1\r\nHost: upload.example\r\n\r\n";
    for (preview, allow) in [(Some(4), false), (None, true), (None, false)] {
        let (first, rest) = reqmod(
            "icap://x/reqmod",
            head,
            Some(b"SECRET body"),
            preview,
            allow,
            &[],
        );
        c.send(&first).await;
        let r = c.response().await;
        assert_ne!(r.status, 100, "precheck decides inside the preview");
        assert!(rest.is_some() || preview.is_none());
        if allow || preview.is_some() {
            assert_eq!(r.status, 204);
        } else {
            assert_eq!(r.status, 200);
            assert_eq!(r.body.as_deref(), Some(&b"SECRET body"[..]));
        }
    }
    assert!(adapter.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn bad_input_gets_an_icap_error_and_the_server_lives_on() {
    let (addr, _) = start(ServerConfig::default()).await;
    for (input, status) in [
        (&b"HELLO\r\n\r\n"[..], 400),
        (b"OPTIONS icap://x/reqmod ICAP/2.0\r\n\r\n", 505),
        (b"REQMOD icap://x/reqmod ICAP/1.0\r\nHost: x\r\n\r\n", 400),
        (b"REQMOD icap://x/reqmod ICAP/1.0\r\nEncapsulated: req-hdr=0, req-body=10\r\n\r\nGARBAGE!\r\n", 400),
        (b"REQMOD icap://x/reqmod ICAP/1.0\r\nEncapsulated: req-hdr=0, req-body=18\r\n\r\nPOST / HTTP/1.1\r\n\r\nzz\r\n", 400),
        (b"REQMOD icap://x/other ICAP/1.0\r\nEncapsulated: req-hdr=0, null-body=18\r\n\r\nPOST / HTTP/1.1\r\n\r\n", 404),
        (b"RESPMOD icap://x/respmod ICAP/1.0\r\nEncapsulated: res-hdr=0, null-body=19\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", 404),
        (b"BREW icap://x/reqmod ICAP/1.0\r\n\r\n", 501),
    ] {
        let mut c = Client::connect(addr).await;
        c.send(input).await;
        let r = c.response().await;
        assert_eq!(r.status, status, "{}", String::from_utf8_lossy(input));
        assert!(c.closed().await);
    }
    // A head over the limit.
    let mut c = Client::connect(addr).await;
    let mut long = b"OPTIONS icap://x/reqmod ICAP/1.0\r\nX: ".to_vec();
    long.resize(40_000, b'a');
    c.send(&long).await;
    assert_eq!(c.response().await.status, 400);
    // The server still works.
    let mut c = Client::connect(addr).await;
    assert_eq!(c.reqmod(Some(b"fine"), None, true).await.status, 204);
}

#[tokio::test]
async fn an_adapter_panic_is_a_500_not_a_crash() {
    // Inline (small body) and on the blocking pool.
    for inline_max in [16 * 1024, 0] {
        let config = ServerConfig {
            inline_max,
            ..ServerConfig::default()
        };
        let (addr, _) = start(config).await;
        let mut c = Client::connect(addr).await;
        let r = c.reqmod(Some(b"PANIC"), None, true).await;
        assert_eq!(r.status, 500);
        let mut c = Client::connect(addr).await;
        assert_eq!(c.reqmod(Some(b"fine"), None, true).await.status, 204);
    }
}

#[tokio::test]
async fn respmod_when_enabled() {
    let config = ServerConfig {
        respmod_service: Some("/respmod".into()),
        ..ServerConfig::default()
    };
    let (addr, _) = start(config).await;
    let mut c = Client::connect(addr).await;
    c.send(b"OPTIONS icap://x/respmod ICAP/1.0\r\n\r\n").await;
    assert_eq!(c.response().await.headers.get("Methods"), Some("RESPMOD"));
    let req = b"GET http://intra.example/doc HTTP/1.1\r\nHost: intra.example\r\n\r\n";
    let res = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n";
    let mut msg = format!(
        "RESPMOD icap://x/respmod ICAP/1.0\r\nEncapsulated: req-hdr=0, res-hdr={}, res-body={}\r\n\r\n",
        req.len(),
        req.len() + res.len()
    )
    .into_bytes();
    msg.extend_from_slice(req);
    msg.extend_from_slice(res);
    msg.extend_from_slice(b"6\r\nSECRET\r\n0\r\n\r\n");
    c.send(&msg).await;
    let r = c.response().await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.as_deref(), Some(&b"blocked"[..]));
    // Allowed: echoed with the response head.
    let mut msg = msg.clone();
    let n = msg.len();
    msg[n - 13..n - 7].copy_from_slice(b"PUBLIC");
    c.send(&msg).await;
    let r = c.response().await;
    assert_eq!(r.status, 200);
    assert_eq!(r.sections, res);
    assert_eq!(r.body.as_deref(), Some(&b"PUBLIC"[..]));
}

#[tokio::test]
async fn many_concurrent_connections() {
    let config = ServerConfig {
        max_connections: 16,
        ..ServerConfig::default()
    };
    let (addr, adapter) = start(config).await;
    let mut tasks = Vec::new();
    for i in 0..64 {
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect(addr).await;
            for j in 0..5 {
                let body = format!("request {i} {j}");
                let r = c.reqmod(Some(body.as_bytes()), None, false).await;
                assert_eq!(r.body.as_deref(), Some(body.as_bytes()));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(adapter.seen.lock().unwrap().len(), 320);
}
