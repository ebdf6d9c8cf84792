//! OLE compound files: Office 97-2003 documents (`.xls` with `calamine`, `.doc` and `.ppt` by
//! their text records), Outlook `.msg`, embedded OLE objects (`Package`, `Ole10Native`).
//!
//! The `.doc` and `.ppt` readers are written by hand: no maintained, permissively licensed
//! crate reads their text. They follow [MS-DOC] (the piece table) and [MS-PPT] (text atoms).

use std::io::{Cursor, Read};
use std::path::PathBuf;

use encoding_rs::{SHIFT_JIS, UTF_16LE, WINDOWS_1252};
use mamori_model::{Location, UninspectableReason};

use crate::detect::{ContentKind, classify_ole};
use crate::dispatch_inner;
use crate::ooxml::number_text;
use crate::run::{Halt, Run, guarded};

type Compound<'a> = cfb::CompoundFile<Cursor<&'a [u8]>>;

/// A spreadsheet with more cells than this in one sheet (first to last row, first to last
/// column) is refused before `calamine` would allocate it densely.
const MAX_XLS_CELLS: u64 = 4 << 20;

pub(crate) fn extract(
    run: &mut Run<'_>,
    bytes: &[u8],
    location: &Location,
    depth: usize,
) -> Result<(), Halt> {
    let mut file = match guarded(|| cfb::CompoundFile::open(Cursor::new(bytes))) {
        Ok(Ok(file)) => file,
        Ok(Err(error)) => {
            run.report(
                location,
                UninspectableReason::Corrupt(format!("OLE compound file: {error}")),
            );
            return Ok(());
        }
        Err(panic) => {
            run.report(
                location,
                UninspectableReason::ParserFailure(format!("cfb: {panic}")),
            );
            return Ok(());
        }
    };
    let streams: Vec<(PathBuf, u64)> = file
        .walk()
        .filter(|e| e.is_stream())
        .map(|e| (e.path().to_path_buf(), e.len()))
        .collect();
    match classify_ole(&file) {
        ContentKind::Xls => xls(run, bytes, &mut file, location)?,
        ContentKind::Doc => doc(run, &mut file, bytes.len(), location)?,
        ContentKind::Ppt => ppt(run, &mut file, bytes.len(), location)?,
        _ => {}
    }
    // Embedded objects, and Outlook message properties and attachments.
    let mut attachment = 0usize;
    for (path, len) in streams {
        run.tick(location)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let upper = name.to_ascii_uppercase();
        let embedded = matches!(name.as_str(), "Package" | "CONTENTS" | "\u{1}Ole10Native");
        let msg_text = upper.starts_with("__SUBSTG1.0_")
            && (upper.ends_with("001F") || upper.ends_with("001E"));
        let msg_attachment = upper == "__SUBSTG1.0_37010102";
        if !(embedded || msg_text || msg_attachment) || len == 0 {
            continue;
        }
        let Some(data) = read_stream(&mut file, &path, bytes.len()) else {
            continue;
        };
        if msg_text {
            let in_attachment = path.to_string_lossy().contains("__attach");
            if in_attachment {
                continue; // attachment names and MIME types
            }
            let text = if upper.ends_with("001F") {
                UTF_16LE.decode_without_bom_handling(&data).0
            } else {
                SHIFT_JIS.decode_without_bom_handling(&data).0
            };
            run.emit(location, text.trim_end_matches('\0'))?;
            continue;
        }
        let inner_location = if msg_attachment {
            attachment += 1;
            location.child(format!("attachment {attachment}"))
        } else {
            location.child(name.trim_start_matches('\u{1}'))
        };
        run.count_entry(&inner_location)?;
        let payload = if name == "\u{1}Ole10Native" {
            ole10_native(&data)
        } else {
            Some(&data[..])
        };
        if let Some(payload) = payload {
            dispatch_inner(run, payload, &inner_location, depth + 1)?;
        }
    }
    Ok(())
}

fn read_stream(file: &mut Compound<'_>, path: &std::path::Path, max: usize) -> Option<Vec<u8>> {
    guarded(|| {
        let stream = file.open_stream(path).ok()?;
        let mut out = Vec::new();
        stream.take(max as u64).read_to_end(&mut out).ok()?;
        Some(out)
    })
    .ok()
    .flatten()
}

/// The file inside an OLE1 `Ole10Native` stream: size, flags, label, path, reserved, command,
/// then the data with its length.
fn ole10_native(data: &[u8]) -> Option<&[u8]> {
    let mut at = 4 + 2; // total size, flags
    for _ in 0..2 {
        let end = data.get(at..)?.iter().position(|&b| b == 0)?;
        at += end + 1; // label, original path
    }
    at += 4; // reserved
    let command_len = u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?) as usize;
    at += 4 + command_len;
    let len = u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?) as usize;
    at += 4;
    data.get(at..at.checked_add(len)?)
}

fn le16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

fn le32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

/// Scans the BIFF records of a workbook stream: whether it is encrypted (FILEPASS), and the
/// largest sheet area its cells span.
fn xls_scan(stream: &[u8]) -> (bool, u64) {
    let mut at = 0usize;
    let mut largest = 0u64;
    let (mut min_row, mut max_row, mut min_col, mut max_col) = (u32::MAX, 0u32, u32::MAX, 0u32);
    let mut area = |min_row: u32, max_row: u32, min_col: u32, max_col: u32| {
        if min_row <= max_row && min_col <= max_col {
            let a = u64::from(max_row - min_row + 1) * u64::from(max_col - min_col + 1);
            largest = largest.max(a);
        }
    };
    while let (Some(kind), Some(len)) = (le16(stream, at), le16(stream, at + 2)) {
        let body = stream
            .get(at + 4..at + 4 + usize::from(len))
            .unwrap_or_default();
        match kind {
            0x002F => return (true, 0),
            0x0809 => {
                area(min_row, max_row, min_col, max_col);
                (min_row, max_row, min_col, max_col) = (u32::MAX, 0, u32::MAX, 0);
            }
            // Cell records start with row and column; MULRK/MULBLANK end with the last column.
            0x00FD | 0x0203 | 0x027E | 0x0204 | 0x0205 | 0x0006 | 0x0201 | 0x00D6 | 0x00BD
            | 0x00BE => {
                if let (Some(row), Some(col)) = (le16(body, 0), le16(body, 2)) {
                    let mut last_col = col;
                    if matches!(kind, 0x00BD | 0x00BE) && body.len() >= 6 {
                        last_col = le16(body, body.len() - 2).unwrap_or(col).max(col);
                    }
                    min_row = min_row.min(u32::from(row));
                    max_row = max_row.max(u32::from(row));
                    min_col = min_col.min(u32::from(col));
                    max_col = max_col.max(u32::from(last_col));
                }
            }
            _ => {}
        }
        at += 4 + usize::from(len);
    }
    area(min_row, max_row, min_col, max_col);
    (false, largest)
}

fn xls(
    run: &mut Run<'_>,
    bytes: &[u8],
    file: &mut Compound<'_>,
    location: &Location,
) -> Result<(), Halt> {
    let stream = read_stream(file, std::path::Path::new("/Workbook"), bytes.len())
        .or_else(|| read_stream(file, std::path::Path::new("/Book"), bytes.len()))
        .unwrap_or_default();
    let (encrypted, largest) = xls_scan(&stream);
    if encrypted {
        run.report(location, UninspectableReason::Encrypted);
        return Ok(());
    }
    if largest > MAX_XLS_CELLS {
        run.report(location, UninspectableReason::TooLarge);
        return Ok(());
    }
    let sheets = guarded(|| -> Result<Vec<(String, String)>, calamine::XlsError> {
        use calamine::Reader;
        let mut workbook = calamine::Xls::new(Cursor::new(bytes))?;
        let mut sheets = Vec::new();
        for name in workbook.sheet_names() {
            let range = workbook.worksheet_range(&name)?;
            let mut text = String::new();
            for row in range.rows() {
                let mut first = true;
                for cell in row {
                    let value = cell_text(cell);
                    if value.is_empty() {
                        continue;
                    }
                    if !first {
                        text.push('\t');
                    }
                    first = false;
                    text.push_str(&value);
                }
                if !first {
                    text.push('\n');
                }
            }
            sheets.push((name, text));
        }
        Ok(sheets)
    });
    match sheets {
        Ok(Ok(sheets)) => {
            for (name, text) in sheets {
                run.emit(&location.child(name), &text)?;
            }
        }
        Ok(Err(calamine::XlsError::Password)) => {
            run.report(location, UninspectableReason::Encrypted)
        }
        Ok(Err(error)) => run.report(
            location,
            UninspectableReason::Corrupt(format!("xls: {error}")),
        ),
        Err(panic) => run.report(
            location,
            UninspectableReason::ParserFailure(format!("calamine: {panic}")),
        ),
    }
    Ok(())
}

fn cell_text(cell: &calamine::Data) -> String {
    use calamine::Data;
    match cell {
        Data::Empty | Data::Error(_) => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Float(f) => number_text(&f.to_string()).into_owned(),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => d.as_f64().to_string(),
    }
}

/// Word 97-2003: the text of every piece of the piece table.
fn doc(
    run: &mut Run<'_>,
    file: &mut Compound<'_>,
    max: usize,
    location: &Location,
) -> Result<(), Halt> {
    let Some(word) = read_stream(file, std::path::Path::new("/WordDocument"), max) else {
        run.report(
            location,
            UninspectableReason::Corrupt("doc: no WordDocument stream".into()),
        );
        return Ok(());
    };
    let flags = le16(&word, 0x0A).unwrap_or(0);
    if flags & 0x0100 != 0 {
        run.report(location, UninspectableReason::Encrypted);
        return Ok(());
    }
    let table_name = if flags & 0x0200 != 0 {
        "/1Table"
    } else {
        "/0Table"
    };
    let table = read_stream(file, std::path::Path::new(table_name), max).unwrap_or_default();
    match doc_text(&word, &table) {
        Some(text) => run.emit(location, &text),
        None => {
            run.report(
                location,
                UninspectableReason::Corrupt("doc: unreadable piece table".into()),
            );
            Ok(())
        }
    }
}

/// The text of a `.doc` from its WordDocument and table streams.
fn doc_text(word: &[u8], table: &[u8]) -> Option<String> {
    if le16(word, 0)? != 0xA5EC {
        return None;
    }
    let fc_clx = le32(word, 0x01A2)? as usize;
    let lcb_clx = le32(word, 0x01A6)? as usize;
    let mut clx = table.get(fc_clx..fc_clx.checked_add(lcb_clx)?)?;
    // Skip Prc entries (formatting) to reach the Pcdt.
    while clx.first() == Some(&0x01) {
        let size = usize::from(le16(clx, 1)?);
        clx = clx.get(3 + size..)?;
    }
    if clx.first() != Some(&0x02) {
        return None;
    }
    let lcb = le32(clx, 1)? as usize;
    let plc = clx.get(5..5usize.checked_add(lcb)?)?;
    if plc.len() < 4 {
        return None;
    }
    let pieces = (plc.len() - 4) / 12;
    let mut out = String::new();
    for p in 0..pieces {
        let cp_start = le32(plc, p * 4)? as usize;
        let cp_end = le32(plc, (p + 1) * 4)? as usize;
        let count = cp_end.checked_sub(cp_start)?;
        let pcd = plc.get((pieces + 1) * 4 + p * 8..)?;
        let fc = le32(pcd, 2)?;
        let compressed = fc & 0x4000_0000 != 0;
        let fc = (fc & 0x3FFF_FFFF) as usize;
        let piece = if compressed {
            let start = fc / 2;
            let bytes = word.get(start..start.checked_add(count)?.min(word.len()))?;
            WINDOWS_1252.decode_without_bom_handling(bytes).0
        } else {
            let bytes = word.get(fc..fc.checked_add(count.checked_mul(2)?)?.min(word.len()))?;
            UTF_16LE.decode_without_bom_handling(bytes).0
        };
        out.extend(piece.chars().filter_map(|c| match c {
            '\r' | '\u{0b}' | '\u{0c}' => Some('\n'),
            '\u{07}' => Some('\t'),
            '\u{01}' | '\u{08}' | '\u{13}' | '\u{14}' | '\u{15}' => None,
            c => Some(c),
        }));
    }
    Some(out)
}

/// PowerPoint 97-2003: text atoms of the PowerPoint Document stream.
fn ppt(
    run: &mut Run<'_>,
    file: &mut Compound<'_>,
    max: usize,
    location: &Location,
) -> Result<(), Halt> {
    let Some(stream) = read_stream(file, std::path::Path::new("/PowerPoint Document"), max) else {
        return Ok(());
    };
    run.emit(location, &ppt_text(&stream))
}

fn ppt_text(stream: &[u8]) -> String {
    let mut out = String::new();
    let mut at = 0usize;
    while let (Some(ver_instance), Some(kind), Some(len)) =
        (le16(stream, at), le16(stream, at + 2), le32(stream, at + 4))
    {
        if ver_instance & 0x000F == 0x000F {
            at += 8; // a container: its children follow
            continue;
        }
        let end = (at + 8).saturating_add(len as usize).min(stream.len());
        let body = &stream[(at + 8).min(end)..end];
        match kind {
            0x0FA0 | 0x0FBA => out.push_str(&UTF_16LE.decode_without_bom_handling(body).0),
            0x0FA8 => out.push_str(&WINDOWS_1252.decode_without_bom_handling(body).0),
            _ => {}
        }
        if matches!(kind, 0x0FA0 | 0x0FBA | 0x0FA8) {
            out.push('\n');
        }
        at = end.max(at + 8);
    }
    out.replace('\r', "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppt_text_atoms() {
        let mut stream = Vec::new();
        // A container holding one TextCharsAtom and one TextBytesAtom.
        let chars: Vec<u8> = "社外秘".encode_utf16().flat_map(u16::to_le_bytes).collect();
        let inner_len = 8 + chars.len() + 8 + 2;
        stream.extend_from_slice(&0x000Fu16.to_le_bytes());
        stream.extend_from_slice(&0x0FF0u16.to_le_bytes());
        stream.extend_from_slice(&(inner_len as u32).to_le_bytes());
        stream.extend_from_slice(&0u16.to_le_bytes());
        stream.extend_from_slice(&0x0FA0u16.to_le_bytes());
        stream.extend_from_slice(&(chars.len() as u32).to_le_bytes());
        stream.extend_from_slice(&chars);
        stream.extend_from_slice(&0u16.to_le_bytes());
        stream.extend_from_slice(&0x0FA8u16.to_le_bytes());
        stream.extend_from_slice(&2u32.to_le_bytes());
        stream.extend_from_slice(b"ok");
        assert_eq!(ppt_text(&stream), "社外秘\nok\n");
        // Truncated records never panic.
        for cut in 0..stream.len() {
            let _ = ppt_text(&stream[..cut]);
        }
    }

    #[test]
    fn xls_scan_finds_filepass_and_area() {
        let record = |kind: u16, body: &[u8]| {
            let mut r = kind.to_le_bytes().to_vec();
            r.extend_from_slice(&(body.len() as u16).to_le_bytes());
            r.extend_from_slice(body);
            r
        };
        let mut stream = record(0x0809, &[0; 16]);
        stream.extend(record(0x0203, &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
        stream.extend(record(
            0x0203,
            &[0xFF, 0xFF, 0xFF, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ));
        let (encrypted, area) = xls_scan(&stream);
        assert!(!encrypted);
        assert_eq!(area, 65_536 * 256);
        stream.extend(record(0x002F, &[1, 0]));
        assert!(xls_scan(&stream).0);
    }

    #[test]
    fn ole10_native_payload() {
        let mut data = 0u32.to_le_bytes().to_vec();
        data.extend_from_slice(&2u16.to_le_bytes());
        data.extend_from_slice(b"a.txt\0C:\\a.txt\0");
        data.extend_from_slice(&0u32.to_le_bytes());
        data.extend_from_slice(&3u32.to_le_bytes());
        data.extend_from_slice(b"cmd");
        data.extend_from_slice(&3u32.to_le_bytes());
        data.extend_from_slice(b"abc");
        assert_eq!(ole10_native(&data), Some(&b"abc"[..]));
        assert_eq!(ole10_native(&data[..data.len() - 1]), None);
    }
}
