//! What `/proc` says about a process: identity (pid, start time, process group), owner,
//! executable and command line, and which files it holds open for writing (`fdinfo`).
//!
//! The text parsers are pure and fuzzed; the readers around them are small.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The fields of `/proc/PID/stat` the agent uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatLine {
    /// Process id.
    pub pid: u32,
    /// Parent.
    pub ppid: u32,
    /// Process group.
    pub pgid: u32,
    /// Session.
    pub sid: u32,
    /// Start time in clock ticks after boot: with the pid, a unique process identity.
    pub start: u64,
}

/// Parses `/proc/PID/stat`. The command name (field 2) is in parentheses and may contain
/// spaces and parentheses itself, so the fields after it are found from the LAST `)`.
pub fn parse_stat(text: &str) -> Option<StatLine> {
    let open = text.find('(')?;
    let pid = text[..open].trim().parse().ok()?;
    let close = text.rfind(')')?;
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // rest[0] = state (field 3), rest[1] = ppid (4), rest[2] = pgrp (5), rest[3] = session (6),
    // rest[19] = starttime (22).
    Some(StatLine {
        pid,
        ppid: rest.get(1)?.parse().ok()?,
        pgid: rest.get(2)?.parse().ok()?,
        sid: rest.get(3)?.parse().ok()?,
        start: rest.get(19)?.parse().ok()?,
    })
}

/// One `/proc/PID/fdinfo/N` record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdInfo {
    /// `open(2)` flags (octal in the file).
    pub flags: u32,
    /// The mount the file is on.
    pub mnt_id: u32,
}

impl FdInfo {
    /// Open for writing (`O_WRONLY` or `O_RDWR`).
    pub fn writable(&self) -> bool {
        let acc = self.flags & libc::O_ACCMODE as u32;
        acc == libc::O_WRONLY as u32 || acc == libc::O_RDWR as u32
    }
}

/// Parses an `fdinfo` record (`pos:`, `flags:` in octal, `mnt_id:`, ...).
pub fn parse_fdinfo(text: &str) -> Option<FdInfo> {
    let mut flags = None;
    let mut mnt_id = None;
    for line in text.lines().take(64) {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key.trim() {
            "flags" => flags = u32::from_str_radix(value.trim(), 8).ok(),
            "mnt_id" => mnt_id = value.trim().parse().ok(),
            _ => {}
        }
    }
    Some(FdInfo {
        flags: flags?,
        mnt_id: mnt_id?,
    })
}

/// The `/proc` root (a parameter so tests can point elsewhere).
#[derive(Debug, Clone)]
pub struct Proc {
    root: PathBuf,
}

impl Default for Proc {
    fn default() -> Self {
        Proc {
            root: PathBuf::from("/proc"),
        }
    }
}

/// Most fds looked at per process when searching for a writer (bounded time on the decision
/// path).
pub const MAX_FDS_SCANNED: usize = 4096;

impl Proc {
    /// A `/proc` at `root`.
    pub fn at(root: &Path) -> Proc {
        Proc {
            root: root.to_owned(),
        }
    }

    /// `/proc/PID/stat`.
    pub fn stat(&self, pid: u32) -> Option<StatLine> {
        let text = std::fs::read_to_string(self.root.join(pid.to_string()).join("stat")).ok()?;
        parse_stat(&text)
    }

    /// The real uid (from `/proc/PID/status`).
    pub fn uid(&self, pid: u32) -> Option<u32> {
        let text = std::fs::read_to_string(self.root.join(pid.to_string()).join("status")).ok()?;
        parse_status_uid(&text)
    }

    /// The executable.
    pub fn exe(&self, pid: u32) -> Option<String> {
        std::fs::read_link(self.root.join(pid.to_string()).join("exe"))
            .ok()
            .map(|p| p.display().to_string())
    }

    /// The command line, at most 4 KiB of it.
    pub fn cmdline(&self, pid: u32) -> Vec<String> {
        let Ok(bytes) = std::fs::read(self.root.join(pid.to_string()).join("cmdline")) else {
            return Vec::new();
        };
        parse_cmdline(&bytes[..bytes.len().min(4096)])
    }

    /// Whether process `pid` holds a file open for writing on one of `mounts` (mount ids):
    /// returns that mount id and the fd number. Looks at most at [`MAX_FDS_SCANNED`] fds.
    pub fn writer_on(&self, pid: u32, mounts: &HashSet<u32>) -> Option<(u32, u32)> {
        if mounts.is_empty() {
            return None;
        }
        let dir = self.root.join(pid.to_string()).join("fdinfo");
        let entries = std::fs::read_dir(&dir).ok()?;
        for entry in entries.take(MAX_FDS_SCANNED).flatten() {
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            if let Some(info) = parse_fdinfo(&text)
                && info.writable()
                && mounts.contains(&info.mnt_id)
            {
                let fd = entry.file_name().to_str()?.parse().ok()?;
                return Some((info.mnt_id, fd));
            }
        }
        None
    }

    /// How long ago process `pid` started: `/proc/uptime` minus its start time, both counted
    /// from boot, so a change of the wall clock does not move it.
    pub fn age(&self, pid: u32, ticks_per_second: u64) -> Option<std::time::Duration> {
        let start = self.stat(pid)?.start;
        let uptime = std::fs::read_to_string(self.root.join("uptime")).ok()?;
        age_from(&uptime, start, ticks_per_second)
    }

    /// Whether any process is in process group `pgid` (scans `/proc`).
    pub fn group_alive(&self, pgid: u32) -> bool {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return true;
        };
        entries.flatten().any(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
                .and_then(|pid| self.stat(pid))
                .is_some_and(|s| s.pgid == pgid)
        })
    }
}

/// A process's age from `/proc/uptime` text (`12345.67 890.12`) and its start time in clock
/// ticks after boot.
pub fn age_from(
    uptime: &str,
    start_ticks: u64,
    ticks_per_second: u64,
) -> Option<std::time::Duration> {
    let uptime: f64 = uptime.split_whitespace().next()?.parse().ok()?;
    let started = start_ticks as f64 / ticks_per_second.max(1) as f64;
    let age = uptime - started;
    (age.is_finite() && age >= 0.0).then(|| std::time::Duration::from_secs_f64(age))
}

/// The real uid from `/proc/PID/status` text.
pub fn parse_status_uid(text: &str) -> Option<u32> {
    text.lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|u| u.parse().ok())
}

/// NUL-separated arguments.
pub fn parse_cmdline(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .take(256)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// The login name of `uid`, from the password database.
pub fn user_name(uid: u32) -> Option<String> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let _ = f.next()?;
        (f.next()?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_command_names() {
        let line = "24525 (cat) R 24520 24519 5438 0 -1 4194304 103 0 0 0 0 0 0 0 20 0 1 0 554663 3133440 390";
        let s = parse_stat(line).unwrap();
        assert_eq!(
            (s.pid, s.ppid, s.pgid, s.sid, s.start),
            (24525, 24520, 24519, 5438, 554663)
        );
        let odd = "7 (a) b) (c) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99 0 0";
        let s = parse_stat(odd).unwrap();
        assert_eq!((s.pid, s.ppid, s.pgid, s.start), (7, 1, 7, 99));
        assert_eq!(parse_stat("12 (x) R 1 2"), None);
        assert_eq!(parse_stat(""), None);
    }

    #[test]
    fn age_is_uptime_minus_start() {
        use std::time::Duration;
        assert_eq!(
            age_from("5556.63 100.0\n", 554663, 100),
            Some(Duration::from_secs(10))
        );
        assert_eq!(age_from("5546.63", 554663, 100), Some(Duration::ZERO));
        // A start after "now" (a torn read) or garbage gives no age rather than a wrong one.
        assert_eq!(age_from("10.0", 554663, 100), None);
        assert_eq!(age_from("x", 1, 100), None);
        assert_eq!(age_from("", 1, 100), None);
        assert_eq!(age_from("NaN", 1, 100), None);
    }

    #[test]
    fn fdinfo_flags_and_mount() {
        let w = parse_fdinfo("pos:\t34\nflags:\t0100001\nmnt_id:\t27\nino:\t1\n").unwrap();
        assert_eq!(w.mnt_id, 27);
        assert!(w.writable());
        let rw = parse_fdinfo("flags:\t02\nmnt_id:\t3\n").unwrap();
        assert!(rw.writable());
        let r = parse_fdinfo("pos:\t0\nflags:\t0100000\nmnt_id:\t27\n").unwrap();
        assert!(!r.writable());
        assert_eq!(parse_fdinfo("pos: 1\n"), None);
        assert_eq!(parse_fdinfo("flags:\t9\nmnt_id:\t1\n"), None, "not octal");
    }

    #[test]
    fn status_and_cmdline() {
        assert_eq!(
            parse_status_uid("Name:\tx\nUid:\t1000\t1000\t1000\t1000\nGid:\t1\n"),
            Some(1000)
        );
        assert_eq!(parse_status_uid("Name: x\n"), None);
        assert_eq!(parse_cmdline(b"cp\0-a\0x y\0"), vec!["cp", "-a", "x y"]);
    }

    #[test]
    fn finds_own_writer_fd_on_a_mount() {
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::File::create(dir.path().join("w")).unwrap();
        let proc = Proc::default();
        let me = std::process::id();
        // The mount id of our fd, from our own fdinfo.
        use std::os::fd::AsRawFd as _;
        let text =
            std::fs::read_to_string(format!("/proc/self/fdinfo/{}", file.as_raw_fd())).unwrap();
        let info = parse_fdinfo(&text).unwrap();
        assert!(info.writable());
        let set: HashSet<u32> = [info.mnt_id].into();
        assert_eq!(proc.writer_on(me, &set).map(|(m, _)| m), Some(info.mnt_id));
        let other: HashSet<u32> = [u32::MAX].into();
        assert_eq!(proc.writer_on(me, &other), None);
        let s = proc.stat(me).unwrap();
        assert_eq!(s.pid, me);
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC{0,200}") {
            let _ = parse_stat(&s);
            let _ = parse_fdinfo(&s);
            let _ = parse_status_uid(&s);
        }
    }
}
