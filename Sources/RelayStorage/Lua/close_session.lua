-- close_session.lua: close a session once; closing again keeps the first closedAt and reason.
-- KEYS: 1 meta, 2 the .in stream, 3 the .out stream, 4 the slot's outbox
-- ARGV: 1 env, 2 name, 3 reason or "", 4 retention seconds after close
-- Effects: the session's keys expire RETENTION seconds later; open subscribers are told; the
-- environment's indexes learn it through the outbox.
-- Reply: { "ok", outbox entry or "", HGETALL... } | { "notfound" }
local mk, in_key, out_key, outbox = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local env = ARGV[1]
if not owns(mk, env, ARGV[2]) then return { 'notfound' } end
local entry = ''
local closed = redis.call('HGET', mk, 'closedAt')
if not closed or closed == '' then
  local now = now_ms()
  redis.call('HSET', mk, 'closedAt', now, 'updatedAt', now)
  if ARGV[3] ~= '' then redis.call('HSET', mk, 'closedReason', ARGV[3]) end
  local retention = tonumber(ARGV[4])
  for _, key in ipairs({ mk, in_key, out_key }) do
    redis.call('EXPIRE', key, retention)
  end
  publish_closed(mk, in_key, out_key)
  entry = outbox_put(outbox, env, index_state(mk, retention * 1000), nil, now)
end
local row = redis.call('HGETALL', mk)
table.insert(row, 1, entry)
table.insert(row, 1, 'ok')
return row
