#!/usr/bin/env bash
# Crash test at scale: a writer (`mamori log append --generate`, which prints each event id once
# it is durable) killed with SIGKILL at a random moment, RUNS times on one data directory; then
# `mamori log verify` must pass and every acknowledged id must be in the journal.
#
#   bench/journal/crash.sh [RUNS]      (default 1000)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS="${1:-1000}"
cargo build -q -p mamori
BIN="${CARGO_TARGET_DIR:-target}/debug/mamori"
DIR="$(mktemp -d /var/tmp/mamori-crash.XXXXXX)"
ACK="$DIR/acknowledged.txt"
: > "$ACK"
for ((i = 1; i <= RUNS; i++)); do
  "$BIN" log append --generate 100000000 --commit-window-ms 1 --data-dir "$DIR/data" >> "$ACK" 2>/dev/null &
  pid=$!
  sleep "0.0$((RANDOM % 90 + 10))"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
done
# A line cut by the kill is not an acknowledgement.
grep -E '^[0-9a-f-]{36}$' "$ACK" | sort -u > "$DIR/ack-ids.txt"
"$BIN" log verify --data-dir "$DIR/data"
"$BIN" log export --limit 1000000000 --data-dir "$DIR/data" \
  | grep -oE '"id":"[0-9a-f-]{36}"' | cut -d'"' -f4 | sort -u > "$DIR/stored-ids.txt"
missing=$(comm -23 "$DIR/ack-ids.txt" "$DIR/stored-ids.txt" | wc -l)
recoveries=$("$BIN" log verify --json --data-dir "$DIR/data" | grep -c '"note": "recovered"' || true)
echo "| kills | acknowledged events | missing | torn tails recovered | verify |"
echo "|---|---|---|---|---|"
echo "| $RUNS | $(wc -l < "$DIR/ack-ids.txt") | $missing | $recoveries | intact |"
rm -rf "$DIR"
[ "$missing" -eq 0 ]
