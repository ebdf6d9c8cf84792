//! Identifiers found in digit runs, each with its validator.
//!
//! [`classify_run`] looks at one digit run (see [`crate::digits`]) and yields the identifiers
//! it may be, with the confidence they get without and with supporting context words. A run is
//! first tried whole; when it is no identifier and some of its groups were joined by spaces, the
//! space-separated pieces are tried one by one (`03-1234-5678 1234-5678-9018`).

pub mod bank;
pub mod card;
pub mod corporate;
pub mod licence;
pub mod my_number;
pub mod phone;

use mamori_model::{Category, Confidence};

use crate::digits::{Group, Run, Separator, is_separator};

/// The identifier detectors driven by the digit scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum IdKind {
    MyNumber,
    CorporateNumber,
    InvoiceNumber,
    DriversLicence,
    BankAccount,
    CreditCard,
    Phone,
    Passport,
    ResidenceCard,
}

impl IdKind {
    pub const ALL: [IdKind; 9] = [
        IdKind::MyNumber,
        IdKind::CorporateNumber,
        IdKind::InvoiceNumber,
        IdKind::DriversLicence,
        IdKind::BankAccount,
        IdKind::CreditCard,
        IdKind::Phone,
        IdKind::Passport,
        IdKind::ResidenceCard,
    ];

    pub fn id(self) -> &'static str {
        match self {
            IdKind::MyNumber => "jp.my_number",
            IdKind::CorporateNumber => "jp.corporate_number",
            IdKind::InvoiceNumber => "jp.invoice_number",
            IdKind::DriversLicence => "jp.drivers_license",
            IdKind::BankAccount => "jp.bank_account",
            IdKind::CreditCard => "financial.credit_card",
            IdKind::Phone => "contact.phone_jp",
            IdKind::Passport => "jp.passport",
            IdKind::ResidenceCard => "jp.residence_card",
        }
    }

    pub fn category(self) -> Category {
        match self {
            IdKind::MyNumber
            | IdKind::DriversLicence
            | IdKind::Passport
            | IdKind::ResidenceCard => Category::PersonalId,
            IdKind::CorporateNumber | IdKind::InvoiceNumber => Category::CorporateId,
            IdKind::BankAccount | IdKind::CreditCard => Category::Financial,
            IdKind::Phone => Category::Contact,
        }
    }
}

/// A possible identifier at `[start, end)` of the normalised text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub kind: IdKind,
    pub start: usize,
    pub end: usize,
    /// Confidence without context words; `None` means "report only with context".
    pub without_context: Option<Confidence>,
    /// Confidence with context words nearby.
    pub with_context: Confidence,
}

/// Numbers nobody should take for a real identifier: one digit repeated, or a plain ascending or
/// descending sequence (`000000000000` is a valid My Number).
pub(crate) fn is_excluded(digits: &[u8]) -> bool {
    let same = digits.windows(2).all(|w| w[0] == w[1]);
    let up = digits
        .windows(2)
        .all(|w| (w[0] - b'0' + 1) % 10 == w[1] - b'0');
    let down = digits
        .windows(2)
        .all(|w| (w[1] - b'0' + 1) % 10 == w[0] - b'0');
    same || up || down
}

/// Is the run glued to a word on that side (`abc123...`, `ABC-123...`, `123..._x`)?
fn glued(neighbour: Option<char>, beyond: Option<char>) -> bool {
    let wordy = |c: char| c.is_ascii_alphanumeric() || c == '_';
    match neighbour {
        Some(c) if wordy(c) => true,
        Some('-' | '_' | '/' | '+') => beyond.is_some_and(wordy),
        _ => false,
    }
}

/// Pushes every identifier the run may be onto `out`.
pub(crate) fn classify_run(text: &str, run: &Run, out: &mut Vec<Candidate>) {
    let before = out.len();
    classify_piece(text, &run.groups, out);
    if out.len() > before || !run.separators.contains(&Separator::Space) {
        return;
    }
    let mut from = 0;
    for (i, sep) in run.separators.iter().enumerate() {
        if *sep == Separator::Space {
            classify_piece(text, &run.groups[from..=i], out);
            from = i + 1;
        }
    }
    classify_piece(text, &run.groups[from..], out);
}

/// Two upper-case ASCII letters, not part of a longer word, ending at `end`.
fn letters_before(text: &str, end: usize) -> bool {
    let b = text.as_bytes();
    end >= 2
        && b[end - 2].is_ascii_uppercase()
        && b[end - 1].is_ascii_uppercase()
        && (end == 2 || !(b[end - 3].is_ascii_alphanumeric() || b[end - 3] == b'_'))
}

/// Two upper-case ASCII letters, not part of a longer word, starting at `start`.
fn letters_after(text: &str, start: usize) -> bool {
    let b = text.as_bytes();
    b.len() >= start + 2
        && b[start].is_ascii_uppercase()
        && b[start + 1].is_ascii_uppercase()
        && !b
            .get(start + 2)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Passport (`TK1234567`) and residence card (`AB12345678CD`) numbers: letters around a single
/// digit group.
fn classify_lettered(text: &str, group: Group, out: &mut Vec<Candidate>) {
    if !letters_before(text, group.start) {
        return;
    }
    let next_is_word = text
        .as_bytes()
        .get(group.end)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
    let start = group.start - 2;
    if group.len() == 7 && !next_is_word {
        out.push(Candidate {
            kind: IdKind::Passport,
            start,
            end: group.end,
            without_context: None,
            with_context: Confidence::High,
        });
    } else if group.len() == 8 && letters_after(text, group.end) {
        out.push(Candidate {
            kind: IdKind::ResidenceCard,
            start,
            end: group.end + 2,
            without_context: Some(Confidence::Low),
            with_context: Confidence::High,
        });
    }
}

fn classify_piece(text: &str, groups: &[Group], out: &mut Vec<Candidate>) {
    let (Some(first), Some(last)) = (groups.first(), groups.last()) else {
        return;
    };
    if groups.len() == 1 && matches!(first.len(), 7 | 8) {
        classify_lettered(text, *first, out);
    }
    if groups.len() > 6 {
        return;
    }
    let total: usize = groups.iter().map(Group::len).sum();
    if !(7..=19).contains(&total) {
        return;
    }
    let mut buf = [0u8; 19];
    let mut n = 0;
    for g in groups {
        buf[n..n + g.len()].copy_from_slice(&text.as_bytes()[g.start..g.end]);
        n += g.len();
    }
    let digits = &buf[..n];
    let mut lens = [0usize; 6];
    for (l, g) in lens.iter_mut().zip(groups) {
        *l = g.len();
    }
    let lens = &lens[..groups.len()];
    let (start, end) = (first.start, last.end);

    let mut back = text[..start].chars().rev();
    let prev = back.next();
    let prev2 = back.next();
    let mut fwd = text[end..].chars();
    let next = fwd.next();
    let next2 = fwd.next();
    // A separator right after the run that is not followed by a digit is harmless ("1234-").
    let glued_after = match next {
        Some(c) if is_separator(c).is_some() && !matches!(c, '-' | '_') => false,
        _ => glued(next, next2),
    };
    let free = !glued(prev, prev2) && !glued_after;
    if is_excluded(digits) {
        return;
    }
    let cand = |kind, start, without_context, with_context| Candidate {
        kind,
        start,
        end,
        without_context,
        with_context,
    };

    match (total, lens) {
        (12, [12] | [4, 4, 4]) if free => {
            if my_number::is_valid(digits) {
                out.push(cand(
                    IdKind::MyNumber,
                    start,
                    Some(Confidence::Low),
                    Confidence::High,
                ));
            }
            if licence::is_plausible(digits) {
                out.push(cand(IdKind::DriversLicence, start, None, Confidence::High));
            }
        }
        (13, [13] | [1, 4, 4, 4]) if corporate::is_valid(digits) => {
            let t_prefix = matches!(prev, Some('T' | 't')) && !glued(prev2, None) && !glued_after;
            if t_prefix {
                let t_start = start - 1;
                out.push(cand(
                    IdKind::InvoiceNumber,
                    t_start,
                    Some(Confidence::Medium),
                    Confidence::High,
                ));
            } else if free {
                out.push(cand(
                    IdKind::CorporateNumber,
                    start,
                    Some(Confidence::Low),
                    Confidence::High,
                ));
            }
        }
        (14..=19, _) if free && card_grouping(total, lens) && card::is_valid(digits) => {
            out.push(cand(
                IdKind::CreditCard,
                start,
                Some(Confidence::Medium),
                Confidence::High,
            ));
        }
        (10 | 11, _) if free => match phone::shape(digits, lens) {
            Some(phone::PhoneShape::Grouped) => {
                out.push(cand(
                    IdKind::Phone,
                    start,
                    Some(Confidence::Medium),
                    Confidence::High,
                ));
            }
            Some(phone::PhoneShape::BareMobile) => {
                out.push(cand(
                    IdKind::Phone,
                    start,
                    Some(Confidence::Low),
                    Confidence::High,
                ));
            }
            Some(phone::PhoneShape::BareLandline) => {
                out.push(cand(IdKind::Phone, start, None, Confidence::Medium));
            }
            None => {}
        },
        _ => {}
    }
    if free && let Some(with_context) = bank::account_shape(lens) {
        out.push(cand(IdKind::BankAccount, start, None, with_context));
    }
}

fn card_grouping(total: usize, lens: &[usize]) -> bool {
    lens.len() == 1
        || matches!(
            (total, lens),
            (16, [4, 4, 4, 4])
                | (15, [4, 6, 5])
                | (14, [4, 6, 4])
                | (19, [4, 4, 4, 4, 3])
                | (19, [6, 13])
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digits::DigitScanner;

    fn kinds(text: &str) -> Vec<(IdKind, &str)> {
        let mut scanner = DigitScanner::new(text);
        let mut run = Run::default();
        let mut out = Vec::new();
        while scanner.next_run(&mut run) {
            classify_run(text, &run, &mut out);
        }
        // Candidates reported only with context words are left out here.
        out.into_iter()
            .filter(|c| c.without_context.is_some())
            .map(|c| (c.kind, &text[c.start..c.end]))
            .collect()
    }

    #[test]
    fn my_number_in_its_written_forms() {
        assert_eq!(
            kinds("123456789018"),
            vec![(IdKind::MyNumber, "123456789018")]
        );
        assert_eq!(
            kinds("番号:1234-5678-9018。"),
            vec![(IdKind::MyNumber, "1234-5678-9018")]
        );
        assert_eq!(
            kinds("1234 5678 9018"),
            vec![(IdKind::MyNumber, "1234 5678 9018")]
        );
        assert_eq!(
            kinds("1234.5678.9018"),
            vec![(IdKind::MyNumber, "1234.5678.9018")]
        );
        assert!(kinds("123456789019").is_empty());
        assert!(kinds("1234567890189").is_empty(), "inside a longer run");
        assert!(kinds("9123456789018").is_empty(), "inside a longer run");
        assert!(
            kinds("000000000000").is_empty(),
            "excluded: one digit repeated"
        );
        assert!(kinds("id abc123456789018").is_empty(), "glued to a word");
        assert!(
            kinds("1234-56-789018").is_empty(),
            "not a My Number grouping"
        );
    }

    #[test]
    fn corporate_and_invoice_numbers() {
        assert_eq!(
            kinds("7000012050002"),
            vec![(IdKind::CorporateNumber, "7000012050002")]
        );
        assert_eq!(
            kinds("T7000012050002"),
            vec![(IdKind::InvoiceNumber, "T7000012050002")]
        );
        assert_eq!(
            kinds("登録番号T4011001098993"),
            vec![(IdKind::InvoiceNumber, "T4011001098993")]
        );
        assert!(kinds("XT7000012050002").is_empty());
        assert!(kinds("8000012050002").is_empty());
    }

    #[test]
    fn cards_phones_and_split_runs() {
        assert_eq!(
            kinds("4111 1111 1111 1111"),
            vec![(IdKind::CreditCard, "4111 1111 1111 1111")]
        );
        assert_eq!(
            kinds("4111-1111-1111-1111"),
            vec![(IdKind::CreditCard, "4111-1111-1111-1111")]
        );
        assert_eq!(
            kinds("090-1234-5678"),
            vec![(IdKind::Phone, "090-1234-5678")]
        );
        assert_eq!(
            kinds("03-1234-5678 1234-5678-9018"),
            vec![
                (IdKind::Phone, "03-1234-5678"),
                (IdKind::MyNumber, "1234-5678-9018")
            ]
        );
    }

    #[test]
    fn passport_and_residence_card() {
        assert_eq!(
            kinds("AB12345678CD"),
            vec![(IdKind::ResidenceCard, "AB12345678CD")]
        );
        assert!(kinds("XAB12345678CD").is_empty());
        assert!(kinds("AB12345678CDE").is_empty());
        let mut out = Vec::new();
        let text = "旅券 TK1234567。";
        let mut scanner = DigitScanner::new(text);
        let mut run = Run::default();
        while scanner.next_run(&mut run) {
            classify_run(text, &run, &mut out);
        }
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].kind, &text[out[0].start..out[0].end]),
            (IdKind::Passport, "TK1234567")
        );
        assert_eq!(out[0].without_context, None);
    }

    #[test]
    fn exclusions() {
        assert!(is_excluded(b"000000000000"));
        assert!(is_excluded(b"123456789012"));
        assert!(is_excluded(b"987654321098"));
        assert!(!is_excluded(b"123456789018"));
    }
}
