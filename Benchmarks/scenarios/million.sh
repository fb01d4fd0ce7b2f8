#!/usr/bin/env bash
# Scenario 12: a million concurrent SSE subscribers on this one machine, then one broadcast.
# One Redis, the relay as W workers on one port (each a node under the 20,000-file limit), the
# subscribers from many relay-bench processes (each under 20,000 files). A connection's 4-tuple
# must be unique, so one destination address and port takes at most ~28,000 connections (the
# ephemeral port range) from one source address: the relay listens on 0.0.0.0 and the
# subscribers connect to many loopback destinations, 127.0.0.2, 127.0.0.3, ... (each has its own
# ports). Not bound source addresses (relay-bench --sources): bind() to an address with port 0
# searches that address's whole port space, which was seen to take ~2 ms a call at ~15,000
# ports in use, a few hundred connects/s. And connect() never picks a port that something else
# on the machine bound explicitly (another load generator's bound sockets, on any address), so
# each destination gets fewer than the whole range: 8,000 each by default. Once they are up
# (or stop coming): one record to every channel, so that every subscriber gets one, timed to
# the last arrival.
# Reports what the connections cost: relay RSS (workers, minus their baseline), the kernel's
# share (Slab, SUnreclaim, TCP memory), the load generator's RSS, and CPU per phase.
#
# Usage: million.sh [--tune-kernel] [--smoke] [SUBSCRIBERS=1000000] [WORKERS=60] [CHANNELS=100] [RAMP=5000]
#   --tune-kernel  raise the kernel settings that bound this scale (printed, restored on exit)
#   --smoke        a few seconds, 2,000 subscribers over 2 workers and 2 processes (CI)
# Environment: RELAY_PORT (8097), REDIS_PORT (6397), MIN_AVAILABLE_MB (1536: below it the load
# is stopped), PER_PROCESS (17000 subscribers per relay-bench process), PER_DESTINATION (8000
# connections per destination address), PING_SECONDS (60), BROADCAST_WAIT (120 s), KEEP_LOGS
# (a directory: the relay, Redis and relay-bench logs are copied there at exit).
# Exits non-zero when fewer subscribers than asked were established or not all got the record.
TUNE=0; SMOKE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --tune-kernel) TUNE=1 ;;
    --smoke) SMOKE=1 ;;
    *) break ;;
  esac
  shift
done
source "$(dirname "$0")/lib.sh"
if [ "$SMOKE" = 1 ]; then
  SUBS=2000; WORKERS=2; CHANNELS=4; RAMP=4000; PER_PROCESS=1000; PER_DESTINATION=1000; TUNE=0
else
  SUBS=${1:-1000000}; WORKERS=${2:-60}; CHANNELS=${3:-100}; RAMP=${4:-5000}
  PER_PROCESS=${PER_PROCESS:-17000}; PER_DESTINATION=${PER_DESTINATION:-8000}
fi
RELAY_PORT=${RELAY_PORT:-8097}; REDIS_PORT=${REDIS_PORT:-6397}
MIN_AVAILABLE_MB=${MIN_AVAILABLE_MB:-1536}; BROADCAST_WAIT=${BROADCAST_WAIT:-120}
# A ping is a write to every subscriber: every 15 s a million of them is ~67,000 writes/s on
# two cores, so the connect phase would compete with it. Set PING_SECONDS=15 to include it.
export PING_SECONDS=${PING_SECONDS:-60}
export RELAY_HTTP_TIMEOUT_SECONDS=${RELAY_HTTP_TIMEOUT_SECONDS:-$((PING_SECONDS * 2))}   # must exceed the ping interval
PROCS=$(( (SUBS + PER_PROCESS - 1) / PER_PROCESS ))
DESTINATIONS=$(( (SUBS + PER_DESTINATION - 1) / PER_DESTINATION ))
[ "$DESTINATIONS" -le 250 ] || { echo "$DESTINATIONS destination addresses: at most 250 (raise PER_DESTINATION)" >&2; exit 2; }
URLS=(); for i in $(seq 2 $((DESTINATIONS + 1))); do URLS+=(--url "http://127.0.0.$i:$RELAY_PORT"); done
# relay-bench subscribe runs until the broadcast is in (then the script stops it); this bounds
# it. Streams ask the relay for Timeout-Seconds 600, so the whole run stays under that.
HOLD=$(( SUBS / RAMP + BROADCAST_WAIT + 120 )); [ "$HOLD" -gt 590 ] && HOLD=590
CONNECT_LIMIT=$(( SUBS / RAMP * 3 + 60 ))
PREFIX=million-$$

# --- kernel settings (only with --tune-kernel; every change printed and undone on exit) ---
SAVED=()
set_sysctl() {  # set_sysctl KEY VALUE WHY
  local file="/proc/sys/${1//./\/}" old
  [ -w "$file" ] || { echo "kernel: $1 not writable here; left as is ($3)"; return; }
  old=$(tr '\t' ' ' <"$file")
  [ "$old" = "$2" ] && return
  echo "$2" >"$file" 2>/dev/null || { echo "kernel: cannot set $1; left at $old"; return; }
  SAVED+=("$1=$old")
  echo "kernel: $1: $old -> $2 ($3)"
}
restore_kernel() {
  local entry
  for entry in "${SAVED[@]:-}"; do
    [ -n "$entry" ] || continue
    echo "${entry#*=}" >"/proc/sys/$(echo "${entry%%=*}" | tr . /)" && echo "kernel: ${entry%%=*} restored to ${entry#*=}"
  done
}
sysctl_value() { tr '\t' ' ' <"/proc/sys/${1//./\/}" 2>/dev/null || echo "-"; }
# Any signal ends through exit, so the EXIT trap (settings back, processes stopped) runs.
keep_logs() { [ -n "${KEEP_LOGS:-}" ] && mkdir -p "$KEEP_LOGS" && cp "$WORK"/*.log "$KEEP_LOGS"/ 2>/dev/null && echo "logs kept in $KEEP_LOGS"; return 0; }
trap 'restore_kernel; cleanup_and_keep' EXIT
trap 'exit 130' INT TERM

# lib.sh's cleanup removes the work folder: the logs are copied after the processes stopped.
cleanup_and_keep() {
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  keep_logs
  cleanup
}

tune_kernel() {
  local max
  # Every loopback packet passes the per-CPU backlog queue; connect bursts overflow 1000.
  [ "$(sysctl_value net.core.netdev_max_backlog)" -lt 16384 ] && set_sysctl net.core.netdev_max_backlog 16384 "loopback packets queue here per CPU; a connect burst overflows it (drops, 1 s SYN retransmits)"
  [ "$(sysctl_value net.ipv4.tcp_max_syn_backlog)" -lt 16384 ] && set_sysctl net.ipv4.tcp_max_syn_backlog 16384 "half-open connections per listener while the workers accept"
  [ "$(sysctl_value net.core.somaxconn)" -lt 4096 ] && set_sysctl net.core.somaxconn 4096 "caps the relay's listen backlog (4096)"
  # Two sockets per subscriber (both ends are here), plus everything else open on the machine.
  max=$(( SUBS * 2 + 500000 ))
  [ "$(sysctl_value fs.file-max)" -lt "$max" ] && set_sysctl fs.file-max "$max" "open files machine-wide: two per subscriber"
  # TCP buffer memory, pages: pressure mode shrinks buffers, past the top sockets are dropped.
  read -r _ pressure _ <<<"$(sysctl_value net.ipv4.tcp_mem)"
  [ "$pressure" -lt 1048576 ] && set_sysctl net.ipv4.tcp_mem "786432 1048576 1572864" "socket buffer memory (pages): a broadcast queues a record on every socket at once"
  # Only where connections are tracked (here: no rules, no entries, nothing to raise).
  if [ "$(cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo 0)" -gt 0 ]; then
    max=$(( SUBS * 2 + 65536 ))
    [ "$(sysctl_value net.netfilter.nf_conntrack_max)" -lt "$max" ] && set_sysctl net.netfilter.nf_conntrack_max "$max" "if connections are tracked, a full table drops new ones"
  fi
  return 0
}

echo "== million: $SUBS subscribers, $WORKERS relay workers, $CHANNELS channels, ramp $RAMP/s, $PROCS relay-bench processes, $DESTINATIONS destination addresses"
for key in net.core.somaxconn net.ipv4.tcp_max_syn_backlog net.core.netdev_max_backlog net.ipv4.ip_local_port_range \
           net.ipv4.tcp_mem net.ipv4.tcp_rmem net.ipv4.tcp_wmem fs.file-max fs.nr_open net.netfilter.nf_conntrack_max; do
  echo "kernel: $key = $(sysctl_value $key)"
done
echo "kernel: conntrack entries now: $(cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo 'no conntrack')"
if [ "$TUNE" = 1 ]; then tune_kernel; else echo "kernel: nothing changed (--tune-kernel to raise the settings above)"; fi

# --- measurements ---
# snapshot NAME: kernel memory and socket figures, and the RSS and CPU of each party, as JSON.
snapshot() {
  python3 - "$1" "$(relay_workers)" "$(relay_all_pids)" "${REDIS_PID:-}" "$(bench_pids)" >"$WORK/snap-$1.json" <<'PY'
import json, os, sys, time
name, workers, relay_all, redis, bench = sys.argv[1:6]
def pids(s): return [int(p) for p in s.replace(" ", ",").split(",") if p]
def field_kb(ps, path, name):  # a "Name: N kB" line of each process's /proc file, summed
    total = 0
    for p in ps:
        try:
            total += int(next(l for l in open(f"/proc/{p}/{path}") if l.startswith(name)).split()[1])
        except (OSError, StopIteration): pass
    return total
def rss_kb(ps): return field_kb(ps, "status", "VmRSS")
def pss_kb(ps): return field_kb(ps, "smaps_rollup", "Pss:")  # shared library pages split among their users
def cpu_s(ps):
    total = 0
    for p in ps:
        try: f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
        except OSError: continue
        total += int(f[11]) + int(f[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")
mem = {l.split(":")[0]: int(l.split()[1]) for l in open("/proc/meminfo")}
sock = {}
for line in open("/proc/net/sockstat"):
    if line.startswith("TCP:"):
        parts = line.split()[1:]
        sock = {parts[i]: int(parts[i + 1]) for i in range(0, len(parts), 2)}
ext = {}
lines = open("/proc/net/netstat").read().splitlines()
for head, vals in zip(lines[::2], lines[1::2]):
    for k, v in zip(head.split()[1:], vals.split()[1:]): ext[head.split()[0] + k] = int(v)
drops = sum(int(l.split()[1], 16) for l in open("/proc/net/softnet_stat"))
print(json.dumps({
    "name": name, "time": time.time(),
    "mem_available_kb": mem["MemAvailable"], "slab_kb": mem["Slab"], "sunreclaim_kb": mem["SUnreclaim"],
    "tcp_inuse": sock.get("inuse", 0), "tcp_mem_pages": sock.get("mem", 0), "tcp_tw": sock.get("tw", 0),
    "files_open": int(open("/proc/sys/fs/file-nr").read().split()[0]),
    "listen_overflows": ext.get("TcpExt:ListenOverflows", 0), "listen_drops": ext.get("TcpExt:ListenDrops", 0),
    "tcp_out_of_memory": ext.get("TcpExt:TCPAbortOnMemory", 0), "softnet_drops": drops,
    "relay_rss_kb": rss_kb(pids(workers)), "relay_cpu_s": cpu_s(pids(relay_all)),
    "redis_rss_kb": rss_kb(pids(redis)), "redis_cpu_s": cpu_s(pids(redis)),
    "bench_rss_kb": rss_kb(pids(bench)), "bench_pss_kb": pss_kb(pids(bench)), "bench_cpu_s": cpu_s(pids(bench)),
    "relay_pss_kb": pss_kb(pids(workers)),
}))
PY
}
# The relay's workers (this run's: other relays may be running on the machine), every relay
# process (supervisor and workers), and the load generator (parent and children).
relay_workers() { pgrep -P "$RELAY_PID" | paste -sd' ' || echo "$RELAY_PID"; }
relay_all_pids() { [ -n "${RELAY_PID:-}" ] && echo "$RELAY_PID $(pgrep -P "$RELAY_PID" | paste -sd' ')"; }
bench_pids() { [ -n "${BENCH:-}" ] && kill -0 "$BENCH" 2>/dev/null && echo "$BENCH $(pgrep -P "$BENCH" | paste -sd' ')"; }
# progress: relay-bench's latest progress line.
progress() { grep -a '^\[' "$WORK/sub.log" 2>/dev/null | tail -1 || true; }
field() { progress | grep -o "$1 [0-9]*" | head -1 | awk '{print $2}' || true; }
aborted() { [ -e "$WORK/aborted" ]; }

# --- run ---
build
start_redis "$REDIS_PORT"
REDIS_PID=${PIDS[-1]}
# Redis is one thread among ~60 relay workers and ~60 load processes on 2 cores: at the fair
# share the scheduler gives each process it falls behind every subscribe's commands (the
# workers give up after ~2 s: 503s). REDIS_NICE (-10) raises its priority, where allowed.
renice -n "${REDIS_NICE:--10}" -p "$REDIS_PID" >/dev/null 2>&1 && echo "redis: nice ${REDIS_NICE:--10}" || echo "redis: priority unchanged (renice not allowed)"
start_relay "$RELAY_PORT" "$REDIS_PORT" "$WORKERS" 0.0.0.0
RELAY_PID=${PIDS[-1]}
# Every worker listening (SO_REUSEPORT spreads connections over the listeners there are).
listeners() { awk -v port=":$(printf '%04X' "$RELAY_PORT")" '$4 == "0A" && substr($2, length($2) - 4) == port' /proc/net/tcp | wc -l; }
for _ in $(seq 300); do
  [ "$(listeners)" -ge "$WORKERS" ] && break
  sleep 0.1
done
echo "relay: $(listeners) of $WORKERS workers listening on 0.0.0.0:$RELAY_PORT"
sleep 2   # let the workers finish starting before the baseline (not a synchronisation)
snapshot before


"$BIN/relay-bench" subscribe "${URLS[@]}" --prefix "$PREFIX" --channels "$CHANNELS" \
  --connections "$SUBS" --processes "$PROCS" --ramp "$RAMP" --duration "$HOLD" \
  >"$WORK/sub.log" 2>&1 &
BENCH=$!
PIDS+=($BENCH)
STARTED=$(date +%s.%N)
# The memory guard: below MIN_AVAILABLE_MB the load generator is stopped (its children close
# every connection), then the relay, before the machine swaps or the OOM killer picks.
(
  while sleep 1; do
    available=$(awk '/MemAvailable/ {print int($2 / 1024)}' /proc/meminfo)
    if [ "$available" -lt "$MIN_AVAILABLE_MB" ]; then
      echo "ABORT: MemAvailable ${available} MiB < ${MIN_AVAILABLE_MB} MiB: stopping the load" | tee "$WORK/aborted"
      kill "$BENCH" 2>/dev/null
      sleep 5
      kill "$RELAY_PID" 2>/dev/null
      exit 0
    fi
  done
) &
PIDS+=($!)
# Until every subscriber is up, they stop coming (30 s without a new one) or time runs out.
best=0; still=0; tick=0
while kill -0 "$BENCH" 2>/dev/null && ! aborted; do
  sleep 1; tick=$((tick + 1))
  open=$(field connections); open=${open:-0}
  if [ "$open" -gt "$best" ]; then best=$open; still=0; else still=$((still + 1)); fi
  if [ $((tick % 5)) = 0 ] || [ "$open" -ge "$SUBS" ]; then
    echo "progress: $(progress | sed 's/  (.*processes)//')  MemAvailable $(awk '/MemAvailable/ {print int($2 / 1024)}' /proc/meminfo) MiB"
  fi
  [ "$open" -ge "$SUBS" ] && break
  [ "$still" -ge 30 ] && [ "$best" -gt 0 ] && { echo "no new subscriber for 30 s: stopping at $best"; break; }
  [ "$tick" -ge "$CONNECT_LIMIT" ] && { echo "connect phase over its ${CONNECT_LIMIT} s: stopping at $open"; break; }
done
CONNECTED_AT=$(date +%s.%N)
grep -a -v '^\[' "$WORK/sub.log" | sort | uniq -c | sort -rn | head -5 || true   # warnings, setup
aborted || sleep 5   # let allocations settle before measuring (not a synchronisation)
snapshot held
ESTABLISHED=$(field connections); ESTABLISHED=${ESTABLISHED:-0}

# The broadcast: one record to each channel (every subscriber's channel gets exactly one).
if ! aborted && [ "$ESTABLISHED" -gt 0 ]; then
  PUB_RATE=$(( CHANNELS * 20 > 1000 ? CHANNELS * 20 : 1000 ))
  "$BIN/relay-bench" publish --url "http://127.0.0.1:$RELAY_PORT" --prefix "$PREFIX" --channels "$CHANNELS" \
    --count "$CHANNELS" --part-id --rate "$PUB_RATE" --connections 8 --duration 60 --no-setup >"$WORK/pub.log" 2>&1 || true
  for _ in $(seq $((BROADCAST_WAIT * 2))); do
    aborted && break
    [ "$(field receivers)" -ge "$ESTABLISHED" ] 2>/dev/null && break
    sleep 0.5
  done
  echo "progress: $(progress | sed 's/  (.*processes)//')"
fi
snapshot broadcast
kill "$BENCH" 2>/dev/null || true   # the children report, the parent merges
for _ in $(seq 600); do kill -0 "$BENCH" 2>/dev/null || break; sleep 0.1; done
wait "$BENCH" 2>/dev/null || true

echo "== subscribe (relay-bench)"; grep -a -v '^\[' "$WORK/sub.log" | tail -6
[ -s "$WORK/pub.log" ] && { echo "== publish"; grep -v '^\[' "$WORK/pub.log" | tail -4; }
echo "== million"
python3 - "$WORK" "$SUBS" "$STARTED" "$CONNECTED_AT" "$(result "$WORK/sub.log" || true)" "$SMOKE" <<'PY'
import json, re, sys
work, subs, started, connected_at, result, smoke = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6] == "1"
snap = {n: json.load(open(f"{work}/snap-{n}.json")) for n in ("before", "held", "broadcast")}
b, h, c = snap["before"], snap["held"], snap["broadcast"]
r = json.loads(result) if result else {}
# Connect rate: from the first progress line with a subscriber to the one that reached the most.
lines = [(int(m.group(1)), int(m.group(2))) for m in
         (re.match(r"\[(\d+)s\] connections (\d+) ", l) for l in open(f"{work}/sub.log", errors="replace")) if m]
peak = max((n for _, n in lines), default=0)
first = next((t for t, n in lines if n > 0), 0); last = next((t for t, n in lines if n == peak), 0)
def per(kb): return f"{kb * 1024 / max(peak, 1):,.0f} bytes ({kb / max(peak, 1):.2f} KiB)"
print(f"subscribers established: {peak:,} of {subs:,}; at the broadcast: {r.get('connections', 0):,} "
      f"(errors {r.get('errors', '?')})")
print(f"connect rate: {peak / max(last - first + 1, 1):,.0f}/s ({peak:,} in {last - first + 1} s; {connected_at - started:.0f} s to the end of the connect phase)")
print(f"relay RSS: {b['relay_rss_kb'] // 1024:,} MiB baseline, "
      f"{h['relay_rss_kb'] // 1024:,} MiB held: {per(h['relay_rss_kb'] - b['relay_rss_kb'])} per subscriber")
print(f"kernel: Slab {b['slab_kb'] // 1024:,} -> {h['slab_kb'] // 1024:,} MiB ({per(h['slab_kb'] - b['slab_kb'])} per subscriber, "
      f"both ends), SUnreclaim {b['sunreclaim_kb'] // 1024:,} -> {h['sunreclaim_kb'] // 1024:,} MiB; "
      f"TCP sockets in use {b['tcp_inuse']:,} -> {h['tcp_inuse']:,}, TCP mem {b['tcp_mem_pages']:,} -> {h['tcp_mem_pages']:,} pages "
      f"(at the broadcast {c['tcp_mem_pages']:,}); open files {b['files_open']:,} -> {h['files_open']:,}")
print(f"kernel counters during the run: listen overflows {c['listen_overflows'] - b['listen_overflows']}, "
      f"listen drops {c['listen_drops'] - b['listen_drops']}, softnet drops {c['softnet_drops'] - b['softnet_drops']}, "
      f"aborts on memory {c['tcp_out_of_memory'] - b['tcp_out_of_memory']}")
print(f"load generator RSS: {h['bench_rss_kb'] // 1024:,} MiB held ({per(h['bench_rss_kb'])} per subscriber, with its processes' baseline); "
      f"PSS {h['bench_pss_kb'] // 1024:,} MiB ({per(h['bench_pss_kb'])}; shared library pages counted once)")
print(f"relay PSS: {b['relay_pss_kb'] // 1024:,} MiB baseline, {h['relay_pss_kb'] // 1024:,} MiB held")
print(f"MemAvailable: {b['mem_available_kb'] // 1024:,} MiB before, {h['mem_available_kb'] // 1024:,} MiB held "
      f"({per(b['mem_available_kb'] - h['mem_available_kb'])} per subscriber, all parties); Redis RSS {h['redis_rss_kb'] // 1024} MiB")
print(f"CPU s, connect phase (+settle): relay {h['relay_cpu_s'] - b['relay_cpu_s']:.1f}, redis {h['redis_cpu_s'] - b['redis_cpu_s']:.1f}, "
      f"load generator {h['bench_cpu_s']:.1f} (wall {h['time'] - b['time']:.0f} s, 2 cores)")
print(f"CPU s, broadcast: relay {c['relay_cpu_s'] - h['relay_cpu_s']:.1f}, redis {c['redis_cpu_s'] - h['redis_cpu_s']:.1f}, "
      f"load generator {c['bench_cpu_s'] - h['bench_cpu_s']:.1f} (wall {c['time'] - h['time']:.1f} s)")
got = r.get("receivers", 0)
print(f"broadcast: {got:,} of {r.get('connections', 0):,} subscribers got the record; latency p50 {r.get('p50_ms')} ms, "
      f"p99 {r.get('p99_ms')} ms, max {r.get('max_ms')} ms; last arrival {r.get('spread_ms')} ms after the first append; "
      f"gaps {r.get('gaps')}, duplicates {r.get('duplicates')}, errors {r.get('errors')}")
ok = peak >= subs and got >= r.get("connections", 1) > 0 and r.get("gaps") == 0 and r.get("duplicates") == 0
print("MILLION " + json.dumps({"subscribers": subs, "established": peak, "receivers": got, "connect_per_s": round(peak / max(last - first + 1, 1)),
      "relay_bytes_per_sub": round((h["relay_rss_kb"] - b["relay_rss_kb"]) * 1024 / max(peak, 1)),
      "slab_bytes_per_sub": round((h["slab_kb"] - b["slab_kb"]) * 1024 / max(peak, 1)),
      "bench_bytes_per_sub": round(h["bench_rss_kb"] * 1024 / max(peak, 1)),
      "bench_pss_bytes_per_sub": round(h["bench_pss_kb"] * 1024 / max(peak, 1)),
      "p50_ms": r.get("p50_ms"), "p99_ms": r.get("p99_ms"), "spread_ms": r.get("spread_ms"), "gaps": r.get("gaps"),
      "errors": r.get("errors"), "ok": ok}))
sys.exit(0 if ok else 1)
PY
