//! Containers: zip (and the zip-based document formats), tar, gzip.

use std::io::Cursor;

use mamori_model::{Location, UninspectableReason};

use crate::detect::{ContentKind, classify_zip};
use crate::limits::{self, read_capped};
use crate::run::{Halt, Run, guarded};
use crate::{dispatch_inner, odf, ooxml};

pub(crate) type Zip<'a> = zip::ZipArchive<Cursor<&'a [u8]>>;

/// Opens a zip archive, reporting a damaged one.
fn open_zip<'a>(
    run: &mut Run<'_>,
    bytes: &'a [u8],
    location: &Location,
) -> Result<Option<Zip<'a>>, Halt> {
    if let Some(declared) = declared_entries(bytes)
        && declared > run.entries_left()
    {
        // Refuse before the central directory is even parsed into memory.
        return Err(run.halt(location, UninspectableReason::TooManyEntries));
    }
    match guarded(|| zip::ZipArchive::new(Cursor::new(bytes))) {
        Ok(Ok(archive)) => Ok(Some(archive)),
        Ok(Err(error)) => {
            run.report(
                location,
                UninspectableReason::Corrupt(format!("zip: {error}")),
            );
            Ok(None)
        }
        Err(panic) => {
            run.report(
                location,
                UninspectableReason::ParserFailure(format!("zip: {panic}")),
            );
            Ok(None)
        }
    }
}

/// The entry count of a zip's end-of-central-directory record (not zip64), if one is found.
fn declared_entries(bytes: &[u8]) -> Option<usize> {
    let tail_start = bytes.len().saturating_sub(65_557);
    let tail = &bytes[tail_start..];
    let at = tail.windows(4).rposition(|w| w == b"PK\x05\x06")?;
    let record = tail.get(at..at + 22)?;
    let total = u16::from_le_bytes([record[10], record[11]]);
    (total != 0xFFFF).then_some(usize::from(total))
}

/// A zip entry's name: UTF-8 if it is, else CP932 (what Japanese Windows writes).
pub(crate) fn entry_name(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(name) => name.to_owned(),
        Err(_) => encoding_rs::SHIFT_JIS
            .decode_without_bom_handling(raw)
            .0
            .into_owned(),
    }
}

/// Reads one zip entry through the limits. `Ok(None)`: the entry was reported (encrypted,
/// damaged, a bomb) or is a directory; `Err(Halt)`: a global limit was hit.
pub(crate) fn read_entry(
    run: &mut Run<'_>,
    archive: &mut Zip<'_>,
    index: usize,
    location: &Location,
) -> Result<Option<Vec<u8>>, Halt> {
    run.tick(location)?;
    run.count_entry(location)?;
    let (encrypted, compressed, is_dir) = match archive.by_index_data(index) {
        Ok(entry) => (entry.encrypted(), entry.compressed_size(), entry.is_dir()),
        Err(error) => {
            run.report(
                location,
                UninspectableReason::Corrupt(format!("zip entry: {error}")),
            );
            return Ok(None);
        }
    };
    if is_dir {
        return Ok(None);
    }
    if encrypted {
        run.report(location, UninspectableReason::Encrypted);
        return Ok(None);
    }
    let cap = run.cap_for(compressed);
    let read = guarded(|| match archive.by_index(index) {
        Ok(file) => Ok(read_capped(file, cap)),
        Err(error) => Err(error),
    });
    match read {
        Ok(Ok((data, failure))) => {
            let usable = run.inflated(location, data.len(), failure, "zip entry")?;
            Ok(usable.then_some(data))
        }
        Ok(Err(zip::result::ZipError::UnsupportedArchive(what))) => {
            run.report(
                location,
                UninspectableReason::ParserFailure(format!("zip: {what}")),
            );
            Ok(None)
        }
        Ok(Err(error)) => {
            run.report(
                location,
                UninspectableReason::Corrupt(format!("zip entry: {error}")),
            );
            Ok(None)
        }
        Err(panic) => {
            run.report(
                location,
                UninspectableReason::ParserFailure(format!("zip: {panic}")),
            );
            Ok(None)
        }
    }
}

/// Names of every entry, by index.
pub(crate) fn names(archive: &Zip<'_>) -> Vec<String> {
    archive.file_names_raw().map(entry_name).collect::<Vec<_>>()
}

/// A zip, or a document format built on zip.
pub(crate) fn zip(
    run: &mut Run<'_>,
    bytes: &[u8],
    location: &Location,
    depth: usize,
) -> Result<(), Halt> {
    let Some(mut archive) = open_zip(run, bytes, location)? else {
        return Ok(());
    };
    match classify_zip(&mut archive) {
        kind @ (ContentKind::Docx | ContentKind::Xlsx | ContentKind::Pptx | ContentKind::Ooxml) => {
            ooxml::extract(run, &mut archive, kind, location, depth)
        }
        ContentKind::Odt | ContentKind::Ods | ContentKind::Odp | ContentKind::Odf => {
            odf::extract(run, &mut archive, location, depth)
        }
        _ => plain_zip(run, &mut archive, location, depth),
    }
}

/// A zip appended to other content (a picture, an executable: self-extracting archives and
/// polyglot files). Read if one opens; silence otherwise, since most binaries hold no zip.
pub(crate) fn appended_zip(
    run: &mut Run<'_>,
    bytes: &[u8],
    location: &Location,
    depth: usize,
) -> Result<(), Halt> {
    if declared_entries(bytes).is_none()
        || depth >= run.limits.max_depth.min(crate::MAX_DEPTH_CEILING)
    {
        return Ok(());
    }
    if matches!(
        guarded(|| zip::ZipArchive::new(Cursor::new(bytes)).is_ok()),
        Ok(true)
    ) {
        zip(run, bytes, location, depth)?;
    }
    Ok(())
}

fn plain_zip(
    run: &mut Run<'_>,
    archive: &mut Zip<'_>,
    location: &Location,
    depth: usize,
) -> Result<(), Halt> {
    let names = names(archive);
    for (index, name) in names.iter().enumerate() {
        let entry_location = location.child(name.as_str());
        if let Some(data) = read_entry(run, archive, index, &entry_location)? {
            dispatch_inner(run, &data, &entry_location, depth + 1)?;
        }
    }
    Ok(())
}

/// The original file name stored in a gzip header (FNAME), if any.
fn gzip_name(bytes: &[u8]) -> Option<String> {
    let flags = *bytes.get(3)?;
    if flags & 0x08 == 0 {
        return None;
    }
    let mut at = 10;
    if flags & 0x04 != 0 {
        let extra = u16::from_le_bytes([*bytes.get(10)?, *bytes.get(11)?]);
        at = 12 + usize::from(extra);
    }
    let rest = bytes.get(at..)?;
    let end = rest.iter().take(1024).position(|&b| b == 0)?;
    // RFC 1952 says ISO 8859-1; real tools write the local encoding. Take UTF-8 if it is.
    let raw = &rest[..end];
    Some(match std::str::from_utf8(raw) {
        Ok(s) => s.to_owned(),
        Err(_) => encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(raw)
            .0
            .into_owned(),
    })
}

pub(crate) fn gzip(
    run: &mut Run<'_>,
    bytes: &[u8],
    location: &Location,
    depth: usize,
) -> Result<(), Halt> {
    run.tick(location)?;
    let cap = run.cap_for(bytes.len() as u64);
    let (data, failure) = match guarded(|| limits::gunzip_capped(bytes, cap)) {
        Ok(result) => result,
        Err(panic) => {
            run.report(
                location,
                UninspectableReason::ParserFailure(format!("gzip: {panic}")),
            );
            return Ok(());
        }
    };
    let inner_location = match gzip_name(bytes) {
        Some(name) if !name.is_empty() => location.child(name),
        _ => location.clone(),
    };
    if run.inflated(location, data.len(), failure, "gzip")? {
        dispatch_inner(run, &data, &inner_location, depth + 1)?;
    }
    Ok(())
}

pub(crate) fn tar(
    run: &mut Run<'_>,
    bytes: &[u8],
    location: &Location,
    depth: usize,
) -> Result<(), Halt> {
    // List the members first (names and where their data lies in `bytes`), then read them: the
    // tar crate only parses headers, the data is sliced from memory without copying.
    let most = run.entries_left().saturating_add(1);
    let listed = guarded(|| {
        let mut members: Vec<(String, usize, usize)> = Vec::new();
        let mut archive = tar::Archive::new(bytes);
        let entries = match archive.entries() {
            Ok(entries) => entries,
            Err(error) => return (members, Some(error.to_string())),
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(error) => return (members, Some(error.to_string())),
            };
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = entry_name(&entry.path_bytes());
            let start = usize::try_from(entry.raw_file_position()).unwrap_or(usize::MAX);
            let len = usize::try_from(entry.size()).unwrap_or(usize::MAX);
            members.push((name, start, len));
            if members.len() >= most {
                break; // one past the limit: reading it reports the limit
            }
        }
        (members, None)
    });
    let (members, problem) = match listed {
        Ok(listed) => listed,
        Err(panic) => {
            run.report(
                location,
                UninspectableReason::ParserFailure(format!("tar: {panic}")),
            );
            return Ok(());
        }
    };
    for (name, start, len) in members {
        let member_location = location.child(name);
        run.tick(&member_location)?;
        run.count_entry(&member_location)?;
        let end = start.saturating_add(len);
        match bytes.get(start..end) {
            Some(data) => dispatch_inner(run, data, &member_location, depth + 1)?,
            None => {
                let data = bytes.get(start..).unwrap_or_default();
                run.report(
                    &member_location,
                    UninspectableReason::Corrupt("tar: truncated member".into()),
                );
                dispatch_inner(run, data, &member_location, depth + 1)?;
            }
        }
    }
    if let Some(problem) = problem {
        run.report(
            location,
            UninspectableReason::Corrupt(format!("tar: {problem}")),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_fall_back_to_cp932() {
        assert_eq!(entry_name("資料/社外秘.txt".as_bytes()), "資料/社外秘.txt");
        let (cp932, _, _) = encoding_rs::SHIFT_JIS.encode("資料/社外秘.txt");
        assert_eq!(entry_name(&cp932), "資料/社外秘.txt");
    }

    #[test]
    fn declared_entry_count_is_read_from_the_end_record() {
        let mut eocd = b"junk PK\x05\x06\0\0\0\0\x07\0\x07\0".to_vec();
        eocd.extend_from_slice(&[0u8; 10]);
        assert_eq!(declared_entries(&eocd), Some(7));
        let mut zip64 = b"PK\x05\x06\0\0\0\0\xff\xff\xff\xff".to_vec();
        zip64.extend_from_slice(&[0u8; 10]);
        assert_eq!(declared_entries(&zip64), None);
        assert_eq!(declared_entries(b"PK\x05\x06short"), None);
        assert_eq!(declared_entries(b""), None);
    }

    #[test]
    fn gzip_names_are_read_from_the_header() {
        let mut header = vec![0x1f, 0x8b, 8, 0x08, 0, 0, 0, 0, 0, 3];
        header.extend_from_slice(b"backup.tar\0");
        assert_eq!(gzip_name(&header).as_deref(), Some("backup.tar"));
        header[3] = 0;
        assert_eq!(gzip_name(&header), None);
        assert_eq!(
            gzip_name(&[0x1f, 0x8b, 8, 0x0c, 0, 0, 0, 0, 0, 3, 0xff, 0xff]),
            None
        );
    }
}
