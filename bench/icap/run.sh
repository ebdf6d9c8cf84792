#!/usr/bin/env bash
# Mamori's ICAP server against c-icap's echo service, same load client, same requests.
#
#   bench/icap/run.sh [SECONDS] [CONCURRENCY]
#
# Needs Debian's c-icap (`apt-get install -y c-icap`). Builds `mamori` and the load client
# (crates/icap/examples/icap_load.rs) in release mode, starts c-icap (echo) and `mamori icap`
# (inspecting every body with the built-in policy and recording every decision in a journal,
# then again with --no-journal), and the protocol crate alone with an allow-all adapter
# (crates/icap/examples/icap_allow.rs) on loopback ports, drives each with REQMOD at 512 B, 64 KiB and
# 1 MiB bodies as Squid would (OPTIONS first, preview only with Transfer-Preview: *, Allow: 204
# only under 64 KiB), and prints one Markdown table. c-icap's echo is driven twice: as Squid does by
# default, and without a preview (Squid's `icap_preview_enable off`). Its echo service answers
# every other previewed request with 204 from the preview alone (it alternates, by design of
# the example), so with a preview it receives and returns only half of the bodies; without one
# it echoes every body, the work an inspecting server cannot skip.
set -euo pipefail

seconds=${1:-10}
concurrency=${2:-32}
root=$(cd "$(dirname "$0")/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
cd "$root"
cargo build --release -q -p mamori --bin mamori
cargo build --release -q -p mamori-icap --example icap_load --example icap_allow

work=$(mktemp -d)
# Copy the binaries at once: a shared target directory may get another branch's build.
cp "$target/release/mamori" "$target/release/examples/icap_load" "$target/release/examples/icap_allow" "$work/"
mamori="$work/mamori"
load="$work/icap_load"
"$mamori" icap --help > /dev/null || { echo "this mamori has no icap command" >&2; exit 1; }
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port_cicap=13440
port_mamori=13441
port_nojournal=13442
port_allow=13443

cat > "$work/c-icap.conf" <<EOF
PidFile $work/c-icap.pid
CommandsSocket $work/c-icap.ctl
Timeout 300
MaxKeepAliveRequests 1000000
KeepAliveTimeout 600
StartServers 4
MaxServers 20
MinSpareThreads 10
MaxSpareThreads 40
ThreadsPerChild 16
MaxRequestsPerChild 0
Port 127.0.0.1:$port_cicap
TmpDir $work
MaxMemObject 2097152
DebugLevel 0
Pipelining on
ServerLog $work/c-icap-server.log
ModulesDir /usr/lib/x86_64-linux-gnu/c_icap
ServicesDir /usr/lib/x86_64-linux-gnu/c_icap
Service echo srv_echo.so
EOF
/usr/bin/c-icap -N -f "$work/c-icap.conf" &
pids+=($!)

"$mamori" icap --listen "127.0.0.1:$port_mamori" --data-dir "$work/data" > "$work/mamori.out" 2> "$work/mamori.log" &
pids+=($!)
"$mamori" icap --listen "127.0.0.1:$port_nojournal" --no-journal --data-dir "$work/data2" > "$work/mamori2.out" 2> "$work/mamori2.log" &
pids+=($!)

"$work/icap_allow" "127.0.0.1:$port_allow" > /dev/null &
pids+=($!)

for port in $port_cicap $port_mamori $port_nojournal $port_allow; do
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
done

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs; ${seconds}s per run, $concurrency connections"
echo
echo "| server | body | req/s | p50 ms | p99 ms | answers |"
echo "|---|---|---|---|---|---|"
for size in 512 65536 1048576; do
  for entry in "c-icap echo:$port_cicap:/echo:" "c-icap echo, no preview:$port_cicap:/echo:--no-preview" \
    "mamori icap:$port_mamori:/reqmod:" "mamori icap --no-journal:$port_nojournal:/reqmod:" \
    "mamori-icap, no inspection:$port_allow:/reqmod:"; do
    IFS=: read -r name port service flags <<< "$entry"
    # shellcheck disable=SC2086 # flags is empty or one flag
    line=$("$load" --addr "127.0.0.1:$port" --service "$service" --size "$size" \
      --concurrency "$concurrency" --seconds "$seconds" --warmup 1 $flags)
    get() { sed -n "s|.* $1=\([^ ]*\).*|\1|p" <<< "$line"; }
    printf '| %s | %s | %s | %s | %s | 200: %s, 204: %s, other: %s |\n' \
      "$name" "$size" "$(get 'req/s')" "$(get p50_ms)" "$(get p99_ms)" \
      "$(get status200)" "$(get status204)" "$(get other)"
  done
done
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "mamori decisions logged: $(grep -c 'mamori icap: ' "$work/mamori.log" || true)"
