//! What the journal records about a message besides findings: its subject and its attachments'
//! names, sizes and types, decoded by `mail-parser` (RFC 2047 and RFC 2231 names, ISO-2022-JP).
//! The content itself is inspected by the gateway's extractor, not here.

use mail_parser::{MessageParser, MimeHeaders};

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
    /// Attachments past [`MAX_ATTACHMENTS`].
    pub more: usize,
}

/// Summarises a raw message. Never fails: what does not parse is left out. A panic inside the
/// parser is caught and gives an empty summary.
pub fn summarize(raw: &[u8]) -> Summary {
    std::panic::catch_unwind(|| summarize_inner(raw)).unwrap_or_default()
}

fn summarize_inner(raw: &[u8]) -> Summary {
    let Some(message) = MessageParser::default().parse(raw) else {
        return Summary::default();
    };
    let mut summary = Summary {
        subject: message.subject().map(clean),
        ..Summary::default()
    };
    for (index, part) in message.attachments().enumerate() {
        if summary.attachments.len() >= MAX_ATTACHMENTS {
            summary.more += 1;
            continue;
        }
        let name = part
            .attachment_name()
            .map(clean)
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("attachment {}", index + 1));
        let content_type = part.content_type().map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        });
        summary.attachments.push(Attachment {
            name,
            size: part.len() as u64,
            content_type,
        });
    }
    summary
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
        assert_eq!(s.attachments[1].name, "attachment 2");
    }

    #[test]
    fn garbage_gives_an_empty_summary() {
        assert_eq!(summarize(b""), Summary::default());
        let s = summarize(b"\xff\xfe\x00 not a mail");
        assert!(s.attachments.is_empty());
    }
}
