//! Prints the text of a PDF as `mamori_pdf::extract` reads it, pages separated by form feeds
//! (as `pdftotext` does), with a summary on standard error:
//! `cargo run -p mamori-pdf --example pdf2text -- file.pdf`.

use std::time::{Duration, Instant};

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: pdf2text FILE.pdf");
        std::process::exit(2);
    };
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) => {
            eprintln!("{path}: {error}");
            std::process::exit(2);
        }
    };
    let limits = mamori_pdf::PdfLimits {
        deadline: Some(Instant::now() + Duration::from_secs(30)),
        ..mamori_pdf::PdfLimits::default()
    };
    let started = Instant::now();
    match mamori_pdf::extract(&bytes, &limits) {
        Ok(text) => {
            print!("{}", text.text());
            eprintln!(
                "{path}: {} pages, {} without text, {} metadata entries, {} attachments, {:?}",
                text.pages.len(),
                text.pages_without_text,
                text.metadata.len(),
                text.attachments.len(),
                started.elapsed()
            );
        }
        Err(error) => {
            eprintln!("{path}: {error}");
            std::process::exit(1);
        }
    }
}
