//! One parse of a message with `mail-parser` (RFC 2047 and RFC 2231 names, ISO-2022-JP and the
//! other legacy charsets decoded): its decoded header text, body texts, attachments and nested
//! messages handed one by one to a visitor (the binary inspects each with the gateway's
//! extractor, so every attachment gets its own level), and a [`Summary`] for the journal.

use mail_parser::{Address, HeaderValue, Message, MessageParser, MimeHeaders, PartType};

/// Attachments listed per message at most; the rest are counted in [`Summary::more`].
pub const MAX_ATTACHMENTS: usize = 1_000;

/// One attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Its decoded file name, or `attachment N` when it has none.
    pub name: String,
    /// Its decoded size in bytes.
    pub size: u64,
    /// Its MIME type (`application/pdf`), when declared.
    pub content_type: Option<String>,
}

/// The subject and attachments of a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// The decoded `Subject:`.
    pub subject: Option<String>,
    /// Attachments in order, at most [`MAX_ATTACHMENTS`].
    pub attachments: Vec<Attachment>,
    /// Parts past the limit, not visited nor listed.
    pub more: usize,
}

/// What a [`MailPart`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartKind {
    /// The message's decoded headers, as `Name: value` lines (UTF-8).
    Headers,
    /// A body text (UTF-8, decoded from its charset), plain or HTML.
    Body,
    /// An attachment, decoded from its transfer encoding.
    Attachment,
    /// A nested message (`message/rfc822`), raw.
    Message,
}

/// One part of a message, as [`walk`] hands it over.
#[derive(Debug)]
pub struct MailPart<'a> {
    /// What it is.
    pub kind: PartKind,
    /// `headers`, `body`, `body 2`..., an attachment's decoded name or `attachment N`.
    pub name: String,
    /// The declared MIME type, lower case.
    pub content_type: Option<String>,
    /// The decoded content.
    pub bytes: &'a [u8],
}

/// Summarises a raw message. Never fails: what does not parse is left out. A panic inside the
/// parser is caught and gives an empty summary.
pub fn summarize(raw: &[u8]) -> Summary {
    walk(raw, MAX_ATTACHMENTS, |_| ()).unwrap_or_default()
}

/// Parses `raw` once and calls `visit` for its decoded headers, each body text, each attachment
/// and each nested message, at most `max_parts` times. `None` when it is not a message (or the
/// parser panicked, which is caught): the caller then inspects the raw bytes whole.
pub fn walk(raw: &[u8], max_parts: usize, mut visit: impl FnMut(MailPart<'_>)) -> Option<Summary> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        walk_inner(raw, max_parts, &mut visit)
    }))
    .ok()
    .flatten()
}

fn walk_inner(
    raw: &[u8],
    max_parts: usize,
    visit: &mut dyn FnMut(MailPart<'_>),
) -> Option<Summary> {
    let message = MessageParser::default().parse(raw)?;
    let mut summary = Summary {
        subject: message.subject().map(clean),
        ..Summary::default()
    };
    let headers = headers_text(&message);
    let mut visited = 1usize;
    visit(MailPart {
        kind: PartKind::Headers,
        name: "headers".into(),
        content_type: None,
        bytes: headers.as_bytes(),
    });
    let (mut bodies, mut unnamed) = (0usize, 0usize);
    for part in &message.parts {
        if matches!(part.body, PartType::Multipart(_)) {
            continue;
        }
        if visited >= max_parts {
            summary.more += 1;
            continue;
        }
        visited += 1;
        let content_type = part.content_type().map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        });
        let name = part.attachment_name().map(clean).filter(|n| !n.is_empty());
        let (kind, name) = match (&part.body, name) {
            (PartType::Text(_) | PartType::Html(_), None) => {
                bodies += 1;
                let name = if bodies == 1 {
                    "body".to_owned()
                } else {
                    format!("body {bodies}")
                };
                (PartKind::Body, name)
            }
            (PartType::Message(_), name) => (
                PartKind::Message,
                name.unwrap_or_else(|| {
                    unnamed += 1;
                    format!("message {unnamed}")
                }),
            ),
            (_, name) => (
                PartKind::Attachment,
                name.unwrap_or_else(|| {
                    unnamed += 1;
                    format!("attachment {unnamed}")
                }),
            ),
        };
        let bytes = part.contents();
        if kind != PartKind::Body {
            if summary.attachments.len() < MAX_ATTACHMENTS {
                summary.attachments.push(Attachment {
                    name: name.clone(),
                    size: bytes.len() as u64,
                    content_type: content_type.clone(),
                });
            } else {
                summary.more += 1;
            }
        }
        visit(MailPart {
            kind,
            name,
            content_type,
            bytes,
        });
    }
    Some(summary)
}

fn push_address(out: &mut String, address: &Address<'_>) {
    let mut first = true;
    for addr in address.iter() {
        if !first {
            out.push_str(", ");
        }
        first = false;
        if let Some(name) = addr.name() {
            out.push_str(name);
            out.push(' ');
        }
        if let Some(email) = addr.address() {
            out.push('<');
            out.push_str(email);
            out.push('>');
        }
    }
}

/// The headers a person reads, decoded (RFC 2047), one per line; transport and structure
/// headers left out, as Mamori's extractor does for a whole message.
fn headers_text(message: &Message<'_>) -> String {
    let mut out = String::new();
    for header in message.headers() {
        let name = header.name.as_str();
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("content-") || lower.starts_with("dkim") || lower.starts_with("arc-") {
            continue;
        }
        match &header.value {
            HeaderValue::Text(text) => {
                out.push_str(name);
                out.push_str(": ");
                out.push_str(text);
            }
            HeaderValue::TextList(list) => {
                out.push_str(name);
                out.push_str(": ");
                out.push_str(&list.join(", "));
            }
            HeaderValue::Address(address) => {
                out.push_str(name);
                out.push_str(": ");
                push_address(&mut out, address);
            }
            _ => continue,
        }
        out.push('\n');
    }
    out
}

/// Control characters out, at most 1,000 characters.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(1_000)
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_and_encoded_attachment_names() {
        let raw = b"Subject: =?ISO-2022-JP?B?GyRCPFIzMEhrGyhC?=\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\
\r\n\
--b\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
hello\r\n\
--b\r\n\
Content-Type: application/pdf\r\n\
Content-Disposition: attachment; filename*=UTF-8''%E5%A0%B1%E5%91%8A.pdf\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
AAECAw==\r\n\
--b\r\n\
Content-Type: application/octet-stream\r\n\
Content-Disposition: attachment\r\n\
\r\n\
xyz\r\n\
--b--\r\n";
        let s = summarize(raw);
        assert_eq!(s.subject.as_deref(), Some("社外秘"));
        assert_eq!(s.attachments.len(), 2);
        assert_eq!(s.attachments[0].name, "報告.pdf");
        assert_eq!(s.attachments[0].size, 4);
        assert_eq!(
            s.attachments[0].content_type.as_deref(),
            Some("application/pdf")
        );
        assert_eq!(s.attachments[1].name, "attachment 1");
    }

    #[test]
    fn walk_visits_headers_bodies_and_attachments_decoded() {
        let raw = b"From: =?UTF-8?B?5bGx55Sw?= <a@example.co.jp>\r\n\
Subject: =?ISO-2022-JP?B?GyRCPFIzMEhrGyhC?=\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\
\r\n\
--b\r\n\
Content-Type: text/plain; charset=ISO-2022-JP\r\n\
\r\n\
\x1b$B8D?MHV9f\x1b(B\r\n\
--b\r\n\
Content-Type: application/zip\r\n\
Content-Disposition: attachment; filename=\"a.zip\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
UEsFBg==\r\n\
--b--\r\n";
        let mut seen = Vec::new();
        let summary = walk(raw, 100, |p| {
            seen.push((
                p.kind,
                p.name,
                String::from_utf8_lossy(p.bytes).into_owned(),
            ))
        })
        .unwrap();
        assert_eq!(seen[0].0, PartKind::Headers);
        assert!(
            seen[0].2.contains("From: 山田 <a@example.co.jp>"),
            "{}",
            seen[0].2
        );
        assert!(seen[0].2.contains("Subject: 社外秘"));
        assert_eq!(seen[1].0, PartKind::Body);
        assert_eq!(seen[1].2.trim(), "個人番号");
        assert_eq!(
            seen[2],
            (PartKind::Attachment, "a.zip".into(), "PK\x05\x06".into())
        );
        assert_eq!(summary.attachments.len(), 1);
        assert_eq!(summary.attachments[0].size, 4);

        // The part limit: headers count as one.
        let mut n = 0;
        let summary = walk(raw, 2, |_| n += 1).unwrap();
        assert_eq!(n, 2);
        assert_eq!(summary.more, 1);
    }

    #[test]
    fn garbage_gives_an_empty_summary() {
        assert_eq!(summarize(b""), Summary::default());
        let s = summarize(b"\xff\xfe\x00 not a mail");
        assert!(s.attachments.is_empty());
    }
}
