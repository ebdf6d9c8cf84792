//! A whole milter connection from arbitrary MTA bytes: the packet codec (miltr-server), option
//! negotiation, macros, the message collector with a tiny spool threshold (so spooling runs),
//! the end-of-message decision and the summary parser over what was collected.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mamori_milter::{Envelope, Failure, Filter, Limits, Message, ServerConfig, Verdict};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Summarise;

impl Filter for Summarise {
    fn decide(&self, message: &Message) -> Verdict {
        let raw = message.read_prefix(1 << 20).expect("reading the collected message");
        assert!(raw.len() as u64 <= message.len());
        let summary = mamori_milter::summarize(&raw);
        Verdict::Accept {
            headers: vec![(
                "X-Fuzz".into(),
                format!("{} {}", summary.attachments.len(), summary.subject.unwrap_or_default()),
            )],
        }
    }
    fn fail(&self, _envelope: &Envelope, _failure: &Failure) -> Verdict {
        Verdict::tempfail_default()
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let config = ServerConfig {
        limits: Limits {
            max_packet: 1 << 16,
            memory_body: 512,
            max_message: 1 << 20,
            max_headers: 64,
            max_recipients: 64,
            decide_timeout: Duration::from_secs(5),
            ..Limits::default()
        },
        ..ServerConfig::default()
    };
    runtime().block_on(async {
        let (mut mta, milter) = tokio::io::duplex(1 << 16);
        let server = tokio::spawn(async move {
            let _ = mamori_milter::handle_connection(milter, Arc::new(Summarise), &config).await;
        });
        let (mut reader, mut writer) = tokio::io::split(&mut mta);
        let write = async {
            let _ = writer.write_all(data).await;
            let _ = writer.shutdown().await;
        };
        let read = async {
            let mut sink = Vec::new();
            let _ = reader.read_to_end(&mut sink).await;
        };
        tokio::join!(write, read);
        let _ = server.await;
    });
});
