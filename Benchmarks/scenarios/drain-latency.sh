#!/usr/bin/env bash
# Scenario 5: 1,000-record drains while scenario 3's load runs on the same Redis and node.
# Usage: drain-latency.sh [SECONDS=20]
source "$(dirname "$0")/lib.sh"
SECS=${1:-20}
build
start_redis 6395
start_relay 8095 6395
start_relay 8096 6395
"$BIN/relay-bench" subscribe --url http://127.0.0.1:8096 --prefix dl-$$ --channels 10000 --connections 10000 \
  --sources 2 --ramp 5000 --duration $((SECS + 40)) >"$WORK/sub.log" 2>&1 &
PIDS+=($!)
wait_connections "$WORK/sub.log" 10000
"$BIN/relay-bench" publish --url http://127.0.0.1:8095 --prefix dl-$$ --channels 10000 --rate 2000 \
  --connections 16 --duration $((SECS + 25)) --no-setup >"$WORK/pub.log" 2>&1 &
PIDS+=($!)
"$BIN/relay-bench" drain --url http://127.0.0.1:8095 --prefix drain-$$ --channels 20 --preload 1000 \
  --limit 1000 --rate 20 --connections 4 --duration "$SECS" >"$WORK/drain.log" 2>&1
tail -3 "$WORK/drain.log"
echo "== concurrent load"; grep "appends/s" "$WORK/pub.log" | tail -1; grep "events/s" "$WORK/sub.log" | tail -1
