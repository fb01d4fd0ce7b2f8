#!/usr/bin/env bash
# Side by side: scenarios 2 (broadcast) and 3 (many channels) against the relay and against
# nchan (Debian's nginx + libnginx-mod-nchan, Redis storage, the same number of workers), in
# the same run, on the same machine; prints both and their ratio.
# Usage: nchan-side-by-side.sh [BROADCAST_SUBSCRIBERS=20000] [BROADCAST_RATE=100] [CHANNELS=10000] [RATE=2000] [SECONDS=15]
# PARTS=broadcast or PARTS=many runs one half only. Each part also reports the CPU (user +
# system, from /proc, over the publishing) of each server's processes (the relay's supervisor
# and workers, nginx's master and workers) and of its Redis.
# PERF_DIR=DIR: also records each server's processes with `perf record -g` over the publishing
# (DIR/<part>-relay.data, DIR/<part>-nchan.data; PERF_ARGS replaces -g); the profiler costs CPU:
# not for the figures.
source "$(dirname "$0")/lib.sh"
BSUBS=${1:-20000}; BRATE=${2:-100}; CHANNELS=${3:-10000}; MRATE=${4:-2000}; SECS=${5:-15}
WORKERS=2
declare -A REDIS_PID SERVER_PID CPU_SERVER CPU_REDIS
if ! [ -f /usr/lib/nginx/modules/ngx_nchan_module.so ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nginx libnginx-mod-nchan >/dev/null
fi
build
start_redis 6397
REDIS_PID[relay]=${PIDS[-1]}
start_redis 6398
REDIS_PID[nchan]=${PIDS[-1]}
start_relay 8098 6397 "$WORKERS"
SERVER_PID[relay]=${PIDS[-1]}

cat >"$WORK/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
worker_processes $WORKERS;
worker_rlimit_nofile 20000;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 19000; }
http {
  access_log off;
  upstream nchan_redis { nchan_redis_server redis://127.0.0.1:6398; }
  server {
    listen 127.0.0.1:8099;
    location ~ /pub/([\w-]+)$ {
      nchan_publisher;
      nchan_channel_id \$1;
      nchan_redis_pass nchan_redis;
      nchan_message_buffer_length 100;
    }
    location ~ /sub/([\w-]+)$ {
      nchan_subscriber eventsource;
      nchan_channel_id \$1;
      nchan_redis_pass nchan_redis;
      nchan_subscriber_timeout 600;
    }
  }
}
CONF
nginx -p "$WORK" -c "$WORK/nginx.conf" -g 'daemon off;' &
PIDS+=($!)
SERVER_PID[nchan]=$!
# nchan answers 503 until it has connected to Redis.
for _ in $(seq 100); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"n":0,"t":0}' http://127.0.0.1:8099/pub/probe || true)
  [ "$code" = 201 ] || [ "$code" = 202 ] && break
  sleep 0.1
done

# publishing PART NAME COMMAND...: runs the publisher; the CPU its server (NAME: relay or nchan)
# and that server's Redis spent meanwhile goes to CPU_SERVER[PART-NAME] and CPU_REDIS[PART-NAME]
# (clock ticks).
publishing() {
  local part=$1 name=$2; shift 2
  local procs s0 r0 prof=""
  procs=$(tree_pids "${SERVER_PID[$name]}")
  s0=$(cpu_ticks $procs); r0=$(cpu_ticks "${REDIS_PID[$name]}")
  if [ -n "${PERF_DIR:-}" ]; then
    mkdir -p "$PERF_DIR"
    perf record -q ${PERF_ARGS:--g} -o "$PERF_DIR/$part-$name.data" -p "$(echo $procs | tr ' ' ,)" -- sleep "$SECS" >/dev/null 2>&1 &
    prof=$!
  fi
  "$@"
  CPU_SERVER[$part-$name]=$(( $(cpu_ticks $procs) - s0 ))
  CPU_REDIS[$part-$name]=$(( $(cpu_ticks "${REDIS_PID[$name]}") - r0 ))
  [ -z "$prof" ] || wait "$prof" || true
}

broadcast() {  # URL TARGET NAME
  local procs=$(( (BSUBS + 9999) / 10000 ))
  "$BIN/relay-bench" subscribe --url "$1" --target "$2" --prefix "bc$3-$$" --channels 1 --connections "$BSUBS" \
    --processes "$procs" --sources 4 --ramp $((BSUBS / 4)) --duration $((SECS + 8)) >"$WORK/bsub-$3.log" 2>&1 &
  local sub=$!
  wait_connections "$WORK/bsub-$3.log" "$BSUBS"
  publishing broadcast "$3" "$BIN/relay-bench" publish --url "$1" --target "$2" --prefix "bc$3-$$" --channels 1 --rate "$BRATE" \
    --duration "$SECS" --no-setup >"$WORK/bpub-$3.log" 2>&1
  wait $sub || true
}
manychannels() {  # URL TARGET NAME
  "$BIN/relay-bench" subscribe --url "$1" --target "$2" --prefix "mc$3-$$" --channels "$CHANNELS" --connections "$CHANNELS" \
    --sources 2 --ramp 5000 --duration $((SECS + 10)) >"$WORK/msub-$3.log" 2>&1 &
  local sub=$!
  wait_connections "$WORK/msub-$3.log" "$CHANNELS"
  publishing many "$3" "$BIN/relay-bench" publish --url "$1" --target "$2" --prefix "mc$3-$$" --channels "$CHANNELS" --rate "$MRATE" \
    --connections 16 --duration "$SECS" --no-setup >"$WORK/mpub-$3.log" 2>&1
  wait $sub || true
}

PARTS=${PARTS:-broadcast many}
if [[ $PARTS == *broadcast* ]]; then
  broadcast http://127.0.0.1:8098 relay relay
  broadcast http://127.0.0.1:8099 nchan nchan
fi
if [[ $PARTS == *many* ]]; then
  manychannels http://127.0.0.1:8098 relay relay
  manychannels http://127.0.0.1:8099 nchan nchan
fi

report() {  # LABEL SUBLOG PART
  local r; r=$(result "$2")
  python3 - "$1" "$r" "$SECS" "${CPU_SERVER[$3-$1]}" "${CPU_REDIS[$3-$1]}" <<'PY'
import json, sys
label, r, secs = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3])
server, redis = int(sys.argv[4]) / 100, int(sys.argv[5]) / 100
print(f"{label:28s} deliveries/s {r['events']/secs:9.0f}  p50 {r['p50_ms']:8.2f} ms  p99 {r['p99_ms']:8.2f} ms  max {r['max_ms']:8.2f} ms  gaps {r['gaps']} dups {r['duplicates']} conns {r['connections']}")
print(f"{'':28s} CPU while publishing: {label} {server:.2f} s, its Redis {redis:.2f} s, together {server + redis:.2f} s")
PY
}
ratio() {  # LABEL RELAYLOG NCHANLOG PART
  python3 - "$1" "$(result "$2")" "$(result "$3")" "${CPU_SERVER[$4-relay]}" "${CPU_SERVER[$4-nchan]}" <<'PY'
import json, sys
label, r, n = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
ratio = lambda a, b: a / b if b else float('inf')
cpu_r, cpu_n = int(sys.argv[4]), int(sys.argv[5])
print(f"ratio relay/nchan ({label}): deliveries {ratio(r['events'], n['events']):.2f}x, p99 {ratio(r['p99_ms'], n['p99_ms']):.2f}x, "
      f"server CPU per delivery {ratio(cpu_r / max(r['events'], 1), cpu_n / max(n['events'], 1)):.2f}x")
PY
}
if [[ $PARTS == *broadcast* ]]; then
  echo "== broadcast: 1 channel x $BSUBS subscribers, $BRATE appends/s, $WORKERS workers each"
  report relay "$WORK/bsub-relay.log" broadcast
  report nchan "$WORK/bsub-nchan.log" broadcast
  ratio broadcast "$WORK/bsub-relay.log" "$WORK/bsub-nchan.log" broadcast
fi
if [[ $PARTS == *many* ]]; then
  echo "== many channels: $CHANNELS channels x 1 subscriber, $MRATE appends/s"
  report relay "$WORK/msub-relay.log" many
  report nchan "$WORK/msub-nchan.log" many
  ratio "many channels" "$WORK/msub-relay.log" "$WORK/msub-nchan.log" many
fi
