//! Who is acting and where the content is going: principals, destinations and how rules match
//! them.

use std::fmt;

use mamori_model::Channel;

/// The person (account) an operation is done for.
///
/// Groups are resolved by the caller, usually through a [`GroupResolver`] backed by the system's
/// NSS (`getent group`), so that LDAP and SSSD accounts work like local ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principal {
    /// The account name.
    pub user: String,
    /// The numeric user id, where known.
    pub uid: Option<u32>,
    /// Names of every group the account belongs to, primary group included.
    pub groups: Vec<String>,
}

impl Principal {
    /// A principal with no uid and no groups.
    pub fn new(user: impl Into<String>) -> Principal {
        Principal {
            user: user.into(),
            uid: None,
            groups: Vec::new(),
        }
    }

    /// This principal with a uid.
    pub fn with_uid(mut self, uid: u32) -> Principal {
        self.uid = Some(uid);
        self
    }

    /// This principal with these groups.
    pub fn with_groups<I, S>(mut self, groups: I) -> Principal
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.groups = groups.into_iter().map(Into::into).collect();
        self
    }

    /// Resolves the groups of this principal's user through `resolver`.
    pub fn resolve_groups(mut self, resolver: &dyn GroupResolver) -> Result<Principal, GroupError> {
        self.groups = resolver.groups_of(&self.user)?;
        Ok(self)
    }
}

/// Error resolving a user's groups.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// The user is not known to the system.
    #[error("unknown user `{0}` / ユーザー `{0}` が見つかりません")]
    UnknownUser(String),
    /// The lookup itself failed (NSS, LDAP unreachable...).
    #[error("cannot look up the groups of `{user}`: {reason}")]
    Lookup {
        /// The user.
        user: String,
        /// What failed.
        reason: String,
    },
}

/// Looks up the groups of a user. The binary implements it with the system's NSS; tests use
/// [`StaticGroups`].
pub trait GroupResolver {
    /// Names of every group `user` belongs to, primary group included.
    fn groups_of(&self, user: &str) -> Result<Vec<String>, GroupError>;
}

/// A fixed table of users and their groups, for tests and for hosts without NSS.
#[derive(Debug, Clone, Default)]
pub struct StaticGroups {
    users: Vec<(String, Vec<String>)>,
}

impl StaticGroups {
    /// An empty table.
    pub fn new() -> StaticGroups {
        StaticGroups::default()
    }

    /// This table with one more user.
    pub fn with_user<I, S>(mut self, user: impl Into<String>, groups: I) -> StaticGroups
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.users
            .push((user.into(), groups.into_iter().map(Into::into).collect()));
        self
    }
}

impl GroupResolver for StaticGroups {
    fn groups_of(&self, user: &str) -> Result<Vec<String>, GroupError> {
        self.users
            .iter()
            .find(|(name, _)| name == user)
            .map(|(_, groups)| groups.clone())
            .ok_or_else(|| GroupError::UnknownUser(user.to_owned()))
    }
}

/// A USB device, as the agent sees it when it is plugged in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UsbDevice {
    /// USB vendor id.
    pub vendor: u16,
    /// USB product id.
    pub product: u16,
    /// The device's serial number string, if it reports one.
    pub serial: Option<String>,
}

impl fmt::Display for UsbDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{:04x}", self.vendor, self.product)?;
        if let Some(serial) = &self.serial {
            write!(f, ":{serial}")?;
        }
        Ok(())
    }
}

/// Where content is going.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Destination {
    /// Not known, or the channel has none (`file_access`, `local_copy`). Rules with a destination
    /// condition never match it.
    #[default]
    Unknown,
    /// A USB storage device (`removable_media`).
    Usb(UsbDevice),
    /// Mail recipients' addresses (`mail`). A mail to several recipients is decided once per
    /// recipient and the most restrictive answer wins.
    Mail(Vec<String>),
    /// The URL an upload goes to (`web_upload`).
    Url(String),
    /// A printer (CUPS queue) name (`print`).
    Printer(String),
    /// A network share path, as mounted (`/mnt/share/x`) or as UNC (`//server/share/x`)
    /// (`network_share`).
    Share(String),
}

/// A `--destination` text that does not parse for its channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad destination `{text}` for channel {channel}: {reason}")]
pub struct DestinationError {
    /// The text.
    pub text: String,
    /// The channel it was given for.
    pub channel: Channel,
    /// What is wrong, with the expected form.
    pub reason: &'static str,
}

impl Destination {
    /// Parses a destination written for `channel`, as on the command line:
    ///
    /// | channel | form | example |
    /// |---|---|---|
    /// | `removable_media` | `VENDOR:PRODUCT[:SERIAL]` (hex ids) | `0781:5581:4C530001` |
    /// | `mail` | recipient addresses, comma separated | `a@example.co.jp,b@gmail.com` |
    /// | `web_upload` | a URL | `https://drive.example.com/upload` |
    /// | `print` | a printer name | `floor3-secure` |
    /// | `network_share` | a path | `/mnt/hr/2026` |
    /// | `file_access`, `local_copy` | (none) | |
    pub fn parse(channel: Channel, text: &str) -> Result<Destination, DestinationError> {
        let error = |reason| DestinationError {
            text: text.to_owned(),
            channel,
            reason,
        };
        let text = text.trim();
        match channel {
            Channel::RemovableMedia => {
                let mut parts = text.splitn(3, ':');
                let vendor = parts.next().and_then(parse_hex16);
                let product = parts.next().and_then(parse_hex16);
                let serial = parts.next().filter(|s| !s.is_empty()).map(str::to_owned);
                match (vendor, product) {
                    (Some(vendor), Some(product)) => Ok(Destination::Usb(UsbDevice {
                        vendor,
                        product,
                        serial,
                    })),
                    _ => Err(error(
                        "expected VENDOR:PRODUCT[:SERIAL] with 4-digit hex ids",
                    )),
                }
            }
            Channel::Mail => {
                let recipients: Vec<String> = text
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                if recipients.is_empty() || recipients.iter().any(|r| mail_domain(r).is_none()) {
                    return Err(error("expected recipient addresses like a@example.co.jp"));
                }
                Ok(Destination::Mail(recipients))
            }
            Channel::WebUpload => {
                if url_host(text).is_none() {
                    return Err(error("expected a URL like https://host/path"));
                }
                Ok(Destination::Url(text.to_owned()))
            }
            Channel::Print if !text.is_empty() => Ok(Destination::Printer(text.to_owned())),
            Channel::NetworkShare if !text.is_empty() => Ok(Destination::Share(text.to_owned())),
            Channel::Print => Err(error("expected a printer name")),
            Channel::NetworkShare => Err(error("expected a share path")),
            Channel::FileAccess | Channel::LocalCopy => {
                Err(error("this channel takes no destination"))
            }
        }
    }

    /// The channel this kind of destination belongs to (`None` for [`Destination::Unknown`]).
    pub fn channel(&self) -> Option<Channel> {
        match self {
            Destination::Unknown => None,
            Destination::Usb(_) => Some(Channel::RemovableMedia),
            Destination::Mail(_) => Some(Channel::Mail),
            Destination::Url(_) => Some(Channel::WebUpload),
            Destination::Printer(_) => Some(Channel::Print),
            Destination::Share(_) => Some(Channel::NetworkShare),
        }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Unknown => f.write_str("-"),
            Destination::Usb(device) => write!(f, "{device}"),
            Destination::Mail(recipients) => f.write_str(&recipients.join(",")),
            Destination::Url(s) | Destination::Printer(s) | Destination::Share(s) => f.write_str(s),
        }
    }
}

fn parse_hex16(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 4 {
        return None;
    }
    u16::from_str_radix(text, 16).ok()
}

/// A USB device pattern from a rule: `VENDOR:PRODUCT[:SERIAL]`, each part `*` for any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UsbPattern {
    vendor: Option<u16>,
    product: Option<u16>,
    serial: Option<String>,
}

impl UsbPattern {
    pub(crate) fn parse(text: &str) -> Option<UsbPattern> {
        let mut parts = text.split(':');
        let part = |p: Option<&str>| -> Option<Option<u16>> {
            match p? {
                "*" => Some(None),
                hex => parse_hex16(hex).map(Some),
            }
        };
        let vendor = part(parts.next())?;
        let product = part(parts.next())?;
        let serial = match parts.next() {
            None | Some("*") => None,
            Some("") => return None,
            Some(serial) => Some(serial.to_owned()),
        };
        if parts.next().is_some() {
            return None;
        }
        Some(UsbPattern {
            vendor,
            product,
            serial,
        })
    }

    pub(crate) fn matches(&self, device: &UsbDevice) -> bool {
        self.vendor.is_none_or(|v| v == device.vendor)
            && self.product.is_none_or(|p| p == device.product)
            && self
                .serial
                .as_ref()
                .is_none_or(|s| device.serial.as_ref() == Some(s))
    }
}

/// The domain of a mail address, lower-cased, without a trailing dot. `None` when there is no
/// `@` or nothing after it. Accepts `Name <addr@host>` as well.
pub(crate) fn mail_domain(address: &str) -> Option<String> {
    let address = address.trim();
    let address = match (address.rfind('<'), address.rfind('>')) {
        (Some(open), Some(close)) if open < close => &address[open + 1..close],
        _ => address,
    };
    let (local, domain) = address.rsplit_once('@')?;
    let domain = domain.trim().trim_end_matches('.');
    if local.is_empty() || domain.is_empty() || domain.contains(char::is_whitespace) {
        return None;
    }
    Some(domain.to_ascii_lowercase())
}

/// The host of a URL, lower-cased. Written by hand rather than with the `url` crate: the policy
/// only needs the host to compare with domain patterns, and keeping the pure crate small matters
/// more than WHATWG edge cases (user info, port and IPv6 brackets are handled).
pub(crate) fn url_host(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    let host = host.trim_end_matches('.');
    if host.is_empty() {
        return None;
    }
    Some(host.to_ascii_lowercase())
}

/// A domain pattern: `example.com` matches it and every subdomain; `*.example.com` only the
/// subdomains.
pub(crate) fn domain_matches(pattern: &str, domain: &str) -> bool {
    if let Some(suffix) = pattern.strip_prefix("*.") {
        domain.len() > suffix.len() + 1
            && domain.ends_with(suffix)
            && domain.as_bytes()[domain.len() - suffix.len() - 1] == b'.'
    } else {
        domain == pattern
            || (domain.len() > pattern.len()
                && domain.ends_with(pattern)
                && domain.as_bytes()[domain.len() - pattern.len() - 1] == b'.')
    }
}

/// True for a valid domain pattern (as written in a policy, lower-case).
pub(crate) fn is_domain_pattern(pattern: &str) -> bool {
    let body = pattern.strip_prefix("*.").unwrap_or(pattern);
    !body.is_empty()
        && body.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usb_patterns() {
        let dev = UsbDevice {
            vendor: 0x0781,
            product: 0x5581,
            serial: Some("ABC".into()),
        };
        let plain = UsbDevice {
            serial: None,
            ..dev.clone()
        };
        for (pattern, with_serial, without) in [
            ("0781:5581", true, true),
            ("0781:*", true, true),
            ("*:*", true, true),
            ("0781:5581:ABC", true, false),
            ("0781:5581:XYZ", false, false),
            ("0781:5582", false, false),
            ("1234:*:*", false, false),
        ] {
            let p = UsbPattern::parse(pattern).unwrap();
            assert_eq!(p.matches(&dev), with_serial, "{pattern}");
            assert_eq!(p.matches(&plain), without, "{pattern}");
        }
        for bad in [
            "",
            "0781",
            "0781:",
            "zzzz:1",
            "12345:1",
            "0781:5581:",
            "1:2:3:4",
        ] {
            assert_eq!(UsbPattern::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn mail_domains() {
        assert_eq!(
            mail_domain("a@Example.CO.JP").as_deref(),
            Some("example.co.jp")
        );
        assert_eq!(
            mail_domain("山田 <yamada@example.jp.>").as_deref(),
            Some("example.jp")
        );
        assert_eq!(mail_domain("no-at-sign"), None);
        assert_eq!(mail_domain("@example.jp"), None);
        assert_eq!(mail_domain("a@"), None);
    }

    #[test]
    fn url_hosts() {
        for (url, host) in [
            (
                "https://Drive.Example.com/upload?x=1",
                Some("drive.example.com"),
            ),
            ("https://user:pw@box.com:8443/a", Some("box.com")),
            ("http://[::1]:80/", Some("::1")),
            ("https://example.com", Some("example.com")),
            ("example.com/upload", None),
            ("https:///path", None),
            ("://x", None),
        ] {
            assert_eq!(url_host(url).as_deref(), host, "{url}");
        }
    }

    #[test]
    fn domain_patterns() {
        assert!(domain_matches("example.com", "example.com"));
        assert!(domain_matches("example.com", "mail.example.com"));
        assert!(!domain_matches("example.com", "badexample.com"));
        assert!(!domain_matches("*.example.com", "example.com"));
        assert!(domain_matches("*.example.com", "a.example.com"));
        assert!(!domain_matches("*.example.com", "aexample.com"));
        assert!(is_domain_pattern("*.example.co.jp"));
        assert!(is_domain_pattern("例え.jp"));
        assert!(!is_domain_pattern("exa mple.com"));
        assert!(!is_domain_pattern("a..b"));
        assert!(!is_domain_pattern("*."));
    }

    #[test]
    fn destinations_parse_per_channel() {
        assert_eq!(
            Destination::parse(Channel::RemovableMedia, "0781:5581:SN1").unwrap(),
            Destination::Usb(UsbDevice {
                vendor: 0x781,
                product: 0x5581,
                serial: Some("SN1".into())
            })
        );
        assert!(Destination::parse(Channel::RemovableMedia, "sandisk").is_err());
        assert_eq!(
            Destination::parse(Channel::Mail, "a@x.jp, b@y.com").unwrap(),
            Destination::Mail(vec!["a@x.jp".into(), "b@y.com".into()])
        );
        assert!(Destination::parse(Channel::Mail, "nobody").is_err());
        assert!(Destination::parse(Channel::WebUpload, "drive.google.com").is_err());
        assert!(Destination::parse(Channel::FileAccess, "x").is_err());
        assert_eq!(
            Destination::parse(Channel::Print, "floor3")
                .unwrap()
                .channel(),
            Some(Channel::Print)
        );
        let err = Destination::parse(Channel::Print, " ").unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad destination ` ` for channel print: expected a printer name"
        );
    }

    #[test]
    fn static_groups_resolve() {
        let groups = StaticGroups::new().with_user("alice", ["rd", "staff"]);
        let p = Principal::new("alice").resolve_groups(&groups).unwrap();
        assert_eq!(p.groups, ["rd", "staff"]);
        assert_eq!(
            Principal::new("bob").resolve_groups(&groups).unwrap_err(),
            GroupError::UnknownUser("bob".into())
        );
    }
}
