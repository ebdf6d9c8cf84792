#!/bin/sh
# What a fingerprint index costs `mamori scan`: the real binary over the same corpus with the
# index (the data directory's default one) and with --no-fingerprints, side by side.
# Needs hyperfine, python3 and Debian's manpages-ja (apt-get install -y hyperfine manpages-ja).
#   bench/fingerprint/scan_cost.sh [OUT_DIR]   (RUNS=5, ROUNDS=3, TEXT_MB=60, OFFICE_FILES=3000 by default)
set -eu
cd "$(dirname "$0")/../.."
out="${1:-/tmp/mamori-fp-scan-cost}"
runs="${RUNS:-5}"
target="${CARGO_TARGET_DIR:-target}"
mkdir -p "$out"
cargo build --release -p mamori -p mamori-fingerprint --example fingerprint_bench
cargo build --release -p mamori
mamori="$target/release/mamori"
bench="$target/release/examples/fingerprint_bench"

# Corpora: generated mixed Japanese/English text, the manual pages as plain text (the worst
# case for the ratio: reading them costs the engine least), and generated office files (DOCX,
# XLSX, PPTX, ODT, PDF, ZIP: what a file share holds, where extracting the text costs more).
[ -d "$out/text" ] || python3 bench/gen_corpus.py text "$out/text" --mb "${TEXT_MB:-60}"
[ -d "$out/man" ] || python3 bench/fingerprint/prepare_corpus.py "$out/man"
[ -d "$out/office" ] || python3 bench/gen_corpus.py office "$out/office" --files "${OFFICE_FILES:-3000}"
# Indexes: the scale test's 10,000 documents (100 MB of text, nothing in common with the
# corpora: the cost of looking up without finding), and all Japanese manual pages registered
# (every Japanese page of the man corpus is found: the cost of finding).
[ -f "$out/data-10k/fingerprints/documents.idx" ] || "$bench" make-index "$out/data-10k"
if [ ! -f "$out/data-man/fingerprints/documents.idx" ]; then
    "$mamori" fingerprint --data-dir "$out/data-man" add --level gokuhi --name man "$out/man/ja" > /dev/null
fi

# This VM's speed drifts by 5-10 % over minutes: each pair is measured in ROUNDS rounds
# (without, then with, RUNS runs each), and the rounds are averaged, so that drift falls on
# both sides alike.
rounds="${ROUNDS:-3}"
for round in $(seq "$rounds"); do
    for corpus in text man office; do
        for data in data-10k data-man; do
            for j in "" "-j1"; do
                hyperfine -N -i --warmup 1 --runs "$runs" --export-json "$out/$corpus-$data$j.$round.json" \
                    -n "without" "$mamori scan $j --no-progress --format json --no-fingerprints --data-dir $out/$data $out/$corpus" \
                    -n "with" "$mamori scan $j --no-progress --format json --data-dir $out/$data $out/$corpus" \
                    > /dev/null
            done
        done
    done
done

python3 - "$out" "$rounds" <<'PY'
import json, os, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def mb(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs) / 1e6
print("| corpus | index | threads | wall without (s) | wall with (s) | wall + | CPU without (s) | CPU with (s) | CPU + |")
print("|---|---|---|---|---|---|---|---|---|")
for corpus in ["text", "man", "office"]:
    size = mb(os.path.join(out, corpus))
    ja_pages = len(os.listdir(os.path.join(out, "man", "ja")))
    for data, label in [("data-10k", "10,000 docs / 100 MB"), ("data-man", f"{ja_pages} ja man pages")]:
        for j in ["", "-j1"]:
            runs = [{x["command"]: x for x in json.load(open(f"{out}/{corpus}-{data}{j}.{n}.json"))["results"]}
                    for n in range(1, rounds + 1)]
            average = lambda name: {key: sum(r[name][key] for r in runs) / rounds for key in ["mean", "user", "system"]}
            wo, wi = average("without"), average("with")
            cpu = lambda x: x["user"] + x["system"]
            print(f"| {corpus} ({size:.0f} MB) | {label} | {'1' if j else '2'} | {wo['mean']:.3f} | {wi['mean']:.3f} | "
                  f"{100 * (wi['mean'] / wo['mean'] - 1):+.0f} % | {cpu(wo):.3f} | {cpu(wi):.3f} | {100 * (cpu(wi) / cpu(wo) - 1):+.0f} % |")
PY
