//! Device control, pure parts: kernel uevents (as they arrive on netlink group 1) and a rule
//! language modelled on USBGuard's, evaluated against a USB device read from sysfs (whose root
//! is a parameter, so tests use a fake tree).
//!
//! Rules, one a line, first match wins (`#` comments):
//!
//! ```text
//! allow id 0951:1666 serial "AA1234" name "DataTraveler 3.0"
//! allow id 046d:* with-interface 03:*:*          # Logitech input devices
//! reject id *:* with-interface one-of { 08:*:* }  # any other mass storage: de-authorise
//! block via-port "1-2"                            # that port: keep, read-only
//! ```
//!
//! Targets: `allow`; `block` (keep the device, its storage read-only); `reject` (de-authorise
//! it through sysfs, as USBGuard does). Attributes: `id VID:PID` (either may be `*`),
//! `serial`, `name`, `hash` (SHA-256 of the descriptor attributes, see [`UsbInfo::hash`]),
//! `via-port`, `with-interface` (`CC:SS:PP`, each part may be `*`; a set `{ .. }` means every
//! interface must match one of the set, `one-of { .. }` that at least one does).
//!
//! Never restricted, whatever the rules say: a device whose interfaces are all HID (class 03:
//! keyboards, mice). People who lock themselves out of their keyboard is USBGuard's commonest
//! complaint.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::Digest as _;

/// Longest uevent accepted (the kernel's own limit is 2048 bytes of environment + the header).
pub const MAX_UEVENT_BYTES: usize = 8192;
/// Most variables kept from one uevent.
pub const MAX_UEVENT_VARS: usize = 128;

/// A kernel uevent: `ACTION@DEVPATH\0KEY=VALUE\0...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uevent {
    /// `add`, `remove`, `change`, `bind`, `unbind`...
    pub action: String,
    /// The device's path under sysfs (`/devices/pci0000:00/.../1-1`).
    pub devpath: String,
    /// The variables (`SUBSYSTEM`, `DEVTYPE`, `PRODUCT`, `MAJOR`, `MINOR`...).
    pub vars: BTreeMap<String, String>,
}

impl Uevent {
    /// A variable.
    pub fn var(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }
}

/// A uevent that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UeventError {
    /// Longer than [`MAX_UEVENT_BYTES`].
    #[error("uevent of {0} bytes is too long")]
    TooLong(usize),
    /// No `ACTION@DEVPATH` header (udev's own messages start with `libudev`).
    #[error("uevent without an ACTION@DEVPATH header")]
    NoHeader,
    /// Not UTF-8.
    #[error("uevent is not UTF-8")]
    NotText,
}

/// Parses one kernel uevent datagram.
pub fn parse_uevent(bytes: &[u8]) -> Result<Uevent, UeventError> {
    if bytes.len() > MAX_UEVENT_BYTES {
        return Err(UeventError::TooLong(bytes.len()));
    }
    let mut fields = bytes.split(|&b| b == 0).filter(|f| !f.is_empty());
    let header = std::str::from_utf8(fields.next().ok_or(UeventError::NoHeader)?)
        .map_err(|_| UeventError::NotText)?;
    let (action, devpath) = header.split_once('@').ok_or(UeventError::NoHeader)?;
    if action.is_empty() || !devpath.starts_with('/') {
        return Err(UeventError::NoHeader);
    }
    let mut vars = BTreeMap::new();
    for f in fields.take(MAX_UEVENT_VARS) {
        let text = std::str::from_utf8(f).map_err(|_| UeventError::NotText)?;
        if let Some((k, v)) = text.split_once('=') {
            vars.insert(k.to_owned(), v.to_owned());
        }
    }
    Ok(Uevent {
        action: action.to_owned(),
        devpath: devpath.to_owned(),
        vars,
    })
}

/// What the rules say about a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Use it.
    Allow,
    /// Keep it, storage read-only.
    Block,
    /// De-authorise it.
    Reject,
}

/// An interface class triple pattern (`None` = `*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterfacePattern(pub [Option<u8>; 3]);

impl InterfacePattern {
    fn matches(&self, iface: [u8; 3]) -> bool {
        self.0
            .iter()
            .zip(iface)
            .all(|(p, v)| p.is_none_or(|p| p == v))
    }
}

/// How a `with-interface` set applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetMode {
    /// Every interface matches one of the patterns (USBGuard's default for sets).
    AllOf,
    /// At least one interface matches.
    OneOf,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rule {
    /// The target (`None` only while parsing).
    pub target: Option<Target>,
    /// `(vendor, product)`, `None` = `*`.
    pub id: Option<(Option<u16>, Option<u16>)>,
    /// Exact serial.
    pub serial: Option<String>,
    /// Exact product name.
    pub name: Option<String>,
    /// Exact hash (hex).
    pub hash: Option<String>,
    /// Exact port (`1-1.2`).
    pub via_port: Option<String>,
    /// Interface patterns and how they apply.
    pub with_interface: Option<(SetMode, Vec<InterfacePattern>)>,
    /// The line it came from.
    pub line: usize,
}

/// A rules file that does not parse: every error, with its line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("device rules: {}", .0.iter().map(|(l, m)| format!("line {l}: {m}")).collect::<Vec<_>>().join("; "))]
pub struct RulesError(pub Vec<(usize, String)>);

/// Most rules in one file.
pub const MAX_RULES: usize = 10_000;

/// Parses a rules file.
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, RulesError> {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if rules.len() >= MAX_RULES {
            errors.push((line_no, format!("more than {MAX_RULES} rules")));
            break;
        }
        match parse_rule(line) {
            Ok(mut r) => {
                r.line = line_no;
                rules.push(r);
            }
            Err(m) => errors.push((line_no, m)),
        }
    }
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(RulesError(errors))
    }
}

fn tokens(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(e) => s.push(e),
                        None => return Err("unterminated string".into()),
                    },
                    Some(ch) => s.push(ch),
                    None => return Err("unterminated string".into()),
                }
            }
            out.push(format!("\"{s}"));
        } else if c == '{' || c == '}' {
            chars.next();
            out.push(c.to_string());
        } else {
            let mut s = String::new();
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() || ch == '{' || ch == '}' || ch == '"' {
                    break;
                }
                s.push(ch);
                chars.next();
            }
            out.push(s);
        }
    }
    Ok(out)
}

fn string_value(tok: Option<String>, attr: &str) -> Result<String, String> {
    match tok {
        Some(t) if t.starts_with('"') => Ok(t[1..].to_owned()),
        Some(t) => Err(format!("`{attr}` needs a quoted string, not `{t}`")),
        None => Err(format!("`{attr}` needs a value")),
    }
}

fn hex_or_star<T>(s: &str, parse: impl Fn(&str) -> Option<T>) -> Result<Option<T>, String> {
    if s == "*" {
        Ok(None)
    } else {
        parse(s)
            .map(Some)
            .ok_or_else(|| format!("bad hexadecimal `{s}`"))
    }
}

fn parse_iface(s: &str) -> Result<InterfacePattern, String> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 3 {
        return Err(format!("interface `{s}` is not CC:SS:PP"));
    }
    let mut out = [None; 3];
    for (i, p) in parts.iter().enumerate() {
        out[i] = hex_or_star(p, |t| {
            (t.len() == 2)
                .then(|| u8::from_str_radix(t, 16).ok())
                .flatten()
        })?;
    }
    Ok(InterfacePattern(out))
}

fn parse_rule(line: &str) -> Result<Rule, String> {
    let mut toks = tokens(line)?.into_iter();
    let target = match toks.next().as_deref() {
        Some("allow") => Target::Allow,
        Some("block") => Target::Block,
        Some("reject") => Target::Reject,
        Some(other) => return Err(format!("unknown target `{other}` (allow, block, reject)")),
        None => return Err("empty rule".into()),
    };
    let mut rule = Rule {
        target: Some(target),
        ..Rule::default()
    };
    while let Some(attr) = toks.next() {
        match attr.as_str() {
            "id" => {
                let v = toks.next().ok_or("`id` needs VID:PID")?;
                let (vid, pid) = v
                    .split_once(':')
                    .ok_or(format!("`id {v}` is not VID:PID"))?;
                let four = |t: &str| {
                    (t.len() == 4)
                        .then(|| u16::from_str_radix(t, 16).ok())
                        .flatten()
                };
                rule.id = Some((hex_or_star(vid, four)?, hex_or_star(pid, four)?));
            }
            "serial" => rule.serial = Some(string_value(toks.next(), "serial")?),
            "name" => rule.name = Some(string_value(toks.next(), "name")?),
            "hash" => rule.hash = Some(string_value(toks.next(), "hash")?),
            "via-port" => rule.via_port = Some(string_value(toks.next(), "via-port")?),
            "with-interface" => {
                let mut mode = SetMode::AllOf;
                let mut next = toks.next().ok_or("`with-interface` needs a value")?;
                if next == "one-of" || next == "all-of" {
                    mode = if next == "one-of" {
                        SetMode::OneOf
                    } else {
                        SetMode::AllOf
                    };
                    next = toks.next().ok_or("`with-interface` needs a set")?;
                }
                let mut pats = Vec::new();
                if next == "{" {
                    loop {
                        match toks.next() {
                            Some(t) if t == "}" => break,
                            Some(t) => pats.push(parse_iface(&t)?),
                            None => return Err("`{` without `}`".into()),
                        }
                        if pats.len() > 64 {
                            return Err("more than 64 interface patterns".into());
                        }
                    }
                    if pats.is_empty() {
                        return Err("empty interface set".into());
                    }
                } else {
                    pats.push(parse_iface(&next)?);
                }
                rule.with_interface = Some((mode, pats));
            }
            other => return Err(format!("unknown attribute `{other}`")),
        }
    }
    Ok(rule)
}

/// A USB device as sysfs describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UsbInfo {
    /// `idVendor`.
    pub vendor: u16,
    /// `idProduct`.
    pub product: u16,
    /// `serial`.
    pub serial: Option<String>,
    /// `product` (the name string).
    pub name: Option<String>,
    /// `manufacturer`.
    pub manufacturer: Option<String>,
    /// The port (`1-1.2`: the sysfs directory name).
    pub port: String,
    /// Every interface's class, subclass, protocol.
    pub interfaces: Vec<[u8; 3]>,
}

impl UsbInfo {
    /// A stable hash of what identifies the device (vendor, product, serial, names,
    /// interfaces), hex SHA-256, for `hash` rules.
    pub fn hash(&self) -> String {
        let mut h = sha2::Sha256::new();
        h.update(format!(
            "{:04x}:{:04x}\0{}\0{}\0{}\0",
            self.vendor,
            self.product,
            self.serial.as_deref().unwrap_or(""),
            self.name.as_deref().unwrap_or(""),
            self.manufacturer.as_deref().unwrap_or("")
        ));
        for i in &self.interfaces {
            h.update(i);
        }
        hex::encode(h.finalize())
    }

    /// All interfaces are HID (keyboards, mice): never restricted.
    pub fn is_hid_only(&self) -> bool {
        !self.interfaces.is_empty() && self.interfaces.iter().all(|i| i[0] == 0x03)
    }

    /// Has a mass-storage interface.
    pub fn is_storage(&self) -> bool {
        self.interfaces.iter().any(|i| i[0] == 0x08)
    }

    /// Reads a device directory (`SYSFS/bus/usb/devices/1-1`).
    pub fn read(dir: &Path) -> Option<UsbInfo> {
        let attr = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        };
        let hex16 = |name: &str| attr(name).and_then(|s| u16::from_str_radix(&s, 16).ok());
        let port = dir.file_name()?.to_string_lossy().into_owned();
        let mut interfaces = Vec::new();
        if let Ok(entries) = std::fs::read_dir(dir) {
            let mut names: Vec<_> = entries
                .flatten()
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(&format!("{port}:"))
                })
                .map(|e| e.path())
                .collect();
            names.sort();
            for d in names.into_iter().take(64) {
                let byte = |n: &str| {
                    std::fs::read_to_string(d.join(n))
                        .ok()
                        .and_then(|s| u8::from_str_radix(s.trim(), 16).ok())
                };
                if let (Some(c), Some(s), Some(p)) = (
                    byte("bInterfaceClass"),
                    byte("bInterfaceSubClass"),
                    byte("bInterfaceProtocol"),
                ) {
                    interfaces.push([c, s, p]);
                }
            }
        }
        Some(UsbInfo {
            vendor: hex16("idVendor")?,
            product: hex16("idProduct")?,
            serial: attr("serial"),
            name: attr("product"),
            manufacturer: attr("manufacturer"),
            port,
            interfaces,
        })
    }
}

impl Rule {
    /// Whether the rule matches the device.
    pub fn matches(&self, d: &UsbInfo) -> bool {
        if let Some((v, p)) = self.id
            && (v.is_some_and(|v| v != d.vendor) || p.is_some_and(|p| p != d.product))
        {
            return false;
        }
        if self
            .serial
            .as_ref()
            .is_some_and(|s| Some(s) != d.serial.as_ref())
        {
            return false;
        }
        if self
            .name
            .as_ref()
            .is_some_and(|s| Some(s) != d.name.as_ref())
        {
            return false;
        }
        if self.hash.as_ref().is_some_and(|h| *h != d.hash()) {
            return false;
        }
        if self.via_port.as_ref().is_some_and(|p| *p != d.port) {
            return false;
        }
        if let Some((mode, pats)) = &self.with_interface {
            let hit = |i: &[u8; 3]| pats.iter().any(|p| p.matches(*i));
            let ok = match mode {
                SetMode::AllOf => !d.interfaces.is_empty() && d.interfaces.iter().all(hit),
                SetMode::OneOf => d.interfaces.iter().any(hit),
            };
            if !ok {
                return false;
            }
        }
        true
    }
}

/// The verdict for a device: the first matching rule's target, else `default`; HID-only
/// devices are always allowed. Returns the deciding rule's line too.
pub fn evaluate(rules: &[Rule], device: &UsbInfo, default: Target) -> (Target, Option<usize>) {
    if device.is_hid_only() {
        return (Target::Allow, None);
    }
    rules
        .iter()
        .find(|r| r.matches(device))
        .map(|r| (r.target.unwrap_or(default), Some(r.line)))
        .unwrap_or((default, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stick() -> UsbInfo {
        UsbInfo {
            vendor: 0x0951,
            product: 0x1666,
            serial: Some("AA1234".into()),
            name: Some("DataTraveler 3.0".into()),
            manufacturer: Some("Kingston".into()),
            port: "1-1".into(),
            interfaces: vec![[0x08, 0x06, 0x50]],
        }
    }

    fn keyboard() -> UsbInfo {
        UsbInfo {
            vendor: 0x046d,
            product: 0xc31c,
            port: "1-2".into(),
            interfaces: vec![[0x03, 0x01, 0x01], [0x03, 0x00, 0x00]],
            ..UsbInfo::default()
        }
    }

    #[test]
    fn uevents_parse() {
        let msg = b"add@/devices/pci0000:00/0000:00:14.0/usb1/1-1\0ACTION=add\0DEVPATH=/devices/pci0000:00/0000:00:14.0/usb1/1-1\0SUBSYSTEM=usb\0DEVTYPE=usb_device\0PRODUCT=951/1666/110\0SEQNUM=4242\0";
        let e = parse_uevent(msg).unwrap();
        assert_eq!(e.action, "add");
        assert_eq!(e.devpath, "/devices/pci0000:00/0000:00:14.0/usb1/1-1");
        assert_eq!(e.var("SUBSYSTEM"), Some("usb"));
        assert_eq!(e.var("PRODUCT"), Some("951/1666/110"));
        assert_eq!(e.var("NOPE"), None);
        assert_eq!(
            parse_uevent(b"libudev\0\xfe\xed\xca\xfe"),
            Err(UeventError::NoHeader)
        );
        assert_eq!(parse_uevent(b""), Err(UeventError::NoHeader));
        assert_eq!(parse_uevent(b"add@nopath\0"), Err(UeventError::NoHeader));
        assert_eq!(parse_uevent(b"add@/x\0K=\xff\0"), Err(UeventError::NotText));
        assert!(matches!(
            parse_uevent(&vec![b'a'; MAX_UEVENT_BYTES + 1]),
            Err(UeventError::TooLong(_))
        ));
    }

    #[test]
    fn rules_parse_with_every_attribute() {
        let text = r#"
# company sticks
allow id 0951:1666 serial "AA1234" name "DataTraveler 3.0" via-port "1-1"
allow id 046d:* with-interface 03:*:*
reject id *:* with-interface one-of { 08:*:* 06:01:01 }
block hash "abc"
"#;
        let rules = parse_rules(text).unwrap();
        assert_eq!(rules.len(), 4);
        assert_eq!(rules[0].target, Some(Target::Allow));
        assert_eq!(rules[0].id, Some((Some(0x0951), Some(0x1666))));
        assert_eq!(rules[0].serial.as_deref(), Some("AA1234"));
        assert_eq!(rules[0].name.as_deref(), Some("DataTraveler 3.0"));
        assert_eq!(rules[0].via_port.as_deref(), Some("1-1"));
        assert_eq!(rules[0].line, 3);
        assert_eq!(rules[1].id, Some((Some(0x046d), None)));
        let (mode, pats) = rules[2].with_interface.as_ref().unwrap();
        assert_eq!(*mode, SetMode::OneOf);
        assert_eq!(pats.len(), 2);
        assert_eq!(pats[1], InterfacePattern([Some(6), Some(1), Some(1)]));
        assert_eq!(rules[3].target, Some(Target::Block));
    }

    #[test]
    fn rule_errors_name_every_bad_line() {
        let err = parse_rules(
            "allow id 0951\nfoo id 1:2\nallow serial AA\nallow with-interface { 08:06:50\nallow id 0951:1666\nallow name \"x",
        )
        .unwrap_err();
        let lines: Vec<usize> = err.0.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![1, 2, 3, 4, 6]);
        assert!(err.to_string().contains("line 2: unknown target `foo`"));
        assert!(parse_rules("allow id 0951:16666").is_err());
        assert!(parse_rules("allow with-interface 8:6:50").is_err());
        assert!(parse_rules("allow with-interface { }").is_err());
        assert!(parse_rules("allow bogus").is_err());
    }

    #[test]
    fn first_match_wins_and_hid_is_never_restricted() {
        let rules = parse_rules(
            "allow id 0951:1666 serial \"AA1234\"\nreject with-interface one-of { 08:*:* }\nreject id *:*",
        )
        .unwrap();
        assert_eq!(
            evaluate(&rules, &stick(), Target::Block),
            (Target::Allow, Some(1))
        );
        let other = UsbInfo {
            serial: Some("ZZ".into()),
            ..stick()
        };
        assert_eq!(
            evaluate(&rules, &other, Target::Block),
            (Target::Reject, Some(2))
        );
        // `reject id *:*` would catch the keyboard: HID is exempt.
        assert_eq!(
            evaluate(&rules, &keyboard(), Target::Reject),
            (Target::Allow, None)
        );
        // Nothing matches: the default.
        assert_eq!(
            evaluate(&[], &stick(), Target::Block),
            (Target::Block, None)
        );
        // A composite device (storage + HID) is not HID-only.
        let combo = UsbInfo {
            interfaces: vec![[3, 1, 1], [8, 6, 0x50]],
            ..keyboard()
        };
        assert!(!combo.is_hid_only() && combo.is_storage());
        assert_eq!(evaluate(&rules, &combo, Target::Allow).0, Target::Reject);
    }

    #[test]
    fn interface_sets_all_of_and_one_of() {
        let combo = UsbInfo {
            interfaces: vec![[3, 1, 1], [8, 6, 0x50]],
            ..stick()
        };
        let all = parse_rules("allow with-interface { 08:*:* }").unwrap();
        assert!(!all[0].matches(&combo));
        assert!(all[0].matches(&stick()));
        let all2 = parse_rules("allow with-interface all-of { 08:*:* 03:*:* }").unwrap();
        assert!(all2[0].matches(&combo));
        let one = parse_rules("allow with-interface one-of { 08:*:* }").unwrap();
        assert!(one[0].matches(&combo));
        let none = UsbInfo {
            interfaces: vec![],
            ..stick()
        };
        assert!(!all[0].matches(&none));
    }

    #[test]
    fn hash_rules_and_hash_stability() {
        let h = stick().hash();
        assert_eq!(h.len(), 64);
        assert_eq!(h, stick().hash());
        assert_ne!(h, keyboard().hash());
        let rules = parse_rules(&format!("allow hash \"{h}\"")).unwrap();
        assert!(rules[0].matches(&stick()));
        assert!(!rules[0].matches(&UsbInfo {
            serial: Some("other".into()),
            ..stick()
        }));
    }

    #[test]
    fn reads_a_fake_sysfs_device() {
        let root = tempfile::tempdir().unwrap();
        let dev = root.path().join("bus/usb/devices/1-1");
        std::fs::create_dir_all(dev.join("1-1:1.0")).unwrap();
        for (k, v) in [
            ("idVendor", "0951\n"),
            ("idProduct", "1666\n"),
            ("serial", "AA1234\n"),
            ("product", "DataTraveler 3.0\n"),
            ("manufacturer", "Kingston\n"),
        ] {
            std::fs::write(dev.join(k), v).unwrap();
        }
        for (k, v) in [
            ("bInterfaceClass", "08\n"),
            ("bInterfaceSubClass", "06\n"),
            ("bInterfaceProtocol", "50\n"),
        ] {
            std::fs::write(dev.join("1-1:1.0").join(k), v).unwrap();
        }
        let info = UsbInfo::read(&dev).unwrap();
        assert_eq!(info, stick());
        assert!(UsbInfo::read(&root.path().join("bus/usb/devices/9-9")).is_none());
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC{0,200}", b in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse_rules(&s);
            let _ = parse_uevent(&b);
            let _ = parse_uevent(s.as_bytes());
        }
    }
}

/// What device control did with one uevent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceOutcome {
    /// `attach`, `detach` or another kernel action.
    pub action: String,
    /// The device, when it is a USB device sysfs could describe.
    pub device: Option<UsbInfo>,
    /// The rules' verdict (attach only).
    pub target: Option<Target>,
    /// The deciding rule's line.
    pub rule_line: Option<usize>,
    /// What was done: `authorized`, `de-authorised`, `read-only`, or an error.
    pub done: String,
}

/// Device control: rules, a default, and the sysfs tree to act on.
#[derive(Debug, Clone)]
pub struct DeviceControl {
    /// The rules.
    pub rules: Vec<Rule>,
    /// The target when no rule matches.
    pub default: Target,
    /// The sysfs root (`/sys`).
    pub sysfs_root: std::path::PathBuf,
}

impl DeviceControl {
    /// Handles one uevent: USB devices being added are decided and acted on (`reject`:
    /// `authorized` = 0; `block`: recorded as read-only, enforced on its block devices as they
    /// appear through [`DeviceControl::read_only_parent`]); removals are reported. Other
    /// subsystems: `None`.
    pub fn handle(&self, ev: &Uevent) -> Option<DeviceOutcome> {
        if ev.var("SUBSYSTEM") != Some("usb") || ev.var("DEVTYPE") != Some("usb_device") {
            return None;
        }
        let dir = self.sysfs_root.join(ev.devpath.trim_start_matches('/'));
        if ev.action != "add" {
            return Some(DeviceOutcome {
                action: if ev.action == "remove" {
                    "detach".into()
                } else {
                    ev.action.clone()
                },
                device: None,
                target: None,
                rule_line: None,
                done: String::new(),
            });
        }
        let Some(info) = UsbInfo::read(&dir) else {
            return Some(DeviceOutcome {
                action: "attach".into(),
                device: None,
                target: None,
                rule_line: None,
                done: format!("cannot read {}", dir.display()),
            });
        };
        let (target, line) = evaluate(&self.rules, &info, self.default);
        let done = match target {
            Target::Allow => "authorized".to_owned(),
            Target::Block => "read-only".to_owned(),
            Target::Reject => match std::fs::write(dir.join("authorized"), "0\n") {
                Ok(()) => "de-authorised".to_owned(),
                Err(e) => format!("de-authorising failed: {e}"),
            },
        };
        Some(DeviceOutcome {
            action: "attach".into(),
            device: Some(info),
            target: Some(target),
            rule_line: line,
            done,
        })
    }

    /// For a block device uevent, the USB device above it whose verdict is `block` (its storage
    /// must be made read-only before anything mounts it): walks up the devpath in sysfs.
    pub fn read_only_parent(&self, ev: &Uevent) -> Option<UsbInfo> {
        if ev.var("SUBSYSTEM") != Some("block") || ev.action != "add" {
            return None;
        }
        let mut dir = self.sysfs_root.join(ev.devpath.trim_start_matches('/'));
        while dir.pop() {
            if !dir.starts_with(&self.sysfs_root) {
                break;
            }
            if dir.join("idVendor").exists() {
                let info = UsbInfo::read(&dir)?;
                return (evaluate(&self.rules, &info, self.default).0 == Target::Block)
                    .then_some(info);
            }
        }
        None
    }
}

#[cfg(test)]
mod control_tests {
    use super::*;

    fn fake_usb(root: &Path, port: &str, serial: &str, class: &str) -> String {
        let devpath = format!("devices/pci0000:00/0000:00:14.0/usb1/{port}");
        let dev = root.join(&devpath);
        std::fs::create_dir_all(dev.join(format!("{port}:1.0"))).unwrap();
        for (k, v) in [
            ("idVendor", "0951"),
            ("idProduct", "1666"),
            ("serial", serial),
            ("product", "DataTraveler 3.0"),
            ("authorized", "1"),
        ] {
            std::fs::write(dev.join(k), format!("{v}\n")).unwrap();
        }
        for (k, v) in [
            ("bInterfaceClass", class),
            ("bInterfaceSubClass", "06"),
            ("bInterfaceProtocol", "50"),
        ] {
            std::fs::write(dev.join(format!("{port}:1.0")).join(k), format!("{v}\n")).unwrap();
        }
        format!("/{devpath}")
    }

    fn add(devpath: &str, subsystem: &str, devtype: &str) -> Uevent {
        let msg = format!(
            "add@{devpath}\0ACTION=add\0DEVPATH={devpath}\0SUBSYSTEM={subsystem}\0DEVTYPE={devtype}\0"
        );
        parse_uevent(msg.as_bytes()).unwrap()
    }

    #[test]
    fn attach_decides_and_acts_on_the_fake_sysfs() {
        let root = tempfile::tempdir().unwrap();
        let ok = fake_usb(root.path(), "1-1", "AA1234", "08");
        let bad = fake_usb(root.path(), "1-2", "ZZ", "08");
        let kbd = fake_usb(root.path(), "1-3", "K", "03");
        let ctl = DeviceControl {
            rules: parse_rules(
                "allow id 0951:1666 serial \"AA1234\"\nreject with-interface one-of { 08:*:* }",
            )
            .unwrap(),
            default: Target::Reject,
            sysfs_root: root.path().to_owned(),
        };
        let o = ctl.handle(&add(&ok, "usb", "usb_device")).unwrap();
        assert_eq!(
            (o.target, o.rule_line, o.done.as_str()),
            (Some(Target::Allow), Some(1), "authorized")
        );
        let o = ctl.handle(&add(&bad, "usb", "usb_device")).unwrap();
        assert_eq!(
            (o.target, o.done.as_str()),
            (Some(Target::Reject), "de-authorised")
        );
        let authorized = |d: &str| {
            std::fs::read_to_string(
                root.path()
                    .join(d.trim_start_matches('/'))
                    .join("authorized"),
            )
            .unwrap()
        };
        assert_eq!(authorized(&bad), "0\n");
        assert_eq!(authorized(&ok), "1\n");
        // A keyboard (HID) with the default `reject`: left alone.
        let o = ctl.handle(&add(&kbd, "usb", "usb_device")).unwrap();
        assert_eq!(o.target, Some(Target::Allow));
        assert_eq!(authorized(&kbd), "1\n");
        // Interfaces and other subsystems are not devices.
        assert!(ctl.handle(&add(&ok, "usb", "usb_interface")).is_none());
        assert!(
            ctl.handle(&add("/devices/virtual/block/loop0", "block", "disk"))
                .is_none()
        );
        // Removal is reported.
        let rm =
            parse_uevent(format!("remove@{bad}\0SUBSYSTEM=usb\0DEVTYPE=usb_device\0").as_bytes())
                .unwrap();
        assert_eq!(ctl.handle(&rm).unwrap().action, "detach");
    }

    #[test]
    fn block_target_makes_the_disk_below_read_only() {
        let root = tempfile::tempdir().unwrap();
        let stick = fake_usb(root.path(), "1-1", "AA1234", "08");
        let disk = format!("{stick}/1-1:1.0/host2/target2:0:0/2:0:0:0/block/sdb");
        std::fs::create_dir_all(root.path().join(disk.trim_start_matches('/'))).unwrap();
        let ctl = DeviceControl {
            rules: parse_rules("block id 0951:*").unwrap(),
            default: Target::Allow,
            sysfs_root: root.path().to_owned(),
        };
        let info = ctl.read_only_parent(&add(&disk, "block", "disk")).unwrap();
        assert_eq!(info.serial.as_deref(), Some("AA1234"));
        let ctl = DeviceControl {
            rules: parse_rules("allow id 0951:*").unwrap(),
            ..ctl
        };
        assert!(ctl.read_only_parent(&add(&disk, "block", "disk")).is_none());
        assert!(
            ctl.read_only_parent(&add("/devices/virtual/block/loop0", "block", "disk"))
                .is_none()
        );
    }
}
