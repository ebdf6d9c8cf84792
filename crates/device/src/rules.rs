//! The device rule language, modelled on USBGuard's (the one administrators know), one rule a
//! line, the first matching rule deciding:
//!
//! ```text
//! # target    attributes
//! allow       id 0781:5567 serial "4C530001"          # one registered stick
//! read-only   id 0951:*                                # any Kingston stick, read-only
//! allow       with-interface one-of { 03:*:* 09:*:* }  # (input devices and hubs are never restricted anyway)
//! block       with-interface 08:*:*                    # any other mass storage
//! reject      via-port "2-1"                           # nothing on that port at all
//! ```
//!
//! Targets: `allow`, `block` (de-authorised: present but unusable), `reject` (removed from the
//! system), and Mamori's own `read-only` (authorised, its block devices set read-only before
//! they are mounted: what USBGuard users have asked for since 2015).
//!
//! Attributes: `id VVVV:PPPP` (either half may be `*`), `serial`, `name`, `hash`, `via-port`
//! (strings, compared exactly), and `with-interface CC:SS:PP` (any field may be `*`). Each takes
//! one value or a set `{ … }` with an operator before it: `one-of` (the default for single-valued
//! attributes), `none-of`, `all-of`, `equals` (the default for `with-interface`: every interface
//! matches some pattern and every pattern some interface) and `equals-ordered`.

use std::fmt;

use crate::device::{Interface, UsbDevice};

/// What happens to a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// Authorised: drivers bind, the device works.
    Allow,
    /// Authorised, but its block devices are set read-only before they are mounted.
    ReadOnly,
    /// De-authorised: present, but no driver binds.
    Block,
    /// Removed from the system (until it is plugged in again).
    Reject,
}

impl Target {
    /// The rule-file word.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Allow => "allow",
            Target::ReadOnly => "read-only",
            Target::Block => "block",
            Target::Reject => "reject",
        }
    }

    /// Parses a rule-file word.
    pub fn parse(word: &str) -> Option<Target> {
        Some(match word {
            "allow" => Target::Allow,
            "read-only" => Target::ReadOnly,
            "block" => Target::Block,
            "reject" => Target::Reject,
            _ => return None,
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a set of values is compared with the device's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOperator {
    /// At least one value matches.
    OneOf,
    /// No value matches.
    NoneOf,
    /// Every value matches.
    AllOf,
    /// Both sides match each other completely.
    Equals,
    /// As `Equals`, in the same order.
    EqualsOrdered,
}

impl SetOperator {
    fn parse(word: &str) -> Option<SetOperator> {
        Some(match word {
            "one-of" => SetOperator::OneOf,
            "none-of" => SetOperator::NoneOf,
            "all-of" => SetOperator::AllOf,
            "equals" => SetOperator::Equals,
            "equals-ordered" => SetOperator::EqualsOrdered,
            _ => return None,
        })
    }
}

/// `VVVV:PPPP` with `None` for `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdPattern {
    /// Vendor id, or any.
    pub vendor: Option<u16>,
    /// Product id, or any.
    pub product: Option<u16>,
}

impl IdPattern {
    fn matches(&self, d: &UsbDevice) -> bool {
        self.vendor.is_none_or(|v| v == d.vendor) && self.product.is_none_or(|p| p == d.product)
    }
}

/// `CC:SS:PP` with `None` for `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterfacePattern {
    /// Class, or any.
    pub class: Option<u8>,
    /// Subclass, or any.
    pub subclass: Option<u8>,
    /// Protocol, or any.
    pub protocol: Option<u8>,
}

impl InterfacePattern {
    fn matches(&self, i: &Interface) -> bool {
        self.class.is_none_or(|c| c == i.class)
            && self.subclass.is_none_or(|s| s == i.subclass)
            && self.protocol.is_none_or(|p| p == i.protocol)
    }
}

/// One condition of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `id`.
    Id(SetOperator, Vec<IdPattern>),
    /// `serial`.
    Serial(SetOperator, Vec<String>),
    /// `name` (the product string).
    Name(SetOperator, Vec<String>),
    /// `hash` ([`UsbDevice::hash`]).
    Hash(SetOperator, Vec<String>),
    /// `via-port` (the sysfs port name, `1-1.4`).
    ViaPort(SetOperator, Vec<String>),
    /// `with-interface`.
    WithInterface(SetOperator, Vec<InterfacePattern>),
}

/// Compares one device value with a set of patterns.
fn single<T>(op: SetOperator, patterns: &[T], hit: impl Fn(&T) -> bool) -> bool {
    match op {
        SetOperator::OneOf => patterns.iter().any(hit),
        SetOperator::NoneOf => !patterns.iter().any(hit),
        SetOperator::AllOf | SetOperator::Equals | SetOperator::EqualsOrdered => {
            !patterns.is_empty() && patterns.iter().all(hit)
        }
    }
}

fn string_matches(op: SetOperator, patterns: &[String], value: Option<&str>) -> bool {
    match value {
        Some(v) => single(op, patterns, |p| p == v),
        // A device without the attribute matches only "none of".
        None => op == SetOperator::NoneOf,
    }
}

impl Condition {
    fn matches(&self, d: &UsbDevice) -> bool {
        match self {
            Condition::Id(op, ids) => single(*op, ids, |p| p.matches(d)),
            Condition::Serial(op, v) => string_matches(*op, v, d.serial.as_deref()),
            Condition::Name(op, v) => string_matches(*op, v, d.name.as_deref()),
            Condition::Hash(op, v) => string_matches(*op, v, Some(&d.hash())),
            Condition::ViaPort(op, v) => string_matches(*op, v, Some(&d.port)),
            Condition::WithInterface(op, pats) => {
                let ifs = &d.interfaces;
                let some_if = |p: &InterfacePattern| ifs.iter().any(|i| p.matches(i));
                match op {
                    SetOperator::OneOf => pats.iter().any(some_if),
                    SetOperator::NoneOf => !pats.iter().any(some_if),
                    SetOperator::AllOf => pats.iter().all(some_if),
                    SetOperator::Equals => {
                        !ifs.is_empty()
                            && pats.iter().all(some_if)
                            && ifs.iter().all(|i| pats.iter().any(|p| p.matches(i)))
                    }
                    SetOperator::EqualsOrdered => {
                        ifs.len() == pats.len() && ifs.iter().zip(pats).all(|(i, p)| p.matches(i))
                    }
                }
            }
        }
    }
}

/// One rule: a target and conditions that must all hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// What happens to a matching device.
    pub target: Target,
    /// Every one must hold (none: every device).
    pub conditions: Vec<Condition>,
    /// The rule's line in its file (1-based).
    pub line: usize,
    /// The rule's text as written.
    pub text: String,
}

impl Rule {
    /// True when every condition holds for `device`.
    pub fn matches(&self, device: &UsbDevice) -> bool {
        self.conditions.iter().all(|c| c.matches(device))
    }
}

/// A rule file that did not parse: every bad line, each naming the line, column and problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .errors.join("\n"))]
pub struct RuleErrors {
    /// One message a bad line: `FILE:LINE:COLUMN: message`.
    pub errors: Vec<String>,
}

/// Why a device got its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Because {
    /// Hubs and input devices without storage are never restricted.
    NeverRestricted,
    /// A rule matched (its line and text).
    Rule {
        /// Line of the rule.
        line: usize,
        /// The rule as written.
        text: String,
    },
    /// No rule matched: the rule set's default.
    Default,
}

/// The decision for one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceDecision {
    /// What happens to it.
    pub target: Target,
    /// Why.
    pub because: Because,
}

impl DeviceDecision {
    /// A reason a person can read, in Japanese and English.
    pub fn reason(&self) -> (String, String) {
        match &self.because {
            Because::NeverRestricted => (
                "ハブと入力機器 (キーボード・マウス) は制限しません".into(),
                "hubs and input devices (keyboards, mice) are never restricted".into(),
            ),
            Because::Rule { line, text } => (
                format!("デバイス規則 {line} 行目: {text}"),
                format!("device rule at line {line}: {text}"),
            ),
            Because::Default => (
                "登録されていないデバイスです (既定の動作)".into(),
                "the device is not registered (the default)".into(),
            ),
        }
    }
}

/// An ordered list of rules and the target of devices no rule matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    /// The rules, first match wins.
    pub rules: Vec<Rule>,
    /// For devices no rule matches (USBGuard's implicit policy target).
    pub default: Target,
}

/// Largest rule file accepted, in bytes.
pub const MAX_RULES_BYTES: usize = 4 << 20;
/// Most values in one `{ … }` set.
pub const MAX_SET_VALUES: usize = 1024;

impl RuleSet {
    /// Parses a rule file; `origin` names it in errors. The default target for unmatched
    /// devices is `default`.
    pub fn parse(text: &str, origin: &str, default: Target) -> Result<RuleSet, RuleErrors> {
        if text.len() > MAX_RULES_BYTES {
            return Err(RuleErrors {
                errors: vec![format!(
                    "{origin}: the rule file is larger than {MAX_RULES_BYTES} bytes"
                )],
            });
        }
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for (n, line) in text.lines().enumerate() {
            match parse_line(line, n + 1) {
                Ok(Some(rule)) => rules.push(rule),
                Ok(None) => {}
                Err((column, message)) => {
                    errors.push(format!("{origin}:{}:{column}: {message}", n + 1))
                }
            }
        }
        if errors.is_empty() {
            Ok(RuleSet { rules, default })
        } else {
            Err(RuleErrors { errors })
        }
    }

    /// The decision for a device: never-restricted devices are allowed whatever the rules say;
    /// otherwise the first matching rule, or the default.
    pub fn decide(&self, device: &UsbDevice) -> DeviceDecision {
        if device.is_never_restricted() {
            return DeviceDecision {
                target: Target::Allow,
                because: Because::NeverRestricted,
            };
        }
        for rule in &self.rules {
            if rule.matches(device) {
                return DeviceDecision {
                    target: rule.target,
                    because: Because::Rule {
                        line: rule.line,
                        text: rule.text.clone(),
                    },
                };
            }
        }
        DeviceDecision {
            target: self.default,
            because: Because::Default,
        }
    }

    /// Rules allowing exactly the given devices (by id, serial and port when they have a
    /// serial, by hash otherwise): what `generate-policy` writes at install, so that nothing
    /// already plugged in stops working.
    pub fn allow_present(devices: &[UsbDevice]) -> String {
        let mut out = String::from(
            "# Generated by `mamori device generate-rules`: the devices present at install.\n\
             # 導入時に接続されていたデバイス。最初に一致した規則が適用されます。\n",
        );
        for d in devices {
            if d.is_never_restricted() {
                continue;
            }
            let mut line = format!("allow id {}", d.id());
            match &d.serial {
                Some(s) => line.push_str(&format!(" serial {}", quote(s))),
                None => line.push_str(&format!(" hash {}", quote(&d.hash()))),
            }
            if let Some(n) = &d.name {
                line.push_str(&format!(" name {}", quote(n)));
            }
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}

/// A rule-file string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32 & 0xff)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Str(String),
    Open,
    Close,
}

/// Splits a line into tokens with their 1-based columns; a `#` outside a string ends the line.
fn tokenize(line: &str) -> Result<Vec<(usize, Token)>, (usize, String)> {
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        let column = line[..at].chars().count() + 1;
        match c {
            c if c.is_whitespace() => i += 1,
            '#' => break,
            '{' => {
                tokens.push((column, Token::Open));
                i += 1;
            }
            '}' => {
                tokens.push((column, Token::Close));
                i += 1;
            }
            '"' => {
                let mut value = String::new();
                i += 1;
                loop {
                    let Some(&(_, c)) = chars.get(i) else {
                        return Err((column, "unterminated string".into()));
                    };
                    i += 1;
                    match c {
                        '"' => break,
                        '\\' => {
                            let Some(&(_, e)) = chars.get(i) else {
                                return Err((column, "unterminated string".into()));
                            };
                            i += 1;
                            match e {
                                '"' | '\\' => value.push(e),
                                'x' => {
                                    let hex: String =
                                        chars.iter().skip(i).take(2).map(|&(_, c)| c).collect();
                                    let byte = u8::from_str_radix(&hex, 16).map_err(|_| {
                                        (column, format!("bad escape \\x{hex} in string"))
                                    })?;
                                    value.push(char::from(byte));
                                    i += 2;
                                }
                                other => {
                                    return Err((
                                        column,
                                        format!("bad escape \\{other} in string"),
                                    ));
                                }
                            }
                        }
                        c => value.push(c),
                    }
                }
                tokens.push((column, Token::Str(value)));
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !chars[i].1.is_whitespace()
                    && !matches!(chars[i].1, '{' | '}' | '"' | '#')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().map(|&(_, c)| c).collect();
                tokens.push((column, Token::Word(word)));
            }
        }
    }
    Ok(tokens)
}

fn parse_hex16(s: &str) -> Option<Option<u16>> {
    if s == "*" {
        return Some(None);
    }
    (s.len() == 4 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u16::from_str_radix(s, 16).ok().map(Some))
        .flatten()
}

fn parse_hex8(s: &str) -> Option<Option<u8>> {
    if s == "*" {
        return Some(None);
    }
    (s.len() == 2 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u8::from_str_radix(s, 16).ok().map(Some))
        .flatten()
}

fn parse_id(s: &str) -> Option<IdPattern> {
    let (v, p) = s.split_once(':')?;
    Some(IdPattern {
        vendor: parse_hex16(v)?,
        product: parse_hex16(p)?,
    })
}

fn parse_interface(s: &str) -> Option<InterfacePattern> {
    let mut parts = s.split(':');
    let class = parse_hex8(parts.next()?)?;
    let subclass = parse_hex8(parts.next()?)?;
    let protocol = parse_hex8(parts.next()?)?;
    if parts.next().is_some() {
        return None;
    }
    Some(InterfacePattern {
        class,
        subclass,
        protocol,
    })
}

type LineError = (usize, String);

/// An attribute's operator, if one was written, and its values with their columns.
type Values = (Option<SetOperator>, Vec<(usize, String)>);

/// Reads an attribute's values: `VALUE`, or `[OPERATOR] { VALUE … }`. Returns the operator
/// given (if any), the values with their columns.
fn values(
    tokens: &[(usize, Token)],
    pos: &mut usize,
    attribute: &str,
    attr_column: usize,
) -> Result<Values, LineError> {
    let mut op = None;
    if let Some((column, Token::Word(w))) = tokens.get(*pos)
        && let Some(o) = SetOperator::parse(w)
    {
        op = Some(o);
        *pos += 1;
        if !matches!(tokens.get(*pos), Some((_, Token::Open))) {
            return Err((
                *column,
                format!("`{w}` must be followed by a set `{{ … }}`"),
            ));
        }
    }
    match tokens.get(*pos) {
        Some((_, Token::Open)) => {
            *pos += 1;
            let mut out = Vec::new();
            loop {
                match tokens.get(*pos) {
                    Some((_, Token::Close)) => {
                        *pos += 1;
                        break;
                    }
                    Some((c, Token::Word(w) | Token::Str(w))) => {
                        if out.len() >= MAX_SET_VALUES {
                            return Err((
                                *c,
                                format!("more than {MAX_SET_VALUES} values in a set"),
                            ));
                        }
                        out.push((*c, w.clone()));
                        *pos += 1;
                    }
                    Some((c, Token::Open)) => return Err((*c, "sets cannot be nested".into())),
                    None => {
                        return Err((
                            attr_column,
                            format!("`{attribute}`: set not closed with `}}`"),
                        ));
                    }
                }
            }
            if out.is_empty() {
                return Err((attr_column, format!("`{attribute}`: empty set")));
            }
            Ok((op, out))
        }
        Some((c, Token::Word(w) | Token::Str(w))) => {
            *pos += 1;
            Ok((None, vec![(*c, w.clone())]))
        }
        Some((c, Token::Close)) => Err((*c, "unexpected `}`".into())),
        None => Err((attr_column, format!("`{attribute}` needs a value"))),
    }
}

fn parse_line(line: &str, number: usize) -> Result<Option<Rule>, LineError> {
    let tokens = tokenize(line)?;
    let Some((column, first)) = tokens.first() else {
        return Ok(None);
    };
    let target = match first {
        Token::Word(w) => Target::parse(w).ok_or_else(|| {
            (
                *column,
                format!("unknown target `{w}` (expected allow, read-only, block or reject)"),
            )
        })?,
        _ => return Err((*column, "a rule starts with its target".into())),
    };
    let mut conditions = Vec::new();
    let mut pos = 1;
    while pos < tokens.len() {
        let (column, token) = &tokens[pos];
        let Token::Word(attribute) = token else {
            return Err((*column, "expected an attribute name".into()));
        };
        pos += 1;
        let (op, raw) = values(&tokens, &mut pos, attribute, *column)?;
        let strings = || raw.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>();
        let condition = match attribute.as_str() {
            "id" => {
                let mut ids = Vec::new();
                for (c, v) in &raw {
                    ids.push(parse_id(v).ok_or_else(|| {
                        (
                            *c,
                            format!("bad id `{v}` (expected VVVV:PPPP in hex, `*` for any)"),
                        )
                    })?);
                }
                Condition::Id(op.unwrap_or(SetOperator::OneOf), ids)
            }
            "serial" => Condition::Serial(op.unwrap_or(SetOperator::OneOf), strings()),
            "name" => Condition::Name(op.unwrap_or(SetOperator::OneOf), strings()),
            "hash" => Condition::Hash(op.unwrap_or(SetOperator::OneOf), strings()),
            "via-port" => Condition::ViaPort(op.unwrap_or(SetOperator::OneOf), strings()),
            "with-interface" => {
                let mut pats = Vec::new();
                for (c, v) in &raw {
                    pats.push(parse_interface(v).ok_or_else(|| {
                        (
                            *c,
                            format!("bad interface `{v}` (expected CC:SS:PP in hex, `*` for any)"),
                        )
                    })?);
                }
                Condition::WithInterface(op.unwrap_or(SetOperator::Equals), pats)
            }
            other => {
                return Err((
                    *column,
                    format!(
                        "unknown attribute `{other}` (expected id, serial, name, hash, via-port or with-interface)"
                    ),
                ));
            }
        };
        conditions.push(condition);
    }
    let text = line.split('#').next().unwrap_or("").trim().to_string();
    Ok(Some(Rule {
        target,
        conditions,
        line: number,
        text,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{CLASS_HID, CLASS_MASS_STORAGE};

    fn stick(vendor: u16, product: u16, serial: Option<&str>) -> UsbDevice {
        UsbDevice {
            port: "1-1".into(),
            vendor,
            product,
            serial: serial.map(str::to_string),
            name: Some("Cruzer Blade".into()),
            interfaces: vec![Interface {
                class: CLASS_MASS_STORAGE,
                subclass: 6,
                protocol: 0x50,
            }],
            ..UsbDevice::default()
        }
    }

    const RULES: &str = r#"
# registered sticks
allow id 0781:5567 serial "4C530001"
read-only id 0951:*          # Kingston: read only
reject via-port "2-1"
allow with-interface equals { 08:*:* 03:*:* } name one-of { "Combo" "Other" }
block with-interface 08:*:*
"#;

    fn rules() -> RuleSet {
        RuleSet::parse(RULES, "rules.conf", Target::Block).unwrap()
    }

    #[test]
    fn first_matching_rule_decides() {
        let r = rules();
        let d = r.decide(&stick(0x0781, 0x5567, Some("4C530001")));
        assert_eq!(d.target, Target::Allow);
        assert!(matches!(d.because, Because::Rule { line: 3, .. }));
        // Same model, another serial: falls to the mass-storage block.
        let d = r.decide(&stick(0x0781, 0x5567, Some("OTHER")));
        assert_eq!(d.target, Target::Block);
        assert!(matches!(d.because, Because::Rule { line: 7, .. }));
        // No serial at all: `serial` matches nothing.
        assert_eq!(r.decide(&stick(0x0781, 0x5567, None)).target, Target::Block);
        assert_eq!(
            r.decide(&stick(0x0951, 0x1666, None)).target,
            Target::ReadOnly
        );
        let mut on_port = stick(0x1234, 0x5678, None);
        on_port.port = "2-1".into();
        assert_eq!(r.decide(&on_port).target, Target::Reject);
    }

    #[test]
    fn input_devices_and_hubs_are_never_restricted_even_by_a_catch_all_block() {
        let r = RuleSet::parse("block\n", "r", Target::Block).unwrap();
        let mouse = UsbDevice {
            port: "1-2".into(),
            interfaces: vec![Interface {
                class: CLASS_HID,
                subclass: 1,
                protocol: 2,
            }],
            ..UsbDevice::default()
        };
        assert_eq!(r.decide(&mouse).target, Target::Allow);
        assert_eq!(r.decide(&mouse).because, Because::NeverRestricted);
        let root_hub = UsbDevice {
            port: "usb1".into(),
            ..UsbDevice::default()
        };
        assert_eq!(r.decide(&root_hub).target, Target::Allow);
        assert_eq!(r.decide(&stick(1, 2, None)).target, Target::Block);
    }

    #[test]
    fn set_operators() {
        let combo = UsbDevice {
            port: "3-1".into(),
            name: Some("Combo".into()),
            interfaces: vec![
                Interface {
                    class: 3,
                    subclass: 1,
                    protocol: 1,
                },
                Interface {
                    class: 8,
                    subclass: 6,
                    protocol: 0x50,
                },
            ],
            ..UsbDevice::default()
        };
        let r = rules();
        assert_eq!(r.decide(&combo).target, Target::Allow);
        let check = |rule: &str, device: &UsbDevice| {
            RuleSet::parse(rule, "t", Target::Reject)
                .unwrap()
                .decide(device)
                .target
                == Target::Allow
        };
        assert!(check("allow with-interface all-of { 03:*:* }", &combo));
        assert!(!check("allow with-interface equals { 03:*:* }", &combo));
        assert!(check(
            "allow with-interface one-of { 07:*:* 08:06:* }",
            &combo
        ));
        assert!(!check("allow with-interface none-of { 08:*:* }", &combo));
        assert!(check(
            "allow with-interface equals-ordered { 03:01:01 08:*:* }",
            &combo
        ));
        assert!(!check(
            "allow with-interface equals-ordered { 08:*:* 03:01:01 }",
            &combo
        ));
        assert!(check("allow name none-of { \"X\" }", &combo));
        assert!(check("allow id *:*", &combo));
        assert!(check(&format!("allow hash \"{}\"", combo.hash()), &combo));
        assert!(!check("allow hash \"00\"", &combo));
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let text = "allow id 0781:55\nallow\nallow serial\nfrobnicate id 1:2\nallow colour \"red\"\nblock name \"open\nallow with-interface { 08:*:* \nallow id one-of 0781:5567\n";
        let errors = RuleSet::parse(text, "usb.rules", Target::Block)
            .unwrap_err()
            .errors;
        assert_eq!(errors.len(), 7, "{errors:#?}");
        assert!(
            errors[0].starts_with("usb.rules:1:10: bad id `0781:55`"),
            "{}",
            errors[0]
        );
        assert!(
            errors[1].starts_with("usb.rules:3:7: `serial` needs a value"),
            "{}",
            errors[1]
        );
        assert!(
            errors[2].starts_with("usb.rules:4:1: unknown target `frobnicate`"),
            "{}",
            errors[2]
        );
        assert!(
            errors[3].starts_with("usb.rules:5:7: unknown attribute `colour`"),
            "{}",
            errors[3]
        );
        assert!(
            errors[4].starts_with("usb.rules:6:12: unterminated string"),
            "{}",
            errors[4]
        );
        assert!(
            errors[5].contains(":7:7: `with-interface`: set not closed"),
            "{}",
            errors[5]
        );
        assert!(
            errors[6].contains(":8:10: `one-of` must be followed by a set"),
            "{}",
            errors[6]
        );
    }

    #[test]
    fn generated_rules_allow_what_is_present_and_parse_back() {
        let mut odd = stick(0x0781, 0x5567, Some("A\"B\\C"));
        odd.port = "1-4".into();
        let devices = vec![odd.clone(), stick(0x0951, 0x1666, None)];
        let text = RuleSet::allow_present(&devices);
        let r = RuleSet::parse(&text, "gen", Target::Block).unwrap();
        assert_eq!(r.rules.len(), 2);
        for d in &devices {
            assert_eq!(r.decide(d).target, Target::Allow, "{text}");
        }
        assert_eq!(
            r.decide(&stick(0x0781, 0x5567, Some("other"))).target,
            Target::Block
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn parsing_any_text_never_panics(text in "\\PC{0,200}") {
                let _ = RuleSet::parse(&text, "p", Target::Block);
            }

            #[test]
            fn quoted_strings_round_trip(s in "\\PC{0,40}") {
                let rule = format!("allow serial {}", quote(&s));
                let r = RuleSet::parse(&rule, "p", Target::Block).unwrap();
                prop_assert_eq!(&r.rules[0].conditions[0], &Condition::Serial(SetOperator::OneOf, vec![s]));
            }
        }
    }
}
