-- update_session.lua: replace tags and/or metadata; externalId may only be "changed" to itself.
-- ARGV: 1 prefix, 2 env, 3 name, 4 "1" if tags given, 5 tags JSON array,
--       6 "1" if metadata given, 7 metadata JSON ("" clears it),
--       8 "1" if externalId given, 9 externalId value, 10 "1" if externalId is null
-- Reply: { "ok", HGETALL... } | { "notfound" } | { "unprocessable" }
local P, env = ARGV[1], ARGV[2]
local sid = resolve(P, env, ARGV[3])
if not sid then return { 'notfound' } end
local mk = meta_key(P, sid)
if ARGV[8] == '1' then
  local current = redis.call('HGET', mk, 'externalId') or ''
  if ARGV[10] == '1' then
    if current ~= '' then return { 'unprocessable' } end
  elseif ARGV[9] ~= current then
    return { 'unprocessable' }
  end
end
local now = now_ms()
if ARGV[4] == '1' then
  local member = redis.call('HGET', mk, 'sortKey')
  local old = cjson.decode(redis.call('HGET', mk, 'tags') or '[]')
  index_remove(P, env, member, 'tag', old)
  index_add(P, env, member, 'tag', cjson.decode(ARGV[5]))
  redis.call('HSET', mk, 'tags', ARGV[5])
end
if ARGV[6] == '1' then
  if ARGV[7] == '' then redis.call('HDEL', mk, 'metadata') else redis.call('HSET', mk, 'metadata', ARGV[7]) end
end
redis.call('HSET', mk, 'updatedAt', now)
local row = redis.call('HGETALL', mk)
table.insert(row, 1, 'ok')
return row
