#!/usr/bin/env bash
# Scenario 6: normal traffic with and without a flood of hostile clients on the same node.
# Normal: CHANNELS subscribers and RATE appends/s (relay-bench); measured first alone, then
# while flood.py holds SLOW slowloris heads, IDLE silent connections and BODIES unauthenticated
# 4 MiB bodies against the node (each reopened as soon as the relay cuts it).
# Usage: flood.sh [SLOW=2000] [IDLE=2000] [BODIES=24] [CHANNELS=500] [RATE=500] [SECONDS=20]
source "$(dirname "$0")/lib.sh"
SLOW=${1:-2000}; IDLE=${2:-2000}; BODIES=${3:-24}; CHANNELS=${4:-500}; RATE=${5:-500}; SECS=${6:-20}
build
start_redis 6396
start_relay 8097 6396

normal() {  # normal LABEL
  "$BIN/relay-bench" subscribe --url http://127.0.0.1:8097 --prefix fl-$1-$$ --channels "$CHANNELS" \
    --connections "$CHANNELS" --duration $((SECS + 8)) >"$WORK/sub-$1.log" 2>&1 &
  local sub=$!; PIDS+=($sub)
  wait_connections "$WORK/sub-$1.log" "$CHANNELS"
  "$BIN/relay-bench" publish --url http://127.0.0.1:8097 --prefix fl-$1-$$ --channels "$CHANNELS" --rate "$RATE" \
    --connections 8 --duration "$SECS" --no-setup >"$WORK/pub-$1.log" 2>&1
  wait $sub || true
  echo "== $1"
  grep "appends/s" "$WORK/pub-$1.log" | tail -1
  grep -E "latency ms|connections" "$WORK/sub-$1.log" | tail -2
}

normal quiet
python3 "$(dirname "$0")/flood.py" 8097 $((SECS + 20)) "$SLOW" "$IDLE" "$BODIES" >"$WORK/flood.log" 2>&1 &
FLOOD=$!; PIDS+=($FLOOD)
sleep 5  # let the flood reach full strength before measuring
echo "relay RSS under flood: $(relay_rss_kb) KiB; metrics:"
curl -s http://127.0.0.1:8097/metrics | grep -E '^relay_http_(connections|timeouts_total|refused_total|buffered)' || true
normal flooded
wait $FLOOD || true
cat "$WORK/flood.log"
curl -s http://127.0.0.1:8097/metrics | grep -E '^relay_http_(timeouts_total|refused_total)' || true
