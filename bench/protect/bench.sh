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

# best_of CMD...: prints the best wall time in seconds over $runs runs.
best_of() {
    local best="" t0 t1 t
    for _ in $(seq "$runs"); do
        t0=$(date +%s.%N)
        "$@" >/dev/null
        t1=$(date +%s.%N)
        t=$(echo "$t1 - $t0" | bc -l)
        if [[ -z "$best" ]] || (( $(echo "$t < $best" | bc -l) )); then best=$t; fi
    done
    echo "$best"
}

mbps() { echo "scale=0; $1 / $2 / 1048576" | bc -l; }

printf '%-9s %-22s %12s %12s %8s\n' "size" "operation" "rage MB/s" "mamori MB/s" "ratio"
for mib in "${sizes[@]}"; do
    in="$work/in-$mib.bin"
    # Incompressible-looking data; content does not matter to a stream cipher.
    head -c "$((mib * 1048576))" /dev/urandom >"$in"
    bytes=$((mib * 1048576))

    r_enc=$(best_of rage -r "$recipient" -o "$work/out.age" "$in")
    m_enc=$(best_of "$MAMORI" protect "$in" -g bench -o "$work/out.mamori" --force)
    r_dec=$(best_of rage -d -i "$work/rage.key" -o "$work/dec.rage" "$work/out.age")
    m_dec=$(best_of "$MAMORI" open "$work/out.mamori" -o "$work/dec.mamori" --force)
    cmp -s "$in" "$work/dec.mamori" || { echo "mamori round trip differs" >&2; exit 1; }
    cmp -s "$in" "$work/dec.rage" || { echo "rage round trip differs" >&2; exit 1; }
    rm -f "$work/dec.rage" "$work/dec.mamori"
    r_out=$(best_of sh -c "rage -d -i '$work/rage.key' '$work/out.age' >/dev/null")
    m_out=$(best_of sh -c "'$MAMORI' open '$work/out.mamori' >/dev/null")

    for row in "encrypt to file:$r_enc:$m_enc" "decrypt to file:$r_dec:$m_dec" "decrypt to stdout*:$r_out:$m_out"; do
        IFS=: read -r name r m <<<"$row"
        printf '%-9s %-22s %12s %12s %8s\n' "${mib} MiB" "$name" "$(mbps $bytes "$r")" "$(mbps $bytes "$m")" \
            "$(echo "scale=2; $r / $m" | bc -l)"
    done
    rm -f "$in" "$work/out.age" "$work/out.mamori"
done
echo "ratio = mamori throughput / rage throughput (1.00 = same speed)."
echo "* mamori authenticates the whole file before writing any plaintext to stdout (two passes)."
