-- update_session.lua: replace tags and/or metadata; externalId may only be "changed" to itself.
-- KEYS: 1 meta, 2 the slot's outbox
-- ARGV: 1 env, 2 name, 3 "1" if tags given, 4 tags JSON array,
--       5 "1" if metadata given, 6 metadata JSON ("" clears it),
--       7 "1" if externalId given, 8 externalId value, 9 "1" if externalId is null,
--       10 retention seconds (for the index state)
-- Reply: { "ok", outbox entry or "", HGETALL... } | { "notfound" } | { "unprocessable" }
local mk, outbox = KEYS[1], KEYS[2]
local env = ARGV[1]
if not owns(mk, env, ARGV[2]) then return { 'notfound' } end
if ARGV[7] == '1' then
  local current = redis.call('HGET', mk, 'externalId') or ''
  if ARGV[9] == '1' then
    if current ~= '' then return { 'unprocessable' } end
  elseif ARGV[8] ~= current then
    return { 'unprocessable' }
  end
end
local now = now_ms()
local entry = ''
if ARGV[5] == '1' then
  if ARGV[6] == '' then redis.call('HDEL', mk, 'metadata') else redis.call('HSET', mk, 'metadata', ARGV[6]) end
end
redis.call('HSET', mk, 'updatedAt', now)
if ARGV[3] == '1' then
  redis.call('HSET', mk, 'tags', ARGV[4])
  entry = outbox_put(outbox, env, index_state(mk, tonumber(ARGV[10]) * 1000), nil, now)
end
local row = redis.call('HGETALL', mk)
table.insert(row, 1, entry)
table.insert(row, 1, 'ok')
return row
