#!/usr/bin/env bash
# Scenario 10: appends through several relay nodes on one Redis, and what each append costs
# Redis and the relay (issue 19: group commit). Publishers append with X-Part-Id from
# keep-alive connections spread over the nodes; the figures are per append over the publish
# phase: Redis CPU, relay CPU (all nodes), and the script calls Redis ran
# (appends per EVALSHA: how many appends shared a call).
# Usage: append-groups.sh [--http2] [RATE=150000] [CONNECTIONS=128] [SECONDS=15] [NODES=2] [PUBLISHERS=2]
# --http2: the publishers send each append as a POST stream over HTTP/2, 100 in flight per connection.
source "$(dirname "$0")/lib.sh"
shift "$HTTP2"
RATE=${1:-150000}; CONNS=${2:-128}; SECS=${3:-15}; NODES=${4:-2}; PUBS=${5:-2}
PUB_PROTO=(); [ "$HTTP2" = 1 ] && PUB_PROTO=(--http2 --streams-per-connection 100)
build
start_redis 6395
URLS=()
for n in $(seq "$NODES"); do
  start_relay $((8100 + n)) 6395
  URLS+=(--url "http://127.0.0.1:$((8100 + n))")
done
REDIS_PID=$(pgrep -f "redis-server 127.0.0.1:6395" | head -1)
ticks() { local t=0; for pid in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done; echo "$t"; }
evalsha() { redis-cli -p 6395 info commandstats | tr -d '\r' | awk -F'[=,:]' '/^cmdstat_(evalsha|eval):/ {s += $3} END {print s + 0}'; }
# The sessions first (create is idempotent), so the publish phase measures appends only.
"$BIN/relay-bench" publish "${URLS[@]}" --prefix ag-$$ --channels 1000 --rate 1 --connections 1 --duration 0.1 >/dev/null 2>&1
RELAYS=$(pgrep -f " serve --listen 127.0.0.1:81(0[1-9]|[1-9][0-9]) " | paste -sd' ')
R0=$(ticks "$REDIS_PID"); N0=$(ticks $RELAYS); E0=$(evalsha); T0=$(date +%s.%N)
BENCHES=()
for p in $(seq "$PUBS"); do
  "$BIN/relay-bench" publish "${URLS[@]}" --prefix ag-$$ --channels 1000 --rate $((RATE / PUBS)) --no-setup \
    --connections $((CONNS / PUBS)) --part-id --duration "$SECS" ${PUB_PROTO[@]+"${PUB_PROTO[@]}"} >"$WORK/pub-$p.log" 2>&1 &
  BENCHES+=($!)
done
# PERF_REDIS=FILE: also record Redis' profile over the publish phase (perf record -g).
# PERF_RELAY=FILE: the first relay node's (with call graphs).
[ -n "${PERF_REDIS:-}" ] && { perf record -g -o "$PERF_REDIS" -p "$REDIS_PID" -- sleep "$SECS" >/dev/null 2>&1 & }
[ -n "${PERF_RELAY:-}" ] && { perf record -F 2000 -g -o "$PERF_RELAY" -p "${RELAYS%% *}" -- sleep "$SECS" >/dev/null 2>&1 & }
for b in "${BENCHES[@]}"; do wait "$b" || true; done
R1=$(ticks "$REDIS_PID"); N1=$(ticks $RELAYS); E1=$(evalsha); T1=$(date +%s.%N)
APPENDS=0
for p in $(seq "$PUBS"); do
  echo "== publisher $p"; tail -4 "$WORK/pub-$p.log" | head -3
  APPENDS=$((APPENDS + $(json "$(result "$WORK/pub-$p.log")" events)))
done
python3 - "$R0" "$R1" "$N0" "$N1" "$E0" "$E1" "$T0" "$T1" "$APPENDS" "$NODES" <<'PY'
import sys
r0, r1, n0, n1, e0, e1 = map(int, sys.argv[1:7]); t = float(sys.argv[8]) - float(sys.argv[7]); appends = int(sys.argv[9])
hz, us = 100, 1e6
per = lambda ticks: ticks / hz * us / max(appends, 1)
print(f"appends {appends} in {t:.1f} s ({appends / t:.0f}/s through {sys.argv[10]} nodes)")
print(f"Redis CPU {100 * (r1 - r0) / hz / t:.0f}% = {per(r1 - r0):.1f} us per append; relay CPU (all nodes) "
      f"{100 * (n1 - n0) / hz / t:.0f}% = {per(n1 - n0):.1f} us per append")
print(f"script calls {e1 - e0}: {appends / max(e1 - e0, 1):.1f} appends per call")
PY
