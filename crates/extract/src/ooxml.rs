//! Office Open XML: DOCX, XLSX, PPTX (and other OOXML packages).
//!
//! Every part that can carry text is read, not only the main document: headers, footers,
//! footnotes, endnotes, comments, text boxes, tracked deletions, field codes, watermarks,
//! document properties, sensitivity labels, every sheet (hidden ones too, located by their
//! names), shared and inline strings, pivot caches, slides (with their numbers), notes, masters
//! and layouts, charts. Parts that are not XML (embedded objects) are extracted as content of
//! their own, one level deeper.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use mamori_model::{Location, UninspectableReason};
use quick_xml::events::Event;

use crate::archive::{Zip, names, read_entry};
use crate::detect::ContentKind;
use crate::dispatch_inner;
use crate::run::{Deadline, Halt, Run, guarded};
use crate::xml::{self, Keep, Rules, XmlError};

const WORD: Rules = Rules {
    keep: Keep::Inside(&["t", "delText", "instrText"]),
    paragraphs: &["p"],
    tabs: &["tab", "ptab"],
    breaks: &["br", "cr"],
    spaces: &[],
    skip: &["pPr", "Fallback"],
    attributes: &[
        ("textpath", "string"),
        ("docPr", "descr"),
        ("docPr", "title"),
        ("fldSimple", "instr"),
    ],
};

const DRAWING: Rules = Rules {
    keep: Keep::Inside(&["t", "text"]),
    paragraphs: &["p", "cm"],
    tabs: &["tab"],
    breaks: &["br"],
    spaces: &[],
    skip: &["pPr", "Fallback"],
    attributes: &[
        ("cNvPr", "descr"),
        ("cNvPr", "title"),
        ("textpath", "string"),
    ],
};

const XL_COMMENTS: Rules = Rules {
    keep: Keep::Inside(&["t", "text"]),
    paragraphs: &["comment", "threadedComment"],
    tabs: &[],
    breaks: &[],
    spaces: &[],
    skip: &["rPh"],
    attributes: &[],
};

const PIVOT_CACHE: Rules = Rules {
    keep: Keep::All,
    paragraphs: &["r", "cacheField"],
    tabs: &[],
    breaks: &[],
    spaces: &[],
    skip: &[],
    attributes: &[("s", "v"), ("n", "v"), ("cacheField", "name"), ("d", "v")],
};

const XL_TABLE: Rules = Rules {
    attributes: &[("tableColumn", "name"), ("table", "displayName")],
    ..Rules::ALL
};
const XL_WORKBOOK: Rules = Rules {
    attributes: &[("sheet", "name")],
    ..Rules::ALL
};
const CUSTOM_PROPERTIES: Rules = Rules {
    attributes: &[("property", "name")],
    ..Rules::ALL
};
const LABEL_INFO: Rules = Rules {
    attributes: &[("label", "*")],
    ..Rules::ALL
};

/// How one part of a package is read.
#[derive(Debug, Clone, Copy)]
enum PartKind {
    Xml(Rules),
    /// Not XML: an embedded object, a picture; read as content of its own.
    Blob,
    Skip,
}

fn classify(name: &str) -> PartKind {
    let lower = name.to_ascii_lowercase();
    let file = lower.rsplit('/').next().unwrap_or(&lower);
    let skipped_file = matches!(
        file,
        "[content_types].xml"
            | "styles.xml"
            | "styleswitheffects.xml"
            | "settings.xml"
            | "websettings.xml"
            | "fonttable.xml"
            | "numbering.xml"
            | "calcchain.xml"
            | "presprops.xml"
            | "viewprops.xml"
            | "tablestyles.xml"
            | "commentsextended.xml"
            | "commentsids.xml"
            | "commentsextensible.xml"
            | "people.xml"
            | "persons.xml"
    );
    if skipped_file
        || lower.ends_with(".rels")
        || lower.ends_with('/')
        || lower.contains("/theme/")
        || lower.contains("printersettings")
        || lower.ends_with(".vml")
        || lower.contains("/fonts/")
    {
        return PartKind::Skip;
    }
    if !lower.ends_with(".xml") {
        return PartKind::Blob;
    }
    let in_charts = lower.contains("/charts/") || lower.contains("/diagrams/");
    let rules = if lower == "docprops/custom.xml" {
        CUSTOM_PROPERTIES
    } else if lower.starts_with("docmetadata/") {
        LABEL_INFO
    } else if in_charts {
        Rules::ALL
    } else if lower.starts_with("word/") {
        WORD
    } else if lower.starts_with("ppt/") || lower.starts_with("xl/drawings/") {
        DRAWING
    } else if lower.starts_with("xl/comments") || lower.starts_with("xl/threadedcomments/") {
        XL_COMMENTS
    } else if lower.starts_with("xl/pivotcache/") {
        PIVOT_CACHE
    } else if lower.starts_with("xl/tables/") {
        XL_TABLE
    } else if lower == "xl/workbook.xml" {
        XL_WORKBOOK
    } else {
        Rules::ALL
    };
    PartKind::Xml(rules)
}

pub(crate) fn extract(
    run: &mut Run<'_>,
    archive: &mut Zip<'_>,
    kind: ContentKind,
    location: &Location,
    depth: usize,
) -> Result<(), Halt> {
    let names = names(archive);
    let index: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut done: HashSet<usize> = HashSet::new();
    let mut pages: HashMap<String, u32> = HashMap::new();

    match kind {
        ContentKind::Xlsx => spreadsheet(run, archive, &index, &mut done, location)?,
        ContentKind::Pptx => pages = slide_numbers(run, archive, &index, &mut done, location)?,
        _ => {}
    }

    // The main part first, so its text comes before headers and properties.
    let mut order: Vec<usize> = (0..names.len()).filter(|i| !done.contains(i)).collect();
    order.sort_by_key(|&i| {
        let n = names[i].as_str();
        (
            n != "word/document.xml" && !n.starts_with("ppt/slides/"),
            pages.get(n).copied().unwrap_or(0),
        )
    });
    for i in order {
        let name = names[i].as_str();
        let part_location = match pages.get(name) {
            Some(&page) => location.child(name).with_page(page),
            None => location.child(name),
        };
        match classify(name) {
            PartKind::Skip => {}
            PartKind::Xml(rules) => {
                let Some(data) = read_entry(run, archive, i, &part_location)? else {
                    continue;
                };
                xml_part(run, &data, &rules, &part_location)?;
            }
            PartKind::Blob => {
                if is_picture(archive, i) {
                    continue;
                }
                let Some(data) = read_entry(run, archive, i, &part_location)? else {
                    continue;
                };
                dispatch_inner(run, &data, &part_location, depth + 1)?;
            }
        }
    }
    Ok(())
}

/// Reads one XML part by `rules` and emits its text; damage is reported, the text before it
/// still emitted.
pub(crate) fn xml_part(
    run: &mut Run<'_>,
    data: &[u8],
    rules: &Rules,
    location: &Location,
) -> Result<(), Halt> {
    let decoded = xml::decode_xml(data);
    let (text, error) = xml::extract(&decoded, rules, run.deadline);
    run.emit(location, &text)?;
    xml_problem(run, error, location)
}

fn xml_problem(
    run: &mut Run<'_>,
    error: Option<XmlError>,
    location: &Location,
) -> Result<(), Halt> {
    match error {
        None => Ok(()),
        Some(XmlError::Timeout) => Err(run.halt(location, UninspectableReason::Timeout)),
        Some(error) => {
            run.report(location, UninspectableReason::Corrupt(error.to_string()));
            Ok(())
        }
    }
}

/// Pictures are skipped without inflating them whole: their first bytes are enough.
fn is_picture(archive: &mut Zip<'_>, index: usize) -> bool {
    let head = guarded(|| -> Option<Vec<u8>> {
        let file = archive.by_index(index).ok()?;
        let mut head = Vec::with_capacity(16);
        file.take(16).read_to_end(&mut head).ok()?;
        Some(head)
    });
    let Ok(Some(head)) = head else { return false };
    let h = head.as_slice();
    h.starts_with(b"\x89PNG")
        || h.starts_with(b"\xFF\xD8\xFF")
        || h.starts_with(b"GIF8")
        || h.starts_with(b"BM")
        || h.starts_with(b"II*\0")
        || h.starts_with(b"MM\0*")
        || h.starts_with(b"\x01\0\0\0") // EMF
        || h.starts_with(b"\xD7\xCD\xC6\x9A") // placeable WMF
        || (h.starts_with(b"RIFF") && h.get(8..12) == Some(b"WEBP"))
}

/// Reads a part by name, if the package has it.
fn read_named(
    run: &mut Run<'_>,
    archive: &mut Zip<'_>,
    index: &HashMap<&str, usize>,
    done: &mut HashSet<usize>,
    name: &str,
    location: &Location,
) -> Result<Option<Vec<u8>>, Halt> {
    let Some(&i) = index.get(name) else {
        return Ok(None);
    };
    done.insert(i);
    read_entry(run, archive, i, &location.child(name))
}

/// `Id` → `Target` of a relationships part, targets resolved against `base` (a folder).
fn relationships(xml: &str, base: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut reader = xml::reader(xml);
    while let Ok(event) = reader.read_event() {
        match event {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "Relationship" => {
                if let (Some(id), Some(target)) =
                    (xml::attribute(&e, "Id"), xml::attribute(&e, "Target"))
                {
                    out.insert(id, resolve(base, &target));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

/// A relationship target resolved to a package part name.
fn resolve(base: &str, target: &str) -> String {
    let mut parts: Vec<&str> = if let Some(absolute) = target.strip_prefix('/') {
        return absolute.to_owned();
    } else {
        base.split('/').filter(|s| !s.is_empty()).collect()
    };
    for segment in target.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

/// Slide part name → slide number, in presentation order.
fn slide_numbers(
    run: &mut Run<'_>,
    archive: &mut Zip<'_>,
    index: &HashMap<&str, usize>,
    done: &mut HashSet<usize>,
    location: &Location,
) -> Result<HashMap<String, u32>, Halt> {
    let mut pages = HashMap::new();
    let presentation = read_named(run, archive, index, done, "ppt/presentation.xml", location)?;
    let rels = read_named(
        run,
        archive,
        index,
        done,
        "ppt/_rels/presentation.xml.rels",
        location,
    )?;
    if let (Some(presentation), Some(rels)) = (presentation, rels) {
        let rels = relationships(&xml::decode_xml(&rels), "ppt");
        let decoded = xml::decode_xml(&presentation);
        let mut reader = xml::reader(&decoded);
        let mut number = 0u32;
        while let Ok(event) = reader.read_event() {
            match event {
                Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "sldId" => {
                    if let Some(target) = xml::relationship_id(&e).and_then(|id| rels.get(&id)) {
                        number += 1;
                        pages.insert(target.clone(), number);
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
    }
    if pages.is_empty() {
        // No usable presentation part: number slides by their file names.
        let mut slides: Vec<(u32, &str)> = index
            .keys()
            .filter_map(|n| {
                let number = n
                    .strip_prefix("ppt/slides/slide")?
                    .strip_suffix(".xml")?
                    .parse()
                    .ok()?;
                Some((number, *n))
            })
            .collect();
        slides.sort();
        for (i, (_, name)) in slides.into_iter().enumerate() {
            pages.insert(name.to_owned(), i as u32 + 1);
        }
    }
    Ok(pages)
}

/// A sheet listed in the workbook.
struct Sheet {
    name: String,
    part: String,
}

fn spreadsheet(
    run: &mut Run<'_>,
    archive: &mut Zip<'_>,
    index: &HashMap<&str, usize>,
    done: &mut HashSet<usize>,
    location: &Location,
) -> Result<(), Halt> {
    let mut sheets = Vec::new();
    let workbook = index.get("xl/workbook.xml").copied();
    let workbook_xml = match workbook {
        // The workbook is also read as a part of its own (defined names); not marked done.
        Some(i) => read_entry(run, archive, i, &location.child("xl/workbook.xml"))?,
        None => None,
    };
    let rels = read_named(
        run,
        archive,
        index,
        done,
        "xl/_rels/workbook.xml.rels",
        location,
    )?;
    if let (Some(workbook_xml), Some(rels)) = (workbook_xml, rels) {
        let rels = relationships(&xml::decode_xml(&rels), "xl");
        let decoded = xml::decode_xml(&workbook_xml);
        let mut reader = xml::reader(&decoded);
        while let Ok(event) = reader.read_event() {
            match event {
                Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "sheet" => {
                    let name = xml::attribute(&e, "name").unwrap_or_default();
                    if let Some(part) = xml::relationship_id(&e).and_then(|id| rels.get(&id)) {
                        sheets.push(Sheet {
                            name,
                            part: part.clone(),
                        });
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
    }
    // Sheets no workbook lists are still read, located by their part names.
    let listed: HashSet<String> = sheets.iter().map(|s| s.part.clone()).collect();
    let mut orphans: Vec<&str> = index
        .keys()
        .filter(|n| n.starts_with("xl/worksheets/") && n.ends_with(".xml") && !listed.contains(**n))
        .copied()
        .collect();
    orphans.sort();
    sheets.extend(orphans.into_iter().map(|n| Sheet {
        name: n.to_owned(),
        part: n.to_owned(),
    }));

    let shared = match read_named(run, archive, index, done, "xl/sharedStrings.xml", location)? {
        Some(data) => {
            let decoded = xml::decode_xml(&data);
            let (strings, error) = shared_strings(&decoded, run.deadline);
            xml_problem(run, error, &location.child("xl/sharedStrings.xml"))?;
            strings
        }
        None => Vec::new(),
    };

    for sheet in sheets {
        let sheet_location = location.child(sheet.name.as_str());
        let Some(data) = read_named(run, archive, index, done, &sheet.part, location)? else {
            continue;
        };
        let decoded = xml::decode_xml(&data);
        let (text, error) = sheet_text(&decoded, &shared, run.deadline, run.limits.max_text_bytes);
        run.emit(&sheet_location, &text)?;
        xml_problem(run, error, &sheet_location)?;
    }
    Ok(())
}

/// The shared strings table: one string per `<si>`, phonetic guides (`<rPh>`) left out.
fn shared_strings(xml: &str, deadline: Deadline) -> (Vec<String>, Option<XmlError>) {
    let mut strings = Vec::new();
    let mut current = String::new();
    let mut in_t = 0usize;
    let mut reader = xml::reader(xml);
    let mut events = 0u32;
    loop {
        events += 1;
        if events.is_multiple_of(xml::TICK_EVENTS) && deadline.expired() {
            return (strings, Some(XmlError::Timeout));
        }
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => {
                let error = XmlError::Malformed {
                    position: reader.error_position(),
                    message: e.to_string(),
                };
                return (strings, Some(error));
            }
        };
        match event {
            Event::Start(e) => match e.local_name().as_ref() {
                "si" => current.clear(),
                "t" => in_t += 1,
                "rPh" if reader.read_to_end(e.name()).is_err() => {
                    break;
                }
                _ => {}
            },
            Event::Empty(e) if e.local_name().as_ref() == "si" => strings.push(String::new()),
            Event::End(e) => match e.local_name().as_ref() {
                "si" => strings.push(std::mem::take(&mut current)),
                "t" => in_t = in_t.saturating_sub(1),
                _ => {}
            },
            Event::Text(t) if in_t > 0 => current.push_str(&t.xml10_content()),
            Event::CData(t) if in_t > 0 => current.push_str(&t.into_inner()),
            Event::GeneralRef(r) if in_t > 0 => xml::push_ref(&mut current, &r),
            Event::Eof => break,
            _ => {}
        }
    }
    (strings, None)
}

/// A number as Excel stores it, written as its digits when it is a whole number: a 12-digit
/// My Number stored as `1.23456789018E+11` must read `123456789018`.
pub(crate) fn number_text(raw: &str) -> std::borrow::Cow<'_, str> {
    let raw = raw.trim();
    if raw.contains(['e', 'E', '.'])
        && let Ok(value) = raw.parse::<f64>()
        && value.is_finite()
        && value.fract() == 0.0
        && value.abs() < 1e17
    {
        return format!("{value:.0}").into();
    }
    raw.into()
}

/// The text of a worksheet: cells in a row separated by tabs, rows by newlines, then the
/// header and footer texts.
fn sheet_text(
    xml: &str,
    shared: &[String],
    deadline: Deadline,
    max_text: u64,
) -> (String, Option<XmlError>) {
    #[derive(PartialEq)]
    enum In {
        Nothing,
        Value,
        Inline,
        HeaderFooter,
    }
    let mut out = String::new();
    let mut reader = xml::reader(xml);
    let mut cell_type = String::new();
    let mut value = String::new();
    let mut inside = In::Nothing;
    let mut cells_in_row = 0usize;
    let mut events = 0u32;
    loop {
        events += 1;
        if events.is_multiple_of(xml::TICK_EVENTS) && deadline.expired() {
            return (out, Some(XmlError::Timeout));
        }
        if out.len() as u64 > max_text {
            // The caller reports the text limit; stop building.
            return (out, None);
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
            Event::Start(e) => match e.local_name().as_ref() {
                "row" => cells_in_row = 0,
                "c" => {
                    // Hot loop: read the type attribute without allocating or checking duplicates.
                    cell_type.clear();
                    if let Some(t) = e
                        .attributes()
                        .with_checks(false)
                        .flatten()
                        .find(|a| a.key.local_name().as_ref() == "t")
                    {
                        cell_type.push_str(&t.value);
                    }
                    value.clear();
                }
                "v" => inside = In::Value,
                "t" => inside = In::Inline,
                "rPh" | "f" if reader.read_to_end(e.name()).is_err() => {
                    break;
                }
                name if name.starts_with("odd")
                    || name.starts_with("even")
                    || name.starts_with("first") =>
                {
                    inside = In::HeaderFooter;
                }
                _ => {}
            },
            Event::End(e) => match e.local_name().as_ref() {
                "row" if cells_in_row > 0 => {
                    out.push('\n');
                }
                "c" => {
                    let text: std::borrow::Cow<'_, str> = match cell_type.as_str() {
                        "s" => value
                            .trim()
                            .parse::<usize>()
                            .ok()
                            .and_then(|i| shared.get(i))
                            .map(|s| s.as_str().into())
                            .unwrap_or_default(),
                        "" | "n" => number_text(&value),
                        _ => value.as_str().into(),
                    };
                    if !text.is_empty() {
                        if cells_in_row > 0 {
                            out.push('\t');
                        }
                        out.push_str(&text);
                        cells_in_row += 1;
                    }
                }
                "v" | "t" => inside = In::Nothing,
                name if name.starts_with("odd")
                    || name.starts_with("even")
                    || name.starts_with("first") =>
                {
                    inside = In::Nothing;
                    out.push('\n');
                }
                _ => {}
            },
            Event::Text(t) => match inside {
                In::Value | In::Inline => value.push_str(&t.xml10_content()),
                In::HeaderFooter => out.push_str(&t.xml10_content()),
                In::Nothing => {}
            },
            Event::GeneralRef(r) => match inside {
                In::Value | In::Inline => xml::push_ref(&mut value, &r),
                In::HeaderFooter => xml::push_ref(&mut out, &r),
                In::Nothing => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    (out, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_digits() {
        assert_eq!(number_text("123456789018"), "123456789018");
        assert_eq!(number_text("1.23456789018E+11"), "123456789018");
        assert_eq!(number_text("7000012050002.0"), "7000012050002");
        assert_eq!(number_text("3.14"), "3.14");
        assert_eq!(number_text("1E+300"), "1E+300");
        assert_eq!(number_text("abc"), "abc");
    }

    #[test]
    fn relationship_targets_resolve() {
        assert_eq!(
            resolve("xl", "worksheets/sheet1.xml"),
            "xl/worksheets/sheet1.xml"
        );
        assert_eq!(
            resolve("ppt", "/ppt/slides/slide2.xml"),
            "ppt/slides/slide2.xml"
        );
        assert_eq!(
            resolve("ppt/slides", "../notesSlides/n1.xml"),
            "ppt/notesSlides/n1.xml"
        );
    }

    #[test]
    fn sheet_cells_rows_and_header() {
        let shared = vec!["社外秘".to_owned(), "名前".to_owned()];
        let xml = r#"<worksheet><sheetData>
            <row r="1"><c r="A1" t="s"><v>1</v></c><c r="B1" t="s"><v>0</v></c></row>
            <row r="2"><c r="A2"><v>123456789018</v></c><c r="B2" t="inlineStr"><is><t>極</t></is></c>
              <c r="C2" t="str"><f>A1&amp;B1</f><v>x&amp;y</v></c></row>
            </sheetData><headerFooter><oddHeader>&amp;C部外秘</oddHeader></headerFooter></worksheet>"#;
        let (text, err) = sheet_text(xml, &shared, Deadline::never(), u64::MAX);
        assert!(err.is_none());
        assert_eq!(text, "名前\t社外秘\n123456789018\t極\tx&y\n&C部外秘\n");
    }

    #[test]
    fn shared_strings_skip_phonetics() {
        let xml = "<sst><si><t>社外</t></si><si><r><t>社外</t></r><r><t>秘</t></r><rPh><t>シャガイヒ</t></rPh></si><si/></sst>";
        let (strings, err) = shared_strings(xml, Deadline::never());
        assert!(err.is_none());
        assert_eq!(strings, ["社外", "社外秘", ""]);
    }

    #[test]
    fn parts_are_classified() {
        assert!(matches!(classify("word/header1.xml"), PartKind::Xml(_)));
        assert!(matches!(classify("word/styles.xml"), PartKind::Skip));
        assert!(matches!(
            classify("word/_rels/document.xml.rels"),
            PartKind::Skip
        ));
        assert!(matches!(
            classify("word/embeddings/oleObject1.bin"),
            PartKind::Blob
        ));
        assert!(matches!(classify("xl/theme/theme1.xml"), PartKind::Skip));
    }
}
