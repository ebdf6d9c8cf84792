#!/bin/sh
# Agent benchmark: open() latency (p50/p99) and a file-heavy workload, without and with
# `mamori agent`, with fapolicyd when it is installed (FAPOLICYD=1), and with the bare
# fanotify listener of floor.c (FLOOR=1). Root only.
#
#   sudo bench/agent/run.sh [path/to/mamori]     (default: target/release/mamori)
#
# Prints a table; copy it with the command into docs/benchmarks.md.
set -eu
MAMORI=${1:-target/release/mamori}
N=${N:-200000}
FILES=${FILES:-5000}
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/mamori-bench-agent.XXXXXX)
AGENT=
cleanup() {
    [ -n "$AGENT" ] && kill "$AGENT" 2>/dev/null && wait "$AGENT" 2>/dev/null || true
    umount -l "$W/src" "$W/usb" 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W/src" "$W/usb" "$W/data" "$W/out"
mount -t tmpfs -o size=512m tmpfs "$W/src"
mount -t tmpfs -o size=512m tmpfs "$W/usb"
cc -O2 -o "$W/openlat" "$HERE/openlat.c"
echo "hello" > "$W/src/public.txt"
printf '社外秘\n営業計画\n' > "$W/src/internal.txt"
# A source-like tree: FILES small text files in 50 directories, packed once.
python3 - "$W/gen" "$FILES" <<'PY'
import os, sys, random
root, n = sys.argv[1], int(sys.argv[2])
random.seed(1)
words = "static int return struct void include define buffer length error value".split()
for i in range(n):
    d = os.path.join(root, f"d{i % 50}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i}.c"), "w") as f:
        for _ in range(40):
            f.write(" ".join(random.choice(words) for _ in range(12)) + "\n")
PY
tar cf "$W/tree.tar" -C "$W/gen" .
# A C project: CFILES translation units with a shared header, built with make -j2 and gcc.
python3 - "$W/cproj" "${CFILES:-200}" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
os.makedirs(root, exist_ok=True)
with open(os.path.join(root, "common.h"), "w") as f:
    f.write("#include <stdio.h>\n#include <string.h>\n#include <stdlib.h>\nint helper(int);\n")
objs = []
for i in range(n):
    with open(os.path.join(root, f"u{i}.c"), "w") as f:
        f.write('#include "common.h"\n')
        for j in range(20):
            f.write(f"int f{i}_{j}(int x) {{ char b[64]; snprintf(b, sizeof b, \"%d\", x * {j}); return (int)strlen(b) + x; }}\n")
    objs.append(f"u{i}.o")
with open(os.path.join(root, "main.c"), "w") as f:
    f.write('#include "common.h"\nint helper(int x) { return x; }\nint main(void) { return helper(0); }\n')
with open(os.path.join(root, "Makefile"), "w") as f:
    f.write("CFLAGS=-O1\nprog: main.o " + " ".join(objs) + "\n\t$(CC) -o $@ $^\n")
PY
tar cf "$W/cproj.tar" -C "$W/cproj" .

lat() { "$W/openlat" "$1" "$N"; }
build() {
    rm -rf "$W/src/cproj"; mkdir "$W/src/cproj"
    tar xf "$W/cproj.tar" -C "$W/src/cproj"
    s=$(date +%s.%N)
    make -s -j2 -C "$W/src/cproj" > /dev/null
    e=$(date +%s.%N)
    echo "$e - $s" | bc
}
# Untar + grep, REPS times (default 3); prints the median, in seconds.
work() {
    for _ in $(seq "${REPS:-3}"); do
        rm -rf "$W/src/tree"; mkdir "$W/src/tree"
        s=$(date +%s.%N)
        tar xf "$W/tree.tar" -C "$W/src/tree"
        grep -rc buffer "$W/src/tree" > /dev/null
        e=$(date +%s.%N)
        echo "$e - $s" | bc
    done | sort -n | awk '{ v[NR] = $1 } END { printf "%.3f\n", v[int((NR + 1) / 2)] }'
}
start_agent() {
    "$MAMORI" agent --watch "$W/src" --removable "$W/usb" --no-auto-detect \
        --data-dir "$W/data" "$@" 2> "$W/agent.log" &
    AGENT=$!
    for _ in $(seq 100); do grep -q watching "$W/agent.log" 2>/dev/null && return; sleep 0.1; done
    cat "$W/agent.log"; exit 1
}
stop_agent() { kill "$AGENT"; wait "$AGENT" || true; AGENT=; }

printf '%-44s %10s %10s %12s %10s\n' "setup" "p50 µs" "p99 µs" "untar+grep s" "make s"
row() { printf '%-44s %10s %10s %12s %10s\n' "$1" "$2" "$3" "$4" "$5"; }

set -- $(lat "$W/src/public.txt"); row "no agent (public file)" "$1" "$2" "$(work)" "$(build)"
start_agent
lat "$W/src/public.txt" > /dev/null  # warm: the first open classifies and caches
set -- $(lat "$W/src/public.txt"); row "mamori agent, public file (kernel cache)" "$1" "$2" "$(work)" "$(build)"
set -- $(lat "$W/src/internal.txt"); row "mamori agent, 社外秘 file (decided each open)" "$1" "$2" "-" "-"
stop_agent
start_agent --no-kernel-cache
set -- $(lat "$W/src/public.txt"); row "mamori agent --no-kernel-cache, public" "$1" "$2" "$(work)" "$(build)"
stop_agent
# The floor under any fanotify agent (FLOOR=1): bench/agent/floor.c sets up the agent's two
# groups and marks and answers every permission event at once, with no policy; "cache" adds the
# evictable ignore marks, "read" also reads each written file once, "survive" keeps the ignore
# marks across writes, "notify" takes no permission events at all, "names" only reports names
# (see floor.c).
if [ "${FLOOR:-0}" = 1 ]; then
    cc -O2 -o "$W/floor" "$HERE/floor.c"
    for mode in answer cache read survive notify names; do
        "$W/floor" "$mode" "$W/src" "$W/usb" 2> "$W/floor.log" &
        FL=$!
        for _ in $(seq 100); do grep -q listening "$W/floor.log" && break; sleep 0.1; done
        grep -q listening "$W/floor.log" || { cat "$W/floor.log"; exit 1; }
        lat "$W/src/public.txt" > /dev/null
        set -- $(lat "$W/src/public.txt"); row "floor: fanotify listener, $mode (C)" "$1" "$2" "$(work)" "$(build)"
        kill $FL; wait $FL 2>/dev/null || true
    done
fi
# fapolicyd side by side (Debian's package; docs/benchmarks.md says how it was set up). It runs
# system-wide while it runs: only on a machine nobody else uses. Permissive: it decides and
# logs, never refuses.
if [ "${FAPOLICYD:-0}" = 1 ] && command -v fapolicyd > /dev/null; then
    fapolicyd --permissive --debug-deny > "$W/fapolicyd.log" 2>&1 &
    FP=$!
    for _ in $(seq 300); do grep -q "Starting to listen" "$W/fapolicyd.log" && break; sleep 0.1; done
    grep -q "Starting to listen" "$W/fapolicyd.log" || { cat "$W/fapolicyd.log"; exit 1; }
    lat "$W/src/public.txt" > /dev/null  # warm its caches as the agent's were
    set -- $(lat "$W/src/public.txt"); row "fapolicyd $(dpkg-query -W -f '${Version}' fapolicyd 2>/dev/null) (permissive)" "$1" "$2" "$(work)" "$(build)"
    kill $FP; wait $FP 2>/dev/null || true
fi
