#!/usr/bin/env bash
# Journal benchmarks: append with group commit, bytes per event, store ingest, search latency.
#
#   bench/journal/run.sh [EVENTS] [DATA_DIR]
#
# EVENTS defaults to 1,000,000 in a fresh temporary data directory. For the 10-million-event
# search numbers: bench/journal/run.sh 10000000 /var/tmp/mamori-bench-10m  (takes several
# minutes and about 8 GB of disk; rerun with EVENTS=0 on the same DATA_DIR to time searches only).
set -euo pipefail
cd "$(dirname "$0")/../.."
EVENTS="${1:-1000000}"
DIR="${2:-$(mktemp -d /var/tmp/mamori-journal-bench.XXXXXX)}"
cargo build --release -q -p mamori-journal --example journal_bench
BIN="${CARGO_TARGET_DIR:-target}/release/examples/journal_bench"
echo "data dir: $DIR, events: $EVENTS, $(nproc) CPUs, $(uname -r)"
"$BIN" "$DIR" "$EVENTS" 4
