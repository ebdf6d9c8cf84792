//! Observe mode (`mamori agent --observe PATH`): records operations on one tree without root.
//!
//! Unprivileged fanotify (Linux 5.13+) allows notification groups that report file ids, with
//! inode marks only: every directory of the tree is marked (`FAN_EVENT_ON_CHILD`), new
//! directories as they appear. An unprivileged process cannot open file handles
//! (`open_by_handle_at` needs `CAP_DAC_READ_SEARCH`), so the observer keeps the handle of every
//! directory it marked (`name_to_handle_at`, allowed) and resolves the directory records of
//! events through that map. Nothing is ever refused: blocking needs root.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mamori_journal::{Event, Operation, Process, User};

use crate::event::{self, info_type};
use crate::procinfo::{self, Proc};
use crate::sys::{self, Fanotify};
use crate::{AgentError, Recorder};

/// Most directories marked (bounded memory and marks).
pub const MAX_DIRS: usize = 100_000;

const MASK: u64 = sys::FAN_CREATE
    | sys::FAN_DELETE
    | sys::FAN_MOVED_FROM
    | sys::FAN_MOVED_TO
    | sys::FAN_CLOSE_WRITE
    | libc::FAN_OPEN
    | libc::FAN_EVENT_ON_CHILD
    | sys::FAN_ONDIR;

/// A directory's file handle as a map key: type and bytes.
type HandleKey = (i32, Vec<u8>);

/// The running observer.
#[derive(Debug)]
pub struct Observer {
    fan: Fanotify,
    dirs: HashMap<HandleKey, PathBuf>,
    own_pid: u32,
    proc: Proc,
}

impl Observer {
    /// Creates the group and marks every directory under `root`.
    pub fn new(root: &Path) -> Result<Observer, AgentError> {
        let fan = Fanotify::init(
            sys::FAN_CLASS_NOTIF
                | sys::FAN_CLOEXEC
                | sys::FAN_NONBLOCK
                | libc::FAN_REPORT_DFID_NAME,
            (libc::O_RDONLY | libc::O_CLOEXEC) as libc::c_uint,
        )
        .map_err(|source| AgentError::Sys {
            what: "fanotify_init (unprivileged notification group; needs Linux 5.13+)".into(),
            source,
        })?;
        let mut observer = Observer {
            fan,
            dirs: HashMap::new(),
            own_pid: std::process::id(),
            proc: Proc::default(),
        };
        let root = std::fs::canonicalize(root).map_err(|source| AgentError::Sys {
            what: format!("--observe {}", root.display()),
            source,
        })?;
        observer.mark_tree(&root)?;
        Ok(observer)
    }

    /// Number of directories marked.
    pub fn directories(&self) -> usize {
        self.dirs.len()
    }

    fn mark_tree(&mut self, root: &Path) -> Result<(), AgentError> {
        let mut stack = vec![root.to_owned()];
        while let Some(dir) = stack.pop() {
            if self.dirs.len() >= MAX_DIRS {
                break;
            }
            if let Err(source) = self.mark_dir(&dir) {
                if dir == root {
                    return Err(AgentError::Sys {
                        what: format!("fanotify_mark on {}", dir.display()),
                        source,
                    });
                }
                continue;
            }
            if let Ok(entries) = std::fs::read_dir(&dir) {
                for e in entries.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        stack.push(e.path());
                    }
                }
            }
        }
        Ok(())
    }

    fn mark_dir(&mut self, dir: &Path) -> std::io::Result<()> {
        self.fan.mark(sys::FAN_MARK_ADD, MASK, dir)?;
        let (kind, bytes) = sys::name_to_handle(dir)?;
        self.dirs.insert((kind, bytes), dir.to_owned());
        Ok(())
    }

    fn resolve(&self, fid: &event::FidInfo<'_>) -> Option<PathBuf> {
        let dir = self.dirs.get(&(fid.handle_type, fid.handle.to_vec()))?;
        Some(match fid.name {
            Some(name) if name != b"." => dir.join(OsStr::from_bytes(name)),
            _ => dir.clone(),
        })
    }

    /// Reads events until `stop`, recording each through `recorder`.
    pub fn run(&mut self, recorder: &Arc<dyn Recorder>, stop: &AtomicBool) {
        let mut buf = vec![0u8; 64 * 1024];
        while !stop.load(Ordering::Relaxed) {
            if !matches!(self.fan.wait(Duration::from_millis(200)), Ok(true)) {
                continue;
            }
            let Ok(n) = self.fan.read(&mut buf) else {
                continue;
            };
            let mut new_dirs = Vec::new();
            for ev in event::parse(&buf[..n]) {
                let Ok(ev) = ev else { break };
                if ev.fd >= 0 {
                    // SAFETY: an fd delivered with the event is ours to close.
                    drop(unsafe { sys::own_fd(ev.fd) });
                }
                let pid = ev.pid.max(0) as u32;
                if pid == self.own_pid {
                    continue;
                }
                let Some(path) = ev.fid(info_type::DFID_NAME).and_then(|f| self.resolve(f)) else {
                    continue;
                };
                let dir = ev.mask & sys::FAN_ONDIR != 0;
                if dir && ev.mask & (sys::FAN_CREATE | sys::FAN_MOVED_TO) != 0 {
                    new_dirs.push(path.clone());
                }
                for (bit, op) in [
                    (sys::FAN_CREATE, Operation::Create),
                    (libc::FAN_OPEN, Operation::Open),
                    (sys::FAN_CLOSE_WRITE, Operation::Write),
                    (sys::FAN_MOVED_FROM, Operation::Rename),
                    (sys::FAN_MOVED_TO, Operation::Rename),
                    (sys::FAN_DELETE, Operation::Delete),
                ] {
                    if ev.mask & bit == 0 || (dir && op == Operation::Open) {
                        continue;
                    }
                    // The process may be gone by now: then the file's owner, else nobody.
                    let uid = self.proc.uid(pid).or_else(|| {
                        use std::os::unix::fs::MetadataExt as _;
                        std::fs::symlink_metadata(&path).ok().map(|m| m.uid())
                    });
                    let mut e = Event::new(op);
                    if let Some(uid) = uid {
                        e = e.with_user(User {
                            uid,
                            name: procinfo::user_name(uid),
                        });
                    }
                    let mut e = e.with_process(Process {
                        pid,
                        exe: self.proc.exe(pid),
                        cmdline: self.proc.cmdline(pid),
                        ppid: self.proc.stat(pid).map(|s| s.ppid),
                        parent_exe: None,
                    });
                    e = if bit == sys::FAN_MOVED_TO {
                        e.with_new_path(path.display().to_string())
                    } else {
                        e.with_path(path.display().to_string())
                    };
                    recorder.record(e.with_detail("observe mode / 観察モード"));
                }
            }
            for d in new_dirs {
                let _ = self.mark_tree(&d);
            }
        }
    }
}
