-- append_record.lua: append one record to a channel, dedup by X-Part-Id, publish it live.
-- One atomic call per append, so an append is one round trip.
-- ARGV: 1 prefix, 2 env, 3 session name, 4 io ("in" | "out"), 5 data JSON ("" for control),
--       6 headers JSON array ("" for data records), 7 X-Part-Id or "", 8 dedup window seconds,
--       9 max records per channel, 10 run id to use if an .in append must trigger a run,
--       11 "1" to add session-in-event-id, 12 "1" to add last-event-id (turn-complete)
-- Reply: { "ok", seq, 0 | 1 (duplicate) } | { "notfound" } | { "closed" } | { "expired" }
local P, env, io = ARGV[1], ARGV[2], ARGV[4]
local sid = resolve(P, env, ARGV[3])
if not sid then return { 'notfound' } end
local now = now_ms()
local mk = meta_key(P, sid)

-- A retried append answers as the first one did, even after the session closed.
local part_key = nil
if ARGV[7] ~= '' then
  part_key = P .. '{s:' .. sid .. '}:part:' .. io .. ':' .. ARGV[7]
  local seen = redis.call('GET', part_key)
  if seen then return { 'ok', tonumber(seen), 1 } end
end

local open, why = is_open(P, sid, now)
if not open then return { why } end

if io == 'in' then
  local current = redis.call('HGET', mk, 'currentRunId')
  if not current or current == '' then trigger_run(P, env, sid, ARGV[10], now) end
end

local seq = redis.call('HINCRBY', mk, 'seq:' .. io, 1)
local key = channel_key(P, sid, io)
local stored, kind
if ARGV[6] ~= '' then
  local headers = ARGV[6]
  if ARGV[11] == '1' or ARGV[12] == '1' then
    headers = string.sub(headers, 1, -2)
    if ARGV[11] == '1' then
      headers = headers .. ',["session-in-event-id",' .. cjson.encode(tostring(redis.call('HGET', mk, 'seq:in') or '0')) .. ']'
    end
    if ARGV[12] == '1' then
      headers = headers .. ',["last-event-id",' .. cjson.encode(tostring(seq)) .. ']'
    end
    headers = headers .. ']'
  end
  redis.call('XADD', key, 'MAXLEN', '~', ARGV[9], '0-' .. seq, 'h', headers)
  stored = headers
  kind = ' C\n'
else
  redis.call('XADD', key, 'MAXLEN', '~', ARGV[9], '0-' .. seq, 'd', ARGV[5])
  stored = ARGV[5]
  kind = ' D\n'
end
follow_ttl(mk, key)
if part_key then redis.call('SET', part_key, seq, 'EX', ARGV[8]) end
redis.call('HSET', mk, 'updatedAt', now)
-- The stored field as it is: every node builds the record JSON around it in Swift
-- (RecordEncoding), the same code that builds catch-up and drain records.
redis.call('SPUBLISH', key, seq .. kind .. stored)
return { 'ok', seq, 0 }
