#!/usr/bin/env python3
"""Writes a PDF of N pages of ordinary (public) office text, Helvetica, one uncompressed content
stream per page, with a correct cross-reference table. Usage: make_pdf.py PAGES OUT.pdf"""
import sys

pages, out = int(sys.argv[1]), sys.argv[2]
lines = [
    "Quarterly facilities report: cafeteria menu, parking, meeting rooms and the new printer",
    "policy. Staff may book rooms through the portal; the third floor kitchen closes at 19:00.",
]
objects = []  # bodies, object n is objects[n-1]


def add(body: bytes) -> int:
    objects.append(body)
    return len(objects)


font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
pages_id = add(b"")  # filled below
kids = []
for p in range(pages):
    text = [f"BT /F1 10 Tf 50 780 Td 12 TL (Page {p + 1} of {pages}) Tj T*"]
    for i in range(55):
        text.append(f"({lines[i % 2]}) ' ")
    text.append("ET")
    stream = " ".join(text).encode()
    content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    kids.append(add(
        b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Contents %d 0 R "
        b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (pages_id, content, font)))
objects[pages_id - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
    b" ".join(b"%d 0 R" % k for k in kids), len(kids))
catalog = add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)

data = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
offsets = []
for n, body in enumerate(objects, 1):
    offsets.append(len(data))
    data += b"%d 0 obj\n" % n + body + b"\nendobj\n"
xref = len(data)
data += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
for off in offsets:
    data += b"%010d 00000 n \n" % off
data += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, catalog, xref)
open(out, "wb").write(data)
