# Shared by the scenario scripts: build, start Redis and relay nodes on loopback, measure RSS,
# clean up on exit. Every process started here is stopped by the trap.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# SCRATCH_PATH: another build directory (swift build --scratch-path), e.g. for a second work tree.
SCRATCH=${SCRATCH_PATH:-$ROOT/.build}
# BENCH_BIN_DIR: where relay and relay-bench are (default: the release build); NO_BUILD=1: use
# them as they are (e.g. a test running a scenario on its own debug build).
BIN="${BENCH_BIN_DIR:-$SCRATCH/release}"
# RELAY_BIN: the relay binary to measure (default: the one built here), e.g. an older build
# run under the same load generator, for side-by-side figures.
RELAY="${RELAY_BIN:-$BIN/relay}"
WORK=$(mktemp -d /tmp/relay-bench-XXXXXX)
PIDS=()
KEY=tr_bench_key
export RELAY_ENVIRONMENTS='[{"id":"env_bench","slug":"bench","secretKeys":["tr_bench_key"]}]'
export RELAY_BENCH_KEY=$KEY
ulimit -n "$(ulimit -Hn)"

cleanup() {
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  # KEEP_WORK=1 keeps the logs (the directory is named on stderr).
  if [ -n "${KEEP_WORK:-}" ]; then echo "logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

build() {
  [ "${NO_BUILD:-0}" = 1 ] && return
  (cd "$ROOT" && swift build -c release --scratch-path "$SCRATCH" --product relay >/dev/null \
    && swift build -c release --scratch-path "$SCRATCH" --product relay-bench >/dev/null)
}

# start_redis PORT
start_redis() {
  redis-server --port "$1" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
    --dir "$WORK" --logfile "$WORK/redis-$1.log" --maxclients 10000 &
  PIDS+=($!)
  for _ in $(seq 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return; sleep 0.05; done
  echo "redis did not start" >&2; exit 1
}

# start_relay PORT REDIS_PORT [WORKERS] [HOST]: one node, or a supervisor with N workers on one
# port, on 127.0.0.1 (HOST: another address). PING_SECONDS: the SSE ping interval (default 15).
start_relay() {
  local workers=${3:-1}
  RELAY_PING_INTERVAL_SECONDS=${PING_SECONDS:-15} "$RELAY" serve --listen "${4:-127.0.0.1}:$1" --redis "redis://127.0.0.1:$2" \
    --workers "$workers" >"$WORK/relay-$1.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return; sleep 0.05; done
  echo "relay on $1 did not start" >&2; cat "$WORK/relay-$1.log" >&2; exit 1
}

# A leading --http2 argument of a scenario: its subscribers are HTTP/2 streams (h2c with prior
# knowledge, straight at the relay), 100 to a connection. Sets HTTP2 (0/1) and SUB_PROTO (the
# relay-bench subscribe arguments); the caller then drops the argument (shift "$HTTP2").
HTTP2=0; SUB_PROTO=()
if [ "${1:-}" = "--http2" ]; then HTTP2=1; SUB_PROTO=(--http2 --streams-per-connection 100); fi

# count_writes SECONDS OUT: counts the relay nodes' socket write system calls (send, sendmsg,
# write, writev) for SECONDS with perf, into OUT (nothing when perf or its tracepoints are
# missing). Run it in the background while a load runs.
count_writes() {
  command -v perf >/dev/null || return 0
  local pids
  pids=$(relay_node_pids | paste -sd, -)
  [ -n "$pids" ] || return 0
  perf stat -x, -e syscalls:sys_enter_sendto,syscalls:sys_enter_sendmsg,syscalls:sys_enter_write,syscalls:sys_enter_writev \
    -p "$pids" -- sleep "$1" 2>"$2" >/dev/null || true
}

# relay_node_pids: the relay processes that hold connections (supervisors, --workers N without
# --worker-child, hold none). Only processes of the binary measured ($RELAY): on a shared
# machine other relays (another work tree's tests) run meanwhile, and a RELAY_BIN named
# otherwise than "relay" would not match "relay serve".
relay_node_pids() {
  local exe
  exe=$(readlink -f "$RELAY")
  for pid in $(pgrep -f " serve " || true); do
    [ "$(readlink -f "/proc/$pid/exe" 2>/dev/null)" = "$exe" ] || continue
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "--worker-child" || \
      ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "--workers" || continue
    echo "$pid"
  done
}

# relay_rss_kb: resident memory of every relay node process (not supervisors), in KiB.
relay_rss_kb() {
  local total=0
  for pid in $(relay_node_pids); do
    total=$((total + $(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

# tree_pids PID...: each PID and all of its descendants (a supervisor and its workers, an
# nginx master and its workers).
tree_pids() {
  local pid
  for pid in "$@"; do
    echo "$pid"
    tree_pids $(pgrep -P "$pid" || true)
  done
}

# cpu_ticks PID...: user+system CPU of the processes, in clock ticks (1/100 s); a process
# already gone counts 0. (The fields after the comm's closing parenthesis: the comm may
# hold spaces.)
cpu_ticks() {
  local total=0 pid stat f
  for pid in "$@"; do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    read -ra f <<<"${stat##*) }"   # f[0] is field 3 (state): utime is field 14, stime 15
    total=$((total + f[11] + f[12]))
  done
  echo "$total"
}

# cpu_seconds TICKS: clock ticks as seconds (2 decimals).
cpu_seconds() { printf '%d.%02d' $(($1 / 100)) $(($1 % 100)); }

# wait_connections LOG N [SECONDS=60]: until relay-bench's progress line shows N connections.
wait_connections() {
  for _ in $(seq $(( ${3:-60} * 10 ))); do
    grep -q "connections $2 " "$1" 2>/dev/null && return
    sleep 0.1
  done
  echo "only $(grep -o 'connections [0-9]*' "$1" | tail -1) of $2 after ${3:-60} s" >&2
}

# result FILE: the RESULT json of a relay-bench log.
result() { grep '^RESULT ' "$1" | tail -1 | cut -c8-; }
json() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
