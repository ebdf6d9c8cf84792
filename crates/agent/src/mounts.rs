//! The mount table (`/proc/self/mountinfo`) and which mounts are *controlled*: removable media
//! or network shares, where classified content must not go.
//!
//! Parsing is pure ([`parse_mountinfo`]); deciding removability reads a sysfs tree whose root is
//! a parameter ([`Detector::sysfs_root`]), so tests use a fake tree.

use std::path::{Path, PathBuf};

use mamori_model::Channel;

/// One line of `mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The mount id (what `/proc/PID/fdinfo` calls `mnt_id`).
    pub id: u32,
    /// The parent mount's id.
    pub parent: u32,
    /// Device major number.
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
    /// The root of the mount within its filesystem.
    pub root: PathBuf,
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// Per-mount options (`rw,nosuid`).
    pub options: String,
    /// Filesystem type (`ext4`, `nfs4`, `fuse.sshfs`).
    pub fs_type: String,
    /// Mount source (`/dev/sdb1`, `server:/export`).
    pub source: String,
}

impl Mount {
    /// `st_dev` of files on this mount, as `makedev(major, minor)`.
    pub fn dev(&self) -> u64 {
        libc::makedev(self.major, self.minor)
    }

    /// Mounted read-only.
    pub fn read_only(&self) -> bool {
        self.options.split(',').any(|o| o == "ro")
    }
}

/// Longest accepted mountinfo text; a machine with 100k mounts stays under it.
pub const MAX_MOUNTINFO_BYTES: usize = 64 << 20;

/// Undoes the octal escapes (`\040` for a space) the kernel writes in paths.
fn unescape(field: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt as _;
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            if let Ok(v) = u8::try_from(v) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// Parses `mountinfo` text. Malformed lines are skipped (and counted in the second value), so
/// one odd line cannot hide the others.
pub fn parse_mountinfo(text: &str) -> (Vec<Mount>, usize) {
    let mut mounts = Vec::new();
    let mut bad = 0;
    for line in text.lines().take(1_000_000) {
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(line) {
            Some(m) => mounts.push(m),
            None => bad += 1,
        }
    }
    (mounts, bad)
}

fn parse_line(line: &str) -> Option<Mount> {
    let (left, right) = line.split_once(" - ")?;
    let mut l = left.split(' ');
    let id = l.next()?.parse().ok()?;
    let parent = l.next()?.parse().ok()?;
    let (major, minor) = l.next()?.split_once(':')?;
    let root = unescape(l.next()?);
    let mount_point = unescape(l.next()?);
    let options = l.next()?.to_owned();
    let mut r = right.split(' ');
    let fs_type = r.next()?.to_owned();
    let source = r.next()?.to_owned();
    if fs_type.is_empty() {
        return None;
    }
    Some(Mount {
        id,
        parent,
        major: major.parse().ok()?,
        minor: minor.parse().ok()?,
        root,
        mount_point,
        options,
        fs_type,
        source,
    })
}

/// Filesystem types that are network shares.
pub const NETWORK_FS_TYPES: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "ncpfs",
    "afs",
    "ceph",
    "glusterfs",
    "9p",
    "fuse.sshfs",
    "sshfs",
    "fuse.rclone",
    "fuse.s3fs",
    "fuse.gvfsd-fuse",
    "fuse.davfs",
    "davfs",
];

/// Why a mount is controlled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Named with `--removable`.
    Configured,
    /// A network filesystem type.
    NetworkType,
    /// A block device whose sysfs `removable` flag is 1 or that sits on a USB bus.
    RemovableDevice,
    /// A generic FUSE filesystem (`fuse`, `fuse.*` without a block device): could be anything
    /// remote.
    Fuse,
}

/// A mount where classified content must not go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Controlled {
    /// The mount.
    pub mount: Mount,
    /// `removable_media` or `network_share`.
    pub channel: Channel,
    /// Why.
    pub reason: Reason,
    /// The USB device under a removable mount (vendor, product, serial from sysfs), when the
    /// block device sits on a USB bus: what the policy's `usb` conditions and exceptions match.
    pub usb: Option<mamori_policy::UsbDevice>,
}

/// Decides which mounts are controlled.
#[derive(Debug, Clone)]
pub struct Detector {
    /// Mount points configured as removable media (`--removable`), canonical.
    pub removable: Vec<PathBuf>,
    /// Mount points configured as network shares (`--share`), canonical.
    pub shares: Vec<PathBuf>,
    /// Look at filesystem types and sysfs too (off: only the configured mount points).
    pub auto: bool,
    /// The root of the sysfs tree (`/sys`; a fake tree in tests).
    pub sysfs_root: PathBuf,
}

impl Detector {
    /// The channel `mount` is controlled as, if any.
    pub fn classify(&self, mount: &Mount) -> Option<(Channel, Reason)> {
        if self.removable.iter().any(|p| p == &mount.mount_point) {
            return Some((Channel::RemovableMedia, Reason::Configured));
        }
        if self.shares.iter().any(|p| p == &mount.mount_point) {
            return Some((Channel::NetworkShare, Reason::Configured));
        }
        if !self.auto {
            return None;
        }
        if NETWORK_FS_TYPES.contains(&mount.fs_type.as_str()) {
            return Some((Channel::NetworkShare, Reason::NetworkType));
        }
        // Real block devices have a nonzero major; tmpfs, proc and FUSE have major 0.
        if mount.major != 0 && self.is_removable(mount.major, mount.minor) {
            return Some((Channel::RemovableMedia, Reason::RemovableDevice));
        }
        if mount.fs_type == "fuseblk" && mount.source.starts_with("/dev/") {
            // A FUSE filesystem on a block device (ntfs-3g, exfat-fuse): the device decides,
            // through its sysfs entry, found by the source's device numbers.
            if let Some((maj, min)) = block_dev_numbers(Path::new(&mount.source))
                && self.is_removable(maj, min)
            {
                return Some((Channel::RemovableMedia, Reason::RemovableDevice));
            }
            return None;
        }
        if mount.fs_type == "fuse" || mount.fs_type.starts_with("fuse.") {
            if mount.source.starts_with("/dev/")
                && let Some((maj, min)) = block_dev_numbers(Path::new(&mount.source))
            {
                return self
                    .is_removable(maj, min)
                    .then_some((Channel::RemovableMedia, Reason::RemovableDevice));
            }
            if mount.fs_type == "fuse.portal" || mount.fs_type == "fuse.lxcfs" {
                return None;
            }
            return Some((Channel::NetworkShare, Reason::Fuse));
        }
        None
    }

    /// Whether the block device `major:minor` is removable: its own `removable` flag, its
    /// parent disk's (for a partition), or a USB bus on its device path.
    pub fn is_removable(&self, major: u32, minor: u32) -> bool {
        let link = self
            .sysfs_root
            .join("dev/block")
            .join(format!("{major}:{minor}"));
        let Ok(dir) = std::fs::canonicalize(&link) else {
            return false;
        };
        let flag = |d: &Path| {
            std::fs::read_to_string(d.join("removable"))
                .map(|s| s.trim() == "1")
                .unwrap_or(false)
        };
        if flag(&dir) {
            return true;
        }
        // A partition's directory sits inside its disk's and has a `partition` file.
        if dir.join("partition").exists()
            && let Some(parent) = dir.parent()
            && flag(parent)
        {
            return true;
        }
        dir.components()
            .any(|c| c.as_os_str().to_string_lossy().starts_with("usb"))
    }

    /// The USB device a mount's block device sits on (a FUSE filesystem on a block device
    /// counts through its source).
    pub fn usb_of(&self, mount: &Mount) -> Option<mamori_policy::UsbDevice> {
        if mount.major != 0 {
            return self.usb_device(mount.major, mount.minor);
        }
        let (major, minor) = block_dev_numbers(Path::new(&mount.source))?;
        self.usb_device(major, minor)
    }

    /// The USB device the block device `major:minor` sits on: the nearest directory above it in
    /// sysfs with `idVendor` and `idProduct` (and `serial` when the device reports one).
    pub fn usb_device(&self, major: u32, minor: u32) -> Option<mamori_policy::UsbDevice> {
        let link = self
            .sysfs_root
            .join("dev/block")
            .join(format!("{major}:{minor}"));
        let dir = std::fs::canonicalize(&link).ok()?;
        let root = std::fs::canonicalize(&self.sysfs_root).ok()?;
        let read = |d: &Path, name: &str| -> Option<String> {
            let mut text = String::new();
            std::io::Read::read_to_string(
                &mut std::io::Read::take(std::fs::File::open(d.join(name)).ok()?, 256),
                &mut text,
            )
            .ok()?;
            let text = text.trim();
            (!text.is_empty()).then(|| text.to_owned())
        };
        // The nearest USB device only: ids that do not parse are no identity, never the hub's.
        let device = dir
            .ancestors()
            .take_while(|d| d.starts_with(&root) && *d != root)
            .find(|d| d.join("idVendor").exists())?;
        let vendor = u16::from_str_radix(&read(device, "idVendor")?, 16).ok()?;
        let product = u16::from_str_radix(&read(device, "idProduct")?, 16).ok()?;
        Some(mamori_policy::UsbDevice {
            vendor,
            product,
            serial: read(device, "serial"),
        })
    }

    /// Every controlled mount of `mounts`.
    pub fn controlled(&self, mounts: &[Mount]) -> Vec<Controlled> {
        mounts
            .iter()
            .filter_map(|m| {
                self.classify(m).map(|(channel, reason)| Controlled {
                    mount: m.clone(),
                    channel,
                    reason,
                    usb: (channel == Channel::RemovableMedia)
                        .then(|| self.usb_of(m))
                        .flatten(),
                })
            })
            .collect()
    }
}

fn block_dev_numbers(dev: &Path) -> Option<(u32, u32)> {
    use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
    let meta = std::fs::metadata(dev).ok()?;
    if !meta.file_type().is_block_device() {
        return None;
    }
    let rdev = meta.rdev();
    Some((libc::major(rdev), libc::minor(rdev)))
}

/// The mount `path` is on: the mount whose mount point is the longest prefix of it (the last
/// one mounted wins among equals, as the kernel's view does).
pub fn mount_of<'a>(mounts: &'a [Mount], path: &Path) -> Option<&'a Mount> {
    mounts
        .iter()
        .enumerate()
        .filter(|(_, m)| path.starts_with(&m.mount_point))
        .max_by_key(|(i, m)| (m.mount_point.components().count(), *i))
        .map(|(_, m)| m)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
40 22 0:45 / /mnt/my\\040share rw,relatime - cifs //srv/share rw,vers=3.0
41 22 8:17 / /media/usb rw,nosuid - ext4 /dev/sdb1 rw
42 22 7:0 / /tmp/stick rw - ext4 /dev/loop0 rw
43 22 0:50 / /home/u/remote rw - fuse.sshfs u@host: rw
44 22 0:51 / /run/user/1000/doc rw - fuse.portal portal rw
garbage line
45 22 0:52 / /tmp/t ro,relatime - tmpfs tmpfs rw
";

    fn fake_sysfs() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        // sda: fixed disk with partition sda1 (8:1)
        let sda = r.join("devices/pci0000:00/0000:00:1f.2/ata1/host0/block/sda");
        std::fs::create_dir_all(sda.join("sda1")).unwrap();
        std::fs::write(sda.join("removable"), "0\n").unwrap();
        std::fs::write(sda.join("sda1/partition"), "1\n").unwrap();
        // sdb: USB stick with partition sdb1 (8:17), removable flag set
        let sdb = r.join("devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/host2/block/sdb");
        std::fs::create_dir_all(sdb.join("sdb1")).unwrap();
        std::fs::write(sdb.join("removable"), "1\n").unwrap();
        std::fs::write(sdb.join("sdb1/partition"), "1\n").unwrap();
        // loop0 (7:0): virtual
        let loop0 = r.join("devices/virtual/block/loop0");
        std::fs::create_dir_all(&loop0).unwrap();
        std::fs::write(loop0.join("removable"), "0\n").unwrap();
        let links = r.join("dev/block");
        std::fs::create_dir_all(&links).unwrap();
        std::os::unix::fs::symlink(sda.join("sda1"), links.join("8:1")).unwrap();
        std::os::unix::fs::symlink(sdb.join("sdb1"), links.join("8:17")).unwrap();
        std::os::unix::fs::symlink(&loop0, links.join("7:0")).unwrap();
        root
    }

    #[test]
    fn parses_mountinfo_with_escapes_and_skips_garbage() {
        let (mounts, bad) = parse_mountinfo(SAMPLE);
        assert_eq!(bad, 1);
        assert_eq!(mounts.len(), 8);
        let share = &mounts[2];
        assert_eq!(share.mount_point, Path::new("/mnt/my share"));
        assert_eq!(share.fs_type, "cifs");
        assert_eq!(share.source, "//srv/share");
        assert_eq!((share.id, share.parent), (40, 22));
        assert!(mounts[7].read_only());
        assert!(!mounts[0].read_only());
        assert_eq!(mounts[3].dev(), libc::makedev(8, 17));
    }

    #[test]
    fn detects_controlled_mounts() {
        let sys = fake_sysfs();
        let (mounts, _) = parse_mountinfo(SAMPLE);
        let d = Detector {
            removable: vec![PathBuf::from("/tmp/stick")],
            shares: vec![],
            auto: true,
            sysfs_root: sys.path().to_owned(),
        };
        let got: Vec<_> = d
            .controlled(&mounts)
            .into_iter()
            .map(|c| (c.mount.mount_point, c.channel, c.reason))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    PathBuf::from("/mnt/my share"),
                    Channel::NetworkShare,
                    Reason::NetworkType
                ),
                (
                    PathBuf::from("/media/usb"),
                    Channel::RemovableMedia,
                    Reason::RemovableDevice
                ),
                (
                    PathBuf::from("/tmp/stick"),
                    Channel::RemovableMedia,
                    Reason::Configured
                ),
                (
                    PathBuf::from("/home/u/remote"),
                    Channel::NetworkShare,
                    Reason::NetworkType
                ),
            ]
        );
        // Without auto-detection only the configured mount point counts.
        let d = Detector { auto: false, ..d };
        assert_eq!(d.controlled(&mounts).len(), 1);
    }

    #[test]
    fn usb_bus_without_removable_flag_counts() {
        let sys = fake_sysfs();
        std::fs::write(
            sys.path()
                .join("devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/host2/block/sdb/removable"),
            "0\n",
        )
        .unwrap();
        let d = Detector {
            removable: vec![],
            shares: vec![],
            auto: true,
            sysfs_root: sys.path().to_owned(),
        };
        assert!(d.is_removable(8, 17));
        assert!(!d.is_removable(8, 1));
        assert!(!d.is_removable(7, 0));
        assert!(!d.is_removable(9, 9), "absent device");
    }

    #[test]
    fn a_usb_sticks_vendor_product_and_serial_come_from_sysfs() {
        let sys = fake_sysfs();
        let usb = sys.path().join("devices/pci0000:00/0000:00:14.0/usb1/1-1");
        std::fs::write(usb.join("idVendor"), "0781\n").unwrap();
        std::fs::write(usb.join("idProduct"), "5567\n").unwrap();
        std::fs::write(usb.join("serial"), "4C530001230811115384\n").unwrap();
        // The root hub above it has ids too: the nearest one is the stick.
        std::fs::write(usb.parent().unwrap().join("idVendor"), "1d6b\n").unwrap();
        std::fs::write(usb.parent().unwrap().join("idProduct"), "0002\n").unwrap();
        let d = Detector {
            removable: vec![],
            shares: vec![],
            auto: true,
            sysfs_root: sys.path().to_owned(),
        };
        let stick = mamori_policy::UsbDevice {
            vendor: 0x0781,
            product: 0x5567,
            serial: Some("4C530001230811115384".into()),
        };
        assert_eq!(d.usb_device(8, 17), Some(stick.clone()));
        assert_eq!(d.usb_device(8, 1), None, "an ATA disk");
        assert_eq!(d.usb_device(7, 0), None, "a loop device");
        assert_eq!(d.usb_device(9, 9), None, "absent");
        let (mounts, _) = parse_mountinfo(SAMPLE);
        let controlled = d.controlled(&mounts);
        let media = controlled
            .iter()
            .find(|c| c.mount.mount_point == Path::new("/media/usb"))
            .unwrap();
        assert_eq!(media.usb, Some(stick));
        let share = controlled
            .iter()
            .find(|c| c.channel == Channel::NetworkShare)
            .unwrap();
        assert_eq!(share.usb, None, "shares have no USB identity");
        // No serial reported: vendor and product still count.
        std::fs::remove_file(usb.join("serial")).unwrap();
        assert_eq!(d.usb_device(8, 17).unwrap().serial, None);
        // Garbage ids are no identity rather than a wrong one.
        std::fs::write(usb.join("idVendor"), "zz\n").unwrap();
        assert_eq!(
            d.usb_device(8, 17),
            None,
            "never the hub's identity instead"
        );
    }

    #[test]
    fn mount_of_takes_longest_prefix() {
        let (mounts, _) = parse_mountinfo(SAMPLE);
        assert_eq!(
            mount_of(&mounts, Path::new("/media/usb/a/b")).unwrap().id,
            41
        );
        assert_eq!(mount_of(&mounts, Path::new("/media/usbx")).unwrap().id, 22);
        assert_eq!(mount_of(&mounts, Path::new("/etc")).unwrap().id, 22);
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,300}") {
            let _ = parse_mountinfo(&s);
        }
    }
}
