#!/bin/sh
# Agent at rest: CPU and memory of `mamori agent` watching a filesystem that holds a million
# files (FILES), idle for SECONDS, then after a walk that opens every file once (the cost is paid
# per open, so a tree nobody touches costs nothing). Root only.
#
#   sudo FILES=1000000 SECONDS_IDLE=60 bench/agent/idle.sh [path/to/mamori]
#
# The CPU figures are the agent's own (utime + stime from /proc/PID/stat), so a busy machine
# does not inflate them; memory is VmRSS and the peak VmHWM.
set -eu
MAMORI=${1:-target/release/mamori}
FILES=${FILES:-1000000}
IDLE=${SECONDS_IDLE:-60}
W=$(mktemp -d /tmp/mamori-bench-idle.XXXXXX)
AGENT=
cleanup() {
    [ -n "$AGENT" ] && kill "$AGENT" 2>/dev/null && wait "$AGENT" 2>/dev/null || true
    umount -l "$W/src" "$W/usb" 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W/src" "$W/usb" "$W/data"
mount -t tmpfs -o size=4g,nr_inodes=2000000 tmpfs "$W/src"
mount -t tmpfs -o size=64m tmpfs "$W/usb"
python3 - "$W/src" "$FILES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for d in range(1000):
    os.mkdir(os.path.join(root, f"d{d}"))
for i in range(n):
    fd = os.open(os.path.join(root, f"d{i % 1000}", f"f{i}.txt"), os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(fd, b"gear ratio 3.7\n" if i % 100 else "社外秘 設計書\n".encode())
    os.close(fd)
PY
tick=$(getconf CLK_TCK)
cpu() { awk -v t="$tick" '{ print ($14 + $15) / t }' "/proc/$AGENT/stat"; }
mem() { awk '/^VmRSS|^VmHWM/ { printf "%s %d MB  ", $1, $2 / 1024 }' "/proc/$AGENT/status"; }

"$MAMORI" agent --watch "$W/src" --removable "$W/usb" --no-auto-detect --data-dir "$W/data" \
    2> "$W/agent.log" &
AGENT=$!
for _ in $(seq 600); do grep -q watching "$W/agent.log" 2>/dev/null && break; sleep 0.1; done
grep -q watching "$W/agent.log" || { cat "$W/agent.log"; exit 1; }
sleep 5
c0=$(cpu); s0=$(date +%s.%N)
sleep "$IDLE"
c1=$(cpu); s1=$(date +%s.%N)
echo "| files on the watched filesystem | $FILES |"
echo "| idle ${IDLE} s: agent CPU | $(echo "scale=3; 100 * ($c1 - $c0) / ($s1 - $s0)" | bc) % of one core |"
echo "| idle: memory | $(mem)|"
c0=$(cpu); s0=$(date +%s.%N)
find "$W/src" -type f -exec cat {} + > /dev/null
c1=$(cpu); s1=$(date +%s.%N)
echo "| after opening every file once ($(echo "$s1 - $s0" | bc) s): agent CPU | $(echo "$c1 - $c0" | bc) s |"
echo "| after the walk: memory | $(mem)|"
sleep 10
c0=$(cpu); s0=$(date +%s.%N)
sleep "$IDLE"
c1=$(cpu); s1=$(date +%s.%N)
echo "| idle again ${IDLE} s: agent CPU | $(echo "scale=3; 100 * ($c1 - $c0) / ($s1 - $s0)" | bc) % of one core |"
