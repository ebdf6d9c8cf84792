//! Writes the generated test PDFs to a directory, e.g. to seed the fuzzer:
//! `cargo run -p mamori-pdf --example write_samples -- fuzz/seeds/pdf_extract`.

#[path = "../tests/support/mod.rs"]
mod support;

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "pdf-samples".into());
    std::fs::create_dir_all(&dir)?;
    let mut samples: Vec<(String, Vec<u8>)> = support::readable_samples()
        .into_iter()
        .map(|s| (s.name.to_owned(), s.bytes))
        .collect();
    samples.push((
        "identity_without_to_unicode".into(),
        support::identity_without_to_unicode(),
    ));
    samples.push(("scanned".into(), support::scanned(true)));
    samples.push((
        "attachments_and_outline".into(),
        support::attachments_and_outline(),
    ));
    samples.push(("small_bomb".into(), support::bomb(8 << 20)));
    for (name, bytes) in samples {
        let path = std::path::Path::new(&dir).join(format!("{name}.pdf"));
        std::fs::write(&path, bytes)?;
        println!("{}", path.display());
    }
    Ok(())
}
