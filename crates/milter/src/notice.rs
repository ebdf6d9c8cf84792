//! The notice mailed to the sender of a refused or held message, in Japanese and English.
//!
//! An SMTP reply is one line of ASCII, and the bounce an MTA writes from it says "550 5.7.1
//! Message refused by data-leak policy" in English only. The person who pressed "send" deserves
//! to know, in their language, what was stopped, why, and what to do: this module writes that
//! message. It is pure (the caller passes the time and sends the bytes with the MTA's
//! `sendmail`); only senders in the organisation's own mail domains get one, never outside
//! addresses (a notice to a forged outside sender would be backscatter).

use std::fmt::Write as _;

/// What happened to the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Refused (550 5.7.1): the recipients did not get it.
    Refused,
    /// Held in the MTA's queue for a reviewer.
    Held,
}

/// Everything the notice tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderNotice {
    /// The notice's `From:` (the security team's address).
    pub from: String,
    /// The sender told (the original envelope sender).
    pub to: String,
    /// The original message's subject, decoded.
    pub subject: Option<String>,
    /// The original recipients.
    pub recipients: Vec<String>,
    /// Refused or held.
    pub outcome: Outcome,
    /// The level's names (Japanese, English).
    pub level: (String, String),
    /// The policy's reason (Japanese, English).
    pub reason: (String, String),
    /// What was found, described for a person with counts (Japanese, English); never a
    /// secret itself.
    pub found: (Vec<String>, Vec<String>),
    /// The MTA's queue id.
    pub queue_id: Option<String>,
    /// The journal event that records the decision, for the security team.
    pub event_id: Option<String>,
    /// Notices to this sender held back since the last one (a burst of refusals).
    pub held_back: u32,
    /// When it happened, RFC 5322 date text (`Fri, 04 Dec 2026 16:40:00 +0900`).
    pub date: String,
    /// A unique part for the Message-ID (the caller's clock and counter).
    pub unique: String,
    /// The host name for the Message-ID.
    pub host: String,
}

/// Longest subject and list quoted in a notice, in characters (the notice is not a copy).
const MAX_QUOTED_CHARS: usize = 200;
/// Most recipients listed.
const MAX_RECIPIENTS: usize = 20;

impl SenderNotice {
    /// The whole message (headers and a base64 UTF-8 body), CRLF line ends, ready for
    /// `sendmail -i`.
    pub fn compose(&self) -> Vec<u8> {
        let subject = match self.outcome {
            Outcome::Refused => "【Mamori】メールの送信を停止しました / Your message was not sent",
            Outcome::Held => "【Mamori】メールを保留しました / Your message is held for review",
        };
        let mut head = String::new();
        let _ = write!(
            head,
            "From: Mamori <{}>\r\nTo: <{}>\r\nSubject: {}\r\nDate: {}\r\nMessage-ID: <mamori-notice.{}@{}>\r\n",
            header_safe(&self.from),
            header_safe(&self.to),
            encoded_word(subject),
            header_safe(&self.date),
            header_safe(&self.unique),
            header_safe(&self.host),
        );
        // RFC 3834: an automatic reply; well-behaved responders do not answer it.
        head.push_str("Auto-Submitted: auto-replied\r\n");
        head.push_str("X-Mamori-Notice: ");
        head.push_str(match self.outcome {
            Outcome::Refused => "refused",
            Outcome::Held => "held",
        });
        head.push_str("\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n");
        let body = self.body();
        let encoded = base64_lines(body.as_bytes());
        let mut out = head.into_bytes();
        out.extend_from_slice(encoded.as_bytes());
        out
    }

    /// The text of the notice, Japanese first.
    pub fn body(&self) -> String {
        let subject = self
            .subject
            .as_deref()
            .map(|s| quoted(s, MAX_QUOTED_CHARS))
            .unwrap_or_else(|| "(件名なし / no subject)".to_owned());
        let mut recipients: Vec<String> = self
            .recipients
            .iter()
            .take(MAX_RECIPIENTS)
            .map(|r| quoted(r, MAX_QUOTED_CHARS))
            .collect();
        if self.recipients.len() > MAX_RECIPIENTS {
            recipients.push(format!(
                "... ほか {n} 件 / {n} more",
                n = self.recipients.len() - MAX_RECIPIENTS
            ));
        }
        let recipients = recipients.join(", ");
        let list = |found: &[String], separator: &str| {
            if found.is_empty() {
                "-".to_owned()
            } else {
                quoted(&found.join(separator), MAX_QUOTED_CHARS * 2)
            }
        };
        let (found_ja, found_en) = (list(&self.found.0, "、"), list(&self.found.1, "; "));
        let reference = match (&self.queue_id, &self.event_id) {
            (Some(q), Some(e)) => format!("{} / {}", quoted(q, 64), quoted(e, 64)),
            (Some(q), None) => quoted(q, 64),
            (None, Some(e)) => quoted(e, 64),
            (None, None) => "-".to_owned(),
        };
        let (level_ja, level_en) = (quoted(&self.level.0, 64), quoted(&self.level.1, 64));
        let (reason_ja, reason_en) = (
            quoted(&self.reason.0, MAX_QUOTED_CHARS),
            quoted(&self.reason.1, MAX_QUOTED_CHARS),
        );
        let mut text = String::new();
        let (what_ja, what_en, next_ja, next_en) = match self.outcome {
            Outcome::Refused => (
                "次のメールは、情報漏えい防止ポリシーにより送信されませんでした。宛先には届いていません。",
                "The message below was refused by the data-leak prevention policy. It was not delivered.",
                "業務上どうしても必要な場合は、情報セキュリティ担当者に「参照番号」を添えてご相談ください。\r\n機密情報を含む部分を取り除けば、そのまま送り直すこともできます。",
                "If you need to send it for your work, contact your security team with the reference below.\r\nWithout the confidential content the message can be sent again.",
            ),
            Outcome::Held => (
                "次のメールは、情報漏えい防止ポリシーにより保留され、担当者の確認を待っています。",
                "The message below is held by the data-leak prevention policy until a reviewer releases or removes it.",
                "確認が終わるまで宛先には届きません。急ぐ場合は情報セキュリティ担当者に「参照番号」を添えてご連絡ください。",
                "It is not delivered until then. If it is urgent, contact your security team with the reference below.",
            ),
        };
        let _ = write!(
            text,
            "{what_ja}\r\n\r\n\
             件名: {subject}\r\n\
             宛先: {recipients}\r\n\
             日時: {date}\r\n\
             機密区分: {level_ja}\r\n\
             理由: {reason_ja}\r\n\
             検出: {found_ja}\r\n\
             参照番号: {reference}\r\n\r\n\
             {next_ja}\r\n",
            date = quoted(&self.date, 64),
        );
        if self.held_back > 0 {
            let _ = write!(
                text,
                "(この前に {} 件の通知を省略しました)\r\n",
                self.held_back
            );
        }
        text.push_str("\r\n----------------------------------------\r\n\r\n");
        let _ = write!(
            text,
            "{what_en}\r\n\r\n\
             Subject: {subject}\r\n\
             To: {recipients}\r\n\
             Date: {date}\r\n\
             Level: {level_en}\r\n\
             Reason: {reason_en}\r\n\
             Found: {found_en}\r\n\
             Reference: {reference}\r\n\r\n\
             {next_en}\r\n",
            date = quoted(&self.date, 64),
        );
        if self.held_back > 0 {
            let _ = write!(
                text,
                "({} earlier notices to you were not sent.)\r\n",
                self.held_back
            );
        }
        text.push_str("\r\n-- \r\nMamori (守り) data-leak prevention\r\n");
        text
    }
}

/// Text from the original message, made harmless in the notice: control characters (a
/// forged subject could carry line breaks) become spaces, and it is cut to `max` characters.
fn quoted(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

/// A header value with anything that could end the header removed.
fn header_safe(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() && *c != '<' && *c != '>')
        .take(256)
        .collect()
}

/// RFC 2047 `B` encoded words for a UTF-8 header, each at most 75 characters, folded.
fn encoded_word(text: &str) -> String {
    use base64::Engine as _;
    // 45 bytes of UTF-8 become 60 base64 characters: with "=?UTF-8?B?" and "?=", 72.
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(chunk);
    }
    words
        .iter()
        .map(|w| {
            format!(
                "=?UTF-8?B?{}?=",
                base64::engine::general_purpose::STANDARD.encode(w)
            )
        })
        .collect::<Vec<_>>()
        .join("\r\n ")
}

/// Base64 in lines of 76 characters (RFC 2045), CRLF ends.
fn base64_lines(bytes: &[u8]) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 38 + 2);
    for line in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> SenderNotice {
        SenderNotice {
            from: "mamori@example.co.jp".into(),
            to: "tanaka@example.co.jp".into(),
            subject: Some("見積書の件\r\nBcc: evil@example.com".into()),
            recipients: vec!["buyer@partner.example".into()],
            outcome: Outcome::Refused,
            level: ("社外秘".into(), "Confidential".into()),
            reason: (
                "社外秘の情報は社外に送信できません".into(),
                "Confidential content may not leave the company".into(),
            ),
            found: (
                vec!["「社外秘」の表示（2 件）".into()],
                vec!["the marking 社外秘 (2 times)".into()],
            ),
            queue_id: Some("4XyZ12".into()),
            event_id: Some("01a2-ev".into()),
            held_back: 0,
            date: "Fri, 04 Dec 2026 16:40:00 +0900".into(),
            unique: "1796401403.1".into(),
            host: "mx.example.co.jp".into(),
        }
    }

    /// Parses the notice with the same MIME parser the milter uses for incoming mail.
    fn parsed(bytes: &[u8]) -> (String, String, Vec<(String, String)>) {
        let message = mail_parser::MessageParser::default()
            .parse(bytes)
            .expect("a notice parses");
        let headers = message
            .headers()
            .iter()
            .map(|h| {
                (
                    h.name().to_owned(),
                    h.value().as_text().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        (
            message.subject().unwrap_or_default().to_owned(),
            message.body_text(0).unwrap_or_default().into_owned(),
            headers,
        )
    }

    #[test]
    fn a_refusal_notice_reads_in_japanese_then_english() {
        let (subject, body, headers) = parsed(&notice().compose());
        assert_eq!(
            subject,
            "【Mamori】メールの送信を停止しました / Your message was not sent"
        );
        let ja = body.find("送信されませんでした").expect("Japanese text");
        let en = body.find("was refused").expect("English text");
        assert!(ja < en, "Japanese first: {body}");
        for expected in [
            "件名: 見積書の件  Bcc: evil@example.com",
            "宛先: buyer@partner.example",
            "機密区分: 社外秘",
            "理由: 社外秘の情報は社外に送信できません",
            "検出: 「社外秘」の表示（2 件）",
            "Found: the marking 社外秘 (2 times)",
            "参照番号: 4XyZ12 / 01a2-ev",
            "Level: Confidential",
            "Reference: 4XyZ12 / 01a2-ev",
        ] {
            assert!(body.contains(expected), "{expected:?} in {body}");
        }
        // The forged line break in the subject stayed inside the body text.
        assert!(!headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("bcc")));
        assert!(
            headers
                .iter()
                .any(|(n, v)| n == "Auto-Submitted" && v == "auto-replied")
        );
        assert!(
            headers
                .iter()
                .any(|(n, v)| n == "X-Mamori-Notice" && v == "refused")
        );
    }

    #[test]
    fn a_held_notice_and_a_burst_say_so() {
        let mut n = notice();
        n.outcome = Outcome::Held;
        n.held_back = 3;
        let (subject, body, _) = parsed(&n.compose());
        assert!(subject.contains("保留"), "{subject}");
        assert!(body.contains("3 件の通知を省略"), "{body}");
        assert!(body.contains("3 earlier notices"), "{body}");
    }

    #[test]
    fn long_and_hostile_fields_are_cut_and_headers_stay_whole() {
        let mut n = notice();
        n.subject = Some("秘".repeat(10_000));
        n.recipients = (0..100).map(|i| format!("r{i}@partner.example")).collect();
        n.to = "x@example.co.jp>\r\nBcc: <evil@example.com".into();
        let bytes = n.compose();
        let (_, body, headers) = parsed(&bytes);
        assert!(body.chars().count() < 3_000, "{}", body.chars().count());
        assert!(body.contains("ほか 80 件 / 80 more"));
        assert!(!headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("bcc")));
        // Every header and body line is short (RFC 5322: at most 998).
        assert!(bytes.split(|b| *b == b'\n').all(|l| l.len() <= 998));
    }

    #[test]
    fn encoded_words_stay_under_76_characters() {
        let encoded = encoded_word(&"機密".repeat(40));
        for word in encoded.split("\r\n ") {
            assert!(word.len() <= 75, "{word}");
            assert!(word.starts_with("=?UTF-8?B?") && word.ends_with("?="));
        }
    }
}
