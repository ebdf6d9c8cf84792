//! Mamori's USB device control.
//!
//! ```text
//! kernel uevent (netlink)  ->  UsbDevice from sysfs  ->  RuleSet::decide  ->  sysfs authorized /
//! (uevent::UeventSocket)      (device::read_device)     (rules)              remove, blockdev --setro
//!                                                                             (control), recorded
//! ```
//!
//! * [`rules`]: a USBGuard-style rule language (`allow id 0781:5567 serial "…"`), with Mamori's
//!   `read-only` target, first match wins, errors naming file, line and column.
//! * [`device`]: the device model read from sysfs; the sysfs root is a parameter so tests use a
//!   fake tree.
//! * [`uevent`]: kernel uevents parsed from netlink (no udevd needed).
//! * [`control`]: authorise, de-authorise, remove; set block devices read-only before mounting.
//! * [`Controller`]: joins them: one uevent in, the actions taken out, for the caller to record.
//!
//! Hubs and input devices without storage are never restricted, whatever the rules say, and
//! `generate-rules` allows everything present at install: the two ways USBGuard's users lock
//! themselves out.
//!
//! ```
//! use mamori_device::rules::{RuleSet, Target};
//! use mamori_device::device::{Interface, UsbDevice};
//!
//! let rules = RuleSet::parse(
//!     "allow id 0781:5567 serial \"4C530001\"\nread-only with-interface 08:*:*\n",
//!     "usb.rules",
//!     Target::Block,
//! ).unwrap();
//! let stick = UsbDevice {
//!     port: "1-1".into(), vendor: 0x0781, product: 0x5567, serial: Some("OTHER".into()),
//!     interfaces: vec![Interface { class: 8, subclass: 6, protocol: 0x50 }],
//!     ..UsbDevice::default()
//! };
//! assert_eq!(rules.decide(&stick).target, Target::ReadOnly);
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod control;
pub mod device;
pub mod rules;
pub mod uevent;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::control::Applied;
use crate::device::UsbDevice;
use crate::rules::{DeviceDecision, RuleSet, Target};
use crate::uevent::Uevent;

/// What can go wrong reading sysfs or acting on a device.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A sysfs attribute has a value that makes no sense.
    #[error("{path}: {reason}")]
    BadAttribute {
        /// The attribute's file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A directory under `bus/usb/devices` is not a USB device (no `idVendor`).
    #[error("{path}: not a USB device (no idVendor)")]
    NotADevice {
        /// The directory.
        path: PathBuf,
    },
    /// A helper command failed.
    #[error("`{command}` failed (exit status {status:?})")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status, if it exited.
        status: Option<i32>,
    },
}

/// Something the controller did, for the caller to record (and show).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A USB device appeared and was decided.
    Attached {
        /// The device.
        device: UsbDevice,
        /// The decision.
        decision: DeviceDecision,
        /// What was done (`None` when acting failed: see `error`).
        applied: Option<Applied>,
        /// Why acting failed, if it did.
        error: Option<String>,
    },
    /// A USB device went away.
    Detached {
        /// Its port.
        port: String,
    },
    /// A block device of a read-only USB device was set read-only (and remounted read-only
    /// where it was already mounted).
    MadeReadOnly {
        /// The device node (`/dev/sdb1`).
        dev: PathBuf,
        /// The USB port it belongs to.
        port: String,
        /// Mount points remounted read-only.
        remounted: Vec<PathBuf>,
        /// Why it failed, if it did.
        error: Option<String>,
    },
}

/// Decides and acts on device events.
#[derive(Debug)]
pub struct Controller {
    rules: RuleSet,
    sysfs_root: PathBuf,
    dev_root: PathBuf,
    /// Ports decided read-only, whose block devices must be made read-only as they appear.
    read_only_ports: BTreeMap<String, UsbDevice>,
    /// Block devices (without USB parents) to treat as read-only sticks, by name: how tests
    /// stand a loop device in for a USB stick.
    read_only_blocks: Vec<String>,
}

impl Controller {
    /// A controller for `rules` over a sysfs tree (`/sys`) and a device directory (`/dev`).
    pub fn new(rules: RuleSet, sysfs_root: &Path, dev_root: &Path) -> Controller {
        Controller {
            rules,
            sysfs_root: sysfs_root.to_path_buf(),
            dev_root: dev_root.to_path_buf(),
            read_only_ports: BTreeMap::new(),
            read_only_blocks: Vec::new(),
        }
    }

    /// Treats the block device `name` (`loop3`) as the storage of a read-only stick.
    pub fn treat_block_as_read_only(&mut self, name: &str) {
        self.read_only_blocks.push(name.to_string());
    }

    /// Replaces the rules (reload); devices already decided keep their state.
    pub fn replace_rules(&mut self, rules: RuleSet) {
        self.rules = rules;
    }

    /// The rules in force.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Decides every device present now and acts: what the agent does at start, since devices
    /// plugged in before it ran sent their uevents to nobody.
    pub fn decide_present(&mut self) -> Result<Vec<Outcome>, DeviceError> {
        let devices = device::read_devices(&self.sysfs_root)?;
        Ok(devices.into_iter().map(|d| self.attach(d)).collect())
    }

    fn attach(&mut self, device: UsbDevice) -> Outcome {
        let decision = self.rules.decide(&device);
        let (applied, error) = if decision.because == rules::Because::NeverRestricted {
            (None, None)
        } else {
            match control::apply(&self.sysfs_root, &device.port, decision.target) {
                Ok(applied) => (Some(applied), None),
                Err(e) => (None, Some(e.to_string())),
            }
        };
        if decision.target == Target::ReadOnly {
            self.read_only_ports
                .insert(device.port.clone(), device.clone());
        } else {
            self.read_only_ports.remove(&device.port);
        }
        Outcome::Attached {
            device,
            decision,
            applied,
            error,
        }
    }

    /// Handles one uevent; returns what was done (nothing for events of no interest).
    pub fn on_uevent(&mut self, event: &Uevent, mountinfo: &str) -> Vec<Outcome> {
        if let Some(port) = event.usb_port() {
            return match event.action.as_str() {
                "add" => match device::read_device(&self.sysfs_root, port) {
                    Ok(device) => vec![self.attach(device)],
                    // Gone again before it could be read: nothing to decide.
                    Err(_) => Vec::new(),
                },
                "remove" => {
                    self.read_only_ports.remove(port);
                    vec![Outcome::Detached {
                        port: port.to_string(),
                    }]
                }
                _ => Vec::new(),
            };
        }
        if let Some(name) = event.block_device()
            && matches!(event.action.as_str(), "add" | "change")
        {
            let port = match event.usb_parent_port() {
                Some(port) if self.read_only_ports.contains_key(port) => port.to_string(),
                Some(_) => return Vec::new(),
                None if self.read_only_blocks.iter().any(|b| b == name) => name.to_string(),
                None => return Vec::new(),
            };
            let dev = self.dev_root.join(name);
            let mut error = control::set_block_read_only(&dev)
                .err()
                .map(|e| e.to_string());
            let remounted = match control::remount_read_only(mountinfo, &dev) {
                Ok(points) => points,
                Err(e) => {
                    error.get_or_insert(e.to_string());
                    Vec::new()
                }
            };
            return vec![Outcome::MadeReadOnly {
                dev,
                port,
                remounted,
                error,
            }];
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::fake::add_device;

    #[test]
    fn a_usb_add_event_is_decided_and_applied_in_sysfs() {
        let root = tempfile::tempdir().unwrap();
        add_device(
            root.path(),
            "1-1",
            (0x0781, 0x5567),
            Some("GOOD"),
            None,
            &[(8, 6, 0x50)],
        );
        add_device(
            root.path(),
            "1-2",
            (0x0781, 0x5567),
            Some("BAD"),
            None,
            &[(8, 6, 0x50)],
        );
        add_device(
            root.path(),
            "1-3",
            (0x046d, 0xc077),
            None,
            None,
            &[(3, 1, 2)],
        );
        let rules = RuleSet::parse(
            "allow id 0781:5567 serial \"GOOD\"\nblock\n",
            "t",
            Target::Block,
        )
        .unwrap();
        let mut c = Controller::new(rules, root.path(), Path::new("/dev"));
        let event = |port: &str| {
            Uevent::parse(
                format!("add@/devices/pci0000:00/usb1/{port}\0SUBSYSTEM=usb\0DEVTYPE=usb_device\0")
                    .as_bytes(),
            )
            .unwrap()
        };
        let authorized = |port: &str| {
            std::fs::read_to_string(
                device::devices_dir(root.path())
                    .join(port)
                    .join("authorized"),
            )
            .unwrap()
        };
        let out = c.on_uevent(&event("1-1"), "");
        assert!(matches!(
            &out[0],
            Outcome::Attached {
                applied: Some(Applied::Authorized),
                ..
            }
        ));
        assert_eq!(authorized("1-1"), "1");
        let out = c.on_uevent(&event("1-2"), "");
        assert!(matches!(
            &out[0],
            Outcome::Attached {
                applied: Some(Applied::Deauthorized),
                ..
            }
        ));
        assert_eq!(authorized("1-2"), "0");
        // The mouse is never touched.
        let out = c.on_uevent(&event("1-3"), "");
        assert!(matches!(
            &out[0],
            Outcome::Attached {
                applied: None,
                error: None,
                ..
            }
        ));
        assert_eq!(authorized("1-3"), "1\n");
        let gone = Uevent::parse(
            b"remove@/devices/pci0000:00/usb1/1-2\0SUBSYSTEM=usb\0DEVTYPE=usb_device\0",
        )
        .unwrap();
        assert_eq!(
            c.on_uevent(&gone, ""),
            vec![Outcome::Detached { port: "1-2".into() }]
        );
        // Devices present at start are decided too.
        let present = c.decide_present().unwrap();
        assert_eq!(present.len(), 3);
    }

    #[test]
    fn block_devices_of_other_sticks_are_left_alone() {
        let root = tempfile::tempdir().unwrap();
        let rules = RuleSet::parse("", "t", Target::ReadOnly).unwrap();
        let mut c = Controller::new(rules, root.path(), Path::new("/dev"));
        let block = Uevent::parse(b"add@/devices/pci0000:00/usb1/1-7/1-7:1.0/host2/block/sdz\0SUBSYSTEM=block\0DEVNAME=sdz\0").unwrap();
        // 1-7 was never decided read-only by this controller: nothing happens.
        assert!(c.on_uevent(&block, "").is_empty());
    }
}
