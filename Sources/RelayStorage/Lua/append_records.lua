-- append_records.lua: a group of appends (AppendGroups: those one relay node received in one
-- loop iteration, for one session in a cluster, any channels on a single instance), each exactly
-- as if it ran alone: its own session check, X-Part-Id dedup, seq, XADD and live message, in
-- the order given. One call shares what every append used to pay alone: the script call, the
-- clock, the primary's replication ID (INFO, the costliest read of the path) and the round trip.
-- Each append runs under pcall: an error in one is its own reply and the others go on.
-- KEYS: per append, in order: 1 meta, 2 the channel's stream, 3 the slot's outbox, and 4 the
--       X-Part-Id dedup key only with an X-Part-Id (a key that does not exist makes a multi-key
--       call fail with TRYAGAIN while its slot migrates, so none is named in vain)
-- ARGV: 1 dedup window seconds, 2 max records per channel, 3 "1" when replicas must confirm
--       records before readers see them (read-committed: a record is neither published nor
--       below the high watermark until commit_records.lua), 4 N appends, then 9 per append:
--       env, session name (friendly id or externalId), io ("in" | "out"), data JSON ("" for
--       control), headers JSON array ("" for data records), X-Part-Id or "", run id to use if
--       an .in append must trigger a run, "1" to add session-in-event-id, "1" to add last-event-id
-- Reply: N replies, one per append in order:
--        { "ok", seq, 0 | 1 (duplicate), outbox entry or "" } | { "notfound" } | { "closed" } |
--        { "expired" } | { "error", message } (that append failed in Redis)
local window, maxlen, committed = ARGV[1], ARGV[2], ARGV[3] ~= '1'
local now = now_ms()
-- Numbers handed to redis.call are formatted as floats each time: the clock's text is made once.
local now_text = seq_text(now)

local function append(k, a)
  local mk, key, outbox = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  local env, name, io, part = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 5]
  local part_key = part ~= '' and KEYS[k + 3] or nil
  -- Everything this append reads of the row, in one call (owns, is_open, the generation, the
  -- last seq, watermark and time: lib.lua reads them one helper at a time).
  local f = redis.call('HMGET', mk, 'env', 'externalId', 'id', 'closedAt', 'expiresAt',
    'gen:' .. io, 'seq:' .. io, 'hw:' .. io, 'ts:' .. io)
  if not f[1] or f[1] ~= env then return { 'notfound' } end
  if string.sub(name, 1, 8) == 'session_' then
    if f[3] ~= name then return { 'notfound' } end
  elseif f[2] ~= name then
    return { 'notfound' }
  end
  local last = tonumber(f[7] or '0')
  -- A retried append answers as the first one did, even after the session closed, and without
  -- a write (so it answers while Redis refuses writes: maxmemory, min-replicas-to-write).
  if part_key then
    local seen = redis.call('GET', part_key)
    if seen then return { 'ok', tonumber(seen), 1, '' } end
  end
  if f[4] and f[4] ~= '' then return { 'closed' } end
  local expires = f[5] and f[5] ~= ''
  if expires and tonumber(f[5]) <= now then return { 'expired' } end

  local entry = io == 'in' and run_for_input(mk, env, outbox, ARGV[a + 6], now) or ''
  local has_watermark = f[8]
  if f[6] ~= replication_id() then
    local marker = check_generation(mk, key, io, maxlen, now)
    if marker then
      last = marker
      has_watermark = true
    end
  end
  local seq = seq_text(last + 1)
  local field, stored
  if ARGV[a + 4] ~= '' then
    local headers = ARGV[a + 4]
    if ARGV[a + 7] == '1' or ARGV[a + 8] == '1' then
      headers = string.sub(headers, 1, -2)
      if ARGV[a + 7] == '1' then
        local _, inbound = visible_end(mk, 'in')
        headers = headers .. ',["session-in-event-id",' .. cjson.encode(seq_text(inbound)) .. ']'
      end
      if ARGV[a + 8] == '1' then
        headers = headers .. ',["last-event-id",' .. cjson.encode(seq) .. ']'
      end
      headers = headers .. ']'
    end
    field, stored = 'h', headers
  else
    field, stored = 'd', ARGV[a + 3]
  end
  -- The record time never goes back within the channel (record_time, from the row read above).
  local time = now_text
  if f[9] and tonumber(f[9]) > now then time = f[9] end
  local fields = { field, stored, 't', time }
  if part_key and field == 'd' then
    fields[#fields + 1] = 'p'
    fields[#fields + 1] = part
  end
  redis.call('XADD', key, 'MAXLEN', '~', maxlen, '0-' .. seq, unpack(fields))
  -- Only a session with an expiry has a TTL while open (a closed one takes no appends).
  if expires then follow_ttl(mk, key) end
  -- Named only once the record is in: an X-Part-Id never answers a seq that holds nothing.
  if part_key then redis.call('SET', part_key, seq, 'EX', window) end
  -- The row's updatedAt is not rewritten: a reader takes the later of it and ts:in / ts:out
  -- (SessionRecord), which is this append's time. Each field written costs a scan of the row.
  if committed then
    -- Without a watermark readers read to the last seq: one is kept only once it exists (a
    -- loss marker, read-committed delivery).
    if has_watermark then
      redis.call('HSET', mk, 'seq:' .. io, seq, 'ts:' .. io, time, 'hw:' .. io, seq)
    else
      redis.call('HSET', mk, 'seq:' .. io, seq, 'ts:' .. io, time)
    end
    -- The stored fields as they are: every node builds the record's frames around them in
    -- Swift (RecordEncoding), the same code that builds catch-up and drain records.
    redis.call('SPUBLISH', key, live_entry(seq, fields))
  elseif has_watermark then
    redis.call('HSET', mk, 'seq:' .. io, seq, 'ts:' .. io, time)
  else
    -- Readers stop at the high watermark; a channel written before it existed starts it here.
    redis.call('HSET', mk, 'seq:' .. io, seq, 'ts:' .. io, time, 'hw:' .. io, seq_text(last))
  end
  return { 'ok', last + 1, 0, entry }
end

local replies, k, a = {}, 1, 5
for i = 1, tonumber(ARGV[4]) do
  local ok, reply = pcall(append, k, a)
  if ok then
    replies[i] = reply
  else
    replies[i] = { 'error', tostring(type(reply) == 'table' and reply.err or reply) }
  end
  k = k + (ARGV[a + 5] ~= '' and 4 or 3)
  a = a + 9
end
return replies
