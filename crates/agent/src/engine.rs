//! The running agent: the threads around the two fanotify groups.
//!
//! ```text
//!  kernel ──perm events──▶ reader ──bounded queue per worker (by pid)──▶ workers ──▶ answer
//!                            │  answers at once: own pid, helpers, non-files, queue full
//!                            └─▶ deadline list ──▶ deadline thread answers late events (fail mode)
//!  workers ──classify job──▶ classifier pool (reads the event's fd, never the path) ──▶ cache
//!  kernel ──FID events──▶ notifier ──▶ journal; close-write ──▶ background: re-level, backstop
//!  watchdog: a worker busy (or the reader silent) longer than the limit aborts the process
//! ```
//!
//! Rules that keep the machine alive (NOTES §3–4): the reader thread never opens a file and
//! never logs before answering; every event has exactly one answer (an atomic flag per event,
//! and its fd stays open until every holder is done, so a reused fd number cannot be answered by
//! mistake); all queues are bounded; when the agent dies the kernel lets waiting opens through.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::fd::{AsFd as _, AsRawFd as _, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mamori_journal::{Event, Operation, Process, User};
use mamori_model::Channel;
use mamori_policy::{DecideInput, Destination, LevelId, Policy, Principal};
use sha2::Digest as _;

use crate::cache::{FileKey, Known, LevelCache, Lookup};
use crate::decide::{self, Ground};
use crate::event::{self, info_type};
use crate::mounts::{self, Detector, Reason};
use crate::procinfo::{self, Proc};
use crate::status::{Stats, Status};
use crate::sys::{self, Fanotify, Stat};
use crate::taint::{ProcessKey, TaintTable};
use crate::{AgentError, Assessor, Recorder};

/// What to answer when no decision can be made in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailMode {
    /// Let the open through.
    Open,
    /// Refuse it.
    Closed,
}

/// How the agent runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The trees whose files are classified (source side). A mount point is watched whole; a
    /// directory inside a mount is filtered by path prefix.
    pub watch: Vec<PathBuf>,
    /// Which mounts are controlled (destination side).
    pub detector: Detector,
    /// Where quarantined files go (`DATA_DIR/quarantine`).
    pub quarantine_dir: PathBuf,
    /// Where the status file is written, if anywhere.
    pub status_file: Option<PathBuf>,
    /// Time allowed per decision (default 250 ms).
    pub deadline: Duration,
    /// The answer when the level is not known in time.
    pub fail_unknown: FailMode,
    /// Decisions about content at or above this level fail closed (a level id).
    pub fail_closed_from: Option<String>,
    /// The answer when a worker's queue is full.
    pub queue_full: FailMode,
    /// Worker threads deciding opens.
    pub workers: usize,
    /// Queue length per worker.
    pub queue_depth: usize,
    /// Threads computing levels.
    pub classifiers: usize,
    /// A worker busy longer than this (or a reader silent this long) aborts the agent.
    pub watchdog: Duration,
    /// Paths never decided nor recorded (globs: caches, build trees).
    pub exclude: Vec<String>,
    /// Cache allows of public files in the kernel with evictable ignore marks.
    pub cache_allows: bool,
    /// Refuse what the policy forbids (false: record only, never refuse).
    pub enforce: bool,
    /// Extra pids always allowed (helpers).
    pub helpers: Vec<u32>,
    /// Record the opens the policy allows without a record too (every open on watched trees
    /// and controlled mounts).
    pub audit_all_opens: bool,
    /// A process group's taint lasts at most this long.
    pub taint_group_age: Duration,
    /// Files bigger than this are not hashed (no copy inheritance for them).
    pub max_hash_bytes: u64,
    /// Test hook: a worker that gets an open of a file with this name stops forever (to show
    /// the deadline and the watchdog act). Never set in production.
    pub stall_on: Option<String>,
    /// Device control (kernel uevents), if enabled.
    pub devices: Option<Arc<dyn crate::DeviceHook>>,
    /// Where `mamori justify` drops justifications (a sticky, world-writable, unlistable
    /// directory the agent creates), if enabled.
    pub justify_dir: Option<PathBuf>,
    /// How long an accepted justification allows the copy it names.
    pub justify_window: Duration,
    /// Where the content hashes of classified files are kept across restarts (so a copy made
    /// after a restart still inherits its original's level), if anywhere.
    pub hashes_file: Option<PathBuf>,
}

impl Config {
    /// Defaults for everything but the paths.
    pub fn new(watch: Vec<PathBuf>, detector: Detector, data_dir: &Path) -> Config {
        Config {
            watch,
            detector,
            quarantine_dir: data_dir.join("quarantine"),
            status_file: Some(data_dir.join("agent-status.json")),
            deadline: Duration::from_millis(250),
            fail_unknown: FailMode::Open,
            fail_closed_from: None,
            queue_full: FailMode::Open,
            workers: 2,
            queue_depth: 1024,
            classifiers: 2,
            watchdog: Duration::from_secs(10),
            exclude: Vec::new(),
            cache_allows: true,
            enforce: true,
            helpers: Vec::new(),
            audit_all_opens: false,
            taint_group_age: Duration::from_secs(3600),
            max_hash_bytes: 256 << 20,
            stall_on: None,
            devices: None,
            justify_dir: Some(PathBuf::from("/run/mamori/justify")),
            justify_window: Duration::from_secs(60),
            hashes_file: Some(data_dir.join("agent-classified-hashes")),
        }
    }
}

/// Close-writes waiting for the background job at most (each holds an fd; fewer when the fd
/// limit is low).
const WRITE_QUEUE: usize = 4096;

/// Files up to this size that are not containers are classified by the worker that decides
/// their open (see [`looks_like_container`]).
const INLINE_MAX_BYTES: u64 = 256 << 10;

/// Whether the first bytes say zip (and so OOXML/ODF), gzip, bzip2, xz, zstd, 7z, RAR, OLE2
/// (legacy Office), PDF or tar, or a mail or RTF that may carry them: formats whose inspection
/// can take long for their size.
fn looks_like_container(fd: &OwnedFd) -> bool {
    use std::os::unix::fs::FileExt as _;
    let Ok(file) = dup_file(fd) else {
        return true;
    };
    let mut head = [0u8; 264];
    let n = file.read_at(&mut head, 0).unwrap_or(0);
    let head = &head[..n];
    const MAGICS: &[&[u8]] = &[
        b"PK\x03\x04",
        b"PK\x05\x06",
        b"\x1f\x8b",
        b"BZh",
        b"\xfd7zXZ\x00",
        b"\x28\xb5\x2f\xfd",
        b"7z\xbc\xaf\x27\x1c",
        b"Rar!",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
    ];
    // Text formats that can carry containers inside: mail (base64 attachments) and RTF
    // (embedded objects). Their headers come first.
    const CARRIERS: &[&[u8]] = &[
        b"{\\rtf",
        b"From ",
        b"From:",
        b"Received:",
        b"Return-Path:",
        b"MIME-Version:",
        b"Content-Type:",
        b"Message-ID:",
        b"Date:",
    ];
    let trimmed = head.trim_ascii_start();
    MAGICS.iter().any(|m| head.starts_with(m))
        || CARRIERS
            .iter()
            .any(|c| trimmed.len() >= c.len() && trimmed[..c.len()].eq_ignore_ascii_case(c))
        || head.windows(5).take(1024).any(|w| w == b"%PDF-")
        || head.get(257..262) == Some(b"ustar")
}

/// Largest saved-hashes file read at start (the cache's capacity at ~80 bytes a line is ~10 MB).
const MAX_HASHES_FILE: usize = 32 << 20;

/// What the permission group's mount marks ask for: the decisions, and close-writes. A
/// close-write comes from this group with a file the kernel opened for us, so re-levelling the
/// file needs no open of our own (which would be a permission event of our own, a round trip
/// through the reader for every file an untar writes).
const PERM_MASK: u64 = sys::FAN_OPEN_PERM | sys::FAN_OPEN_EXEC_PERM | sys::FAN_CLOSE_WRITE;
/// The name-reporting group: what needs names (close-writes come from the permission group).
const NOTIFY_MASK: u64 = sys::FAN_CREATE | sys::FAN_RENAME | sys::FAN_DELETE | libc::FAN_ATTRIB;
const IGNORE_FLAGS: libc::c_uint =
    sys::FAN_MARK_ADD | sys::FAN_MARK_INODE | sys::FAN_MARK_IGNORE | sys::FAN_MARK_EVICTABLE;

/// One permission event waiting for its answer.
#[derive(Debug)]
struct Pending {
    fd: OwnedFd,
    answered: AtomicBool,
    /// What the deadline thread answers (updated as the level becomes known).
    fail_allow: AtomicBool,
}

#[derive(Debug)]
struct Job {
    pending: Arc<Pending>,
    pid: u32,
    st: Stat,
    mask: u64,
    deadline: Instant,
}

#[derive(Debug)]
struct ClassifyJob {
    key: FileKey,
    file: File,
    path: PathBuf,
}

/// Where a written file is and who wrote it, once [`Shared::after_write`] has looked.
struct AfterWrite {
    path: PathBuf,
    pid: u32,
}

#[derive(Debug)]
struct WriteJob {
    /// The file as the close-write event gave it (read-only, opened by the kernel).
    file: File,
    pid: u32,
}

/// A controlled mount as the workers see it.
#[derive(Debug, Clone)]
struct Ctrl {
    id: u32,
    channel: Channel,
    mount_point: PathBuf,
    reason: Reason,
    /// The USB stick's identity, for the policy's device conditions and the journal.
    usb: Option<mamori_policy::UsbDevice>,
}

#[derive(Debug, Clone)]
struct Watched {
    dev: u64,
    prefix: PathBuf,
    /// The mount the prefix is on (marked for permission events).
    mount_point: PathBuf,
    /// The prefix is the mount point: every file of the device on this mount is watched, so
    /// the reader can tell without the file's path.
    whole: bool,
}

#[derive(Debug, Default)]
struct MountView {
    by_dev: HashMap<u64, Ctrl>,
    by_id: HashMap<u32, Ctrl>,
    ids: HashSet<u32>,
    watched: Vec<Watched>,
    /// An `O_PATH` fd per marked filesystem, by fsid, to resolve file handles.
    fs: HashMap<[i32; 2], Arc<OwnedFd>>,
}

impl MountView {
    fn watched(&self, dev: u64, path: &Path) -> bool {
        self.watched
            .iter()
            .any(|w| w.dev == dev && path.starts_with(&w.prefix))
    }
    fn controlled_path(&self, path: &Path) -> Option<&Ctrl> {
        self.by_id
            .values()
            .filter(|c| path.starts_with(&c.mount_point))
            .max_by_key(|c| c.mount_point.components().count())
    }
}

/// Why the mount table is read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refresh {
    /// At start: a controlled mount that cannot be marked is an error.
    First,
    /// The kernel said the mounts changed: look at new and gone mounts only.
    Changes,
    /// The configuration changed: look at every mount again.
    Reload,
}

/// What [`Agent::reload`] can change while the agent runs. The other settings (threads,
/// queues, deadlines, fail modes) need a restart.
#[derive(Debug, Clone)]
pub struct Reload {
    /// The trees to watch.
    pub watch: Vec<PathBuf>,
    /// Paths never decided nor recorded (globs).
    pub exclude: Vec<String>,
    /// Which mounts are controlled.
    pub detector: Detector,
}

/// Compiles the exclusion globs; an error names the glob.
fn exclusions(globs: &[String]) -> Result<globset::GlobSet, AgentError> {
    let mut set = globset::GlobSetBuilder::new();
    for g in globs {
        set.add(
            globset::Glob::new(g).map_err(|e| AgentError::Config(format!("--exclude {g}: {e}")))?,
        );
    }
    set.build()
        .map_err(|e| AgentError::Config(format!("--exclude: {e}")))
}

/// The watched trees, canonical; an error names the path.
fn canonical_watch(watch: &[PathBuf]) -> Result<Vec<PathBuf>, AgentError> {
    watch
        .iter()
        .map(|w| std::fs::canonicalize(w).map_err(sys_err(format!("--watch {}", w.display()))))
        .collect()
}

/// An accepted justification: (uid, source, mount id, until, reason, the source's content hash
/// when it was accepted).
type Allowance = (u32, String, u32, Instant, String, Option<[u8; 32]>);

struct Shared {
    cfg: Config,
    perm: Fanotify,
    notif: Option<Fanotify>,
    assessor: Arc<dyn Assessor>,
    recorder: Arc<dyn Recorder>,
    cache: LevelCache,
    /// What [`Shared::save_hashes`] last wrote (or loaded), to write only changes.
    saved_hashes: Mutex<Vec<([u8; 32], LevelId)>>,
    taints: Mutex<TaintTable>,
    mounts: RwLock<MountView>,
    stats: Stats,
    stop: AtomicBool,
    own_pid: u32,
    helpers: Mutex<HashSet<u32>>,
    deadlines: Mutex<VecDeque<(Instant, Arc<Pending>)>>,
    /// Per worker: milliseconds since `epoch` when its current job started, 0 when idle.
    busy: Vec<AtomicU64>,
    reader_beat: AtomicU64,
    epoch: Instant,
    queues: Mutex<Vec<SyncSender<Job>>>,
    queue_len: Vec<AtomicU64>,
    classify_tx: Mutex<Option<SyncSender<ClassifyJob>>>,
    write_tx: Mutex<Option<SyncSender<WriteJob>>>,
    /// Events boxed: a bounded std channel allocates and touches every slot at creation, and
    /// 65,536 inline events (728 bytes each) were 48 MB of the idle agent's memory.
    audit_tx: Mutex<Option<SyncSender<Box<Event>>>>,
    /// Processes to taint once a file's level, not known in time, is computed.
    late: Mutex<HashMap<FileKey, Vec<(ProcessKey, String)>>>,
    /// Paths never decided nor recorded; replaced by [`Agent::reload`].
    excluded: RwLock<globset::GlobSet>,
    /// Which mounts are controlled; replaced by [`Agent::reload`].
    detector: RwLock<Detector>,
    /// The watched trees (canonical); replaced by [`Agent::reload`].
    watch: RwLock<Vec<PathBuf>>,
    /// Refusals a justification can lift: event id -> (uid, classified source, mount id).
    justifiable: Mutex<HashMap<String, (u32, String, u32)>>,
    /// Accepted justifications: (uid, source, mount id, until, reason).
    allowances: Mutex<Vec<Allowance>>,
    proc: Proc,
    /// What the journal says about processes and users, read once per process image.
    who: WhoCache,
    /// Held while the marks are being changed (a reload, the janitor's mount refresh).
    reconfiguring: Mutex<()>,
    fail_closed_from: Option<LevelId>,
}

/// A running agent. Dropping it (or [`Agent::stop`]) stops the threads and closes the groups,
/// which lets every waiting open through.
pub struct Agent {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field(
                "watch",
                &*self.shared.watch.read().unwrap_or_else(|e| e.into_inner()),
            )
            .finish()
    }
}

/// Configured mount points, canonical; an error names the setting and the path.
fn canonical_mounts(paths: &[PathBuf], what: &str) -> Result<Vec<PathBuf>, AgentError> {
    paths
        .iter()
        .map(|p| std::fs::canonicalize(p).map_err(sys_err(format!("--{what} {}", p.display()))))
        .collect()
}

fn sys_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> AgentError {
    let what = what.into();
    move |source| AgentError::Sys { what, source }
}

impl Agent {
    /// Creates both groups, marks the watched trees and the controlled mounts, and starts the
    /// threads.
    pub fn start(
        cfg: Config,
        assessor: Arc<dyn Assessor>,
        recorder: Arc<dyn Recorder>,
    ) -> Result<Agent, AgentError> {
        let fd_limit = match sys::raise_fd_limit() {
            Ok(limit) => {
                if limit < 4096 {
                    eprintln!(
                        "mamori agent: only {limit} open files allowed (LimitNOFILE); a burst of events may be refused by the kernel / ファイル数の上限が低すぎます"
                    );
                }
                limit
            }
            Err(e) => {
                eprintln!("mamori agent: cannot raise the open-file limit: {e}");
                1024
            }
        };
        // Each queued close-write holds an fd: a quarter of the limit at most.
        let write_queue = usize::try_from(fd_limit / 4)
            .unwrap_or(WRITE_QUEUE)
            .clamp(64, WRITE_QUEUE);
        if cfg.workers == 0 || cfg.classifiers == 0 || cfg.queue_depth == 0 {
            return Err(AgentError::Config(
                "workers, classifiers and queue depth must be at least 1".into(),
            ));
        }
        let notif = Fanotify::init(
            sys::FAN_CLASS_NOTIF
                | sys::FAN_CLOEXEC
                | sys::FAN_NONBLOCK
                | sys::FAN_UNLIMITED_QUEUE
                | sys::FAN_UNLIMITED_MARKS
                | sys::FAN_REPORT_DFID_NAME_TARGET,
            (libc::O_RDONLY | libc::O_CLOEXEC) as libc::c_uint,
        )
        .map_err(sys_err("fanotify_init (notification group)"))?;
        let perm = Fanotify::init(
            sys::FAN_CLASS_CONTENT
                | sys::FAN_CLOEXEC
                | sys::FAN_NONBLOCK
                | sys::FAN_UNLIMITED_QUEUE
                | sys::FAN_UNLIMITED_MARKS,
            (libc::O_RDONLY | libc::O_LARGEFILE | libc::O_CLOEXEC) as libc::c_uint,
        )
        .map_err(sys_err(
            "fanotify_init (permission group; needs root / CAP_SYS_ADMIN)",
        ))?;
        // Order matters when the process dies: the kernel releases the files of a dead process
        // last-closed first (task work runs LIFO, fds close in increasing order), and releasing
        // the notification group waits (SRCU) for every opener still inside fsnotify, including
        // openers waiting for the permission group's answer. If the notification group went
        // first, a killed agent would hang in exit and every opener with it (seen in the SIGKILL
        // flood test). The permission group on the higher fd is released first: its release
        // lets every waiting open through, then the notification group goes.
        let perm = if perm.raw_fd() < notif.raw_fd() {
            perm.renumber_above(notif.raw_fd())
                .map_err(sys_err("renumbering the permission group"))?
        } else {
            perm
        };
        let policy = assessor.policy();
        let fail_closed_from = match &cfg.fail_closed_from {
            Some(id) => Some(policy.level_id(id).ok_or_else(|| {
                AgentError::Config(format!(
                    "--fail-closed-from: unknown level `{id}` / レベル `{id}` はポリシーにありません"
                ))
            })?),
            None => None,
        };
        let excluded = exclusions(&cfg.exclude)?;
        let watch = canonical_watch(&cfg.watch)?;
        let epoch = Instant::now();
        let shared = Arc::new(Shared {
            perm,
            notif: Some(notif),
            assessor,
            recorder,
            // 65,536 file versions, about 11 MB when full (heaptrack: the map's buckets are 113
            // bytes an entry, and growing it holds old and new tables at once). Measured with a
            // million files opened once (bench/agent/idle.sh): 1 << 20 entries held 322 MB,
            // 1 << 17 120 MB. Public files are cached in the kernel too (ignore marks), so a
            // miss here costs one inspection, not a stall.
            cache: LevelCache::new(1 << 16),
            saved_hashes: Mutex::new(Vec::new()),
            taints: Mutex::new(TaintTable::new(cfg.taint_group_age)),
            mounts: RwLock::new(MountView::default()),
            stats: Stats::default(),
            stop: AtomicBool::new(false),
            own_pid: std::process::id(),
            helpers: Mutex::new(cfg.helpers.iter().copied().collect()),
            deadlines: Mutex::new(VecDeque::new()),
            busy: (0..cfg.workers).map(|_| AtomicU64::new(0)).collect(),
            reader_beat: AtomicU64::new(0),
            epoch,
            queues: Mutex::new(Vec::new()),
            queue_len: (0..cfg.workers).map(|_| AtomicU64::new(0)).collect(),
            classify_tx: Mutex::new(None),
            write_tx: Mutex::new(None),
            audit_tx: Mutex::new(None),
            late: Mutex::new(HashMap::new()),
            excluded: RwLock::new(excluded),
            detector: RwLock::new(cfg.detector.clone()),
            watch: RwLock::new(watch.clone()),
            justifiable: Mutex::new(HashMap::new()),
            allowances: Mutex::new(Vec::new()),
            proc: Proc::default(),
            who: WhoCache::default(),
            reconfiguring: Mutex::new(()),
            fail_closed_from,
            cfg: Config {
                watch: watch.clone(),
                ..cfg
            },
        });
        // The audit channel first, so the marks below can record (the thread starts later).
        let (audit_tx, audit_rx) = sync_channel::<Box<Event>>(65_536);
        *shared.audit_tx.lock().unwrap_or_else(|e| e.into_inner()) = Some(audit_tx);
        let watched = shared.mark_watched(&watch)?;
        shared
            .mounts
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .watched = watched;
        shared.refresh_mounts(Refresh::First)?;
        if let Some(dir) = &shared.cfg.justify_dir {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::create_dir_all(dir).map_err(sys_err(format!("creating {}", dir.display())))?;
            // Anyone may drop a file; nobody may list the directory or remove another's file.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1733))
                .map_err(sys_err(format!("chmod {}", dir.display())))?;
        }

        let mut threads = Vec::new();
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(f)
                .map_err(sys_err(format!("spawning thread {name}")))
        };
        {
            let s = Arc::clone(&shared);
            threads.push(spawn(
                "mamori-audit",
                Box::new(move || s.audit_loop(audit_rx)),
            )?);
        }
        let (classify_tx, classify_rx) = sync_channel::<ClassifyJob>(256);
        *shared.classify_tx.lock().unwrap_or_else(|e| e.into_inner()) = Some(classify_tx);
        let classify_rx = Arc::new(Mutex::new(classify_rx));
        for i in 0..shared.cfg.classifiers {
            let s = Arc::clone(&shared);
            let rx = Arc::clone(&classify_rx);
            threads.push(spawn(
                &format!("mamori-level-{i}"),
                Box::new(move || s.classify_loop(&rx)),
            )?);
        }
        let (write_tx, write_rx) = sync_channel::<WriteJob>(write_queue);
        *shared.write_tx.lock().unwrap_or_else(|e| e.into_inner()) = Some(write_tx);
        {
            let s = Arc::clone(&shared);
            threads.push(spawn(
                "mamori-background",
                Box::new(move || s.write_loop(write_rx)),
            )?);
        }
        let mut senders = Vec::new();
        for i in 0..shared.cfg.workers {
            let (tx, rx) = sync_channel::<Job>(shared.cfg.queue_depth);
            senders.push(tx);
            let s = Arc::clone(&shared);
            threads.push(spawn(
                &format!("mamori-worker-{i}"),
                Box::new(move || s.worker_loop(i, rx)),
            )?);
        }
        *shared.queues.lock().unwrap_or_else(|e| e.into_inner()) = senders;
        shared.load_hashes();
        for (name, f) in [
            ("mamori-deadline", Shared::deadline_loop as fn(&Shared)),
            ("mamori-watchdog", Shared::watchdog_loop),
            ("mamori-notify", Shared::notify_loop),
            ("mamori-janitor", Shared::janitor_loop),
            ("mamori-devices", Shared::device_loop),
            ("mamori-reader", Shared::reader_loop),
        ] {
            let s = Arc::clone(&shared);
            threads.push(spawn(name, Box::new(move || f(&s)))?);
        }
        shared.record(Event::new(Operation::Service).with_detail(format!(
            "agent started / エージェント開始: watching {}, {} controlled mount(s), enforce={}",
            shared.watch_list(),
            shared.view().by_id.len(),
            shared.cfg.enforce
        )));
        Ok(Agent { shared, threads })
    }

    /// Allows every open by `pid` without a decision (a helper the agent started).
    pub fn add_helper(&self, pid: u32) {
        self.shared
            .helpers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(pid);
    }

    /// The policy changed (the assessor now returns the new one): forget cached levels, taints
    /// and kernel allow caches, and record the change.
    pub fn policy_changed(&self) {
        self.shared.cache.clear();
        self.shared
            .taints
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        // Drop every cached allow: flush the group's ignore marks by re-marking.
        if let Err(e) = self.shared.remark() {
            eprintln!("mamori agent: re-marking after reload failed: {e}");
        }
        let policy = self.shared.assessor.policy();
        self.shared
            .record(Event::new(Operation::PolicyChange).with_detail(format!(
                "policy reloaded / ポリシー再読込: {} v{}",
                policy.name(),
                policy.version()
            )));
    }

    /// Applies a new watch list, exclusions and controlled-mount settings without a restart
    /// (SIGHUP). Everything is checked before anything changes: on an error the agent goes on
    /// as before. Mounts no watched tree or controlled mount needs any more are unmarked;
    /// cached kernel allows are dropped, since an excluded or unwatched path may now be
    /// decided. The change is recorded.
    pub fn reload(&self, new: Reload) -> Result<(), AgentError> {
        let shared = &self.shared;
        let excluded = exclusions(&new.exclude)?;
        let watch = canonical_watch(&new.watch)?;
        let detector = Detector {
            removable: canonical_mounts(&new.detector.removable, "removable")?,
            shares: canonical_mounts(&new.detector.shares, "share")?,
            ..new.detector
        };
        if watch.is_empty() {
            return Err(AgentError::Config(
                "nothing to watch / 監視するパスがありません".into(),
            ));
        }
        // One reconfiguration at a time, and not while the janitor re-reads the mounts.
        let _serial = shared
            .reconfiguring
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let watched = shared.mark_watched(&watch)?;
        let old = std::mem::replace(
            &mut shared
                .mounts
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .watched,
            watched,
        );
        *shared.excluded.write().unwrap_or_else(|e| e.into_inner()) = excluded;
        *shared.detector.write().unwrap_or_else(|e| e.into_inner()) = detector;
        *shared.watch.write().unwrap_or_else(|e| e.into_inner()) = watch;
        shared.refresh_mounts(Refresh::Reload)?;
        // Unmark only now, against the new watch list and the new controlled mounts: a mount
        // that went from watched to controlled keeps its mark throughout (make before break).
        let stale: Vec<PathBuf> = {
            let view = shared.view();
            let mut stale: Vec<PathBuf> = old
                .into_iter()
                .map(|w| w.mount_point)
                .filter(|mp| {
                    !view.watched.iter().any(|w| &w.mount_point == mp)
                        && !view.by_id.values().any(|c| &c.mount_point == mp)
                })
                .collect();
            stale.sort();
            stale.dedup();
            stale
        };
        for mp in &stale {
            let _ = shared
                .perm
                .mark(sys::FAN_MARK_REMOVE | sys::FAN_MARK_MOUNT, PERM_MASK, mp);
        }
        if let Err(e) = shared.remark() {
            eprintln!("mamori agent: re-marking after reload failed: {e}");
        }
        shared.record(Event::new(Operation::Service).with_detail(format!(
            "configuration reloaded / 設定を再読込しました: watching {}, {} controlled mount(s){}",
            shared.watch_list(),
            shared.view().by_id.len(),
            if stale.is_empty() {
                String::new()
            } else {
                format!(
                    ", no longer watched / 監視終了: {}",
                    stale
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        )));
        Ok(())
    }

    /// The current status.
    pub fn status(&self) -> Status {
        self.shared.status()
    }

    /// Stops the threads and closes both groups (waiting opens go through).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Answer everything still waiting, so no opener waits on a closing agent.
        let waiting: Vec<_> = self
            .shared
            .deadlines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        for (_, p) in waiting {
            self.shared.answer(&p, true);
        }
        *self.shared.queues.lock().unwrap_or_else(|e| e.into_inner()) = Vec::new();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.shared.save_hashes();
        *self
            .shared
            .audit_tx
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.shutdown();
        }
    }
}

impl Shared {
    fn is_excluded(&self, path: &Path) -> bool {
        self.excluded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_match(path)
    }

    fn view(&self) -> std::sync::RwLockReadGuard<'_, MountView> {
        self.mounts.read().unwrap_or_else(|e| e.into_inner())
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    // ---------------------------------------------------------------- marks and mounts

    /// Marks the mounts of the watched trees (both groups) and returns what the view keeps of
    /// them. Marking a mount twice is harmless, so a reload may call this with the old trees.
    fn mark_watched(&self, watch: &[PathBuf]) -> Result<Vec<Watched>, AgentError> {
        let (mounts, _) = read_mountinfo();
        let mut watched = Vec::new();
        for w in watch {
            let Some(m) = mounts::mount_of(&mounts, w) else {
                return Err(AgentError::Config(format!(
                    "{}: no mount found for the watched path",
                    w.display()
                )));
            };
            self.perm
                .mark(
                    sys::FAN_MARK_ADD | sys::FAN_MARK_MOUNT,
                    PERM_MASK,
                    &m.mount_point,
                )
                .map_err(sys_err(format!(
                    "fanotify_mark (permission) on {}",
                    m.mount_point.display()
                )))?;
            {
                let mut view = self.mounts.write().unwrap_or_else(|e| e.into_inner());
                self.mark_notify(&m.mount_point, &mut view)?;
            }
            let dev = std::fs::metadata(w)
                .map(|md| std::os::unix::fs::MetadataExt::dev(&md))
                .map_err(sys_err(format!("stat {}", w.display())))?;
            watched.push(Watched {
                dev,
                prefix: w.clone(),
                mount_point: m.mount_point.clone(),
                whole: *w == m.mount_point,
            });
        }
        Ok(watched)
    }

    /// The watched trees, for messages.
    fn watch_list(&self) -> String {
        self.watch
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn mark_notify(&self, mount_point: &Path, view: &mut MountView) -> Result<(), AgentError> {
        let Some(notif) = &self.notif else {
            return Ok(());
        };
        match notif.mark(
            sys::FAN_MARK_ADD | sys::FAN_MARK_FILESYSTEM,
            NOTIFY_MASK,
            mount_point,
        ) {
            Ok(()) => {}
            // FUSE cannot report file ids (ENODEV, measured): no audit of names there, the
            // permission group still decides.
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => return Ok(()),
            Err(e) => {
                return Err(AgentError::Sys {
                    what: format!("fanotify_mark (notification) on {}", mount_point.display()),
                    source: e,
                });
            }
        }
        if let (Ok(fsid), Ok(fd)) = (sys::fsid(mount_point), sys::open_dir(mount_point)) {
            view.fs.insert(fsid, Arc::new(fd));
        }
        Ok(())
    }

    /// Re-reads the mount table; marks controlled mounts that appeared, forgets gone ones.
    fn refresh_mounts(&self, how: Refresh) -> Result<(), AgentError> {
        let first = how == Refresh::First;
        let (mounts, _) = read_mountinfo();
        let controlled = self
            .detector
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .controlled(&mounts);
        let known: HashSet<u32> = self.view().ids.clone();
        let now: HashSet<u32> = controlled.iter().map(|c| c.mount.id).collect();
        if known == now && how == Refresh::Changes {
            return Ok(());
        }
        let mut fresh = Vec::new();
        {
            let mut view = self.mounts.write().unwrap_or_else(|e| e.into_inner());
            for c in &controlled {
                if known.contains(&c.mount.id) {
                    // A reload may control a mount under another channel (removable -> share).
                    if let Some(old) = view.by_id.get(&c.mount.id)
                        && (old.channel != c.channel || old.reason != c.reason)
                    {
                        let ctrl = Ctrl {
                            channel: c.channel,
                            reason: c.reason,
                            ..old.clone()
                        };
                        view.by_dev.insert(c.mount.dev(), ctrl.clone());
                        view.by_id.insert(c.mount.id, ctrl.clone());
                        fresh.push(ctrl);
                    }
                    continue;
                }
                let mp = &c.mount.mount_point;
                if let Err(e) =
                    self.perm
                        .mark(sys::FAN_MARK_ADD | sys::FAN_MARK_MOUNT, PERM_MASK, mp)
                {
                    if first {
                        return Err(AgentError::Sys {
                            what: format!("fanotify_mark on controlled mount {}", mp.display()),
                            source: e,
                        });
                    }
                    eprintln!("mamori agent: cannot mark {}: {e}", mp.display());
                    continue;
                }
                self.mark_notify(mp, &mut view)?;
                // The backstop sees every write to the device, also through a bind mount or
                // another mount namespace (the mount mark above sees only this mount). Not
                // every filesystem takes a filesystem mark (FUSE): the mount mark remains.
                if let Err(e) = self.perm.mark(
                    sys::FAN_MARK_ADD | sys::FAN_MARK_FILESYSTEM,
                    sys::FAN_CLOSE_WRITE,
                    mp,
                ) {
                    eprintln!(
                        "mamori agent: {}: writes seen through this mount only ({e})",
                        mp.display()
                    );
                }
                let ctrl = Ctrl {
                    id: c.mount.id,
                    channel: c.channel,
                    mount_point: mp.clone(),
                    reason: c.reason,
                    usb: c.usb.clone(),
                };
                view.by_dev.insert(c.mount.dev(), ctrl.clone());
                view.by_id.insert(c.mount.id, ctrl.clone());
                view.ids.insert(c.mount.id);
                fresh.push(ctrl);
            }
            let gone: Vec<u32> = known.difference(&now).copied().collect();
            for id in gone {
                if let Some(c) = view.by_id.remove(&id) {
                    view.by_dev.retain(|_, v| v.id != id);
                    view.ids.remove(&id);
                    if how == Refresh::Reload
                        && !view
                            .by_id
                            .values()
                            .any(|o| same_device(&o.mount_point, &c.mount_point))
                    {
                        let _ = self.perm.mark(
                            sys::FAN_MARK_REMOVE | sys::FAN_MARK_FILESYSTEM,
                            sys::FAN_CLOSE_WRITE,
                            &c.mount_point,
                        );
                    }
                    // A mount that is still there but no longer controlled (a reload took it
                    // off the list) stops costing a decision per open, unless a watched tree
                    // lives on it.
                    if how == Refresh::Reload
                        && !view.watched.iter().any(|w| w.mount_point == c.mount_point)
                    {
                        let _ = self.perm.mark(
                            sys::FAN_MARK_REMOVE | sys::FAN_MARK_MOUNT,
                            PERM_MASK,
                            &c.mount_point,
                        );
                    }
                    fresh.push(Ctrl { id: u32::MAX, ..c });
                }
            }
        }
        for c in fresh {
            let attached = c.id != u32::MAX;
            let mut e = Event::new(Operation::Mount);
            if let Some(d) = journal_destination(&c) {
                e = e.with_destination(d);
            }
            self.record(
                e.with_path(c.mount_point.display().to_string())
                    .with_channel(c.channel)
                    .with_detail(format!(
                        "{} controlled mount ({:?}) / 管理対象のマウント{}",
                        if attached { "new" } else { "gone:" },
                        c.reason,
                        if attached {
                            "を検出"
                        } else {
                            "が外れました"
                        }
                    )),
            );
        }
        Ok(())
    }

    /// Re-adds every mark after flushing the permission group (drops the kernel allow cache).
    fn remark(&self) -> std::io::Result<()> {
        // FLUSH removes inode marks (the ignore marks) without touching mount marks.
        self.perm
            .mark(sys::FAN_MARK_FLUSH, 0, Path::new("/"))
            .or_else(|e| {
                if e.raw_os_error() == Some(libc::EINVAL) {
                    Ok(())
                } else {
                    Err(e)
                }
            })
    }

    // ---------------------------------------------------------------- answering

    /// Answers `p` once; later calls do nothing. Returns whether this call answered.
    fn answer(&self, p: &Pending, allow: bool) -> bool {
        if p.answered.swap(true, Ordering::AcqRel) {
            return false;
        }
        let allow = allow || !self.cfg.enforce;
        if let Err(e) = self.perm.respond(p.fd.as_raw_fd(), allow) {
            // ENOENT: the kernel no longer waits for it (the opener was killed).
            if e.raw_os_error() != Some(libc::ENOENT) {
                eprintln!("mamori agent: answering the kernel failed: {e}");
            }
        }
        Stats::inc(if allow {
            &self.stats.allowed
        } else {
            &self.stats.denied
        });
        true
    }

    fn reader_loop(&self) {
        let mut buf = vec![0u8; 256 * 1024];
        while !self.stopping() {
            self.reader_beat.store(self.now_ms(), Ordering::Relaxed);
            match self.perm.wait(Duration::from_millis(200)) {
                Ok(false) => continue,
                Ok(true) => {}
                Err(e) => {
                    eprintln!("mamori agent: poll on the permission group failed: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            }
            let n = match self.perm.read(&mut buf) {
                Ok(n) => n,
                Err(e) => {
                    eprintln!("mamori agent: reading the permission group failed: {e}");
                    continue;
                }
            };
            for ev in event::parse(&buf[..n]) {
                let ev = match ev {
                    Ok(ev) => ev,
                    Err(e) => {
                        Stats::inc(&self.stats.parse_errors);
                        eprintln!("mamori agent: {e}");
                        break;
                    }
                };
                if ev.mask & sys::FAN_Q_OVERFLOW != 0 {
                    Stats::inc(&self.stats.overflows);
                }
                if ev.fd < 0 {
                    continue;
                }
                // SAFETY: the kernel just gave us this fd with the event; nobody else owns it.
                let fd = unsafe { sys::own_fd(ev.fd) };
                if ev.mask & (sys::FAN_OPEN_PERM | sys::FAN_OPEN_EXEC_PERM) == 0 {
                    if ev.mask & sys::FAN_CLOSE_WRITE != 0 {
                        self.on_close_write(fd, ev.pid.max(0) as u32);
                    }
                    continue;
                }
                Stats::inc(&self.stats.perm_events);
                let pending = Arc::new(Pending {
                    fd,
                    answered: AtomicBool::new(false),
                    fail_allow: AtomicBool::new(self.cfg.fail_unknown == FailMode::Open),
                });
                self.dispatch(pending, ev.pid, ev.mask);
            }
        }
    }

    /// A file was closed after writing: re-level (and on a controlled mount, check) it in the
    /// background. The queue is bounded; a full queue drops the job (counted), the next open
    /// then classifies the file.
    fn on_close_write(&self, fd: OwnedFd, pid: u32) {
        if pid == self.own_pid {
            return;
        }
        Stats::inc(&self.stats.notify_events);
        let tx = self.write_tx.lock().unwrap_or_else(|e| e.into_inner());
        let refused = match tx.as_ref() {
            Some(tx) => match tx.try_send(WriteJob {
                file: File::from(fd),
                pid,
            }) {
                Ok(()) => None,
                Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => Some(job),
            },
            None => None,
        };
        drop(tx);
        if let Some(job) = refused {
            Stats::inc(&self.stats.writes_dropped);
            // A write to a controlled device the backstop cannot check now: say so, loudly.
            if let Ok(st) = sys::fstat(job.file.as_fd())
                && let Some(ctrl) = self.view().by_dev.get(&st.dev).cloned()
            {
                let path = sys::fd_path(job.file.as_raw_fd())
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                self.record(
                    self.event(Operation::Write, pid, self.audit_uid(pid))
                        .with_path(path)
                        .with_channel(ctrl.channel)
                        .with_detail(
                            "not checked: the backstop's queue was full / キューが満杯のため未検査",
                        ),
                );
            }
        }
    }

    /// The reader's part: answer at once what needs no decision, queue the rest.
    fn dispatch(&self, pending: Arc<Pending>, pid: i32, mask: u64) {
        let pid = pid.max(0) as u32;
        if pid == self.own_pid
            || self
                .helpers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&pid)
        {
            self.answer(&pending, true);
            Stats::inc(&self.stats.fast_allowed);
            return;
        }
        let st = match sys::fstat(pending.fd.as_fd()) {
            Ok(st) if st.is_file() => st,
            _ => {
                self.answer(&pending, true);
                Stats::inc(&self.stats.fast_allowed);
                return;
            }
        };
        // A file known to be public, on a tree watched whole and not controlled: allow here,
        // without a worker (the same answer the worker would give, and cache it in the kernel).
        // Memory only: a map lookup under a short lock, no file opened, nothing logged.
        if self.cfg.stall_on.is_none()
            && mask & sys::FAN_OPEN_EXEC_PERM == 0
            && (self.known_public(&st) || self.empty_and_public(&st, &pending.fd))
        {
            self.cache_allow_fd(&st, pending.fd.as_fd());
            self.answer(&pending, true);
            Stats::inc(&self.stats.fast_allowed);
            return;
        }
        let deadline = Instant::now() + self.cfg.deadline;
        self.deadlines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back((deadline, Arc::clone(&pending)));
        let queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        if queues.is_empty() {
            drop(queues);
            self.answer(&pending, true);
            return;
        }
        let w = pid as usize % queues.len();
        let job = Job {
            pending,
            pid,
            st,
            mask,
            deadline,
        };
        match queues[w].try_send(job) {
            Ok(()) => {
                self.queue_len[w].fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(job)) | Err(TrySendError::Disconnected(job)) => {
                drop(queues);
                Stats::inc(&self.stats.queue_full);
                self.answer(&job.pending, self.cfg.queue_full == FailMode::Open);
            }
        }
    }

    fn deadline_loop(&self) {
        while !self.stopping() {
            let mut sleep = Duration::from_millis(20);
            {
                let now = Instant::now();
                let mut list = self.deadlines.lock().unwrap_or_else(|e| e.into_inner());
                while let Some((at, p)) = list.front() {
                    if p.answered.load(Ordering::Acquire) {
                        list.pop_front();
                        continue;
                    }
                    if *at <= now {
                        let allow = p.fail_allow.load(Ordering::Acquire);
                        if self.answer(p, allow) {
                            Stats::inc(&self.stats.deadline_expired);
                        }
                        list.pop_front();
                        continue;
                    }
                    sleep = sleep.min(*at - now);
                    break;
                }
            }
            std::thread::sleep(sleep.max(Duration::from_millis(1)));
        }
    }

    fn watchdog_loop(&self) {
        let limit = self.cfg.watchdog.as_millis() as u64;
        while !self.stopping() {
            std::thread::sleep(Duration::from_millis(100));
            let now = self.now_ms();
            for (i, b) in self.busy.iter().enumerate() {
                let since = b.load(Ordering::Relaxed);
                if since != 0 && now.saturating_sub(since) > limit {
                    eprintln!(
                        "mamori agent: worker {i} stalled for {} ms; aborting so the kernel lets waiting opens through / ワーカーが停止したため終了します",
                        now - since
                    );
                    std::process::abort();
                }
            }
            let beat = self.reader_beat.load(Ordering::Relaxed);
            if beat != 0 && now.saturating_sub(beat) > limit {
                eprintln!(
                    "mamori agent: the reader thread stalled for {} ms; aborting / 読み取りスレッドが停止したため終了します",
                    now - beat
                );
                std::process::abort();
            }
        }
    }

    // ---------------------------------------------------------------- deciding

    fn worker_loop(&self, index: usize, rx: Receiver<Job>) {
        let mut principals: HashMap<u32, Principal> = HashMap::new();
        loop {
            let job = match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    if self.stopping() {
                        return;
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            };
            self.queue_len[index].fetch_sub(1, Ordering::Relaxed);
            if job.pending.answered.load(Ordering::Acquire) {
                continue; // answered by the deadline or at shutdown
            }
            self.busy[index].store(self.now_ms(), Ordering::Relaxed);
            if principals.len() > 4096 {
                principals.clear();
            }
            self.decide(job, &mut principals);
            self.busy[index].store(0, Ordering::Relaxed);
        }
    }

    fn principal(&self, uid: u32, cache: &mut HashMap<u32, Principal>) -> Principal {
        cache
            .entry(uid)
            .or_insert_with(|| {
                let name = procinfo::user_name(uid).unwrap_or_else(|| uid.to_string());
                let groups = groups_of(&name, uid);
                Principal::new(name).with_uid(uid).with_groups(groups)
            })
            .clone()
    }

    fn process_key(&self, pid: u32) -> ProcessKey {
        match self.proc.stat(pid) {
            Some(s) => ProcessKey {
                pid,
                start: s.start,
                pgid: s.pgid,
            },
            None => ProcessKey {
                pid,
                start: 0,
                pgid: 0,
            },
        }
    }

    fn decide(&self, job: Job, principals: &mut HashMap<u32, Principal>) {
        let now = Instant::now();
        let fd = job.pending.fd.as_raw_fd();
        let path = sys::fd_path(fd).unwrap_or_default();
        if let Some(name) = &self.cfg.stall_on
            && path.file_name().is_some_and(|n| n == name.as_str())
        {
            // Test hook: behave like a worker stuck in a system call.
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        if self.is_excluded(&path) {
            self.answer(&job.pending, true);
            return;
        }
        let exec = job.mask & sys::FAN_OPEN_EXEC_PERM != 0;
        let pkey = self.process_key(job.pid);
        let uid = self.proc.uid(job.pid).unwrap_or(job.st.uid);
        let principal = self.principal(uid, principals);
        let policy = self.assessor.policy();
        let path_text = path.display().to_string();

        // Destination side: a file on a controlled mount.
        let ctrl = self.view().by_dev.get(&job.st.dev).cloned();
        if let Some(ctrl) = ctrl {
            let taint = self
                .taints
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .lookup(pkey, now)
                .cloned();
            if let Some(t) = &taint {
                job.pending
                    .fail_allow
                    .store(self.fails_open(t.level), Ordering::Release);
            }
            let dest = destination_of(&ctrl, &path);
            let mut ans = decide::destination(
                &policy,
                taint.as_ref().map(|t| t.level),
                ctrl.channel,
                &principal,
                &dest,
            );
            // `justify`: a justification accepted for this person, source and mount lifts it.
            let justified = match (&taint, ans.verdict) {
                (Some(t), Some(v)) if !ans.allow && v.action == mamori_model::Action::Justify => {
                    self.allowance(uid, &t.source, ctrl.id, now)
                }
                _ => None,
            };
            if justified.is_some() {
                ans.allow = true;
            }
            // A refused process exits at once: read what the journal needs about it first.
            let process = (ans.record || self.cfg.audit_all_opens).then(|| self.process(job.pid));
            let refused = !ans.allow && self.cfg.enforce;
            let started_ns = refused.then(|| process_started_ns(job.pid)).flatten();
            self.answer(&job.pending, ans.allow);
            // After answering: clean up, record, tell.
            if refused {
                // `O_CREAT` runs before the permission check: a refused open that had just
                // created an empty file leaves it behind; remove it, so nothing lands at all.
                remove_if_empty_and_made_since(&path, job.pending.fd.as_fd(), started_ns);
            }
            if ans.record || self.cfg.audit_all_opens {
                let level = taint.as_ref().map(|t| t.level);
                let op = if taint.is_some() {
                    Operation::Copy
                } else {
                    Operation::Open
                };
                let process = process.unwrap_or_else(|| self.process(job.pid));
                let mut e = self.event_for(op, process, uid).with_channel(ctrl.channel);
                if let Some(d) = journal_destination(&ctrl) {
                    e = e.with_destination(d);
                }
                match &taint {
                    Some(t) => {
                        e = e
                            .with_path(t.source.clone())
                            .with_new_path(path_text.clone())
                            .with_detail(format!(
                                "process tainted by {} / 機密ファイルを開いたプロセスによる書き出し",
                                t.source
                            ));
                    }
                    None => e = e.with_path(path_text.clone()),
                }
                if let Some(level) = level {
                    e = e.with_decision(policy.decide(&DecideInput {
                        level,
                        channel: ctrl.channel,
                        principal: &principal,
                        destination: &dest,
                    }));
                    e = e.with_level(policy.level(level).id.clone());
                }
                if let Some(reason) = &justified {
                    e = e.with_detail(format!(
                        "justified / 理由あり: {reason} (tainted by {})",
                        taint.as_ref().map_or("", |t| t.source.as_str())
                    ));
                }
                let justifiable =
                    refused && ans.verdict.map(|v| v.action) == Some(mamori_model::Action::Justify);
                if let (true, Some(t)) = (justifiable, &taint) {
                    let mut map = self.justifiable.lock().unwrap_or_else(|e| e.into_inner());
                    if map.len() > 10_000 {
                        map.clear();
                    }
                    map.insert(e.id.to_string(), (uid, t.source.clone(), ctrl.id));
                    drop(map);
                    let id = e.id.to_string();
                    self.recorder.tell_user(
                        uid,
                        &format!(
                            "業務上の理由があれば次を実行して再試行してください: mamori justify {id} \"理由\""
                        ),
                        &format!(
                            "With a business reason, run this and try again: mamori justify {id} \"reason\""
                        ),
                    );
                }
                self.record(e);
            }
            if refused {
                self.tell(uid, &policy, &ans, &path_text);
            }
            return;
        }

        if !self.view().watched(job.st.dev, &path) {
            // Cache before answering: a write after the answer then clears the ignore mark (an
            // ignore mark added after the write would outlive it).
            self.cache_allow(&job);
            self.answer(&job.pending, true);
            return;
        }

        // Source side: the file's level.
        let key = FileKey::from(&job.st);
        let remaining = job.deadline.saturating_duration_since(now);
        let known = match self.cache.begin(key, now) {
            Lookup::Hit(k) => Some(k),
            // An empty file (just created: `O_CREAT` opens come here first) has nothing to
            // read: its level comes from its path and label alone, at once, on this worker.
            Lookup::Compute if job.st.size == 0 => match dup_file(&job.pending.fd) {
                Ok(mut file) => self.compute_level(key, &mut file, &path),
                Err(_) => {
                    self.cache.abandon(&key);
                    None
                }
            },
            // A small file that is not a container is read on this worker: handing it to a
            // classifier thread and waiting cost two context switches per new file, which on a
            // busy machine was most of an untar-and-grep's slowdown (perf: the agent waited in
            // the scheduler, inspection itself was ~1 %). Containers and bigger files keep the
            // classifier threads, so a worker never spends long on one file.
            Lookup::Compute
                if job.st.size <= INLINE_MAX_BYTES && !looks_like_container(&job.pending.fd) =>
            {
                match dup_file(&job.pending.fd) {
                    Ok(mut file) => self.compute_level(key, &mut file, &path),
                    Err(_) => {
                        self.cache.abandon(&key);
                        None
                    }
                }
            }
            Lookup::Compute => {
                let submitted = match dup_file(&job.pending.fd) {
                    Ok(file) => self.submit_classify(ClassifyJob {
                        key,
                        file,
                        path: path.clone(),
                    }),
                    Err(_) => false,
                };
                if submitted {
                    self.cache.wait(&key, remaining)
                } else {
                    self.cache.abandon(&key);
                    None
                }
            }
            Lookup::InFlight => self.cache.wait(&key, remaining),
        };
        let Some(known) = known else {
            // Not known in time: the fail mode for unknown content, and taint the process once
            // the level is known.
            self.late
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(key)
                .or_default()
                .push((pkey, path_text.clone()));
            let allow = self.cfg.fail_unknown == FailMode::Open;
            self.answer(&job.pending, allow);
            self.record(
                self.event(
                    if exec {
                        Operation::Exec
                    } else {
                        Operation::Open
                    },
                    job.pid,
                    uid,
                )
                .with_path(path_text)
                .with_detail(format!(
                    "level not known within the deadline; {} / 期限内に分類できませんでした",
                    if allow { "allowed" } else { "refused" }
                )),
            );
            return;
        };
        job.pending
            .fail_allow
            .store(self.fails_open(known.level), Ordering::Release);
        let classified = known.level > policy.default_level();
        let (writer, writer_fd) = if classified {
            let ids = self.view().ids.clone();
            match self.proc.writer_on(job.pid, &ids) {
                Some((id, fd)) => (self.view().by_id.get(&id).cloned(), Some(fd)),
                None => (None, None),
            }
        } else {
            (None, None)
        };
        let writer_dest = writer
            .as_ref()
            .map(|c| (c.channel, destination_of(c, &c.mount_point)));
        let ans = decide::source(
            &policy,
            known.level,
            &principal,
            writer_dest.as_ref().map(|(ch, d)| (*ch, d)),
        );
        if let Some(level) = ans.taint {
            // Taint before answering: the process must not reach a controlled mount untainted.
            self.taints
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .taint(pkey, level, &path_text, now);
        }
        let record = ans.record || self.cfg.audit_all_opens || exec;
        let process = (record && !ans.allow).then(|| self.process(job.pid));
        if ans.allow && !classified && !ans.record {
            // Before answering, so a write that follows clears it (see above).
            self.cache_allow(&job);
        }
        // `cat secret > /media/usb/x`: the shell created x before cat was refused. Take hold of
        // x before answering: once refused, cat exits and its fds are gone from /proc.
        let refused_target = match (&ans.ground, writer_fd) {
            (Ground::WriterOpensClassified { .. }, Some(fd)) if !ans.allow && self.cfg.enforce => {
                RefusedTarget::capture(job.pid, fd)
            }
            _ => None,
        };
        self.answer(&job.pending, ans.allow);
        if record {
            let op = if exec {
                Operation::Exec
            } else {
                Operation::Open
            };
            let process = process.unwrap_or_else(|| self.process(job.pid));
            let mut e = self
                .event_for(op, process, uid)
                .with_path(path_text.clone())
                .with_level(policy.level(known.level).id.clone())
                .with_channel(ans.channel);
            if let Some(v) = ans.verdict {
                let dest = writer_dest
                    .as_ref()
                    .filter(|_| ans.channel != Channel::FileAccess)
                    .map(|(_, d)| d.clone())
                    .unwrap_or_default();
                e = e.with_decision(policy.decide(&DecideInput {
                    level: v.level,
                    channel: ans.channel,
                    principal: &principal,
                    destination: &dest,
                }));
            }
            if let Some(why) = &known.why {
                e = e.with_detail(why.clone());
            }
            if let Ground::WriterOpensClassified { .. } = ans.ground
                && let Some(w) = &writer
            {
                e = e.with_new_path(w.mount_point.display().to_string());
            }
            self.record(e);
        }
        if let Some(target) = refused_target {
            target.remove_if_empty();
        }
        if !ans.allow && self.cfg.enforce {
            self.tell(uid, &policy, &ans, &path_text);
        }
    }

    /// The reason of an accepted, unexpired justification for `uid` copying `source` onto
    /// mount `mount`.
    fn allowance(&self, uid: u32, source: &str, mount: u32, now: Instant) -> Option<String> {
        let mut list = self.allowances.lock().unwrap_or_else(|e| e.into_inner());
        list.retain(|a| a.3 > now);
        list.iter()
            .find(|a| a.0 == uid && a.1 == source && a.2 == mount)
            .map(|a| a.4.clone())
    }

    /// The reason of an accepted, unexpired justification for `uid` copying content with
    /// this hash onto mount `mount`: the written file is the justified source's copy. The
    /// backstop must not quarantine what a justification let through.
    fn justified_copy(
        &self,
        uid: u32,
        sha256: Option<&[u8; 32]>,
        mount: u32,
        now: Instant,
    ) -> Option<String> {
        let sha256 = sha256?;
        let list: Vec<Allowance> = {
            let mut list = self.allowances.lock().unwrap_or_else(|e| e.into_inner());
            list.retain(|a| a.3 > now);
            list.iter()
                .filter(|a| a.0 == uid && a.2 == mount)
                .cloned()
                .collect()
        };
        list.into_iter()
            .find(|a| a.5.as_ref() == Some(sha256))
            .map(|a| a.4)
    }

    /// The content hash of the file at `path`, as the level cache knows it (no file read).
    fn hash_of(&self, path: &Path) -> Option<[u8; 32]> {
        let key = FileKey::from(&std::fs::metadata(path).ok()?);
        self.cache.peek(&key)?.sha256
    }

    /// Reads the justifications `mamori justify` dropped: each names a refused event; the
    /// file's owner must be the person refused (or root). Accepted ones allow that copy for
    /// the window; every one is recorded.
    fn take_justifications(&self) {
        use std::os::unix::fs::MetadataExt as _;
        let Some(dir) = &self.cfg.justify_dir else {
            return;
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten().take(256) {
            let path = entry.path();
            let owner = std::fs::symlink_metadata(&path)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.uid());
            let text = std::fs::read(&path)
                .ok()
                .filter(|b| b.len() <= 8192)
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
            let _ = std::fs::remove_file(&path);
            let (Some(owner), Some(text)) = (owner, text) else {
                continue;
            };
            let id = text["event"].as_str().unwrap_or_default().to_owned();
            let reason: String = text["reason"]
                .as_str()
                .unwrap_or_default()
                .chars()
                .take(1000)
                .collect();
            let found = self
                .justifiable
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&id)
                .cloned();
            let mut e = self.event_for(Operation::Copy, Process::default(), owner);
            e.process = None;
            match found {
                Some((uid, source, mount))
                    if (owner == uid || owner == 0) && !reason.trim().is_empty() =>
                {
                    // The content allowed, kept now: by the time the copy is written and checked,
                    // the source may have left the level cache.
                    let hash = self.hash_of(Path::new(&source)).or_else(|| {
                        let mut file = File::open(&source).ok()?;
                        let small = file.metadata().ok()?.len() <= self.cfg.max_hash_bytes;
                        small.then(|| sha256_of(&mut file).ok()).flatten()
                    });
                    self.allowances
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((
                            uid,
                            source.clone(),
                            mount,
                            Instant::now() + self.cfg.justify_window,
                            reason.clone(),
                            hash,
                        ));
                    self.justifiable
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&id);
                    let mp = self
                        .view()
                        .by_id
                        .get(&mount)
                        .map(|c| c.mount_point.display().to_string());
                    e = e.with_path(source).with_detail(format!(
                        "justification accepted for event {id} / 理由を受理: {reason}"
                    ));
                    if let Some(mp) = mp {
                        e = e.with_new_path(mp);
                    }
                }
                _ => {
                    e = e.with_detail(format!(
                        "justification refused for event {id}: unknown event, another person's, or no reason / 理由を受理できません"
                    ));
                }
            }
            self.record(e);
        }
    }

    fn fails_open(&self, level: LevelId) -> bool {
        self.fail_closed_from.is_none_or(|from| level < from)
    }

    /// Caches an allow in the kernel: an evictable ignore mark on the inode, dropped by the
    /// kernel on modification or under memory pressure.
    fn cache_allow(&self, job: &Job) {
        self.cache_allow_fd(&job.st, job.pending.fd.as_fd());
    }

    fn cache_allow_fd(&self, st: &Stat, fd: std::os::fd::BorrowedFd<'_>) {
        if !self.cfg.cache_allows || self.view().by_dev.contains_key(&st.dev) {
            return;
        }
        // Opens only: runs of programs (`FAN_OPEN_EXEC_PERM`) keep reaching the agent, which
        // records every one.
        if self
            .perm
            .mark_fd(IGNORE_FLAGS, sys::FAN_OPEN_PERM, fd)
            .is_ok()
        {
            Stats::inc(&self.stats.ignore_marks);
        }
    }

    /// A just-created (empty) file on a tree watched whole whose path and label give it the
    /// default level: recorded in the level cache and allowed by the reader.
    fn empty_and_public(&self, st: &Stat, fd: &OwnedFd) -> bool {
        if st.size != 0 || self.cfg.audit_all_opens {
            return false;
        }
        {
            let view = self.view();
            if view.by_dev.contains_key(&st.dev)
                || !view.watched.iter().any(|w| w.whole && w.dev == st.dev)
            {
                return false;
            }
        }
        let Ok(path) = sys::fd_path(fd.as_raw_fd()) else {
            return false;
        };
        if self.is_excluded(&path) {
            return false;
        }
        let Ok(file) = dup_file(fd) else {
            return false;
        };
        let policy = self.assessor.policy();
        let Some(level) = self.assessor.level_of_empty(&path, &file) else {
            return false;
        };
        if level != policy.default_level() {
            return false;
        }
        let allow = policy
            .verdict(&DecideInput {
                level,
                channel: Channel::FileAccess,
                principal: &Principal::default(),
                destination: &Destination::Unknown,
            })
            .action
            == mamori_model::Action::Allow;
        if allow {
            self.cache.put(
                FileKey::from(st),
                Known {
                    level,
                    why: None,
                    sha256: None,
                },
                policy.default_level(),
            );
        }
        allow
    }

    /// The file's current version is in the level cache at the policy's default level, on a
    /// tree watched whole, and not on a controlled mount; public opens are never recorded
    /// (the policy's `file_access` action for the default level is `allow`).
    fn known_public(&self, st: &Stat) -> bool {
        {
            let view = self.view();
            if view.by_dev.contains_key(&st.dev)
                || !view.watched.iter().any(|w| w.whole && w.dev == st.dev)
            {
                return false;
            }
        }
        if self.cfg.audit_all_opens {
            return false;
        }
        let Some(known) = self.cache.peek(&FileKey::from(st)) else {
            return false;
        };
        let policy = self.assessor.policy();
        known.level == policy.default_level()
            && policy
                .verdict(&DecideInput {
                    level: known.level,
                    channel: Channel::FileAccess,
                    principal: &Principal::default(),
                    destination: &Destination::Unknown,
                })
                .action
                == mamori_model::Action::Allow
    }

    fn tell(&self, uid: u32, policy: &Policy, ans: &decide::Answer, path: &str) {
        let level = ans
            .verdict
            .map(|v| policy.level(v.level).clone())
            .unwrap_or_else(|| policy.level(policy.highest_level()).clone());
        let (ja, en) = match ans.ground {
            Ground::TaintedExport { channel, .. }
            | Ground::WriterOpensClassified { channel, .. } => (
                format!(
                    "{}の情報を{}へ書き出すことはポリシーで禁止されています: {path}",
                    level.ja,
                    channel_ja(channel)
                ),
                format!(
                    "Copying {} content to {} is forbidden by policy: {path}",
                    level.en,
                    channel_en(channel)
                ),
            ),
            Ground::Access { .. } => (
                format!("このファイル ({}) を開く権限がありません: {path}", level.ja),
                format!("You may not open this {} file: {path}", level.en),
            ),
            _ => return,
        };
        self.recorder.tell_user(uid, &ja, &en);
    }

    // ---------------------------------------------------------------- levels

    fn submit_classify(&self, job: ClassifyJob) -> bool {
        let tx = self.classify_tx.lock().unwrap_or_else(|e| e.into_inner());
        match tx.as_ref() {
            Some(tx) => tx.try_send(job).is_ok(),
            None => false,
        }
    }

    fn classify_loop(&self, rx: &Mutex<Receiver<ClassifyJob>>) {
        loop {
            let job = {
                let rx = rx.lock().unwrap_or_else(|e| e.into_inner());
                rx.recv_timeout(Duration::from_millis(200))
            };
            match job {
                Ok(mut job) => {
                    let _ = self.compute_level(job.key, &mut job.file, &job.path);
                }
                Err(RecvTimeoutError::Timeout) => {
                    if self.stopping() {
                        return;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Hashes and assesses `file`, stores the level (a copy of classified content inherits its
    /// level), taints the processes that waited too long for it. The caller marked `key` in
    /// flight.
    fn compute_level(&self, key: FileKey, file: &mut File, path: &Path) -> Option<Known> {
        let policy = self.assessor.policy();
        let hash = (key.size <= self.cfg.max_hash_bytes)
            .then(|| sha256_of(file).ok())
            .flatten();
        if file.seek(SeekFrom::Start(0)).is_err() {
            self.cache.abandon(&key);
            return None;
        }
        let assessed = match self.assessor.assess(path, file) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("mamori agent: cannot assess {}: {e}", path.display());
                self.cache.abandon(&key);
                return None;
            }
        };
        let mut known = Known {
            level: assessed.level,
            why: assessed.why,
            sha256: hash,
        };
        if let Some(h) = &hash
            && let Some(inherited) = self.cache.inherited(h)
            && inherited > known.level
        {
            known.level = inherited;
            known.why = Some(format!(
                "copy of {} content (sha256 {}) / 機密ファイルの複製",
                policy.level(inherited).id,
                hex::encode(&h[..8])
            ));
        }
        self.cache.put(key, known.clone(), policy.default_level());
        let late = self
            .late
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        if let Some(list) = late
            && known.level > policy.default_level()
        {
            let now = Instant::now();
            let mut taints = self.taints.lock().unwrap_or_else(|e| e.into_inner());
            for (p, source) in list {
                taints.taint(p, known.level, &source, now);
            }
        }
        Some(known)
    }

    // ---------------------------------------------------------------- notification group

    fn notify_loop(&self) {
        let Some(notif) = &self.notif else {
            return;
        };
        let mut buf = vec![0u8; 64 * 1024];
        while !self.stopping() {
            match notif.wait(Duration::from_millis(200)) {
                Ok(true) => {}
                _ => continue,
            }
            let n = match notif.read(&mut buf) {
                Ok(n) => n,
                Err(_) => continue,
            };
            for ev in event::parse(&buf[..n]) {
                let Ok(ev) = ev else {
                    Stats::inc(&self.stats.parse_errors);
                    break;
                };
                if ev.mask & sys::FAN_Q_OVERFLOW != 0 {
                    Stats::inc(&self.stats.overflows);
                    continue;
                }
                if ev.fd >= 0 {
                    // SAFETY: an fd delivered with the event is ours to close.
                    drop(unsafe { sys::own_fd(ev.fd) });
                }
                let pid = ev.pid.max(0) as u32;
                if pid == self.own_pid {
                    continue;
                }
                Stats::inc(&self.stats.notify_events);
                self.on_notify(&ev, pid);
            }
        }
    }

    fn forget_allow(&self, fid: &event::FidInfo<'_>) {
        let Some(fs) = self.view().fs.get(&fid.fsid).cloned() else {
            return;
        };
        // `fanotify_mark` refuses an O_PATH fd as its object, and a read-only open would be an
        // open permission event of our own (a round trip through the reader per `chmod` or
        // `touch`: tar sets both on every file it unpacks). Naming the O_PATH fd's
        // `/proc/self/fd` link instead makes the kernel look the file up, not open it.
        if let Ok(fd) = sys::open_by_handle(fs.as_fd(), fid.handle_type, fid.handle) {
            let _ = self.perm.mark(
                sys::FAN_MARK_REMOVE | sys::FAN_MARK_INODE | sys::FAN_MARK_IGNORE,
                sys::FAN_OPEN_PERM,
                Path::new(&format!("/proc/self/fd/{}", fd.as_raw_fd())),
            );
        }
    }

    fn resolve(&self, fid: &event::FidInfo<'_>) -> Option<PathBuf> {
        let fs = self.view().fs.get(&fid.fsid).cloned()?;
        let dir = sys::open_by_handle(fs.as_fd(), fid.handle_type, fid.handle).ok()?;
        let mut path = sys::fd_path(dir.as_raw_fd()).ok()?;
        if let Some(name) = fid.name {
            use std::os::unix::ffi::OsStrExt as _;
            if name != b"." {
                path.push(std::ffi::OsStr::from_bytes(name));
            }
        }
        Some(path)
    }

    /// Where a path is: `(on a controlled mount, its channel)`, or None when it is neither
    /// watched nor controlled (or excluded).
    fn place(&self, path: &Path) -> Option<Option<Channel>> {
        if self.is_excluded(path) {
            return None;
        }
        let view = self.view();
        if let Some(c) = view.controlled_path(path) {
            return Some(Some(c.channel));
        }
        view.watched
            .iter()
            .any(|w| path.starts_with(&w.prefix))
            .then_some(None)
    }

    fn on_notify(&self, ev: &event::RawEvent<'_>, pid: u32) {
        if ev.mask & libc::FAN_ATTRIB != 0 {
            // A label (xattr), mode or owner changed: drop the kernel's cached allow for the
            // inode, which only a write would clear, so the next open is decided again.
            if let Some(f) = ev.fid(info_type::FID) {
                self.forget_allow(f);
            }
            if ev.mask & !(libc::FAN_ATTRIB | sys::FAN_ONDIR) == 0 {
                return;
            }
        }
        let uid = self.audit_uid(pid);
        if ev.mask & sys::FAN_RENAME != 0 {
            let old = ev
                .fid(info_type::OLD_DFID_NAME)
                .and_then(|f| self.resolve(f));
            let new = ev
                .fid(info_type::NEW_DFID_NAME)
                .and_then(|f| self.resolve(f));
            let (Some(old), Some(new)) = (old, new) else {
                return;
            };
            let (po, pn) = (self.place(&old), self.place(&new));
            if po.is_none() && pn.is_none() {
                return;
            }
            let mut e = self
                .event(Operation::Rename, pid, uid.or_else(|| owner_of(&new)))
                .with_path(old.display().to_string())
                .with_new_path(new.display().to_string());
            if let Some(Some(ch)) = pn {
                e = e.with_channel(ch);
            }
            if let Some(level) = self.level_of_path(&new) {
                e = e.with_level(level);
            }
            self.record(e);
            return;
        }
        let path = ev
            .fid(info_type::DFID_NAME)
            .and_then(|f| self.resolve(f))
            .or_else(|| ev.fid(info_type::FID).and_then(|f| self.resolve(f)));
        let Some(path) = path else {
            return;
        };
        let Some(place) = self.place(&path) else {
            return;
        };
        // Close-writes come from the permission group (see `on_close_write`).
        for (bit, op) in [
            (sys::FAN_CREATE, Operation::Create),
            (sys::FAN_DELETE, Operation::Delete),
        ] {
            if ev.mask & bit == 0 {
                continue;
            }
            let mut e = self
                .event(op, pid, uid.or_else(|| owner_of(&path)))
                .with_path(path.display().to_string());
            if let Some(ch) = place {
                e = e.with_channel(ch);
            }
            self.record(e);
        }
    }

    fn level_of_path(&self, path: &Path) -> Option<String> {
        let key = FileKey::from(&std::fs::symlink_metadata(path).ok()?);
        let known = self.cache.peek(&key)?;
        Some(self.assessor.policy().level(known.level).id.clone())
    }

    fn write_loop(&self, rx: Receiver<WriteJob>) {
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(job) => self.after_write(job),
                Err(RecvTimeoutError::Timeout) => {
                    if self.stopping() {
                        return;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// A file was closed after writing: compute its level now (so the next open is a cache
    /// hit), record the write, and on a controlled mount quarantine it if the policy forbids
    /// its level there (the backstop for whatever the permission checks let through).
    fn after_write(&self, job: WriteJob) {
        let WriteJob { mut file, pid } = job;
        let (Ok(st), Ok(path)) = (sys::fstat(file.as_fd()), sys::fd_path(file.as_raw_fd())) else {
            return;
        };
        if !st.is_file() {
            return;
        }
        // Where the file is now (a rename since the write is followed); a deleted one keeps
        // its last name with " (deleted)".
        let deleted = st.nlink == 0;
        let path = if deleted {
            let text = path.to_string_lossy();
            PathBuf::from(text.strip_suffix(" (deleted)").unwrap_or(&text).to_owned())
        } else {
            path
        };
        // A controlled device is found by the file's device, not its name: a rename to an
        // excluded name, or a bind mount elsewhere, must not skip the backstop.
        let controlled = self.view().by_dev.get(&st.dev).cloned();
        if controlled.is_none() && self.place(&path).is_none() {
            return; // on a marked mount, but neither watched nor controlled (or excluded)
        }
        let job = AfterWrite { path, pid };
        if deleted {
            // Gone already: record the write alone.
            self.record(
                self.event(Operation::Write, job.pid, self.audit_uid(job.pid))
                    .with_path(job.path.display().to_string()),
            );
            return;
        }
        let key = FileKey::from(&st);
        let known = match self.cache.begin(key, Instant::now()) {
            Lookup::Hit(k) => Some(k),
            Lookup::Compute => self.compute_level(key, &mut file, &job.path),
            Lookup::InFlight => self.cache.wait(&key, Duration::from_secs(30)),
        };
        let policy = self.assessor.policy();
        let ctrl = controlled.or_else(|| self.view().controlled_path(&job.path).cloned());
        // On a controlled device the uid decides the policy (and a justification) below: read
        // it fresh. Elsewhere it only goes into the record: the records' cache will do.
        let uid = if ctrl.is_some() {
            self.proc.uid(job.pid)
        } else {
            self.audit_uid(job.pid)
        }
        .unwrap_or(st.uid);
        let path_text = job.path.display().to_string();
        let mut e = self
            .event(Operation::Write, job.pid, uid)
            .with_path(path_text.clone());
        if let Some(k) = &known {
            e = e.with_level(policy.level(k.level).id.clone());
        }
        let Some(ctrl) = ctrl else {
            self.record(e);
            return;
        };
        e = e.with_channel(ctrl.channel);
        if let Some(d) = journal_destination(&ctrl) {
            e = e.with_destination(d);
        }
        let Some(known) = known else {
            self.record(e.with_detail("could not be classified / 分類できませんでした"));
            return;
        };
        let mut principals = HashMap::new();
        let principal = self.principal(uid, &mut principals);
        let dest = destination_of(&ctrl, &job.path);
        let decision = policy.decide(&DecideInput {
            level: known.level,
            channel: ctrl.channel,
            principal: &principal,
            destination: &dest,
        });
        let forbidden = decide::refuses(decision.action);
        let action = decision.action;
        let justified = (action == mamori_model::Action::Justify)
            .then(|| self.justified_copy(uid, known.sha256.as_ref(), ctrl.id, Instant::now()))
            .flatten();
        e = e.with_decision(decision);
        if let Some(reason) = justified {
            self.record(e.with_detail(format!(
                "justified copy written / 理由付きで許可された書き出し: {reason}"
            )));
        } else if forbidden && self.cfg.enforce {
            match quarantine(&self.cfg.quarantine_dir, &job.path, &mut file) {
                Ok(q) => {
                    Stats::inc(&self.stats.quarantined);
                    self.record(
                        e.with_new_path(q.display().to_string())
                            .with_detail(format!(
                                "quarantined: {} content on {} ({}) / 隔離しました",
                                policy.level(known.level).id,
                                ctrl.channel.as_str(),
                                action.as_str()
                            )),
                    );
                    let level = policy.level(known.level);
                    self.recorder.tell_user(
                        uid,
                        &format!(
                            "{}の情報が{}に書き込まれたため隔離しました: {path_text}",
                            level.ja,
                            channel_ja(ctrl.channel)
                        ),
                        &format!(
                            "{} content written to {} was quarantined: {path_text}",
                            level.en,
                            ctrl.channel.as_str()
                        ),
                    );
                }
                Err(err) => self.record(
                    e.with_detail(format!("quarantine failed / 隔離に失敗しました: {err}")),
                ),
            }
        } else {
            self.record(e);
        }
    }

    // ---------------------------------------------------------------- journal and upkeep

    /// The process as the journal records it (see [`WhoCache`]).
    fn process(&self, pid: u32) -> Process {
        self.who.process(&self.proc, pid).0
    }

    /// The real uid of `pid` for a journal record (cached with the process; decisions read
    /// `/proc` afresh).
    fn audit_uid(&self, pid: u32) -> Option<u32> {
        self.who.process(&self.proc, pid).1
    }

    fn event(&self, op: Operation, pid: u32, uid: impl Into<Option<u32>>) -> Event {
        self.event_for(op, self.process(pid), uid)
    }

    fn event_for(&self, op: Operation, process: Process, uid: impl Into<Option<u32>>) -> Event {
        let e = Event::new(op).with_process(process);
        match uid.into() {
            Some(uid) => e.with_user(User {
                uid,
                name: self.who.user_name(uid),
            }),
            None => e,
        }
    }

    fn record(&self, event: Event) {
        let tx = self.audit_tx.lock().unwrap_or_else(|e| e.into_inner());
        let sent = tx
            .as_ref()
            .is_some_and(|tx| tx.try_send(Box::new(event)).is_ok());
        if !sent {
            Stats::inc(&self.stats.audit_dropped);
        }
    }

    fn audit_loop(&self, rx: Receiver<Box<Event>>) {
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(e) => {
                    self.recorder.record(*e);
                    Stats::inc(&self.stats.recorded);
                }
                Err(RecvTimeoutError::Timeout) => {
                    if self.stopping() {
                        // Drain what is left, then go.
                        while let Ok(e) = rx.try_recv() {
                            self.recorder.record(*e);
                            Stats::inc(&self.stats.recorded);
                        }
                        return;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Loads the saved content hashes of classified files (level ids mapped through the current
    /// policy; what no longer maps is reported and dropped).
    fn load_hashes(&self) {
        let Some(path) = &self.cfg.hashes_file else {
            return;
        };
        let text = match std::fs::read(path) {
            Ok(bytes) if bytes.len() <= MAX_HASHES_FILE => {
                String::from_utf8_lossy(&bytes).into_owned()
            }
            Ok(bytes) => {
                eprintln!(
                    "mamori agent: {}: {} bytes, more than {MAX_HASHES_FILE}: ignored",
                    path.display(),
                    bytes.len()
                );
                return;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                eprintln!("mamori agent: {}: {e}", path.display());
                return;
            }
        };
        let policy = self.assessor.policy();
        let (hashes, problems) = crate::cache::parse_hashes(&text, &policy);
        for problem in problems.iter().take(5) {
            eprintln!("mamori agent: {}: {problem}: skipped", path.display());
        }
        if problems.len() > 5 {
            eprintln!(
                "mamori agent: {}: {} more lines skipped",
                path.display(),
                problems.len() - 5
            );
        }
        for (hash, level) in hashes {
            self.cache.remember(hash, level);
        }
        *self.saved_hashes.lock().unwrap_or_else(|e| e.into_inner()) =
            self.cache.classified_hashes();
    }

    /// Saves the content hashes of classified files when they changed (atomically, mode 0600).
    fn save_hashes(&self) {
        let Some(path) = &self.cfg.hashes_file else {
            return;
        };
        let hashes = self.cache.classified_hashes();
        let mut saved = self.saved_hashes.lock().unwrap_or_else(|e| e.into_inner());
        if *saved == hashes {
            return;
        }
        let text = crate::cache::format_hashes(&hashes, &self.assessor.policy());
        let tmp = path.with_extension("tmp");
        let written = (|| -> std::io::Result<()> {
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(text.as_bytes())?;
            file.sync_data()?;
            std::fs::rename(&tmp, path)
        })();
        match written {
            Ok(()) => *saved = hashes,
            Err(e) => eprintln!("mamori agent: saving {}: {e}", path.display()),
        }
    }

    fn janitor_loop(&self) {
        let mut tick = 0u64;
        while !self.stopping() {
            std::thread::sleep(Duration::from_millis(250));
            tick += 1;
            self.take_justifications();
            if tick.is_multiple_of(4) {
                let refreshed = {
                    let _serial = self.reconfiguring.lock().unwrap_or_else(|e| e.into_inner());
                    self.refresh_mounts(Refresh::Changes)
                };
                if let Err(e) = refreshed {
                    eprintln!("mamori agent: {e}");
                }
                if let Some(path) = &self.cfg.status_file {
                    let status = self.status();
                    if let Ok(text) = serde_json::to_vec_pretty(&status) {
                        let tmp = path.with_extension("json.tmp");
                        if std::fs::write(&tmp, text).is_ok() {
                            let _ = std::fs::rename(&tmp, path);
                        }
                    }
                }
            }
            if tick.is_multiple_of(240) {
                self.save_hashes();
            }
            if tick.is_multiple_of(20) {
                let now = Instant::now();
                let proc = &self.proc;
                self.taints
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .retain(
                        now,
                        |pid, start| proc.stat(pid).is_some_and(|s| s.start == start),
                        |pgid| proc.group_alive(pgid),
                    );
                let mut late = self.late.lock().unwrap_or_else(|e| e.into_inner());
                if late.len() > 10_000 {
                    late.clear();
                }
            }
        }
    }

    /// Listens to kernel uevents and hands each to the device hook, recording what it reports.
    fn device_loop(&self) {
        let Some(hook) = self.cfg.devices.clone() else {
            return;
        };
        // Listen before deciding what is present, so nothing plugged in between is missed.
        let socket = match sys::UeventSocket::open() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("mamori agent: no kernel uevents (device events not recorded): {e}");
                return;
            }
        };
        for e in hook.present() {
            self.record(e);
        }
        let mut buf = vec![0u8; 16 * 1024];
        while !self.stopping() {
            let n = match socket.recv(&mut buf, Duration::from_millis(200)) {
                Ok(Some(n)) => n,
                _ => continue,
            };
            for e in hook.on_uevent(&buf[..n]) {
                self.record(e);
            }
        }
    }

    fn status(&self) -> Status {
        let view = self.view();
        let policy = self.assessor.policy();
        Status {
            pid: self.own_pid,
            time_ns: now_ns(),
            watched: self
                .watch
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            controlled: view
                .by_id
                .values()
                .map(|c| {
                    (
                        c.mount_point.display().to_string(),
                        c.channel.as_str().to_owned(),
                        format!("{:?}", c.reason).to_lowercase(),
                    )
                })
                .collect(),
            queue_depths: self
                .queue_len
                .iter()
                .map(|q| q.load(Ordering::Relaxed) as usize)
                .collect(),
            counters: self.stats.snapshot(),
            cache_hits: self.cache.hits.load(Ordering::Relaxed),
            cache_misses: self.cache.misses.load(Ordering::Relaxed),
            tainted: self.taints.lock().unwrap_or_else(|e| e.into_inner()).len(),
            policy: format!("{} v{}", policy.name(), policy.version()),
            enforcing: self.cfg.enforce,
        }
    }
}

/// Process and user details for journal records, kept so that a process creating thousands
/// of files (an untar) costs one set of `/proc` reads, not one per file: per file that was
/// `stat`, `exe` twice, `cmdline`, `status` (the most expensive to render) and a read of
/// `/etc/passwd`, and it was the busiest part of the agent in such a workload (perf).
///
/// An entry is used again only while the process still runs the same executable (one
/// `readlink` of `/proc/PID/exe`; an `exec` changes it) and for at most [`WhoCache::KEEP`]; a
/// uid changed by `setuid` without an `exec` may so lag that long in records. Decisions never
/// use it.
#[derive(Default)]
struct WhoCache {
    processes: Mutex<HashMap<u32, SeenProcess>>,
    users: Mutex<HashMap<u32, (Instant, Option<String>)>>,
}

/// When a process was read, what it was, its real uid.
type SeenProcess = (Instant, Process, Option<u32>);

impl WhoCache {
    const KEEP: Duration = Duration::from_secs(2);
    const KEEP_USER: Duration = Duration::from_secs(60);
    const MAX: usize = 4096;

    fn process(&self, proc: &Proc, pid: u32) -> (Process, Option<u32>) {
        let now = Instant::now();
        let exe = proc.exe(pid);
        if let Some((at, process, uid)) = self
            .processes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&pid)
            && now.duration_since(*at) < Self::KEEP
            && process.exe == exe
        {
            return (process.clone(), *uid);
        }
        let ppid = proc.stat(pid).map(|s| s.ppid);
        let process = Process {
            pid,
            exe,
            cmdline: proc.cmdline(pid),
            ppid,
            parent_exe: ppid.and_then(|p| proc.exe(p)),
        };
        let uid = proc.uid(pid);
        let mut map = self.processes.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= Self::MAX {
            map.retain(|_, (at, _, _)| now.duration_since(*at) < Self::KEEP);
            if map.len() >= Self::MAX {
                map.clear();
            }
        }
        map.insert(pid, (now, process.clone(), uid));
        (process, uid)
    }

    fn user_name(&self, uid: u32) -> Option<String> {
        let now = Instant::now();
        if let Some((at, name)) = self
            .users
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&uid)
            && now.duration_since(*at) < Self::KEEP_USER
        {
            return name.clone();
        }
        let name = procinfo::user_name(uid);
        let mut map = self.users.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= Self::MAX {
            map.clear();
        }
        map.insert(uid, (now, name.clone()));
        name
    }
}

/// Whether two paths are on the same device.
fn same_device(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev(),
        _ => false,
    }
}

/// The owner of a file, the best guess at who wrote it when the process is gone.
fn owner_of(path: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::symlink_metadata(path).ok().map(|m| m.uid())
}

fn read_mountinfo() -> (Vec<mounts::Mount>, usize) {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    // Cut on a character boundary: mount points may have Japanese names.
    let text = &text[..text.floor_char_boundary(mounts::MAX_MOUNTINFO_BYTES)];
    mounts::parse_mountinfo(text)
}

fn destination_of(ctrl: &Ctrl, path: &Path) -> Destination {
    match (ctrl.channel, &ctrl.usb) {
        (Channel::NetworkShare, _) => Destination::Share(path.display().to_string()),
        (Channel::RemovableMedia, Some(usb)) => Destination::Usb(usb.clone()),
        _ => Destination::Unknown,
    }
}

/// The destination as the journal keeps it: the stick's `vendor:product:serial`.
fn journal_destination(ctrl: &Ctrl) -> Option<mamori_journal::Destination> {
    ctrl.usb.as_ref().map(|usb| mamori_journal::Destination {
        device_serial: Some(usb.to_string()),
        ..Default::default()
    })
}

fn channel_ja(channel: Channel) -> &'static str {
    match channel {
        Channel::RemovableMedia => "USBメモリなどの外部媒体",
        Channel::NetworkShare => "共有フォルダ",
        _ => "外部",
    }
}

/// [`channel_ja`] in English: what the person reads in a pop-up, not the policy's channel id.
fn channel_en(channel: Channel) -> &'static str {
    match channel {
        Channel::RemovableMedia => "a USB stick or other removable media",
        Channel::NetworkShare => "a network share",
        _ => "outside",
    }
}

/// When process `pid` started, in nanoseconds since the epoch (from its age, so the wall clock
/// is read once).
fn process_started_ns(pid: u32) -> Option<i64> {
    let age = Proc::default().age(pid, sys::clock_ticks_per_second())?;
    Some(now_ns().saturating_sub(i64::try_from(age.as_nanos()).unwrap_or(i64::MAX)))
}

/// Whether a file changed at `ctime_ns` was (most likely) created by the process that started
/// at `started_ns`: it changed after the process started, or, when the start is not known,
/// within the last two seconds.
///
/// A fixed "two seconds ago" alone failed on a loaded machine: the refusal can come seconds
/// after the shell created the target, and the empty file then stayed on the stick.
fn made_since(started_ns: Option<i64>, ctime_ns: i64) -> bool {
    // Start times are counted in clock ticks (10 ms): allow a few.
    const SLACK_NS: i64 = 50_000_000;
    let recent = (0..2_000_000_000).contains(&now_ns().saturating_sub(ctime_ns));
    recent || started_ns.is_some_and(|started| ctime_ns >= started.saturating_sub(SLACK_NS))
}

/// The target of a refused copy, taken hold of before the refusal is answered: the refused
/// process exits at once, and its `/proc/PID/fd` entries with it.
struct RefusedTarget {
    path: PathBuf,
    /// An `O_PATH` handle: enough to `fstat` the very file later; opening it makes no
    /// fanotify event.
    file: File,
    started_ns: Option<i64>,
}

impl RefusedTarget {
    fn capture(pid: u32, fd: u32) -> Option<RefusedTarget> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let link = PathBuf::from(format!("/proc/{pid}/fd/{fd}"));
        let path = std::fs::read_link(&link).ok()?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH)
            .open(&link)
            .ok()?;
        Some(RefusedTarget {
            path,
            file,
            started_ns: process_started_ns(pid),
        })
    }

    /// Removes the file when it is empty and the refused process created it; a file with
    /// content, an older one, or one renamed meanwhile stays.
    fn remove_if_empty(self) {
        remove_if_empty_and_made_since(&self.path, self.file.as_fd(), self.started_ns);
    }
}

/// Removes `path` when it still names the file `held` refers to (checked where it is removed,
/// see [`sys::unlink_if_same`]), that file is empty, and it changed since the process that
/// started at `started_ns` did: a refused copy's target. A file with content, an older one, or
/// one renamed meanwhile stays.
fn remove_if_empty_and_made_since(
    path: &Path,
    held: std::os::fd::BorrowedFd<'_>,
    started_ns: Option<i64>,
) {
    let Ok(st) = sys::fstat(held) else {
        return;
    };
    if st.is_file() && st.size == 0 && made_since(started_ns, st.ctime_ns) {
        let _ = sys::unlink_if_same(path, held);
    }
}

fn dup_file(fd: &OwnedFd) -> std::io::Result<File> {
    Ok(File::from(fd.try_clone()?))
}

fn sha256_of(file: &mut File) -> std::io::Result<[u8; 32]> {
    file.seek(SeekFrom::Start(0))?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// The groups of a user, from `/etc/group` (supplementary) and `/etc/passwd` (primary).
fn groups_of(user: &str, uid: u32) -> Vec<String> {
    let mut groups = Vec::new();
    let primary_gid = std::fs::read_to_string("/etc/passwd").ok().and_then(|t| {
        t.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 3 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[3].to_owned())
        })
    });
    if let Ok(text) = std::fs::read_to_string("/etc/group") {
        for line in text.lines() {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 {
                continue;
            }
            let member = f[3].split(',').any(|m| m == user);
            if member || primary_gid.as_deref() == Some(f[2]) {
                groups.push(f[0].to_owned());
            }
        }
    }
    groups
}

/// Moves a file's content out of a controlled mount into `dir`: copy, wipe (truncate), remove.
fn quarantine(dir: &Path, path: &Path, file: &mut File) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let target = dir.join(format!("{}-{}", now_ns(), name));
    file.seek(SeekFrom::Start(0))?;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&target)?;
    std::io::copy(file, &mut out)?;
    out.sync_all()?;
    // Through the file itself, never its path again: the path is the user's to swap.
    sys::truncate_held(file.as_fd())?;
    sys::unlink_if_same(path, file.as_fd())?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_changed_after_the_process_started_is_its_own() {
        let now = now_ns();
        let s = 1_000_000_000;
        let started = Some(now - 10 * s);
        assert!(made_since(started, now - 5 * s), "changed after the start");
        assert!(made_since(started, now - 10 * s), "at the start");
        assert!(!made_since(started, now - 20 * s), "older than the process");
        // Unknown start: only a file changed within the last two seconds.
        assert!(made_since(None, now - s));
        assert!(!made_since(None, now - 5 * s));
        // Recent wins even against a start that says otherwise (clock steps).
        assert!(made_since(Some(now), now - s / 2));
    }

    #[test]
    fn containers_are_told_by_their_first_bytes() {
        let dir = std::env::temp_dir().join(format!("mamori-magic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let check = |name: &str, bytes: &[u8]| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            looks_like_container(&OwnedFd::from(File::open(&path).unwrap()))
        };
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        for (name, bytes) in [
            ("a.docx", &b"PK\x03\x04rest"[..]),
            ("a.gz", b"\x1f\x8b\x08\x00"),
            ("a.pdf", b"%PDF-1.7\n"),
            ("junk.pdf", b"\xef\xbb\xbf junk %PDF-1.4"),
            ("a.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1...."),
            ("a.tar", &tar),
            ("a.eml", b"Received: from x\r\nSubject: y\r\n"),
            ("b.eml", b"\r\nMIME-Version: 1.0\r\n"),
            ("a.rtf", b"{\\rtf1\\ansi"),
        ] {
            assert!(check(name, bytes), "{name}");
        }
        for (name, bytes) in [
            ("a.txt", "社外秘\n計画".as_bytes()),
            ("empty", b""),
            ("a.c", b"#include <stdio.h>\n"),
            ("short", b"P"),
        ] {
            assert!(!check(name, bytes), "{name}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn this_process_started_before_now() {
        let started = process_started_ns(std::process::id()).expect("own start time");
        let now = now_ns();
        assert!(started <= now && now - started < 3_600 * 1_000_000_000);
    }
}
