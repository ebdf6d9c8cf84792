//! The milter's configuration file (TOML), e.g.
//!
//! ```toml
//! listen = "unix:/var/spool/postfix/mamori/milter.sock"   # or "inet:127.0.0.1:8891"
//! socket_mode = "0660"        # permissions of the Unix socket
//! socket_group = "postfix"    # group of the Unix socket (set by the binary)
//! max_connections = 256       # connections served at once; more wait in the kernel's queue
//! decide_timeout = 60         # seconds per message before fail_action answers
//! fail_action = "tempfail"    # when no decision can be made: tempfail (451 4.7.1), accept, reject (550 5.7.1)
//! memory_body = 16777216      # bytes held in memory per message before spooling to disk
//! memory_total = 268435456    # bytes held in memory by all connections together
//! max_message = 268435456     # bytes collected per message at all
//! spool_dir = "/var/spool/mamori"
//! sender_groups = true        # the policy sees the SMTP-authenticated sender's groups (NSS)
//!
//! [notice]                    # mail the sender of a refused or held message (ja + en)
//! from = "mamori@example.co.jp"
//! sendmail = ["/usr/sbin/sendmail"]   # the MTA's; add "-C", "/etc/postfix-out" for another
//! interval = 60               # at most one notice per sender per this many seconds
//! only_authenticated = true   # only SMTP-authenticated senders (forged senders get nothing)
//! ```
//!
//! Paths to the policy, rules and journal are the gateway's and are read by the binary.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use crate::{Limits, Listen, MemoryBudget, MilterError, ServerConfig};

/// What to answer when a message cannot be decided (timeout, inspection failure, spool error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FailAction {
    /// `451 4.7.1`: the client tries again later (fail closed, nothing lost).
    #[default]
    Tempfail,
    /// Let the message through (fail open).
    Accept,
    /// `550 5.7.1`: refuse it (fail closed, the sender gets a bounce).
    Reject,
}

impl FromStr for FailAction {
    type Err = MilterError;
    fn from_str(s: &str) -> Result<FailAction, MilterError> {
        match s {
            "tempfail" => Ok(FailAction::Tempfail),
            "accept" => Ok(FailAction::Accept),
            "reject" => Ok(FailAction::Reject),
            other => Err(MilterError::Config {
                origin: "fail_action".into(),
                message: format!("`{other}`: expected tempfail, accept or reject"),
            }),
        }
    }
}

/// The milter's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where to listen: `unix:PATH` or `inet:HOST:PORT` (Postfix's notation).
    pub listen: Option<String>,
    /// Permissions of the Unix socket, octal (default `0660`).
    #[serde(default = "default_mode")]
    pub socket_mode: String,
    /// Group to give the Unix socket (the MTA's), by name.
    pub socket_group: Option<String>,
    /// Connections served at once.
    #[serde(default = "default_connections")]
    pub max_connections: usize,
    /// Seconds per message before `fail_action` answers.
    #[serde(default = "default_timeout")]
    pub decide_timeout: u64,
    /// The answer when a message cannot be decided.
    #[serde(default)]
    pub fail_action: FailAction,
    /// Bytes held in memory per message before spooling.
    #[serde(default = "default_memory")]
    pub memory_body: usize,
    /// Bytes of memory the message buffers of all connections hold together; a message that
    /// would pass it is spooled.
    #[serde(default = "default_memory_total")]
    pub memory_total: usize,
    /// Bytes collected per message at all.
    #[serde(default = "default_max_message")]
    pub max_message: u64,
    /// Directory for spool files.
    pub spool_dir: Option<PathBuf>,
    /// Look up the groups of the SMTP-authenticated sender (`{auth_authen}`) through the
    /// system's NSS, so the policy's group conditions apply to mail. Unauthenticated senders
    /// get no groups: an envelope sender can be forged.
    #[serde(default = "default_true")]
    pub sender_groups: bool,
    /// Notices to senders, when set.
    pub notice: Option<NoticeConfig>,
}

/// How the sender of a refused or held message is told (see [`crate::SenderNotice`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticeConfig {
    /// The notice's `From:`.
    pub from: String,
    /// The MTA's sendmail command and its first arguments (`-i -f <> -- SENDER` follow).
    #[serde(default = "default_sendmail")]
    pub sendmail: Vec<String>,
    /// At most one notice per sender per this many seconds; the rest are counted in the next.
    #[serde(default = "default_notice_interval")]
    pub interval: u64,
    /// Tell only SMTP-authenticated senders (the default). An unauthenticated client can put
    /// any internal address as its sender, and a notice quoting its subject would then reach a
    /// real colleague as a trusted-looking mail. Turn off only where every internal sender
    /// comes through relays that check senders.
    #[serde(default = "default_true")]
    pub only_authenticated: bool,
}

fn default_true() -> bool {
    true
}
fn default_sendmail() -> Vec<String> {
    vec!["/usr/sbin/sendmail".into()]
}
fn default_notice_interval() -> u64 {
    60
}

fn default_mode() -> String {
    "0660".into()
}
fn default_connections() -> usize {
    256
}
fn default_timeout() -> u64 {
    Limits::default().decide_timeout.as_secs()
}
fn default_memory() -> usize {
    Limits::default().memory_body
}
fn default_memory_total() -> usize {
    Limits::default().memory_total.limit()
}
fn default_max_message() -> u64 {
    Limits::default().max_message
}

impl Default for Config {
    fn default() -> Config {
        Config::from_toml("", "defaults").expect("the empty configuration is valid")
    }
}

impl Config {
    /// Parses and checks a configuration; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, MilterError> {
        let error = |message: String| MilterError::Config {
            origin: origin.to_owned(),
            message,
        };
        let config: Config = toml::from_str(text).map_err(|e| error(e.to_string()))?;
        if let Some(listen) = &config.listen {
            listen.parse::<Listen>()?;
        }
        config.mode().map_err(error)?;
        if config.max_connections == 0 {
            return Err(error("max_connections must be at least 1".into()));
        }
        if config.decide_timeout == 0 || config.decide_timeout > 3_600 {
            return Err(error("decide_timeout must be 1 to 3600 seconds".into()));
        }
        if let Some(notice) = &config.notice {
            if notice.sendmail.first().is_none_or(|c| c.trim().is_empty()) {
                return Err(error("notice.sendmail: the command is empty".into()));
            }
            if !notice.from.contains('@')
                || notice
                    .from
                    .chars()
                    .any(|c| c.is_control() || c == '<' || c == '>')
            {
                return Err(error(format!(
                    "notice.from: `{}` is not a mail address",
                    notice.from
                )));
            }
        }
        Ok(config)
    }

    /// The socket mode as a number.
    pub fn mode(&self) -> Result<u32, String> {
        u32::from_str_radix(self.socket_mode.trim_start_matches("0o"), 8)
            .ok()
            .filter(|m| *m <= 0o777)
            .ok_or_else(|| format!("socket_mode `{}` is not an octal mode", self.socket_mode))
    }

    /// The server settings these values give.
    pub fn server_config(&self) -> ServerConfig {
        ServerConfig {
            limits: Limits {
                memory_body: self.memory_body,
                memory_total: MemoryBudget::new(self.memory_total),
                max_message: self.max_message,
                decide_timeout: Duration::from_secs(self.decide_timeout),
                spool_dir: self.spool_dir.clone(),
                ..Limits::default()
            },
            max_connections: self.max_connections,
            socket_mode: self.mode().unwrap_or(0o660),
            preamble: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_values() {
        let c = Config::default();
        assert_eq!(c.fail_action, FailAction::Tempfail);
        assert_eq!(c.mode(), Ok(0o660));
        assert_eq!(c.memory_body, 16 << 20);
        assert_eq!(c.memory_total, 256 << 20);
        let limits = Config::from_toml("memory_total = 1000", "x.toml")
            .unwrap()
            .server_config()
            .limits;
        assert_eq!(limits.memory_total.limit(), 1000);
        let c = Config::from_toml(
            "listen = \"inet:127.0.0.1:8891\"\nfail_action = \"accept\"\ndecide_timeout = 5\nsocket_mode = \"666\"\n",
            "x.toml",
        )
        .unwrap();
        assert_eq!(c.fail_action, FailAction::Accept);
        assert_eq!(
            c.server_config().limits.decide_timeout,
            Duration::from_secs(5)
        );
        assert_eq!(c.server_config().socket_mode, 0o666);
        assert!(c.sender_groups, "groups are looked up by default");
        assert_eq!(c.notice, None, "no notices unless configured");
        let c = Config::from_toml(
            "sender_groups = false\n[notice]\nfrom = \"mamori@example.co.jp\"\n",
            "x.toml",
        )
        .unwrap();
        assert!(!c.sender_groups);
        let notice = c.notice.unwrap();
        assert_eq!(notice.sendmail, ["/usr/sbin/sendmail"]);
        assert_eq!(notice.interval, 60);
        assert!(
            notice.only_authenticated,
            "forged senders are not told by default"
        );
    }

    #[test]
    fn errors_name_the_file() {
        for bad in [
            "listen = \"tcp:1\"",
            "fail_action = \"maybe\"",
            "socket_mode = \"999\"",
            "decide_timeout = 0",
            "max_connections = 0",
            "typo = 1",
            "[notice]\nfrom = \"nobody\"\n",
            "[notice]\nfrom = \"a@b\"\nsendmail = []\n",
            "[notice]\nfrom = \"a@b>\\r\\nBcc: x@y\"\n",
            "[notice]\nfrom = \"a@b\"\nintervl = 3\n",
        ] {
            let e = Config::from_toml(bad, "milter.toml")
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("milter.toml") || e.contains("listen"),
                "{bad}: {e}"
            );
        }
    }
}
