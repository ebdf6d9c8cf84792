//! The `mamori-icap` server with an adapter that inspects nothing and allows everything: the
//! protocol's own cost, for the benchmark (`bench/icap/run.sh`) beside c-icap's echo service.
//!
//! ```text
//! cargo run --release -p mamori-icap --example icap_allow -- 127.0.0.1:13443
//! ```

use std::sync::Arc;

use mamori_icap::{Adapter, Body, Request, Server, ServerConfig, Verdict};

struct AllowAll;

impl Adapter for AllowAll {
    fn istag(&self) -> String {
        "allow-all".into()
    }

    fn decide(&self, _: &Request, _: Body<'_>, _: u64, _: bool) -> Verdict {
        Verdict::Allow
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:13443".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("icap_allow: listening on {}", listener.local_addr()?);
    Server::new(ServerConfig::default(), Arc::new(AllowAll))
        .serve(listener)
        .await
}
