#!/usr/bin/env bash
# Builds a mixed Japanese/English plain-text corpus of at least SIZE_MB (default 128) MB from
# Debian's manpages-ja and the English man pages, with confidentiality labels, identifiers and
# digits sprinkled in. Usage: bench/inspect/make_corpus.sh OUT_FILE [SIZE_MB]
# Needs: apt-get install -y manpages-ja man-db groff-base
set -euo pipefail
out=${1:?usage: make_corpus.sh OUT_FILE [SIZE_MB]}
size_mb=${2:-128}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# One pass over the man pages: decompressed roff source is real prose with markup, like
# extracted documents.
find /usr/share/man/ja -name '*.gz' -print0 | sort -z | xargs -0 zcat -f 2>/dev/null > "$tmp/ja.txt" || true
find /usr/share/man/man1 /usr/share/man/man5 /usr/share/man/man8 -name '*.gz' -print0 | sort -z | head -z -n 800 \
    | xargs -0 zcat -f 2>/dev/null > "$tmp/en.txt" || true
python3 - "$tmp/ja.txt" "$tmp/en.txt" "$out" "$size_mb" <<'PY'
import random, sys
ja = open(sys.argv[1], encoding="utf-8", errors="replace").read().splitlines()
en = open(sys.argv[2], encoding="utf-8", errors="replace").read().splitlines()
target = int(sys.argv[4]) << 20
rng = random.Random(42)
rare = ["社外秘", "【極秘】", "CONFIDENTIAL", "マイナンバー：1234-5678-9018", "TEL 03-1234-5678",
        "社 外 秘", "ＣＯＮＦＩＤＥＮＴＩＡＬ", "注文番号 20241123-0042", "4111 1111 1111 1111"]
written = 0
with open(sys.argv[3], "w", encoding="utf-8") as f:
    while written < target:
        for i in range(2000):
            r = rng.random()
            line = rng.choice(ja) if r < 0.6 else rng.choice(en)
            if rng.random() < 0.002:
                line += " " + rng.choice(rare)
            f.write(line + "\n")
            written += len(line.encode()) + 1
print(f"{sys.argv[3]}: {written/2**20:.1f} MiB")
PY
