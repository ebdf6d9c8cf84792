//! Streaming text extraction from XML parts (OOXML, ODF), with `quick-xml`: no DOM, one pass.
//!
//! A [`Rules`] value says which elements carry text, which end a paragraph, which stand for a
//! tab or a line break, which subtrees to skip and which attributes hold text. Runs of one
//! paragraph are concatenated with no separator, so `社外` + `秘` in two runs gives `社外秘`.

use std::borrow::Cow;

use encoding_rs::{UTF_8, UTF_16BE, UTF_16LE};
use quick_xml::Reader;
use quick_xml::events::{BytesRef, BytesStart, Event};

use crate::run::{Deadline, TimedOut};
use crate::text;

/// Which text nodes are kept.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Keep {
    /// Only text inside these elements (local names).
    Inside(&'static [&'static str]),
    /// Every text node.
    All,
}

/// How to read one kind of XML part.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    pub keep: Keep,
    /// Elements whose end starts a new line; `["*"]` for every element.
    pub paragraphs: &'static [&'static str],
    /// Elements that stand for a tab.
    pub tabs: &'static [&'static str],
    /// Elements that stand for a line break.
    pub breaks: &'static [&'static str],
    /// Elements that stand for spaces (ODF `text:s`, with a `c` count).
    pub spaces: &'static [&'static str],
    /// Subtrees skipped whole.
    pub skip: &'static [&'static str],
    /// `(element, attribute)` pairs whose values are text, each put on its own line;
    /// attribute `*` takes every attribute as `name=value`.
    pub attributes: &'static [(&'static str, &'static str)],
}

impl Rules {
    /// Every text node, one line per element: properties, custom XML, charts.
    pub(crate) const ALL: Rules = Rules {
        keep: Keep::All,
        paragraphs: &["*"],
        tabs: &[],
        breaks: &[],
        spaces: &[],
        skip: &[],
        attributes: &[],
    };
}

/// XML that could not be parsed to its end (the text before the damage is still returned).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum XmlError {
    /// Malformed XML.
    #[error("malformed XML at byte {position}: {message}")]
    Malformed {
        /// Byte offset of the problem in the (UTF-8) document.
        position: u64,
        /// What the parser said.
        message: String,
    },
    /// The time budget ran out.
    #[error("time budget ran out")]
    Timeout,
}

/// Decodes an XML document to UTF-8: BOM, then the declared encoding, else UTF-8.
pub(crate) fn decode_xml(bytes: &[u8]) -> Cow<'_, str> {
    if let Some((encoding, len)) = encoding_rs::Encoding::for_bom(bytes) {
        return encoding.decode_without_bom_handling(&bytes[len..]).0;
    }
    if bytes.starts_with(b"<\0?\0") {
        return UTF_16LE.decode_without_bom_handling(bytes).0;
    }
    if bytes.starts_with(b"\0<\0?") {
        return UTF_16BE.decode_without_bom_handling(bytes).0;
    }
    if bytes.starts_with(b"<?xml") {
        let decl_end = bytes.iter().take(200).position(|&b| b == b'>').unwrap_or(0);
        let decl = String::from_utf8_lossy(&bytes[..decl_end]);
        if let Some(i) = decl.find("encoding=") {
            let label: String = decl[i + 9..]
                .trim_start_matches(['"', '\''])
                .chars()
                .take_while(|c| !matches!(c, '"' | '\''))
                .collect();
            if let Some(encoding) = text::encoding_for_label(&label)
                && encoding != UTF_8
            {
                return encoding.decode_without_bom_handling(bytes).0;
            }
        }
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

pub(crate) fn reader(xml: &str) -> Reader<&[u8]> {
    let mut reader = Reader::from_str(xml);
    let config = reader.config_mut();
    config.check_end_names = false;
    config.allow_unmatched_ends = true;
    config.allow_dangling_amp = true;
    reader
}

/// Text of one entity or character reference.
pub(crate) fn push_ref(out: &mut String, reference: &BytesRef<'_>) {
    if let Ok(Some(c)) = reference.resolve_char_ref() {
        out.push(c);
        return;
    }
    match &**reference {
        "amp" => out.push('&'),
        "lt" => out.push('<'),
        "gt" => out.push('>'),
        "quot" => out.push('"'),
        "apos" => out.push('\''),
        other => {
            out.push('&');
            out.push_str(other);
            out.push(';');
        }
    }
}

fn named(list: &[&str], name: &str) -> bool {
    list.contains(&name)
}

/// Value of the attribute with this local name.
pub(crate) fn attribute(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .and_then(|a| {
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.into_owned())
        })
}

/// The relationship id of an element (`r:id`), told apart from a plain `id` attribute.
pub(crate) fn relationship_id(e: &BytesStart<'_>) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == "id" && a.key.prefix().is_some())
        .and_then(|a| {
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.into_owned())
        })
}

fn push_line(out: &mut String) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

/// Calls `tick` every so many events: the deadline is checked inside long loops.
pub(crate) const TICK_EVENTS: u32 = 4096;

/// Extracts the text of an XML document by `rules`.
pub(crate) fn extract(xml: &str, rules: &Rules, deadline: Deadline) -> (String, Option<XmlError>) {
    let mut out = String::new();
    let mut reader = reader(xml);
    let every = rules.paragraphs == ["*"];
    let mut keep_depth = 0usize;
    let mut events = 0u32;
    let keep = |depth: usize| matches!(rules.keep, Keep::All) || depth > 0;
    let in_keep_list = |name: &str| match rules.keep {
        Keep::Inside(list) => named(list, name),
        Keep::All => false,
    };
    loop {
        events += 1;
        if events.is_multiple_of(TICK_EVENTS) && deadline.expired() {
            return (out, Some(XmlError::Timeout));
        }
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => {
                let error = XmlError::Malformed {
                    position: reader.error_position(),
                    message: e.to_string(),
                };
                return (out, Some(error));
            }
        };
        match event {
            Event::Start(e) => {
                let local_name = e.local_name();
                let name: &str = local_name.as_ref();
                if named(rules.skip, name) {
                    if let Err(e) = reader.read_to_end(e.name()) {
                        let error = XmlError::Malformed {
                            position: reader.error_position(),
                            message: e.to_string(),
                        };
                        return (out, Some(error));
                    }
                    continue;
                }
                attributes(&e, name, rules, &mut out);
                if in_keep_list(name) {
                    keep_depth += 1;
                }
            }
            Event::Empty(e) => {
                let local_name = e.local_name();
                let name: &str = local_name.as_ref();
                attributes(&e, name, rules, &mut out);
                if named(rules.tabs, name) {
                    out.push('\t');
                } else if named(rules.breaks, name) {
                    out.push('\n');
                } else if named(rules.spaces, name) {
                    let count = attribute(&e, "c")
                        .and_then(|c| c.parse::<usize>().ok())
                        .unwrap_or(1);
                    out.extend(std::iter::repeat_n(' ', count.min(1024)));
                } else if every || named(rules.paragraphs, name) {
                    push_line(&mut out);
                }
            }
            Event::End(e) => {
                let local_name = e.local_name();
                let name: &str = local_name.as_ref();
                if in_keep_list(name) {
                    keep_depth = keep_depth.saturating_sub(1);
                }
                if every || named(rules.paragraphs, name) {
                    push_line(&mut out);
                }
            }
            Event::Text(t) if keep(keep_depth) => out.push_str(&t.xml10_content()),
            Event::CData(t) if keep(keep_depth) => {
                out.push_str(&t.into_inner());
            }
            Event::GeneralRef(r) if keep(keep_depth) => push_ref(&mut out, &r),
            Event::Eof => break,
            _ => {}
        }
    }
    (out, None)
}

fn attributes(e: &BytesStart<'_>, name: &str, rules: &Rules, out: &mut String) {
    if rules.attributes.is_empty() {
        return;
    }
    for &(element, attr) in rules.attributes {
        if element != name {
            continue;
        }
        if attr == "*" {
            let mut line = String::new();
            for a in e.attributes().flatten() {
                if let Ok(v) = a.normalized_value(quick_xml::XmlVersion::Implicit1_0) {
                    if !line.is_empty() {
                        line.push(' ');
                    }
                    line.push_str(a.key.local_name().as_ref());
                    line.push('=');
                    line.push_str(&v);
                }
            }
            if !line.is_empty() {
                push_line(out);
                out.push_str(&line);
                out.push('\n');
            }
        } else if let Some(value) = attribute(e, attr)
            && !value.trim().is_empty()
        {
            push_line(out);
            out.push_str(&value);
            out.push('\n');
        }
    }
}

impl From<TimedOut> for XmlError {
    fn from(_: TimedOut) -> XmlError {
        XmlError::Timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORD: Rules = Rules {
        keep: Keep::Inside(&["t"]),
        paragraphs: &["p"],
        tabs: &["tab"],
        breaks: &["br"],
        spaces: &[],
        skip: &["pPr"],
        attributes: &[("textpath", "string")],
    };

    #[test]
    fn runs_join_and_paragraphs_split() {
        let xml = r#"<w:document xmlns:w="w"><w:body>
            <w:p><w:pPr><w:tabs><w:tab w:val="left"/></w:tabs></w:pPr>
            <w:r><w:t>社外</w:t></w:r><w:r><w:t>秘</w:t></w:r></w:p>
            <w:p><w:r><w:t>a</w:t><w:tab/><w:t>b</w:t><w:br/><w:t>&amp;&#x793E;</w:t></w:r></w:p>
            <w:p><w:pict><v:textpath string="極秘"/></w:pict></w:p>
            </w:body></w:document>"#;
        let (text, err) = extract(xml, &WORD, Deadline::never());
        assert!(err.is_none(), "{err:?}");
        assert_eq!(text, "社外秘\na\tb\n&社\n極秘\n");
    }

    #[test]
    fn all_mode_puts_elements_on_lines() {
        let xml = "<cp:coreProperties><dc:title>計画</dc:title><dc:creator>山田</dc:creator></cp:coreProperties>";
        let (text, _) = extract(xml, &Rules::ALL, Deadline::never());
        assert_eq!(text, "計画\n山田\n");
    }

    #[test]
    fn malformed_xml_keeps_the_text_before_the_damage() {
        let (text, err) = extract(
            "<a><t>社外秘</t><b attr=\"x></a>",
            &Rules::ALL,
            Deadline::never(),
        );
        assert!(text.contains("社外秘"));
        assert!(matches!(err, Some(XmlError::Malformed { .. })), "{err:?}");
    }

    #[test]
    fn declared_encodings_are_honoured() {
        let (sjis, _, _) = encoding_rs::SHIFT_JIS
            .encode("<?xml version=\"1.0\" encoding=\"Shift_JIS\"?><a>社外秘</a>");
        assert!(decode_xml(&sjis).contains("社外秘"));
        let utf16: Vec<u8> = "\u{feff}<a>秘</a>"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(decode_xml(&utf16), "<a>秘</a>");
    }
}
