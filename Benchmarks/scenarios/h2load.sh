#!/usr/bin/env bash
# Scenario 7: h2load (nghttp2's HTTP/2 load generator, Debian nghttp2-client) straight at one
# relay node over h2c: GET /healthz, then appends (each a new record) to one channel.
# Usage: h2load.sh [REQUESTS=200000] [CLIENTS=20] [STREAMS=10]
# CLIENTS connections, each with STREAMS requests in flight (h2load -c, -m).
source "$(dirname "$0")/lib.sh"
REQUESTS=${1:-200000}; CLIENTS=${2:-20}; STREAMS=${3:-10}
command -v h2load >/dev/null || { echo "h2load not found (Debian: apt-get install -y nghttp2-client)" >&2; exit 1; }
build
start_redis 6397
start_relay 8097 6397
curl -sf -X POST http://127.0.0.1:8097/api/v1/sessions -H "Authorization: Bearer $KEY" \
  -d '{"type":"bench","taskIdentifier":"t","externalId":"h2load"}' >/dev/null
echo '{"text":"hello from h2load"}' >"$WORK/body.json"
echo "== GET /healthz"
h2load -n "$REQUESTS" -c "$CLIENTS" -m "$STREAMS" http://127.0.0.1:8097/healthz | grep -E '^(finished|requests|status codes|time for request)'
echo "== POST /realtime/v1/sessions/h2load/out/append"
h2load -n "$REQUESTS" -c "$CLIENTS" -m "$STREAMS" -d "$WORK/body.json" -H "authorization: Bearer $KEY" \
  http://127.0.0.1:8097/realtime/v1/sessions/h2load/out/append \
  | grep -E '^(finished|requests|status codes|time for request)'
