-- create_session.lua: create a session (or return the open one for its externalId), atomically.
-- KEYS: none (keys are derived from the prefix, see lib.lua).
-- ARGV: 1 prefix, 2 env, 3 new session id, 4 new run id, 5 type, 6 taskIdentifier,
--       7 tags JSON array, 8 externalId or "", 9 triggerConfig JSON or "", 10 metadata JSON or "",
--       11 expiresAt ms or "", 12 payloadBase (basePayload members without braces),
--       13 runOptions JSON (triggerConfig without basePayload), 14 idleTimeoutInSeconds or "",
--       15 retention seconds after expiry (sessions with expiresAt get a TTL),
--       16 the sessions the caller may read: "*" (all) or a JSON array of spellings
-- Reply: { "created" | "cached", HGETALL of the session... } | { "conflict" } | { "taken" }
-- "taken": the externalId belongs to a session the caller may not read (open or not); the
-- script has written nothing and triggered no run.
local P, env, sid, run = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ext = ARGV[8]
local now = now_ms()

-- Whether the caller may read session `existing` (friendly id) whose externalId is `ext`.
local function may_read(existing)
  if ARGV[16] == '*' then return true end
  for _, name in ipairs(cjson.decode(ARGV[16])) do
    if name == existing or name == ext then return true end
  end
  return false
end

if ext ~= '' then
  local existing = redis.call('HGET', env_key(P, env, 'ext'), ext)
  if existing and redis.call('EXISTS', meta_key(P, existing)) == 0 then
    existing = nil -- its data has expired: the externalId is free again
  end
  if existing then
    if not may_read(existing) then return { 'taken' } end
    local open = is_open(P, existing, now)
    if not open then return { 'conflict' } end
    local current = redis.call('HGET', meta_key(P, existing), 'currentRunId')
    if not current or current == '' then
      trigger_run(P, env, existing, run, now)
    end
    local row = redis.call('HGETALL', meta_key(P, existing))
    table.insert(row, 1, 'cached')
    return row
  end
  redis.call('HSET', env_key(P, env, 'ext'), ext, sid)
end

local tags = cjson.decode(ARGV[7])
local member = sort_key(now, sid)
local mk = meta_key(P, sid)
redis.call('HSET', mk, 'id', sid, 'env', env, 'type', ARGV[5], 'task', ARGV[6], 'tags', ARGV[7],
  'createdAt', now, 'updatedAt', now, 'sortKey', member,
  'payloadBase', ARGV[12], 'runOptions', ARGV[13])
if ext ~= '' then redis.call('HSET', mk, 'externalId', ext) end
if ARGV[9] ~= '' then redis.call('HSET', mk, 'triggerConfig', ARGV[9]) end
if ARGV[10] ~= '' then redis.call('HSET', mk, 'metadata', ARGV[10]) end
if ARGV[11] ~= '' then redis.call('HSET', mk, 'expiresAt', ARGV[11]) end
if ARGV[14] ~= '' then redis.call('HSET', mk, 'idleTimeout', ARGV[14]) end

redis.call('ZADD', env_key(P, env, 'idx:all'), 0, member)
redis.call('ZADD', env_key(P, env, 'idx:open'), 0, member)
index_add(P, env, member, 'type', { ARGV[5] })
index_add(P, env, member, 'task', { ARGV[6] })
index_add(P, env, member, 'tag', tags)

trigger_run(P, env, sid, run, now)
if ARGV[11] ~= '' then
  -- Kept for the retention period after expiry, and at least that long from now (an
  -- expiresAt already in the past must not delete the row this script just wrote).
  local retention = tonumber(ARGV[15]) * 1000
  redis.call('PEXPIREAT', mk, math.max(tonumber(ARGV[11]) + retention, now + retention))
end
local row = redis.call('HGETALL', mk)
table.insert(row, 1, 'created')
return row
