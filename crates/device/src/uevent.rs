//! Kernel uevents: the messages the kernel multicasts on `NETLINK_KOBJECT_UEVENT` group 1 when a
//! device is added, removed, bound or changed.
//!
//! Mamori listens to the kernel itself rather than to udev: machines without udevd (this
//! development VM, containers, minimal servers) still get them, and nothing between the kernel
//! and the agent can drop or forge one. Messages from udev's own multicast group (they start with
//! `libudev\0`) are refused.
//!
//! A kernel message is `ACTION@DEVPATH\0KEY=VALUE\0KEY=VALUE\0…`.

use std::collections::BTreeMap;

/// Largest message accepted: the kernel's own limit (`UEVENT_BUFFER_SIZE`) is 2048 bytes.
pub const MAX_UEVENT_BYTES: usize = 8192;

/// A parsed uevent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uevent {
    /// `add`, `remove`, `bind`, `unbind`, `change`, `move`, `online`, `offline`.
    pub action: String,
    /// The device's path under `/sys` (`/devices/pci0000:00/…/usb1/1-1`).
    pub devpath: String,
    /// Every `KEY=VALUE` pair (`SUBSYSTEM`, `DEVTYPE`, `DEVNAME`, `PRODUCT`, `SEQNUM`…).
    pub vars: BTreeMap<String, String>,
}

/// Why a message is not a kernel uevent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UeventError {
    /// Longer than [`MAX_UEVENT_BYTES`].
    #[error("uevent of {0} bytes is over the {MAX_UEVENT_BYTES}-byte limit")]
    TooLong(usize),
    /// A udev message (`libudev\0` header), not the kernel's.
    #[error("a udev message, not a kernel uevent")]
    FromUdev,
    /// The header is not `ACTION@DEVPATH`.
    #[error("the header is not ACTION@DEVPATH")]
    BadHeader,
    /// Not UTF-8.
    #[error("the message is not UTF-8")]
    NotUtf8,
}

impl Uevent {
    /// Parses one message.
    pub fn parse(bytes: &[u8]) -> Result<Uevent, UeventError> {
        if bytes.len() > MAX_UEVENT_BYTES {
            return Err(UeventError::TooLong(bytes.len()));
        }
        if bytes.starts_with(b"libudev\0") {
            return Err(UeventError::FromUdev);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| UeventError::NotUtf8)?;
        let mut fields = text.split('\0');
        let header = fields.next().unwrap_or("");
        let (action, devpath) = header.split_once('@').ok_or(UeventError::BadHeader)?;
        if action.is_empty() || !devpath.starts_with('/') {
            return Err(UeventError::BadHeader);
        }
        let mut vars = BTreeMap::new();
        for field in fields {
            if let Some((key, value)) = field.split_once('=')
                && !key.is_empty()
            {
                vars.insert(key.to_string(), value.to_string());
            }
        }
        Ok(Uevent {
            action: action.to_string(),
            devpath: devpath.to_string(),
            vars,
        })
    }

    /// A variable's value.
    pub fn var(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }

    /// `SUBSYSTEM`.
    pub fn subsystem(&self) -> Option<&str> {
        self.var("SUBSYSTEM")
    }

    /// For a USB device (`SUBSYSTEM=usb`, `DEVTYPE=usb_device`): its sysfs port name, the last
    /// component of the device path (`1-1.4`).
    pub fn usb_port(&self) -> Option<&str> {
        (self.subsystem() == Some("usb") && self.var("DEVTYPE") == Some("usb_device"))
            .then(|| self.devpath.rsplit('/').next())
            .flatten()
    }

    /// For a block device: its name under `/dev` (`sdb`, `sdb1`, `loop3`).
    pub fn block_device(&self) -> Option<&str> {
        (self.subsystem() == Some("block"))
            .then(|| self.var("DEVNAME"))
            .flatten()
    }

    /// For a block device: the USB device port it hangs under, if any (from the device path:
    /// `…/usb1/1-1/1-1:1.0/host2/…/block/sdb` → `1-1`).
    pub fn usb_parent_port(&self) -> Option<&str> {
        let mut parts = self.devpath.split('/').peekable();
        let mut port = None;
        while let Some(part) = parts.next() {
            if part.starts_with("usb") && part[3..].bytes().all(|b| b.is_ascii_digit()) {
                // The device right under the root hub, and deeper ones through hubs.
                while let Some(next) = parts.peek() {
                    if crate::device::is_device_name(next) && !next.starts_with("usb") {
                        port = Some(*next);
                        parts.next();
                    } else {
                        break;
                    }
                }
            }
        }
        port
    }
}

/// A socket receiving kernel uevents.
#[derive(Debug)]
pub struct UeventSocket {
    fd: rustix::fd::OwnedFd,
}

impl UeventSocket {
    /// Opens a netlink socket bound to the kernel's uevent group (needs root, or
    /// `CAP_NET_ADMIN` in some containers; an ordinary user may listen on most systems).
    pub fn open() -> std::io::Result<UeventSocket> {
        use rustix::net::{AddressFamily, SocketFlags, SocketType, netlink};
        let fd = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC,
            Some(netlink::KOBJECT_UEVENT),
        )?;
        // A big receive buffer: a hub with several devices sends bursts.
        let _ = rustix::net::sockopt::set_socket_recv_buffer_size(&fd, 1 << 20);
        rustix::net::bind(&fd, &netlink::SocketAddrNetlink::new(0, 1))?;
        Ok(UeventSocket { fd })
    }

    /// Waits up to `timeout` for the next message and parses it; `Ok(None)` on time-out.
    /// Messages that are not kernel uevents are skipped.
    pub fn next(&self, timeout: std::time::Duration) -> std::io::Result<Option<Uevent>> {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let deadline = std::time::Instant::now() + timeout;
        let mut buf = vec![0u8; MAX_UEVENT_BYTES + 1];
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
            let spec = Timespec {
                tv_sec: left.as_secs() as i64,
                tv_nsec: i64::from(left.subsec_nanos()),
            };
            match poll(&mut fds, Some(&spec)) {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
            let n =
                match rustix::net::recv(&self.fd, &mut buf[..], rustix::net::RecvFlags::DONTWAIT) {
                    Ok((n, _)) => n,
                    Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => continue,
                    Err(e) => return Err(e.into()),
                };
            if let Ok(event) = Uevent::parse(&buf[..n.min(buf.len())]) {
                return Ok(Some(event));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USB_ADD: &[u8] = b"add@/devices/pci0000:00/0000:00:14.0/usb1/1-1\0ACTION=add\0DEVPATH=/devices/pci0000:00/0000:00:14.0/usb1/1-1\0SUBSYSTEM=usb\0MAJOR=189\0MINOR=1\0DEVNAME=bus/usb/001/002\0DEVTYPE=usb_device\0PRODUCT=781/5567/100\0TYPE=0/0/0\0BUSNUM=001\0DEVNUM=002\0SEQNUM=2301\0";
    const BLOCK_ADD: &[u8] = b"add@/devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1.4/1-1.4:1.0/host2/target2:0:0/2:0:0:0/block/sdb/sdb1\0ACTION=add\0SUBSYSTEM=block\0DEVNAME=sdb1\0DEVTYPE=partition\0SEQNUM=2310\0";

    #[test]
    fn parses_usb_and_block_events() {
        let e = Uevent::parse(USB_ADD).unwrap();
        assert_eq!(e.action, "add");
        assert_eq!(e.usb_port(), Some("1-1"));
        assert_eq!(e.var("PRODUCT"), Some("781/5567/100"));
        assert_eq!(e.block_device(), None);
        let b = Uevent::parse(BLOCK_ADD).unwrap();
        assert_eq!(b.block_device(), Some("sdb1"));
        assert_eq!(b.usb_port(), None);
        assert_eq!(b.usb_parent_port(), Some("1-1.4"));
        let loop_dev =
            Uevent::parse(b"change@/devices/virtual/block/loop3\0SUBSYSTEM=block\0DEVNAME=loop3\0")
                .unwrap();
        assert_eq!(loop_dev.block_device(), Some("loop3"));
        assert_eq!(loop_dev.usb_parent_port(), None);
    }

    #[test]
    fn refuses_udev_messages_and_garbage() {
        assert_eq!(
            Uevent::parse(b"libudev\0\xfe\xed"),
            Err(UeventError::FromUdev)
        );
        assert_eq!(
            Uevent::parse(b"no header here"),
            Err(UeventError::BadHeader)
        );
        assert_eq!(
            Uevent::parse(b"add@relative\0"),
            Err(UeventError::BadHeader)
        );
        assert_eq!(Uevent::parse(b"add@/x\0\xff"), Err(UeventError::NotUtf8));
        assert!(matches!(
            Uevent::parse(&[b'a'; MAX_UEVENT_BYTES + 1]),
            Err(UeventError::TooLong(_))
        ));
    }
}
