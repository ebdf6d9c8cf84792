//! Corporate number (法人番号): 13 digits, the FIRST is the check digit.
//!
//! Over the last 12 digits, weight 1 for odd positions counted from the right and 2 for even
//! ones: check = 9 - (sum mod 9). The invoice registration number is `T` + a corporate number.

/// The check digit for the 12 base digits (ASCII), or `None` if they are not 12 digits.
pub fn check_digit(base12: &[u8]) -> Option<u8> {
    if base12.len() != 12 || !base12.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = base12
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| u32::from(d - b'0') * if i % 2 == 0 { 1 } else { 2 })
        .sum();
    Some((9 - sum % 9) as u8)
}

/// True if `digits` (ASCII) is 13 digits whose first is the check digit of the rest.
pub fn is_valid(digits: &[u8]) -> bool {
    digits.len() == 13
        && digits[0].is_ascii_digit()
        && check_digit(&digits[1..]).is_some_and(|c| c == digits[0] - b'0')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn notes_test_vectors() {
        for valid in [
            "7000012050002",
            "4011001098993",
            "1010601008968",
            "6010701027558",
        ] {
            assert!(is_valid(valid.as_bytes()), "{valid}");
        }
        assert!(!is_valid(b"8000012050002"));
        assert!(!is_valid(b"7000012050003"));
        assert!(!is_valid(b"700001205000"));
    }

    proptest! {
        #[test]
        fn any_base_with_its_check_digit_validates(base in "[0-9]{12}") {
            let check = check_digit(base.as_bytes()).unwrap();
            let full = format!("{check}{base}");
            prop_assert!(is_valid(full.as_bytes()));
        }

        #[test]
        fn changing_the_check_digit_invalidates(base in "[0-9]{12}", delta in 1u8..9) {
            // Check digits are 1..=9; a different digit in that range must fail.
            let check = check_digit(base.as_bytes()).unwrap();
            let other = (check - 1 + delta) % 9 + 1;
            let full = format!("{other}{base}");
            prop_assert!(!is_valid(full.as_bytes()));
        }
    }
}
