-- create_session.lua: create a session in its own slot, or answer the open one it already is.
-- KEYS: 1 meta, 2 the slot's outbox
-- ARGV: 1 env, 2 session id, 3 new run id, 4 type, 5 taskIdentifier, 6 tags JSON array,
--       7 externalId or "", 8 triggerConfig JSON or "", 9 metadata JSON or "", 10 expiresAt ms or "",
--       11 payloadBase (basePayload members without braces), 12 runOptions JSON (triggerConfig
--       without basePayload), 13 idleTimeoutInSeconds or "", 14 retention seconds after expiry,
--       15 the sessions the caller may read: "*" (all) or a JSON array of spellings,
--       16 createdAt ms or "" (now), 17 "1" if the row must exist already (the claim found an
--       index state with a version, so a row was written once: if it is gone, it expired),
--       18 "1" if the externalId was claimed long ago by another call that wrote no row we
--       can see (it may have written one that Redis lost since, with its records)
-- With an externalId, the relay first claimed it in the environment's slot (claim_external.lua),
-- which chose the id: every racing create of that externalId arrives here with the same id,
-- and the first one to arrive writes the row.
-- Reply: { "created" | "cached", outbox entry or "", HGETALL of the session... }
--        | { "conflict" } (closed or expired) | { "taken" } (the caller may not read it: nothing
--        was written, no run triggered) | { "stale" } (the id belongs to another session)
--        | { "gone" } (ARGV 17 and no row: the relay frees the externalId and claims again)
local mk, outbox = KEYS[1], KEYS[2]
local env, sid, run, ext = ARGV[1], ARGV[2], ARGV[3], ARGV[7]
local now = now_ms()
local retention_ms = tonumber(ARGV[14]) * 1000

local function may_read(existing)
  if ARGV[15] == '*' then return true end
  for _, name in ipairs(cjson.decode(ARGV[15])) do
    if name == existing or name == ext then return true end
  end
  return false
end

if redis.call('EXISTS', mk) == 1 then
  if ext == '' or not owns(mk, env, ext) then return { 'stale' } end
  if not may_read(sid) then return { 'taken' } end
  local open = is_open(mk, now)
  if not open then return { 'conflict' } end
  local entry = ''
  local current = redis.call('HGET', mk, 'currentRunId')
  if not current or current == '' then
    entry = outbox_put(outbox, env, nil, trigger_run(mk, sid, run, now), now)
  end
  local row = redis.call('HGETALL', mk)
  table.insert(row, 1, entry)
  table.insert(row, 1, 'cached')
  return row
end

if ARGV[17] == '1' then return { 'gone' } end
local created = now
if ARGV[16] ~= '' then created = tonumber(ARGV[16]) end
redis.call('HSET', mk, 'id', sid, 'env', env, 'type', ARGV[4], 'task', ARGV[5], 'tags', ARGV[6],
  'createdAt', created, 'updatedAt', created, 'sortKey', sort_key(created, sid),
  'payloadBase', ARGV[11], 'runOptions', ARGV[12])
-- The channels' generation starts here: a session whose first records are lost with a primary
-- still gets a loss marker on its next append (check_generation). For an id another call
-- claimed long ago, a row written once may have been lost with its records: no generation matches, so
-- each channel's first append writes a marker above anything that row's history issued.
local replid = ARGV[18] == '1' and 'unknown' or replication_id()
redis.call('HSET', mk, 'gen:in', replid, 'gen:out', replid)
if ext ~= '' then redis.call('HSET', mk, 'externalId', ext) end
if ARGV[8] ~= '' then redis.call('HSET', mk, 'triggerConfig', ARGV[8]) end
if ARGV[9] ~= '' then redis.call('HSET', mk, 'metadata', ARGV[9]) end
if ARGV[10] ~= '' then redis.call('HSET', mk, 'expiresAt', ARGV[10]) end
if ARGV[13] ~= '' then redis.call('HSET', mk, 'idleTimeout', ARGV[13]) end
if ARGV[10] ~= '' then
  -- Kept for the retention period after expiry, and at least that long from creation (an
  -- expiresAt already in the past must not delete the row this script just wrote).
  redis.call('PEXPIREAT', mk, math.max(tonumber(ARGV[10]) + retention_ms, created + retention_ms))
end
local run_request = trigger_run(mk, sid, run, now)
local entry = outbox_put(outbox, env, index_state(mk, retention_ms), run_request, now)
local row = redis.call('HGETALL', mk)
table.insert(row, 1, entry)
table.insert(row, 1, 'created')
return row
