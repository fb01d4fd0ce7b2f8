#!/usr/bin/env bash
# Scenario 4: append throughput with X-Part-Id from keep-alive clients against one node;
# appends/s and Redis CPU. Usage: append-throughput.sh [RATE=30000] [CONNECTIONS=64] [SECONDS=15]
source "$(dirname "$0")/lib.sh"
RATE=${1:-30000}; CONNS=${2:-64}; SECS=${3:-15}
build
start_redis 6394
start_relay 8094 6394
REDIS_PID=$(pgrep -f "redis-server 127.0.0.1:6394" | head -1)
RELAY_PID=$(pgrep -f "relay serve --listen 127.0.0.1:8094" | head -1)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
R0=$(cpu "$REDIS_PID"); N0=$(cpu "$RELAY_PID"); T0=$(date +%s.%N)
"$BIN/relay-bench" publish --url http://127.0.0.1:8094 --prefix ap-$$ --channels 1000 --rate "$RATE" \
  --connections "$CONNS" --part-id --duration "$SECS" >"$WORK/pub.log" 2>&1
R1=$(cpu "$REDIS_PID"); N1=$(cpu "$RELAY_PID"); T1=$(date +%s.%N)
tail -4 "$WORK/pub.log" | head -3
python3 -c "import sys; r0,r1,n0,n1=map(int,sys.argv[1:5]); t=float(sys.argv[6])-float(sys.argv[5]); hz=100
print(f'Redis CPU {100*(r1-r0)/hz/t:.0f}%  relay CPU {100*(n1-n0)/hz/t:.0f}% (of one core, over {t:.1f} s including setup)')" \
  "$R0" "$R1" "$N0" "$N1" "$T0" "$T1"
