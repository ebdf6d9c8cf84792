//! OpenDocument: `content.xml` (body, tables, notes, annotations, tracked changes),
//! `styles.xml` (headers and footers), `meta.xml` (properties); other files in the package
//! (embedded objects, pictures) are extracted as content of their own.

use mamori_model::Location;

use crate::archive::{Zip, names, read_entry};
use crate::dispatch_inner;
use crate::ooxml::xml_part;
use crate::run::{Halt, Run};
use crate::xml::{Keep, Rules};

const ODF: Rules = Rules {
    keep: Keep::All,
    paragraphs: &["p", "h", "table-row"],
    tabs: &["tab"],
    breaks: &["line-break"],
    spaces: &["s"],
    skip: &["font-face-decls", "automatic-styles", "binary-data"],
    attributes: &[("table-cell", "value"), ("table", "name")],
};

/// Styles: only the master pages hold text (headers and footers).
const ODF_STYLES: Rules = Rules {
    skip: &["font-face-decls", "styles", "automatic-styles"],
    ..ODF
};

pub(crate) fn extract(
    run: &mut Run<'_>,
    archive: &mut Zip<'_>,
    location: &Location,
    depth: usize,
) -> Result<(), Halt> {
    let names = names(archive);
    // content.xml first.
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by_key(|&i| !names[i].ends_with("content.xml"));
    for i in order {
        let name = names[i].as_str();
        if name == "mimetype" || name.ends_with('/') || name.starts_with("META-INF/") {
            continue;
        }
        let part_location = location.child(name);
        let file = name.rsplit('/').next().unwrap_or(name);
        let rules = match file {
            "content.xml" | "meta.xml" => Some(ODF),
            "styles.xml" => Some(ODF_STYLES),
            "settings.xml" | "manifest.rdf" => continue,
            _ => None,
        };
        let Some(data) = read_entry(run, archive, i, &part_location)? else {
            continue;
        };
        match rules {
            Some(rules) => xml_part(run, &data, &rules, &part_location)?,
            // Pictures yield nothing; embedded objects and EPUB chapters are read.
            None => dispatch_inner(run, &data, &part_location, depth + 1)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::Deadline;
    use crate::xml::extract;

    #[test]
    fn spans_join_and_spaces_expand() {
        let xml = r#"<office:document-content><office:automatic-styles><style:style/></office:automatic-styles>
            <office:body><office:text><text:p>社外<text:span>秘</text:span></text:p>
            <text:p>a<text:s text:c="2"/>b<text:tab/>c</text:p></office:text></office:body></office:document-content>"#;
        let (text, err) = extract(xml, &ODF, Deadline::never());
        assert!(err.is_none());
        assert!(text.contains("社外秘\n"), "{text:?}");
        assert!(text.contains("a  b\tc\n"), "{text:?}");
    }

    #[test]
    fn spreadsheet_values_are_kept() {
        let xml = r#"<office:spreadsheet><table:table table:name="給与"><table:table-row>
            <table:table-cell office:value-type="float" office:value="123456789018"><text:p>1.23457E+11</text:p></table:table-cell>
            </table:table-row></table:table></office:spreadsheet>"#;
        let (text, _) = extract(xml, &ODF, Deadline::never());
        assert!(text.contains("123456789018"), "{text:?}");
        assert!(text.contains("給与"), "{text:?}");
    }
}
