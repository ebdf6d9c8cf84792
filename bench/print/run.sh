#!/usr/bin/env bash
# Added time per print job for a 20-page PDF, with and without Mamori, side by side:
#   1. the backend alone, as cupsd runs it (the test backend that writes the job to a folder,
#      against `mamori print backend` wrapping that same backend);
#   2. end to end through a private cupsd on loopback: `lp` until the job is completed, on a
#      queue with the plain backend and on one put under Mamori by `mamori print install`.
# Needs root, Debian cups-daemon + cups-client, python3. Usage: bench/print/run.sh [RUNS]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-30}
target=${CARGO_TARGET_DIR:-$root/target}
cargo build --release -q -p mamori --manifest-path "$root/Cargo.toml"
work=$(mktemp -d /tmp/mamori-print-bench.XXXXXX)
chmod 755 "$work"
cupsd_pid=
cleanup() {
    if [ -n "$cupsd_pid" ]; then kill "$cupsd_pid" 2>/dev/null || true; wait "$cupsd_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
# A copy: the shared target directory's binary may be rebuilt by someone else meanwhile.
cp "$target/release/mamori" "$work/mamori"
mamori=$work/mamori
mkdir -p "$work"/{root,spool/tmp,cache,state,log,bin/backend,out,data,docs}
chmod 777 "$work/out"
for d in filter daemon notifier driver; do ln -s "/usr/lib/cups/$d" "$work/bin/$d"; done
cat > "$work/bin/backend/testout" <<'SH'
#!/bin/sh
[ $# -eq 0 ] && exit 0
dir="${DEVICE_URI#testout:}"
if [ -n "$6" ]; then cp "$6" "$dir/job-$1"; else cat > "$dir/job-$1"; fi
SH
chmod 755 "$work/bin/backend/testout"
python3 "$root/bench/print/make_pdf.py" 20 "$work/docs/p20.pdf"
chmod 644 "$work/docs/p20.pdf"
size=$(stat -c %s "$work/docs/p20.pdf")

# Prints "median p90" in milliseconds of nanosecond samples on stdin.
stats() { sort -n | awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; p=a[int(NR*0.9+0.5)]; printf "%.1f %.1f", m/1e6, p/1e6}'; }

# 1. The backend alone.
cp "$work/docs/p20.pdf" "$work/spool/d00001-001"
mkdir -p "$work/out/direct" "$work/out/wrapped"; chmod 777 "$work/out/direct" "$work/out/wrapped"
backend_env=(env -i PATH=/usr/bin:/bin PRINTER=bench CUPS_REQUESTROOT="$work/spool"
    CUPS_SERVERBIN="$work/bin" CUPS_SERVERROOT="$work/root")
time_runs() {
    for _ in $(seq "$runs"); do
        t0=$(date +%s%N); "$@" > /dev/null 2>&1; t1=$(date +%s%N); echo $((t1 - t0))
    done
}
plain=$(time_runs "${backend_env[@]}" DEVICE_URI="testout:$work/out/direct" \
    "$work/bin/backend/testout" 1 bench p20.pdf 1 "" "$work/spool/d00001-001" | stats)
"${backend_env[@]}" DEVICE_URI="mamori:testout:$work/out/wrapped" "$mamori" print backend \
    --data-dir "$work/data" -- 1 bench p20.pdf 1 "" "$work/spool/d00001-001" >/dev/null 2>"$work/warmup.err" || { cat "$work/warmup.err" >&2; exit 1; } # warm up, create the journal
cmp -s "$work/docs/p20.pdf" "$work/out/wrapped/job-1" || { echo "the wrapped backend did not print" >&2; exit 1; }
wrapped=$(time_runs "${backend_env[@]}" DEVICE_URI="mamori:testout:$work/out/wrapped" "$mamori" print backend \
    --data-dir "$work/data" -- 1 bench p20.pdf 1 "" "$work/spool/d00001-001" | stats)
# Where the time goes: the same without the journal (engine start-up + inspection only).
nojournal=$(time_runs "${backend_env[@]}" DEVICE_URI="mamori:testout:$work/out/wrapped" "$mamori" print backend \
    --no-journal -- 1 bench p20.pdf 1 "" "$work/spool/d00001-001" | stats)
# And the inspection alone, in one process (`mamori inspect`: engine start-up + the PDF).
inspect_only=$(time_runs "$mamori" inspect "$work/docs/p20.pdf" | stats)

# 2. Through cupsd.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/root/cupsd.conf" <<EOF2
LogLevel warn
Listen 127.0.0.1:$port
Listen $work/cups.sock
Browsing No
WebInterface No
<Location />
  Order allow,deny
  Allow localhost
</Location>
<Policy default>
  <Limit Create-Job Print-Job Print-URI Validate-Job>
    Order deny,allow
  </Limit>
  <Limit All>
    Order deny,allow
  </Limit>
</Policy>
EOF2
cat > "$work/root/cups-files.conf" <<EOF2
ServerRoot $work/root
RequestRoot $work/spool
TempDir $work/spool/tmp
CacheDir $work/cache
StateDir $work/state
ServerBin $work/bin
AccessLog $work/log/access_log
ErrorLog $work/log/error_log
PageLog $work/log/page_log
User lp
Group lp
SystemGroup root
EOF2
cupsd -f -c "$work/root/cupsd.conf" -s "$work/root/cups-files.conf" & cupsd_pid=$!
export CUPS_SERVER=$work/cups.sock LC_ALL=C
for _ in $(seq 100); do lpstat -r 2>/dev/null | grep -q 'is running' && break; sleep 0.1; done
for q in plain guarded; do
    mkdir -p "$work/out/$q"; chmod 777 "$work/out/$q"
    lpadmin -p "$q" -v "testout:$work/out/$q" -E
done
"$mamori" print install guarded --backend-dir "$work/bin/backend" --cupsd-conf "$work/root/cupsd.conf" \
    --cupsd-pid-file "$work/state/cupsd.pid" --data-dir "$work/data" > /dev/null
job_runs() {
    local q=$1
    for _ in $(seq "$runs"); do
        t0=$(date +%s%N)
        id=$(lp -d "$q" "$work/docs/p20.pdf" | sed -n 's/^request id is \([^ ]*\).*/\1/p')
        until lpstat -W completed -o "$q" | grep -q "^$id "; do sleep 0.005; done
        t1=$(date +%s%N); echo $((t1 - t0))
    done
}
cups_plain=$(job_runs plain | stats)
cups_guarded=$(job_runs guarded | stats)
[ "$(ls "$work/out/guarded" | wc -l)" -eq "$runs" ] || { echo "not every guarded job printed" >&2; exit 1; }

read -r pm p9 <<< "$plain"; read -r wm w9 <<< "$wrapped"
read -r cm c9 <<< "$cups_plain"; read -r gm g9 <<< "$cups_guarded"
read -r nm n9 <<< "$nojournal"; read -r im i9 <<< "$inspect_only"
echo "20-page PDF, $size bytes, $runs runs each; milliseconds, median (p90)"
echo
printf '| %-44s | %-18s | %-18s | %-12s |\n' "per job" "without Mamori" "with Mamori" "added (median)"
printf '| %-44s | %-18s | %-18s | %-12s |\n' "---" "---:" "---:" "---:"
printf '| %-44s | %-18s | %-18s | %-12s |\n' "backend alone (as cupsd runs it)" "$pm ($p9)" "$wm ($w9)" "$(echo "$wm - $pm" | bc -l)"
printf '| %-44s | %-18s | %-18s | %-12s |\n' "backend alone, --no-journal" "$pm ($p9)" "$nm ($n9)" "$(echo "$nm - $pm" | bc -l)"
printf '| %-44s | %-18s | %-18s | %-12s |\n' "mamori inspect (engine start-up + inspection)" "" "$im ($i9)" ""
printf '| %-44s | %-18s | %-18s | %-12s |\n' "lp to job completed, private cupsd" "$cm ($c9)" "$gm ($g9)" "$(echo "$gm - $cm" | bc -l)"
