//! Every format, every part, every limit: inputs are generated here, extracted through the
//! public API, and the text and problems checked.

mod support;

use std::time::Duration;

use encoding_rs::{EUC_JP, ISO_2022_JP, SHIFT_JIS, UTF_16BE, UTF_16LE};
use mamori_extract::{Extractor, Limits};
use mamori_model::UninspectableReason;
use support::*;

const DOCX_TYPE: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

fn full_docx() -> Vec<u8> {
    let body = format!(
        "{}{}{}{}{}",
        w_p(&["社外", "秘"]),
        "<w:tbl><w:tr><w:tc>".to_owned() + &w_p(&["表の", "セル"]) + "</w:tc></w:tr></w:tbl>",
        r#"<w:p><w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><wps:txbx><w:txbxContent><w:p><w:r><w:t>テキスト</w:t></w:r><w:r><w:t>ボックス</w:t></w:r></w:p></w:txbxContent></wps:txbx></w:drawing></mc:Choice><mc:Fallback><w:pict><w:t>重複</w:t></w:pict></mc:Fallback></mc:AlternateContent></w:r></w:p>"#,
        r#"<w:p><w:del><w:r><w:delText>削除された極秘</w:delText></w:r></w:del></w:p>"#,
        r#"<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> DOCPROPERTY 機密区分 </w:instrText></w:r></w:p>"#,
    );
    let header = w_document(&format!(
        "{}{}",
        w_p(&["ヘッダー"]),
        r#"<w:p><w:r><w:pict><v:shape><v:textpath style="font-family:&quot;MS Gothic&quot;" string="関係者外秘"/></v:shape></w:pict></w:r></w:p>"#
    ));
    let footer = w_document(&w_p(&["フッター"]));
    let footnotes = w_document(&w_p(&["脚注", "本文"]));
    let endnotes = w_document(&w_p(&["文末脚注"]));
    let comments = w_document(&w_p(&["コメント", "欄"]));
    let core = r#"<cp:coreProperties xmlns:cp="cp" xmlns:dc="dc"><dc:title>事業計画</dc:title><dc:creator>山田太郎</dc:creator><cp:keywords>取扱注意</cp:keywords></cp:coreProperties>"#;
    let app = r#"<Properties><Company>守り株式会社</Company></Properties>"#;
    let custom = r#"<Properties xmlns:vt="vt"><property fmtid="{D5CDD505}" pid="2" name="Classification"><vt:lpwstr>部外秘</vt:lpwstr></property></Properties>"#;
    let label = r#"<clbl:labelList xmlns:clbl="clbl"><clbl:label id="{3a6e-guid}" enabled="1" method="Privileged" siteId="{site}"/></clbl:labelList>"#;
    docx(
        &body,
        &[
            ("word/header1.xml", header.as_bytes()),
            ("word/footer1.xml", footer.as_bytes()),
            ("word/footnotes.xml", footnotes.as_bytes()),
            ("word/endnotes.xml", endnotes.as_bytes()),
            ("word/comments.xml", comments.as_bytes()),
            (
                "word/styles.xml",
                b"<w:styles><w:name w:val=\"Normal\"/><w:t>STYLE</w:t></w:styles>",
            ),
            ("docProps/core.xml", core.as_bytes()),
            ("docProps/app.xml", app.as_bytes()),
            ("docProps/custom.xml", custom.as_bytes()),
            ("docMetadata/LabelInfo.xml", label.as_bytes()),
        ],
    )
}

#[test]
fn docx_every_part() {
    let (summary, sink) = extract(&full_docx());
    assert_eq!(summary.content_type, DOCX_TYPE);
    assert!(sink.problems.is_empty(), "{:?}", sink.problems);
    let body = sink.at("word/document.xml");
    assert!(
        body.starts_with("社外秘\n"),
        "split runs must join: {body:?}"
    );
    assert!(body.contains("表のセル"), "{body:?}");
    assert!(body.contains("テキストボックス"), "{body:?}");
    assert!(
        !body.contains("重複"),
        "fallback content is a duplicate: {body:?}"
    );
    assert!(
        body.contains("削除された極秘"),
        "tracked deletion: {body:?}"
    );
    assert!(
        body.contains("DOCPROPERTY 機密区分"),
        "field code: {body:?}"
    );
    let header = sink.at("word/header1.xml");
    assert!(
        header.contains("ヘッダー") && header.contains("関係者外秘"),
        "watermark: {header:?}"
    );
    assert!(sink.at("word/footer1.xml").contains("フッター"));
    assert!(sink.at("word/footnotes.xml").contains("脚注本文"));
    assert!(sink.at("word/endnotes.xml").contains("文末脚注"));
    assert!(sink.at("word/comments.xml").contains("コメント欄"));
    let core = sink.at("docProps/core.xml");
    assert!(
        core.contains("事業計画") && core.contains("山田太郎") && core.contains("取扱注意"),
        "{core:?}"
    );
    assert!(sink.at("docProps/app.xml").contains("守り株式会社"));
    let custom = sink.at("docProps/custom.xml");
    assert!(
        custom.contains("Classification") && custom.contains("部外秘"),
        "{custom:?}"
    );
    let label = sink.at("docMetadata/LabelInfo.xml");
    assert!(
        label.contains("id={3a6e-guid}") && label.contains("method=Privileged"),
        "{label:?}"
    );
    assert!(
        !sink.all().contains("STYLE"),
        "styles hold no document text"
    );
    // The main document comes first.
    assert_eq!(sink.locations()[0], "word/document.xml");
}

#[test]
fn renamed_file_is_read_by_its_bytes() {
    let dir = std::env::temp_dir().join(format!("mamori-extract-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("holiday.jpg");
    std::fs::write(&path, full_docx()).unwrap();
    let mut file = std::fs::File::open(&path).unwrap();
    let len = file.metadata().unwrap().len();
    let mut sink = Collect::default();
    let summary = Extractor::default()
        .extract_reader(&mut file, len, &mut sink)
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(summary.content_type, DOCX_TYPE);
    assert!(sink.at("word/document.xml").contains("社外秘"));
}

#[test]
fn xlsx_numbers_hidden_sheets_comments_pivots() {
    let visible = r#"<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1"><v>123456789018</v></c></row>
                     <row r="2"><c r="A2"><v>1.23456789018E+11</v></c><c r="B2" t="inlineStr"><is><t>社外秘</t></is></c></row>"#;
    let hidden = r#"<row r="1"><c r="A1" t="s"><v>1</v></c></row>"#;
    let comments = r#"<comments><commentList><comment ref="A1"><text><r><t>要</t></r><r><t>確認</t></r></text></comment></commentList></comments>"#;
    let pivot = r#"<pivotCacheRecords><r><s v="隠れた給与"/><n v="7000012050002"/></r></pivotCacheRecords>"#;
    let bytes = xlsx(
        &[("一覧", "visible", visible), ("秘密", "hidden", hidden)],
        &["氏名", "隠しシートの極秘"],
        &[
            ("xl/comments1.xml", comments.as_bytes()),
            ("xl/pivotCache/pivotCacheRecords1.xml", pivot.as_bytes()),
        ],
    );
    let (summary, sink) = extract(&bytes);
    assert_eq!(
        summary.content_type,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert!(sink.problems.is_empty(), "{:?}", sink.problems);
    assert_eq!(
        sink.at("一覧"),
        "氏名\t123456789018\n123456789018\t社外秘\n"
    );
    assert_eq!(sink.at("秘密"), "隠しシートの極秘\n");
    assert!(sink.at("xl/comments1.xml").contains("要確認"));
    let pivot = sink.at("xl/pivotCache/pivotCacheRecords1.xml");
    assert!(
        pivot.contains("隠れた給与") && pivot.contains("7000012050002"),
        "{pivot:?}"
    );
}

#[test]
fn xlsx_shared_string_amplification_is_bounded() {
    let rows: String = (0..2000)
        .map(|r| format!(r#"<row r="{r}"><c t="s"><v>0</v></c></row>"#))
        .collect();
    let long = "秘".repeat(1000);
    let bytes = xlsx(&[("S", "visible", &rows)], &[&long], &[]);
    let limits = Limits {
        max_text_bytes: 1 << 20,
        ..Limits::default()
    };
    let (_, sink) = extract_with(&bytes, limits);
    let total: usize = sink.parts.iter().map(|(_, t)| t.len()).sum();
    assert!(total <= 1 << 20, "{total}");
    assert!(sink.has_problem("expansion_limit"), "{:?}", sink.problems);
}

#[test]
fn pptx_slides_in_presentation_order_with_notes() {
    let notes = r#"<p:notes xmlns:p="p" xmlns:a="a"><a:p><a:r><a:t>発表者メモ：社外秘</a:t></a:r></a:p></p:notes>"#;
    let master = r#"<p:sldMaster xmlns:p="p" xmlns:a="a"><a:p><a:r><a:t>マスターの機密表示</a:t></a:r></a:p></p:sldMaster>"#;
    let bytes = pptx(
        &[(1, &a_p(&["二枚目に", "表示"])), (2, &a_p(&["社外", "秘"]))],
        &[2, 1],
        &[
            ("ppt/notesSlides/notesSlide1.xml", notes.as_bytes()),
            ("ppt/slideMasters/slideMaster1.xml", master.as_bytes()),
        ],
    );
    let (summary, sink) = extract(&bytes);
    assert_eq!(
        summary.content_type,
        "application/vnd.openxmlformats-officedocument.presentationml.presentation"
    );
    assert_eq!(sink.at("ppt/slides/slide2.xml (page 1)"), "社外秘\n");
    assert_eq!(sink.at("ppt/slides/slide1.xml (page 2)"), "二枚目に表示\n");
    assert!(
        sink.at("ppt/notesSlides/notesSlide1.xml")
            .contains("発表者メモ：社外秘")
    );
    assert!(
        sink.at("ppt/slideMasters/slideMaster1.xml")
            .contains("マスターの機密表示")
    );
    assert_eq!(sink.locations()[0], "ppt/slides/slide2.xml (page 1)");
}

#[test]
fn odt_content_styles_meta() {
    let content = r#"<office:document-content><office:body><office:text><text:p>社外<text:span>秘</text:span>の文書</text:p></office:text></office:body></office:document-content>"#;
    let styles = r#"<office:document-styles><office:styles><style:style style:name="x"/></office:styles><office:master-styles><style:master-page><style:header><text:p>ヘッダーの極秘</text:p></style:header></style:master-page></office:master-styles></office:document-styles>"#;
    let meta = r#"<office:document-meta><office:meta><dc:title>人事資料</dc:title></office:meta></office:document-meta>"#;
    let (summary, sink) = extract(&odf(
        "application/vnd.oasis.opendocument.text",
        content,
        styles,
        meta,
    ));
    assert_eq!(
        summary.content_type,
        "application/vnd.oasis.opendocument.text"
    );
    assert!(sink.problems.is_empty(), "{:?}", sink.problems);
    assert!(sink.at("content.xml").contains("社外秘の文書"));
    assert!(sink.at("styles.xml").contains("ヘッダーの極秘"));
    assert!(sink.at("meta.xml").contains("人事資料"));
    let (summary, _) = extract(&odf(
        "application/vnd.oasis.opendocument.spreadsheet",
        content,
        styles,
        meta,
    ));
    assert_eq!(
        summary.content_type,
        "application/vnd.oasis.opendocument.spreadsheet"
    );
}

#[test]
fn embedded_objects_recurse() {
    let inner = docx(&w_p(&["埋め込まれた", "極秘"]), &[]);
    let outer = docx(
        &w_p(&["本文"]),
        &[("word/embeddings/Microsoft_Word_Document.docx", &inner)],
    );
    let (_, sink) = extract(&outer);
    assert!(sink.problems.is_empty(), "{:?}", sink.problems);
    assert!(
        sink.at("word/embeddings/Microsoft_Word_Document.docx > word/document.xml")
            .contains("埋め込まれた極秘")
    );
}

#[test]
fn nested_archives_are_located() {
    let inner = zip(&[("a/b.txt", "社外秘のメモ".as_bytes())]);
    let tgz = gzip(&tar(&[
        ("docs/inner.zip", &inner),
        ("docs/readme.txt", b"hello"),
    ]));
    let outer = zip(&[("backup.tar.gz", &tgz)]);
    let (summary, sink) = extract(&outer);
    assert_eq!(summary.content_type, "application/zip");
    assert!(sink.problems.is_empty(), "{:?}", sink.problems);
    assert_eq!(
        sink.at("backup.tar.gz > docs/inner.zip > a/b.txt"),
        "社外秘のメモ"
    );
    assert_eq!(sink.at("backup.tar.gz > docs/readme.txt"), "hello");
    assert!(summary.bytes_expanded > 0);
}

#[test]
fn zip_bomb_is_refused_by_ratio() {
    let zeros = vec![0u8; 20 << 20];
    let bomb = zip(&[("zeros.txt", &zeros), ("ok.txt", "社外秘".as_bytes())]);
    assert!(bomb.len() < 200 << 10);
    let (summary, sink) = extract(&bomb);
    assert_eq!(
        sink.problem_kinds(),
        [("zeros.txt".to_owned(), "compression_ratio")]
    );
    assert_eq!(
        sink.at("ok.txt"),
        "社外秘",
        "extraction goes on after a bomb"
    );
    assert!(summary.bytes_expanded < 20 << 20);
}

#[test]
fn expansion_budget_is_shared_by_all_members() {
    let text = "社外秘 0123456789 ".repeat(20_000); // compresses well, but under 100:1
    let archive = zip(&[
        ("a.txt", text.as_bytes()),
        ("b.txt", text.as_bytes()),
        ("c.txt", b"c"),
    ]);
    let limits = Limits {
        max_expanded_bytes: text.len() as u64 + 10,
        max_ratio: 10_000,
        ..Limits::default()
    };
    let (summary, sink) = extract_with(&archive, limits);
    assert_eq!(
        sink.problem_kinds(),
        [("b.txt".to_owned(), "expansion_limit")]
    );
    assert!(summary.bytes_expanded <= text.len() as u64 + 10);
}

#[test]
fn deep_nesting_is_refused() {
    let mut blob = zip(&[("core.txt", "最深部の社外秘".as_bytes())]);
    for level in 0..10 {
        blob = zip(&[(&format!("level{level}.zip"), &blob)]);
    }
    let (_, sink) = extract(&blob);
    let deep: Vec<_> = sink
        .problems
        .iter()
        .filter(|u| u.reason == UninspectableReason::TooDeep)
        .collect();
    assert_eq!(deep.len(), 1, "{:?}", sink.problems);
    assert_eq!(deep[0].location.depth(), 8);
    assert!(!sink.all().contains("最深部"));
}

#[test]
fn too_many_entries() {
    let names: Vec<String> = (0..50).map(|i| format!("f{i}.txt")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), n.as_bytes())).collect();
    let archive = zip(&entries);
    let limits = Limits {
        max_entries: 10,
        ..Limits::default()
    };
    let (_, sink) = extract_with(&archive, limits);
    assert!(sink.has_problem("too_many_entries"), "{:?}", sink.problems);
    // Refused up front from the declared count: nothing was read.
    assert!(sink.parts.is_empty());
    // A declared count within limits, but nested archives add up.
    let inner = zip(&entries[..8]);
    let outer = zip(&[("x.zip", &inner), ("y.txt", b"y")]);
    let (_, sink) = extract_with(&outer, limits_with_entries(9));
    assert!(sink.has_problem("too_many_entries"), "{:?}", sink.problems);
}

fn limits_with_entries(n: usize) -> Limits {
    Limits {
        max_entries: n,
        ..Limits::default()
    }
}

#[test]
fn encrypted_zip_entry() {
    let archive = mark_encrypted(zip(&[("secret.txt", "社外秘".as_bytes())]));
    let (_, sink) = extract(&archive);
    assert_eq!(
        sink.problem_kinds(),
        [("secret.txt".to_owned(), "encrypted")]
    );
}

#[test]
fn encrypted_office_document() {
    let ole = cfb(&[
        ("EncryptionInfo", b"\x04\x00\x04\x00"),
        ("EncryptedPackage", &[0u8; 64]),
    ]);
    let (summary, sink) = extract(&ole);
    assert_eq!(summary.content_type, "application/x-ms-office-encrypted");
    assert_eq!(sink.problem_kinds(), [(String::new(), "encrypted")]);
}

#[test]
fn ole_package_stream_recurses() {
    let inner = docx(&w_p(&["OLE内の社外秘"]), &[]);
    let ole = cfb(&[("Package", &inner)]);
    let (_, sink) = extract(&ole);
    assert!(
        sink.at("Package > word/document.xml")
            .contains("OLE内の社外秘"),
        "{:?} {:?}",
        sink.locations(),
        sink.problems
    );
}

#[test]
fn corrupt_and_truncated_archives() {
    let (summary, sink) = extract(b"PK\x03\x04this is not really a zip file at all");
    assert_eq!(summary.content_type, "application/zip");
    assert!(
        matches!(sink.problems[0].reason, UninspectableReason::Corrupt(_)),
        "{:?}",
        sink.problems
    );

    let text = "社外秘の議事録。".repeat(2000);
    let gz = gzip(text.as_bytes());
    let truncated = &gz[..gz.len() / 2];
    let (_, sink) = extract(truncated);
    assert!(
        matches!(sink.problems[0].reason, UninspectableReason::Corrupt(_)),
        "{:?}",
        sink.problems
    );
    assert!(
        sink.all().contains("社外秘の議事録"),
        "what was inflated is still inspected"
    );
}

#[test]
fn identical_blobs_are_read_once() {
    let inner = zip(&[("same.txt", "社外秘".as_bytes())]);
    let outer = zip(&[
        ("one.zip", &inner),
        ("two.zip", &inner),
        ("three.zip", &inner),
    ]);
    let (_, sink) = extract(&outer);
    assert_eq!(sink.parts.len(), 1, "{:?}", sink.locations());
}

#[test]
fn every_encoding() {
    let text = "社外秘：マイナンバー 123456789018。関係者以外の閲覧を禁じます。\n";
    for encoding in [SHIFT_JIS, EUC_JP, ISO_2022_JP] {
        let (bytes, _, _) = encoding.encode(text);
        let (summary, sink) = extract(&bytes);
        assert_eq!(
            summary.content_type,
            format!("text/plain; charset={}", encoding.name())
        );
        assert_eq!(sink.all(), text, "{}", encoding.name());
    }
    for (encoding, big) in [(UTF_16LE, false), (UTF_16BE, true)] {
        let units: Vec<u8> = text
            .encode_utf16()
            .flat_map(|u| {
                if big {
                    u.to_be_bytes()
                } else {
                    u.to_le_bytes()
                }
            })
            .collect();
        let (summary, sink) = extract(&units);
        assert_eq!(
            summary.content_type,
            format!("text/plain; charset={}", encoding.name())
        );
        assert_eq!(sink.all(), text);
    }
    let (summary, sink) = extract(text.as_bytes());
    assert_eq!(summary.content_type, "text/plain; charset=UTF-8");
    assert_eq!(sink.all(), text);
}

#[test]
fn large_text_is_streamed_from_a_reader() {
    // Over the input limit and several chunks long, with characters cut at chunk boundaries.
    let line = "社外秘の行です 0123456789\n";
    let text = line.repeat((3 << 20) / line.len());
    let (sjis, _, _) = SHIFT_JIS.encode(&text);
    let limits = Limits {
        max_input_bytes: 1 << 20,
        ..Limits::default()
    };
    let mut sink = Collect::default();
    let len = sjis.len() as u64;
    let summary = Extractor::new(limits)
        .extract_reader(&mut std::io::Cursor::new(&sjis[..]), len, &mut sink)
        .unwrap();
    assert_eq!(summary.content_type, "text/plain; charset=Shift_JIS");
    assert_eq!(summary.bytes_read, len);
    assert_eq!(sink.parts.len(), 1);
    assert!(sink.parts[0].1 == text, "streamed text differs");
    assert!(sink.problems.is_empty());
}

#[test]
fn large_non_text_over_the_input_limit() {
    let big = zip(&[("a.txt", &vec![b'a'; 200_000])]);
    let mut padded = big.clone();
    padded.resize(100_000.max(big.len()), 0);
    let limits = Limits {
        max_input_bytes: 70_000,
        ..Limits::default()
    };
    let mut sink = Collect::default();
    let len = padded.len() as u64;
    let summary = Extractor::new(limits)
        .extract_reader(&mut std::io::Cursor::new(&padded[..]), len, &mut sink)
        .unwrap();
    assert_eq!(summary.content_type, "application/zip");
    assert_eq!(sink.problem_kinds(), [(String::new(), "too_large")]);
}

#[test]
fn html_and_rtf() {
    let html = "<html><head><meta charset=\"Shift_JIS\"><script>x='極秘'</script></head><body><p>&#x793E;&#22806;&#31192;</p><p>社外<b>秘</b></p></body></html>";
    let (bytes, _, _) = SHIFT_JIS.encode(html);
    let (summary, sink) = extract(&bytes);
    assert!(
        summary.content_type.starts_with("text/html"),
        "{}",
        summary.content_type
    );
    let text = sink.all();
    assert!(text.contains("社外秘\n社外秘"), "{text:?}");
    assert!(!text.contains("極秘"));

    let rtf = br"{\rtf1\ansi\ansicpg932{\fonttbl{\f0\fnil\fcharset128 MS Mincho;}}\f0 \u31038?\u22806?\u31192?\par \'8e\'d0\'8a\'4f\'94\'e9}";
    let (summary, sink) = extract(rtf);
    assert_eq!(summary.content_type, "application/rtf");
    assert_eq!(sink.all(), "社外秘\n社外秘");
}

#[test]
fn csv_cells_are_text() {
    let csv = "氏名,個人番号,区分\n山田,123456789018,社外秘\n";
    let (bytes, _, _) = SHIFT_JIS.encode(csv);
    let (_, sink) = extract(&bytes);
    assert_eq!(sink.all(), csv);
}

#[test]
fn mail_headers_bodies_attachments_nested() {
    let (subject, _, _) = ISO_2022_JP.encode("社外秘の件");
    let (body, _, _) = ISO_2022_JP.encode("本文：関係者外秘\r\n");
    let attachment = zip(&[("中身.txt", "添付の極秘".as_bytes())]);
    let nested = "From: b@example.jp\r\nTo: c@example.jp\r\nSubject: inner\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=E5=86=85=E5=81=B4=E3=81=AE=E7=A7=98=E5=AF=86\r\n";
    let eml = format!(
        "From: =?UTF-8?B?{from}?= <a@example.jp>\r\nTo: b@example.jp\r\nSubject: =?ISO-2022-JP?B?{subject}?=\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n\
         --XX\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: base64\r\n\r\n{body}\r\n\
         --XX\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename*=UTF-8''%E8%B3%87%E6%96%99.zip\r\nContent-Transfer-Encoding: base64\r\n\r\n{attachment}\r\n\
         --XX\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"fwd.eml\"\r\n\r\n{nested}\r\n\
         --XX--\r\n",
        from = base64("山田".as_bytes()),
        subject = base64(&subject),
        body = base64(&body),
        attachment = base64(&attachment),
    );
    let (summary, sink) = extract(eml.as_bytes());
    assert_eq!(summary.content_type, "message/rfc822");
    assert!(sink.problems.is_empty(), "{:?}", sink.problems);
    let headers = sink.at("headers");
    assert!(
        headers.contains("Subject: 社外秘の件") && headers.contains("山田"),
        "{headers:?}"
    );
    assert!(
        sink.at("body").contains("本文：関係者外秘"),
        "{:?}",
        sink.locations()
    );
    assert_eq!(sink.at("資料.zip > 中身.txt"), "添付の極秘");
    assert!(
        sink.at("fwd.eml > body").contains("内側の秘密"),
        "{:?}",
        sink.locations()
    );
}

#[test]
fn timeout_is_reported() {
    let archive = zip(&[("a.txt", "社外秘".as_bytes())]);
    let limits = Limits {
        time_budget: Duration::ZERO,
        ..Limits::default()
    };
    let (_, sink) = extract_with(&archive, limits);
    assert!(sink.has_problem("timeout"), "{:?}", sink.problems);
}

#[test]
fn unsupported_and_binary_content() {
    let (summary, sink) = extract(b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n");
    assert_eq!(summary.content_type, "application/pdf");
    // A PDF fragment with no xref or trailer goes to the PDF reader, which reports it as
    // damaged: uninspectable, never clean.
    assert!(
        matches!(&sink.problems[0].reason, UninspectableReason::Corrupt(detail) if detail.starts_with("pdf: ")),
        "{:?}",
        sink.problems
    );
    let (_, sink) = extract(b"7z\xBC\xAF\x27\x1C\x00\x04rest");
    assert!(sink.has_problem("parser_failure"));
    let noise: Vec<u8> = (0..10_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let (summary, sink) = extract(&noise);
    assert_eq!(summary.content_type, "application/octet-stream");
    assert!(sink.parts.is_empty() && sink.problems.is_empty());
}

#[test]
fn legacy_xls_every_sheet() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/hidden-sheet.xls"
    ))
    .unwrap();
    let (summary, sink) = extract(&bytes);
    assert_eq!(summary.content_type, "application/vnd.ms-excel");
    assert!(sink.problems.is_empty(), "{:?}", sink.problems);
    let list = sink.at("一覧");
    assert!(list.contains("山田太郎\t123456789018"), "{list:?}");
    assert!(list.contains("3.5"), "{list:?}");
    assert_eq!(sink.at("秘密"), "隠しシートの社外秘\n");
}

/// A minimal Word 97 file: a FIB pointing at a piece table with one UTF-16 piece and one
/// compressed (8-bit) piece.
fn word97(unicode: &str, ascii: &str) -> Vec<u8> {
    let mut word = vec![0u8; 0x400];
    word[0..2].copy_from_slice(&0xA5ECu16.to_le_bytes());
    word[0x0A..0x0C].copy_from_slice(&0x0200u16.to_le_bytes()); // 1Table
    let units: Vec<u8> = unicode.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let unicode_at = word.len();
    word.extend_from_slice(&units);
    let ascii_at = word.len();
    word.extend_from_slice(ascii.as_bytes());
    let n1 = unicode.encode_utf16().count() as u32;
    let n2 = ascii.len() as u32;
    let mut plc = Vec::new();
    for cp in [0, n1, n1 + n2] {
        plc.extend_from_slice(&cp.to_le_bytes());
    }
    for fc in [unicode_at as u32, (ascii_at as u32 * 2) | 0x4000_0000] {
        plc.extend_from_slice(&0u16.to_le_bytes());
        plc.extend_from_slice(&fc.to_le_bytes());
        plc.extend_from_slice(&0u16.to_le_bytes());
    }
    let mut clx = vec![0x02];
    clx.extend_from_slice(&(plc.len() as u32).to_le_bytes());
    clx.extend_from_slice(&plc);
    word[0x1A2..0x1A6].copy_from_slice(&0u32.to_le_bytes());
    word[0x1A6..0x1AA].copy_from_slice(&(clx.len() as u32).to_le_bytes());
    cfb(&[("WordDocument", &word), ("1Table", &clx)])
}

#[test]
fn legacy_doc_piece_table() {
    let (summary, sink) = extract(&word97("社外秘の議事録\r表\u{7}", " ascii part\r"));
    assert_eq!(summary.content_type, "application/msword");
    assert!(sink.problems.is_empty(), "{:?}", sink.problems);
    assert_eq!(sink.all(), "社外秘の議事録\n表\t ascii part\n");
}

#[test]
fn legacy_doc_encrypted_flag() {
    let mut doc = word97("x", "y");
    // Flip fEncrypted in the FIB copy inside the compound file.
    let at = doc
        .windows(2)
        .position(|w| w == 0xA5ECu16.to_le_bytes())
        .unwrap();
    doc[at + 0x0A + 1] |= 0x01;
    let (_, sink) = extract(&doc);
    assert_eq!(sink.problem_kinds(), [(String::new(), "encrypted")]);
}

#[test]
fn zip_appended_to_a_picture_is_read() {
    let mut polyglot = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0".to_vec();
    polyglot.extend_from_slice(&zip(&[("hidden.txt", "画像に隠した社外秘".as_bytes())]));
    let (summary, sink) = extract(&polyglot);
    assert_eq!(summary.content_type, "image/png");
    assert_eq!(
        sink.at("hidden.txt"),
        "画像に隠した社外秘",
        "{:?}",
        sink.problems
    );
}

#[test]
fn reader_with_a_wrong_length_and_a_tiny_input_limit() {
    let archive = zip(&[("a.txt", &vec![b'a'; 300_000])]);
    let mut padded = archive.clone();
    padded.resize(archive.len().max(100_000), 0);
    let limits = Limits {
        max_input_bytes: 1_000,
        ..Limits::default()
    };
    let mut sink = Collect::default();
    // The caller claims the content is empty: the limit still holds, nothing panics.
    let summary = Extractor::new(limits)
        .extract_reader(&mut std::io::Cursor::new(&padded[..]), 0, &mut sink)
        .unwrap();
    assert_eq!(summary.content_type, "application/zip");
    assert_eq!(sink.problem_kinds(), [(String::new(), "too_large")]);
}

#[test]
fn outlook_msg_properties_and_attachments() {
    use std::io::Write;
    let subject: Vec<u8> = "件名：社外秘"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let body: Vec<u8> = "本文：関係者外秘"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let attached = docx(&w_p(&["添付文書の極秘"]), &[]);
    let mut file = cfb::CompoundFile::create(std::io::Cursor::new(Vec::new())).unwrap();
    file.create_stream("__substg1.0_0037001F")
        .unwrap()
        .write_all(&subject)
        .unwrap();
    file.create_stream("__substg1.0_1000001F")
        .unwrap()
        .write_all(&body)
        .unwrap();
    file.create_storage("__attach_version1.0_#00000000")
        .unwrap();
    file.create_stream("__attach_version1.0_#00000000/__substg1.0_37010102")
        .unwrap()
        .write_all(&attached)
        .unwrap();
    file.flush().unwrap();
    let msg = file.into_inner().into_inner();
    let (summary, sink) = extract(&msg);
    assert_eq!(summary.content_type, "application/x-ole-storage");
    assert!(sink.problems.is_empty(), "{:?}", sink.problems);
    let text = sink.all();
    assert!(
        text.contains("件名：社外秘") && text.contains("本文：関係者外秘"),
        "{text:?}"
    );
    assert!(
        sink.at("attachment 1 > word/document.xml")
            .contains("添付文書の極秘"),
        "{:?}",
        sink.locations()
    );
}

#[test]
fn docx_simple_field_instructions() {
    let body = r#"<w:p><w:fldSimple w:instr=" DOCPROPERTY 社外秘区分 "><w:r><w:t>値</w:t></w:r></w:fldSimple></w:p>"#;
    let (_, sink) = extract(&docx(body, &[]));
    let text = sink.at("word/document.xml");
    assert!(
        text.contains("DOCPROPERTY 社外秘区分") && text.contains("値"),
        "{text:?}"
    );
}

#[test]
fn legacy_ppt_text_atoms() {
    let chars: Vec<u8> = "スライドの社外秘"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let mut stream = Vec::new();
    stream.extend_from_slice(&0x000Fu16.to_le_bytes()); // a container
    stream.extend_from_slice(&0x03E8u16.to_le_bytes());
    stream.extend_from_slice(&(8 + chars.len() as u32).to_le_bytes());
    stream.extend_from_slice(&0u16.to_le_bytes()); // TextCharsAtom
    stream.extend_from_slice(&0x0FA0u16.to_le_bytes());
    stream.extend_from_slice(&(chars.len() as u32).to_le_bytes());
    stream.extend_from_slice(&chars);
    let (summary, sink) = extract(&cfb(&[
        ("PowerPoint Document", &stream),
        ("Current User", b"x"),
    ]));
    assert_eq!(summary.content_type, "application/vnd.ms-powerpoint");
    assert!(sink.all().contains("スライドの社外秘"), "{:?}", sink.parts);
}
