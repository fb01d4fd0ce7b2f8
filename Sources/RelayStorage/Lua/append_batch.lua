-- append_batch.lua: append a batch of records to a channel at once (the S2 records API: one
-- AppendInput), with consecutive seqs, one record time, and S2's optional checks. A batch is
-- all or nothing; its command records (trim, fence) take seqs like any record and act after it.
-- KEYS: 1 meta, 2 the channel's stream, 3 the slot's outbox
-- ARGV: 1 env, 2 session name (friendly id or externalId), 3 io ("in" | "out"),
--       4 max records per channel, 5 run id to use if an .in append must trigger a run,
--       6 "1" when replicas must confirm the records before readers see them (see append_records.lua),
--       7 match_seq_num ("" for none: the seq the first record must get),
--       8 fencing token check ("" for none, else "=" .. the token the channel must hold),
--       9 N, the number of records, then per record 3 arguments:
--         its fields as a flat list packed "<name><length>:<value>..." (d, h, b, i; see lib.lua),
--         its command ("" | "trim" | "fence"), and the command's argument (trim: the seq to
--         trim before; fence: the new token)
-- Reply: { "ok", first seq, last seq, record time (ms), outbox entry or "" } | { "notfound" } |
--        { "closed" } | { "expired" } | { "seqmismatch", next seq } | { "fenced", the token held }
local mk, key, outbox = KEYS[1], KEYS[2], KEYS[3]
local env, io = ARGV[1], ARGV[3]
local committed = ARGV[6] ~= '1'
if not owns(mk, env, ARGV[2]) then return { 'notfound' } end
local now = now_ms()
local open, why = is_open(mk, now)
if not open then return { why } end

check_generation(mk, key, io, ARGV[4], now)
local seq_field = 'seq:' .. io
local last = tonumber(redis.call('HGET', mk, seq_field) or '0')
-- The fencing token first, then match_seq_num, as S2 checks them.
if ARGV[8] ~= '' then
  local held = redis.call('HGET', mk, 'fence:' .. io) or ''
  if '=' .. held ~= ARGV[8] then return { 'fenced', held } end
end
if ARGV[7] ~= '' and tonumber(ARGV[7]) ~= last + 1 then return { 'seqmismatch', last + 1 } end

local entry = io == 'in' and run_for_input(mk, env, outbox, ARGV[5], now) or ''

-- "<name><length>:<value>..." back into a flat field list.
local function unpack_fields(packed)
  local fields, at = {}, 1
  while at <= #packed do
    local name = string.sub(packed, at, at)
    local colon = string.find(packed, ':', at + 1, true)
    local length = tonumber(string.sub(packed, at + 1, colon - 1))
    fields[#fields + 1] = name
    fields[#fields + 1] = string.sub(packed, colon + 1, colon + length)
    at = colon + length + 1
  end
  return fields
end

if not committed then
  redis.call('HSETNX', mk, 'hw:' .. io, seq_text(last))
end
local n = tonumber(ARGV[9])
local first = redis.call('HINCRBY', mk, seq_field, n) - n + 1
local time = seq_text(record_time(mk, io, now))
local trim_before, fence = nil, nil
for r = 0, n - 1 do
  local seq = seq_text(first + r)
  local fields = unpack_fields(ARGV[10 + 3 * r])
  fields[#fields + 1] = 't'
  fields[#fields + 1] = time
  redis.call('XADD', key, 'MAXLEN', '~', ARGV[4], '0-' .. seq, unpack(fields))
  local command, argument = ARGV[11 + 3 * r], ARGV[12 + 3 * r]
  if command == 'trim' then
    -- Never past the trim record itself: the channel keeps its last entry.
    local upto = math.min(tonumber(argument), first + r)
    if trim_before == nil or upto > trim_before then trim_before = upto end
  elseif command == 'fence' then
    fence = argument
  end
  if committed then redis.call('SPUBLISH', key, live_entry(seq, fields)) end
end
local final = seq_text(first + n - 1)
if trim_before then redis.call('XTRIM', key, 'MINID', '0-' .. seq_text(trim_before)) end
if fence then redis.call('HSET', mk, 'fence:' .. io, fence) end
follow_ttl(mk, key)
-- updatedAt is not rewritten: readers take the later of it and ts:IO (see append_records.lua).
if committed then
  redis.call('HSET', mk, 'hw:' .. io, final, 'ts:' .. io, time)
else
  redis.call('HSET', mk, 'ts:' .. io, time)
end
return { 'ok', first, tonumber(final), tonumber(time), entry }
