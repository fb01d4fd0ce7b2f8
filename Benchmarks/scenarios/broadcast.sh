#!/usr/bin/env bash
# Scenario 2: broadcast. One channel, N subscribers (default 10,000), 100 appends/s:
# deliveries/s and append-to-delivery latency percentiles.
# Usage: broadcast.sh [SUBSCRIBERS=10000] [RATE=100] [SECONDS=20] [WORKERS=2]
source "$(dirname "$0")/lib.sh"
SUBS=${1:-10000}; RATE=${2:-100}; SECS=${3:-20}; WORKERS=${4:-2}
PROCS=$(( (SUBS + 4999) / 5000 ))
build
start_redis 6391
start_relay 8091 6391 "$WORKERS"
RAMP=$(( SUBS / 4 + 1 ))
"$BIN/relay-bench" subscribe --url http://127.0.0.1:8091 --prefix bc-$$ --channels 1 --connections "$SUBS" \
  --processes "$PROCS" --sources 4 --ramp "$RAMP" --duration $((SECS + 8)) >"$WORK/sub.log" 2>&1 &
SUB=$!; PIDS+=($SUB)
wait_connections "$WORK/sub.log" "$SUBS"
"$BIN/relay-bench" publish --url http://127.0.0.1:8091 --prefix bc-$$ --channels 1 --rate "$RATE" \
  --duration "$SECS" --no-setup >"$WORK/pub.log" 2>&1
wait $SUB || true
echo "== publish"; tail -3 "$WORK/pub.log" | head -2
echo "== subscribe"; tail -3 "$WORK/sub.log"
R=$(result "$WORK/sub.log")
python3 -c "import json,sys; r=json.loads(sys.argv[1]); s=float(sys.argv[2]); print(f'deliveries/s during publishing: {r[\"events\"]/s:.0f}')" "$R" "$SECS"
