#!/usr/bin/env bash
# `mamori icap` with different `preview` sizes in its --config file, against the repo's load
# client (which, like Squid, sends the preview size the OPTIONS answer names): two rounds,
# one line per run with req/s and the 200/204 answers.
#
#   bench/icap/preview.sh BIN SIZE SECONDS PREVIEW...
#
# Needs the load client built: cargo build --release -p mamori-icap --example icap_load
set -euo pipefail
bin=$1; size=$2; seconds=$3; shift 3
root=$(cd "$(dirname "$0")/../.." && pwd)
load="${CARGO_TARGET_DIR:-$root/target}/release/examples/icap_load"
work=$(mktemp -d)
run=0
for round in 1 2; do
  for preview in "$@"; do
    run=$((run + 1)); port=$((13600 + run))
    printf 'listen = "127.0.0.1:%s"\npreview = %s\n' "$port" "$preview" > "$work/c$run.toml"
    "$bin" icap --config "$work/c$run.toml" --data-dir "$work/data$run" > /dev/null 2>&1 &
    pid=$!
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    line=$("$load" --addr "127.0.0.1:$port" --service /reqmod --size "$size" --concurrency 32 --seconds "$seconds" --warmup 1)
    echo "round $round preview $preview size $size: $(sed -n 's|.* req/s=\([^ ]*\).*|\1|p' <<< "$line") req/s $(grep -o 'status200=[0-9]* status204=[0-9]*' <<< "$line")"
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done
rm -rf "$work"
