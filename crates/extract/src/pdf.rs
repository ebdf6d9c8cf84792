//! PDF: the seam where `mamori-pdf` plugs in.
//!
//! PDF parsing lives in its own crate (`crates/pdf`, `mamori-pdf`), isolated because PDF
//! readers are where panics and hangs come from. Until it is wired here, a PDF is detected and
//! reported as uninspectable, never passed as clean. To switch over, add
//! `mamori-pdf = { path = "../pdf" }` to this crate and replace the body of [`extract_pdf`]
//! with:
//!
//! ```ignore
//! let limits = mamori_pdf::PdfLimits {
//!     max_total_decoded: run.limits.max_expanded_bytes.saturating_sub(run.expanded),
//!     deadline: run.deadline.instant(),
//!     ..Default::default()
//! };
//! match mamori_pdf::extract(bytes, &limits) {
//!     Ok(pdf) => {
//!         let meta: String = pdf.metadata.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
//!         run.emit(&location.child("metadata"), &meta)?;
//!         for (i, page) in pdf.pages.iter().enumerate() {
//!             run.emit(&location.clone().with_page(i as u32 + 1), page)?;
//!         }
//!         if pdf.pages_without_text > 0 {
//!             run.report(location, UninspectableReason::NoTextLayer);
//!         }
//!         Ok(())
//!     }
//!     Err(mamori_pdf::PdfError::Encrypted) => { run.report(location, UninspectableReason::Encrypted); Ok(()) }
//!     Err(mamori_pdf::PdfError::NoTextLayer) => { run.report(location, UninspectableReason::NoTextLayer); Ok(()) }
//!     Err(mamori_pdf::PdfError::Timeout) => Err(run.halt(location, UninspectableReason::Timeout)),
//!     Err(mamori_pdf::PdfError::LimitExceeded(_)) => { run.report(location, UninspectableReason::ExpansionLimit); Ok(()) }
//!     Err(mamori_pdf::PdfError::Panicked(m)) => { run.report(location, UninspectableReason::ParserFailure(format!("pdf: {m}"))); Ok(()) }
//!     Err(e) => { run.report(location, UninspectableReason::Corrupt(e.to_string())); Ok(()) }
//! }
//! ```

use mamori_model::{Location, UninspectableReason};

use crate::run::{Halt, Run};

/// Extracts the text of a PDF found at `location`.
pub(crate) fn extract_pdf(
    run: &mut Run<'_>,
    bytes: &[u8],
    location: &Location,
) -> Result<(), Halt> {
    let _ = bytes;
    run.report(
        location,
        UninspectableReason::ParserFailure("pdf reader not yet available".into()),
    );
    Ok(())
}
