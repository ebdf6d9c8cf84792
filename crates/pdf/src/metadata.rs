//! Document metadata: the Info dictionary and the XMP packet of the catalog.
//!
//! XMP is read by a small scanner rather than an XML crate: only element text and the
//! attributes of `rdf:Description` are wanted, the packet is already capped by the stream
//! limits, and a scanner that never fails suits hostile input.

use lopdf::{Document, Object};

use crate::PdfError;
use crate::encodings::decode_text_string;
use crate::filters::{self, Budget, DecodeError};

/// Most metadata entries kept from one document.
const MAX_ENTRIES: usize = 1024;
/// Longest metadata value kept, in characters.
const MAX_VALUE_CHARS: usize = 64 * 1024;

/// Reads the Info dictionary and the XMP packet.
pub(crate) fn read(doc: &Document, budget: &mut Budget) -> Result<Vec<(String, String)>, PdfError> {
    let mut entries = Vec::new();
    if let Some(Object::Dictionary(info)) = doc
        .trailer
        .get(b"Info")
        .ok()
        .map(|o| filters::resolve(doc, o))
    {
        for (key, value) in info.iter() {
            let text = match filters::resolve(doc, value) {
                Object::String(bytes, _) => decode_text_string(bytes),
                Object::Name(name) => String::from_utf8_lossy(name).into_owned(),
                _ => continue,
            };
            push(
                &mut entries,
                String::from_utf8_lossy(key).into_owned(),
                text,
            );
        }
    }
    outline_titles(doc, &mut entries);
    let xmp = doc
        .catalog()
        .ok()
        .and_then(|catalog| catalog.get(b"Metadata").ok())
        .map(|o| filters::resolve(doc, o));
    if let Some(Object::Stream(stream)) = xmp {
        match filters::decode_stream(stream, doc, budget) {
            Ok(data) => {
                for (key, value) in xmp_entries(&String::from_utf8_lossy(&data)) {
                    push(&mut entries, key, value);
                }
            }
            Err(DecodeError::Fatal(error)) => return Err(error),
            Err(DecodeError::Unsupported) => {}
        }
    }
    Ok(entries)
}

/// Most bookmarks read.
const MAX_OUTLINE_ITEMS: usize = 10_000;

/// Bookmark titles, as `("Outline", title)` entries, in document order.
fn outline_titles(doc: &Document, entries: &mut Vec<(String, String)>) {
    let Some(Object::Dictionary(outlines)) = doc
        .catalog()
        .ok()
        .and_then(|catalog| catalog.get(b"Outlines").ok())
        .map(|o| filters::resolve(doc, o))
    else {
        return;
    };
    let mut seen = std::collections::HashSet::new();
    // Items still to visit, the last to visit first.
    let mut stack: Vec<&Object> = outlines.get(b"First").ok().into_iter().collect();
    while let Some(item) = stack.pop() {
        if seen.len() >= MAX_OUTLINE_ITEMS {
            break;
        }
        if let Object::Reference(id) = item
            && !seen.insert(*id)
        {
            continue;
        }
        let Object::Dictionary(item) = filters::resolve(doc, item) else {
            continue;
        };
        if let Some(Object::String(bytes, _)) =
            item.get(b"Title").ok().map(|o| filters::resolve(doc, o))
        {
            push(entries, "Outline".to_owned(), decode_text_string(bytes));
        }
        // Depth first: children before the next sibling.
        if let Ok(next) = item.get(b"Next") {
            stack.push(next);
        }
        if let Ok(first) = item.get(b"First") {
            stack.push(first);
        }
    }
}

fn push(entries: &mut Vec<(String, String)>, key: String, value: String) {
    let value = value.trim();
    if value.is_empty() || entries.len() >= MAX_ENTRIES {
        return;
    }
    let value: String = value.chars().take(MAX_VALUE_CHARS).collect();
    if !entries.iter().any(|(k, v)| *k == key && *v == value) {
        entries.push((key, value));
    }
}

/// Replaces the five XML entities and numeric character references.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        // Looked for in bytes: a 12-byte cut could fall inside a multi-byte character.
        let Some(semi) = rest.bytes().take(12).position(|b| b == b';') else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let replacement = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match replacement {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The text-bearing entries of an XMP packet: the text of elements (named after the nearest
/// enclosing element outside the `rdf:` and `x:` namespaces, so `dc:title/rdf:Alt/rdf:li`
/// is `dc:title`) and the attributes of `rdf:Description` (short-form properties).
pub(crate) fn xmp_entries(xml: &str) -> Vec<(String, String)> {
    let mut entries = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut rest = xml;
    while let Some(lt) = rest.find('<') {
        let text = &rest[..lt];
        if !text.trim().is_empty()
            && let Some(owner) = stack
                .iter()
                .rev()
                .find(|n| !n.starts_with("rdf:") && !n.starts_with("x:"))
        {
            entries.push((owner.clone(), unescape(text.trim())));
        }
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
            continue;
        }
        if let Some(after) = rest.strip_prefix("<![CDATA[") {
            let end = after.find("]]>").unwrap_or(after.len());
            if let Some(owner) = stack
                .iter()
                .rev()
                .find(|n| !n.starts_with("rdf:") && !n.starts_with("x:"))
                && !after[..end].trim().is_empty()
            {
                entries.push((owner.clone(), after[..end].trim().to_owned()));
            }
            rest = after.get(end + 3..).unwrap_or("");
            continue;
        }
        let Some(gt) = rest.find('>') else { break };
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let name = name.trim();
            if let Some(pos) = stack.iter().rposition(|n| n == name) {
                stack.truncate(pos);
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let name_end = tag.find(|c: char| c.is_whitespace()).unwrap_or(tag.len());
        let name = &tag[..name_end];
        if name == "rdf:Description" || name.starts_with("rdf:") {
            for (key, value) in attributes(&tag[name_end..]) {
                if !key.starts_with("xmlns") && !key.starts_with("rdf:") && !key.starts_with("xml:")
                {
                    entries.push((key.to_owned(), unescape(value)));
                }
            }
        }
        if !self_closing && stack.len() < 64 {
            stack.push(name.to_owned());
        }
    }
    entries
}

/// The text of an XML or XHTML fragment (rich-text annotation contents), tags removed.
pub(crate) fn strip_tags(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        match rest[lt..].find('>') {
            Some(gt) => {
                out.push(' ');
                rest = &rest[lt + gt + 1..];
            }
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    unescape(&out)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `key="value"` and `key='value'` pairs of a tag.
fn attributes(mut text: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    loop {
        text = text.trim_start();
        let Some(eq) = text.find('=') else { break };
        let key = text[..eq].trim();
        let after = text[eq + 1..].trim_start();
        let Some(quote) = after.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            break;
        };
        let Some(end) = after[1..].find(quote) else {
            break;
        };
        out.push((key, &after[1..1 + end]));
        text = &after[end + 2..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const XMP: &str = r#"<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:pdf="http://ns.adobe.com/pdf/1.3/" pdf:Producer="Mamori &amp; Co">
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">社外秘 計画書</rdf:li></rdf:Alt></dc:title>
   <dc:creator><rdf:Seq><rdf:li>山田 太郎</rdf:li><rdf:li>&#x9234;木</rdf:li></rdf:Seq></dc:creator>
   <!-- <dc:rights>hidden comment</dc:rights> -->
   <pdf:Keywords><![CDATA[極秘, plan]]></pdf:Keywords>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"#;

    #[test]
    fn xmp_titles_creators_and_short_form_attributes() {
        let entries = xmp_entries(XMP);
        let get = |k: &str| {
            entries
                .iter()
                .filter(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(get("dc:title"), ["社外秘 計画書"]);
        assert_eq!(get("dc:creator"), ["山田 太郎", "鈴木"]);
        assert_eq!(get("pdf:Producer"), ["Mamori & Co"]);
        assert_eq!(get("pdf:Keywords"), ["極秘, plan"]);
        assert!(get("dc:rights").is_empty());
        assert!(
            entries
                .iter()
                .all(|(k, _)| !k.starts_with("xmlns") && k != "rdf:about")
        );
    }

    #[test]
    fn rich_text_keeps_only_text() {
        assert_eq!(
            strip_tags("<body><p>社外秘 <b>draft</b></p><p>&amp; more</p></body>"),
            "社外秘 draft & more"
        );
        assert_eq!(strip_tags("plain <unclosed"), "plain");
    }

    #[test]
    fn unescape_handles_unknown_and_broken_entities() {
        assert_eq!(
            unescape("a &lt;b&gt; &#31038; &bogus; & x"),
            "a <b> 社 &bogus; & x"
        );
        // Found by the fuzzer: an ampersand followed by multi-byte text without a semicolon.
        assert_eq!(unescape("&\">極秘 計画"), "&\">極秘 計画");
    }

    #[test]
    fn broken_xml_never_panics() {
        for text in [
            "<",
            "<a",
            "<a b='",
            "<![CDATA[x",
            "<!--",
            "</>",
            "<rdf:Description a=\"1\" b=",
            "text<a>\u{3042}",
        ] {
            let _ = xmp_entries(text);
        }
    }
}
