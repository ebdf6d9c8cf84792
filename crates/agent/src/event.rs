//! Parsing the records a fanotify group's `read()` returns. Pure: bytes in, events out.
//!
//! The kernel lays out a buffer as a sequence of `struct fanotify_event_metadata` (24 bytes:
//! `event_len: u32, vers: u8, reserved: u8, metadata_len: u16, mask: u64, fd: i32, pid: i32`),
//! each followed, in groups that report file ids, by information records
//! (`struct fanotify_event_info_header { info_type: u8, pad: u8, len: u16 }` and a body). The
//! buffer comes from the kernel, but the parser still treats it as untrusted: every length is
//! checked, a bad record ends the parse with an error instead of a panic, and the fuzz target
//! `agent_fanotify_events` runs it on arbitrary bytes.

use std::fmt;

/// `FANOTIFY_METADATA_VERSION` of the kernel ABI this parser understands.
pub const METADATA_VERSION: u8 = 3;
/// Size of `struct fanotify_event_metadata`.
pub const METADATA_LEN: usize = 24;

/// Information record types (`FAN_EVENT_INFO_TYPE_*`).
pub mod info_type {
    /// The object's file id.
    pub const FID: u8 = 1;
    /// The parent directory's file id and the entry name.
    pub const DFID_NAME: u8 = 2;
    /// The parent directory's file id.
    pub const DFID: u8 = 3;
    /// A pidfd of the process.
    pub const PIDFD: u8 = 4;
    /// A filesystem error.
    pub const ERROR: u8 = 5;
    /// `FAN_RENAME`: the old directory and name.
    pub const OLD_DFID_NAME: u8 = 10;
    /// `FAN_RENAME`: the new directory and name.
    pub const NEW_DFID_NAME: u8 = 12;
}

/// One information record attached to an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Info<'a> {
    /// A file id record (`FID`, `DFID`, `DFID_NAME`, `OLD_DFID_NAME`, `NEW_DFID_NAME`).
    Fid(FidInfo<'a>),
    /// A pidfd (`-1` when the process was already reaped; `FAN_NOPIDFD`/`FAN_EPIDFD`).
    Pidfd(i32),
    /// Another record type, kept so a newer kernel does not break the parse.
    Other {
        /// The record type.
        kind: u8,
    },
}

/// A file id record: which filesystem, which object (as a `struct file_handle`), and for the
/// directory records the entry name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FidInfo<'a> {
    /// One of [`info_type`]'s file id kinds.
    pub kind: u8,
    /// The filesystem id (`statfs().f_fsid`).
    pub fsid: [i32; 2],
    /// `file_handle.handle_type`.
    pub handle_type: i32,
    /// `file_handle.f_handle`, `handle_bytes` long.
    pub handle: &'a [u8],
    /// The entry name, for the `*_DFID_NAME` kinds (without the terminating NUL).
    pub name: Option<&'a [u8]>,
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent<'a> {
    /// `FAN_*` bits.
    pub mask: u64,
    /// An open file descriptor for the object (permission and fd-reporting groups), or
    /// `FAN_NOFD` (-1) in groups that report file ids.
    pub fd: i32,
    /// The process (or thread, with `FAN_REPORT_TID`) that caused the event.
    pub pid: i32,
    /// The information records, in kernel order.
    pub info: Vec<Info<'a>>,
}

impl RawEvent<'_> {
    /// The file id record of `kind`, if the event has one.
    pub fn fid(&self, kind: u8) -> Option<&FidInfo<'_>> {
        self.info.iter().find_map(|i| match i {
            Info::Fid(f) if f.kind == kind => Some(f),
            _ => None,
        })
    }
}

/// A buffer that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// A record claims more bytes than the buffer has, or fewer than its header.
    #[error("fanotify record at byte {offset}: bad length {len}")]
    BadLength {
        /// Where the record starts.
        offset: usize,
        /// The length it claims.
        len: usize,
    },
    /// A metadata version this parser does not know.
    #[error(
        "fanotify record at byte {offset}: metadata version {version}, expected {METADATA_VERSION}"
    )]
    Version {
        /// Where the record starts.
        offset: usize,
        /// The version found.
        version: u8,
    },
    /// An information record inside an event is malformed.
    #[error("fanotify record at byte {offset}: malformed information record of type {kind}")]
    BadInfo {
        /// Where the information record starts.
        offset: usize,
        /// Its type.
        kind: u8,
    },
}

/// Iterates over the events in `buf` (what one `read()` returned). Stops after the first error.
pub fn parse(buf: &[u8]) -> Events<'_> {
    Events {
        buf,
        offset: 0,
        failed: false,
    }
}

/// The iterator [`parse`] returns.
#[derive(Debug)]
pub struct Events<'a> {
    buf: &'a [u8],
    offset: usize,
    failed: bool,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

impl<'a> Iterator for Events<'a> {
    type Item = Result<RawEvent<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.offset >= self.buf.len() {
            return None;
        }
        let result = self.next_event();
        if result.is_err() {
            self.failed = true;
        }
        Some(result)
    }
}

impl<'a> Events<'a> {
    fn next_event(&mut self) -> Result<RawEvent<'a>, ParseError> {
        let start = self.offset;
        let rest = &self.buf[start..];
        let bad = |len| ParseError::BadLength { offset: start, len };
        let event_len = u32_at(rest, 0).ok_or(bad(rest.len()))? as usize;
        if event_len < METADATA_LEN || event_len > rest.len() {
            return Err(bad(event_len));
        }
        let record = &rest[..event_len];
        let version = record[4];
        if version != METADATA_VERSION {
            return Err(ParseError::Version {
                offset: start,
                version,
            });
        }
        let metadata_len = u16_at(record, 6).ok_or(bad(event_len))? as usize;
        if metadata_len < METADATA_LEN || metadata_len > event_len {
            return Err(bad(metadata_len));
        }
        let mask = u64_at(record, 8).ok_or(bad(event_len))?;
        let fd = i32_at(record, 16).ok_or(bad(event_len))?;
        let pid = i32_at(record, 20).ok_or(bad(event_len))?;
        let mut info = Vec::new();
        let mut at = metadata_len;
        while at < event_len {
            let info_start = start + at;
            let kind = record[at];
            let len = u16_at(record, at + 2).ok_or(ParseError::BadInfo {
                offset: info_start,
                kind,
            })? as usize;
            if len < 4 || at + len > event_len {
                return Err(ParseError::BadInfo {
                    offset: info_start,
                    kind,
                });
            }
            let body = &record[at + 4..at + len];
            info.push(parse_info(kind, body).ok_or(ParseError::BadInfo {
                offset: info_start,
                kind,
            })?);
            at += len;
        }
        self.offset += event_len;
        Ok(RawEvent {
            mask,
            fd,
            pid,
            info,
        })
    }
}

fn parse_info(kind: u8, body: &[u8]) -> Option<Info<'_>> {
    use info_type::*;
    match kind {
        FID | DFID | DFID_NAME | OLD_DFID_NAME | NEW_DFID_NAME => {
            let fsid = [i32_at(body, 0)?, i32_at(body, 4)?];
            let handle_bytes = u32_at(body, 8)? as usize;
            let handle_type = i32_at(body, 12)?;
            let handle = body.get(16..16usize.checked_add(handle_bytes)?)?;
            let tail = &body[16 + handle_bytes..];
            let name = if matches!(kind, DFID_NAME | OLD_DFID_NAME | NEW_DFID_NAME) {
                // NUL-terminated, then padded to 4 bytes with NULs.
                let end = tail.iter().position(|&b| b == 0)?;
                Some(&tail[..end])
            } else {
                None
            };
            Some(Info::Fid(FidInfo {
                kind,
                fsid,
                handle_type,
                handle,
                name,
            }))
        }
        PIDFD => Some(Info::Pidfd(i32_at(body, 0)?)),
        _ => Some(Info::Other { kind }),
    }
}

impl fmt::Display for RawEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mask={:#x} fd={} pid={}", self.mask, self.fd, self.pid)
    }
}

/// Encoders for tests and fuzz seeds: build the bytes the kernel would return.
pub mod encode {
    use super::{METADATA_LEN, METADATA_VERSION};

    /// One metadata record with `info` (already encoded records) appended.
    pub fn event(mask: u64, fd: i32, pid: i32, info: &[Vec<u8>]) -> Vec<u8> {
        let info_len: usize = info.iter().map(Vec::len).sum();
        let len = METADATA_LEN + info_len;
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&(len as u32).to_ne_bytes());
        out.push(METADATA_VERSION);
        out.push(0);
        out.extend_from_slice(&(METADATA_LEN as u16).to_ne_bytes());
        out.extend_from_slice(&mask.to_ne_bytes());
        out.extend_from_slice(&fd.to_ne_bytes());
        out.extend_from_slice(&pid.to_ne_bytes());
        for i in info {
            out.extend_from_slice(i);
        }
        out
    }

    /// A file id record, padded to 4 bytes as the kernel does.
    pub fn fid(
        kind: u8,
        fsid: [i32; 2],
        handle_type: i32,
        handle: &[u8],
        name: Option<&[u8]>,
    ) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&fsid[0].to_ne_bytes());
        body.extend_from_slice(&fsid[1].to_ne_bytes());
        body.extend_from_slice(&(handle.len() as u32).to_ne_bytes());
        body.extend_from_slice(&handle_type.to_ne_bytes());
        body.extend_from_slice(handle);
        if let Some(name) = name {
            body.extend_from_slice(name);
            body.push(0);
        }
        while (body.len() + 4) % 4 != 0 {
            body.push(0);
        }
        let mut out = vec![kind, 0];
        out.extend_from_slice(&((body.len() + 4) as u16).to_ne_bytes());
        out.extend_from_slice(&body);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_permission_events() {
        let mut buf = encode::event(0x1_0000, 7, 1234, &[]);
        buf.extend(encode::event(0x4_0000, 8, 99, &[]));
        let events: Vec<_> = parse(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(
            (events[0].mask, events[0].fd, events[0].pid),
            (0x1_0000, 7, 1234)
        );
        assert_eq!(
            (events[1].mask, events[1].fd, events[1].pid),
            (0x4_0000, 8, 99)
        );
        assert!(events[0].info.is_empty());
    }

    #[test]
    fn dfid_name_and_fid_records() {
        let dfid = encode::fid(
            info_type::DFID_NAME,
            [1, 2],
            1,
            &[9, 9, 9, 9, 9, 9, 9, 9],
            Some("秘密.txt".as_bytes()),
        );
        let fid = encode::fid(info_type::FID, [1, 2], 1, &[1, 2, 3, 4, 5, 6, 7, 8], None);
        let buf = encode::event(0x8, -1, 42, &[dfid, fid]);
        let event = parse(&buf).next().unwrap().unwrap();
        let d = event.fid(info_type::DFID_NAME).unwrap();
        assert_eq!(d.name, Some("秘密.txt".as_bytes()));
        assert_eq!(d.fsid, [1, 2]);
        assert_eq!(d.handle, &[9; 8]);
        let f = event.fid(info_type::FID).unwrap();
        assert_eq!(f.name, None);
        assert_eq!(f.handle, &[1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn rename_has_old_and_new() {
        let old = encode::fid(info_type::OLD_DFID_NAME, [0, 0], 1, &[1; 8], Some(b"a"));
        let new = encode::fid(info_type::NEW_DFID_NAME, [0, 0], 1, &[2; 8], Some(b"b"));
        let buf = encode::event(0x1000_0000, -1, 1, &[old, new]);
        let e = parse(&buf).next().unwrap().unwrap();
        assert_eq!(
            e.fid(info_type::OLD_DFID_NAME).unwrap().name,
            Some(&b"a"[..])
        );
        assert_eq!(
            e.fid(info_type::NEW_DFID_NAME).unwrap().name,
            Some(&b"b"[..])
        );
    }

    #[test]
    fn truncated_and_lying_records_are_errors() {
        let buf = encode::event(1, 3, 4, &[]);
        for cut in 1..buf.len() {
            let r: Vec<_> = parse(&buf[..cut]).collect();
            assert!(r.iter().all(|x| x.is_err()), "cut at {cut}");
        }
        let mut lying = buf.clone();
        lying[0..4].copy_from_slice(&1000u32.to_ne_bytes());
        assert!(matches!(
            parse(&lying).next(),
            Some(Err(ParseError::BadLength { .. }))
        ));
        let mut version = buf.clone();
        version[4] = 2;
        assert!(matches!(
            parse(&version).next(),
            Some(Err(ParseError::Version { .. }))
        ));
        // An info record claiming a handle longer than itself.
        let mut fid = encode::fid(info_type::FID, [0, 0], 1, &[0; 8], None);
        fid[12..16].copy_from_slice(&200u32.to_ne_bytes());
        let buf = encode::event(1, -1, 1, &[fid]);
        assert!(matches!(
            parse(&buf).next(),
            Some(Err(ParseError::BadInfo { .. }))
        ));
        // A name without its NUL.
        let mut named = encode::fid(info_type::DFID_NAME, [0, 0], 1, &[0; 8], Some(b"abc"));
        let n = named.len();
        named[n - 4..].copy_from_slice(b"abcd");
        let buf = encode::event(1, -1, 1, &[named]);
        assert!(parse(&buf).next().unwrap().is_err());
    }

    #[test]
    fn parse_stops_after_error() {
        let mut buf = vec![0u8; 4];
        buf.extend(encode::event(1, 1, 1, &[]));
        let all: Vec<_> = parse(&buf).collect();
        assert_eq!(all.len(), 1);
        assert!(all[0].is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            for e in parse(&bytes) { let _ = e; }
        }
    }
}
