#!/usr/bin/env bash
# Redis Cluster: appends/s and append->delivery latency against a cluster of P primaries (each
# with a replica), and the per-shard picture that predicts a real deployment: sessions and
# commands per primary (INFO commandstats), Redis CPU per primary, and evidence that no command
# was refused as cross-slot and nothing was broadcast (PUBLISH calls, errorstats).
# Two relay nodes: A takes the appends (X-Part-Id on each), B holds one subscriber per channel.
# Usage: cluster.sh [PRIMARIES=3] [RATE=20000] [CHANNELS=2000] [CONNECTIONS=64] [SECONDS=15]
source "$(dirname "$0")/lib.sh"
PRIMARIES=${1:-3}; RATE=${2:-20000}; CHANNELS=${3:-2000}; CONNS=${4:-64}; SECS=${5:-15}
BASE=7400
build
URL=$("$ROOT/scripts/dev-cluster" --port "$BASE" --primaries "$PRIMARIES" --dir "$WORK/cluster")
stop_cluster() { "$ROOT/scripts/dev-cluster" stop --dir "$WORK/cluster" >/dev/null 2>&1 || true; }
trap 'stop_cluster; cleanup' EXIT
PRIMARY_PORTS=$(seq "$BASE" $((BASE + PRIMARIES - 1)))

# start_relay_url PORT URL
start_relay_url() {
  RELAY_PING_INTERVAL_SECONDS=15 "$RELAY" serve --listen "127.0.0.1:$1" --redis "$2" >"$WORK/relay-$1.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return; sleep 0.05; done
  echo "relay on $1 did not start" >&2; cat "$WORK/relay-$1.log" >&2; exit 1
}
start_relay_url 8097 "$URL"
start_relay_url 8098 "$URL"

"$BIN/relay-bench" subscribe --url http://127.0.0.1:8098 --prefix cl-$$ --channels "$CHANNELS" --connections "$CHANNELS" \
  --processes 1 --sources 2 --ramp 5000 --duration $((SECS + 10)) >"$WORK/sub.log" 2>&1 &
SUB=$!; PIDS+=($SUB)
wait_connections "$WORK/sub.log" "$CHANNELS"

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -A PID0 CPU0
for port in $PRIMARY_PORTS; do
  redis-cli -p "$port" CONFIG RESETSTAT >/dev/null
  PID0[$port]=$(cat "$WORK/cluster/$port/redis.pid")
  CPU0[$port]=$(cpu "${PID0[$port]}")
done
T0=$(date +%s.%N)
"$BIN/relay-bench" publish --url http://127.0.0.1:8097 --prefix cl-$$ --channels "$CHANNELS" --rate "$RATE" \
  --connections "$CONNS" --part-id --duration "$SECS" --no-setup >"$WORK/pub.log" 2>&1
T1=$(date +%s.%N)
wait $SUB || true

echo "== $PRIMARIES primaries, $URL"
echo "== publish (node A)"; tail -4 "$WORK/pub.log" | head -3
echo "== subscribe (node B)"; tail -3 "$WORK/sub.log"
echo "== per primary (over the publish phase, $(python3 -c "print(f'{$T1-$T0:.1f}')") s)"
# scripts/s: EVALSHA calls (an append is one); cmds/s counts every command, the ones a script
# runs included; cpu us/script: Redis CPU per script call, what one primary's capacity follows.
printf '%-6s %8s %10s %10s %10s %10s %6s %14s %s\n' port sessions scripts/s spublish/s publish/s cmds/s cpu% 'cpu us/script' errors
for port in $PRIMARY_PORTS; do
  stats=$(redis-cli -p "$port" INFO commandstats | tr -d '\r')
  calls() { echo "$stats" | awk -F'[=,:]' -v c="cmdstat_$1" '$1 == c {print $3}' | head -1; }
  all=$(echo "$stats" | awk -F'[=,:]' '/^cmdstat_/ {s += $3} END {print s + 0}')
  sessions=$(redis-cli -p "$port" --scan --pattern "relay:{s:*}:meta" | wc -l)
  errors=$(redis-cli -p "$port" INFO errorstats | tr -d '\r' | { grep '^errorstat_' || true; } | tr '\n' ' ')
  c1=$(cpu "${PID0[$port]}")
  python3 - "$port" "$sessions" "$(calls evalsha)" "$(calls spublish)" "$(calls publish)" "$all" "${CPU0[$port]}" "$c1" "$T0" "$T1" "${errors:-none}" <<'PY'
import sys
port, sessions, evalsha, spublish, publish, total, c0, c1, t0, t1, errors = sys.argv[1:]
t = float(t1) - float(t0)
n = lambda s: int(s or 0)
cpu = (int(c1) - int(c0)) / 100  # seconds of CPU (clock ticks of 10 ms)
per = 1e6 * cpu / max(n(evalsha), 1)
print(f"{port:<6} {sessions:>8} {n(evalsha)/t:>10.0f} {n(spublish)/t:>10.0f} {n(publish)/t:>10.0f} {n(total)/t:>10.0f} {100*cpu/t:>6.0f} {per:>14.1f} {errors}")
PY
done
