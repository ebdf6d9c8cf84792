//! Driver's licence numbers: 12 digits starting with a public-safety-commission code.
//!
//! The check-digit formula is known only from unofficial sources, so the number is only
//! prefiltered on the commission code and reported with context words.

/// Codes of the prefectural public safety commissions (Hokkaido has five areas).
const COMMISSION_CODES: [u8; 51] = [
    10, 11, 12, 13, 14, // Hokkaido: Sapporo, Hakodate, Asahikawa, Kushiro, Kitami
    20, 21, 22, 23, 24, 25, // Tohoku
    30, // Tokyo
    40, 41, 42, 43, 44, 45, 46, 47, 48, 49, // Kanto, Koshinetsu, Shizuoka
    50, 51, 52, 53, 54, 55, // Hokuriku, Chubu
    60, 61, 62, 63, 64, 65, // Kinki
    70, 71, 72, 73, 74, // Chugoku
    80, 81, 82, 83, // Shikoku
    90, 91, 92, 93, 94, 95, 96, 97, // Kyushu, Okinawa
];

/// True for 12 ASCII digits whose first two are a commission code.
pub fn is_plausible(digits: &[u8]) -> bool {
    digits.len() == 12
        && digits.iter().all(u8::is_ascii_digit)
        && COMMISSION_CODES.contains(&((digits[0] - b'0') * 10 + (digits[1] - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert!(is_plausible(b"301234567890"));
        assert!(is_plausible(b"970012345678"));
        assert!(!is_plausible(b"151234567890"));
        assert!(!is_plausible(b"001234567890"));
        assert!(!is_plausible(b"30123456789"));
    }
}
