//! HTML to text: tags stripped, `script`/`style` dropped, entities and numeric character
//! references decoded, block elements turned into line breaks, `<meta charset>` honoured.
//!
//! Written by hand: a DLP scanner needs the text, not a DOM, and the HTML parsers on crates.io
//! (html5ever and its users) are large and build trees. This is one linear pass.

use encoding_rs::Encoding;

use crate::text;

/// The charset a `<meta charset=...>` or `<meta http-equiv=... content="...; charset=...">`
/// in the first 4 KiB declares.
pub(crate) fn meta_charset(bytes: &[u8]) -> Option<&'static Encoding> {
    let head = &bytes[..bytes.len().min(4096)];
    let lower: Vec<u8> = head.iter().map(u8::to_ascii_lowercase).collect();
    let mut from = 0;
    while let Some(at) = find(&lower[from..], b"<meta") {
        let start = from + at;
        let end = lower[start..]
            .iter()
            .position(|&b| b == b'>')
            .map_or(lower.len(), |e| start + e);
        let tag = &lower[start..end];
        if let Some(c) = find(tag, b"charset=") {
            let value: String = tag[c + 8..]
                .iter()
                .skip_while(|&&b| b == b'"' || b == b'\'' || b == b' ')
                .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                .map(|&b| b as char)
                .collect();
            if let Some(encoding) = text::encoding_for_label(&value) {
                return Some(encoding);
            }
        }
        from = end;
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Decodes HTML bytes (BOM, then `<meta charset>`, then the sniffed encoding) and strips it.
pub(crate) fn html_bytes_to_text(bytes: &[u8], sniffed: &'static Encoding) -> String {
    let encoding = match Encoding::for_bom(bytes) {
        Some((bom, _)) => bom,
        None => meta_charset(bytes)
            // A UTF-16 document cannot declare an ASCII-based charset in ASCII bytes.
            .filter(|_| sniffed != encoding_rs::UTF_16LE && sniffed != encoding_rs::UTF_16BE)
            .unwrap_or(sniffed),
    };
    html_to_text(&text::decode(bytes, encoding))
}

const BLOCKS: [&str; 24] = [
    "p",
    "div",
    "br",
    "li",
    "tr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "blockquote",
    "pre",
    "section",
    "article",
    "header",
    "footer",
    "title",
];

/// Strips HTML to text.
pub(crate) fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    while !rest.is_empty() {
        let Some(lt) = rest.find(['<', '&']) else {
            out.push_str(rest);
            break;
        };
        out.push_str(&rest[..lt]);
        rest = &rest[lt..];
        if rest.starts_with('&') {
            let (decoded, used) = entity(rest);
            match decoded {
                Some(c) => out.push_str(&c.as_str()),
                None => out.push('&'),
            }
            rest = &rest[used..];
            continue;
        }
        // A tag, comment, declaration, or a lone '<'.
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |e| &after[e + 3..]);
            continue;
        }
        let name_start = &rest[1..];
        let closing = name_start.starts_with('/');
        let name: String = name_start
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if name.is_empty() && !name_start.starts_with(['!', '?', '/']) {
            out.push('<');
            rest = name_start;
            continue;
        }
        let end = tag_end(rest);
        rest = &rest[end..];
        if !closing && (name == "script" || name == "style") {
            // Drop everything up to the matching close tag.
            let close = format!("</{name}");
            rest = match find_ignore_case(rest, &close) {
                Some(at) => {
                    let after = &rest[at..];
                    &after[tag_end(after)..]
                }
                None => "",
            };
            continue;
        }
        if name == "td" || name == "th" {
            if closing {
                out.push('\t');
            }
        } else if BLOCKS.contains(&name.as_str()) && !out.ends_with('\n') && !out.is_empty() {
            out.push('\n');
        }
    }
    out
}

/// Length of the tag at the start of `s` (which starts with '<'), quotes respected.
fn tag_end(s: &str) -> usize {
    let mut quote: Option<u8> = None;
    for (i, b) in s.bytes().enumerate().skip(1) {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => return i + 1,
            None => {}
        }
    }
    s.len()
}

fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    let n = needle.len();
    haystack
        .as_bytes()
        .windows(n)
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// A decoded entity.
pub(crate) enum Decoded {
    Char(char),
    Str(&'static str),
}

impl Decoded {
    fn as_str(&self) -> std::borrow::Cow<'static, str> {
        match self {
            Decoded::Char(c) => c.to_string().into(),
            Decoded::Str(s) => (*s).into(),
        }
    }
}

/// Decodes the entity at the start of `s` (which starts with '&'): its text and the bytes it
/// took, or `None` and 1 when it is not an entity.
pub(crate) fn entity(s: &str) -> (Option<Decoded>, usize) {
    let body = &s[1..];
    let end = body
        .char_indices()
        .take(40)
        .find(|&(_, c)| c == ';')
        .map(|(i, _)| i);
    if let Some(num) = body.strip_prefix('#') {
        let (digits, radix, skip) = match num.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16, 2),
            None => (num, 10, 1),
        };
        let len = digits.chars().take_while(|c| c.is_digit(radix)).count();
        if len == 0 || len > 8 {
            return (None, 1);
        }
        let Ok(code) = u32::from_str_radix(&digits[..len], radix) else {
            return (None, 1);
        };
        let c = char::from_u32(code)
            .filter(|&c| c != '\0')
            .unwrap_or('\u{fffd}');
        let semicolon = usize::from(digits[len..].starts_with(';'));
        return (Some(Decoded::Char(c)), 1 + skip + len + semicolon);
    }
    let Some(end) = end else { return (None, 1) };
    let decoded = match &body[..end] {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        "nbsp" => "\u{a0}",
        "ensp" => "\u{2002}",
        "emsp" => "\u{2003}",
        "thinsp" => "\u{2009}",
        "zwsp" | "ZeroWidthSpace" => "\u{200b}",
        "zwnj" => "\u{200c}",
        "zwj" => "\u{200d}",
        "shy" => "\u{ad}",
        "copy" => "©",
        "reg" => "®",
        "trade" => "™",
        "yen" => "¥",
        "mdash" => "—",
        "ndash" => "–",
        "hyphen" | "dash" => "‐",
        "minus" => "−",
        "hellip" => "…",
        "middot" => "·",
        "laquo" => "«",
        "raquo" => "»",
        "ldquo" => "“",
        "rdquo" => "”",
        "lsquo" => "‘",
        "rsquo" => "’",
        "times" => "×",
        "divide" => "÷",
        "euro" => "€",
        "sect" => "§",
        "deg" => "°",
        _ => return (None, 1),
    };
    (Some(Decoded::Str(decoded)), end + 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::{SHIFT_JIS, UTF_8};
    use proptest::prelude::*;

    #[test]
    fn numeric_references_spell_labels() {
        assert_eq!(html_to_text("<p>&#x793E;&#22806;&#31192;</p>"), "社外秘\n");
        assert_eq!(
            html_to_text("a&amp;b &lt;c&gt; &unknown; &#0; & x"),
            "a&b <c> &unknown; \u{fffd} & x"
        );
    }

    #[test]
    fn scripts_styles_and_comments_are_dropped() {
        let html = "<html><head><title>T</title><style>p{}</style><script>var s='社外秘';</script></head>\
                    <body><!-- 極秘 --><p>本文<b>社外</b>秘</p><table><tr><td>1</td><td>2</td></tr></table></body></html>";
        let text = html_to_text(html);
        assert!(!text.contains("var s"));
        assert!(!text.contains("極秘"));
        assert!(text.contains("本文社外秘"));
        assert!(text.contains("1\t2\t"));
    }

    #[test]
    fn attributes_with_angle_brackets_do_not_leak() {
        assert_eq!(html_to_text("<a title=\"x > y\">z</a>"), "z");
        assert_eq!(html_to_text("1 < 2"), "1 < 2");
    }

    #[test]
    fn meta_charset_is_honoured() {
        let html = "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=Shift_JIS\"></head><body>社外秘</body></html>";
        let (bytes, _, _) = SHIFT_JIS.encode(html);
        assert_eq!(meta_charset(&bytes), Some(SHIFT_JIS));
        assert!(html_bytes_to_text(&bytes, UTF_8).contains("社外秘"));
        let html5 = b"<meta charset=\"euc-jp\">";
        assert_eq!(meta_charset(html5), Some(encoding_rs::EUC_JP));
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            let _ = html_to_text(&s);
        }

        #[test]
        fn plain_text_without_markup_passes_through(s in "[^<&]{0,200}") {
            prop_assert_eq!(html_to_text(&s), s);
        }
    }
}
