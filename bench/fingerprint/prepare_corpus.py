#!/usr/bin/env python3
"""Turn installed manual pages into a plain-text corpus for the fingerprint benchmark.

Japanese: every page of Debian's `manpages-ja` (apt-get install -y manpages-ja).
English: pages of section 1 (a deterministic sample), as installed on the machine.
Roff requests and font escapes are stripped; pages shorter than 1,500 characters are dropped.

usage: prepare_corpus.py OUTDIR
"""
import gzip
import os
import re
import sys

MIN_CHARS = 1500
ESCAPES = re.compile(r"\\f(\[[^\]]*\]|\(..|.)|\\\(..|\\[&/,|^~ ]|\\s[-+]?\d|\\\*\(..|\\\*.")


def roff_to_text(raw: str) -> str:
    out = []
    for line in raw.splitlines():
        if line.startswith(".\\\"") or line.startswith("'\\\""):
            continue
        if line.startswith("."):
            parts = line.split(None, 1)
            if parts[0] in (".SH", ".SS", ".B", ".I", ".BR", ".IR", ".RB", ".BI", ".IB", ".TP", ".IP") and len(parts) > 1:
                line = parts[1].replace('"', "")
            else:
                continue
        line = ESCAPES.sub("", line).replace("\\-", "-").replace("\\e", "\\")
        out.append(line)
    return "\n".join(out)


def convert(root: str, outdir: str, limit: int) -> int:
    os.makedirs(outdir, exist_ok=True)
    files = []
    for dirpath, _, names in os.walk(root):
        if "/ja" not in root and dirpath != root:
            continue
        files += [os.path.join(dirpath, n) for n in names if n.endswith(".gz")]
    files.sort()
    count = 0
    for path in files:
        if count >= limit:
            break
        try:
            raw = gzip.open(path).read().decode("utf-8")
        except Exception:
            continue
        if raw.startswith(".so "):
            continue
        text = roff_to_text(raw)
        if len(text) < MIN_CHARS:
            continue
        name = os.path.basename(path)[:-3]
        with open(os.path.join(outdir, name + ".txt"), "w") as f:
            f.write(text)
        count += 1
    return count


def main() -> None:
    outdir = sys.argv[1]
    ja = convert("/usr/share/man/ja", os.path.join(outdir, "ja"), 10_000)
    en = convert("/usr/share/man/man1", os.path.join(outdir, "en"), 400)
    print(f"{ja} Japanese and {en} English pages in {outdir}")


if __name__ == "__main__":
    main()
