//! Extracts files and prints what came out: a tool for looking at real documents, and the
//! program the benchmark times against ripgrep.
//!
//! `cargo run -p mamori-extract --example extract -- [--text] FILE...`

use std::process::ExitCode;

use mamori_extract::{Extractor, Limits, TextSink};
use mamori_model::{Location, Uninspectable};

struct Print {
    show_text: bool,
    bytes: usize,
    current: String,
}

impl TextSink for Print {
    fn begin(&mut self, location: &Location) {
        self.current = location.to_string();
        if self.show_text {
            println!("--- [{}]", self.current);
        }
    }
    fn text(&mut self, chunk: &str) {
        self.bytes += chunk.len();
        if self.show_text {
            print!("{chunk}");
        }
    }
    fn end(&mut self) {
        if self.show_text {
            println!();
        }
    }
    fn uninspectable(&mut self, u: Uninspectable) {
        println!("uninspectable / 検査不能: {u}");
    }
}

fn main() -> ExitCode {
    let mut show_text = false;
    let mut status = ExitCode::SUCCESS;
    let extractor = Extractor::new(Limits::default());
    for arg in std::env::args().skip(1) {
        if arg == "--text" {
            show_text = true;
            continue;
        }
        let mut file = match std::fs::File::open(&arg) {
            Ok(file) => file,
            Err(e) => {
                eprintln!("{arg}: cannot open / 開けません: {e}");
                status = ExitCode::from(2);
                continue;
            }
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut sink = Print {
            show_text,
            bytes: 0,
            current: String::new(),
        };
        match extractor.extract_reader(&mut file, len, &mut sink) {
            Ok(summary) => println!(
                "{arg}: {} ({} parts, {} bytes of text, {} read, {} expanded)",
                summary.content_type,
                summary.parts,
                sink.bytes,
                summary.bytes_read,
                summary.bytes_expanded
            ),
            Err(e) => {
                eprintln!("{arg}: read error / 読み取りエラー: {e}");
                status = ExitCode::from(2);
            }
        }
    }
    status
}
