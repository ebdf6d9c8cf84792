//! The milter's configuration file (TOML), e.g.
//!
//! ```toml
//! listen = "unix:/var/spool/postfix/mamori/milter.sock"   # or "inet:127.0.0.1:8891"
//! socket_mode = "0660"        # permissions of the Unix socket
//! socket_group = "postfix"    # group of the Unix socket (set by the binary)
//! max_connections = 256       # connections served at once; more wait in the kernel's queue
//! decide_timeout = 60         # seconds per message before fail_action answers
//! fail_action = "tempfail"    # when no decision can be made: tempfail (451 4.7.1), accept, reject (550 5.7.1)
//! memory_body = 1048576       # bytes held in memory per message before spooling to disk
//! max_message = 268435456     # bytes collected per message at all
//! spool_dir = "/var/spool/mamori"
//! ```
//!
//! Paths to the policy, rules and journal are the gateway's and are read by the binary.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use crate::{Limits, Listen, MilterError, ServerConfig};

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
    /// Bytes collected per message at all.
    #[serde(default = "default_max_message")]
    pub max_message: u64,
    /// Directory for spool files.
    pub spool_dir: Option<PathBuf>,
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
