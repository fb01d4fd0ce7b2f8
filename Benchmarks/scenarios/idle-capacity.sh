#!/usr/bin/env bash
# Scenario 1: idle capacity. As many concurrent SSE subscribers as the machine holds, over
# several relay processes (each may hold at most 20,000 files), and the relay's RSS per
# connection. Usage: idle-capacity.sh [--http2] [CONNECTIONS=100000] [WORKERS=7]
# --http2: the subscribers are HTTP/2 streams, 100 to a connection.
source "$(dirname "$0")/lib.sh"
shift "$HTTP2"
CONNECTIONS=${1:-100000}
WORKERS=${2:-7}
PROCS=$(( (CONNECTIONS + 17999) / 18000 ))
build
start_redis 6390
start_relay 8090 6390 "$WORKERS"
sleep 1   # let all the workers finish starting before the baseline RSS (not a synchronisation)
BEFORE=$(relay_rss_kb)
HOLD=$(( CONNECTIONS / 5000 + 25 ))
"$BIN/relay-bench" subscribe --url http://127.0.0.1:8090 --prefix idle-$$ --channels 1000 \
  --connections "$CONNECTIONS" --processes "$PROCS" --sources 8 ${SUB_PROTO[@]+"${SUB_PROTO[@]}"} --ramp 5000 --duration "$HOLD" >"$WORK/sub.log" 2>&1 &
BENCH=$!
PIDS+=($BENCH)
# Measure once every subscriber is connected (and a moment later, once allocations settle).
wait_connections "$WORK/sub.log" "$CONNECTIONS" "$HOLD"
sleep 2
AFTER=$(relay_rss_kb)
wait $BENCH || true
tail -4 "$WORK/sub.log"
OPEN=$(json "$(result "$WORK/sub.log")" connections)
echo "relay RSS: before ${BEFORE} KiB, with ${OPEN} subscribers ${AFTER} KiB"
python3 -c "import sys; b,a,n=map(int,sys.argv[1:]); print(f'RSS per connection: {(a-b)*1024/max(n,1):.0f} bytes ({(a-b)/max(n,1):.2f} KiB)')" "$BEFORE" "$AFTER" "$OPEN"
