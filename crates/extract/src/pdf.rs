//! PDF: the seam where `mamori-pdf` plugs in.
//!
//! PDF parsing lives in its own crate (`crates/pdf`, `mamori-pdf`), isolated because PDF
//! readers are where panics and hangs come from: it catches its own panics, checks the deadline
//! and caps every decoded stream. Here its result becomes parts (one per page, plus the
//! document's metadata) and its errors become uninspectable reasons. A PDF with some pages that
//! have no text layer (scanned pages, fonts without a Unicode map) yields the text it has *and*
//! a `no_text_layer` report: what cannot be read is never passed as clean.

use mamori_model::{Location, UninspectableReason};
use mamori_pdf::{PdfError, PdfLimits};

use crate::run::{Halt, Run};

/// Extracts the text of a PDF found at `location`.
pub(crate) fn extract_pdf(
    run: &mut Run<'_>,
    bytes: &[u8],
    location: &Location,
    depth: usize,
) -> Result<(), Halt> {
    let defaults = PdfLimits::default();
    let limits = PdfLimits {
        max_total_decoded: defaults
            .max_total_decoded
            .min(run.limits.max_expanded_bytes.saturating_sub(run.expanded)),
        deadline: run.deadline.instant(),
        ..defaults
    };
    match mamori_pdf::extract(bytes, &limits) {
        Ok(text) => {
            if !text.metadata.is_empty() {
                let metadata: String = text
                    .metadata
                    .iter()
                    .map(|(key, value)| format!("{key}: {value}\n"))
                    .collect();
                run.emit(&location.child("metadata"), &metadata)?;
            }
            for (index, page) in text.pages.iter().enumerate() {
                run.tick(location)?;
                let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
                run.emit(&location.clone().with_page(number), page)?;
            }
            if text.pages_without_text > 0 {
                run.report(location, UninspectableReason::NoTextLayer);
            }
            // Files embedded in the PDF are content of their own, read like archive members.
            for attachment in &text.attachments {
                let inner = location.child(attachment.name.clone());
                run.count_entry(&inner)?;
                crate::dispatch_inner(run, &attachment.data, &inner, depth + 1)?;
            }
            if text.attachments_unreadable > 0 {
                run.report(
                    location,
                    UninspectableReason::Corrupt(format!(
                        "pdf: {} embedded file(s) could not be read",
                        text.attachments_unreadable
                    )),
                );
            }
            Ok(())
        }
        Err(PdfError::NoTextLayer) => {
            // The pages say nothing readable, but the title or a custom property may still
            // carry a label: read what metadata there is, then report the missing text.
            if let Ok(metadata) = mamori_pdf::extract_metadata(bytes, &limits)
                && !metadata.is_empty()
            {
                let metadata: String = metadata
                    .iter()
                    .map(|(key, value)| format!("{key}: {value}\n"))
                    .collect();
                run.emit(&location.child("metadata"), &metadata)?;
            }
            run.report(location, UninspectableReason::NoTextLayer);
            Ok(())
        }
        Err(PdfError::Timeout) => Err(run.halt(location, UninspectableReason::Timeout)),
        Err(error) => {
            run.report(location, reason_for(&error));
            Ok(())
        }
    }
}

/// The uninspectable reason for a PDF error (other than the two handled in place).
fn reason_for(error: &PdfError) -> UninspectableReason {
    match error {
        PdfError::Encrypted => UninspectableReason::Encrypted,
        PdfError::NoTextLayer => UninspectableReason::NoTextLayer,
        PdfError::Corrupt(detail) => UninspectableReason::Corrupt(format!("pdf: {detail}")),
        PdfError::LimitExceeded("pages" | "objects") => UninspectableReason::TooLarge,
        PdfError::LimitExceeded(_) => UninspectableReason::ExpansionLimit,
        PdfError::Timeout => UninspectableReason::Timeout,
        PdfError::Panicked(detail) => UninspectableReason::ParserFailure(format!("pdf: {detail}")),
        other => UninspectableReason::ParserFailure(format!("pdf: {other}")),
    }
}
