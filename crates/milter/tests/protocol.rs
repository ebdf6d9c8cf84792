//! The milter protocol driven by a hand-written MTA side (packets encoded here, independently of
//! the codec under test), over in-memory pipes and a real Unix socket.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mamori_milter::{
    Envelope, Failure, Filter, Limits, Listen, Message, Reply, ServerConfig, Verdict,
    handle_connection, serve,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// What the test filter saw.
#[derive(Debug, Clone)]
struct Seen {
    raw: Vec<u8>,
    spooled: bool,
    envelope: Envelope,
}

#[derive(Default)]
struct TestFilter {
    seen: Mutex<Vec<Seen>>,
    failures: Mutex<Vec<String>>,
}

impl Filter for TestFilter {
    fn decide(&self, message: &Message) -> Verdict {
        let raw = message.read_prefix(u64::MAX).unwrap();
        self.seen.lock().unwrap().push(Seen {
            raw: raw.clone(),
            spooled: message.is_spooled(),
            envelope: message.envelope.clone(),
        });
        let has = |needle: &[u8]| raw.windows(needle.len()).any(|w| w == needle);
        if has(b"SLOW") {
            std::thread::sleep(Duration::from_millis(3000));
        }
        if has(b"PANIC") {
            panic!("inspector exploded");
        }
        if has(b"SECRET") {
            Verdict::Reject(Reply::policy_reject("Message blocked by policy"))
        } else if has(b"HOLD") {
            Verdict::Quarantine {
                reason: "held for review".into(),
                headers: vec![("X-Mamori-Level".into(), "secret".into())],
            }
        } else {
            Verdict::Accept {
                headers: vec![(
                    "X-Test-Recipients".into(),
                    message.envelope.recipients.len().to_string(),
                )],
            }
        }
    }

    fn fail(&self, _envelope: &Envelope, failure: &Failure) -> Verdict {
        self.failures.lock().unwrap().push(failure.to_string());
        Verdict::tempfail_default()
    }
}

/// The MTA side: writes packets, reads replies; waits for a reply to a command only when the
/// negotiated protocol flags say one comes, as Postfix does.
struct Mta<S> {
    stream: S,
    /// Protocol flags the MTA offers in negotiation.
    offer: u32,
    /// Protocol flags the milter chose.
    protocol: u32,
}

const NR_CONN: u32 = 0x1000;
const NR_MAIL: u32 = 0x4000;
const NR_RCPT: u32 = 0x8000;
const NR_HDR: u32 = 0x80;
const NR_EOH: u32 = 0x4_0000;
const NR_BODY: u32 = 0x8_0000;

fn mta_side<S>(stream: S) -> Mta<S> {
    Mta {
        stream,
        offer: 0x1f_ffff,
        protocol: 0,
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Mta<S> {
    async fn send(&mut self, code: u8, data: &[u8]) {
        let len = u32::try_from(data.len() + 1).unwrap();
        let mut packet = len.to_be_bytes().to_vec();
        packet.push(code);
        packet.extend_from_slice(data);
        self.stream.write_all(&packet).await.unwrap();
    }

    async fn reply(&mut self) -> (u8, Vec<u8>) {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).await.unwrap();
        let len = u32::from_be_bytes(len) as usize;
        assert!(len >= 1);
        let mut packet = vec![0u8; len];
        self.stream.read_exact(&mut packet).await.unwrap();
        (packet[0], packet[1..].to_vec())
    }

    /// Reads SMFIR_CONTINUE unless the milter asked for no reply (`no_reply` flag negotiated).
    async fn after(&mut self, no_reply: u32) {
        if self.protocol & no_reply == 0 {
            self.expect_continue().await;
        }
    }

    async fn expect_continue(&mut self) {
        let (code, _) = self.reply().await;
        assert_eq!(
            code, b'c',
            "expected SMFIR_CONTINUE, got {:?}",
            code as char
        );
    }

    async fn negotiate(&mut self) {
        let mut data = Vec::new();
        data.extend_from_slice(&6u32.to_be_bytes());
        data.extend_from_slice(&0x1ffu32.to_be_bytes()); // every action Postfix offers
        data.extend_from_slice(&self.offer.to_be_bytes());
        self.send(b'O', &data).await;
        let (code, data) = self.reply().await;
        assert_eq!(code, b'O');
        assert_eq!(u32::from_be_bytes(data[0..4].try_into().unwrap()), 6);
        let actions = u32::from_be_bytes(data[4..8].try_into().unwrap());
        assert_ne!(actions & 0x01, 0, "SMFIF_ADDHDRS requested");
        assert_ne!(actions & 0x20, 0, "SMFIF_QUARANTINE requested");
        assert_eq!(
            actions & !0x21,
            0,
            "nothing but add-header and quarantine requested"
        );
        let protocol = u32::from_be_bytes(data[8..12].try_into().unwrap());
        let wanted = 0x2 | 0x100 | 0x200 | NR_CONN | NR_MAIL | NR_RCPT | NR_HDR | NR_EOH | NR_BODY;
        assert_eq!(
            protocol,
            wanted & self.offer,
            "no HELO, unknown or DATA packets, and no replies before end of body, where offered"
        );
        self.protocol = protocol;
    }

    async fn connect(&mut self) {
        self.send(b'D', b"Cj\0mx.example.co.jp\0{daemon_name}\0smtpd\0")
            .await;
        self.send(b'C', b"client.example.com\0\x34\x30\x39127.0.0.1\0")
            .await;
        self.after(NR_CONN).await;
    }

    /// One message; returns every reply after SMFIC_BODYEOB up to the final action.
    async fn message(
        &mut self,
        from: &str,
        to: &[&str],
        headers: &[(&str, &str)],
        body: &[&[u8]],
    ) -> Vec<(u8, Vec<u8>)> {
        self.send(b'D', b"Mi\0QUEUE1\0{auth_authen}\0tanaka\0")
            .await;
        self.send(b'M', format!("<{from}>\0SIZE=100\0").as_bytes())
            .await;
        self.after(NR_MAIL).await;
        for rcpt in to {
            self.send(b'R', format!("<{rcpt}>\0").as_bytes()).await;
            self.after(NR_RCPT).await;
        }
        for (name, value) in headers {
            self.send(b'L', format!("{name}\0{value}\0").as_bytes())
                .await;
            self.after(NR_HDR).await;
        }
        self.send(b'N', b"").await;
        self.after(NR_EOH).await;
        for chunk in body {
            self.send(b'B', chunk).await;
            self.after(NR_BODY).await;
        }
        self.send(b'E', b"").await;
        let mut replies = Vec::new();
        loop {
            let reply = self.reply().await;
            let last = matches!(reply.0, b'c' | b'a' | b'y' | b'r' | b't' | b'd');
            replies.push(reply);
            if last {
                return replies;
            }
        }
    }
}

fn config(memory_body: usize) -> ServerConfig {
    ServerConfig {
        limits: Limits {
            memory_body,
            // Generous: a loaded machine must not turn a quick decision into a timeout.
            decide_timeout: Duration::from_millis(1000),
            ..Limits::default()
        },
        ..ServerConfig::default()
    }
}

async fn pipe(
    filter: Arc<TestFilter>,
    config: ServerConfig,
) -> (
    Mta<tokio::io::DuplexStream>,
    tokio::task::JoinHandle<Result<(), mamori_milter::MilterError>>,
) {
    let (mta, milter) = tokio::io::duplex(1 << 16);
    let task = tokio::spawn(async move { handle_connection(milter, filter, &config).await });
    (mta_side(mta), task)
}

#[tokio::test]
async fn accept_reject_quarantine_and_the_collected_message() {
    let filter = Arc::new(TestFilter::default());
    let (mut mta, task) = pipe(filter.clone(), config(1 << 20)).await;
    mta.negotiate().await;
    mta.connect().await;

    let replies = mta
        .message(
            "a@example.co.jp",
            &["b@example.co.jp", "c@gmail.com"],
            &[("Subject", "hi"), ("From", "a@example.co.jp")],
            &[b"hello\r\n", b"world\r\n"],
        )
        .await;
    assert_eq!(replies.len(), 2, "{replies:?}");
    assert_eq!(replies[0], (b'h', b"X-Test-Recipients\x002\x00".to_vec()));
    assert_eq!(replies[1].0, b'c');

    let replies = mta
        .message(
            "a@example.co.jp",
            &["c@gmail.com"],
            &[("Subject", "x")],
            &[b"SECRET\r\n"],
        )
        .await;
    assert_eq!(
        replies,
        vec![(b'y', b"550 5.7.1 Message blocked by policy\x00".to_vec())]
    );

    mta.send(b'A', b"").await; // Postfix aborts between messages
    let replies = mta
        .message("a@example.co.jp", &["c@gmail.com"], &[], &[b"HOLD\r\n"])
        .await;
    assert_eq!(replies[0], (b'h', b"X-Mamori-Level\x00secret\x00".to_vec()));
    assert_eq!(replies[1], (b'q', b"held for review\x00".to_vec()));
    assert_eq!(replies[2].0, b'c');

    mta.send(b'Q', b"").await;
    task.await.unwrap().unwrap();

    let seen = filter.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert_eq!(
        seen[0].raw,
        b"Subject: hi\r\nFrom: a@example.co.jp\r\n\r\nhello\r\nworld\r\n"
    );
    assert_eq!(seen[0].envelope.sender, "a@example.co.jp");
    assert_eq!(
        seen[0].envelope.recipients,
        ["b@example.co.jp", "c@gmail.com"]
    );
    assert_eq!(seen[0].envelope.queue_id(), Some("QUEUE1"));
    assert_eq!(seen[0].envelope.auth_user(), Some("tanaka"));
    assert_eq!(
        seen[0].envelope.client_host.as_deref(),
        Some("client.example.com")
    );
    assert_eq!(seen[1].envelope.recipients, ["c@gmail.com"]);
    assert_eq!(seen[2].raw, b"\r\nHOLD\r\n");
}

#[tokio::test]
async fn large_messages_are_spooled_whole() {
    let filter = Arc::new(TestFilter::default());
    let (mut mta, task) = pipe(filter.clone(), config(10_000)).await;
    mta.negotiate().await;
    mta.connect().await;
    let chunk = vec![b'x'; 65_535];
    let chunks: Vec<&[u8]> = (0..16).map(|_| chunk.as_slice()).collect();
    let replies = mta
        .message("a@b.jp", &["c@d.jp"], &[("Subject", "big")], &chunks)
        .await;
    assert_eq!(replies.last().unwrap().0, b'c');
    mta.send(b'Q', b"").await;
    task.await.unwrap().unwrap();
    let seen = filter.seen.lock().unwrap();
    assert!(seen[0].spooled);
    assert_eq!(
        seen[0].raw.len(),
        "Subject: big\r\n\r\n".len() + 16 * 65_535
    );
}

/// Sends a message whose body makes the test filter misbehave, then a fine one on the same
/// connection: the first is answered with the fail mode (451), the connection keeps working, and
/// the filter's one recorded failure is returned.
async fn misbehaving_filter_case(config: ServerConfig, body: &[u8]) -> String {
    let filter = Arc::new(TestFilter::default());
    let (mut mta, task) = pipe(filter.clone(), config).await;
    mta.negotiate().await;
    mta.connect().await;
    let replies = mta.message("a@b.jp", &["c@d.jp"], &[], &[body]).await;
    assert_eq!(
        replies,
        vec![(
            b'y',
            b"451 4.7.1 Message could not be inspected, try again later\x00".to_vec()
        )]
    );
    let replies = mta
        .message("a@b.jp", &["c@d.jp"], &[], &[b"fine\r\n"])
        .await;
    assert_eq!(replies.last().unwrap().0, b'c');
    mta.send(b'Q', b"").await;
    task.await.unwrap().unwrap();
    let failures = filter.failures.lock().unwrap().clone();
    assert_eq!(failures.len(), 1, "{failures:?}");
    failures.into_iter().next().unwrap()
}

#[tokio::test]
async fn a_slow_filter_is_answered_with_the_fail_mode() {
    let failure = misbehaving_filter_case(config(1 << 20), b"SLOW\r\n").await;
    assert!(failure.starts_with("no decision within"), "{failure}");
}

#[tokio::test]
async fn a_panicking_filter_is_answered_with_the_fail_mode() {
    // A long deadline: the panic, not the clock, must produce the answer (printing a panic with
    // its backtrace can take over a second on a loaded machine).
    let mut patient = config(1 << 20);
    patient.limits.decide_timeout = Duration::from_secs(60);
    let failure = misbehaving_filter_case(patient, b"PANIC\r\n").await;
    assert!(failure.contains("inspector exploded"), "{failure}");
}

#[tokio::test]
async fn oversized_and_garbage_packets_end_the_connection() {
    let filter = Arc::new(TestFilter::default());
    let small = ServerConfig {
        limits: Limits {
            max_packet: 1024,
            ..Limits::default()
        },
        ..ServerConfig::default()
    };
    let (mut mta, task) = pipe(filter.clone(), small.clone()).await;
    mta.negotiate().await;
    mta.send(b'B', &vec![b'x'; 5000]).await;
    assert!(task.await.unwrap().is_err());

    let (mut mta, task) = pipe(filter.clone(), small).await;
    mta.stream.write_all(b"\x00\x00\x00\x03Zzz").await.unwrap();
    assert!(task.await.unwrap().is_err());
    assert!(filter.seen.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_connections_on_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("milter.sock");
    let filter = Arc::new(TestFilter::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        Listen::Unix(path.clone()),
        filter.clone(),
        config(1 << 20),
        async {
            let _ = stopped.await;
        },
    ));
    for _ in 0..100 {
        if path.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut clients = Vec::new();
    for i in 0..32 {
        let path = path.clone();
        clients.push(tokio::spawn(async move {
            let stream = tokio::net::UnixStream::connect(&path).await.unwrap();
            let mut mta = mta_side(stream);
            mta.negotiate().await;
            mta.connect().await;
            let mut codes = Vec::new();
            for j in 0..3 {
                let body = format!("message {i}-{j}\r\n");
                let replies = mta
                    .message("a@b.jp", &["c@d.jp"], &[], &[body.as_bytes()])
                    .await;
                codes.push(replies.last().unwrap().0);
            }
            mta.send(b'Q', b"").await;
            codes
        }));
    }
    for client in clients {
        assert_eq!(client.await.unwrap(), vec![b'c'; 3]);
    }
    assert_eq!(filter.seen.lock().unwrap().len(), 96);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    assert!(!path.exists(), "the socket is removed at shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connections_work_like_unix_ones() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let filter = Arc::new(TestFilter::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        Listen::Tcp(addr),
        filter.clone(),
        config(1 << 20),
        async {
            let _ = stopped.await;
        },
    ));
    let stream = loop {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(stream) => break stream,
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    };
    let mut mta = mta_side(stream);
    mta.negotiate().await;
    mta.connect().await;
    for body in [&b"one\r\n"[..], b"SECRET\r\n", b"two\r\n"] {
        let replies = mta.message("a@b.jp", &["c@d.jp"], &[], &[body]).await;
        let expected = if body.starts_with(b"SECRET") {
            b'y'
        } else {
            b'c'
        };
        assert_eq!(replies.last().unwrap().0, expected);
    }
    mta.send(b'Q', b"").await;
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    assert_eq!(filter.seen.lock().unwrap().len(), 3);
}

/// An MTA that offers no "no reply" flags (an old Sendmail, Postfix before 2.6) gets a reply to
/// every command.
#[tokio::test]
async fn an_mta_without_no_reply_flags_gets_every_reply() {
    let filter = Arc::new(TestFilter::default());
    let (mut mta, task) = pipe(filter.clone(), config(1 << 20)).await;
    mta.offer = 0x3ff & !NR_HDR; // SMFIP_NOCONNECT .. SMFIP_NODATA, no SMFIP_NR_*
    mta.negotiate().await;
    assert_eq!(mta.protocol, 0x2 | 0x100 | 0x200);
    mta.connect().await;
    let replies = mta
        .message(
            "a@b.jp",
            &["c@d.jp", "e@f.jp"],
            &[("Subject", "x")],
            &[b"one\r\n", b"two\r\n"],
        )
        .await;
    assert_eq!(replies.last().unwrap().0, b'c');
    mta.send(b'Q', b"").await;
    task.await.unwrap().unwrap();
    assert_eq!(
        filter.seen.lock().unwrap()[0].raw,
        b"Subject: x\r\n\r\none\r\ntwo\r\n"
    );
}
