#!/usr/bin/env bash
# Scenario 9: appends through the S2 API (issue 18), as the Trigger.dev SDK's writer makes them:
# S2's Python client with the PUT handshake's credentials, one S2S append session per run,
# batches of 1, 10 and 100 records, then unary appends of 1 record, all in one run against one
# node on one Redis. Prints records/s and the Redis and relay CPU per record (microseconds,
# from /proc). Usage: s2-append.sh [RECORDS=20000]
# Needs the venv of `scripts/install-deps --test` (.build-tools/s2-venv).
source "$(dirname "$0")/lib.sh"
RECORDS=${1:-20000}
PY="$ROOT/.build-tools/s2-venv/bin/python"
[ -x "$PY" ] || { echo "no s2-sdk venv: run scripts/install-deps --test" >&2; exit 1; }
build
start_redis 6399
start_relay 8099 6399
REDIS_PID=$(pgrep -f "redis-server 127.0.0.1:6399" | head -1)
RELAY_PID=$(pgrep -f "relay serve --listen 127.0.0.1:8099" | head -1)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
URL=http://127.0.0.1:8099
run() { # BATCHES PER MODE
  local session headers token stream r0 r1 n0 n1 out
  session=$(curl -sf -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d '{"type":"chat.agent","taskIdentifier":"bench"}' "$URL/api/v1/sessions" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  headers=$(curl -sf -D - -o /dev/null -X PUT -H "Authorization: Bearer $KEY" "$URL/realtime/v1/sessions/$session/out" | tr -d '\r')
  token=$(grep -i '^x-s2-access-token:' <<<"$headers" | cut -d' ' -f2)
  stream=$(grep -i '^x-s2-stream-name:' <<<"$headers" | cut -d' ' -f2)
  r0=$(cpu "$REDIS_PID"); n0=$(cpu "$RELAY_PID")
  out=$("$PY" "$ROOT/Benchmarks/scenarios/s2_append.py" "$URL" relay-sessions "$stream" "$token" "$1" "$2" "$3" | grep '^RESULT ')
  r1=$(cpu "$REDIS_PID"); n1=$(cpu "$RELAY_PID")
  python3 - "$1" "$2" "$3" "$out" "$r0" "$r1" "$n0" "$n1" <<'PYEOF'
import json, sys
batches, per, mode, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4][7:])
r0, r1, n0, n1 = map(int, sys.argv[5:9]); hz = 100; n = out["records"]
print(f"{mode:7} {per:3} per batch: {out['records_per_s']:7}/s records ({out['batches_per_s']}/s batches); "
      f"Redis {1e6 * (r1 - r0) / hz / n:5.1f} us/record, relay {1e6 * (n1 - n0) / hz / n:5.1f} us/record")
PYEOF
}
run "$RECORDS" 1 session
run $((RECORDS / 10)) 10 session
run $((RECORDS / 100)) 100 session
run $((RECORDS / 4)) 1 unary
# The same node and Redis, records appended one by one with POST …/append (relay-bench publish,
# 32 keep-alive connections flat out, 5 s): the per-record cost S2 batches are compared with.
r0=$(cpu "$REDIS_PID"); n0=$(cpu "$RELAY_PID")
"$BIN/relay-bench" publish --url "$URL" --prefix s2cmp-$$ --channels 100 --rate 40000 --connections 32 \
  --duration 5 >"$WORK/pub.log" 2>&1
r1=$(cpu "$REDIS_PID"); n1=$(cpu "$RELAY_PID")
appends=$(json "$(result "$WORK/pub.log")" events)
python3 -c "import sys; r0,r1,n0,n1,n=map(int,sys.argv[1:6]); hz=100
print(f'POST    1 per request: {n/5:7.0f}/s records; Redis {1e6*(r1-r0)/hz/n:5.1f} us/record, relay {1e6*(n1-n0)/hz/n:5.1f} us/record')" \
  "$r0" "$r1" "$n0" "$n1" "$appends"
