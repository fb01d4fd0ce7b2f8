#!/usr/bin/env bash
# Scenario 3: many channels. 10,000 channels x 1 subscriber, 2,000 appends/s spread over
# them; the subscribers are on a different node than the appender.
# Usage: many-channels.sh [--http2] [CHANNELS=10000] [RATE=2000] [SECONDS=20]
# --http2: the subscribers are HTTP/2 streams, 100 to a connection (appends stay HTTP/1.1).
source "$(dirname "$0")/lib.sh"
shift "$HTTP2"
CHANNELS=${1:-10000}; RATE=${2:-2000}; SECS=${3:-20}
build
start_redis 6392
start_relay 8092 6392
start_relay 8093 6392
"$BIN/relay-bench" subscribe --url http://127.0.0.1:8093 --prefix mc-$$ --channels "$CHANNELS" --connections "$CHANNELS" \
  --processes 1 --sources 2 ${SUB_PROTO[@]+"${SUB_PROTO[@]}"} --ramp 5000 --duration $((SECS + 10)) >"$WORK/sub.log" 2>&1 &
SUB=$!; PIDS+=($SUB)
wait_connections "$WORK/sub.log" "$CHANNELS"
"$BIN/relay-bench" publish --url http://127.0.0.1:8092 --prefix mc-$$ --channels "$CHANNELS" --rate "$RATE" \
  --connections 16 --duration "$SECS" --no-setup >"$WORK/pub.log" 2>&1
wait $SUB || true
echo "== publish (node A)"; tail -3 "$WORK/pub.log" | head -2
echo "== subscribe (node B)"; tail -3 "$WORK/sub.log"
