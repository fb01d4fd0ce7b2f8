-- close_session.lua: close a session once; closing again keeps the first closedAt and reason.
-- ARGV: 1 prefix, 2 env, 3 name, 4 reason or "", 5 retention seconds after close
-- Effects: the session's keys expire RETENTION seconds later; open subscribers are told.
-- Reply: { "ok", HGETALL... } | { "notfound" }
local P, env = ARGV[1], ARGV[2]
local sid = resolve(P, env, ARGV[3])
if not sid then return { 'notfound' } end
local mk = meta_key(P, sid)
local closed = redis.call('HGET', mk, 'closedAt')
if not closed or closed == '' then
  local now = now_ms()
  redis.call('HSET', mk, 'closedAt', now, 'updatedAt', now)
  if ARGV[4] ~= '' then redis.call('HSET', mk, 'closedReason', ARGV[4]) end
  local member = redis.call('HGET', mk, 'sortKey')
  redis.call('ZREM', env_key(P, env, 'idx:open'), member)
  redis.call('ZADD', env_key(P, env, 'idx:closed'), 0, member)
  local retention = tonumber(ARGV[5])
  for _, key in ipairs({ mk, channel_key(P, sid, 'in'), channel_key(P, sid, 'out') }) do
    redis.call('EXPIRE', key, retention)
  end
  publish_closed(P, sid)
end
local row = redis.call('HGETALL', mk)
table.insert(row, 1, 'ok')
return row
