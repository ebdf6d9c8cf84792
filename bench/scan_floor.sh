#!/bin/sh
# The floor under `mamori scan` in the plain-text comparison with ripgrep: the first steps of any
# scan (read, search the labels, validate UTF-8, normalise) with nothing else, beside `rg -c -F -f
# labels` and `mamori scan`, on the same corpus (crates/inspect/examples/scan_floor.rs says what
# each mode adds). Warm cache, 2 threads like the others.
#   bench/scan_floor.sh [TEXT_DIR]     (RUNS=20; the corpus of bench/scan.py by default)
# Needs rg and hyperfine; generates the corpus if missing (python3 bench/gen_corpus.py).
set -eu
cd "$(dirname "$0")/.."
text="${1:-bench/out/text-120mb}"
runs="${RUNS:-20}"
target="${CARGO_TARGET_DIR:-target}"
[ -d "$text" ] || python3 bench/gen_corpus.py text "$text" --mb 120
cargo build --release -q -p mamori
cargo build --release -q -p mamori-inspect --example scan_floor
floor="$target/release/examples/scan_floor"
labels="$text/labels.txt"
json=$(mktemp)
trap 'rm -f "$json"' EXIT
hyperfine -N -i --warmup 3 --runs "$runs" --export-json "$json" \
    -n "rg -c -F -f labels" "rg -c -F -f $labels $text" \
    -n "read" "$floor --mode read --labels $labels $text" \
    -n "read + labels" "$floor --mode labels --labels $labels $text" \
    -n "+ UTF-8 validation" "$floor --mode utf8 --labels $labels $text" \
    -n "+ ICU4X NFKC quick check" "$floor --mode nfkc-check --labels $labels $text" \
    -n "+ the engine's normalisation (instead)" "$floor --mode normalize --labels $labels $text" \
    -n "mamori scan --no-fingerprints" "$target/release/mamori scan --format json --no-progress --no-fingerprints $text" \
    > /dev/null
python3 - "$json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
rg = results[0]["mean"]
print("| command | mean (ms) | min (ms) | user + sys (ms) | ratio to rg |")
print("|---|---|---|---|---|")
for r in results:
    print(f"| {r['command']} | {r['mean'] * 1e3:.1f} | {r['min'] * 1e3:.1f} | "
          f"{(r['user'] + r['system']) * 1e3:.0f} | {r['mean'] / rg:.2f}x |")
PY
