#!/usr/bin/env bash
# Scenario 3: many channels. 10,000 channels x 1 subscriber, 2,000 appends/s spread over
# them; the subscribers are on a different node than the appender.
# Usage: many-channels.sh [--http2] [CHANNELS=10000] [RATE=2000] [SECONDS=20]
# --http2: the subscribers are HTTP/2 streams, 100 to a connection (appends stay HTTP/1.1).
# Prints the CPU (user + system, from /proc) of node A, node B and Redis over the publishing.
# PERF_DIR=DIR: also records node A and node B with `perf record -g` over the publishing
# (DIR/node-a.data, DIR/node-b.data; PERF_ARGS replaces -g, e.g. "--call-graph dwarf -F 499");
# the profiler costs CPU: not for the figures.
source "$(dirname "$0")/lib.sh"
shift "$HTTP2"
CHANNELS=${1:-10000}; RATE=${2:-2000}; SECS=${3:-20}
build
start_redis 6392
REDIS_PID=${PIDS[-1]}
start_relay 8092 6392
NODE_A=${PIDS[-1]}
start_relay 8093 6392
NODE_B=${PIDS[-1]}
"$BIN/relay-bench" subscribe --url http://127.0.0.1:8093 --prefix mc-$$ --channels "$CHANNELS" --connections "$CHANNELS" \
  --processes 1 --sources 2 ${SUB_PROTO[@]+"${SUB_PROTO[@]}"} --ramp 5000 --duration $((SECS + 10)) >"$WORK/sub.log" 2>&1 &
SUB=$!; PIDS+=($SUB)
wait_connections "$WORK/sub.log" "$CHANNELS"
A0=$(cpu_ticks "$NODE_A"); B0=$(cpu_ticks "$NODE_B"); R0=$(cpu_ticks "$REDIS_PID")
PROF=()
if [ -n "${PERF_DIR:-}" ]; then
  mkdir -p "$PERF_DIR"
  perf record -q ${PERF_ARGS:--g} -o "$PERF_DIR/node-a.data" -p "$NODE_A" -- sleep "$SECS" >/dev/null 2>&1 & PROF+=($!)
  perf record -q ${PERF_ARGS:--g} -o "$PERF_DIR/node-b.data" -p "$NODE_B" -- sleep "$SECS" >/dev/null 2>&1 & PROF+=($!)
fi
"$BIN/relay-bench" publish --url http://127.0.0.1:8092 --prefix mc-$$ --channels "$CHANNELS" --rate "$RATE" \
  --connections 16 --duration "$SECS" --no-setup >"$WORK/pub.log" 2>&1
A1=$(cpu_ticks "$NODE_A"); B1=$(cpu_ticks "$NODE_B"); R1=$(cpu_ticks "$REDIS_PID")
for p in ${PROF[@]+"${PROF[@]}"}; do wait "$p" || true; done
wait $SUB || true
echo "== publish (node A)"; tail -3 "$WORK/pub.log" | head -2
echo "== subscribe (node B)"; tail -3 "$WORK/sub.log"
echo "== CPU while publishing: node A $(cpu_seconds $((A1 - A0))) s, node B $(cpu_seconds $((B1 - B0))) s, Redis $(cpu_seconds $((R1 - R0))) s"
