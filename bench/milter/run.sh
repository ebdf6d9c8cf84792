#!/usr/bin/env bash
# Messages per second through a real Postfix with and without `mamori milter`, side by side:
# one private Postfix instance (own config, queue, loopback ports, delivery to `discard`) with
# three SMTP listeners that differ only in smtpd_milters: none, the milter on a Unix socket,
# the milter over TCP loopback. Two messages: a small text mail and one with a 1 MB attachment
# (a CSV of Japanese text, so inspection reads it all). Load: bench/milter/load.py, C
# connections each sending its share of N messages in one SMTP session.
#
#   bench/milter/run.sh [SMALL_N] [BIG_N] [CONNECTIONS]
#
# Needs root, postfix and python3. Uses $MAMORI, or the release binary under $CARGO_TARGET_DIR
# (cargo build --release -p mamori). The journal is on (every decision recorded and synced);
# MILTER_ARGS adds flags to both milters (e.g. MILTER_ARGS=--no-journal). FLOOR=1 adds a fourth
# listener whose milter accepts every message unread (crates/milter/examples/accept_all.rs, built
# with `cargo build --release -p mamori-milter --example accept_all`, or $ACCEPT_ALL): what any
# milter costs Postfix, the protocol and the hand-over of the body, before any inspection. With
# FLOOR=1 and libmilter-dev installed, a fifth listener runs the same accept-all milter written on
# Sendmail's libmilter in C (bench/milter/accept_all.c, compiled here): the reference floor.
set -euo pipefail
small_n=${1:-3000}
big_n=${2:-300}
conns=${3:-8}
here=$(cd "$(dirname "$0")" && pwd)
mamori=${MAMORI:-${CARGO_TARGET_DIR:-$here/../../target}/release/mamori}
[ -x "$mamori" ] || { echo "no $mamori: cargo build --release -p mamori" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root (Postfix's master)" >&2; exit 2; }
command -v postfix >/dev/null || { echo "needs postfix (apt-get install postfix)" >&2; exit 2; }

dir=$(mktemp -d /var/tmp/mamori-bench-milter.XXXXXX)
chmod 755 "$dir"
mkdir -p "$dir"/{conf,queue,data,mamori-unix,mamori-inet}
chown postfix "$dir/data"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
p_plain=$(free_port); p_unix=$(free_port); p_inet=$(free_port); p_milter=$(free_port); p_floor=$(free_port); p_floor_c=$(free_port)
floor=${FLOOR:-0}
accept_all=${ACCEPT_ALL:-${CARGO_TARGET_DIR:-$here/../../target}/release/examples/accept_all}
if [ "$floor" = 1 ] && [ ! -x "$accept_all" ]; then
  echo "FLOOR=1 needs $accept_all: cargo build --release -p mamori-milter --example accept_all" >&2; exit 2
fi

milter_pids=()
cleanup() {
  postfix -c "$dir/conf" stop >/dev/null 2>&1 || true
  for pid in "${milter_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

cat > "$dir/conf/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.example.co.jp
mydomain = example.co.jp
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
relay_domains = bench.example example.co.jp
transport_maps = static:discard
alias_maps =
alias_database =
local_recipient_maps =
biff = no
maillog_file_prefixes = $dir
maillog_file = $dir/maillog
# Measure the SMTP side: no throttling of clients when the queue manager lags.
in_flow_delay = 0
milter_default_action = tempfail
CF
{
  echo "127.0.0.1:$p_plain inet n - n - - smtpd -o smtpd_milters="
  echo "127.0.0.1:$p_unix inet n - n - - smtpd -o smtpd_milters=unix:$dir/milter.sock"
  echo "127.0.0.1:$p_inet inet n - n - - smtpd -o smtpd_milters=inet:127.0.0.1:$p_milter"
  echo "127.0.0.1:$p_floor inet n - n - - smtpd -o smtpd_milters=unix:$dir/floor.sock"
  echo "127.0.0.1:$p_floor_c inet n - n - - smtpd -o smtpd_milters=unix:$dir/floor_c.sock"
  for line in "pickup unix n - n 60 1 pickup" "cleanup unix n - n - 0 cleanup" \
    "qmgr unix n - n 300 1 qmgr" "rewrite unix - - n - - trivial-rewrite" \
    "bounce unix - - n - 0 bounce" "defer unix - - n - 0 bounce" "trace unix - - n - 0 bounce" \
    "verify unix - - n - 1 verify" "flush unix n - n 1000? 0 flush" \
    "proxymap unix - - n - - proxymap" "smtp unix - - n - - smtp" "relay unix - - n - - smtp" \
    "showq unix n - n - - showq" "error unix - - n - - error" "retry unix - - n - - error" \
    "discard unix - - n - - discard" "anvil unix - - n - 1 anvil" "scache unix - - n - 1 scache" \
    "postlog unix-dgram n - n - 1 postlogd"; do
    echo "$line"
  done
} > "$dir/conf/master.cf"

"$mamori" milter ${MILTER_ARGS:-} --listen "unix:$dir/milter.sock" --socket-group postfix \
  --data-dir "$dir/mamori-unix" 2>"$dir/milter-unix.log" &
milter_pids+=($!)
"$mamori" milter ${MILTER_ARGS:-} --listen "inet:127.0.0.1:$p_milter" \
  --data-dir "$dir/mamori-inet" 2>"$dir/milter-inet.log" &
milter_pids+=($!)
if [ "$floor" = 1 ]; then
  "$accept_all" "unix:$dir/floor.sock" 2>"$dir/floor.log" &
  milter_pids+=($!)
  for _ in $(seq 100); do [ -S "$dir/floor.sock" ] && break; sleep 0.1; done
  if [ -f /usr/include/libmilter/mfapi.h ] && cc -O2 -o "$dir/accept_all_c" "$here/accept_all.c" -lmilter -lpthread; then
    "$dir/accept_all_c" "unix:$dir/floor_c.sock" 2>"$dir/floor_c.log" &
    milter_pids+=($!)
    for _ in $(seq 100); do [ -S "$dir/floor_c.sock" ] && break; sleep 0.1; done
    floor_c=1
  else
    echo "no libmilter-dev: the C floor is left out" >&2
  fi
fi
for _ in $(seq 100); do [ -S "$dir/milter.sock" ] && break; sleep 0.1; done
postfix -c "$dir/conf" start >/dev/null
for _ in $(seq 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $p_plain)).close()" 2>/dev/null && break
  sleep 0.1
done

python3 - "$dir" <<'PY'
import base64, random, sys
d = sys.argv[1]
head = ("From: sender@example.co.jp\r\nTo: someone@bench.example\r\nSubject: {}\r\n"
        "MIME-Version: 1.0\r\n")
small = head.format("weekly report") + (
    "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    + "今週の進捗を共有します。会議は木曜日の15時からです。\r\n" * 12)
open(f"{d}/small.eml", "w", encoding="utf-8", newline="").write(small)
random.seed(7)
words = ["東京", "大阪", "営業", "会議", "資料", "見積", "品番", "在庫", "出荷", "確認", "予定", "担当"]
rows, size = [], 0
while size < 1 << 20:
    row = ",".join(random.choice(words) for _ in range(8)) + f",{random.randint(1, 9999)}\r\n"
    rows.append(row); size += len(row.encode())
csv = "".join(rows).encode()
body = base64.encodebytes(csv).decode().replace("\n", "\r\n")
big = head.format("inventory") + (
    'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
    "Content-Type: text/plain; charset=utf-8\r\n\r\n在庫一覧を添付します。\r\n--b1\r\n"
    'Content-Type: text/csv; charset=utf-8\r\nContent-Disposition: attachment; filename="inventory.csv"\r\n'
    "Content-Transfer-Encoding: base64\r\n\r\n" + body + "--b1--\r\n")
open(f"{d}/big.eml", "w", encoding="utf-8", newline="").write(big)
PY

run() { python3 "$here/load.py" "$1" "$2" "$conns" "$3"; }
# Warm up every path (process pools, page cache, the inspector's first allocations).
paths="plain:$p_plain unix:$p_unix inet:$p_inet"
[ "$floor" = 1 ] && paths="$paths floor:$p_floor"
[ "${floor_c:-0}" = 1 ] && paths="$paths floor_c:$p_floor_c"
for path in $paths; do p=${path#*:}; run "$p" 40 "$dir/small.eml" >/dev/null; run "$p" 8 "$dir/big.eml" >/dev/null; done

# Rounds interleave the three paths so that a busy moment of a shared machine hits all of them;
# each cell is the median of the rounds.
rounds=${ROUNDS:-3}
printf '\nPostfix %s, %s connections, median of %s rounds, journal on%s; messages/s (higher is better)\n\n' \
  "$(postconf -d -h mail_version)" "$conns" "$rounds" "${MILTER_ARGS:+, milter flags: $MILTER_ARGS}"
if [ "${floor_c:-0}" = 1 ]; then
  printf '| message | n | no milter | mamori milter (unix socket) | cost | mamori milter (TCP loopback) | cost | accept-all, Rust (unix socket) | cost | accept-all, libmilter (unix socket) | cost |\n'
  printf '|---|---|---|---|---|---|---|---|---|---|---|\n'
elif [ "$floor" = 1 ]; then
  printf '| message | n | no milter | mamori milter (unix socket) | cost | mamori milter (TCP loopback) | cost | accept-all, Rust (unix socket) | cost |\n'
  printf '|---|---|---|---|---|---|---|---|---|\n'
else
  printf '| message | n | no milter | mamori milter (unix socket) | cost | mamori milter (TCP loopback) | cost |\n'
  printf '|---|---|---|---|---|---|---|\n'
fi
for kind in small big; do
  n=$small_n; label="small text (1 KB)"
  [ $kind = big ] && { n=$big_n; label="1 MB CSV attachment"; }
  results=()
  for _ in $(seq "$rounds"); do
    for path in $paths; do
      results+=("${path%%:*} $(run "${path#*:}" "$n" "$dir/$kind.eml")")
    done
  done
  printf '%s\n' "${results[@]}" | python3 -c '
import statistics, sys
label, n = sys.argv[1:3]
rates = {}
for line in sys.stdin:
    path, ok, secs, rate, refused = line.split()
    rates.setdefault(path, []).append(float(rate))
    if int(refused):
        print(f"warning: {refused} refused on {path}", file=sys.stderr)
print("raw " + " ".join(f"{k}={v}" for k, v in rates.items()), file=sys.stderr)
p = statistics.median(rates["plain"])
cells = [f"{p:,.0f}"]
for k in ("unix", "inet", "floor", "floor_c"):
    if k in rates:
        r = statistics.median(rates[k])
        cells += [f"{r:,.0f}", f"{100 * (1 - r / p):.0f} %"]
print(f"| {label} | {n} | " + " | ".join(cells) + " |")
' "$label" "$n"
done
echo
# CPU the milter processes used, per message decided (warm-up included).
i=0
for name in unix inet; do
  pid=${milter_pids[$i]}; i=$((i + 1))
  decided=$(grep -c verdict= "$dir/milter-$name.log" || true)
  ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  python3 -c "import os,sys; t=int(sys.argv[1])/os.sysconf('SC_CLK_TCK'); n=int(sys.argv[2]); print(f'milter ({sys.argv[3]}): {n} messages decided, {t:.1f} s CPU, {1000*t/max(n,1):.2f} ms CPU per message')" "$ticks" "$decided" "$name"
done
