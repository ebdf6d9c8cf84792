//! Bank account numbers: only with context words (口座番号, 支店).
//!
//! An account number is 7 digits (8 at Japan Post Bank), optionally written after a 3-digit
//! branch code and a 4-digit bank code. There is no check digit, so a bare number is reported
//! only when context words are near; a full bank-branch-account triple earns high confidence.

use mamori_model::Confidence;

/// The confidence an account written in groups of these lengths gets *with* context, if it can
/// be an account at all.
pub fn account_shape(lens: &[usize]) -> Option<Confidence> {
    match lens {
        [7] | [8] => Some(Confidence::Medium),
        [3, 7] | [4, 3, 7] | [5, 8] => Some(Confidence::High),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(account_shape(&[7]), Some(Confidence::Medium));
        assert_eq!(account_shape(&[4, 3, 7]), Some(Confidence::High));
        assert_eq!(account_shape(&[6]), None);
        assert_eq!(account_shape(&[4, 4, 4]), None);
    }
}
