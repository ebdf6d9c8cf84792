//! The job options CUPS passes a backend in `argv[5]`: `name=value` pairs separated by
//! whitespace, in the syntax of `cupsParseOptions` (libcups `options.c`).
//!
//! Written by hand because no maintained crate parses this CUPS-specific syntax (the `ipp`
//! crate reads IPP messages, not the option string). The string comes from the print client:
//! it is outside input, so its size and option count are capped and brace nesting is bounded.
//!
//! Syntax, as libcups reads it:
//! * `name=value`; a value ends at unquoted whitespace;
//! * `'…'` and `"…"` quote parts of a value (the quotes are dropped), `\x` escapes `x`;
//! * `{…}` is a collection value, kept verbatim (nesting allowed);
//! * a bare `name` means `name=true`, a bare `noname` means `name=false`.

/// Largest option string accepted, in bytes.
pub const MAX_OPTIONS_BYTES: usize = 64 * 1024;
/// Most options accepted.
pub const MAX_OPTIONS: usize = 1024;
/// Deepest `{…}` nesting accepted in a collection value.
pub const MAX_DEPTH: usize = 32;

/// Why an option string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
    /// Longer than [`MAX_OPTIONS_BYTES`].
    #[error("job options longer than {MAX_OPTIONS_BYTES} bytes / ジョブのオプションが長すぎます")]
    TooLong,
    /// More than [`MAX_OPTIONS`] options.
    #[error("more than {MAX_OPTIONS} job options / ジョブのオプションが多すぎます")]
    TooMany,
    /// A quote or brace was not closed, or braces nest deeper than [`MAX_DEPTH`].
    #[error("malformed job options at byte {0} / ジョブのオプションの書式が不正です")]
    Malformed(usize),
}

/// Parsed job options, in the order given; a later option with the same name wins in
/// [`Options::get`], as in libcups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pairs: Vec<(String, String)>,
}

impl Options {
    /// Parses an option string.
    pub fn parse(text: &str) -> Result<Options, OptionsError> {
        if text.len() > MAX_OPTIONS_BYTES {
            return Err(OptionsError::TooLong);
        }
        let bytes = text.as_bytes();
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut i = 0;
        // libcups accepts the whole list wrapped in one pair of braces.
        let mut end = bytes.len();
        let trimmed = text.trim();
        if trimmed.starts_with('{') && trimmed.ends_with('}') && trimmed.len() >= 2 {
            i = text.find('{').map_or(0, |p| p + 1);
            end = text.rfind('}').unwrap_or(end);
        }
        loop {
            while i < end && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if i >= end {
                break;
            }
            let start = i;
            while i < end && bytes[i] != b'=' && !bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            let name = &text[start..i];
            if i >= end || bytes[i] != b'=' {
                // A bare name: a boolean.
                let (name, value) = match name.strip_prefix("no") {
                    Some(rest) if !rest.is_empty() => (rest, "false"),
                    _ => (name, "true"),
                };
                push(&mut pairs, name, value.to_owned())?;
                continue;
            }
            i += 1; // '='
            let mut value = Vec::new();
            while i < end && !bytes[i].is_ascii_whitespace() {
                match bytes[i] {
                    b'\\' if i + 1 < end => {
                        value.push(bytes[i + 1]);
                        i += 2;
                    }
                    quote @ (b'\'' | b'"') => {
                        let open = i;
                        i += 1;
                        loop {
                            if i >= end {
                                return Err(OptionsError::Malformed(open));
                            }
                            match bytes[i] {
                                b'\\' if i + 1 < end => {
                                    value.push(bytes[i + 1]);
                                    i += 2;
                                }
                                c if c == quote => {
                                    i += 1;
                                    break;
                                }
                                c => {
                                    value.push(c);
                                    i += 1;
                                }
                            }
                        }
                    }
                    b'{' => {
                        let open = i;
                        let mut depth = 0usize;
                        let mut quote: Option<u8> = None;
                        loop {
                            if i >= end {
                                return Err(OptionsError::Malformed(open));
                            }
                            let c = bytes[i];
                            value.push(c);
                            i += 1;
                            match (quote, c) {
                                (Some(_), b'\\') if i < end => {
                                    value.push(bytes[i]);
                                    i += 1;
                                }
                                (Some(q), c) if c == q => quote = None,
                                (Some(_), _) => {}
                                (None, b'\'' | b'"') => quote = Some(c),
                                (None, b'{') => {
                                    depth += 1;
                                    if depth > MAX_DEPTH {
                                        return Err(OptionsError::Malformed(open));
                                    }
                                }
                                (None, b'}') => {
                                    depth -= 1;
                                    if depth == 0 {
                                        break;
                                    }
                                }
                                (None, _) => {}
                            }
                        }
                    }
                    c => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
            // Escapes split only at ASCII bytes, so the value is valid UTF-8 again; stay
            // lossless-safe anyway.
            let value = String::from_utf8(value)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
            push(&mut pairs, name, value)?;
        }
        Ok(Options { pairs })
    }

    /// The value of an option (the last one given under that name), case-insensitively as
    /// IPP attribute names are.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every option, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The number of options.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

fn push(pairs: &mut Vec<(String, String)>, name: &str, value: String) -> Result<(), OptionsError> {
    if pairs.len() >= MAX_OPTIONS {
        return Err(OptionsError::TooMany);
    }
    pairs.push((name.to_owned(), value));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        Options::parse(text)
            .unwrap()
            .iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect()
    }

    fn p(n: &str, v: &str) -> (String, String) {
        (n.to_owned(), v.to_owned())
    }

    /// The string cupsd 2.4 passed a backend for `lp -t "My title" -o foo=bar` (measured).
    #[test]
    fn what_cupsd_passes() {
        let text = "finishings=3 foo=bar number-up=1 print-color-mode=monochrome \
                    job-uuid=urn:uuid:efb1613a-5576-36bb-4f31-840e8c4b9ace \
                    job-originating-host-name=localhost date-time-at-creation= \
                    date-time-at-processing= time-at-creation=1796375438 \
                    time-at-processing=1796375438 document-name-supplied=t.txt";
        let options = Options::parse(text).unwrap();
        assert_eq!(options.len(), 11);
        assert_eq!(options.get("job-originating-host-name"), Some("localhost"));
        assert_eq!(options.get("date-time-at-creation"), Some(""));
        assert_eq!(options.get("document-name-supplied"), Some("t.txt"));
        assert_eq!(options.get("FOO"), Some("bar"));
        assert_eq!(options.get("missing"), None);
    }

    #[test]
    fn quotes_escapes_booleans_and_collections() {
        assert_eq!(
            pairs(r#"a='x y' b="p q" c=x\ y d=it\'s landscape nocollate e={x=1 y={z="}"}} f=1"#),
            vec![
                p("a", "x y"),
                p("b", "p q"),
                p("c", "x y"),
                p("d", "it's"),
                p("landscape", "true"),
                p("collate", "false"),
                p("e", r#"{x=1 y={z="}"}}"#),
                p("f", "1"),
            ]
        );
        assert_eq!(pairs("no"), vec![p("no", "true")]);
        assert_eq!(pairs("  "), vec![]);
        assert_eq!(pairs("{a=1 b=2}"), vec![p("a", "1"), p("b", "2")]);
        assert_eq!(pairs("r='理由: 月次報告'"), vec![p("r", "理由: 月次報告")]);
        assert_eq!(pairs("a=1 a=2")[1], p("a", "2"));
        assert_eq!(Options::parse("a=1 a=2").unwrap().get("a"), Some("2"));
    }

    #[test]
    fn malformed_and_oversized_input_is_refused() {
        assert_eq!(Options::parse("a='open"), Err(OptionsError::Malformed(2)));
        assert_eq!(Options::parse("a={x"), Err(OptionsError::Malformed(2)));
        let deep = format!("a={}{}", "{".repeat(40), "}".repeat(40));
        assert_eq!(Options::parse(&deep), Err(OptionsError::Malformed(2)));
        let ok_depth = format!("a={}{}", "{".repeat(32), "}".repeat(32));
        assert!(Options::parse(&ok_depth).is_ok());
        assert_eq!(
            Options::parse(&"x".repeat(MAX_OPTIONS_BYTES + 1)),
            Err(OptionsError::TooLong)
        );
        assert_eq!(
            Options::parse(&"a ".repeat(MAX_OPTIONS + 1)),
            Err(OptionsError::TooMany)
        );
    }

    proptest::proptest! {
        /// Any input: an answer, never a panic; values quoted by `quote` come back unchanged.
        #[test]
        fn never_panics(text in "\\PC{0,200}") {
            let _ = Options::parse(&text);
        }

        #[test]
        fn quoted_values_round_trip(value in "\\PC{0,40}", name in "n[a-z0-9-]{0,12}") {
            let text = format!("{name}={} other=1", quote(&value));
            let options = Options::parse(&text).unwrap();
            proptest::prop_assert_eq!(options.get(&name), Some(value.as_str()));
            proptest::prop_assert_eq!(options.get("other"), Some("1"));
        }
    }

    /// Quotes a value the way cupsd does for `argv[5]`: backslash before specials.
    fn quote(value: &str) -> String {
        let mut out = String::new();
        for c in value.chars() {
            if c.is_ascii_whitespace() || matches!(c, '\\' | '\'' | '"' | '{' | '}') {
                out.push('\\');
            }
            out.push(c);
        }
        out
    }
}
