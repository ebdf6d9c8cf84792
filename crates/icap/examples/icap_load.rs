//! A closed-loop ICAP REQMOD load generator that behaves like Squid: it asks OPTIONS first, uses
//! a preview only when the service says `Transfer-Preview: *`, and offers `Allow: 204` only for
//! bodies under 64 KiB. Each of `--concurrency` connections sends requests back to back over
//! keep-alive for `--seconds`; the tool prints requests per second and latency percentiles.
//!
//! ```text
//! cargo run --release -p mamori-icap --example icap_load -- \
//!     --addr 127.0.0.1:1344 --service /reqmod --size 65536 --concurrency 32 --seconds 10
//! ```
//!
//! c-icap's own client (`c-icap-client`/`c-icap-stretch`) paces requests too slowly to load a
//! server, hence this one.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mamori_icap::client::{read_response, reqmod};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[derive(Debug, Clone)]
struct Args {
    addr: SocketAddr,
    service: String,
    size: usize,
    concurrency: usize,
    seconds: f64,
    body: String,
    warmup: f64,
    /// Send no preview even when the service offers one, like Squid with
    /// `icap_preview_enable off`: every body is then sent whole.
    no_preview: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        addr: "127.0.0.1:1344".parse().unwrap(),
        service: "/reqmod".into(),
        size: 512,
        concurrency: 32,
        seconds: 10.0,
        body: "text".into(),
        warmup: 1.0,
        no_preview: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => args.addr = value().parse().expect("--addr HOST:PORT"),
            "--service" => args.service = value(),
            "--size" => args.size = value().parse().expect("--size BYTES"),
            "--concurrency" => args.concurrency = value().parse().expect("--concurrency N"),
            "--seconds" => args.seconds = value().parse().expect("--seconds S"),
            "--warmup" => args.warmup = value().parse().expect("--warmup S"),
            "--body" => args.body = value(),
            "--no-preview" => args.no_preview = true,
            "-h" | "--help" => {
                println!(
                    "icap_load --addr HOST:PORT --service /reqmod --size BYTES --concurrency N --seconds S [--warmup S] [--body text|binary] [--no-preview]"
                );
                std::process::exit(0);
            }
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

/// A body of `size` bytes: ordinary Japanese/English office text with no marking or
/// identifier (so the answer is "allow" and the whole inspection runs), or pseudo-random bytes.
fn make_body(kind: &str, size: usize) -> Vec<u8> {
    match kind {
        "binary" => {
            let mut x: u32 = 0x9e37_79b9;
            (0..size)
                .map(|_| {
                    x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (x >> 24) as u8
                })
                .collect()
        }
        _ => {
            let text = "来週の定例会議の議事録です。資料は共有フォルダにあります。\nMeeting notes for next week: agenda, action items and the travel plan.\n";
            text.bytes().cycle().take(size).collect()
        }
    }
}

struct Options {
    preview: Option<usize>,
}

async fn options(args: &Args) -> Options {
    let mut stream = TcpStream::connect(args.addr).await.expect("connect");
    let host = args.addr;
    let req = format!(
        "OPTIONS icap://{host}{} ICAP/1.0\r\nHost: {host}\r\nAllow: 206\r\n\r\n",
        args.service
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut buf = BytesMut::new();
    let r = read_response(&mut stream, &mut buf).await.expect("OPTIONS");
    assert_eq!(r.status, 200, "OPTIONS failed: {:?}", r.headers);
    let transfer_preview = r
        .headers
        .get("Transfer-Preview")
        .is_some_and(|v| v.trim() == "*");
    let preview = r
        .headers
        .get("Preview")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|_| transfer_preview);
    Options { preview }
}

async fn worker(
    args: Args,
    preview: Option<usize>,
    body: std::sync::Arc<Vec<u8>>,
    start: Instant,
) -> (Vec<u32>, [u64; 4]) {
    let mut stream = TcpStream::connect(args.addr).await.expect("connect");
    stream.set_nodelay(true).unwrap();
    let mut buf = BytesMut::with_capacity(256 * 1024);
    let http_head = format!(
        "POST http://upload.example/files HTTP/1.1\r\nHost: upload.example\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
        if args.body == "binary" {
            "application/octet-stream"
        } else {
            "text/plain; charset=utf-8"
        },
        body.len()
    );
    let uri = format!("icap://{}{}", args.addr, args.service);
    // Squid offers Allow: 204 only for bodies under 64 KiB of known length.
    let allow_204 = body.len() < 64 * 1024;
    let (first, rest) = reqmod(
        &uri,
        http_head.as_bytes(),
        Some(&body),
        preview,
        allow_204,
        &[("X-Client-IP", "127.0.0.1")],
    );
    let warm = Duration::from_secs_f64(args.warmup);
    let end = warm + Duration::from_secs_f64(args.seconds);
    let mut latencies = Vec::new();
    // 100 (never final), 200, 204, other
    let mut statuses = [0u64; 4];
    loop {
        let t0 = Instant::now();
        if t0.duration_since(start) >= end {
            break;
        }
        stream.write_all(&first).await.expect("write");
        let mut r = read_response(&mut stream, &mut buf)
            .await
            .expect("response");
        if r.status == 100 {
            stream
                .write_all(rest.as_deref().expect("100 without a rest"))
                .await
                .expect("write");
            r = read_response(&mut stream, &mut buf)
                .await
                .expect("response");
        }
        let idx = match r.status {
            200 => 1,
            204 => 2,
            _ => 3,
        };
        if r.status == 200 && !allow_204 {
            // An echo must give the body back whole.
            assert_eq!(
                r.body.as_ref().map(Vec::len),
                Some(body.len()),
                "echo lost bytes"
            );
        }
        if t0.duration_since(start) >= warm {
            statuses[idx] += 1;
            latencies.push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
        }
    }
    (latencies, statuses)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[idx]) / 1000.0
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let mut opts = options(&args).await;
    if args.no_preview {
        opts.preview = None;
    }
    let body = std::sync::Arc::new(make_body(&args.body, args.size));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        tasks.push(tokio::spawn(worker(
            args.clone(),
            opts.preview,
            body.clone(),
            start,
        )));
    }
    let mut all = Vec::new();
    let mut statuses = [0u64; 4];
    for t in tasks {
        let (lat, st) = t.await.expect("worker");
        all.extend(lat);
        for (a, b) in statuses.iter_mut().zip(st) {
            *a += b;
        }
    }
    all.sort_unstable();
    let n = all.len();
    println!(
        "addr={} size={} concurrency={} seconds={} preview={:?} requests={} req/s={:.0} p50_ms={:.2} p99_ms={:.2} max_ms={:.2} status200={} status204={} other={}",
        args.addr,
        args.size,
        args.concurrency,
        args.seconds,
        opts.preview,
        n,
        n as f64 / args.seconds,
        percentile(&all, 0.50),
        percentile(&all, 0.99),
        percentile(&all, 1.0),
        statuses[1],
        statuses[2],
        statuses[3],
    );
}
