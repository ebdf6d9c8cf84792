//! Errors of the milter crate.

/// What can go wrong running the milter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MilterError {
    /// A listen address that is neither `unix:PATH` nor `inet:HOST:PORT`.
    #[error(
        "bad listen address `{0}`: expected unix:/path/to.sock or inet:127.0.0.1:PORT / 待ち受けアドレスが不正です"
    )]
    BadListen(String),
    /// A reply code that is not 4xx/5xx with a matching enhanced status.
    #[error("bad SMTP reply `{0}`: expected 4xx 4.x.x or 5xx 5.x.x / SMTP 応答コードが不正です")]
    BadReply(String),
    /// The configuration file does not parse or has a bad value.
    #[error("{origin}: {message}")]
    Config {
        /// The file (or other origin) of the configuration.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// Socket or spool I/O failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The MTA sent bytes that are not the milter protocol, or a packet over the size limit.
    #[error("milter protocol error: {0}")]
    Protocol(String),
}

impl MilterError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> MilterError {
        MilterError::Io {
            context: context.into(),
            source,
        }
    }
}
