#!/usr/bin/env bash
# Scenario 2: broadcast. One channel, N subscribers (default 10,000), 100 appends/s:
# deliveries/s and append-to-delivery latency percentiles.
# Usage: broadcast.sh [--http2] [SUBSCRIBERS=10000] [RATE=100] [SECONDS=20] [WORKERS=2]
# --http2: the subscribers are HTTP/2 streams, 100 to a connection, straight at the relay
# (relay-bench subscribe --http2); appends stay HTTP/1.1. The run fails if a subscriber missed
# a record.
source "$(dirname "$0")/lib.sh"
shift "$HTTP2"
SUBS=${1:-10000}; RATE=${2:-100}; SECS=${3:-20}; WORKERS=${4:-2}
PROCS=$(( (SUBS + 4999) / 5000 ))
build
start_redis 6391
start_relay 8091 6391 "$WORKERS"
RAMP=$(( SUBS / 4 + 1 ))
BEFORE=$(relay_rss_kb)
"$BIN/relay-bench" subscribe --url http://127.0.0.1:8091 --processes "$PROCS" --sources 4 ${SUB_PROTO[@]+"${SUB_PROTO[@]}"} --prefix bc-$$ --channels 1 --connections "$SUBS" \
  --ramp "$RAMP" --duration $((SECS + 8)) >"$WORK/sub.log" 2>&1 &
SUB=$!; PIDS+=($SUB)
wait_connections "$WORK/sub.log" "$SUBS"
HELD=$(relay_rss_kb)
# Socket writes by the relay for 5 s in the middle of the publishing.
( sleep $(( SECS / 2 - 2 > 0 ? SECS / 2 - 2 : 0 )); count_writes 5 "$WORK/writes.csv" ) &
"$BIN/relay-bench" publish --url http://127.0.0.1:8091 --prefix bc-$$ --channels 1 --rate "$RATE" \
  --duration "$SECS" --no-setup >"$WORK/pub.log" 2>&1
wait $SUB || true
echo "== publish"; tail -3 "$WORK/pub.log" | head -2
echo "== subscribe"; grep '^warning' "$WORK/sub.log" || true; tail -3 "$WORK/sub.log"
R=$(result "$WORK/sub.log")
python3 -c "import json,sys; r=json.loads(sys.argv[1]); s=float(sys.argv[2]); print(f'deliveries/s during publishing: {r[\"events\"]/s:.0f}')" "$R" "$SECS"
python3 -c "import sys; b,a,n=map(int,sys.argv[1:]); print(f'relay RSS per subscriber (held, before publishing): {(a-b)/max(n,1):.2f} KiB')" "$BEFORE" "$HELD" "$SUBS"
if [ -s "$WORK/writes.csv" ]; then
  python3 - "$WORK/writes.csv" "$RATE" "$SUBS" <<'PY'
import sys
total = sum(int(line.split(",")[0]) for line in open(sys.argv[1]) if line[:1].isdigit())
rate, subs = float(sys.argv[2]), int(sys.argv[3])
print(f"relay socket writes: {total / 5:.0f}/s, {total / (5 * rate):.0f} per record, {total / (5 * rate * subs):.3f} per delivery")
PY
fi
if [ "$HTTP2" = 1 ]; then
  # Every stream must hold every acknowledged append (more is fine: appends still in flight
  # when the publisher stopped), with no gap and no repeat.
  python3 - "$R" "$(result "$WORK/pub.log")" "$SUBS" <<'PY'
import json, sys
sub, pub, subs = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
want = pub["events"] * subs
ok = (sub["connections"] == subs and sub["events"] >= want
      and sub["gaps"] == 0 and sub["duplicates"] == 0 and sub["errors"] == 0)
print(f"h2 check: {sub['connections']} streams on {sub.get('http_connections')} connections, "
      f"{sub['events']} events (at least {want} wanted), gaps {sub['gaps']}, "
      f"duplicates {sub['duplicates']}, errors {sub['errors']}: {'ok' if ok else 'FAILED'}")
sys.exit(0 if ok else 1)
PY
fi
