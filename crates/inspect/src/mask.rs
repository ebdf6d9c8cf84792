//! Masked samples: what a report may show of a match.

/// How a detector's matches are shown in samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MaskStyle {
    /// As matched: labels and dictionary words are no secret themselves.
    Clear,
    /// Digits of an identifier masked but for the first and last few (`1234-****-9018`).
    Digits,
    /// Only a short prefix of a credential kept (`AKIA****`).
    Credential,
    /// The local part of an address masked (`t***@example.com`).
    Email,
    /// Letters and digits masked but for the first two and last two.
    Partial,
}

/// Longest sample shown, in characters.
const MAX_SAMPLE_CHARS: usize = 80;

/// The sample for `matched` (normalised text) under `style`.
pub(crate) fn mask(matched: &str, style: MaskStyle) -> String {
    let masked = match style {
        MaskStyle::Clear => matched.to_string(),
        MaskStyle::Digits => mask_digits(matched),
        MaskStyle::Credential => {
            let prefix: String = matched.chars().take(4).collect();
            format!("{prefix}****")
        }
        MaskStyle::Email => match matched.split_once('@') {
            Some((local, domain)) => {
                let first: String = local.chars().take(1).collect();
                format!("{first}***@{domain}")
            }
            None => mask_partial(matched),
        },
        MaskStyle::Partial => mask_partial(matched),
    };
    truncate(masked)
}

fn truncate(s: String) -> String {
    if s.chars().count() <= MAX_SAMPLE_CHARS {
        return s;
    }
    let mut out: String = s.chars().take(MAX_SAMPLE_CHARS).collect();
    out.push('…');
    out
}

fn mask_digits(matched: &str) -> String {
    let n = matched.chars().filter(char::is_ascii_digit).count();
    // Phone numbers keep their first group (the area or mobile prefix) when written in groups.
    let first_group = matched.chars().take_while(char::is_ascii_digit).count();
    let (front, back) = match n {
        12.. => (4, 4),
        10..=11 if first_group < n => (first_group.min(4), 4),
        10..=11 => (3, 4),
        _ => (0, 2),
    };
    let mut seen = 0;
    matched
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                seen += 1;
                if seen > front && seen <= n - back {
                    '*'
                } else {
                    c
                }
            } else {
                c
            }
        })
        .collect()
}

fn mask_partial(matched: &str) -> String {
    let n = matched.chars().filter(|c| c.is_alphanumeric()).count();
    let keep = if n > 8 { 2 } else { 0 };
    let mut seen = 0;
    matched
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                seen += 1;
                if seen > keep && seen <= n - keep {
                    '*'
                } else {
                    c
                }
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn styles() {
        assert_eq!(mask("1234-5678-9018", MaskStyle::Digits), "1234-****-9018");
        assert_eq!(
            mask("4111 1111 1111 1111", MaskStyle::Digits),
            "4111 **** **** 1111"
        );
        assert_eq!(mask("090-1234-5678", MaskStyle::Digits), "090-****-5678");
        assert_eq!(mask("03-1234-5678", MaskStyle::Digits), "03-****-5678");
        assert_eq!(mask("09012345678", MaskStyle::Digits), "090****5678");
        assert_eq!(mask("3141592", MaskStyle::Digits), "*****92");
        assert_eq!(
            mask("AKIAIOSFODNN7EXAMPLE", MaskStyle::Credential),
            "AKIA****"
        );
        assert_eq!(mask("taro@example.jp", MaskStyle::Email), "t***@example.jp");
        assert_eq!(mask("社外秘", MaskStyle::Clear), "社外秘");
        assert_eq!(mask("EMP-12345678", MaskStyle::Partial), "EM*-******78");
        assert_eq!(
            mask(&"x".repeat(200), MaskStyle::Clear).chars().count(),
            MAX_SAMPLE_CHARS + 1
        );
    }

    #[test]
    fn masked_identifiers_never_show_the_middle() {
        let s = mask("123456789018", MaskStyle::Digits);
        assert_eq!(s, "1234****9018");
        assert!(!s.contains("5678"));
    }
}
