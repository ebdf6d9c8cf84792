//! Mail (`.eml`, MIME) with `mail-parser`: decoded headers, every text part, every attachment
//! extracted as content of its own (located by its decoded file name), nested messages.

use mail_parser::{Address, HeaderValue, Message, MessageParser, MimeHeaders, PartType};
use mamori_model::{Location, UninspectableReason};

use crate::dispatch_inner;
use crate::html::html_to_text;
use crate::run::{Halt, Run, guarded};

pub(crate) fn extract(
    run: &mut Run<'_>,
    bytes: &[u8],
    location: &Location,
    depth: usize,
) -> Result<(), Halt> {
    let parsed = guarded(|| MessageParser::default().parse(bytes));
    match parsed {
        Ok(Some(message)) => message_text(run, &message, location, depth),
        Ok(None) => {
            run.report(
                location,
                UninspectableReason::Corrupt("mail: not a message".into()),
            );
            Ok(())
        }
        Err(panic) => {
            run.report(
                location,
                UninspectableReason::ParserFailure(format!("mail-parser: {panic}")),
            );
            Ok(())
        }
    }
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

/// Headers a person reads (and labels such as `Sensitivity:`), decoded.
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

fn message_text(
    run: &mut Run<'_>,
    message: &Message<'_>,
    location: &Location,
    depth: usize,
) -> Result<(), Halt> {
    run.emit(&location.child("headers"), &headers_text(message))?;
    let mut bodies = 0usize;
    let mut unnamed = 0usize;
    for part in &message.parts {
        run.tick(location)?;
        let name = part.attachment_name().map(str::to_owned);
        match &part.body {
            PartType::Text(text) | PartType::Html(text) => {
                let part_location = match &name {
                    Some(name) => location.child(name.as_str()),
                    None => {
                        bodies += 1;
                        location.child(if bodies == 1 {
                            "body".to_owned()
                        } else {
                            format!("body {bodies}")
                        })
                    }
                };
                match &part.body {
                    PartType::Html(html) => run.emit(&part_location, &html_to_text(html))?,
                    _ => run.emit(&part_location, text)?,
                }
            }
            PartType::Binary(data) | PartType::InlineBinary(data) => {
                let part_location = location.child(name.unwrap_or_else(|| {
                    unnamed += 1;
                    format!("attachment {unnamed}")
                }));
                run.count_entry(&part_location)?;
                dispatch_inner(run, data, &part_location, depth + 1)?;
            }
            PartType::Message(inner) => {
                let part_location = location.child(name.unwrap_or_else(|| {
                    unnamed += 1;
                    format!("message {unnamed}")
                }));
                run.count_entry(&part_location)?;
                if depth + 1 >= run.limits.max_depth.min(crate::MAX_DEPTH_CEILING) {
                    run.report(&part_location, UninspectableReason::TooDeep);
                } else {
                    message_text(run, inner, &part_location, depth + 1)?;
                }
            }
            PartType::Multipart(_) => {}
        }
    }
    Ok(())
}
