//! The milter server: listens on a Unix socket or TCP, one task per MTA connection, the filter
//! called once per message on a blocking thread under a time limit.

use std::future::Future;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use miltr_common::actions::{Action, Continue, Discard, Replycode};
use miltr_common::decoding::ClientCommand;
use miltr_common::encoding::{ServerMessage, Writable};
use miltr_common::modifications::headers::AddHeader;
use miltr_common::modifications::quarantine::Quarantine;
use miltr_common::optneg::{Capability, OptNeg, Protocol};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Semaphore;

use crate::message::{Collector, Envelope, Limits, Message};
use crate::verdict::{safe_text, valid_header_name};
use crate::{MilterError, Verdict};

/// Why a message could not be decided.
#[derive(Debug)]
#[non_exhaustive]
pub enum Failure {
    /// The filter did not answer within [`Limits::decide_timeout`].
    Timeout(Duration),
    /// The filter panicked.
    Panic(String),
    /// Spooling the message failed.
    Spool(std::io::Error),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Timeout(d) => write!(f, "no decision within {} s", d.as_secs_f64()),
            Failure::Panic(why) => write!(f, "inspection failed: {why}"),
            Failure::Spool(e) => write!(f, "spooling the message failed: {e}"),
        }
    }
}

/// The policy side: what to do with each message. Called on a blocking thread.
pub trait Filter: Send + Sync + 'static {
    /// Decides one collected message.
    fn decide(&self, message: &Message) -> Verdict;

    /// The answer when [`Filter::decide`] could not run or finish (the fail mode); also the
    /// place to record that. Must be quick: it runs on the connection's task.
    fn fail(&self, envelope: &Envelope, failure: &Failure) -> Verdict;
}

/// Where to listen, in Postfix's notation: `unix:/path/to.sock`, `inet:127.0.0.1:8891`,
/// `inet:[::1]:8891`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A Unix-domain socket at this path.
    Unix(PathBuf),
    /// A TCP address.
    Tcp(SocketAddr),
}

impl FromStr for Listen {
    type Err = MilterError;
    fn from_str(text: &str) -> Result<Listen, MilterError> {
        let bad = || MilterError::BadListen(text.to_owned());
        if let Some(path) = text
            .strip_prefix("unix:")
            .or_else(|| text.strip_prefix("local:"))
        {
            if path.is_empty() {
                return Err(bad());
            }
            return Ok(Listen::Unix(PathBuf::from(path)));
        }
        if let Some(addr) = text
            .strip_prefix("inet:")
            .or_else(|| text.strip_prefix("inet6:"))
        {
            return addr.parse().map(Listen::Tcp).map_err(|_| bad());
        }
        Err(bad())
    }
}

impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Listen::Unix(path) => write!(f, "unix:{}", path.display()),
            Listen::Tcp(addr) => write!(f, "inet:{addr}"),
        }
    }
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Per-message limits.
    pub limits: Limits,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// Permissions of a Unix socket.
    pub socket_mode: u32,
    /// Header lines written before every collected message (see [`Collector::with_preamble`]).
    pub preamble: Vec<u8>,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            limits: Limits::default(),
            max_connections: 256,
            socket_mode: 0o660,
            preamble: Vec::new(),
        }
    }
}

/// Listens on `listen` and serves every connection until `shutdown` completes. A stale Unix
/// socket file is replaced (anything else at that path is an error) and removed at shutdown.
pub async fn serve<F: Filter>(
    listen: Listen,
    filter: Arc<F>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), MilterError> {
    let config = Arc::new(config);
    let slots = Arc::new(Semaphore::new(config.max_connections.max(1)));
    tokio::pin!(shutdown);
    match &listen {
        Listen::Unix(path) => {
            if let Ok(meta) = std::fs::symlink_metadata(path) {
                if !meta.file_type().is_socket() {
                    return Err(MilterError::io(
                        format!("{} exists and is not a socket", path.display()),
                        std::io::ErrorKind::AlreadyExists.into(),
                    ));
                }
                std::fs::remove_file(path)
                    .map_err(|e| MilterError::io(format!("removing {}", path.display()), e))?;
            }
            let listener = tokio::net::UnixListener::bind(path)
                .map_err(|e| MilterError::io(format!("binding {listen}"), e))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(config.socket_mode))
                .map_err(|e| MilterError::io(format!("chmod {}", path.display()), e))?;
            let result = loop {
                let permit = tokio::select! {
                    _ = &mut shutdown => break Ok(()),
                    permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
                };
                let stream = tokio::select! {
                    _ = &mut shutdown => break Ok(()),
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(e) => {
                            // Out of descriptors and the like: say so, and do not spin.
                            eprintln!("mamori milter: accept: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue
                        }
                    },
                };
                spawn_connection(stream, filter.clone(), config.clone(), permit);
            };
            let _ = std::fs::remove_file(path);
            result
        }
        Listen::Tcp(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| MilterError::io(format!("binding {listen}"), e))?;
            loop {
                let permit = tokio::select! {
                    _ = &mut shutdown => return Ok(()),
                    permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
                };
                let stream = tokio::select! {
                    _ = &mut shutdown => return Ok(()),
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(e) => {
                            // Out of descriptors and the like: say so, and do not spin.
                            eprintln!("mamori milter: accept: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue
                        }
                    },
                };
                let _ = stream.set_nodelay(true);
                spawn_connection(QuickAck(stream), filter.clone(), config.clone(), permit);
            }
        }
    }
}

/// A TCP connection that acknowledges what it receives at once (`TCP_QUICKACK`, re-armed after
/// every read: the kernel drops back to delayed ACKs on its own).
///
/// Postfix writes a macro packet and the next command back to back without waiting for an
/// answer (macros get none). With Nagle's algorithm on its socket and delayed ACKs on ours, the
/// second write waits for our delayed-ACK timer: about 40 ms per message over TCP loopback,
/// with any milter. Acknowledging at once removes that stall.
struct QuickAck(tokio::net::TcpStream);

impl QuickAck {
    fn rearm(&self) {
        let _ = socket2::SockRef::from(&self.0).set_tcp_quickack(true);
    }
}

impl AsyncRead for QuickAck {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = std::pin::Pin::new(&mut this.0).poll_read(cx, buf);
        if matches!(poll, std::task::Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.rearm();
        }
        poll
    }
}

impl AsyncWrite for QuickAck {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

fn spawn_connection<S, F>(
    stream: S,
    filter: Arc<F>,
    config: Arc<ServerConfig>,
    permit: tokio::sync::OwnedSemaphorePermit,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Filter,
{
    tokio::spawn(async move {
        if let Err(e) = handle_connection(stream, filter, &config).await {
            eprintln!("mamori milter: connection: {e}");
        }
        drop(permit);
    });
}

/// Serves one MTA connection (any number of messages) until the MTA quits or the stream ends.
/// A protocol error (bad packet, oversized packet) ends the connection with an error; the MTA
/// then applies its own default action (Postfix: `milter_default_action`, 451 4.7.1 by default).
///
/// The packets are decoded and encoded by `miltr-common`; the loop is ours rather than
/// `miltr-server`'s because that one answers every command, while this milter asks the MTA for
/// no replies to connect, MAIL, RCPT, headers and body chunks (`SMFIP_NR_*`): one round trip per
/// message (end of body) instead of about a dozen.
pub async fn handle_connection<S, F>(
    stream: S,
    filter: Arc<F>,
    config: &ServerConfig,
) -> Result<(), MilterError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    F: Filter,
{
    let mut stream = tokio::io::BufStream::new(stream);
    let mut session = Session {
        filter,
        collector: Collector::new(config.limits.clone()).with_preamble(&config.preamble),
        spool_error: None,
        // Until negotiated, every command is answered and nothing may be modified.
        protocol: Protocol::empty(),
        capabilities: Capability::empty(),
    };
    let max = config.limits.max_packet;
    let mut out = BytesMut::new();
    loop {
        let mut len = [0u8; 4];
        match stream.read_exact(&mut len).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(MilterError::io("reading from the MTA", e)),
        }
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 || len > max {
            return Err(MilterError::Protocol(format!(
                "packet of {len} bytes (limit {max})"
            )));
        }
        let mut packet = BytesMut::zeroed(len);
        stream
            .read_exact(&mut packet)
            .await
            .map_err(|e| MilterError::io("reading from the MTA", e))?;
        let command =
            ClientCommand::parse(packet).map_err(|e| MilterError::Protocol(format!("{e:?}")))?;
        let replies = match session.command(command).await? {
            Step::Reply(replies) => replies,
            Step::Quit => return Ok(()),
        };
        if replies.is_empty() {
            continue;
        }
        out.clear();
        for reply in &replies {
            frame(&mut out, reply);
        }
        stream
            .write_all(&out)
            .await
            .map_err(|e| MilterError::io("writing to the MTA", e))?;
        stream
            .flush()
            .await
            .map_err(|e| MilterError::io("writing to the MTA", e))?;
    }
}

/// One packet: length (code + data), code, data.
fn frame(out: &mut BytesMut, message: &ServerMessage) {
    let len = u32::try_from(message.len() + 1).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[message.code()]);
    message.write(out);
}

/// What a command leads to.
enum Step {
    /// These replies (none when the MTA asked for none).
    Reply(Vec<ServerMessage>),
    /// The MTA is done with this connection.
    Quit,
}

/// One connection's state.
struct Session<F> {
    filter: Arc<F>,
    collector: Collector,
    /// The first spool failure of the current message; it is answered with the fail mode.
    spool_error: Option<std::io::Error>,
    /// Negotiated protocol flags (which commands the MTA expects no reply to).
    protocol: Protocol,
    /// Negotiated modifications this milter may make.
    capabilities: Capability,
}

impl<F: Filter> Session<F> {
    async fn command(&mut self, command: ClientCommand) -> Result<Step, MilterError> {
        let no_reply = match &command {
            ClientCommand::Connect(_) => Protocol::NR_CONNECT,
            ClientCommand::Helo(_) => Protocol::NR_HELO,
            ClientCommand::Mail(_) => Protocol::NR_MAIL,
            ClientCommand::Recipient(_) => Protocol::NR_RECIPIENT,
            ClientCommand::Data(_) => Protocol::NR_DATA,
            ClientCommand::Header(_) => Protocol::NR_HEADER,
            ClientCommand::EndOfHeader(_) => Protocol::NR_END_OF_HEADER,
            ClientCommand::Body(_) => Protocol::NR_BODY,
            ClientCommand::Unknown(_) => Protocol::NR_UNKNOWN,
            _ => Protocol::empty(),
        };
        match command {
            ClientCommand::OptNeg(theirs) => {
                let ours = our_options()
                    .merge_compatible(&theirs)
                    .map_err(|e| MilterError::Protocol(e.to_string()))?;
                self.protocol = ours.protocol;
                self.capabilities = ours.capabilities;
                return Ok(Step::Reply(vec![ServerMessage::Optneg(ours)]));
            }
            ClientCommand::Macro(macros) => {
                self.collector.macros(macros.macros());
                return Ok(Step::Reply(Vec::new()));
            }
            ClientCommand::Abort(_) => {
                self.spool_error = None;
                self.collector.abort();
                return Ok(Step::Reply(Vec::new()));
            }
            ClientCommand::Quit(_) => return Ok(Step::Quit),
            ClientCommand::QuitNc(_) => {
                // The MTA keeps the connection for another SMTP client: start afresh.
                self.spool_error = None;
                let limits = self.collector.limits().clone();
                let preamble = self.collector.preamble().to_vec();
                self.collector = Collector::new(limits).with_preamble(&preamble);
                return Ok(Step::Reply(Vec::new()));
            }
            ClientCommand::EndOfBody(_) => {
                let verdict = self.decide().await;
                return Ok(Step::Reply(replies(verdict, self.capabilities)));
            }
            ClientCommand::Connect(connect) => self
                .collector
                .connect(&connect.hostname(), &connect.address()),
            ClientCommand::Helo(helo) => self.collector.helo(&helo.helo()),
            ClientCommand::Mail(mail) => {
                self.spool_error = None;
                self.collector.mail_from(&mail.sender());
            }
            ClientCommand::Recipient(recipient) => self.collector.rcpt(&recipient.recipient()),
            ClientCommand::Header(header) => {
                let result = self
                    .collector
                    .header(header.name().as_bytes(), header.value().as_bytes());
                self.note(result);
            }
            ClientCommand::EndOfHeader(_) => {
                let result = self.collector.end_of_headers();
                self.note(result);
            }
            ClientCommand::Body(body) => {
                if self.spool_error.is_none() {
                    let result = self.collector.body(body.as_bytes());
                    self.note(result);
                }
            }
            ClientCommand::Data(_) | ClientCommand::Unknown(_) => {}
        }
        if self.protocol.contains(no_reply) && !no_reply.is_empty() {
            Ok(Step::Reply(Vec::new()))
        } else {
            Ok(Step::Reply(vec![ServerMessage::Action(Continue.into())]))
        }
    }

    fn note(&mut self, result: std::io::Result<()>) {
        if let Err(e) = result {
            self.spool_error.get_or_insert(e);
        }
    }

    async fn decide(&mut self) -> Verdict {
        if let Some(e) = self.spool_error.take() {
            let envelope = self.collector.envelope().clone();
            self.collector.abort();
            return self.filter.fail(&envelope, &Failure::Spool(e));
        }
        let message = match self.collector.finish() {
            Ok(message) => message,
            Err(e) => {
                let envelope = self.collector.envelope().clone();
                return self.filter.fail(&envelope, &Failure::Spool(e));
            }
        };
        let envelope = message.envelope.clone();
        let timeout = self.collector.limits().decide_timeout;
        let filter = self.filter.clone();
        let task = tokio::task::spawn_blocking(move || filter.decide(&message));
        match tokio::time::timeout(timeout, task).await {
            Ok(Ok(verdict)) => verdict,
            Ok(Err(join)) => {
                let why = match join.try_into_panic() {
                    Ok(panic) => panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "panic".to_owned()),
                    Err(_) => "cancelled".to_owned(),
                };
                self.filter.fail(&envelope, &Failure::Panic(why))
            }
            // The blocking task runs on and its answer is dropped; the MTA is answered now.
            Err(_) => self.filter.fail(&envelope, &Failure::Timeout(timeout)),
        }
    }
}

/// What this milter asks of the MTA: only the modifications it makes (add header, quarantine);
/// no HELO, DATA or unknown-command packets, which it does not use; and no replies expected
/// before the end of the message. Intersected with what the MTA offers.
fn our_options() -> OptNeg {
    OptNeg {
        capabilities: Capability::SMFIF_ADDHDRS | Capability::SMFIF_QUARANTINE,
        protocol: Protocol::NO_HELO
            | Protocol::NO_DATA
            | Protocol::NO_UNKNOWN
            | Protocol::NR_CONNECT
            | Protocol::NR_MAIL
            | Protocol::NR_RECIPIENT
            | Protocol::NR_HEADER
            | Protocol::NR_END_OF_HEADER
            | Protocol::NR_BODY,
        ..OptNeg::default()
    }
}

/// The milter replies for a verdict: modifications the MTA allowed, then the final action.
fn replies(verdict: Verdict, capabilities: Capability) -> Vec<ServerMessage> {
    let mut out = Vec::new();
    let add_headers = |out: &mut Vec<ServerMessage>, headers: Vec<(String, String)>| {
        if !capabilities.contains(Capability::SMFIF_ADDHDRS) {
            return;
        }
        for (name, value) in headers {
            if valid_header_name(&name) {
                out.push(ServerMessage::ModificationAction(
                    AddHeader::new(name.as_bytes(), safe_text(&value, 900).as_bytes()).into(),
                ));
            }
        }
    };
    let last: Action = match verdict {
        Verdict::Accept { headers } => {
            add_headers(&mut out, headers);
            Continue.into()
        }
        Verdict::Quarantine { reason, headers } => {
            add_headers(&mut out, headers);
            if capabilities.contains(Capability::SMFIF_QUARANTINE) {
                out.push(ServerMessage::ModificationAction(
                    Quarantine::new(safe_text(&reason, 400).as_bytes()).into(),
                ));
                Continue.into()
            } else {
                // An MTA that cannot hold mail: refusing is the safe side of "hold for review".
                Replycode::new(
                    [5, 5, 0],
                    [5, 7, 1],
                    "Message held by data-leak policy and this MTA cannot quarantine",
                )
                .into()
            }
        }
        Verdict::Reject(reply) | Verdict::Tempfail(reply) => {
            Replycode::new(reply.digits(), reply.status(), reply.text()).into()
        }
        Verdict::Discard => Discard.into(),
    };
    out.push(ServerMessage::Action(last));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(
            "unix:/var/spool/postfix/mamori/milter.sock"
                .parse::<Listen>()
                .unwrap(),
            Listen::Unix("/var/spool/postfix/mamori/milter.sock".into())
        );
        assert_eq!(
            "inet:127.0.0.1:8891".parse::<Listen>().unwrap(),
            Listen::Tcp("127.0.0.1:8891".parse().unwrap())
        );
        assert_eq!(
            "inet:[::1]:8891".parse::<Listen>().unwrap().to_string(),
            "inet:[::1]:8891"
        );
        for bad in ["", "unix:", "inet:localhost", "tcp:1", "/tmp/x.sock"] {
            assert!(bad.parse::<Listen>().is_err(), "{bad}");
        }
    }

    #[test]
    fn verdicts_become_replies() {
        let codes = |r: Vec<ServerMessage>| r.iter().map(|m| m.code() as char).collect::<String>();
        let all = Capability::SMFIF_ADDHDRS | Capability::SMFIF_QUARANTINE;
        let reject = Verdict::Reject(crate::Reply::policy_reject("no"));
        assert_eq!(codes(replies(reject, all)), "y");
        let hold = Verdict::Quarantine {
            reason: "held".into(),
            headers: vec![
                ("X-Mamori-Level".into(), "secret".into()),
                ("bad name".into(), "x".into()),
            ],
        };
        assert_eq!(codes(replies(hold.clone(), all)), "hqc");
        // Without the capabilities: no header, and a refusal instead of a hold.
        assert_eq!(codes(replies(hold, Capability::empty())), "y");
        assert_eq!(codes(replies(Verdict::accept(), all)), "c");
        assert_eq!(codes(replies(Verdict::Discard, all)), "d");
    }

    #[test]
    fn frames_are_length_code_data() {
        let mut out = BytesMut::new();
        frame(&mut out, &ServerMessage::Action(Continue.into()));
        assert_eq!(&out[..], b"\x00\x00\x00\x01c");
    }
}
