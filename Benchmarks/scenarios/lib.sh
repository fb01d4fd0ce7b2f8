# Shared by the scenario scripts: build, start Redis and relay nodes on loopback, measure RSS,
# clean up on exit. Every process started here is stopped by the trap.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# SCRATCH_PATH: another build directory (swift build --scratch-path), e.g. for a second work tree.
SCRATCH=${SCRATCH_PATH:-$ROOT/.build}
BIN="$SCRATCH/release"
WORK=$(mktemp -d /tmp/relay-bench-XXXXXX)
PIDS=()
KEY=tr_bench_key
export RELAY_ENVIRONMENTS='[{"id":"env_bench","slug":"bench","secretKeys":["tr_bench_key"]}]'
export RELAY_BENCH_KEY=$KEY
ulimit -n "$(ulimit -Hn)"

cleanup() {
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

build() {
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

# start_relay PORT REDIS_PORT [WORKERS]: one node, or a supervisor with N workers on one port.
start_relay() {
  local workers=${3:-1}
  RELAY_PING_INTERVAL_SECONDS=15 "$BIN/relay" serve --listen "127.0.0.1:$1" --redis "redis://127.0.0.1:$2" \
    --workers "$workers" >"$WORK/relay-$1.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return; sleep 0.05; done
  echo "relay on $1 did not start" >&2; cat "$WORK/relay-$1.log" >&2; exit 1
}

# start_h2c_proxy PORT RELAY_PORT: haproxy on PORT in front of one relay node, taking HTTP/1.1
# and cleartext HTTP/2 with prior knowledge (haproxy recognises the h2 preface on a plain
# bind) and passing each stream to the relay as an HTTP/1.1 request, for relay-bench --http2.
# Two files per stream (the client's connection is shared): about 9,500 streams at most here.
start_h2c_proxy() {
  cat >"$WORK/haproxy-$1.cfg" <<CFG
global
    maxconn 9800
defaults
    mode http
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
frontend h2c
    bind 127.0.0.1:$1
    default_backend relay
backend relay
    server relay 127.0.0.1:$2
CFG
  haproxy -f "$WORK/haproxy-$1.cfg" -db >"$WORK/haproxy-$1.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do curl -sf --http2-prior-knowledge "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return; sleep 0.05; done
  echo "haproxy on $1 did not start" >&2; cat "$WORK/haproxy-$1.log" >&2; exit 1
}

# relay_rss_kb: resident memory of every relay node process (not supervisors), in KiB.
relay_rss_kb() {
  local total=0
  for pid in $(pgrep -f "relay serve" || true); do
    # Supervisors (--workers N without --worker-child) hold no connections.
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "--worker-child" || \
      ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "--workers" || continue
    total=$((total + $(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

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
