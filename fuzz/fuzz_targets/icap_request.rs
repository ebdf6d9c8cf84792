//! Fuzzes the ICAP request path: the head parser on any bytes (and on every prefix, since it is
//! incremental), the encapsulated HTTP heads it points at, and the chunked body after them,
//! decoded in small pieces. Never a panic, and the decoders' accounting must add up.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_icap::chunked::{ChunkedDecoder, Piece};
use mamori_icap::head::{HeadLimits, parse_request_head};
use mamori_icap::http::{parse_http_request, parse_http_response};

fuzz_target!(|data: &[u8]| {
    let limits = HeadLimits::default();
    let Ok(Some((head, used))) = parse_request_head(data, &limits) else {
        return;
    };
    assert!(used <= data.len());
    // Incremental: every shorter prefix either waits for more or fails, never succeeds early
    // with a different length.
    if let Ok(Some((_, n))) = parse_request_head(&data[..used - 1], &limits) {
        panic!("head parsed at {n} from a prefix of {used}");
    }
    let rest = &data[used..];
    let Some(enc) = head.encapsulated else { return };
    let Some(sections) = rest.get(..enc.header_bytes()) else { return };
    if let Some((a, b)) = enc.req_hdr {
        let _ = parse_http_request(&sections[a..b], limits.max_headers);
    }
    if let Some((a, b)) = enc.res_hdr {
        let _ = parse_http_response(&sections[a..b], limits.max_headers);
    }
    let body = &rest[enc.header_bytes()..];
    let mut dec = ChunkedDecoder::new();
    let mut got = 0u64;
    let step = 1 + usize::from(data[0] % 13);
    let mut pending = Vec::new();
    'outer: for piece in body.chunks(step) {
        pending.extend_from_slice(piece);
        let mut pos = 0;
        loop {
            match dec.decode(&pending[pos..]) {
                Err(_) => break 'outer,
                Ok((n, p)) => {
                    pos += n;
                    match p {
                        Piece::Data(d) => got += d.len() as u64,
                        Piece::NeedMore => break,
                        Piece::End { .. } => break 'outer,
                    }
                }
            }
        }
        pending.drain(..pos);
    }
    assert_eq!(got, dec.received());
});
