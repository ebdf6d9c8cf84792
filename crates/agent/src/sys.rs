//! The system calls: fanotify, `fstat`, file handles, `poll`. Thin `libc` wrappers.
//!
//! Why not `nix`/`rustix`: neither covers file-handle reporting groups (`FAN_REPORT_DFID_NAME_TARGET`
//! records, `open_by_handle_at`) together with evictable ignore marks, so the agent makes the few
//! calls itself. Every `unsafe` block says why it is sound.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd as _, BorrowedFd, FromRawFd as _, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use libc::{
    FAN_CLASS_CONTENT, FAN_CLASS_NOTIF, FAN_CLOEXEC, FAN_CLOSE_WRITE, FAN_CREATE, FAN_DELETE,
    FAN_MARK_ADD, FAN_MARK_EVICTABLE, FAN_MARK_FILESYSTEM, FAN_MARK_FLUSH, FAN_MARK_IGNORE,
    FAN_MARK_INODE, FAN_MARK_MOUNT, FAN_MARK_REMOVE, FAN_MOVED_FROM, FAN_MOVED_TO, FAN_NONBLOCK,
    FAN_ONDIR, FAN_OPEN_EXEC_PERM, FAN_OPEN_PERM, FAN_Q_OVERFLOW, FAN_RENAME,
    FAN_REPORT_DFID_NAME_TARGET, FAN_UNLIMITED_MARKS, FAN_UNLIMITED_QUEUE,
};

/// A fanotify group.
#[derive(Debug)]
pub struct Fanotify {
    fd: OwnedFd,
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn cpath(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

impl Fanotify {
    /// `fanotify_init(flags, event_f_flags)`.
    pub fn init(flags: libc::c_uint, event_f_flags: libc::c_uint) -> io::Result<Fanotify> {
        // SAFETY: fanotify_init takes two integers and returns a new fd or -1.
        let fd = cvt(unsafe { libc::fanotify_init(flags, event_f_flags) })?;
        // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Fanotify { fd })
    }

    /// `fanotify_mark` on a path.
    pub fn mark(&self, flags: libc::c_uint, mask: u64, path: &Path) -> io::Result<()> {
        let c = cpath(path)?;
        // SAFETY: `self.fd` is a live fanotify fd, `c` a NUL-terminated string that outlives the
        // call; AT_FDCWD resolves it relative to the working directory.
        cvt(unsafe {
            libc::fanotify_mark(self.fd.as_raw_fd(), flags, mask, libc::AT_FDCWD, c.as_ptr())
        })?;
        Ok(())
    }

    /// `fanotify_mark` on the object an open fd refers to (path NULL), used for inode marks
    /// such as the evictable ignore marks that cache an allow.
    pub fn mark_fd(&self, flags: libc::c_uint, mask: u64, fd: BorrowedFd<'_>) -> io::Result<()> {
        // SAFETY: both fds are live for the call; a NULL path means "the object of dirfd".
        cvt(unsafe {
            libc::fanotify_mark(
                self.fd.as_raw_fd(),
                flags,
                mask,
                fd.as_raw_fd(),
                std::ptr::null(),
            )
        })?;
        Ok(())
    }

    /// Waits up to `timeout` for events; true when some are ready.
    pub fn wait(&self, timeout: Duration) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: `pfd` is one valid pollfd on our stack, and we pass a count of 1.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(e);
        }
        Ok(r > 0)
    }

    /// Reads events into `buf` (non-blocking group: 0 when none are waiting).
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the duration of the call.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) {
                return Ok(0);
            }
            return Err(e);
        }
        Ok(n as usize)
    }

    /// Answers a permission event: `FAN_ALLOW` or `FAN_DENY` (the opener gets `EPERM`).
    pub fn respond(&self, event_fd: RawFd, allow: bool) -> io::Result<()> {
        let response = libc::fanotify_response {
            fd: event_fd,
            response: if allow {
                libc::FAN_ALLOW
            } else {
                libc::FAN_DENY
            },
        };
        let size = std::mem::size_of::<libc::fanotify_response>();
        // SAFETY: `response` is a plain struct on our stack, `size` bytes long.
        let n = unsafe { libc::write(self.fd.as_raw_fd(), (&raw const response).cast(), size) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Moves the group to an fd number above `min`: returns a group on the new number and
    /// closes the old one.
    pub fn renumber_above(self, min: RawFd) -> io::Result<Fanotify> {
        // SAFETY: F_DUPFD_CLOEXEC duplicates a live fd onto the lowest free number >= min + 1.
        let fd = cvt(unsafe { libc::fcntl(self.fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min + 1) })?;
        // SAFETY: the new fd was just created for us and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Fanotify { fd })
    }

    /// The group's fd.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Takes ownership of an event's fd.
///
/// # Safety
/// `fd` must be an open fd nobody else owns (the fd of an event just read from a group).
pub unsafe fn own_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: the caller guarantees `fd` is open and unowned.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// What `fstat` says about an open file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Status change time, nanoseconds since the epoch.
    pub ctime_ns: i64,
    /// `st_mode`.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Hard links (0: deleted, held open only).
    pub nlink: u64,
}

impl Stat {
    /// A regular file.
    pub fn is_file(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }
}

/// `fstat(fd)`.
pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<Stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` has room for one `struct stat`, which fstat fills on success.
    cvt(unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstat returned 0, so it initialised `st`.
    let st = unsafe { st.assume_init() };
    Ok(Stat {
        dev: st.st_dev,
        ino: st.st_ino,
        size: st.st_size as u64,
        mtime_ns: st.st_mtime * 1_000_000_000 + st.st_mtime_nsec,
        ctime_ns: st.st_ctime * 1_000_000_000 + st.st_ctime_nsec,
        mode: st.st_mode,
        uid: st.st_uid,
        nlink: st.st_nlink,
    })
}

/// The path an open fd refers to, from `/proc/self/fd` (no open of the file itself).
pub fn fd_path(fd: RawFd) -> io::Result<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{fd}"))
}

/// `statfs(path).f_fsid`, as fanotify reports it in file id records.
pub fn fsid(path: &Path) -> io::Result<[i32; 2]> {
    let c = cpath(path)?;
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `c` is NUL-terminated and `st` has room for one `struct statfs`.
    cvt(unsafe { libc::statfs(c.as_ptr(), st.as_mut_ptr()) })?;
    // SAFETY: statfs returned 0, so it initialised `st`.
    let st = unsafe { st.assume_init() };
    // `fsid_t` is two ints; libc hides the field, so read it through its bytes.
    let fsid: [i32; 2] = {
        // SAFETY: `fsid_t` is `struct { int __val[2]; }`: 8 bytes, same layout as [i32; 2].
        unsafe { std::mem::transmute::<libc::fsid_t, [i32; 2]>(st.f_fsid) }
    };
    Ok(fsid)
}

/// Opens the object a file handle names, `O_PATH` (no open permission event, no data access),
/// relative to any fd on the same filesystem.
pub fn open_by_handle(
    mount_fd: BorrowedFd<'_>,
    handle_type: i32,
    handle: &[u8],
) -> io::Result<OwnedFd> {
    open_by_handle_flags(mount_fd, handle_type, handle, libc::O_PATH)
}

/// [`open_by_handle`] with other open flags (`O_RDONLY` for an fd `fanotify_mark` accepts).
pub fn open_by_handle_flags(
    mount_fd: BorrowedFd<'_>,
    handle_type: i32,
    handle: &[u8],
    flags: libc::c_int,
) -> io::Result<OwnedFd> {
    // struct file_handle { unsigned int handle_bytes; int handle_type; unsigned char f_handle[]; }
    let mut raw = Vec::with_capacity(8 + handle.len());
    raw.extend_from_slice(&(handle.len() as u32).to_ne_bytes());
    raw.extend_from_slice(&handle_type.to_ne_bytes());
    raw.extend_from_slice(handle);
    // Keep the buffer aligned for the u32 header.
    let mut aligned = vec![0u32; raw.len().div_ceil(4)];
    // SAFETY: `aligned` has at least `raw.len()` bytes; u8 has no alignment requirement.
    unsafe {
        std::ptr::copy_nonoverlapping(raw.as_ptr(), aligned.as_mut_ptr().cast::<u8>(), raw.len())
    };
    // SAFETY: `aligned` holds a well-formed file_handle whose handle_bytes matches its length;
    // the kernel only reads it.
    let fd = cvt(unsafe {
        libc::syscall(
            libc::SYS_open_by_handle_at,
            mount_fd.as_raw_fd(),
            aligned.as_mut_ptr(),
            flags | libc::O_CLOEXEC,
        ) as libc::c_int
    })?;
    // SAFETY: the kernel returned a new fd that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens a directory (read-only, not `O_PATH`: `open_by_handle_at` refuses `O_PATH` mount fds
/// with `EBADF`), for [`open_by_handle`].
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    open_path(path, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC)
}

/// `open(2)` of a path with `flags`, as an owned fd.
fn open_path(path: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    let c = cpath(path)?;
    // SAFETY: `c` is NUL-terminated and outlives the call.
    let fd = cvt(unsafe { libc::open(c.as_ptr(), flags) })?;
    // SAFETY: new fd, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Raises the soft limit on open files to the hard limit; returns the new soft limit. Every
/// permission event and every queued close-write holds an fd, and when reading events fails
/// for want of fds the kernel refuses the waiting opens.
pub fn raise_fd_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit the kernel fills.
    cvt(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) })?;
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: `lim` is a valid rlimit the kernel only reads.
        cvt(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) })?;
    }
    Ok(lim.rlim_cur)
}

/// Removes the directory entry `path` only if it still names the file `held` refers to, and
/// returns whether it did. The check and the removal are made relative to one handle on the
/// parent directory (`fstatat` then `unlinkat`), so a directory or name swapped for a symlink
/// between the agent's look and its removal cannot make root delete another file.
pub fn unlink_if_same(path: &Path, held: BorrowedFd<'_>) -> io::Result<bool> {
    use std::os::unix::ffi::OsStrExt as _;
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(false);
    };
    let want = fstat(held)?;
    let dir = open_path(parent, libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)?;
    let name = std::ffi::CString::new(name.as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `dir` is live, `name` NUL-terminated, `st` has room for one `struct stat`.
    cvt(unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    // SAFETY: fstatat returned 0, so it initialised `st`.
    let st = unsafe { st.assume_init() };
    if st.st_dev != want.dev || st.st_ino != want.ino {
        return Ok(false);
    }
    // SAFETY: `dir` is live and `name` NUL-terminated.
    cvt(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) })?;
    Ok(true)
}

/// Empties the file `held` refers to through the fd itself (`/proc/self/fd/N` reopened for
/// writing names the file, not a path), so no swapped path can redirect the truncation.
pub fn truncate_held(held: BorrowedFd<'_>) -> io::Result<()> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/self/fd/{}", held.as_raw_fd()))?;
    file.set_len(0)?;
    file.sync_all()
}

/// Blocks `signals` in the calling thread (and the threads it starts afterwards).
pub fn block_signals(signals: &[libc::c_int]) -> io::Result<()> {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set; sigaddset and pthread_sigmask use it afterwards.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        for &s in signals {
            libc::sigaddset(set.as_mut_ptr(), s);
        }
        let r = libc::pthread_sigmask(libc::SIG_BLOCK, set.as_ptr(), std::ptr::null_mut());
        if r != 0 {
            return Err(io::Error::from_raw_os_error(r));
        }
    }
    Ok(())
}

/// Waits for one of `signals` (blocked beforehand with [`block_signals`]) up to `timeout`.
pub fn wait_signal(signals: &[libc::c_int], timeout: Duration) -> Option<libc::c_int> {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: the set is initialised by sigemptyset before use; `ts` lives on our stack.
    let r = unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        for &s in signals {
            libc::sigaddset(set.as_mut_ptr(), s);
        }
        libc::sigtimedwait(set.as_ptr(), std::ptr::null_mut(), &ts)
    };
    (r > 0).then_some(r)
}

/// Clock ticks per second (`USER_HZ`), the unit of start times in `/proc/PID/stat`.
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf takes a constant name and returns a number or -1; no memory involved.
    let r = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if r > 0 { r as u64 } else { 100 }
}

/// `getpgid(pid)`.
pub fn pgid_of(pid: i32) -> Option<i32> {
    // SAFETY: getpgid takes a pid and returns a pgid or -1; no memory involved.
    let r = unsafe { libc::getpgid(pid) };
    (r >= 0).then_some(r)
}

/// `name_to_handle_at(path)`: the file handle of `path` (type and bytes), as fanotify reports
/// it in file id records. Needs no privilege.
pub fn name_to_handle(path: &Path) -> io::Result<(i32, Vec<u8>)> {
    const MAX_HANDLE_SZ: usize = 128;
    let c = cpath(path)?;
    // struct file_handle { u32 handle_bytes; i32 handle_type; u8 f_handle[MAX_HANDLE_SZ]; }
    let mut buf = vec![0u32; (8 + MAX_HANDLE_SZ) / 4];
    buf[0] = MAX_HANDLE_SZ as u32;
    let mut mount_id: libc::c_int = 0;
    // SAFETY: `buf` is a u32-aligned file_handle with room for MAX_HANDLE_SZ bytes, as its
    // handle_bytes says; `c` is NUL-terminated; `mount_id` is a valid out pointer.
    let r = unsafe {
        libc::syscall(
            libc::SYS_name_to_handle_at,
            libc::AT_FDCWD,
            c.as_ptr(),
            buf.as_mut_ptr(),
            &mut mount_id as *mut libc::c_int,
            0,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let len = (buf[0] as usize).min(MAX_HANDLE_SZ);
    let handle_type = buf[1] as i32;
    let bytes: Vec<u8> = buf[2..]
        .iter()
        .flat_map(|w| w.to_ne_bytes())
        .take(len)
        .collect();
    Ok((handle_type, bytes))
}

/// A socket receiving the kernel's uevents (`NETLINK_KOBJECT_UEVENT`, group 1).
#[derive(Debug)]
pub struct UeventSocket {
    fd: OwnedFd,
}

impl UeventSocket {
    /// Opens and binds the socket.
    pub fn open() -> io::Result<UeventSocket> {
        // SAFETY: socket takes integers and returns a new fd or -1.
        let fd = cvt(unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                libc::NETLINK_KOBJECT_UEVENT,
            )
        })?;
        // SAFETY: the fd is new and ours.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: an all-zero sockaddr_nl is valid; we then set its family and groups.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_groups = 1;
        // SAFETY: `addr` is a sockaddr_nl on our stack and we pass its exact size.
        cvt(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&raw const addr).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        })?;
        Ok(UeventSocket { fd })
    }

    /// Waits up to `timeout` and receives one datagram into `buf` (None on timeout).
    pub fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: one valid pollfd, count 1.
        if unsafe { libc::poll(&mut pfd, 1, ms) } <= 0 {
            return Ok(None);
        }
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::WouldBlock {
                return Ok(None);
            }
            return Err(e);
        }
        Ok(Some(n as usize))
    }
}

#[cfg(test)]
mod unlink_tests {
    use super::*;
    use std::os::fd::AsFd as _;

    #[test]
    fn only_the_held_file_is_removed_whatever_the_path_now_names() {
        let dir = tempfile::tempdir().unwrap();
        let stick = dir.path().join("stick");
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir_all(&stick).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        let target = stick.join("x.txt");
        std::fs::write(&target, "secret").unwrap();
        let held = std::fs::File::open(&target).unwrap();

        // The name now points at another file: nothing is removed.
        std::fs::rename(&target, stick.join("moved.txt")).unwrap();
        std::fs::write(&target, "someone else's").unwrap();
        assert!(!unlink_if_same(&target, held.as_fd()).unwrap());
        assert!(target.exists());

        // The directory swapped for a symlink to another one with the same name in it.
        std::fs::write(elsewhere.join("x.txt"), "precious").unwrap();
        std::fs::remove_file(&target).unwrap();
        std::fs::remove_file(stick.join("moved.txt")).unwrap_or(());
        let swapped = dir.path().join("swapped");
        std::os::unix::fs::symlink(&elsewhere, &swapped).unwrap();
        assert!(!unlink_if_same(&swapped.join("x.txt"), held.as_fd()).unwrap_or(false));
        assert_eq!(
            std::fs::read_to_string(elsewhere.join("x.txt")).unwrap(),
            "precious"
        );

        // The held file under its own name goes, after being emptied through the fd.
        let own = stick.join("own.txt");
        std::fs::write(&own, "secret").unwrap();
        let held = std::fs::File::open(&own).unwrap();
        truncate_held(held.as_fd()).unwrap();
        assert_eq!(std::fs::metadata(&own).unwrap().len(), 0);
        assert!(unlink_if_same(&own, held.as_fd()).unwrap());
        assert!(!own.exists());
    }
}
