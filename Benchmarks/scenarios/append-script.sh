#!/usr/bin/env bash
# Scenario 11: what an append costs Redis itself, without the relay or HTTP: append_records.lua
# run in groups of 1 to 128 appends (one relay node's group commit sends such groups), with and
# without X-Part-Id, against a Redis of its own; plus the storage floor, redis-benchmark's
# pipelined XADD and SPUBLISH. Usage: append-script.sh [APPENDS=128000] [BEFORE=feb98c0]
# BEFORE: a commit before group commit whose append_record.lua runs first, for comparison.
source "$(dirname "$0")/lib.sh"
APPENDS=${1:-128000}; BEFORE=${2:-feb98c0}
start_redis 6396
if git -C "$ROOT" cat-file -e "$BEFORE:Sources/RelayStorage/Lua/append_record.lua" 2>/dev/null; then
  git -C "$ROOT" show "$BEFORE:Sources/RelayStorage/Lua/lib.lua" >"$WORK/lib.lua"
  git -C "$ROOT" show "$BEFORE:Sources/RelayStorage/Lua/append_record.lua" >"$WORK/append_record.lua"
  for part in 0 1; do
    python3 "$(dirname "$0")/append_script.py" 6396 1 $((APPENDS / 4)) "$part" "$WORK/lib.lua" "$WORK/append_record.lua"
  done
fi
for part in 0 1; do
  for group in 1 4 16 64 128; do
    python3 "$(dirname "$0")/append_script.py" 6396 "$group" $((APPENDS / group)) "$part"
  done
done
echo "== the floor: redis-benchmark, 32 commands pipelined, 50 clients"
floor() { redis-benchmark -p 6396 -P 32 -c 50 -n 2000000 -q "$@" | tr '\r' '\n' | grep 'requests per second'; }
floor XADD 'bench-{s}' MAXLEN '~' 10000 '*' d '{"n":1,"t":1234567890123456}'
floor SPUBLISH 'bench-{s}' '{"n":1,"t":1234567890123456}'
