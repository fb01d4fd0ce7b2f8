-- append_record.lua: append one record to a channel, dedup by X-Part-Id, publish it live.
-- One atomic call in the session's slot per append, so an append is one round trip.
-- KEYS: 1 meta, 2 the channel's stream, 3 the slot's outbox, 4 the X-Part-Id dedup key (only
--       with an X-Part-Id: a key that does not exist makes a multi-key call fail with TRYAGAIN
--       while its slot migrates, so none is named in vain)
-- ARGV: 1 env, 2 session name (friendly id or externalId), 3 io ("in" | "out"),
--       4 data JSON ("" for control), 5 headers JSON array ("" for data records), 6 X-Part-Id or "",
--       7 dedup window seconds, 8 max records per channel, 9 run id to use if an .in append
--       must trigger a run, 10 "1" to add session-in-event-id, 11 "1" to add last-event-id,
--       12 "1" when replicas must confirm the record before readers see it (read-committed: the
--       record is neither published nor below the high watermark until commit_records.lua)
-- Reply: { "ok", seq, 0 | 1 (duplicate), outbox entry or "" } | { "notfound" } | { "closed" } | { "expired" }
local mk, key, outbox, part_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4] or ''
local env, io = ARGV[1], ARGV[3]
local committed = ARGV[12] ~= '1'
if not owns(mk, env, ARGV[2]) then return { 'notfound' } end
local now = now_ms()

-- A retried append answers as the first one did, even after the session closed.
if ARGV[6] ~= '' then
  local seen = redis.call('GET', part_key)
  if seen then return { 'ok', tonumber(seen), 1, '' } end
end

local open, why = is_open(mk, now)
if not open then return { why } end

local entry = io == 'in' and run_for_input(mk, env, outbox, ARGV[9], now) or ''

check_generation(mk, key, io, ARGV[8], now)
local seq_field = 'seq:' .. io
if not committed then
  -- Readers stop at the high watermark; a channel written before it existed starts it here.
  redis.call('HSETNX', mk, 'hw:' .. io, redis.call('HGET', mk, seq_field) or '0')
end
local seq = seq_text(redis.call('HINCRBY', mk, seq_field, 1))
local field, stored
if ARGV[5] ~= '' then
  local headers = ARGV[5]
  if ARGV[10] == '1' or ARGV[11] == '1' then
    headers = string.sub(headers, 1, -2)
    if ARGV[10] == '1' then
      local _, inbound = visible_end(mk, 'in')
      headers = headers .. ',["session-in-event-id",' .. cjson.encode(seq_text(inbound)) .. ']'
    end
    if ARGV[11] == '1' then
      headers = headers .. ',["last-event-id",' .. cjson.encode(seq) .. ']'
    end
    headers = headers .. ']'
  end
  field, stored = 'h', headers
else
  field, stored = 'd', ARGV[4]
end
local time = record_time(mk, io, now)
local fields = { field, stored, 't', seq_text(time) }
if ARGV[6] ~= '' and field == 'd' then
  fields[#fields + 1] = 'p'
  fields[#fields + 1] = ARGV[6]
end
redis.call('XADD', key, 'MAXLEN', '~', ARGV[8], '0-' .. seq, unpack(fields))
follow_ttl(mk, key)
if ARGV[6] ~= '' then redis.call('SET', part_key, seq, 'EX', ARGV[7]) end
if committed then
  redis.call('HSET', mk, 'updatedAt', now, 'hw:' .. io, seq, 'ts:' .. io, seq_text(time))
  -- The stored fields as they are: every node builds the record's frames around them in
  -- Swift (RecordEncoding), the same code that builds catch-up and drain records.
  redis.call('SPUBLISH', key, live_entry(seq, fields))
else
  redis.call('HSET', mk, 'updatedAt', now, 'ts:' .. io, seq_text(time))
end
return { 'ok', tonumber(seq), 0, entry }
