#!/usr/bin/env bash
# Encrypt/decrypt throughput of `mamori protect` / `mamori open` against the `rage` command-line
# tool (the reference age implementation in Rust) on the same files, side by side.
#
# Usage: bench/protect/bench.sh [SIZE_MIB...]      (default: 64 1024)
# Needs: `rage` on PATH (cargo install rage), a release `mamori` (MAMORI=path, else built with
# `cargo build --release -p mamori`). Files live in $BENCH_DIR (default: a temp dir), which is
# removed at the end. Each measurement is the best of $RUNS runs (default 3), files in the page
# cache, so the numbers are CPU throughput, not disk.
set -euo pipefail

sizes=("${@:-64 1024}")
# shellcheck disable=SC2206
sizes=(${sizes[*]})
runs=${RUNS:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
if [[ -z "${MAMORI:-}" ]]; then
    (cd "$root" && cargo build --release -p mamori --quiet)
    MAMORI="${CARGO_TARGET_DIR:-$root/target}/release/mamori"
fi
command -v rage >/dev/null || { echo "rage not found: cargo install rage" >&2; exit 2; }

work=${BENCH_DIR:-$(mktemp -d)}
trap 'rm -rf "$work"' EXIT
export MAMORI_DATA_DIR="$work/data" MAMORI_USER=bench MAMORI_PASSPHRASE=bench-passphrase
# Low scrypt cost so the one-off passphrase unlock (normally ~1 s by design) does not count.
"$MAMORI" keys create-user --scrypt-log-n 10 >/dev/null
"$MAMORI" keys create-group bench >/dev/null
rage-keygen -o "$work/rage.key" 2>/dev/null
recipient=$(grep -o 'age1[0-9a-z]*' "$work/rage.key" | head -1)

# best_of CMD...: prints "WALL CPU": the best wall time and the best CPU time (user + system)
# in seconds over $runs runs. CPU time is what to compare on a loaded machine: wall time
# there mostly measures the other processes.
best_of() {
    local best="" bestcpu="" w u s c
    for _ in $(seq "$runs"); do
        /usr/bin/time -f "%e %U %S" -o "$work/time" "$@" >/dev/null 2>&1
        read -r w u s <"$work/time"
        c=$(echo "$u + $s" | bc -l)
        if [[ -z "$best" ]] || (( $(echo "$w < $best" | bc -l) )); then best=$w; fi
        if [[ -z "$bestcpu" ]] || (( $(echo "$c < $bestcpu" | bc -l) )); then bestcpu=$c; fi
    done
    echo "$best $bestcpu"
}

mbps() { echo "scale=0; $1 / ($2 + 0.001) / 1048576" | bc -l; }

printf '%-9s %-22s | %10s %10s %6s | %10s %10s %6s\n' "size" "operation" "rage" "mamori" "ratio" "rage" "mamori" "ratio"
printf '%-9s %-22s | %-28s | %-28s\n' "" "" "MB/s by wall time" "MB/s by CPU time (user+sys)"
for mib in "${sizes[@]}"; do
    in="$work/in-$mib.bin"
    # Incompressible-looking data; content does not matter to a stream cipher.
    head -c "$((mib * 1048576))" /dev/urandom >"$in"
    bytes=$((mib * 1048576))

    r_pipe=$(best_of sh -c "rage -r '$recipient' <'$in' >/dev/null")
    m_pipe=$(best_of sh -c "'$MAMORI' protect - -g bench <'$in' >/dev/null")
    r_enc=$(best_of rage -r "$recipient" -o "$work/out.age" "$in")
    m_enc=$(best_of "$MAMORI" protect "$in" -g bench -o "$work/out.mamori" --force)
    r_dec=$(best_of rage -d -i "$work/rage.key" -o "$work/dec.rage" "$work/out.age")
    m_dec=$(best_of "$MAMORI" open "$work/out.mamori" -o "$work/dec.mamori" --force)
    cmp -s "$in" "$work/dec.mamori" || { echo "mamori round trip differs" >&2; exit 1; }
    cmp -s "$in" "$work/dec.rage" || { echo "rage round trip differs" >&2; exit 1; }
    rm -f "$work/dec.rage" "$work/dec.mamori"
    r_out=$(best_of sh -c "rage -d -i '$work/rage.key' '$work/out.age' >/dev/null")
    m_out=$(best_of sh -c "'$MAMORI' open '$work/out.mamori' >/dev/null")

    for row in "encrypt stdin->stdout:$r_pipe:$m_pipe" "encrypt to file:$r_enc:$m_enc" "decrypt to file:$r_dec:$m_dec" "decrypt to stdout*:$r_out:$m_out"; do
        IFS=: read -r name r m <<<"$row"
        read -r rw rc <<<"$r"
        read -r mw mc <<<"$m"
        printf '%-9s %-22s | %10s %10s %6s | %10s %10s %6s\n' "${mib} MiB" "$name" \
            "$(mbps $bytes "$rw")" "$(mbps $bytes "$mw")" "$(echo "scale=2; ($rw + 0.001) / ($mw + 0.001)" | bc -l)" \
            "$(mbps $bytes "$rc")" "$(mbps $bytes "$mc")" "$(echo "scale=2; ($rc + 0.001) / ($mc + 0.001)" | bc -l)"
    done
    rm -f "$in" "$work/out.age" "$work/out.mamori"
done
echo "ratio = mamori throughput / rage throughput (1.00 = same speed)."
echo "mamori fsyncs every file it writes before renaming it into place; rage does not."
echo "* mamori authenticates the whole file before writing any plaintext to stdout (two passes)."
