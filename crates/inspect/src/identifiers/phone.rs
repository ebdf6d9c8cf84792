//! Japanese phone numbers.

/// How a number looks like a Japanese phone number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneShape {
    /// Written with separators in a real grouping (090-1234-5678, 03-1234-5678).
    Grouped,
    /// An 11-digit mobile or IP number without separators (09012345678).
    BareMobile,
    /// A 10-digit landline without separators (0312345678): needs context.
    BareLandline,
}

fn is_mobile_prefix(d: &[u8]) -> bool {
    d.len() >= 3 && d[0] == b'0' && matches!(d[1], b'5' | b'6' | b'7' | b'8' | b'9') && d[2] == b'0'
}

/// Classifies ASCII `digits` written in groups of the given lengths.
pub fn shape(digits: &[u8], groups: &[usize]) -> Option<PhoneShape> {
    if digits.first() != Some(&b'0') || digits.get(1) == Some(&b'0') {
        return None;
    }
    match (digits.len(), groups) {
        (11, [3, 4, 4]) if is_mobile_prefix(digits) => Some(PhoneShape::Grouped),
        (11, [11]) if is_mobile_prefix(digits) => Some(PhoneShape::BareMobile),
        (10, [2, 4, 4] | [3, 3, 4] | [4, 2, 4] | [5, 1, 4]) if !is_mobile_prefix(digits) => {
            Some(PhoneShape::Grouped)
        }
        (10, [4, 3, 3]) if digits.starts_with(b"0120") => Some(PhoneShape::Grouped),
        (10, [10]) if !is_mobile_prefix(digits) => Some(PhoneShape::BareLandline),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(shape(b"09012345678", &[3, 4, 4]), Some(PhoneShape::Grouped));
        assert_eq!(shape(b"0312345678", &[2, 4, 4]), Some(PhoneShape::Grouped));
        assert_eq!(shape(b"0451234567", &[3, 3, 4]), Some(PhoneShape::Grouped));
        assert_eq!(shape(b"09012345678", &[11]), Some(PhoneShape::BareMobile));
        assert_eq!(shape(b"0312345678", &[10]), Some(PhoneShape::BareLandline));
        assert_eq!(shape(b"0120123456", &[4, 3, 3]), Some(PhoneShape::Grouped));
        assert_eq!(shape(b"19012345678", &[3, 4, 4]), None);
        assert_eq!(shape(b"00012345678", &[3, 4, 4]), None);
        assert_eq!(shape(b"0901234567", &[3, 3, 4]), None);
        assert_eq!(shape(b"09012345678", &[2, 5, 4]), None);
    }
}
