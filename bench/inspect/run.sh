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
# Best of 3 runs: "wall cpu" seconds (cpu = user + sys). The shared development machines are
# heavily loaded, so CPU time is the steadier figure for single-threaded runs.
best() {
    local best_w=999999 best_c=999999
    for _ in 1 2 3; do
        local out w u s c
        out=$( { TIMEFORMAT='%R %U %S'; time "$@" > /dev/null 2>&1 || true; } 2>&1 )
        read -r w u s <<< "$out"
        c=$(echo "$u + $s" | bc -l)
        best_w=$(echo "if ($w < $best_w) $w else $best_w" | bc -l)
        best_c=$(echo "if ($c < $best_c) $c else $best_c" | bc -l)
    done
    echo "$best_w $best_c"
}
rg_t=$(best rg -c -F -f "$labels" "$corpus")
rg1_t=$(best rg -j1 -c -F -f "$labels" "$corpus")
rgi_t=$(best rg -j1 -c -i -F -f "$labels" "$corpus")
me_t=$(best taskset -c 0 "$bin" "$corpus")
mb=$(echo "$size / 1048576" | bc -l)
read -r rgj1_w rgj1_c <<< "$rg1_t"
printf '| %-42s | %8s | %8s | %12s | %12s |\n' "command ($(printf '%.0f' "$mb") MiB)" "wall s" "cpu s" "MiB/cpu-s" "cpu vs rg -j1"
printf '| %-42s | %8s | %8s | %12s | %12s |\n' "---" "---:" "---:" "---:" "---:"
for row in "rg -c -F -f labels (all cores)|$rg_t" "rg -j1 -c -F -f labels|$rg1_t" "rg -j1 -c -i -F -f labels|$rgi_t" "inspect_files (1 thread, every detector)|$me_t"; do
    name=${row%|*}; read -r w c <<< "${row##*|}"
    printf '| %-42s | %8.3f | %8.3f | %12.1f | %11.2fx |\n' "$name" "$w" "$c" "$(echo "$mb / $c" | bc -l)" "$(echo "$c / $rgj1_c" | bc -l)"
done
