//! Payment card numbers: Luhn check plus the brand's prefix and length.

/// The Luhn (mod 10) check over ASCII digits.
pub fn luhn_valid(digits: &[u8]) -> bool {
    if digits.len() < 2 || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The brand whose prefix and length `digits` has, if any.
pub fn brand(digits: &[u8]) -> Option<&'static str> {
    let len = digits.len();
    let prefix = |n: usize| -> u32 {
        digits[..n.min(len)]
            .iter()
            .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    if len < 13 {
        return None;
    }
    let p2 = prefix(2);
    let p3 = prefix(3);
    let p4 = prefix(4);
    let p6 = prefix(6);
    match () {
        _ if digits[0] == b'4' && matches!(len, 13 | 16 | 19) => Some("Visa"),
        _ if ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && len == 16 => {
            Some("Mastercard")
        }
        _ if matches!(p2, 34 | 37) && len == 15 => Some("American Express"),
        _ if (3528..=3589).contains(&p4) && (16..=19).contains(&len) => Some("JCB"),
        _ if ((300..=305).contains(&p3) || matches!(p2, 36 | 38 | 39))
            && (14..=19).contains(&len) =>
        {
            Some("Diners Club")
        }
        _ if (p4 == 6011
            || p2 == 65
            || (644..=649).contains(&p3)
            || (622126..=622925).contains(&p6))
            && (16..=19).contains(&len) =>
        {
            Some("Discover")
        }
        _ if p2 == 62 && (16..=19).contains(&len) => Some("UnionPay"),
        _ => None,
    }
}

/// True for a number with a known brand and a valid Luhn check.
pub fn is_valid(digits: &[u8]) -> bool {
    (13..=19).contains(&digits.len()) && luhn_valid(digits) && brand(digits).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn well_known_test_numbers() {
        for (n, b) in [
            ("4111111111111111", "Visa"),
            ("5555555555554444", "Mastercard"),
            ("378282246310005", "American Express"),
            ("3530111333300000", "JCB"),
            ("30569309025904", "Diners Club"),
            ("6011111111111117", "Discover"),
        ] {
            assert!(is_valid(n.as_bytes()), "{n}");
            assert_eq!(brand(n.as_bytes()), Some(b));
        }
        assert!(!is_valid(b"4111111111111112"));
        assert!(!is_valid(b"1234567812345670"), "valid Luhn, no brand");
        assert!(luhn_valid(b"1234567812345670"));
    }

    proptest! {
        #[test]
        fn luhn_detects_every_single_digit_change(body in "4[0-9]{14}", pos in 0usize..16, delta in 1u8..10) {
            let check = (0..10u8).find(|c| luhn_valid(format!("{body}{c}").as_bytes())).unwrap();
            let mut full = format!("{body}{check}").into_bytes();
            prop_assert!(is_valid(&full));
            full[pos] = b'0' + (full[pos] - b'0' + delta) % 10;
            prop_assert!(!luhn_valid(&full));
        }
    }
}
