//! A milter that accepts every message unread: the floor of what any milter costs an MTA
//! (the protocol's round trips, the body handed over, the spool), measured against
//! `mamori milter` by `bench/milter/run.sh` (`FLOOR=1`).
//!
//! ```sh
//! cargo run --release -p mamori-milter --example accept_all -- unix:/path/to/accept_all.sock
//! ```

use std::sync::Arc;

use mamori_milter::{Envelope, Failure, Filter, Listen, Message, ServerConfig, Verdict};

struct AcceptAll;

impl Filter for AcceptAll {
    fn decide(&self, _message: &Message) -> Verdict {
        Verdict::accept()
    }
    fn fail(&self, _envelope: &Envelope, _failure: &Failure) -> Verdict {
        Verdict::accept()
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen: Listen = std::env::args()
        .nth(1)
        .ok_or("usage: accept_all unix:PATH | inet:HOST:PORT")?
        .parse()?;
    let config = ServerConfig {
        // Postfix's smtpd runs as its own user: let it connect.
        socket_mode: 0o666,
        ..ServerConfig::default()
    };
    // Runs until killed.
    mamori_milter::serve(listen, Arc::new(AcceptAll), config, std::future::pending()).await?;
    Ok(())
}
