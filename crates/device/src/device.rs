//! The USB device model, read from sysfs (`/sys/bus/usb/devices/PORT/…`).
//!
//! The sysfs root is always a parameter, so tests (and this development machine, which has no
//! USB subsystem) use a fake tree of plain files with the same layout.

use std::fmt;
use std::path::{Path, PathBuf};

use sha2::Digest as _;

use crate::DeviceError;

/// USB interface class of human-interface devices (keyboards, mice).
pub const CLASS_HID: u8 = 0x03;
/// USB interface class of mass storage.
pub const CLASS_MASS_STORAGE: u8 = 0x08;
/// USB device/interface class of hubs.
pub const CLASS_HUB: u8 = 0x09;

/// One USB interface: class, subclass and protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Interface {
    /// `bInterfaceClass`.
    pub class: u8,
    /// `bInterfaceSubClass`.
    pub subclass: u8,
    /// `bInterfaceProtocol`.
    pub protocol: u8,
}

impl fmt::Display for Interface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02x}:{:02x}:{:02x}",
            self.class, self.subclass, self.protocol
        )
    }
}

/// A USB device as the kernel shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UsbDevice {
    /// The sysfs name, which is also the port path: `1-1`, `2-1.4`, `usb1` (a root hub).
    pub port: String,
    /// `idVendor`.
    pub vendor: u16,
    /// `idProduct`.
    pub product: u16,
    /// `serial`, when the device has one.
    pub serial: Option<String>,
    /// `product` string (the device's name), when it has one.
    pub name: Option<String>,
    /// `manufacturer` string, when it has one.
    pub manufacturer: Option<String>,
    /// `bDeviceClass`.
    pub device_class: u8,
    /// The interfaces of the active configuration, in sysfs order.
    pub interfaces: Vec<Interface>,
    /// `authorized`: `Some(true)` when the kernel lets drivers bind.
    pub authorized: Option<bool>,
}

impl UsbDevice {
    /// `VVVV:PPPP`, lower-case hex.
    pub fn id(&self) -> String {
        format!("{:04x}:{:04x}", self.vendor, self.product)
    }

    /// A stable hash of what identifies the device (ids, serial, names, interfaces), lower-case
    /// hex SHA-256. Unlike USBGuard's it is computed from sysfs attributes, not raw descriptors,
    /// so it is the same on every machine for one device.
    pub fn hash(&self) -> String {
        let mut h = sha2::Sha256::new();
        h.update(self.id().as_bytes());
        for field in [&self.serial, &self.manufacturer, &self.name] {
            h.update([0]);
            h.update(field.as_deref().unwrap_or("").as_bytes());
        }
        for i in &self.interfaces {
            h.update([0, i.class, i.subclass, i.protocol]);
        }
        hex::encode(h.finalize())
    }

    /// True when the device offers mass storage.
    pub fn has_mass_storage(&self) -> bool {
        self.interfaces
            .iter()
            .any(|i| i.class == CLASS_MASS_STORAGE)
    }

    /// True for devices Mamori never restricts: hubs, and input devices (keyboards, mice) that
    /// offer no storage. USBGuard's users lock themselves out by blocking these.
    pub fn is_never_restricted(&self) -> bool {
        if self.device_class == CLASS_HUB || self.port.starts_with("usb") {
            return true;
        }
        !self.interfaces.is_empty()
            && !self.has_mass_storage()
            && self
                .interfaces
                .iter()
                .all(|i| i.class == CLASS_HID || i.class == CLASS_HUB)
    }

    /// A one-line description for logs and listings.
    pub fn describe(&self) -> String {
        let mut out = format!("{} {}", self.port, self.id());
        if let Some(s) = &self.serial {
            out.push_str(&format!(" serial \"{s}\""));
        }
        let name = match (&self.manufacturer, &self.name) {
            (Some(m), Some(n)) => Some(format!("{m} {n}")),
            (None, Some(n)) => Some(n.clone()),
            (Some(m), None) => Some(m.clone()),
            (None, None) => None,
        };
        if let Some(n) = name {
            out.push_str(&format!(" name \"{n}\""));
        }
        if !self.interfaces.is_empty() {
            let list: Vec<String> = self.interfaces.iter().map(|i| i.to_string()).collect();
            out.push_str(&format!(" with-interface {{ {} }}", list.join(" ")));
        }
        out
    }
}

/// `ROOT/bus/usb/devices`.
pub fn devices_dir(sysfs_root: &Path) -> PathBuf {
    sysfs_root.join("bus/usb/devices")
}

/// True for a sysfs entry name that is a device (`1-1`, `usb2`), not an interface (`1-1:1.0`).
pub fn is_device_name(name: &str) -> bool {
    !name.contains(':') && (name.starts_with("usb") || name.contains('-'))
}

fn read_attr(dir: &Path, name: &str) -> Result<Option<String>, DeviceError> {
    let path = dir.join(name);
    match std::fs::read(&path) {
        Ok(bytes) => {
            // Descriptor strings are short; a huge attribute is not sysfs.
            if bytes.len() > 4096 {
                return Err(DeviceError::BadAttribute {
                    path,
                    reason: "longer than 4096 bytes".into(),
                });
            }
            let text = String::from_utf8_lossy(&bytes).trim_end().to_string();
            Ok((!text.is_empty()).then_some(text))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(DeviceError::Io { path, source: e }),
    }
}

fn read_hex<T: TryFrom<u32>>(dir: &Path, name: &str) -> Result<Option<T>, DeviceError> {
    match read_attr(dir, name)? {
        None => Ok(None),
        Some(text) => u32::from_str_radix(text.trim(), 16)
            .ok()
            .and_then(|v| T::try_from(v).ok())
            .map(Some)
            .ok_or_else(|| DeviceError::BadAttribute {
                path: dir.join(name),
                reason: format!("not a hexadecimal number of the right size: {text:?}"),
            }),
    }
}

/// Reads one device (`port` = its sysfs name) from `ROOT/bus/usb/devices/PORT`.
pub fn read_device(sysfs_root: &Path, port: &str) -> Result<UsbDevice, DeviceError> {
    let dir = devices_dir(sysfs_root).join(port);
    let vendor = read_hex::<u16>(&dir, "idVendor")?
        .ok_or_else(|| DeviceError::NotADevice { path: dir.clone() })?;
    let product = read_hex::<u16>(&dir, "idProduct")?.unwrap_or(0);
    let mut interfaces = Vec::new();
    let prefix = format!("{port}:");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| DeviceError::Io {
            path: dir.clone(),
            source: e,
        })?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&prefix))
        .collect();
    names.sort();
    for name in names {
        let idir = dir.join(&name);
        if let Some(class) = read_hex::<u8>(&idir, "bInterfaceClass")? {
            interfaces.push(Interface {
                class,
                subclass: read_hex::<u8>(&idir, "bInterfaceSubClass")?.unwrap_or(0),
                protocol: read_hex::<u8>(&idir, "bInterfaceProtocol")?.unwrap_or(0),
            });
        }
    }
    Ok(UsbDevice {
        port: port.to_string(),
        vendor,
        product,
        serial: read_attr(&dir, "serial")?,
        name: read_attr(&dir, "product")?,
        manufacturer: read_attr(&dir, "manufacturer")?,
        device_class: read_hex::<u8>(&dir, "bDeviceClass")?.unwrap_or(0),
        interfaces,
        authorized: read_attr(&dir, "authorized")?.map(|v| v.trim() == "1"),
    })
}

/// Every USB device under `ROOT/bus/usb/devices`, sorted by port. A missing directory (no
/// USB subsystem) is an empty list.
pub fn read_devices(sysfs_root: &Path) -> Result<Vec<UsbDevice>, DeviceError> {
    let dir = devices_dir(sysfs_root);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(DeviceError::Io {
                path: dir,
                source: e,
            });
        }
    };
    let mut ports: Vec<String> = entries
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| is_device_name(name))
        .collect();
    ports.sort();
    ports
        .iter()
        .map(|port| read_device(sysfs_root, port))
        .collect()
}

#[cfg(test)]
pub(crate) mod fake {
    //! A fake sysfs tree for tests.
    use super::*;

    /// Writes a device into a fake sysfs tree under `root`.
    pub fn add_device(
        root: &Path,
        port: &str,
        id: (u16, u16),
        serial: Option<&str>,
        name: Option<&str>,
        interfaces: &[(u8, u8, u8)],
    ) {
        let dir = devices_dir(root).join(port);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("idVendor"), format!("{:04x}\n", id.0)).unwrap();
        std::fs::write(dir.join("idProduct"), format!("{:04x}\n", id.1)).unwrap();
        std::fs::write(dir.join("bDeviceClass"), "00\n").unwrap();
        std::fs::write(dir.join("authorized"), "1\n").unwrap();
        if let Some(s) = serial {
            std::fs::write(dir.join("serial"), format!("{s}\n")).unwrap();
        }
        if let Some(n) = name {
            std::fs::write(dir.join("product"), format!("{n}\n")).unwrap();
        }
        for (i, (c, s, p)) in interfaces.iter().enumerate() {
            let idir = dir.join(format!("{port}:1.{i}"));
            std::fs::create_dir_all(&idir).unwrap();
            std::fs::write(idir.join("bInterfaceClass"), format!("{c:02x}\n")).unwrap();
            std::fs::write(idir.join("bInterfaceSubClass"), format!("{s:02x}\n")).unwrap();
            std::fs::write(idir.join("bInterfaceProtocol"), format!("{p:02x}\n")).unwrap();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::add_device;
    use super::*;

    #[test]
    fn reads_devices_and_interfaces_from_a_sysfs_tree() {
        let root = tempfile::tempdir().unwrap();
        add_device(
            root.path(),
            "1-1",
            (0x0781, 0x5567),
            Some("4C530001"),
            Some("Cruzer Blade"),
            &[(8, 6, 0x50)],
        );
        add_device(
            root.path(),
            "1-2",
            (0x046d, 0xc077),
            None,
            Some("Mouse"),
            &[(3, 1, 2)],
        );
        // An interface entry at the top level, as in real sysfs, is not a device.
        std::fs::create_dir_all(devices_dir(root.path()).join("1-1:1.0")).unwrap();
        let devices = read_devices(root.path()).unwrap();
        assert_eq!(devices.len(), 2);
        let stick = &devices[0];
        assert_eq!(stick.id(), "0781:5567");
        assert_eq!(stick.serial.as_deref(), Some("4C530001"));
        assert_eq!(stick.name.as_deref(), Some("Cruzer Blade"));
        assert_eq!(stick.interfaces[0].to_string(), "08:06:50");
        assert!(stick.has_mass_storage());
        assert!(!stick.is_never_restricted());
        assert_eq!(stick.authorized, Some(true));
        let mouse = &devices[1];
        assert!(mouse.is_never_restricted());
        assert!(stick.describe().contains("serial \"4C530001\""));
        assert_eq!(stick.hash().len(), 64);
        assert_ne!(stick.hash(), mouse.hash());
    }

    #[test]
    fn a_keyboard_with_storage_is_not_exempt() {
        let d = UsbDevice {
            port: "1-3".into(),
            interfaces: vec![
                Interface {
                    class: CLASS_HID,
                    subclass: 1,
                    protocol: 1,
                },
                Interface {
                    class: CLASS_MASS_STORAGE,
                    subclass: 6,
                    protocol: 0x50,
                },
            ],
            ..UsbDevice::default()
        };
        assert!(!d.is_never_restricted());
    }

    #[test]
    fn missing_usb_subsystem_is_an_empty_list_and_bad_attributes_are_errors() {
        let root = tempfile::tempdir().unwrap();
        assert!(read_devices(root.path()).unwrap().is_empty());
        add_device(root.path(), "2-1", (1, 2), None, None, &[]);
        std::fs::write(devices_dir(root.path()).join("2-1/idVendor"), "zz\n").unwrap();
        let err = read_devices(root.path()).unwrap_err().to_string();
        assert!(err.contains("idVendor"), "{err}");
    }
}
