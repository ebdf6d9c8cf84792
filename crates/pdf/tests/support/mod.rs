//! A small PDF writer for tests, benches and fuzz seeds: objects and a cross-reference table
//! written by hand, so every byte of the test documents is under the test's control.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::io::Write as _;

/// Writes numbered objects and a classic cross-reference table.
#[derive(Debug, Default)]
pub struct PdfWriter {
    objects: Vec<Option<Vec<u8>>>,
}

impl PdfWriter {
    /// Reserves an object number to fill later with [`PdfWriter::set`].
    pub fn reserve(&mut self) -> u32 {
        self.objects.push(None);
        self.objects.len() as u32
    }

    /// Sets the body of a reserved object.
    pub fn set(&mut self, id: u32, body: impl AsRef<[u8]>) {
        self.objects[id as usize - 1] = Some(body.as_ref().to_vec());
    }

    /// Adds an object; returns its number.
    pub fn add(&mut self, body: impl AsRef<[u8]>) -> u32 {
        let id = self.reserve();
        self.set(id, body);
        id
    }

    /// Adds a stream with extra dictionary entries.
    pub fn add_stream(&mut self, entries: &str, data: &[u8]) -> u32 {
        let mut body = format!("<< /Length {} {entries} >>\nstream\n", data.len()).into_bytes();
        body.extend_from_slice(data);
        body.extend_from_slice(b"\nendstream");
        self.add(body)
    }

    /// Adds a FlateDecode stream.
    pub fn add_flate_stream(&mut self, entries: &str, data: &[u8]) -> u32 {
        self.add_stream(&format!("/Filter /FlateDecode {entries}"), &zlib(data))
    }

    /// The file: header, objects, xref, trailer.
    pub fn finish(&self, root: u32, trailer_extra: &str) -> Vec<u8> {
        let mut out = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
        let mut offsets = Vec::new();
        for (index, body) in self.objects.iter().enumerate() {
            offsets.push(out.len());
            writeln!(out, "{} 0 obj", index + 1).unwrap();
            out.extend_from_slice(body.as_deref().unwrap_or(b"null"));
            out.extend_from_slice(b"\nendobj\n");
        }
        let xref = out.len();
        let mut table = format!("xref\n0 {}\n0000000000 65535 f \n", self.objects.len() + 1);
        for offset in offsets {
            writeln!(table, "{offset:010} 00000 n ").unwrap();
        }
        write!(
            table,
            "trailer\n<< /Size {} /Root {root} 0 R {trailer_extra} >>\nstartxref\n{xref}\n%%EOF\n",
            self.objects.len() + 1
        )
        .unwrap();
        out.extend_from_slice(table.as_bytes());
        out
    }
}

/// zlib-compresses data.
pub fn zlib(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// UTF-16BE hex of a string, with `<` `>`, as used in ToUnicode maps and text strings.
pub fn utf16_hex(text: &str) -> String {
    text.encode_utf16().map(|u| format!("{u:04X}")).collect()
}

/// A document under construction: shared resources, pages, metadata.
#[derive(Debug, Default)]
pub struct Doc {
    pub writer: PdfWriter,
    fonts: Vec<(String, u32)>,
    xobjects: Vec<(String, u32)>,
    pages: Vec<u32>,
    info: Option<String>,
    metadata: Option<u32>,
    /// The pages' `/MediaBox`; US Letter unless set.
    pub media_box: Option<String>,
    /// Annotation dictionaries put on every page.
    pub annotations: Vec<String>,
    /// Extra catalog entries (`/Names`, `/Outlines`).
    pub catalog_extra: String,
}

pub const HELVETICA: &str =
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>";

impl Doc {
    pub fn new() -> Doc {
        Doc::default()
    }

    /// Adds a font under a resource name.
    pub fn font(&mut self, name: &str, body: &str) -> u32 {
        let id = self.writer.add(body);
        self.fonts.push((name.into(), id));
        id
    }

    /// Adds a Type0 font with a predefined or Identity CMap over a CIDFontType0 (Adobe-Japan1)
    /// descendant; `to_unicode` adds a ToUnicode stream.
    pub fn cjk_font(&mut self, name: &str, cmap: &str, to_unicode: Option<&[u8]>) -> u32 {
        self.cid_font(name, cmap, "CIDFontType0", "Japan1", to_unicode)
    }

    /// Adds a Type0 font over a descendant of the given subtype and CIDSystemInfo ordering.
    pub fn cid_font(
        &mut self,
        name: &str,
        cmap: &str,
        subtype: &str,
        ordering: &str,
        to_unicode: Option<&[u8]>,
    ) -> u32 {
        let descendant = self.writer.add(format!(
            "<< /Type /Font /Subtype /{subtype} /BaseFont /MS-Mincho \
             /CIDSystemInfo << /Registry (Adobe) /Ordering ({ordering}) /Supplement 2 >> \
             /FontDescriptor << /Type /FontDescriptor /FontName /MS-Mincho /Flags 6 \
             /FontBBox [0 -141 1000 859] /ItalicAngle 0 /Ascent 859 /Descent -141 /CapHeight 700 /StemV 80 >> \
             /DW 1000 /W [231 [500] 232 389 500] >>"
        ));
        let to_unicode = match to_unicode {
            Some(map) => format!("/ToUnicode {} 0 R", self.writer.add_stream("", map)),
            None => String::new(),
        };
        self.font(
            name,
            &format!(
                "<< /Type /Font /Subtype /Type0 /BaseFont /MS-Mincho /Encoding /{cmap} \
                 /DescendantFonts [{descendant} 0 R] {to_unicode} >>"
            ),
        )
    }

    /// Adds an XObject under a resource name.
    pub fn xobject(&mut self, name: &str, id: u32) {
        self.xobjects.push((name.into(), id));
    }

    /// Adds a page with an uncompressed content stream.
    pub fn page(&mut self, content: &[u8]) {
        let id = self.writer.add_stream("", content);
        self.pages.push(id);
    }

    /// Adds a page with a FlateDecode content stream.
    pub fn page_flate(&mut self, content: &[u8]) {
        let id = self.writer.add_flate_stream("", content);
        self.pages.push(id);
    }

    /// Sets the Info dictionary entries (`/Title <FEFF...>` ...).
    pub fn info(&mut self, entries: &str) {
        self.info = Some(entries.into());
    }

    /// Adds an XMP packet to the catalog.
    pub fn xmp(&mut self, packet: &str) {
        self.metadata = Some(
            self.writer
                .add_stream("/Type /Metadata /Subtype /XML", packet.as_bytes()),
        );
    }

    /// The resources dictionary shared by all pages.
    pub fn resources(&self) -> String {
        let fonts: String = self
            .fonts
            .iter()
            .map(|(n, id)| format!("/{n} {id} 0 R "))
            .collect();
        let xobjects: String = self
            .xobjects
            .iter()
            .map(|(n, id)| format!("/{n} {id} 0 R "))
            .collect();
        format!("<< /Font << {fonts}>> /XObject << {xobjects}>> >>")
    }

    /// The finished file.
    pub fn build(self) -> Vec<u8> {
        self.build_with_trailer("")
    }

    /// The finished file with extra trailer entries.
    pub fn build_with_trailer(mut self, trailer_extra: &str) -> Vec<u8> {
        let resources = self.resources();
        let resources = self.writer.add(resources);
        let pages = self.writer.reserve();
        let media_box = self
            .media_box
            .clone()
            .unwrap_or_else(|| "0 0 612 792".into());
        let annotations: Vec<u32> = self
            .annotations
            .clone()
            .iter()
            .map(|a| self.writer.add(a))
            .collect();
        let annots = if annotations.is_empty() {
            String::new()
        } else {
            format!(
                "/Annots [{}]",
                annotations
                    .iter()
                    .map(|a| format!("{a} 0 R "))
                    .collect::<String>()
            )
        };
        let kids: Vec<u32> = self
            .pages
            .iter()
            .map(|content| {
                self.writer.add(format!(
                    "<< /Type /Page /Parent {pages} 0 R /MediaBox [{media_box}] /Resources {resources} 0 R /Contents {content} 0 R {annots} >>"
                ))
            })
            .collect();
        let kid_refs: String = kids.iter().map(|k| format!("{k} 0 R ")).collect();
        self.writer.set(
            pages,
            format!(
                "<< /Type /Pages /Kids [{kid_refs}] /Count {} >>",
                kids.len()
            ),
        );
        let metadata = self
            .metadata
            .map(|m| format!("/Metadata {m} 0 R"))
            .unwrap_or_default();
        let root = self.writer.add(format!(
            "<< /Type /Catalog /Pages {pages} 0 R {metadata} {} >>",
            self.catalog_extra
        ));
        let mut trailer = trailer_extra.to_owned();
        if let Some(info) = &self.info {
            let info = self.writer.add(format!("<< {info} >>"));
            trailer.push_str(&format!(" /Info {info} 0 R"));
        }
        self.writer.finish(root, &trailer)
    }
}

/// A ToUnicode CMap for two-byte codes from `(code, text)` pairs.
pub fn to_unicode(pairs: &[(u16, &str)]) -> Vec<u8> {
    let mut out = String::from(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
         /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
         /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
         1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
    );
    for chunk in pairs.chunks(100) {
        writeln!(out, "{} beginbfchar", chunk.len()).unwrap();
        for (code, text) in chunk {
            writeln!(out, "<{code:04X}> <{}>", utf16_hex(text)).unwrap();
        }
        out.push_str("endbfchar\n");
    }
    out.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    out.into_bytes()
}

/// A page with a comment, a stamp with an appearance stream and a filled-in form field.
pub fn annotated() -> Vec<u8> {
    let mut doc = Doc::new();
    let font = doc.font("F1", HELVETICA);
    let stamp = doc.writer.add_stream(
        &format!("/Type /XObject /Subtype /Form /BBox [0 0 200 50] /Resources << /Font << /F1 {font} 0 R >> >>"),
        b"BT /F1 24 Tf 10 15 Td (CONFIDENTIAL) Tj ET",
    );
    let field = doc.writer.add_stream(
        &format!("/Type /XObject /Subtype /Form /BBox [0 0 200 20] /Resources << /Font << /F1 {font} 0 R >> >>"),
        b"/Tx BMC BT /F1 10 Tf 2 5 Td (Yamada Taro) Tj ET EMC",
    );
    doc.annotations = vec![
        format!(
            "<< /Type /Annot /Subtype /Text /Rect [10 10 30 30] /Contents <FEFF{}> >>",
            utf16_hex("社外秘コメント")
        ),
        format!(
            "<< /Type /Annot /Subtype /Stamp /Rect [300 600 500 650] /Name /Confidential /AP << /N {stamp} 0 R >> >>"
        ),
        format!(
            "<< /Type /Annot /Subtype /Widget /FT /Tx /T (name) /V (Yamada Taro) /Rect [72 500 272 520] /AP << /N {field} 0 R >> >>"
        ),
        "<< /Type /Annot /Subtype /Link /Rect [0 0 1 1] /Contents (skipped link) >>".to_owned(),
    ];
    doc.page(b"BT /F1 12 Tf 72 720 Td (Application form) Tj ET");
    doc.build()
}

/// A document with an embedded file (name tree), a file attachment annotation and bookmarks.
pub fn attachments_and_outline() -> Vec<u8> {
    let mut doc = Doc::new();
    doc.font("F1", HELVETICA);
    let first = doc.writer.add_flate_stream(
        "/Type /EmbeddedFile",
        b"customer,my_number\nYamada,123456789018\n",
    );
    let spec = doc.writer.add(format!(
        "<< /Type /Filespec /F (list.csv) /UF <FEFF{}> /EF << /F {first} 0 R >> >>",
        utf16_hex("顧客一覧.csv")
    ));
    let second = doc
        .writer
        .add_stream("/Type /EmbeddedFile", b"attached note: Confidential");
    doc.annotations = vec![format!(
        "<< /Type /Annot /Subtype /FileAttachment /Rect [0 0 10 10] /FS << /Type /Filespec /F (note.txt) /EF << /F {second} 0 R >> >> >>"
    )];
    let outlines = doc.writer.reserve();
    let chapter = doc.writer.reserve();
    let section = doc.writer.reserve();
    let appendix = doc.writer.reserve();
    doc.writer.set(
        outlines,
        format!("<< /Type /Outlines /First {chapter} 0 R /Last {appendix} 0 R /Count 3 >>"),
    );
    doc.writer.set(chapter, format!("<< /Title <FEFF{}> /Parent {outlines} 0 R /First {section} 0 R /Last {section} 0 R /Next {appendix} 0 R >>", utf16_hex("第1章 社外秘")));
    // The section's /Next points back at the chapter: a cycle the reader must survive.
    doc.writer.set(
        section,
        format!("<< /Title (Budget) /Parent {chapter} 0 R /Next {chapter} 0 R >>"),
    );
    doc.writer.set(
        appendix,
        format!("<< /Title (Appendix) /Parent {outlines} 0 R /Prev {chapter} 0 R >>"),
    );
    doc.catalog_extra = format!(
        "/Names << /EmbeddedFiles << /Names [(list.csv) {spec} 0 R] >> >> /Outlines {outlines} 0 R"
    );
    doc.page(b"BT /F1 12 Tf 72 720 Td (See the attached list) Tj ET");
    doc.build()
}

/// Hex of bytes, for `<...> Tj`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Encodes text with an `encoding_rs` encoding (Shift_JIS, EUC-JP).
pub fn encode(encoding: &'static encoding_rs::Encoding, text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding.encode(text);
    assert!(
        !unmappable,
        "{text} is not representable in {}",
        encoding.name()
    );
    bytes.into_owned()
}

/// A named test document and what a reader must find in it.
#[derive(Debug)]
pub struct Sample {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    /// Strings that must appear in the extracted text.
    pub expected: Vec<&'static str>,
}

/// Identity-H codes for the ToUnicode sample: 社外秘, digits, and a few Latin letters.
fn identity_codes(text: &str, map: &[(u16, &str)]) -> String {
    let mut out = String::new();
    for ch in text.chars() {
        let s = ch.to_string();
        let code = map
            .iter()
            .find(|(_, t)| *t == s)
            .map(|(c, _)| *c)
            .expect("code for char");
        write!(out, "{code:04X}").unwrap();
    }
    out
}

pub fn latin_helvetica() -> Vec<u8> {
    let mut doc = Doc::new();
    doc.font("F1", HELVETICA);
    doc.page(
        b"BT /F1 12 Tf 72 720 Td [(Conf) -15 (iden) 10 (tial)] TJ 0 -20 Td [(Top) -300 (Secret) -280 (Report)] TJ \
          0 -20 Td (Caf\xE9 \x93quoted\x94 na\xEFve) Tj ET",
    );
    doc.build()
}

pub fn identity_to_unicode() -> Vec<u8> {
    let map: Vec<(u16, &str)> = vec![
        (0x0101, "社"),
        (0x0102, "外"),
        (0x0103, "秘"),
        (0x0110, "0"),
        (0x0111, "1"),
        (0x0112, "2"),
        (0x0113, "3"),
        (0x0114, "4"),
        (0x0115, "5"),
        (0x0116, "6"),
        (0x0117, "7"),
        (0x0118, "8"),
        (0x0119, "9"),
        (0x0120, "番"),
        (0x0121, "号"),
        (0x0122, "："),
    ];
    let mut doc = Doc::new();
    doc.cjk_font("F1", "Identity-H", Some(&to_unicode(&map)));
    let title = identity_codes("社外秘", &map);
    let number = identity_codes("番号：123456789018", &map);
    doc.page(format!("BT /F1 14 Tf 72 720 Td <{title}> Tj 0 -24 Td <{number}> Tj ET").as_bytes());
    doc.build()
}

pub fn predefined(cmap: &str, bytes_of: impl Fn(&str) -> Vec<u8>) -> Vec<u8> {
    let mut doc = Doc::new();
    doc.cjk_font("F1", cmap, None);
    let first = hex(&bytes_of("極秘資料"));
    let second = hex(&bytes_of("社外秘"));
    doc.page(format!("BT /F1 14 Tf 72 720 Td <{first}> Tj 0 -24 Td <{second}> Tj ET").as_bytes());
    doc.build()
}

pub fn ucs2(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

pub fn jis_row_cell(text: &str) -> Vec<u8> {
    encode(encoding_rs::EUC_JP, text)
        .into_iter()
        .map(|b| b & 0x7F)
        .collect()
}

/// A CID-keyed font of the Adobe-Japan1 collection shown through Identity-H without ToUnicode:
/// the CIDs are collection CIDs (2302 is 社, 34 is A, 17 is 0).
pub fn japan1_identity() -> Vec<u8> {
    let mut doc = Doc::new();
    doc.cjk_font("F1", "Identity-H", None);
    doc.page(b"BT /F1 14 Tf 72 720 Td <08FE00220011> Tj ET");
    doc.build()
}

pub fn flate_content() -> Vec<u8> {
    let mut doc = Doc::new();
    doc.font("F1", HELVETICA);
    doc.page_flate(b"BT /F1 11 Tf 72 720 Td (Compressed stream with Confidential text) Tj ET");
    doc.build()
}

pub fn form_xobject() -> Vec<u8> {
    let mut doc = Doc::new();
    let font = doc.font("F1", HELVETICA);
    let form = doc.writer.add_stream(
        &format!("/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << /Font << /F1 {font} 0 R >> >>"),
        b"BT /F1 20 Tf 100 400 Td (Watermark Internal) Tj ET",
    );
    doc.xobject("Fm1", form);
    doc.page(b"BT /F1 12 Tf 72 720 Td (Body text) Tj ET q 1 0 0 1 0 0 cm /Fm1 Do Q");
    doc.build()
}

pub fn multi_page(pages: usize) -> Vec<u8> {
    let mut doc = Doc::new();
    doc.font("F1", HELVETICA);
    for n in 1..=pages {
        doc.page(
            format!(
                "BT /F1 12 Tf 72 720 Td (Page {n} of {pages}) Tj 0 -16 Td (Section {n} body) Tj ET"
            )
            .as_bytes(),
        );
    }
    doc.build()
}

pub fn with_metadata() -> Vec<u8> {
    let mut doc = Doc::new();
    doc.font("F1", HELVETICA);
    doc.page(b"BT /F1 12 Tf 72 720 Td (Quarterly numbers) Tj ET");
    doc.info(&format!(
        "/Title <FEFF{}> /Author (J\\351r\\364me) /MSIP_Label_0000_Name (Confidential)",
        utf16_hex("社外秘 報告書")
    ));
    doc.xmp(
        r#"<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title><rdf:Alt><rdf:li xml:lang="x-default">極秘 計画</rdf:li></rdf:Alt></dc:title></rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>"#,
    );
    doc.build()
}

/// What cupsfilter/texttopdf write: a TrueType CID font, Identity-H, no ToUnicode, so the
/// codes are glyph ids with no way back to characters.
pub fn identity_without_to_unicode() -> Vec<u8> {
    let mut doc = Doc::new();
    doc.cid_font("F1", "Identity-H", "CIDFontType2", "Identity", None);
    doc.page(b"BT /F1 12 Tf 72 720 Td <0021002200230024> Tj ET");
    doc.build()
}

pub fn scanned(with_text_page: bool) -> Vec<u8> {
    let mut doc = Doc::new();
    doc.font("F1", HELVETICA);
    let image = doc.writer.add_stream(
        "/Type /XObject /Subtype /Image /Width 2 /Height 2 /ColorSpace /DeviceGray /BitsPerComponent 8",
        &[0, 255, 255, 0],
    );
    doc.xobject("Im1", image);
    if with_text_page {
        doc.page(b"BT /F1 12 Tf 72 720 Td (Cover page) Tj ET");
    }
    doc.page(b"q 612 0 0 792 0 0 cm /Im1 Do Q");
    doc.build()
}

pub fn bomb(decoded_bytes: usize) -> Vec<u8> {
    let mut doc = Doc::new();
    doc.font("F1", HELVETICA);
    let mut content = b"BT /F1 12 Tf 72 720 Td (bomb) Tj ET\n".to_vec();
    content.resize(decoded_bytes, b' ');
    doc.page_flate(&content);
    doc.build()
}

pub fn vertical() -> Vec<u8> {
    let mut doc = Doc::new();
    doc.cjk_font("F1", "UniJIS-UCS2-V", None);
    let column = hex(&ucs2("縦書きの社外秘"));
    doc.page(format!("BT /F1 14 Tf 300 700 Td <{column}> Tj ET").as_bytes());
    doc.build()
}

/// Every sample pdftotext is expected to read, with the strings Mamori must find.
pub fn readable_samples() -> Vec<Sample> {
    vec![
        Sample {
            name: "latin_helvetica",
            bytes: latin_helvetica(),
            expected: vec!["Confidential", "Top Secret Report", "Café “quoted” naïve"],
        },
        Sample {
            name: "identity_to_unicode",
            bytes: identity_to_unicode(),
            expected: vec!["社外秘", "番号：123456789018"],
        },
        Sample {
            name: "unijis_ucs2",
            bytes: predefined("UniJIS-UCS2-H", ucs2),
            expected: vec!["極秘資料", "社外秘"],
        },
        Sample {
            name: "rksj",
            bytes: predefined("90ms-RKSJ-H", |t| encode(encoding_rs::SHIFT_JIS, t)),
            expected: vec!["極秘資料", "社外秘"],
        },
        Sample {
            name: "euc",
            bytes: predefined("EUC-H", |t| encode(encoding_rs::EUC_JP, t)),
            expected: vec!["極秘資料", "社外秘"],
        },
        Sample {
            name: "annotated",
            bytes: annotated(),
            expected: vec![
                "Application form",
                "CONFIDENTIAL",
                "社外秘コメント",
                "Yamada Taro",
                "Confidential",
            ],
        },
        Sample {
            name: "japan1_identity",
            bytes: japan1_identity(),
            expected: vec!["社A0"],
        },
        Sample {
            name: "jis_h",
            bytes: predefined("H", jis_row_cell),
            expected: vec!["極秘資料", "社外秘"],
        },
        Sample {
            name: "flate",
            bytes: flate_content(),
            expected: vec!["Compressed stream with Confidential text"],
        },
        Sample {
            name: "form_xobject",
            bytes: form_xobject(),
            expected: vec!["Body text", "Watermark Internal"],
        },
        Sample {
            name: "multi_page",
            bytes: multi_page(3),
            expected: vec!["Page 1 of 3", "Page 3 of 3"],
        },
        Sample {
            name: "metadata",
            bytes: with_metadata(),
            expected: vec!["Quarterly numbers"],
        },
        Sample {
            name: "vertical",
            bytes: vertical(),
            expected: vec!["縦書きの社外秘"],
        },
    ]
}
