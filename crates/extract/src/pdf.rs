//! PDF: the seam where `mamori-pdf` plugs in.
//!
//! PDF parsing lives in its own crate (`crates/pdf`, `mamori-pdf`), isolated because PDF
//! readers are where panics and hangs come from. Until it lands, a PDF is detected and reported
//! as uninspectable, never passed as clean. To switch over, replace the body of
//! [`extract_pdf`] with a call to `mamori_pdf::extract(bytes, &limits)` inside
//! `run::guarded`, emitting one part per page (`location.clone().with_page(n)`) and mapping its
//! errors: encrypted → `Encrypted`, no text layer → `NoTextLayer`, damage → `Corrupt`.

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
