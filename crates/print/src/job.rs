//! One print job, the question every print path asks about it ([`JobControl`]), and Mamori's
//! answer through the gateway core ([`GatekeeperControl`]).
//!
//! The CUPS backend is one way to ask; CUPS 3 is IPP-only, and an IPP proxy in front of the
//! printer would build the same [`PrintJob`] from the IPP request and map the same
//! [`Outcome`] to an IPP status.

use std::fs::File;
use std::io::Read as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mamori_gateway::{Gatekeeper, GatewayError, Judgement, Lang, Part};
use mamori_journal::{Event, EventId, Operation, Transfer, User};
use mamori_model::{Action, Bilingual, Channel, Location, Uninspectable, UninspectableReason};
use mamori_policy::{Destination, Principal};

use crate::backend::JobArgs;

/// The job option a user sets to give the business reason the policy's `justify` asks for:
/// `lp -o mamori-justification=監査対応のため file.pdf`. A reason with ASCII spaces needs inner
/// quotes (`lp` splits its `-o` value at spaces), and cupsd 2.4.2 crashed on such values in
/// our tests: the message suggests a reason without spaces.
pub const JUSTIFICATION_OPTION: &str = "mamori-justification";

/// Longest justification kept, in characters.
pub const MAX_JUSTIFICATION_CHARS: usize = 500;

/// Most documents of one job inspected; a job with more is uninspectable past them.
pub const MAX_DOCUMENTS: u32 = 100;

/// Largest document whose pages are counted (PDF and PostScript), in bytes.
pub const MAX_COUNTED_BYTES: u64 = 256 << 20;

/// What went wrong while checking a job.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrintError {
    /// The decision could not be recorded: the job must not print unrecorded.
    #[error("{0}")]
    Record(#[from] GatewayError),
}

/// One document of a job: what the user submitted, not the printer-ready data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Its name as submitted (`document-name-supplied`), if known.
    pub name: Option<String>,
    /// Where its bytes are (the CUPS spool file `dNNNNN-NNN`).
    pub path: PathBuf,
}

/// A print job, as any print path (backend, IPP proxy) describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintJob {
    /// The job id.
    pub id: u32,
    /// The queue.
    pub printer: String,
    /// The job's owner, with uid and groups resolved by the caller.
    pub principal: Principal,
    /// The host the job came from (`job-originating-host-name`).
    pub host: Option<String>,
    /// The title.
    pub title: String,
    /// Copies requested.
    pub copies: u32,
    /// The business reason given with [`JUSTIFICATION_OPTION`], trimmed, if any.
    pub justification: Option<String>,
    /// The documents; none found is uninspectable, never clean.
    pub documents: Vec<Document>,
    /// Documents that exist but were not inspected ([`MAX_DOCUMENTS`] reached).
    pub documents_skipped: u32,
}

impl PrintJob {
    /// The job CUPS describes in a backend's arguments.
    pub fn from_backend(
        args: &JobArgs,
        printer: impl Into<String>,
        principal: Principal,
        documents: Vec<Document>,
    ) -> PrintJob {
        let justification = args
            .options
            .get(JUSTIFICATION_OPTION)
            .map(|text| {
                text.trim()
                    .chars()
                    .take(MAX_JUSTIFICATION_CHARS)
                    .collect::<String>()
            })
            .filter(|text| !text.is_empty());
        PrintJob {
            id: args.job_id,
            printer: printer.into(),
            principal,
            host: args
                .options
                .get("job-originating-host-name")
                .filter(|h| !h.is_empty())
                .map(str::to_owned),
            title: args.title.clone(),
            copies: args.copies,
            justification,
            documents,
            documents_skipped: 0,
        }
    }
}

/// What happens to the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It goes to the printer unchanged.
    Print,
    /// It is refused: cancelled (backend) or rejected (IPP).
    Refuse,
}

/// What the policy's action means for a print job.
///
/// `allow`, `audit` and `notify` print. `justify` prints only when the user gave a reason with
/// the job ([`JUSTIFICATION_OPTION`]); a backend cannot ask in-line. `encrypt` cannot apply to
/// paper, and `quarantine` and `block` refuse.
pub fn outcome(action: Action, justified: bool) -> Outcome {
    match action {
        Action::Allow | Action::Audit | Action::Notify => Outcome::Print,
        Action::Justify if justified => Outcome::Print,
        _ => Outcome::Refuse,
    }
}

/// The answer for one job.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Print or refuse.
    pub outcome: Outcome,
    /// Level, decision, findings.
    pub judgement: Judgement,
    /// Pages of the submitted documents, where they could be counted (PDF, PostScript).
    pub pages: Option<u64>,
    /// The journal event, when recorded.
    pub event: Option<EventId>,
}

impl Verdict {
    /// One line a person reads in `lpstat -l` or a notification: the policy's reason, what was
    /// found and, for `justify`, how to give a reason. Never a raw secret.
    pub fn message(&self) -> Bilingual {
        let decision = &self.judgement.decision;
        let judgement = &self.judgement;
        let unreadable = judgement.unreadable();
        let mut ja = decision.reason.ja.clone();
        let mut en = decision.reason.en.clone();
        if !judgement.found.is_empty() {
            ja.push_str(&format!(
                " 検出: {}。",
                judgement.found_text(Lang::Ja).join("、")
            ));
            en.push_str(&format!(
                ". Found: {}",
                judgement.found_text(Lang::En).join("; ")
            ));
        }
        if !unreadable.is_empty() {
            let list = |lang: Lang| unreadable.iter().map(|u| lang.pick(u)).collect::<Vec<_>>();
            ja.push_str(&format!(
                " 検査できない内容: {}。",
                list(Lang::Ja).join("、")
            ));
            en.push_str(&format!(
                ". Could not inspect: {}",
                list(Lang::En).join("; ")
            ));
        }
        if decision.action == Action::Justify && self.outcome == Outcome::Refuse {
            ja.push_str(&format!(
                " 理由を付けて印刷し直してください: lp -o {JUSTIFICATION_OPTION}=理由 …"
            ));
            en.push_str(&format!(
                ". Print again with a reason: lp -o {JUSTIFICATION_OPTION}=reason …"
            ));
        }
        Bilingual::new(ja, en)
    }
}

/// The question every print path asks: may this job print? Implementations inspect, decide
/// and record.
pub trait JobControl {
    /// Checks one job. An error means the decision could not be recorded: the caller must not
    /// print.
    fn check(&self, job: &PrintJob) -> Result<Verdict, PrintError>;
}

/// [`JobControl`] through the gateway core: every document inspected, one judgement for the
/// `print` channel and the job's printer, one journal event per job.
#[derive(Debug)]
pub struct GatekeeperControl<'a> {
    gatekeeper: &'a Gatekeeper,
}

impl<'a> GatekeeperControl<'a> {
    /// Checks jobs with this gatekeeper.
    pub fn new(gatekeeper: &'a Gatekeeper) -> GatekeeperControl<'a> {
        GatekeeperControl { gatekeeper }
    }
}

impl GatekeeperControl<'_> {
    /// Inspects every document and decides, without recording: the verdict (its `event` not
    /// set) and the journal event to record. For callers that record elsewhere (the backend
    /// opens the journal only for the moment of recording, so that concurrent jobs on other
    /// queues do not wait for each other's inspection).
    pub fn decide(&self, job: &PrintJob) -> (Verdict, Event) {
        let mut parts = Vec::with_capacity(job.documents.len().max(1));
        let mut pages: Option<u64> = None;
        for document in &job.documents {
            let name = document.name.as_deref();
            let part = match File::open(&document.path)
                .and_then(|mut file| self.gatekeeper.inspect_file(name, &mut file))
            {
                Ok(part) => part,
                Err(error) => unreadable_part(name, format!("cannot read the document: {error}")),
            };
            if let Some(n) = count_pages_of(&document.path, &part.content_type) {
                *pages.get_or_insert(0) += n;
            }
            parts.push(part);
        }
        if job.documents.is_empty() {
            parts.push(unreadable_part(
                None,
                "the job's document was not found in the spool".to_owned(),
            ));
        }
        if job.documents_skipped > 0 {
            parts.push(Part {
                uninspectable: vec![Uninspectable {
                    location: Location::root(),
                    reason: UninspectableReason::TooManyEntries,
                }],
                ..Part::default()
            });
        }
        let judgement = self.gatekeeper.judge(
            &parts,
            Channel::Print,
            &job.principal,
            &Destination::Printer(job.printer.clone()),
        );
        let outcome = outcome(judgement.decision.action, job.justification.is_some());
        let event = judgement
            .event(Operation::Print, Channel::Print)
            .with_user(User {
                // (uid_t)-1 when the name is not a local account (a remote job's owner).
                uid: job.principal.uid.unwrap_or(u32::MAX),
                name: Some(job.principal.user.clone()),
            })
            .with_transfer(Transfer {
                client: job.host.clone(),
                sender: Some(job.principal.user.clone()),
                subject: Some(job.title.clone()),
                reference: Some(format!("{}-{}", job.printer, job.id)),
                items: judgement.items(),
            })
            .with_detail(detail(job, pages, outcome, &judgement));
        let verdict = Verdict {
            outcome,
            judgement,
            pages,
            event: None,
        };
        (verdict, event)
    }
}

impl JobControl for GatekeeperControl<'_> {
    /// Decides, records and flushes the journal: the event is on disk before the job prints.
    fn check(&self, job: &PrintJob) -> Result<Verdict, PrintError> {
        let (mut verdict, event) = self.decide(job);
        verdict.event = self.gatekeeper.record(event)?;
        if let Some(journal) = self.gatekeeper.journal() {
            journal.flush().map_err(GatewayError::from)?;
        }
        Ok(verdict)
    }
}

/// The event's detail: job id, copies, pages, the outcome, what could not be inspected and the
/// justification.
fn detail(job: &PrintJob, pages: Option<u64>, outcome: Outcome, judgement: &Judgement) -> String {
    let mut out = format!("job={} copies={}", job.id, job.copies);
    if let Some(pages) = pages {
        out.push_str(&format!(" pages={pages}"));
    }
    out.push_str(match outcome {
        Outcome::Print => " printed",
        Outcome::Refuse => " cancelled",
    });
    // The journal event has no field for what could not be read: say it here, since it may
    // be what gave the job its level.
    for u in &judgement.uninspectable {
        out.push_str(&format!(" uninspectable={:?}", u.to_string()));
    }
    if let Some(reason) = &job.justification {
        out.push_str(&format!(" justification={reason:?}"));
    }
    out
}

fn unreadable_part(name: Option<&str>, why: String) -> Part {
    Part {
        name: name.map(str::to_owned),
        uninspectable: vec![Uninspectable {
            location: Location::root(),
            reason: UninspectableReason::Corrupt(why),
        }],
        ..Part::default()
    }
}

/// Pages of a document on disk, for PDF and PostScript.
fn count_pages_of(path: &std::path::Path, content_type: &str) -> Option<u64> {
    let is_pdf = content_type.contains("pdf");
    let is_ps = content_type.contains("postscript");
    if !is_pdf && !is_ps {
        return None;
    }
    let file = File::open(path).ok()?;
    if file.metadata().ok()?.len() > MAX_COUNTED_BYTES {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(MAX_COUNTED_BYTES).read_to_end(&mut bytes).ok()?;
    count_pages(&bytes)
}

/// Pages of a PDF (its page tree) or a PostScript file (its DSC `%%Page:` comments); `None`
/// for other content or when it cannot be told.
pub fn count_pages(bytes: &[u8]) -> Option<u64> {
    let head = &bytes[..bytes.len().min(1024)];
    if head.windows(5).any(|w| w == b"%PDF-") {
        let limits = mamori_pdf::PdfLimits {
            deadline: Some(Instant::now() + Duration::from_secs(10)),
            ..mamori_pdf::PdfLimits::default()
        };
        return mamori_pdf::page_count(bytes, &limits)
            .ok()
            .map(|n| n as u64);
    }
    if bytes.starts_with(b"%!") {
        let pages = bytes
            .split(|&b| b == b'\n' || b == b'\r')
            .filter(|line| line.starts_with(b"%%Page:"))
            .count() as u64;
        return (pages > 0).then_some(pages);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use mamori_policy::Policy;

    #[test]
    fn actions_map_to_outcomes() {
        use Action::*;
        for (action, justified, expected) in [
            (Allow, false, Outcome::Print),
            (Audit, false, Outcome::Print),
            (Notify, false, Outcome::Print),
            (Justify, false, Outcome::Refuse),
            (Justify, true, Outcome::Print),
            (Encrypt, true, Outcome::Refuse),
            (Quarantine, true, Outcome::Refuse),
            (Block, true, Outcome::Refuse),
        ] {
            assert_eq!(outcome(action, justified), expected, "{action} {justified}");
        }
    }

    fn args(options: &str) -> JobArgs {
        match crate::Invocation::parse(&[
            "42".into(),
            "tanaka".into(),
            "見積書".into(),
            "3".into(),
            options.into(),
        ])
        .unwrap()
        {
            crate::Invocation::Job(job) => job,
            crate::Invocation::Discover => unreachable!(),
        }
    }

    #[test]
    fn job_from_backend_arguments() {
        let job = PrintJob::from_backend(
            &args("job-originating-host-name=pc7 mamori-justification='  監査対応  '"),
            "floor3",
            Principal::new("tanaka"),
            vec![],
        );
        assert_eq!(job.host.as_deref(), Some("pc7"));
        assert_eq!(job.justification.as_deref(), Some("監査対応"));
        assert_eq!(job.copies, 3);
        let job = PrintJob::from_backend(
            &args("mamori-justification=' ' job-originating-host-name="),
            "floor3",
            Principal::new("tanaka"),
            vec![],
        );
        assert_eq!(job.justification, None);
        assert_eq!(job.host, None);
    }

    fn gatekeeper(policy: &str) -> Gatekeeper {
        let inspector = mamori_inspect::InspectorBuilder::new().build().unwrap();
        let policy = match policy {
            "" => Policy::default_policy(),
            text => Policy::from_toml(text, "test.toml").unwrap(),
        };
        Gatekeeper::new(inspector, policy)
    }

    fn job_with(dir: &tempfile::TempDir, files: &[(&str, &[u8])], options: &str) -> PrintJob {
        let documents = files
            .iter()
            .map(|(name, bytes)| {
                let path = dir.path().join(name);
                std::fs::write(&path, bytes).unwrap();
                Document {
                    name: Some((*name).to_owned()),
                    path,
                }
            })
            .collect();
        PrintJob::from_backend(
            &args(options),
            "floor3",
            Principal::new("tanaka"),
            documents,
        )
    }

    #[test]
    fn the_default_policy_over_print_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let gk = gatekeeper("");
        let control = GatekeeperControl::new(&gk);
        // Public: printed, audited.
        let v = control
            .check(&job_with(&dir, &[("a.txt", b"lunch menu")], ""))
            .unwrap();
        assert_eq!(
            (v.outcome, v.judgement.decision.action),
            (Outcome::Print, Action::Audit)
        );
        assert_eq!(v.judgement.level, "public");
        // Top secret: refused, and the message says why.
        let v = control
            .check(&job_with(
                &dir,
                &[("b.txt", "極秘 新製品計画".as_bytes())],
                "",
            ))
            .unwrap();
        assert_eq!(v.outcome, Outcome::Refuse);
        assert!(
            v.message().ja.contains("検出: 「極秘」の表示。"),
            "{:?}",
            v.message()
        );
        assert!(
            v.message()
                .en
                .contains("Found: the marking 極秘 (top secret)"),
            "{:?}",
            v.message()
        );
        assert!(
            v.message().en.contains("top-secret-never-leaves"),
            "{:?}",
            v.message()
        );
        // Secret: justify, so refused without a reason and printed with one.
        let secret = "㊙ 人事評価".as_bytes();
        let v = control
            .check(&job_with(&dir, &[("c.txt", secret)], ""))
            .unwrap();
        assert_eq!(
            (v.outcome, v.judgement.decision.action),
            (Outcome::Refuse, Action::Justify)
        );
        assert!(v.message().en.contains(JUSTIFICATION_OPTION));
        let v = control
            .check(&job_with(
                &dir,
                &[("c.txt", secret)],
                "mamori-justification=監査",
            ))
            .unwrap();
        assert_eq!(v.outcome, Outcome::Print);
        // Several documents: the highest level decides.
        let v = control
            .check(&job_with(
                &dir,
                &[("d1.txt", b"hello"), ("d2.txt", "極秘".as_bytes())],
                "",
            ))
            .unwrap();
        assert_eq!(v.outcome, Outcome::Refuse);
    }

    #[test]
    fn a_missing_document_is_never_clean() {
        let gk = gatekeeper("");
        let control = GatekeeperControl::new(&gk);
        let mut job = PrintJob::from_backend(&args(""), "floor3", Principal::new("tanaka"), vec![]);
        let v = control.check(&job).unwrap();
        assert_eq!(v.judgement.uninspectable.len(), 1);
        assert_eq!(
            v.judgement.level, "internal",
            "the default policy's uninspectable rule"
        );
        job.documents.push(Document {
            name: None,
            path: PathBuf::from("/nonexistent/d00001-001"),
        });
        let v = control.check(&job).unwrap();
        assert_eq!(v.judgement.level, "internal");
        let message = v.message();
        assert!(message.en.contains("damaged or malformed"), "{message:?}");
        assert!(
            message.ja.contains("壊れているか形式が正しくない"),
            "{message:?}"
        );
    }

    #[test]
    fn page_counts() {
        assert_eq!(count_pages(b"hello"), None);
        assert_eq!(
            count_pages(
                b"%!PS-Adobe-3.0\n%%Pages: 2\n%%Page: 1 1\nshowpage\n%%Page: 2 2\nshowpage\n"
            ),
            Some(2)
        );
        assert_eq!(count_pages(b"%!PS\nshowpage\n"), None);
        assert_eq!(count_pages(b"%PDF-1.4 garbage"), None);
    }
}
