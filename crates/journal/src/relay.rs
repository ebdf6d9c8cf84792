//! One journal, many Mamori processes: the process holding a data directory's journal serves
//! `journal/append.sock`; another process that opens the journal while it is held sends its
//! events there, and each is acknowledged only once the holder has made it durable.
//!
//! So the agent, the gateways, the print backend and `mamori scan --record` on one host all
//! record into one hash chain, in the order the holder received them, instead of all but one
//! failing with "journal locked".
//!
//! Wire format, both ways over a Unix stream socket (mode 0600, in the journal directory, which
//! is 0700: only the data directory's owner can connect):
//! * request: `u32` little-endian length, then the event's JSON (at most [`MAX_EVENT_BYTES`]);
//! * reply: `+` and the 16 bytes of the event id it was recorded as, or `-`, a `u32` length and
//!   an error message.
//!
//! A plain length-prefixed exchange of one message type: no protocol crate fits better than a
//! dozen lines.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::JournalError;
use crate::event::{Event, EventId};
use crate::journal::Shared;

/// Largest event accepted from another process.
pub const MAX_EVENT_BYTES: usize = 4 << 20;

/// The socket's name in the journal directory.
pub const SOCKET_NAME: &str = "append.sock";

fn socket_path(journal_dir: &Path) -> PathBuf {
    journal_dir.join(SOCKET_NAME)
}

/// Serves relayed appends for the process holding the journal; stops when dropped.
#[derive(Debug)]
pub(crate) struct Server {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds the socket (replacing one left by a holder that died: the caller holds the lock,
    /// so no live process serves it) and starts accepting.
    pub(crate) fn start(journal_dir: &Path, shared: Arc<Shared>) -> Result<Server, JournalError> {
        let path = socket_path(journal_dir);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(JournalError::io(&path, e)),
        }
        let listener = UnixListener::bind(&path).map_err(|e| JournalError::io(&path, e))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| JournalError::io(&path, e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("mamori-journal-relay".into())
                .spawn(move || {
                    for stream in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(stream) = stream else { continue };
                        let shared = Arc::clone(&shared);
                        let _ = std::thread::Builder::new()
                            .name("mamori-journal-client".into())
                            .spawn(move || serve(stream, &shared));
                    }
                })
                .map_err(|e| JournalError::io(&path, e))?
        };
        Ok(Server {
            path,
            stop,
            acceptor: Some(acceptor),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept with a connection of our own.
        let _ = UnixStream::connect(&self.path);
        if let Some(handle) = self.acceptor.take() {
            let _ = handle.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn read_message(stream: &mut UnixStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match stream.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_EVENT_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("message of {len} bytes is over the {MAX_EVENT_BYTES}-byte limit"),
        ));
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body)?;
    Ok(Some(body))
}

fn reply_error(stream: &mut UnixStream, message: &str) -> std::io::Result<()> {
    let mut out = vec![b'-'];
    out.extend_from_slice(&(message.len() as u32).to_le_bytes());
    out.extend_from_slice(message.as_bytes());
    stream.write_all(&out)
}

/// One client connection: append each event durably, acknowledge it.
fn serve(mut stream: UnixStream, shared: &Shared) {
    loop {
        let body = match read_message(&mut stream) {
            Ok(Some(body)) => body,
            Ok(None) => return,
            Err(e) => {
                let _ = reply_error(&mut stream, &e.to_string());
                return;
            }
        };
        let reply = match serde_json::from_slice::<Event>(&body) {
            Err(e) => reply_error(&mut stream, &format!("not a Mamori event: {e}")),
            Ok(event) => match shared.append_durable(event) {
                Ok(id) => {
                    let mut out = vec![b'+'];
                    out.extend_from_slice(id.0.as_bytes());
                    stream.write_all(&out)
                }
                Err(e) => reply_error(&mut stream, &e.to_string()),
            },
        };
        if reply.is_err() {
            return;
        }
    }
}

/// The sending side, in a process that found the journal held by another.
#[derive(Debug)]
pub(crate) struct Client {
    path: PathBuf,
    stream: Mutex<UnixStream>,
}

impl Client {
    /// Connects to the holder's socket.
    pub(crate) fn connect(journal_dir: &Path) -> std::io::Result<Client> {
        let path = socket_path(journal_dir);
        let stream = UnixStream::connect(&path)?;
        Ok(Client {
            path,
            stream: Mutex::new(stream),
        })
    }

    /// Sends one event and waits until the holder has it on disk.
    pub(crate) fn append(&self, event: &Event) -> Result<EventId, JournalError> {
        let io = |e: std::io::Error| JournalError::io(&self.path, e);
        let body = serde_json::to_vec(event).map_err(|e| JournalError::Failed(e.to_string()))?;
        if body.len() > MAX_EVENT_BYTES {
            return Err(JournalError::Failed(format!(
                "event of {} bytes is over the relay's {MAX_EVENT_BYTES}-byte limit",
                body.len()
            )));
        }
        let mut stream = self.stream.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::with_capacity(body.len() + 4);
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        stream.write_all(&out).map_err(io)?;
        let mut status = [0u8; 1];
        stream.read_exact(&mut status).map_err(io)?;
        if status[0] == b'+' {
            let mut id = [0u8; 16];
            stream.read_exact(&mut id).map_err(io)?;
            return Ok(EventId(uuid::Uuid::from_bytes(id)));
        }
        let mut len = [0u8; 4];
        stream.read_exact(&mut len).map_err(io)?;
        let len = (u32::from_le_bytes(len) as usize).min(64 * 1024);
        let mut message = vec![0u8; len];
        stream.read_exact(&mut message).map_err(io)?;
        Err(JournalError::Failed(format!(
            "the journal's holder refused the event: {}",
            String::from_utf8_lossy(&message)
        )))
    }
}

#[cfg(test)]
mod tests {
    use crate::event::Operation;
    use crate::{Event, Journal, JournalOptions, verify};

    #[test]
    fn a_second_opener_relays_to_the_holder_and_every_event_is_in_one_chain() {
        let dir = tempfile::tempdir().unwrap();
        let holder = Journal::open(dir.path(), JournalOptions::default()).unwrap();
        assert!(!holder.is_relayed());
        let first = holder
            .append_durable(Event::new(Operation::Open).with_path("/a"))
            .unwrap();
        let relayed = Journal::open(dir.path(), JournalOptions::default()).unwrap();
        assert!(relayed.is_relayed());
        let ids: Vec<_> = (0..20)
            .map(|i| {
                relayed
                    .append(Event::new(Operation::Print).with_path(format!("/job/{i}")))
                    .unwrap()
            })
            .collect();
        relayed.flush().unwrap();
        drop(relayed);
        drop(holder);
        let report = verify(dir.path()).unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.events, 21);
        let mut seen = Vec::new();
        let mut reader = crate::JournalReader::new(dir.path(), crate::Cursor::default());
        while !reader
            .read_batch(1000, &mut |e| seen.push(e.event.id))
            .unwrap()
            .is_empty_batch()
        {}
        assert_eq!(seen[0], first);
        assert_eq!(&seen[1..], &ids[..]);
    }

    #[test]
    fn after_the_holder_goes_the_next_opener_holds_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let holder = Journal::open(dir.path(), JournalOptions::default()).unwrap();
        let relayed = Journal::open(dir.path(), JournalOptions::default()).unwrap();
        drop(holder);
        // The holder is gone: appends through the old connection fail, never vanish silently.
        assert!(relayed.append(Event::new(Operation::Open)).is_err());
        drop(relayed);
        let next = Journal::open(dir.path(), JournalOptions::default()).unwrap();
        assert!(!next.is_relayed());
        next.append_durable(Event::new(Operation::Open)).unwrap();
    }

    #[test]
    fn garbage_from_a_client_is_refused_with_a_reason() {
        use std::io::{Read as _, Write as _};
        let dir = tempfile::tempdir().unwrap();
        let holder = Journal::open(dir.path(), JournalOptions::default()).unwrap();
        let mut stream =
            std::os::unix::net::UnixStream::connect(holder.dir().join(super::SOCKET_NAME)).unwrap();
        let read_error = |stream: &mut std::os::unix::net::UnixStream| {
            let mut status = [0u8; 1];
            stream.read_exact(&mut status).unwrap();
            assert_eq!(status[0], b'-');
            let mut len = [0u8; 4];
            stream.read_exact(&mut len).unwrap();
            let mut message = vec![0u8; u32::from_le_bytes(len) as usize];
            stream.read_exact(&mut message).unwrap();
            String::from_utf8(message).unwrap()
        };
        stream.write_all(&5u32.to_le_bytes()).unwrap();
        stream.write_all(b"hello").unwrap();
        let message = read_error(&mut stream);
        assert!(message.starts_with("not a Mamori event"), "{message}");
        // Too long: refused before anything is read, and the connection closed.
        stream.write_all(&(u32::MAX).to_le_bytes()).unwrap();
        let message = read_error(&mut stream);
        assert!(message.contains("over the"), "{message}");
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
        drop(holder);
        assert!(verify(dir.path()).unwrap().is_intact());
    }
}
