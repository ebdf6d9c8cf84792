#!/usr/bin/env python3
"""Generates a made-up corpus for Mamori's benchmarks: no downloads, deterministic.

    bench/gen_corpus.py text   OUT_DIR --mb 120      # mixed Japanese/English plain text
    bench/gen_corpus.py office OUT_DIR --files 400   # DOCX/XLSX/PPTX/ODT/PDF/zip, with a manifest
    bench/gen_corpus.py large  OUT_DIR --mb 1024     # few large files, for the memory bound

Every planted secret is recorded in OUT_DIR/manifest.json (file -> list of planted labels), so
recall can be measured. Texts come from small built-in word lists; nothing real is used.
"""
import argparse
import io
import json
import os
import random
import zipfile

JA_WORDS = (
    "設計 図面 試作 評価 工程 品質 管理 開発 計画 会議 報告 資料 担当 部門 研究 実験 結果 仕様 製品 部品 "
    "材料 配合 温度 圧力 寸法 公差 検査 出荷 顧客 取引 契約 予算 原価 利益 技術 特許 改良 性能 試験 装置 "
    "生産 ライン 工場 在庫 発注 納期 見積 提案 承認 確認 変更 対応 課題 方針 目標 進捗 検討 調整 記録"
).split()
JA_PARTICLES = "の を に は が と で から まで より へ".split()
JA_ENDINGS = ["である。", "とする。", "を行う。", "を確認した。", "について検討する。", "が必要である。", "を報告する。"]
EN_WORDS = (
    "design drawing prototype evaluation process quality control development plan meeting report material "
    "temperature pressure dimension tolerance inspection shipment customer contract budget cost profit "
    "technology patent improvement performance test equipment production line factory inventory order "
    "delivery estimate proposal approval change issue policy target progress review schedule record the a "
    "of and to in for with on by from this that will be is are was were we our team project"
).split()
LABELS_JA = ["社外秘", "極秘", "機密情報", "部外秘", "関係者外秘", "取扱注意"]
LABELS_EN = ["Confidential", "Strictly Confidential", "Internal Use Only"]


def my_number(rng):
    """A random valid My Number (mod-11 check digit, weights 6,5,4,3,2,7,6,5,4,3,2)."""
    digits = [rng.randrange(10) for _ in range(11)]
    s = sum(d * w for d, w in zip(digits, [6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2]))
    r = s % 11
    check = 0 if r <= 1 else 11 - r
    return "".join(map(str, digits)) + str(check)


def ja_sentence(rng):
    n = rng.randint(4, 9)
    parts = []
    for i in range(n):
        parts.append(rng.choice(JA_WORDS))
        if i < n - 1:
            parts.append(rng.choice(JA_PARTICLES))
    return "".join(parts) + rng.choice(JA_ENDINGS)


def en_sentence(rng):
    words = [rng.choice(EN_WORDS) for _ in range(rng.randint(6, 16))]
    words[0] = words[0].capitalize()
    return " ".join(words) + "."


def paragraph(rng, planted):
    """A paragraph of mixed text; with small probability plants a label or a My Number."""
    sentences = []
    for _ in range(rng.randint(3, 8)):
        sentences.append(ja_sentence(rng) if rng.random() < 0.6 else en_sentence(rng) + " ")
        # Numbers that are not identifiers, as real documents have.
        if rng.random() < 0.3:
            sentences.append(f"{rng.randint(1, 9999)}個、{rng.randint(2000, 2030)}年{rng.randint(1, 12)}月。")
    roll = rng.random()
    if roll < 0.002:
        label = rng.choice(LABELS_JA + LABELS_EN)
        planted.append(label)
        sentences.insert(0, f"【{label}】" if label in LABELS_JA else f"{label} ")
    elif roll < 0.003:
        planted.append("my_number")
        sentences.append(f"マイナンバー: {my_number(rng)}。")
    return "".join(sentences)


def gen_text(out, mb, seed=1):
    rng = random.Random(seed)
    os.makedirs(out, exist_ok=True)
    manifest = {}
    target = mb * 1_000_000
    written = 0
    i = 0
    while written < target:
        # Mostly small and medium files, some large ones, like a real share.
        size = rng.choice([4_000, 20_000, 80_000, 300_000, 1_000_000, 4_000_000])
        planted = []
        chunks = []
        n = 0
        while n < size:
            p = paragraph(rng, planted) + "\n\n"
            chunks.append(p)
            n += len(p.encode("utf-8"))
        data = "".join(chunks).encode("utf-8")
        name = f"dir{i % 20:02d}/doc{i:05d}.txt"
        os.makedirs(os.path.join(out, os.path.dirname(name)), exist_ok=True)
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        if planted:
            manifest[name] = planted
        written += len(data)
        i += 1
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump({"files": i, "bytes": written, "planted": manifest}, f, ensure_ascii=False, indent=1)
    with open(os.path.join(out, "labels.txt"), "w") as f:
        f.write("\n".join(LABELS_JA + LABELS_EN) + "\n")
    print(f"{i} files, {written / 1e6:.1f} MB in {out}")


# ---- Office formats, written by hand with zipfile: the smallest valid documents. ----

def esc(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def docx(paragraphs, header=None):
    ct = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
          '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
          '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
          '<Default Extension="xml" ContentType="application/xml"/>'
          '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
          + ('<Override PartName="/word/header1.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.header+xml"/>' if header else '')
          + '</Types>')
    rels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>'
            '</Relationships>')
    W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
    body = "".join(f'<w:p><w:r><w:t xml:space="preserve">{esc(p)}</w:t></w:r></w:p>' for p in paragraphs)
    sect = ''
    doc_rels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">')
    if header:
        sect = '<w:sectPr><w:headerReference w:type="default" r:id="rIdH1"/></w:sectPr>'
        doc_rels += ('<Relationship Id="rIdH1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/header" Target="header1.xml"/>')
    doc_rels += '</Relationships>'
    document = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document {W}><w:body>{body}{sect}</w:body></w:document>'
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", ct)
        z.writestr("_rels/.rels", rels)
        z.writestr("word/document.xml", document)
        z.writestr("word/_rels/document.xml.rels", doc_rels)
        if header:
            z.writestr("word/header1.xml", f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:hdr {W}><w:p><w:r><w:t>{esc(header)}</w:t></w:r></w:p></w:hdr>')
    return buf.getvalue()


def xlsx(rows):
    strings = []
    index = {}

    def sid(s):
        if s not in index:
            index[s] = len(strings)
            strings.append(s)
        return index[s]

    def col(i):
        return chr(ord("A") + i)
    sheet_rows = []
    for r, row in enumerate(rows, 1):
        cells = []
        for c, value in enumerate(row):
            ref = f"{col(c)}{r}"
            if isinstance(value, int):
                cells.append(f'<c r="{ref}"><v>{value}</v></c>')
            else:
                cells.append(f'<c r="{ref}" t="s"><v>{sid(value)}</v></c>')
        sheet_rows.append(f'<row r="{r}">{"".join(cells)}</row>')
    S = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    R = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                   '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                   '<Default Extension="xml" ContentType="application/xml"/>'
                   '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                   '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                   '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
                   '</Types>')
        z.writestr("_rels/.rels", '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        z.writestr("xl/workbook.xml", f'<?xml version="1.0" encoding="UTF-8"?><workbook {S} {R}><sheets><sheet name="顧客一覧" sheetId="1" r:id="rId1"/></sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels", '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>')
        z.writestr("xl/worksheets/sheet1.xml", f'<?xml version="1.0" encoding="UTF-8"?><worksheet {S}><sheetData>{"".join(sheet_rows)}</sheetData></worksheet>')
        sst = "".join(f"<si><t>{esc(s)}</t></si>" for s in strings)
        z.writestr("xl/sharedStrings.xml", f'<?xml version="1.0" encoding="UTF-8"?><sst {S} count="{len(strings)}" uniqueCount="{len(strings)}">{sst}</sst>')
    return buf.getvalue()


def pptx(slides):
    P = 'xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        overrides = "".join(
            f'<Override PartName="/ppt/slides/slide{i}.xml" ContentType="application/vnd.openxmlformats-officedocument.presentationml.slide+xml"/>'
            for i in range(1, len(slides) + 1))
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                   '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                   '<Default Extension="xml" ContentType="application/xml"/>'
                   '<Override PartName="/ppt/presentation.xml" ContentType="application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"/>'
                   + overrides + '</Types>')
        z.writestr("_rels/.rels", '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="ppt/presentation.xml"/></Relationships>')
        ids = "".join(f'<p:sldId id="{255 + i}" r:id="rId{i}"/>' for i in range(1, len(slides) + 1))
        z.writestr("ppt/presentation.xml", f'<?xml version="1.0" encoding="UTF-8"?><p:presentation {P}><p:sldIdLst>{ids}</p:sldIdLst></p:presentation>')
        rels = "".join(f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/slide" Target="slides/slide{i}.xml"/>' for i in range(1, len(slides) + 1))
        z.writestr("ppt/_rels/presentation.xml.rels", f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>')
        for i, text in enumerate(slides, 1):
            paras = "".join(f"<a:p><a:r><a:t>{esc(t)}</a:t></a:r></a:p>" for t in text.split("\n"))
            z.writestr(f"ppt/slides/slide{i}.xml", f'<?xml version="1.0" encoding="UTF-8"?><p:sld {P}><p:cSld><p:spTree><p:sp><p:txBody>{paras}</p:txBody></p:sp></p:spTree></p:cSld></p:sld>')
    return buf.getvalue()


def odt(paragraphs):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text", compress_type=zipfile.ZIP_STORED)
        z.writestr("META-INF/manifest.xml", '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>')
        body = "".join(f"<text:p>{esc(p)}</text:p>" for p in paragraphs)
        z.writestr("content.xml", f'<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:text>{body}</office:text></office:body></office:document-content>')
    return buf.getvalue()


def pdf(pages):
    """A PDF whose text is in a Type0 font (Identity-H) with a ToUnicode map: the way real
    Japanese PDFs carry text, and what pdftotext reads. Codes are the UTF-16 code units, so the
    ToUnicode map is the identity over the characters used."""
    chars = sorted({ord(c) for page in pages for c in page if c != "\n" and ord(c) < 0x10000})
    objects = []

    def add(body):
        objects.append(body)
        return len(objects)
    font_file_free = True  # no embedded glyphs: text extraction only needs ToUnicode
    cmap_lines = [f"<{c:04X}> <{c:04X}>" for c in chars]
    bf = []
    for i in range(0, len(cmap_lines), 100):
        block = cmap_lines[i:i + 100]
        bf.append(f"{len(block)} beginbfchar\n" + "\n".join(block) + "\nendbfchar")
    cmap = ("/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
            "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
            "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n" + "\n".join(bf) +
            "\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n")
    tounicode = add(f"<< /Length {len(cmap.encode())} >>\nstream\n{cmap}\nendstream")
    descendant = add("<< /Type /Font /Subtype /CIDFontType2 /BaseFont /MSGothic /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /DW 1000 >>")
    font = add(f"<< /Type /Font /Subtype /Type0 /BaseFont /MSGothic /Encoding /Identity-H /DescendantFonts [{descendant} 0 R] /ToUnicode {tounicode} 0 R >>")
    _ = font_file_free
    pages_id = len(objects) + 1 + 2 * len(pages)  # placeholder id computed below
    page_ids = []
    content_ids = []
    for page in pages:
        ops = ["BT", "/F1 10 Tf", "40 800 Td", "12 TL"]
        for line in page.split("\n"):
            hexs = "".join(f"{ord(c):04X}" for c in line if ord(c) < 0x10000)
            ops.append(f"<{hexs}> Tj T*")
        ops.append("ET")
        stream = "\n".join(ops)
        content_ids.append(add(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream"))
        page_ids.append(None)
    pages_id = len(objects) + len(pages) + 1
    for i, cid in enumerate(content_ids):
        page_ids[i] = add(f"<< /Type /Page /Parent {pages_id} 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 {font} 0 R >> >> /Contents {cid} 0 R >>")
    kids = " ".join(f"{p} 0 R" for p in page_ids)
    assert add(f"<< /Type /Pages /Kids [{kids}] /Count {len(page_ids)} >>") == pages_id
    catalog = add(f"<< /Type /Catalog /Pages {pages_id} 0 R >>")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n".encode() + body.encode("latin-1") + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root {catalog} 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def gen_office(out, files, seed=2):
    rng = random.Random(seed)
    os.makedirs(out, exist_ok=True)
    planted_all = {}
    kinds = ["docx", "xlsx", "pptx", "odt", "pdf", "zip"]
    for i in range(files):
        kind = kinds[i % len(kinds)]
        label = rng.choice(LABELS_JA + LABELS_EN) if rng.random() < 0.3 else None
        planted = [label] if label else []
        paras = [paragraph(rng, []) for _ in range(rng.randint(10, 60))]
        if label:
            paras.insert(rng.randrange(len(paras) + 1), f"本資料は{label}です。" if label in LABELS_JA else f"This document is {label}.")
        if kind == "docx":
            data = docx(paras)
        elif kind == "xlsx":
            rows = [["氏名", "部署", "メモ"]] + [[f"社員{j}", rng.choice(JA_WORDS), p[:80]] for j, p in enumerate(paras)]
            data = xlsx(rows)
        elif kind == "pptx":
            data = pptx(["\n".join(paras[j:j + 5]) for j in range(0, len(paras), 5)])
        elif kind == "odt":
            data = odt(paras)
        elif kind == "pdf":
            # Wrap long paragraphs into lines as a layout engine would.
            lines = []
            for p in paras:
                lines.extend(p[k:k + 40] for k in range(0, len(p), 40))
            if label:
                # Keep the label on one line, as a stamp is.
                lines.insert(0, f"【{label}】")
            data = pdf(["\n".join(lines[k:k + 60]) for k in range(0, len(lines), 60)])
        else:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                z.writestr("report/summary.docx", docx(paras[: len(paras) // 2]))
                z.writestr("report/notes.txt", "\n".join(paras[len(paras) // 2:]))
            data = buf.getvalue()
        name = f"{kind}/file{i:04d}.{kind}"
        os.makedirs(os.path.join(out, kind), exist_ok=True)
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        if planted:
            planted_all[name] = planted
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump({"files": files, "planted": planted_all}, f, ensure_ascii=False, indent=1)
    with open(os.path.join(out, "labels.txt"), "w") as f:
        f.write("\n".join(LABELS_JA + LABELS_EN) + "\n")
    print(f"{files} office files in {out}, {len(planted_all)} with a planted label")


def gen_large(out, mb, seed=3):
    """A few big files: plain text of 200 MB, a 50 MB DOCX-in-zip, many 10 MB files."""
    rng = random.Random(seed)
    os.makedirs(out, exist_ok=True)
    budget = mb * 1_000_000
    written = 0
    i = 0
    para = [paragraph(rng, []) + "\n" for _ in range(2000)]
    while written < budget:
        size = 200_000_000 if i == 0 else 10_000_000
        size = min(size, budget - written)
        with open(os.path.join(out, f"big{i:03d}.txt"), "w", encoding="utf-8") as f:
            n = 0
            while n < size:
                p = rng.choice(para)
                f.write(p)
                n += len(p.encode())
        written += size
        i += 1
    print(f"{i} large files, {written / 1e6:.0f} MB in {out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=["text", "office", "large"])
    ap.add_argument("out")
    ap.add_argument("--mb", type=int, default=120)
    ap.add_argument("--files", type=int, default=400)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if a.kind == "text":
        gen_text(a.out, a.mb, a.seed)
    elif a.kind == "office":
        gen_office(a.out, a.files, a.seed)
    else:
        gen_large(a.out, a.mb, a.seed)


if __name__ == "__main__":
    main()
