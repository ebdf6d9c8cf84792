//! Errors of loading a policy: every problem of a file, each with its line and column.

use std::fmt;

/// One problem in a policy file, with where it is.
///
/// Displays as `origin:line:column: message`, the form editors and CI annotate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}:{column}: {kind}")]
pub struct PolicyError {
    /// The file name (or other origin) the policy was read from.
    pub origin: String,
    /// One-based line of the offending key or value.
    pub line: usize,
    /// One-based column, counted in characters.
    pub column: usize,
    /// What is wrong.
    pub kind: ErrorKind,
}

/// What is wrong in a policy file. Every variant names the field it is about, as a dotted path
/// such as `rule[3].channels`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text is not valid TOML.
    #[error("TOML syntax error: {0}")]
    Syntax(String),
    /// A key the policy format does not know (often a typo).
    #[error("{field}: unknown field `{key}`; expected one of: {expected}")]
    UnknownField {
        /// Where the key is.
        field: String,
        /// The unknown key.
        key: String,
        /// The keys allowed there, comma separated.
        expected: String,
    },
    /// A required field is absent.
    #[error("{field}: missing required field")]
    MissingField {
        /// The missing field.
        field: String,
    },
    /// A value of the wrong TOML type.
    #[error("{field}: expected {expected}, found {found}")]
    WrongType {
        /// The field.
        field: String,
        /// What was expected ("a string", "an array of strings"...).
        expected: &'static str,
        /// The TOML type found.
        found: &'static str,
    },
    /// A value outside what the field accepts.
    #[error("{field}: invalid value `{value}`: {reason}")]
    InvalidValue {
        /// The field.
        field: String,
        /// The value as written.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// A level id that the policy's `[[level]]` list does not define.
    #[error("{field}: unknown level `{level}`; defined levels: {defined}")]
    UnknownLevel {
        /// The field.
        field: String,
        /// The unknown level id.
        level: String,
        /// The defined level ids, comma separated.
        defined: String,
    },
    /// A detector id that the inspection engine does not know.
    #[error("{field}: unknown detector `{detector}`")]
    UnknownDetector {
        /// The field.
        field: String,
        /// The detector id.
        detector: String,
    },
    /// A name that is not one of a fixed set (channel, action, category, confidence...).
    #[error("{field}: unknown {what} `{value}`; expected one of: {expected}")]
    UnknownName {
        /// The field.
        field: String,
        /// What kind of name ("channel", "action"...).
        what: &'static str,
        /// The value as written.
        value: String,
        /// The accepted names, comma separated.
        expected: String,
    },
    /// A glob pattern that does not compile.
    #[error("{field}: bad glob `{pattern}`: {reason}")]
    BadGlob {
        /// The field.
        field: String,
        /// The pattern.
        pattern: String,
        /// What the glob compiler said.
        reason: String,
    },
    /// Two levels or rules with the same id.
    #[error("{field}: duplicate id `{id}` (first defined on line {first_line})")]
    DuplicateId {
        /// The field.
        field: String,
        /// The id.
        id: String,
        /// Where the id was first defined.
        first_line: usize,
    },
    /// A rule that can never match any input.
    #[error("{field}: rule `{rule}` can never match: {why}")]
    UnreachableRule {
        /// The rule's table, such as `rule[4]`.
        field: String,
        /// The rule id.
        rule: String,
        /// Why it can never match.
        why: String,
    },
}

impl PolicyError {
    /// The error as `origin:line:column: message` with the message in Japanese.
    pub fn to_string_ja(&self) -> String {
        format!(
            "{}:{}:{}: {}",
            self.origin,
            self.line,
            self.column,
            self.kind.message_ja()
        )
    }

    /// The error for a language tag (`ja_JP.UTF-8`, `en_US`...): Japanese for `ja*`.
    pub fn to_string_for_lang(&self, lang: &str) -> String {
        if lang.starts_with("ja") {
            self.to_string_ja()
        } else {
            self.to_string()
        }
    }
}

impl ErrorKind {
    /// The message in Japanese (the `Display` form is English).
    pub fn message_ja(&self) -> String {
        match self {
            ErrorKind::Syntax(detail) => format!("TOML の構文エラー: {detail}"),
            ErrorKind::UnknownField {
                field,
                key,
                expected,
            } => {
                format!("{field}: 不明な項目 `{key}` です。使える項目: {expected}")
            }
            ErrorKind::MissingField { field } => format!("{field}: 必須の項目がありません"),
            ErrorKind::WrongType {
                field,
                expected,
                found,
            } => {
                format!("{field}: 型が違います (期待: {expected}、実際: {found})")
            }
            ErrorKind::InvalidValue {
                field,
                value,
                reason,
            } => {
                format!("{field}: 値 `{value}` は使えません: {reason}")
            }
            ErrorKind::UnknownLevel {
                field,
                level,
                defined,
            } => {
                format!("{field}: 不明なレベル `{level}` です。定義済みのレベル: {defined}")
            }
            ErrorKind::UnknownDetector { field, detector } => {
                format!("{field}: 不明な検出器 `{detector}` です")
            }
            ErrorKind::UnknownName {
                field,
                what,
                value,
                expected,
            } => {
                format!("{field}: 不明な{what} `{value}` です。使える値: {expected}")
            }
            ErrorKind::BadGlob {
                field,
                pattern,
                reason,
            } => {
                format!("{field}: glob `{pattern}` が不正です: {reason}")
            }
            ErrorKind::DuplicateId {
                field,
                id,
                first_line,
            } => {
                format!("{field}: ID `{id}` が重複しています ({first_line} 行目で定義済み)")
            }
            ErrorKind::UnreachableRule { field, rule, why } => {
                format!("{field}: 規則 `{rule}` はどの場合にも該当しません: {why}")
            }
        }
    }
}

/// Every problem found in one policy file, in file order. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyErrors {
    errors: Vec<PolicyError>,
}

impl PolicyErrors {
    pub(crate) fn new(mut errors: Vec<PolicyError>) -> PolicyErrors {
        debug_assert!(!errors.is_empty());
        errors.sort_by_key(|e| (e.line, e.column));
        errors.dedup();
        PolicyErrors { errors }
    }

    /// The problems, in file order.
    pub fn errors(&self) -> &[PolicyError] {
        &self.errors
    }

    /// How many problems.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Always false: there is at least one problem.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}

impl IntoIterator for PolicyErrors {
    type Item = PolicyError;
    type IntoIter = std::vec::IntoIter<PolicyError>;
    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}
