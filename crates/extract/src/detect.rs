//! Content type detection from the bytes themselves, never from a file name.
//!
//! Magic numbers first (PDF, zip, gzip, tar, OLE compound files, images...), then the contents
//! of zip and compound files (OOXML `[Content_Types].xml` and main part, ODF `mimetype`, an
//! `EncryptedPackage` stream), then text: its encoding, and whether it is HTML, RTF or mail.

use std::io::Cursor;

use encoding_rs::Encoding;

use crate::run::guarded;
use crate::text;

/// What some content is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContentKind {
    /// Plain text in the given encoding.
    Text(&'static Encoding),
    /// HTML (or XHTML) in the given encoding (before any `<meta charset>`).
    Html(&'static Encoding),
    /// An RFC 5322 mail message (`.eml`).
    Mail,
    /// Rich Text Format.
    Rtf,
    /// PDF.
    Pdf,
    /// A zip archive that is no known document format.
    Zip,
    /// Word (OOXML).
    Docx,
    /// Excel (OOXML).
    Xlsx,
    /// PowerPoint (OOXML).
    Pptx,
    /// Another OOXML package (Visio, XPS...).
    Ooxml,
    /// OpenDocument text.
    Odt,
    /// OpenDocument spreadsheet.
    Ods,
    /// OpenDocument presentation.
    Odp,
    /// Another OpenDocument package, or EPUB.
    Odf,
    /// gzip.
    Gzip,
    /// tar.
    Tar,
    /// An encrypted Office document (an OLE compound file holding an `EncryptedPackage`).
    EncryptedOffice,
    /// Excel 97-2003 (`.xls`).
    Xls,
    /// Word 97-2003 (`.doc`).
    Doc,
    /// PowerPoint 97-2003 (`.ppt`).
    Ppt,
    /// Another OLE compound file (an embedded object, an Outlook `.msg`...).
    Cfb,
    /// An archive or compression format Mamori cannot open; the MIME type.
    UnsupportedArchive(&'static str),
    /// A known binary format with no text (images, media, executables); the MIME type.
    Binary(&'static str),
    /// Bytes that are neither text nor a known format.
    Unknown,
}

impl ContentKind {
    /// The MIME type, with the charset for text.
    pub fn content_type(self) -> String {
        let fixed = match self {
            ContentKind::Text(e) => return text::content_type("text/plain", e),
            ContentKind::Html(e) => return text::content_type("text/html", e),
            ContentKind::Mail => "message/rfc822",
            ContentKind::Rtf => "application/rtf",
            ContentKind::Pdf => "application/pdf",
            ContentKind::Zip => "application/zip",
            ContentKind::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
            ContentKind::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
            ContentKind::Pptx => {
                "application/vnd.openxmlformats-officedocument.presentationml.presentation"
            }
            ContentKind::Ooxml => "application/x-ooxml",
            ContentKind::Odt => "application/vnd.oasis.opendocument.text",
            ContentKind::Ods => "application/vnd.oasis.opendocument.spreadsheet",
            ContentKind::Odp => "application/vnd.oasis.opendocument.presentation",
            ContentKind::Odf => "application/vnd.oasis.opendocument",
            ContentKind::Gzip => "application/gzip",
            ContentKind::Tar => "application/x-tar",
            ContentKind::EncryptedOffice => "application/x-ms-office-encrypted",
            ContentKind::Xls => "application/vnd.ms-excel",
            ContentKind::Doc => "application/msword",
            ContentKind::Ppt => "application/vnd.ms-powerpoint",
            ContentKind::Cfb => "application/x-ole-storage",
            ContentKind::UnsupportedArchive(mime) | ContentKind::Binary(mime) => mime,
            ContentKind::Unknown => "application/octet-stream",
        };
        fixed.to_owned()
    }

    /// True for formats that hold other content, which count against the nesting limit.
    pub fn is_container(self) -> bool {
        matches!(
            self,
            ContentKind::Mail
                | ContentKind::Zip
                | ContentKind::Docx
                | ContentKind::Xlsx
                | ContentKind::Pptx
                | ContentKind::Ooxml
                | ContentKind::Odt
                | ContentKind::Ods
                | ContentKind::Odp
                | ContentKind::Odf
                | ContentKind::Gzip
                | ContentKind::Tar
                | ContentKind::Xls
                | ContentKind::Doc
                | ContentKind::Ppt
                | ContentKind::Cfb
        )
    }
}

const OLE_MAGIC: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";

/// Detects the kind of `bytes`, the whole content.
///
/// ```
/// use mamori_extract::detect::{detect, ContentKind};
/// assert_eq!(detect(b"%PDF-1.7\n..."), ContentKind::Pdf);
/// assert_eq!(detect("社外秘".as_bytes()), ContentKind::Text(encoding_rs::UTF_8));
/// assert_eq!(detect(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), ContentKind::Binary("image/png"));
/// ```
pub fn detect(bytes: &[u8]) -> ContentKind {
    detect_with_text(bytes).0
}

/// [`detect`], and for plain UTF-8 text no longer than the encoding sniff's sample, the text
/// the sniff already validated.
pub(crate) fn detect_with_text(bytes: &[u8]) -> (ContentKind, Option<&str>) {
    match detect_magic(bytes) {
        Magic::Zip => (zip_kind(bytes), None),
        Magic::Ole => (ole_kind(bytes), None),
        Magic::Known(kind) => (kind, None),
        Magic::None => {
            let (kind, text) = detect_text_and_validated(bytes, true);
            let whole = text.filter(|t| t.len() == bytes.len());
            match kind {
                ContentKind::Text(_) => (kind, whole),
                _ => (kind, None),
            }
        }
    }
}

/// Detects the kind from the first bytes of a larger content: zip and OLE files are reported
/// as [`ContentKind::Zip`] and [`ContentKind::Cfb`] (their contents need the whole file).
pub(crate) fn detect_prefix(sample: &[u8]) -> ContentKind {
    match detect_magic(sample) {
        Magic::Zip => ContentKind::Zip,
        Magic::Ole => ContentKind::Cfb,
        Magic::Known(kind) => kind,
        Magic::None => detect_text(sample, false),
    }
}

enum Magic {
    Zip,
    Ole,
    Known(ContentKind),
    None,
}

fn detect_magic(b: &[u8]) -> Magic {
    let starts = |m: &[u8]| b.starts_with(m);
    if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") || starts(b"PK\x07\x08") {
        return Magic::Zip;
    }
    if starts(OLE_MAGIC) {
        return Magic::Ole;
    }
    let kind = if b[..b.len().min(1024)].windows(5).any(|w| w == b"%PDF-") {
        ContentKind::Pdf
    } else if starts(b"\x1f\x8b") {
        ContentKind::Gzip
    } else if b.len() >= 262 && &b[257..262] == b"ustar" {
        ContentKind::Tar
    } else if starts(b"{\\rtf") {
        ContentKind::Rtf
    } else if starts(b"7z\xBC\xAF\x27\x1C") {
        ContentKind::UnsupportedArchive("application/x-7z-compressed")
    } else if starts(b"Rar!\x1a\x07") {
        ContentKind::UnsupportedArchive("application/vnd.rar")
    } else if starts(b"\xFD7zXZ\0") {
        ContentKind::UnsupportedArchive("application/x-xz")
    } else if starts(b"BZh") && b.len() > 3 && b[3].is_ascii_digit() {
        ContentKind::UnsupportedArchive("application/x-bzip2")
    } else if starts(b"\x28\xB5\x2F\xFD") {
        ContentKind::UnsupportedArchive("application/zstd")
    } else if starts(b"MSCF") {
        ContentKind::UnsupportedArchive("application/vnd.ms-cab-compressed")
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        ContentKind::Binary("image/png")
    } else if starts(b"\xFF\xD8\xFF") {
        ContentKind::Binary("image/jpeg")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        ContentKind::Binary("image/gif")
    } else if starts(b"RIFF") && b.len() >= 12 && &b[8..12] == b"WEBP" {
        ContentKind::Binary("image/webp")
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        ContentKind::Binary("image/tiff")
    } else if starts(b"\x7fELF") {
        ContentKind::Binary("application/x-executable")
    } else if starts(b"MZ") && b.len() >= 64 && b.contains(&0) {
        ContentKind::Binary("application/vnd.microsoft.portable-executable")
    } else if b.len() >= 12 && &b[4..8] == b"ftyp" {
        ContentKind::Binary("video/mp4")
    } else if starts(b"ID3") || starts(b"\xFF\xFB") {
        ContentKind::Binary("audio/mpeg")
    } else if starts(b"SQLite format 3\0") {
        ContentKind::Binary("application/vnd.sqlite3")
    } else {
        return Magic::None;
    };
    Magic::Known(kind)
}

/// Text, and which kind of text.
fn detect_text(sample: &[u8], complete: bool) -> ContentKind {
    detect_text_and_validated(sample, complete).0
}

/// [`detect_text`], and the sample as text when the sniff validated all of it as UTF-8.
fn detect_text_and_validated(sample: &[u8], complete: bool) -> (ContentKind, Option<&str>) {
    let (encoding, validated) = text::sniff_encoding_and_text(sample, complete);
    let Some(encoding) = encoding else {
        return (ContentKind::Unknown, None);
    };
    (detect_text_kind(sample, encoding), validated)
}

fn detect_text_kind(sample: &[u8], encoding: &'static encoding_rs::Encoding) -> ContentKind {
    let head = &sample[..sample.len().min(4096)];
    let head = text::decode(head, encoding);
    let trimmed = head.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    if looks_like_rtf(trimmed) {
        return ContentKind::Rtf;
    }
    if looks_like_html(trimmed) {
        return ContentKind::Html(encoding);
    }
    if looks_like_mail(trimmed) {
        return ContentKind::Mail;
    }
    ContentKind::Text(encoding)
}

fn looks_like_rtf(head: &str) -> bool {
    head.starts_with("{\\rtf")
}

fn looks_like_html(head: &str) -> bool {
    let start: String = head
        .chars()
        .take(512)
        .collect::<String>()
        .to_ascii_lowercase();
    let mut rest = start.as_str();
    // Skip an XML declaration and comments.
    loop {
        rest = rest.trim_start();
        if rest.starts_with("<?xml") || rest.starts_with("<!--") {
            let close = if rest.starts_with("<?") { "?>" } else { "-->" };
            match rest.find(close) {
                Some(i) => rest = &rest[i + close.len()..],
                None => return false,
            }
        } else {
            break;
        }
    }
    [
        "<!doctype html",
        "<html",
        "<head",
        "<body",
        "<meta ",
        "<title>",
    ]
    .iter()
    .any(|m| rest.starts_with(m))
}

/// A mail message starts with header fields, at least two of the usual ones, before a blank
/// line.
fn looks_like_mail(head: &str) -> bool {
    const FIELDS: [&str; 12] = [
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "received",
        "return-path",
        "content-type",
        "delivered-to",
        "cc",
        "reply-to",
    ];
    let mut known = 0;
    for (i, line) in head.lines().enumerate() {
        if line.is_empty() {
            break;
        }
        if i == 0 && line.starts_with("From ") {
            continue; // mbox separator
        }
        if line.starts_with([' ', '\t']) {
            continue; // folded header
        }
        let Some((name, _)) = line.split_once(':') else {
            return false;
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return false;
        }
        known += usize::from(FIELDS.contains(&name.to_ascii_lowercase().as_str()));
        if known >= 2 {
            return true;
        }
    }
    false
}

/// Names of a zip's entries, or `None` if it cannot be opened.
fn zip_kind(bytes: &[u8]) -> ContentKind {
    let Ok(Ok(mut archive)) = guarded(|| zip::ZipArchive::new(Cursor::new(bytes))) else {
        return ContentKind::Zip;
    };
    classify_zip(&mut archive)
}

/// Classifies an opened zip by its entries.
pub(crate) fn classify_zip(archive: &mut zip::ZipArchive<Cursor<&[u8]>>) -> ContentKind {
    let has = |name: &str| archive.index_for_name(name).is_some();
    if has("[Content_Types].xml") {
        return if has("word/document.xml") {
            ContentKind::Docx
        } else if has("xl/workbook.xml") {
            ContentKind::Xlsx
        } else if has("ppt/presentation.xml") {
            ContentKind::Pptx
        } else {
            ContentKind::Ooxml
        };
    }
    if let Some(index) = archive.index_for_name("mimetype") {
        let mime = guarded(|| -> Option<Vec<u8>> {
            use std::io::Read;
            let file = archive.by_index(index).ok()?;
            let mut out = Vec::new();
            file.take(200).read_to_end(&mut out).ok()?;
            Some(out)
        });
        if let Ok(Some(mime)) = mime {
            let mime = String::from_utf8_lossy(&mime);
            let mime = mime.trim();
            return match mime {
                "application/vnd.oasis.opendocument.text" => ContentKind::Odt,
                "application/vnd.oasis.opendocument.spreadsheet" => ContentKind::Ods,
                "application/vnd.oasis.opendocument.presentation" => ContentKind::Odp,
                m if m.starts_with("application/vnd.oasis.opendocument") => ContentKind::Odf,
                "application/epub+zip" => ContentKind::Odf,
                _ => ContentKind::Zip,
            };
        }
    }
    ContentKind::Zip
}

fn ole_kind(bytes: &[u8]) -> ContentKind {
    match guarded(|| cfb::CompoundFile::open(Cursor::new(bytes))) {
        Ok(Ok(file)) => classify_ole(&file),
        _ => ContentKind::Cfb,
    }
}

/// Classifies an opened compound file by its streams.
pub(crate) fn classify_ole<F>(file: &cfb::CompoundFile<F>) -> ContentKind {
    if file.is_stream("/EncryptedPackage") {
        ContentKind::EncryptedOffice
    } else if file.is_stream("/Workbook") || file.is_stream("/Book") {
        ContentKind::Xls
    } else if file.is_stream("/WordDocument") {
        ContentKind::Doc
    } else if file.is_stream("/PowerPoint Document") {
        ContentKind::Ppt
    } else {
        ContentKind::Cfb
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::{SHIFT_JIS, UTF_8};

    #[test]
    fn html_is_recognised_after_declarations_and_comments() {
        assert_eq!(detect(b"<!DOCTYPE html><p>x"), ContentKind::Html(UTF_8));
        assert_eq!(
            detect(b"  <?xml version=\"1.0\"?>\n<!-- c -->\n<html>"),
            ContentKind::Html(UTF_8)
        );
        assert_eq!(detect(b"<HTML><BODY>x"), ContentKind::Html(UTF_8));
        assert_eq!(detect(b"<note>x</note>"), ContentKind::Text(UTF_8));
    }

    #[test]
    fn mail_needs_two_known_header_fields() {
        assert_eq!(
            detect(b"From: a@example.jp\r\nSubject: x\r\n\r\nbody"),
            ContentKind::Mail
        );
        assert_eq!(
            detect(b"Subject: only one\n\nbody"),
            ContentKind::Text(UTF_8)
        );
        assert_eq!(detect(b"Note: x\nTo do: y\n"), ContentKind::Text(UTF_8));
    }

    #[test]
    fn magic_numbers() {
        assert_eq!(detect(b"{\\rtf1\\ansi x}"), ContentKind::Rtf);
        assert_eq!(detect(b"\x1f\x8b\x08\0"), ContentKind::Gzip);
        assert_eq!(
            detect(b"7z\xBC\xAF\x27\x1C\0\x04"),
            ContentKind::UnsupportedArchive("application/x-7z-compressed")
        );
        assert_eq!(
            detect(b"\x7fELF\x02\x01\x01"),
            ContentKind::Binary("application/x-executable")
        );
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(detect(&tar), ContentKind::Tar);
        assert_eq!(detect(b"PK\x03\x04garbage"), ContentKind::Zip);
        assert_eq!(detect(OLE_MAGIC), ContentKind::Cfb);
    }

    #[test]
    fn shift_jis_text_keeps_its_encoding() {
        let (bytes, _, _) = SHIFT_JIS.encode("社外秘の資料です。関係者以外の閲覧を禁じます。");
        assert_eq!(detect(&bytes), ContentKind::Text(SHIFT_JIS));
        assert_eq!(
            detect(&bytes).content_type(),
            "text/plain; charset=Shift_JIS"
        );
    }
}
