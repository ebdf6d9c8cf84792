//! Acting on a decision: sysfs `authorized` and `remove`, and read-only block devices.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::DeviceError;
use crate::device::devices_dir;
use crate::rules::Target;

/// What was done to a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// `authorized` set to 1 (or already 1).
    Authorized,
    /// `authorized` set to 0: no driver binds, its storage never appears.
    Deauthorized,
    /// `remove` written: the device is gone until plugged in again.
    Removed,
}

fn write_attr(path: PathBuf, value: &str) -> Result<(), DeviceError> {
    std::fs::write(&path, value).map_err(|e| DeviceError::Io { path, source: e })
}

/// Applies a target to the USB device at `port` through sysfs. `ReadOnly` authorises the device;
/// its block devices are made read-only as they appear ([`set_block_read_only`]).
pub fn apply(sysfs_root: &Path, port: &str, target: Target) -> Result<Applied, DeviceError> {
    let dir = devices_dir(sysfs_root).join(port);
    match target {
        Target::Allow | Target::ReadOnly => {
            write_attr(dir.join("authorized"), "1")?;
            Ok(Applied::Authorized)
        }
        Target::Block => {
            write_attr(dir.join("authorized"), "0")?;
            Ok(Applied::Deauthorized)
        }
        Target::Reject => {
            write_attr(dir.join("remove"), "1")?;
            Ok(Applied::Removed)
        }
    }
}

/// Makes new USB devices wait for a decision: `authorized_default` = 0 on every root hub under
/// `sysfs_root` (devices plugged in later stay unusable until [`apply`] authorises them).
/// Returns the hubs changed.
pub fn hold_new_devices(sysfs_root: &Path) -> Result<Vec<String>, DeviceError> {
    let mut changed = Vec::new();
    for device in crate::device::read_devices(sysfs_root)? {
        if device.port.starts_with("usb") {
            write_attr(
                devices_dir(sysfs_root)
                    .join(&device.port)
                    .join("authorized_default"),
                "0",
            )?;
            changed.push(device.port);
        }
    }
    Ok(changed)
}

/// Sets a block device (`/dev/NAME`) read-only with `blockdev --setro` (the BLKROSET ioctl),
/// before it is mounted: a later mount is read-only. (On a device already mounted read-write
/// the flag does not stop writes, measured on this kernel: the caller remounts it read-only.)
pub fn set_block_read_only(dev: &Path) -> Result<(), DeviceError> {
    // util-linux's blockdev does the ioctl; running it keeps this crate free of `unsafe`.
    let status = Command::new("blockdev")
        .arg("--setro")
        .arg(dev)
        .status()
        .map_err(|e| DeviceError::Io {
            path: dev.to_path_buf(),
            source: e,
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(DeviceError::Command {
            command: format!("blockdev --setro {}", dev.display()),
            status: status.code(),
        })
    }
}

/// Remounts every mount of `/dev/NAME` read-only (for a device that was mounted before its
/// decision). Returns the mount points changed.
pub fn remount_read_only(mountinfo: &str, dev: &Path) -> Result<Vec<PathBuf>, DeviceError> {
    let mut changed = Vec::new();
    for point in mount_points_of(mountinfo, dev) {
        let status = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&point)
            .status()
            .map_err(|e| DeviceError::Io {
                path: point.clone(),
                source: e,
            })?;
        if !status.success() {
            return Err(DeviceError::Command {
                command: format!("mount -o remount,ro {}", point.display()),
                status: status.code(),
            });
        }
        changed.push(point);
    }
    Ok(changed)
}

/// The mount points of a device in `/proc/self/mountinfo` text (field 5 is the mount point,
/// the field after ` - TYPE` is the source; octal escapes such as `\040` are decoded).
pub fn mount_points_of(mountinfo: &str, dev: &Path) -> Vec<PathBuf> {
    let dev = dev.to_string_lossy();
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let point = left.split(' ').nth(4)?;
            let source = right.split(' ').nth(1)?;
            (unescape(source) == dev).then(|| PathBuf::from(unescape(point)))
        })
        .collect()
}

fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::fake::add_device;

    #[test]
    fn apply_writes_sysfs_attributes() {
        let root = tempfile::tempdir().unwrap();
        add_device(
            root.path(),
            "1-1",
            (0x0781, 0x5567),
            None,
            None,
            &[(8, 6, 0x50)],
        );
        add_device(root.path(), "usb1", (0x1d6b, 2), None, None, &[(9, 0, 0)]);
        let dir = devices_dir(root.path()).join("1-1");
        assert_eq!(
            apply(root.path(), "1-1", Target::Block).unwrap(),
            Applied::Deauthorized
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("authorized")).unwrap(),
            "0"
        );
        assert_eq!(
            apply(root.path(), "1-1", Target::ReadOnly).unwrap(),
            Applied::Authorized
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("authorized")).unwrap(),
            "1"
        );
        assert_eq!(
            apply(root.path(), "1-1", Target::Reject).unwrap(),
            Applied::Removed
        );
        assert_eq!(std::fs::read_to_string(dir.join("remove")).unwrap(), "1");
        assert_eq!(
            hold_new_devices(root.path()).unwrap(),
            vec!["usb1".to_string()]
        );
        let hub = devices_dir(root.path()).join("usb1/authorized_default");
        assert_eq!(std::fs::read_to_string(hub).unwrap(), "0");
        let err = apply(root.path(), "9-9", Target::Block)
            .unwrap_err()
            .to_string();
        assert!(err.contains("9-9/authorized"), "{err}");
    }

    #[test]
    fn finds_mount_points_of_a_device() {
        let info = "36 35 98:0 / /mnt1 rw,noatime master:1 - ext3 /dev/loop3 rw,errors=continue\n\
                    37 35 8:17 / /media/usb\\040stick rw - vfat /dev/sdb1 rw\n\
                    38 35 8:17 / /other rw - vfat /dev/sdb1 rw\n";
        assert_eq!(
            mount_points_of(info, Path::new("/dev/sdb1")),
            vec![PathBuf::from("/media/usb stick"), PathBuf::from("/other")]
        );
        assert!(mount_points_of(info, Path::new("/dev/sdc")).is_empty());
    }
}
