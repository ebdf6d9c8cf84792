//! One message as the MTA hands it over: envelope, macros, headers and body. The raw message
//! (header block, blank line, body) is kept in memory up to [`Limits::memory_body`] bytes, while
//! all connections together hold at most [`Limits::memory_total`]; past either it is spooled to
//! an unnamed temporary file.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Limits on what one connection and one message may make the milter hold.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest milter packet accepted; a larger one closes the connection. Postfix and Sendmail
    /// send body chunks of at most 64 KiB; headers are bounded by Postfix's `header_size_limit`
    /// (100 KiB by default).
    pub max_packet: usize,
    /// Message bytes kept in memory; past this the message is spooled to a temporary file.
    pub memory_body: usize,
    /// Memory the message buffers of all connections hold together (every clone of these limits
    /// draws on the same budget); a message that would go past it is spooled.
    pub memory_total: MemoryBudget,
    /// Message bytes collected at all; past this the rest is dropped and the message is marked
    /// [`Incomplete::TooLarge`].
    pub max_message: u64,
    /// Headers collected per message ([`Incomplete::TooManyHeaders`] past it).
    pub max_headers: usize,
    /// Recipients collected per message ([`Incomplete::TooManyRecipients`] past it).
    pub max_recipients: usize,
    /// Distinct macros remembered per connection.
    pub max_macros: usize,
    /// Time the filter gets to decide one message before [`crate::Filter::fail`] answers.
    pub decide_timeout: Duration,
    /// Directory for spool files (the system's temporary directory when `None`).
    pub spool_dir: Option<PathBuf>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_packet: 1 << 20,
            // A typical mail with attachments (Postfix's default size limit is 10 MB) is
            // collected in memory and parsed from there: spooling a 1.4 MB message to disk and
            // reading it back cost the bench about 4 % of Postfix's throughput.
            memory_body: 16 << 20,
            memory_total: MemoryBudget::new(256 << 20),
            max_message: 256 << 20,
            max_headers: 2_000,
            max_recipients: 10_000,
            max_macros: 256,
            // Postfix's milter_content_timeout (covering the end-of-message reply) is 300 s,
            // Sendmail's default E timeout 5 min: a decision is due well before either.
            decide_timeout: Duration::from_secs(60),
            spool_dir: None,
        }
    }
}

/// Memory held by message buffers across connections (their capacity), with a ceiling. Clones
/// share the count.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    in_use: Arc<AtomicUsize>,
    limit: usize,
}

impl MemoryBudget {
    /// A budget of `limit` bytes of memory, none in use.
    pub fn new(limit: usize) -> MemoryBudget {
        MemoryBudget {
            in_use: Arc::new(AtomicUsize::new(0)),
            limit,
        }
    }

    /// The ceiling.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes of memory held now.
    pub fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Relaxed)
    }

    /// Takes `bytes` more, unless that would pass the ceiling.
    fn try_take(&self, bytes: usize) -> bool {
        self.in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.limit)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: usize) {
        self.in_use.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// A message buffer whose memory (its capacity, not only the bytes in it) counts against a
/// [`MemoryBudget`] until it is dropped.
#[derive(Debug)]
struct Buffer {
    bytes: Vec<u8>,
    /// Taken from the budget: the capacity asked for.
    charged: usize,
    budget: MemoryBudget,
}

impl Buffer {
    fn new(budget: &MemoryBudget) -> Buffer {
        Buffer {
            bytes: Vec::new(),
            charged: 0,
            budget: budget.clone(),
        }
    }

    /// Appends `more` if the budget has room for the memory that takes; `false` (nothing
    /// appended) if not. The buffer doubles as a `Vec` would, or grows to the exact size when
    /// only that fits.
    fn try_extend(&mut self, more: &[u8]) -> bool {
        let needed = self.bytes.len() + more.len();
        if needed > self.charged {
            let doubled = needed.max(self.charged.saturating_mul(2));
            let target = if self.budget.try_take(doubled - self.charged) {
                doubled
            } else if self.budget.try_take(needed - self.charged) {
                needed
            } else {
                return false;
            };
            self.charged = target;
            self.bytes.reserve_exact(target - self.bytes.len());
        }
        self.bytes.extend_from_slice(more);
        true
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        self.budget.give_back(self.charged);
    }
}

/// Why a message was not collected in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Incomplete {
    /// The message exceeded [`Limits::max_message`]; the rest of the body was dropped.
    TooLarge,
    /// More headers than [`Limits::max_headers`]; the rest were dropped.
    TooManyHeaders,
    /// More recipients than [`Limits::max_recipients`]; the rest were dropped.
    TooManyRecipients,
}

impl Incomplete {
    /// A stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Incomplete::TooLarge => "too_large",
            Incomplete::TooManyHeaders => "too_many_headers",
            Incomplete::TooManyRecipients => "too_many_recipients",
        }
    }
}

/// The SMTP envelope and connection facts of one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    /// The connecting client's host name as the MTA resolved it.
    pub client_host: Option<String>,
    /// The connecting client's address.
    pub client_addr: Option<String>,
    /// The HELO/EHLO name.
    pub helo: Option<String>,
    /// MAIL FROM, without angle brackets (empty for the null sender `<>`).
    pub sender: String,
    /// RCPT TO addresses, without angle brackets, in order.
    pub recipients: Vec<String>,
    /// Every macro the MTA sent, by name without braces (`i`, `auth_authen`, `j`...), the
    /// latest value of each.
    pub macros: BTreeMap<String, String>,
}

impl Envelope {
    /// The MTA's queue id (macro `i`), when it sent one.
    pub fn queue_id(&self) -> Option<&str> {
        self.macro_value("i")
    }

    /// The SMTP-authenticated user (macro `{auth_authen}`), when the client authenticated.
    pub fn auth_user(&self) -> Option<&str> {
        self.macro_value("auth_authen")
    }

    /// A macro's value, by name with or without braces; empty values count as absent.
    pub fn macro_value(&self, name: &str) -> Option<&str> {
        let name = name.trim_start_matches('{').trim_end_matches('}');
        self.macros
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// Where the raw message is kept.
#[derive(Debug)]
enum Store {
    Memory(Buffer),
    Spooled(File),
}

/// One collected message, handed to [`crate::Filter::decide`].
#[derive(Debug)]
pub struct Message {
    /// Envelope and connection facts.
    pub envelope: Envelope,
    /// Headers in order, as (name, value) with the value as the MTA sent it.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Set when a limit cut the message short.
    pub incomplete: Option<Incomplete>,
    store: Store,
    len: u64,
    body_offset: u64,
}

impl Message {
    /// Size in bytes of the raw message (header block, blank line, body) as collected.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing at all was collected.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Size in bytes of the body as collected.
    pub fn body_len(&self) -> u64 {
        self.len.saturating_sub(self.body_offset)
    }

    /// The raw message, when it is held in memory (`None` when spooled to disk).
    pub fn bytes(&self) -> Option<&[u8]> {
        match &self.store {
            Store::Memory(buffer) => Some(&buffer.bytes),
            Store::Spooled(_) => None,
        }
    }

    /// True when the message was spooled to a temporary file.
    pub fn is_spooled(&self) -> bool {
        matches!(self.store, Store::Spooled(_))
    }

    /// The spool file, rewound to the start, when the message was spooled.
    pub fn spool_file(&self) -> io::Result<Option<File>> {
        match &self.store {
            Store::Memory(_) => Ok(None),
            Store::Spooled(file) => {
                let mut file = file.try_clone()?;
                file.seek(SeekFrom::Start(0))?;
                Ok(Some(file))
            }
        }
    }

    /// The first `max` bytes of the raw message, from memory or the spool.
    pub fn read_prefix(&self, max: u64) -> io::Result<Vec<u8>> {
        match &self.store {
            Store::Memory(buffer) => {
                let bytes = &buffer.bytes;
                Ok(bytes[..bytes.len().min(clamp(max))].to_vec())
            }
            Store::Spooled(file) => {
                let mut file = file.try_clone()?;
                file.seek(SeekFrom::Start(0))?;
                let mut out = Vec::with_capacity(clamp(self.len.min(max)));
                file.take(max).read_to_end(&mut out)?;
                Ok(out)
            }
        }
    }

    /// The first header called `name` (ASCII case-insensitive), lossily decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }
}

fn clamp(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Collects the commands of one milter connection into [`Message`]s. Pure state plus the spool
/// file; the server drives it, and tests and fuzzers can drive it directly.
#[derive(Debug)]
pub struct Collector {
    limits: Limits,
    preamble: Vec<u8>,
    envelope: Envelope,
    headers: Vec<(String, Vec<u8>)>,
    incomplete: Option<Incomplete>,
    store: Store,
    len: u64,
    body_offset: u64,
    in_body: bool,
}

impl Collector {
    /// A collector for one connection.
    pub fn new(limits: Limits) -> Collector {
        let store = Store::Memory(Buffer::new(&limits.memory_total));
        Collector {
            limits,
            preamble: Vec::new(),
            envelope: Envelope::default(),
            headers: Vec::new(),
            incomplete: None,
            store,
            len: 0,
            body_offset: 0,
            in_body: false,
        }
    }

    /// This collector writing `preamble` (complete header lines, CRLF-terminated) before the
    /// header block of every message. The MTA's copy is unchanged; the collected copy then
    /// always starts like a mail, so content sniffers recognise it whatever headers the sender
    /// put first (`Received: ...` and `MIME-Version: 1.0` do that for Mamori's extractor).
    pub fn with_preamble(mut self, preamble: &[u8]) -> Collector {
        self.preamble = preamble.to_vec();
        self.reset_message();
        self
    }

    /// The preamble written before every message.
    pub fn preamble(&self) -> &[u8] {
        &self.preamble
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The envelope collected so far.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// `SMFIC_CONNECT`: the client's host name and address.
    pub fn connect(&mut self, host: &str, addr: &str) {
        self.envelope.client_host = Some(host.to_owned()).filter(|s| !s.is_empty());
        self.envelope.client_addr = Some(addr.to_owned()).filter(|s| !s.is_empty());
    }

    /// `SMFIC_HELO`.
    pub fn helo(&mut self, name: &str) {
        self.envelope.helo = Some(name.to_owned());
    }

    /// `SMFIC_MACRO`: remembers each (name, value); names lose their braces. Past
    /// [`Limits::max_macros`] distinct names, new names are ignored.
    pub fn macros<'a>(&mut self, pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) {
        for (name, value) in pairs {
            let name = String::from_utf8_lossy(name);
            let name = name.trim_start_matches('{').trim_end_matches('}');
            if name.is_empty() {
                continue;
            }
            let value = String::from_utf8_lossy(value).into_owned();
            if let Some(slot) = self.envelope.macros.get_mut(name) {
                *slot = value;
            } else if self.envelope.macros.len() < self.limits.max_macros {
                self.envelope.macros.insert(name.to_owned(), value);
            }
        }
    }

    /// `SMFIC_MAIL`: starts a new message from `sender` (`<a@b>` or `a@b`).
    pub fn mail_from(&mut self, sender: &str) {
        self.reset_message();
        self.envelope.sender = strip_brackets(sender);
    }

    /// `SMFIC_RCPT`: one more recipient.
    pub fn rcpt(&mut self, recipient: &str) {
        if self.envelope.recipients.len() >= self.limits.max_recipients {
            self.mark(Incomplete::TooManyRecipients);
            return;
        }
        self.envelope.recipients.push(strip_brackets(recipient));
    }

    /// `SMFIC_HEADER`: one header, written to the raw message as `name: value` CRLF (line breaks
    /// inside a folded value become CRLF).
    pub fn header(&mut self, name: &[u8], value: &[u8]) -> io::Result<()> {
        if self.headers.len() >= self.limits.max_headers {
            self.mark(Incomplete::TooManyHeaders);
            return Ok(());
        }
        let mut line = Vec::with_capacity(name.len() + value.len() + 4);
        line.extend_from_slice(name);
        line.extend_from_slice(b": ");
        push_crlf(&mut line, value);
        line.extend_from_slice(b"\r\n");
        self.append(&line)?;
        self.headers
            .push((String::from_utf8_lossy(name).into_owned(), value.to_vec()));
        Ok(())
    }

    /// `SMFIC_EOH`: the blank line between headers and body.
    pub fn end_of_headers(&mut self) -> io::Result<()> {
        if !self.in_body {
            self.append(b"\r\n")?;
            self.in_body = true;
            self.body_offset = self.len;
        }
        Ok(())
    }

    /// `SMFIC_BODY`: one body chunk, as is.
    pub fn body(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.end_of_headers()?;
        self.append(chunk)
    }

    /// `SMFIC_BODYEOB`: the collected message. The envelope's connection facts and macros stay
    /// for the next message on this connection; sender, recipients and content do not.
    pub fn finish(&mut self) -> io::Result<Message> {
        self.end_of_headers()?;
        let empty = Store::Memory(Buffer::new(&self.limits.memory_total));
        let store = std::mem::replace(&mut self.store, empty);
        let message = Message {
            envelope: self.envelope.clone(),
            headers: std::mem::take(&mut self.headers),
            incomplete: self.incomplete,
            store,
            len: self.len,
            body_offset: self.body_offset,
        };
        self.reset_message();
        Ok(message)
    }

    /// `SMFIC_ABORT`: forget the current message.
    pub fn abort(&mut self) {
        self.reset_message();
    }

    fn reset_message(&mut self) {
        self.envelope.sender.clear();
        self.envelope.recipients.clear();
        self.headers.clear();
        self.incomplete = None;
        self.store = Store::Memory(Buffer::new(&self.limits.memory_total));
        self.len = 0;
        self.body_offset = 0;
        self.in_body = false;
    }

    fn mark(&mut self, why: Incomplete) {
        self.incomplete.get_or_insert(why);
    }

    /// Appends to the raw message, the preamble first when the message is still empty (written
    /// only then, so an idle connection holds nothing, and a failure to keep it is the
    /// message's own error, which the server answers with the fail action).
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.len == 0 && !self.preamble.is_empty() {
            let preamble = std::mem::take(&mut self.preamble);
            let written = self.append_raw(&preamble);
            self.preamble = preamble;
            written?;
        }
        self.append_raw(bytes)
    }

    fn append_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        let room = self.limits.max_message.saturating_sub(self.len);
        let take = clamp(room).min(bytes.len());
        if take < bytes.len() {
            self.mark(Incomplete::TooLarge);
        }
        let bytes = &bytes[..take];
        if bytes.is_empty() {
            return Ok(());
        }
        let kept = match &mut self.store {
            Store::Memory(buffer) => {
                buffer.bytes.len() + bytes.len() <= self.limits.memory_body
                    && buffer.try_extend(bytes)
            }
            Store::Spooled(_) => false,
        };
        if !kept {
            if let Store::Memory(buffer) = &self.store {
                let mut file = match &self.limits.spool_dir {
                    Some(dir) => tempfile::tempfile_in(dir)?,
                    None => tempfile::tempfile()?,
                };
                file.write_all(&buffer.bytes)?;
                // Dropping the buffer gives its bytes back to the budget.
                self.store = Store::Spooled(file);
            }
            if let Store::Spooled(file) = &mut self.store {
                file.write_all(bytes)?;
            }
        }
        self.len += bytes.len() as u64;
        Ok(())
    }
}

/// `<a@b>` -> `a@b`; surrounding spaces dropped.
fn strip_brackets(address: &str) -> String {
    let address = address.trim();
    address
        .strip_prefix('<')
        .and_then(|a| a.strip_suffix('>'))
        .unwrap_or(address)
        .trim()
        .to_owned()
}

/// Appends `value` with every line break (LF or CRLF) written as CRLF.
fn push_crlf(out: &mut Vec<u8>, value: &[u8]) {
    let mut previous = 0u8;
    for &b in value {
        if b == b'\n' && previous != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        previous = b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(memory: usize, max: u64) -> Limits {
        Limits {
            memory_body: memory,
            max_message: max,
            ..Limits::default()
        }
    }

    fn collect(collector: &mut Collector, body: &[&[u8]]) -> Message {
        collector.mail_from("<sender@example.co.jp>");
        collector.rcpt("<a@example.co.jp>");
        collector.rcpt("b@gmail.com");
        collector.header(b"Subject", b"hello").unwrap();
        collector.header(b"X-Folded", b"one\n\ttwo").unwrap();
        collector.end_of_headers().unwrap();
        for chunk in body {
            collector.body(chunk).unwrap();
        }
        collector.finish().unwrap()
    }

    #[test]
    fn raw_message_is_headers_blank_line_body() {
        let mut c = Collector::new(Limits::default());
        let m = collect(&mut c, &[b"line 1\r\n", b"line 2\r\n"]);
        assert_eq!(
            m.bytes().unwrap(),
            b"Subject: hello\r\nX-Folded: one\r\n\ttwo\r\n\r\nline 1\r\nline 2\r\n"
        );
        assert_eq!(m.body_len(), 16);
        assert_eq!(m.envelope.sender, "sender@example.co.jp");
        assert_eq!(m.envelope.recipients, ["a@example.co.jp", "b@gmail.com"]);
        assert_eq!(m.header("subject").as_deref(), Some("hello"));
        assert!(m.incomplete.is_none());
        assert!(!m.is_spooled());
    }

    #[test]
    fn large_bodies_spool_to_disk_with_the_same_bytes() {
        let mut memory = Collector::new(Limits::default());
        let mut spooled = Collector::new(small(40, 1 << 20));
        let chunks: Vec<Vec<u8>> = (0..50).map(|i| vec![b'a' + (i % 26) as u8; 1000]).collect();
        let chunks: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
        let a = collect(&mut memory, &chunks);
        let b = collect(&mut spooled, &chunks);
        assert!(!a.is_spooled());
        assert!(b.is_spooled());
        assert_eq!(a.len(), b.len());
        let mut from_file = Vec::new();
        b.spool_file()
            .unwrap()
            .unwrap()
            .read_to_end(&mut from_file)
            .unwrap();
        assert_eq!(a.bytes().unwrap(), from_file.as_slice());
        assert_eq!(b.read_prefix(10).unwrap(), &a.bytes().unwrap()[..10]);
    }

    #[test]
    fn connections_share_one_memory_budget_and_give_it_back() {
        let budget = MemoryBudget::new(3_000);
        let limits = Limits {
            memory_total: budget.clone(),
            ..Limits::default()
        };
        let chunk = [b'x'; 1_000];
        let mut first = Collector::new(limits.clone());
        let mut second = Collector::new(limits);
        // The first message holds about 2 KB of the 3 KB budget (its buffer's capacity)...
        let held = collect(&mut first, &[&chunk, &chunk]);
        assert!(!held.is_spooled());
        let in_use = budget.in_use();
        assert!(
            in_use >= held.len() as usize && in_use <= 2 * held.len() as usize,
            "{in_use} for {}",
            held.len()
        );
        // ...so the second, which would pass it, goes to disk and holds none of it.
        let spooled = collect(&mut second, &[&chunk, &chunk]);
        assert!(spooled.is_spooled());
        assert_eq!(spooled.len(), held.len());
        assert_eq!(budget.in_use(), in_use);
        // Every byte comes back when the messages are gone.
        drop(held);
        drop(spooled);
        assert_eq!(budget.in_use(), 0);
        let again = collect(&mut second, &[&chunk, &chunk]);
        assert!(!again.is_spooled());
        drop(again);
        // An aborted message gives its bytes back too.
        second.mail_from("<a@b>");
        second.body(&chunk).unwrap();
        assert!(budget.in_use() >= 1_000);
        second.abort();
        assert_eq!(budget.in_use(), 0);
    }

    #[test]
    fn the_preamble_is_written_with_the_message_and_its_failure_is_the_messages() {
        let budget = MemoryBudget::new(1 << 20);
        let limits = Limits {
            memory_total: budget.clone(),
            ..Limits::default()
        };
        let mut c = Collector::new(limits).with_preamble(b"Received: x\r\n");
        // An idle connection holds nothing.
        assert_eq!(budget.in_use(), 0);
        // The message carries the preamble (see `the_preamble_starts_every_message`) and
        // is charged for all of it.
        let m = collect(&mut c, &[b"body\r\n"]);
        assert!(budget.in_use() >= m.len() as usize);
        // Nor after a message: the next one's preamble waits for its first bytes.
        drop(m);
        assert_eq!(budget.in_use(), 0);
        // With no memory and a spool directory that cannot be written, the first header
        // fails: the message is not collected without its preamble.
        let gone = tempfile::tempdir().unwrap().path().join("missing");
        let mut c = Collector::new(Limits {
            memory_total: MemoryBudget::new(0),
            spool_dir: Some(gone),
            ..Limits::default()
        })
        .with_preamble(b"Received: x\r\n");
        c.mail_from("<a@b>");
        assert!(c.header(b"Subject", b"s").is_err());
    }

    #[test]
    fn limits_cut_and_mark() {
        let mut c = Collector::new(small(1 << 20, 50));
        let m = collect(&mut c, &[&[b'x'; 100]]);
        assert_eq!(m.len(), 50);
        assert_eq!(m.incomplete, Some(Incomplete::TooLarge));

        let mut c = Collector::new(Limits {
            max_recipients: 1,
            max_headers: 1,
            ..Limits::default()
        });
        let m = collect(&mut c, &[b"x"]);
        assert_eq!(m.envelope.recipients, ["a@example.co.jp"]);
        assert_eq!(m.headers.len(), 1);
        // The first limit hit is the one reported.
        assert_eq!(m.incomplete, Some(Incomplete::TooManyRecipients));
    }

    #[test]
    fn a_new_message_forgets_the_last_but_keeps_connection_facts() {
        let mut c = Collector::new(Limits::default());
        c.connect("mx.example.com", "192.0.2.1");
        c.macros([(&b"{auth_authen}"[..], &b"tanaka"[..]), (b"i", b"4AB12")]);
        let first = collect(&mut c, &[b"one"]);
        assert_eq!(first.envelope.auth_user(), Some("tanaka"));
        assert_eq!(first.envelope.queue_id(), Some("4AB12"));
        c.mail_from("<>");
        c.abort();
        c.mail_from("<>");
        let second = c.finish().unwrap();
        assert_eq!(second.envelope.sender, "");
        assert!(second.envelope.recipients.is_empty());
        assert!(second.headers.is_empty());
        assert_eq!(second.bytes().unwrap(), b"\r\n");
        assert_eq!(
            second.envelope.client_host.as_deref(),
            Some("mx.example.com")
        );
    }

    #[test]
    fn the_preamble_starts_every_message() {
        let mut c = Collector::new(Limits::default()).with_preamble(b"Received: x\r\n");
        let m = collect(&mut c, &[b"body"]);
        assert!(
            m.bytes()
                .unwrap()
                .starts_with(b"Received: x\r\nSubject: hello\r\n")
        );
        assert_eq!(m.body_len(), 4);
        let m = collect(&mut c, &[b"again"]);
        assert!(
            m.bytes()
                .unwrap()
                .starts_with(b"Received: x\r\nSubject: hello\r\n")
        );
    }

    #[test]
    fn macros_are_bounded() {
        let mut c = Collector::new(Limits {
            max_macros: 2,
            ..Limits::default()
        });
        c.macros([
            (&b"a"[..], &b"1"[..]),
            (b"b", b"2"),
            (b"c", b"3"),
            (b"a", b"4"),
        ]);
        assert_eq!(c.envelope().macros.len(), 2);
        assert_eq!(c.envelope().macro_value("a"), Some("4"));
        assert_eq!(c.envelope().macro_value("{c}"), None);
    }
}
