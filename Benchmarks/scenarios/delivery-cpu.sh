#!/usr/bin/env bash
# Scenario 8: the relay's CPU per delivery. One node (one process), 1 channel x N subscribers,
# R appends/s for S seconds; the node's user+system CPU during the publishing, divided by the
# deliveries. Usage: delivery-cpu.sh [--http2] [SUBSCRIBERS=10000] [RATE=20] [SECONDS=10]
# RELAY_BIN=PATH runs another relay binary under the same load (old and new side by side).
source "$(dirname "$0")/lib.sh"
shift "$HTTP2"
SUBS=${1:-10000}; RATE=${2:-20}; SECS=${3:-10}
build
start_redis 6398
start_relay 8098 6398 1
"$BIN/relay-bench" subscribe --url http://127.0.0.1:8098 --processes 2 --sources 4 ${SUB_PROTO[@]+"${SUB_PROTO[@]}"} \
  --prefix cpu-$$ --channels 1 --connections "$SUBS" --ramp 5000 --duration $((SECS + 12)) >"$WORK/sub.log" 2>&1 &
SUB=$!; PIDS+=($SUB)
wait_connections "$WORK/sub.log" "$SUBS"
# Clock ticks (1/100 s) of every process of the node.
ticks() { local t=0; for p in $(pgrep -f "serve --listen 127.0.0.1:8098"); do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo "$t"; }
BEFORE=$(ticks)
"$BIN/relay-bench" publish --url http://127.0.0.1:8098 --prefix cpu-$$ --channels 1 --rate "$RATE" --duration "$SECS" \
  --no-setup >"$WORK/pub.log" 2>&1
AFTER=$(ticks)
wait $SUB || true
R=$(result "$WORK/sub.log")
python3 - "$R" "$BEFORE" "$AFTER" "$RELAY" <<'PY'
import json, sys
r, before, after = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
cpu = (after - before) / 100
print(f"{sys.argv[4]} ({r['protocol']}): {r['events']} deliveries, relay CPU {cpu:.2f} s, "
      f"{cpu * 1e6 / max(r['events'], 1):.2f} us per delivery; latency p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms")
PY
