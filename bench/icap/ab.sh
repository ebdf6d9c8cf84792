#!/usr/bin/env bash
# A/B of two `mamori` builds as ICAP servers: each serves REQMOD of SIZE-byte bodies to the
# repo's load client (32 keep-alive connections, 1 s warm-up, SECONDS measured), alternately,
# for two rounds, with the built-in policy and a journal. Prints one line per run.
#
#   bench/icap/ab.sh SIZE SECONDS BIN_A BIN_B
#
# Builds the load client (crates/icap/examples/icap_load.rs) in release mode first.
set -euo pipefail
size=$1
seconds=$2
shift 2
root=$(cd "$(dirname "$0")/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build --release -q -p mamori-icap --example icap_load)
load="$target/release/examples/icap_load"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run=0
for round in 1 2; do
  for bin in "$@"; do
    run=$((run + 1))
    port=$((13500 + run))
    "$bin" icap --listen "127.0.0.1:$port" --data-dir "$work/data$run" > /dev/null 2>&1 &
    pid=$!
    for _ in $(seq 100); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
      sleep 0.1
    done
    line=$("$load" --addr "127.0.0.1:$port" --service /reqmod --size "$size" \
      --concurrency 32 --seconds "$seconds" --warmup 1)
    echo "round $round $bin $size B: $(sed -n 's|.* req/s=\([^ ]*\).*|\1|p' <<< "$line") req/s"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
  done
done
