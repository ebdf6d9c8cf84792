#!/usr/bin/env bash
# Times the inspection engine against ripgrep on a large mixed Japanese/English text file.
# Usage: bench/inspect/run.sh [CORPUS] (built by make_corpus.sh if missing)
# Needs: apt-get install -y ripgrep manpages-ja
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
corpus=${1:-/tmp/mamori-bench-corpus.txt}
[ -f "$corpus" ] || "$root/bench/inspect/make_corpus.sh" "$corpus" 128
labels=$(mktemp)
trap 'rm -f "$labels"' EXIT
# The default label list (the words of the built-in label dictionaries).
printf '%s\n' 極秘 社外秘 部外秘 関係者外秘 社内限り 社内限定 取扱注意 機密 秘密 ㊙ マル秘 '(秘)' '【秘】' \
    Confidential 'Strictly Confidential' 'Internal Use Only' 'Top Secret' Secret > "$labels"
cargo build --release -q -p mamori-inspect --example inspect_files --manifest-path "$root/Cargo.toml"
bin=${CARGO_TARGET_DIR:-$root/target}/release/examples/inspect_files
size=$(stat -c %s "$corpus")
cat "$corpus" > /dev/null # warm the page cache
best() { # best of 3 wall-clock seconds of "$@"
    local best=999999
    for _ in 1 2 3; do
        local s e t
        s=$(date +%s.%N); "$@" > /dev/null || true; e=$(date +%s.%N)
        t=$(echo "$e - $s" | bc -l)
        best=$(echo "if ($t < $best) $t else $best" | bc -l)
    done
    echo "$best"
}
rg_t=$(best rg -c -F -f "$labels" "$corpus")
rg1_t=$(best rg -j1 -c -F -f "$labels" "$corpus")
rgi_t=$(best rg -j1 -c -i -F -f "$labels" "$corpus")
me_t=$(best taskset -c 0 "$bin" "$corpus")
mb=$(echo "$size / 1048576" | bc -l)
printf '| %-40s | %8s | %9s | %7s |\n' "command ($(printf '%.0f' "$mb") MiB)" "seconds" "MiB/s" "vs rg"
printf '| %-40s | %8s | %9s | %7s |\n' "---" "---:" "---:" "---:"
for row in "rg -c -F -f labels:$rg_t" "rg -j1 -c -F -f labels:$rg1_t" "rg -j1 -c -i -F -f labels:$rgi_t" "inspect_files (1 core, all detectors):$me_t"; do
    name=${row%:*}; t=${row##*:}
    printf '| %-40s | %8.3f | %9.1f | %6.2fx |\n' "$name" "$t" "$(echo "$mb / $t" | bc -l)" "$(echo "$t / $rg_t" | bc -l)"
done
