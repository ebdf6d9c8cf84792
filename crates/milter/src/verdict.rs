//! What the milter tells the MTA about one message, and the SMTP reply text rules.

use crate::MilterError;

/// An SMTP reply the MTA gives the client instead of its own: `550 5.7.1 text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    code: u16,
    status: [u16; 3],
    text: String,
}

impl Reply {
    /// A reply: `code` 400-599, `status` an enhanced status code (RFC 3463) of the same class
    /// (`4.x.x` with 4xx, `5.x.x` with 5xx), `text` one line. The text is made safe for the
    /// wire: non-ASCII, control characters and `%` (which Sendmail treats as a format escape)
    /// are replaced, and it is cut to 400 characters.
    pub fn new(code: u16, status: [u16; 3], text: &str) -> Result<Reply, MilterError> {
        let class = code / 100;
        if !(4..=5).contains(&class) || status[0] != class || status[1] > 999 || status[2] > 999 {
            return Err(MilterError::BadReply(format!(
                "{code} {}.{}.{}",
                status[0], status[1], status[2]
            )));
        }
        Ok(Reply {
            code,
            status,
            text: safe_text(text, 400),
        })
    }

    /// `550 5.7.1 text`: refused by policy.
    pub fn policy_reject(text: &str) -> Reply {
        Reply::new(550, [5, 7, 1], text).expect("550 5.7.1 is a valid reply")
    }

    /// `451 4.7.1 text`: try again later.
    pub fn policy_tempfail(text: &str) -> Reply {
        Reply::new(451, [4, 7, 1], text).expect("451 4.7.1 is a valid reply")
    }

    /// The three-digit code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The enhanced status code.
    pub fn status(&self) -> [u16; 3] {
        self.status
    }

    /// The text, as it goes on the wire.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The three digits of the code.
    pub(crate) fn digits(&self) -> [u8; 3] {
        [
            (self.code / 100) as u8,
            (self.code / 10 % 10) as u8,
            (self.code % 10) as u8,
        ]
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c] = self.status;
        write!(f, "{} {a}.{b}.{c} {}", self.code, self.text)
    }
}

/// The answer for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Let it through, adding these headers first.
    Accept {
        /// Headers to add (name, value).
        headers: Vec<(String, String)>,
    },
    /// Keep it in the MTA's hold queue for a reviewer (`SMFIR_QUARANTINE`), adding headers.
    Quarantine {
        /// Why, as the MTA records it.
        reason: String,
        /// Headers to add (name, value).
        headers: Vec<(String, String)>,
    },
    /// Refuse it permanently with this reply.
    Reject(Reply),
    /// Refuse it for now with this reply; the client may try again.
    Tempfail(Reply),
    /// Accept it and silently drop it.
    Discard,
}

impl Verdict {
    /// Accept unchanged.
    pub fn accept() -> Verdict {
        Verdict::Accept {
            headers: Vec::new(),
        }
    }

    /// `451 4.7.1`, the safe answer when no decision could be made.
    pub fn tempfail_default() -> Verdict {
        Verdict::Tempfail(Reply::policy_tempfail(
            "Message could not be inspected, try again later",
        ))
    }

    /// A short name for logs: `accept`, `quarantine`, `reject`, `tempfail`, `discard`.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Accept { .. } => "accept",
            Verdict::Quarantine { .. } => "quarantine",
            Verdict::Reject(_) => "reject",
            Verdict::Tempfail(_) => "tempfail",
            Verdict::Discard => "discard",
        }
    }
}

/// A header field name: printable ASCII without `:` and spaces (RFC 5322 `ftext`).
pub(crate) fn valid_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 76
        && name.bytes().all(|b| (33..=126).contains(&b) && b != b':')
}

/// Makes one line of ASCII for the wire: control characters become spaces, other non-ASCII
/// characters and `%` become `?`, at most `max` characters.
pub(crate) fn safe_text(text: &str, max: usize) -> String {
    text.chars()
        .map(|c| match c {
            c if c.is_ascii_control() => ' ',
            '%' => '?',
            c if c.is_ascii() => c,
            _ => '?',
        })
        .take(max)
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_validated_and_sanitised() {
        let r = Reply::policy_reject("Blocked: 社外秘\r\n250 ok 100%");
        assert_eq!(r.to_string(), "550 5.7.1 Blocked: ???  250 ok 100?");
        assert_eq!(r.digits(), [5, 5, 0]);
        assert!(Reply::new(250, [2, 0, 0], "x").is_err());
        assert!(Reply::new(550, [4, 7, 1], "x").is_err());
        assert!(Reply::new(600, [6, 0, 0], "x").is_err());
        assert!(Reply::new(421, [4, 4, 2], "x").is_ok());
        assert_eq!(Reply::policy_reject(&"x".repeat(1000)).text().len(), 400);
    }

    #[test]
    fn header_names() {
        assert!(valid_header_name("X-Mamori-Level"));
        assert!(!valid_header_name("X Mamori"));
        assert!(!valid_header_name("X:"));
        assert!(!valid_header_name(""));
        assert!(!valid_header_name("名前"));
    }
}
