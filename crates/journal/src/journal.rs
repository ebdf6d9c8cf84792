//! The journal writer: append-only segments, group commit, checkpoints, rotation, retention,
//! crash recovery; and the reader used by the store and `log tail`.
//!
//! Files under `DATA_DIR/journal/`:
//!
//! * `seg-NNNNNNNNNNNNNNNN.mj`: segments, numbered from 1 without gaps (see `frame.rs`);
//! * `head`: the latest signed checkpoint, rewritten atomically, so that cutting off the end of
//!   the journal (including its last checkpoints) is noticed;
//! * `anchor`: written by retention before deleting old segments: a signed statement of where the
//!   journal now starts;
//! * `lock`: held by the one writer.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::JournalError;
use crate::event::{Event, EventId, now_ns};
use crate::fold::{FoldOptions, Folder, Offer};
use crate::frame::{
    self, FrameError, FrameType, GENESIS, HEADER_LEN, Hash, SegmentHeader, encode_frame,
};
use crate::keys::{self, Anchor, Checkpoint, HostKey};

/// How the journal commits, checkpoints, rotates and forgets.
#[derive(Debug, Clone)]
pub struct JournalOptions {
    /// Group-commit window: appends arriving within it share one write and one `fdatasync`.
    /// A crash loses at most the appends of the current window that were not acknowledged.
    pub commit_window: Duration,
    /// Sign a checkpoint after this many frames...
    pub checkpoint_records: u64,
    /// ...or this long after the last one, whichever comes first.
    pub checkpoint_interval: Duration,
    /// Start a new segment once the current one is this big.
    pub segment_bytes: u64,
    /// Start a new segment once the current one is this old.
    pub segment_age: Duration,
    /// Delete the oldest sealed segments while all segments together are bigger than this.
    pub retention_bytes: Option<u64>,
    /// Delete sealed segments whose newest record is older than this.
    pub retention_age: Option<Duration>,
    /// Host name stamped on events that have none (default: the kernel's host name).
    pub host: Option<String>,
    /// Fold repeated identical events (`None`: record every one).
    pub fold: Option<FoldOptions>,
    /// Appends wait when this many bytes are waiting to be written (bounded memory).
    pub max_pending_bytes: usize,
    /// Share the journal with the other Mamori processes of the host: the process that holds
    /// the journal serves `journal/append.sock`, and a process that finds the journal held by
    /// another sends its events there instead of failing with [`JournalError::Locked`] (the
    /// agent, the gateways, the print backend and `scan --record` on one data directory).
    pub relay: bool,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            commit_window: Duration::from_millis(2),
            checkpoint_records: 10_000,
            checkpoint_interval: Duration::from_secs(1),
            segment_bytes: 64 * 1024 * 1024,
            segment_age: Duration::from_secs(24 * 3600),
            retention_bytes: None,
            retention_age: None,
            host: None,
            fold: None,
            max_pending_bytes: 32 * 1024 * 1024,
            relay: true,
        }
    }
}

/// Where a reader is in the journal: the next frame to read.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Cursor {
    /// Segment number.
    pub segment: u64,
    /// Byte offset of the next frame in that segment (0: just after the header).
    pub offset: u64,
}

/// A note the journal wrote about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// What happened: `recovered` (a torn tail was cut after a crash).
    pub note: String,
    /// Segment concerned.
    pub segment: u64,
    /// Byte offset concerned.
    pub offset: u64,
    /// Bytes removed.
    pub bytes: u64,
    /// When.
    pub time_ns: i64,
}

/// The directory holding the segments.
pub fn journal_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("journal")
}

/// The file name of a segment.
pub fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("seg-{segment:016}.mj"))
}

/// The segments present, sorted by number. Files that are not segments are ignored.
pub fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(JournalError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| JournalError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(num) = name
            .strip_prefix("seg-")
            .and_then(|n| n.strip_suffix(".mj"))
        else {
            continue;
        };
        if num.len() == 16
            && let Ok(n) = num.parse::<u64>()
        {
            out.push((n, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Reads the `head` file (the latest checkpoint), if any.
pub fn read_head(dir: &Path) -> Result<Option<Checkpoint>, JournalError> {
    read_json(&dir.join("head"))
}

/// Reads the `anchor` file (left by retention), if any.
pub fn read_anchor(dir: &Path) -> Result<Option<Anchor>, JournalError> {
    read_json(&dir.join("anchor"))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, JournalError> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| JournalError::Corrupt {
                path: path.to_path_buf(),
                offset: 0,
                reason: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(JournalError::io(path, e)),
    }
}

/// What a scan of one segment found.
#[derive(Debug, Clone)]
pub(crate) struct SegmentScan {
    /// Offset just after the last good frame.
    pub good_end: u64,
    pub file_len: u64,
    /// Seq and hash of the last good frame (or the header's predecessor).
    pub last_seq: u64,
    pub last_hash: Hash,
}

pub(crate) fn scan_segment(path: &Path) -> Result<SegmentScan, JournalError> {
    let bytes = fs::read(path).map_err(|e| JournalError::io(path, e))?;
    let header = SegmentHeader::decode(&bytes).map_err(|e| JournalError::Corrupt {
        path: path.to_path_buf(),
        offset: 0,
        reason: e.to_string(),
    })?;
    let mut pos = HEADER_LEN;
    let mut last_seq = header.first_seq.saturating_sub(1);
    let mut last_hash = header.prev_hash;
    while pos < bytes.len() {
        match frame::decode_frame(&bytes[pos..]) {
            Ok(f) => {
                last_seq = f.seq;
                last_hash = f.hash();
                pos += f.len;
            }
            Err(_) => break,
        }
    }
    Ok(SegmentScan {
        good_end: pos as u64,
        file_len: bytes.len() as u64,
        last_seq,
        last_hash,
    })
}

/// The tamper-evident journal, open for appending. One writer per data directory (a lock file
/// enforces it). Dropping it flushes, signs a final checkpoint and stops the writer thread.
///
/// ```
/// use mamori_journal::{Event, Journal, JournalOptions, Operation};
/// let dir = tempfile::tempdir()?;
/// let journal = Journal::open(dir.path(), JournalOptions::default())?;
/// let id = journal.append_durable(Event::new(Operation::Open).with_path("/srv/plan.docx"))?;
/// drop(journal);
/// let report = mamori_journal::verify(dir.path())?;
/// assert!(report.is_intact());
/// assert_eq!(report.events, 1);
/// # let _ = id;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    mode: Mode,
}

#[derive(Debug)]
enum Mode {
    /// This process holds the journal: it writes the segments (and serves relayed appends).
    Owner {
        shared: Arc<Shared>,
        flusher: Option<JoinHandle<()>>,
        relay: Option<crate::relay::Server>,
        _lock: File,
    },
    /// Another process holds it: appends go to it through its socket, each made durable there.
    Relayed(crate::relay::Client),
}

#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Wakes the writer thread.
    work: Condvar,
    /// Wakes appenders waiting for durability or for room.
    durable: Condvar,
    options: JournalOptions,
    key: HostKey,
    host: String,
}

#[derive(Debug)]
struct State {
    buf: Vec<u8>,
    next_seq: u64,
    last_hash: Hash,
    durable_seq: u64,
    since_checkpoint: u64,
    last_checkpoint: Instant,
    current_segment: u64,
    /// Set by `flush()` to skip the commit window.
    urgent: bool,
    shutdown: bool,
    error: Option<String>,
    folder: Option<Folder>,
}

impl Journal {
    /// Opens (creating if needed) the journal under `data_dir`, recovering from a crash: a torn
    /// frame after the last signed checkpoint is cut off and a `recovered` note recorded.
    pub fn open(data_dir: &Path, options: JournalOptions) -> Result<Journal, JournalError> {
        let dir = journal_dir(data_dir);
        keys::create_private_dir(&dir)?;
        let lock_path = dir.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| JournalError::io(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                if options.relay
                    && let Ok(client) = crate::relay::Client::connect(&dir)
                {
                    return Ok(Journal {
                        dir,
                        mode: Mode::Relayed(client),
                    });
                }
                return Err(JournalError::Locked { path: lock_path });
            }
            Err(fs::TryLockError::Error(e)) => return Err(JournalError::io(&lock_path, e)),
        }
        let key = HostKey::load_or_create(data_dir)?;
        let host = options.host.clone().unwrap_or_else(host_name);

        let (segment, file, next_seq, last_hash, notes) = recover(&dir)?;
        let size = file
            .metadata()
            .map_err(|e| JournalError::io(&dir, e))?
            .len();
        let mut state = State {
            buf: Vec::with_capacity(1 << 20),
            next_seq,
            last_hash,
            durable_seq: next_seq - 1,
            since_checkpoint: 0,
            // Due at once: the first batch after open is signed, so that even a writer that
            // lives less than one checkpoint interval leaves a signed checkpoint.
            last_checkpoint: Instant::now()
                .checked_sub(options.checkpoint_interval)
                .unwrap_or_else(Instant::now),
            current_segment: segment,
            urgent: false,
            shutdown: false,
            error: None,
            folder: options.fold.clone().map(Folder::new),
        };
        for note in notes {
            let payload = serde_json::to_vec(&note).unwrap_or_default();
            state.push_frame(FrameType::Note, &payload);
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            work: Condvar::new(),
            durable: Condvar::new(),
            options,
            key,
            host,
        });
        let writer = Writer {
            shared: Arc::clone(&shared),
            dir: dir.clone(),
            file,
            segment,
            segment_size: size,
            segment_started: Instant::now(),
        };
        let flusher = std::thread::Builder::new()
            .name("mamori-journal".into())
            .spawn(move || writer.run())
            .map_err(|e| JournalError::io(&dir, e))?;
        let relay = if shared.options.relay {
            Some(crate::relay::Server::start(&dir, Arc::clone(&shared))?)
        } else {
            None
        };
        Ok(Journal {
            dir,
            mode: Mode::Owner {
                shared,
                flusher: Some(flusher),
                relay,
                _lock: lock,
            },
        })
    }

    /// True when another process holds the journal and this one relays its appends to it.
    pub fn is_relayed(&self) -> bool {
        matches!(self.mode, Mode::Relayed(_))
    }

    /// The directory holding the segments.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends an event and returns its id at once; it becomes durable within the commit
    /// window. A folded repetition returns the id of the event it was folded into. (Relayed,
    /// it returns once the holder has made it durable.)
    pub fn append(&self, event: Event) -> Result<EventId, JournalError> {
        match &self.mode {
            Mode::Owner { shared, .. } => shared.append(event).map(|(id, _)| id),
            Mode::Relayed(client) => client.append(&event),
        }
    }

    /// Appends an event and returns once it is on disk (`fdatasync`ed).
    pub fn append_durable(&self, event: Event) -> Result<EventId, JournalError> {
        match &self.mode {
            Mode::Owner { shared, .. } => shared.append_durable(event),
            Mode::Relayed(client) => client.append(&event),
        }
    }

    /// Returns once everything appended so far is on disk.
    pub fn flush(&self) -> Result<(), JournalError> {
        let Mode::Owner { shared, .. } = &self.mode else {
            // Every relayed append was acknowledged only once durable.
            return Ok(());
        };
        let seq = {
            let mut st = shared.lock();
            st.urgent = true;
            shared.work.notify_one();
            st.next_seq - 1
        };
        shared.wait_durable(seq)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends and waits until the event is on disk (a folded one returns at once).
    pub(crate) fn append_durable(&self, event: Event) -> Result<EventId, JournalError> {
        let (id, seq) = self.append(event)?;
        if let Some(seq) = seq {
            self.wait_durable(seq)?;
        }
        Ok(id)
    }

    fn append(&self, mut event: Event) -> Result<(EventId, Option<u64>), JournalError> {
        if event.host.is_empty() {
            event.host.clone_from(&self.host);
        }
        let mut st = self.lock();
        while st.error.is_none() && !st.shutdown && st.buf.len() > self.options.max_pending_bytes {
            st = self.durable.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        if let Some(e) = &st.error {
            return Err(JournalError::Failed(e.clone()));
        }
        if st.shutdown {
            return Err(JournalError::Failed("the journal is closing".into()));
        }
        if let Some(folder) = st.folder.as_mut() {
            match folder.offer(&event) {
                Offer::Pass => {}
                Offer::Folded(first) => return Ok((first, None)),
            }
        }
        let id = event.id;
        let payload =
            serde_json::to_vec(&event).map_err(|e| JournalError::Failed(e.to_string()))?;
        let was_empty = st.buf.is_empty();
        let seq = st.push_frame(FrameType::Event, &payload);
        if was_empty {
            self.work.notify_one();
        }
        Ok((id, Some(seq)))
    }

    fn wait_durable(&self, seq: u64) -> Result<(), JournalError> {
        let mut st = self.lock();
        loop {
            if st.durable_seq >= seq {
                return Ok(());
            }
            if let Some(e) = &st.error {
                return Err(JournalError::Failed(e.clone()));
            }
            st = self.durable.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        let Mode::Owner {
            shared,
            flusher,
            relay,
            ..
        } = &mut self.mode
        else {
            return;
        };
        // Stop taking relayed appends first, so that every one acknowledged is written.
        drop(relay.take());
        {
            let mut st = shared.lock();
            st.shutdown = true;
            shared.work.notify_one();
        }
        if let Some(handle) = flusher.take() {
            let _ = handle.join();
        }
    }
}

impl State {
    fn push_frame(&mut self, frame_type: FrameType, payload: &[u8]) -> u64 {
        let seq = self.next_seq;
        self.last_hash = encode_frame(&mut self.buf, frame_type, seq, &self.last_hash, payload);
        self.next_seq += 1;
        self.since_checkpoint += 1;
        seq
    }

    fn push_checkpoint(&mut self, key: &HostKey) -> Checkpoint {
        let covered = self.next_seq - 1;
        let cp = key.checkpoint(self.current_segment, covered, &self.last_hash, now_ns());
        let payload = serde_json::to_vec(&cp).unwrap_or_default();
        self.push_frame(FrameType::Checkpoint, &payload);
        self.since_checkpoint = 0;
        self.last_checkpoint = Instant::now();
        cp
    }
}

/// The writer thread's own state: the open segment.
struct Writer {
    shared: Arc<Shared>,
    dir: PathBuf,
    file: File,
    segment: u64,
    segment_size: u64,
    segment_started: Instant,
}

impl Writer {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run(mut self) {
        let opts = self.shared.options.clone();
        let mut spare = Vec::with_capacity(1 << 20);
        loop {
            let mut st = self.lock();
            // Sleep until there is something to write, a checkpoint or a fold to close is due,
            // or we are asked to stop.
            loop {
                let now = Instant::now();
                let checkpoint_due = st.since_checkpoint > 0
                    && now.duration_since(st.last_checkpoint) >= opts.checkpoint_interval;
                let fold_due = st.folder.as_ref().is_some_and(|f| f.due(now));
                if !st.buf.is_empty() || st.shutdown || checkpoint_due || fold_due {
                    break;
                }
                let mut wait = opts.checkpoint_interval;
                if let Some(f) = &st.folder {
                    wait = wait.min(f.window());
                }
                st = self
                    .shared
                    .work
                    .wait_timeout(st, wait)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
            // Group commit: let more appends join this write.
            if !st.shutdown && !st.urgent && !opts.commit_window.is_zero() {
                drop(st);
                std::thread::sleep(opts.commit_window);
                st = self.lock();
            }
            st.urgent = false;
            let shutdown = st.shutdown;
            let now = Instant::now();
            if let Some(folder) = st.folder.as_mut() {
                let summaries = if shutdown {
                    folder.drain()
                } else {
                    folder.expire(now)
                };
                for mut summary in summaries {
                    if summary.host.is_empty() {
                        summary.host.clone_from(&self.shared.host);
                    }
                    if let Ok(payload) = serde_json::to_vec(&summary) {
                        st.push_frame(FrameType::Event, &payload);
                    }
                }
            }
            let rotate = self.segment_size >= opts.segment_bytes
                || (self.segment_size > HEADER_LEN as u64
                    && self.segment_started.elapsed() >= opts.segment_age);
            let mut checkpoint = None;
            if st.since_checkpoint > 0
                && (st.since_checkpoint >= opts.checkpoint_records
                    || now.duration_since(st.last_checkpoint) >= opts.checkpoint_interval
                    || rotate
                    || shutdown)
            {
                checkpoint = Some(st.push_checkpoint(&self.shared.key));
            }
            std::mem::swap(&mut st.buf, &mut spare);
            let last_seq = st.next_seq - 1;
            let last_hash = st.last_hash;
            drop(st);

            let result = self.write_batch(&spare, checkpoint.as_ref());
            let result = result.and_then(|()| {
                if rotate && checkpoint.is_some() {
                    self.rotate(last_seq, last_hash)
                } else {
                    Ok(())
                }
            });
            spare.clear();
            if spare.capacity() > 8 << 20 {
                spare.shrink_to(1 << 20);
            }
            let mut st = self.lock();
            match result {
                Ok(()) => {
                    st.durable_seq = st.durable_seq.max(last_seq);
                    st.current_segment = self.segment;
                }
                Err(e) => st.error = Some(e.to_string()),
            }
            self.shared.durable.notify_all();
            if shutdown && st.buf.is_empty() || st.error.is_some() {
                return;
            }
        }
    }

    fn write_batch(
        &mut self,
        bytes: &[u8],
        checkpoint: Option<&Checkpoint>,
    ) -> Result<(), JournalError> {
        let path = segment_path(&self.dir, self.segment);
        if !bytes.is_empty() {
            self.file
                .write_all(bytes)
                .map_err(|e| JournalError::io(&path, e))?;
            self.file
                .sync_data()
                .map_err(|e| JournalError::io(&path, e))?;
            self.segment_size += bytes.len() as u64;
        }
        if let Some(cp) = checkpoint {
            let json = serde_json::to_vec(cp).unwrap_or_default();
            keys::write_file(&self.dir.join("head"), &json, 0o600)?;
        }
        Ok(())
    }

    fn rotate(&mut self, last_seq: u64, last_hash: Hash) -> Result<(), JournalError> {
        let next = self.segment + 1;
        self.file = create_segment(&self.dir, next, last_seq + 1, last_hash)?;
        self.segment = next;
        self.segment_size = HEADER_LEN as u64;
        self.segment_started = Instant::now();
        self.apply_retention()
    }

    fn apply_retention(&mut self) -> Result<(), JournalError> {
        let opts = &self.shared.options;
        if opts.retention_bytes.is_none() && opts.retention_age.is_none() {
            return Ok(());
        }
        let segments = list_segments(&self.dir)?;
        let mut sizes = Vec::new();
        for (n, path) in &segments {
            let meta = fs::metadata(path).map_err(|e| JournalError::io(path, e))?;
            sizes.push((*n, path.clone(), meta.len(), meta.modified().ok()));
        }
        let mut total: u64 = sizes.iter().map(|s| s.2).sum();
        let mut delete = Vec::new();
        for (n, path, len, modified) in &sizes {
            if *n >= self.segment {
                break; // never the open segment
            }
            let too_big = opts.retention_bytes.is_some_and(|max| total > max);
            let too_old = match (opts.retention_age, modified) {
                (Some(age), Some(m)) => m.elapsed().is_ok_and(|e| e > age),
                _ => false,
            };
            if !(too_big || too_old) {
                break; // delete only from the start, so the journal stays one chain
            }
            total -= len;
            delete.push(path.clone());
        }
        let Some(last_deleted) = delete.last() else {
            return Ok(());
        };
        let first_kept = sizes
            .iter()
            .find(|s| s.0 > segment_number(last_deleted))
            .map(|s| s.1.clone())
            .unwrap_or_else(|| segment_path(&self.dir, self.segment));
        let mut head = [0u8; HEADER_LEN];
        File::open(&first_kept)
            .and_then(|mut f| f.read_exact(&mut head))
            .map_err(|e| JournalError::io(&first_kept, e))?;
        let header = SegmentHeader::decode(&head).map_err(|e| JournalError::Corrupt {
            path: first_kept.clone(),
            offset: 0,
            reason: e.to_string(),
        })?;
        let anchor = self.shared.key.anchor(
            header.segment,
            header.first_seq,
            &header.prev_hash,
            now_ns(),
        );
        let json = serde_json::to_vec(&anchor).unwrap_or_default();
        keys::write_file(&self.dir.join("anchor"), &json, 0o600)?;
        for path in &delete {
            fs::remove_file(path).map_err(|e| JournalError::io(path, e))?;
        }
        keys::sync_dir(&self.dir)
    }
}

fn segment_number(path: &Path) -> u64 {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("seg-"))
        .and_then(|n| n.strip_suffix(".mj"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn create_segment(
    dir: &Path,
    segment: u64,
    first_seq: u64,
    prev_hash: Hash,
) -> Result<File, JournalError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = segment_path(dir, segment);
    let header = SegmentHeader {
        segment,
        first_seq,
        prev_hash,
        created_ns: now_ns(),
    };
    let mut file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| JournalError::io(&path, e))?;
    file.write_all(&header.encode())
        .map_err(|e| JournalError::io(&path, e))?;
    file.sync_all().map_err(|e| JournalError::io(&path, e))?;
    keys::sync_dir(dir)?;
    Ok(file)
}

type Recovered = (u64, File, u64, Hash, Vec<Note>);

/// Finds where to continue: the last segment, its last good frame, cutting a torn tail.
fn recover(dir: &Path) -> Result<Recovered, JournalError> {
    let mut segments = list_segments(dir)?;
    // A segment shorter than its header is a creation cut short by a crash: nothing was ever
    // acknowledged in it.
    while let Some((_, path)) = segments.last() {
        let len = fs::metadata(path)
            .map_err(|e| JournalError::io(path, e))?
            .len();
        if len >= HEADER_LEN as u64 {
            break;
        }
        fs::remove_file(path).map_err(|e| JournalError::io(path, e))?;
        segments.pop();
    }
    let Some((segment, path)) = segments.last().cloned() else {
        let anchor_next = read_anchor(dir)?;
        if anchor_next.is_some() {
            return Err(JournalError::Corrupt {
                path: dir.to_path_buf(),
                offset: 0,
                reason: "retention anchor present but every segment is gone".into(),
            });
        }
        let file = create_segment(dir, 1, 1, GENESIS)?;
        return Ok((1, file, 1, GENESIS, Vec::new()));
    };
    let scan = scan_segment(&path)?;
    let mut notes = Vec::new();
    if scan.good_end < scan.file_len {
        let head = read_head(dir).ok().flatten();
        let covered = head.is_some_and(|h| h.seq > scan.last_seq);
        if covered {
            // Damage inside what a signed checkpoint covers is not a crash: leave it for
            // `log verify` to report and continue in a new segment.
            let file = create_segment(dir, segment + 1, scan.last_seq + 1, scan.last_hash)?;
            return Ok((segment + 1, file, scan.last_seq + 1, scan.last_hash, notes));
        }
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| JournalError::io(&path, e))?;
        file.set_len(scan.good_end)
            .map_err(|e| JournalError::io(&path, e))?;
        file.sync_all().map_err(|e| JournalError::io(&path, e))?;
        notes.push(Note {
            note: "recovered".into(),
            segment,
            offset: scan.good_end,
            bytes: scan.file_len - scan.good_end,
            time_ns: now_ns(),
        });
    }
    let mut file = OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(|e| JournalError::io(&path, e))?;
    file.seek(SeekFrom::End(0))
        .map_err(|e| JournalError::io(&path, e))?;
    Ok((segment, file, scan.last_seq + 1, scan.last_hash, notes))
}

/// The kernel's host name.
pub fn host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// One event read back from the journal.
#[derive(Debug, Clone)]
pub struct ReadEvent {
    /// Where it is.
    pub at: Cursor,
    /// Its sequence number.
    pub seq: u64,
    /// The event.
    pub event: Event,
    /// The event's JSON exactly as journalled (empty when the event was not read from a
    /// journal: the store serialises it then).
    pub json: String,
}

/// Reads events from the journal while it is being written: the store's ingest and `log tail`.
#[derive(Debug)]
pub struct JournalReader {
    dir: PathBuf,
    cursor: Cursor,
    /// Frames skipped because they were damaged or not events this version understands.
    pub skipped: u64,
}

impl JournalReader {
    /// A reader starting at `cursor` (`Cursor::default()`: the beginning).
    pub fn new(data_dir: &Path, cursor: Cursor) -> JournalReader {
        JournalReader {
            dir: journal_dir(data_dir),
            cursor,
            skipped: 0,
        }
    }

    /// A reader positioned at the current end of the journal (for `tail -f`): the end of the
    /// last good frame of the last segment, without parsing any event.
    pub fn at_end(data_dir: &Path) -> Result<JournalReader, JournalError> {
        let segments = list_segments(&journal_dir(data_dir))?;
        let cursor = match segments.last() {
            Some((number, path)) => match scan_segment(path) {
                Ok(scan) => Cursor {
                    segment: *number,
                    offset: scan.good_end,
                },
                Err(_) => Cursor {
                    segment: *number,
                    offset: 0,
                },
            },
            None => Cursor::default(),
        };
        Ok(JournalReader::new(data_dir, cursor))
    }

    /// Where the next read starts.
    pub fn cursor(&self) -> Cursor {
        self.cursor
    }

    /// Reads up to `max` events, handing each to `sink`; returns how far it got. An incomplete
    /// frame at the end of the last segment (being written) is left for the next call.
    pub fn read_batch(
        &mut self,
        max: usize,
        sink: &mut dyn FnMut(ReadEvent),
    ) -> Result<BatchInfo, JournalError> {
        let segments = list_segments(&self.dir)?;
        let mut info = BatchInfo::default();
        let Some(pos) = segments.iter().position(|(n, _)| *n >= self.cursor.segment) else {
            return Ok(info);
        };
        if segments[pos].0 != self.cursor.segment {
            // The cursor's segment was removed by retention: continue at the next one.
            self.cursor = Cursor {
                segment: segments[pos].0,
                offset: 0,
            };
        }
        for (i, (number, path)) in segments.iter().enumerate().skip(pos) {
            let is_last = i + 1 == segments.len();
            let mut file = File::open(path).map_err(|e| JournalError::io(path, e))?;
            let start = self.cursor.offset.max(HEADER_LEN as u64);
            if self.cursor.offset == 0 {
                let mut head = [0u8; HEADER_LEN];
                if file.read_exact(&mut head).is_err() {
                    return Ok(info); // being created
                }
            }
            file.seek(SeekFrom::Start(start))
                .map_err(|e| JournalError::io(path, e))?;
            // A window bigger than the largest frame; a batch reads one window at most.
            const WINDOW: usize = 2 * frame::MAX_BODY_LEN;
            let mut bytes = Vec::with_capacity(WINDOW.min(1 << 20));
            file.take(WINDOW as u64)
                .read_to_end(&mut bytes)
                .map_err(|e| JournalError::io(path, e))?;
            let window_full = bytes.len() == WINDOW;
            let mut at = 0usize;
            let mut segment_done = !is_last && !window_full;
            while at < bytes.len() {
                if info.events >= max {
                    segment_done = false;
                    break;
                }
                match frame::decode_frame(&bytes[at..]) {
                    Ok(f) => {
                        let here = Cursor {
                            segment: *number,
                            offset: start + at as u64,
                        };
                        at += f.len;
                        info.frames += 1;
                        if f.frame_type == FrameType::Event {
                            match serde_json::from_slice::<Event>(f.payload) {
                                Ok(event) => {
                                    info.events += 1;
                                    sink(ReadEvent {
                                        at: here,
                                        seq: f.seq,
                                        event,
                                        json: String::from_utf8_lossy(f.payload).into_owned(),
                                    });
                                }
                                Err(_) => self.skipped += 1,
                            }
                        }
                    }
                    Err(FrameError::Incomplete { .. }) if window_full => {
                        segment_done = false; // read window ended mid-frame
                        break;
                    }
                    Err(_) if is_last => {
                        segment_done = false; // being written, or damaged: wait
                        break;
                    }
                    Err(_) => {
                        self.skipped += 1; // damaged sealed segment: `log verify` reports it
                        break;
                    }
                }
            }
            self.cursor = Cursor {
                segment: *number,
                offset: start + at as u64,
            };
            if !segment_done || info.events >= max {
                return Ok(info);
            }
            if let Some((next, _)) = segments.get(i + 1) {
                self.cursor = Cursor {
                    segment: *next,
                    offset: 0,
                };
            }
        }
        Ok(info)
    }
}

/// What one [`JournalReader::read_batch`] call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchInfo {
    /// Frames read.
    pub frames: u64,
    /// Events handed to the sink.
    pub events: usize,
}

impl BatchInfo {
    /// True when nothing new was read.
    pub fn is_empty_batch(&self) -> bool {
        self.frames == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Operation, Process};
    use crate::fold::FoldOptions;

    fn read_all(reader: &mut JournalReader) -> Vec<ReadEvent> {
        let mut out = Vec::new();
        while !reader
            .read_batch(7, &mut |e| out.push(e))
            .unwrap()
            .is_empty_batch()
        {}
        out
    }

    #[test]
    fn reader_follows_rotation_and_resumes_from_its_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let options = JournalOptions {
            segment_bytes: 2048,
            checkpoint_records: 5,
            commit_window: Duration::ZERO,
            ..JournalOptions::default()
        };
        let j = Journal::open(dir.path(), options).unwrap();
        let mut ids = Vec::new();
        for i in 0..60 {
            ids.push(
                j.append_durable(Event::new(Operation::Open).with_path(format!("/p/{i}")))
                    .unwrap(),
            );
        }
        let mut reader = JournalReader::new(dir.path(), Cursor::default());
        let first = read_all(&mut reader);
        assert_eq!(first.iter().map(|r| r.event.id).collect::<Vec<_>>(), ids);
        assert!(first.last().unwrap().at.segment > 1, "rotated");
        // A reader started at the end sees only what comes next.
        let mut tail = JournalReader::at_end(dir.path()).unwrap();
        assert!(read_all(&mut tail).is_empty());
        let next = j.append_durable(Event::new(Operation::Delete)).unwrap();
        let more = read_all(&mut reader);
        assert_eq!(
            more.iter().map(|r| r.event.id).collect::<Vec<_>>(),
            vec![next]
        );
        assert_eq!(read_all(&mut tail).len(), 1);
        assert!(read_all(&mut reader).is_empty());
        // The host name was stamped on every event.
        assert!(more[0].event.host == host_name());
    }

    #[test]
    fn reader_crosses_its_read_window_inside_a_big_segment() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path(), JournalOptions::default()).unwrap();
        let long = "x".repeat(1500);
        let n = 7000; // about 11 MB: more than one read window
        for i in 0..n {
            j.append(Event::new(Operation::Open).with_path(format!("/{i}/{long}")))
                .unwrap();
        }
        j.flush().unwrap();
        let mut reader = JournalReader::new(dir.path(), Cursor::default());
        let mut count = 0;
        while !reader
            .read_batch(100_000, &mut |_| count += 1)
            .unwrap()
            .is_empty_batch()
        {}
        assert_eq!(count, n);
        assert_eq!(list_segments(&journal_dir(dir.path())).unwrap().len(), 1);
    }

    #[test]
    fn one_writer_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let alone = JournalOptions {
            relay: false,
            ..JournalOptions::default()
        };
        let j = Journal::open(dir.path(), alone.clone()).unwrap();
        let err = Journal::open(dir.path(), alone).unwrap_err();
        assert!(matches!(err, JournalError::Locked { .. }), "{err}");
        drop(j);
        Journal::open(dir.path(), JournalOptions::default()).unwrap();
    }

    #[test]
    fn repeated_reads_are_folded_in_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let options = JournalOptions {
            fold: Some(FoldOptions {
                window: Duration::from_secs(3600),
                max_keys: 100,
            }),
            ..JournalOptions::default()
        };
        let j = Journal::open(dir.path(), options).unwrap();
        let read = || {
            Event::new(Operation::Read)
                .with_process(Process {
                    pid: 7,
                    ..Process::default()
                })
                .with_path("/srv/a")
        };
        let first = j.append(read()).unwrap();
        for _ in 0..999 {
            assert_eq!(j.append(read()).unwrap(), first);
        }
        j.append(Event::new(Operation::Read).with_path("/srv/b"))
            .unwrap();
        drop(j); // closing the journal closes open fold windows
        let events: Vec<Event> = read_all(&mut JournalReader::new(dir.path(), Cursor::default()))
            .into_iter()
            .map(|r| r.event)
            .collect();
        assert_eq!(events.len(), 3, "{events:#?}");
        assert_eq!(events[0].id, first);
        let summary = events.iter().find(|e| e.repeat_of == Some(first)).unwrap();
        assert_eq!(summary.count, 999);
        assert!(crate::verify(dir.path()).unwrap().is_intact());
    }

    #[test]
    fn many_threads_append_and_all_is_durable_and_chained() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path(), JournalOptions::default()).unwrap();
        std::thread::scope(|s| {
            for t in 0..4 {
                let j = &j;
                s.spawn(move || {
                    for i in 0..500 {
                        j.append(Event::new(Operation::Write).with_path(format!("/t{t}/{i}")))
                            .unwrap();
                    }
                });
            }
        });
        j.flush().unwrap();
        drop(j);
        let report = crate::verify(dir.path()).unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.events, 2000);
    }
}
