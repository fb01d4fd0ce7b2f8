-- lib.lua: helpers prepended to every relay script (see RelayScripts.swift).
-- Key layout (P = key prefix, default "relay:"), documented in the README:
--   P{s:SID}:meta            hash   the session row (fields named in SessionRecord.swift)
--   P{env:ENV}:ext           hash   externalId -> SID
--   P{env:ENV}:idx:all       zset   every session; members "<15-digit createdAt ms>:<SID>", score 0
--   P{env:ENV}:idx:type:T    zset   sessions of type T (same member format)
--   P{env:ENV}:idx:tag:T     zset   sessions tagged T
--   P{env:ENV}:idx:task:T    zset   sessions of taskIdentifier T
--   P{env:ENV}:idx:open      zset   sessions not closed
--   P{env:ENV}:idx:closed    zset   closed sessions
--   P{env:ENV}:indexes       zset   names of the idx:type/tag/task zsets in use ("idx:tag:T"), score 0
--   P{env:ENV}:sweep         hash   the index sweeper's position (sweep_indexes.lua)
--   P{env:ENV}:runs          stream run requests (consumer group "relay-workers")
--   Prun:{RUN}               hash   sessionId, env, status, triggeredAt, completedAt (30 days)

-- Run records (run id -> session) are kept 30 days; the runs stream keeps about 100,000 entries.
local RUN_RECORD_SECONDS = 2592000

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function meta_key(P, sid) return P .. '{s:' .. sid .. '}:meta' end
local function env_key(P, env, suffix) return P .. '{env:' .. env .. '}:' .. suffix end
local function run_key(P, run) return P .. 'run:{' .. run .. '}' end

local function sort_key(created, sid)
  return string.format('%015d', created) .. ':' .. sid
end

-- Resolves a friendly id or an externalId to a session id within env, or nil.
local function resolve(P, env, name)
  local sid
  if string.sub(name, 1, 8) == 'session_' then
    sid = name
  else
    sid = redis.call('HGET', env_key(P, env, 'ext'), name)
    if not sid then return nil end
  end
  local owner = redis.call('HGET', meta_key(P, sid), 'env')
  if owner ~= env then return nil end
  return sid
end

local function is_open(P, sid, now)
  local f = redis.call('HMGET', meta_key(P, sid), 'closedAt', 'expiresAt')
  if f[1] and f[1] ~= '' then return false, 'closed' end
  if f[2] and f[2] ~= '' and tonumber(f[2]) <= now then return false, 'expired' end
  return true, nil
end

-- Triggers a run for sid: sets currentRunId and adds a run request to the env's stream.
local function trigger_run(P, env, sid, run, now)
  local mk = meta_key(P, sid)
  local f = redis.call('HMGET', mk, 'task', 'externalId', 'payloadBase', 'runOptions', 'idleTimeout', 'lastRunId')
  local previous = f[6] or ''
  local base = f[3] or ''
  local payload = '{' .. base
  if base ~= '' then payload = payload .. ',' end
  payload = payload .. '"sessionId":' .. cjson.encode(sid)
  if f[5] and f[5] ~= '' then payload = payload .. ',"idleTimeoutInSeconds":' .. f[5] end
  if previous ~= '' then
    payload = payload .. ',"continuation":true,"previousRunId":' .. cjson.encode(previous)
  end
  payload = payload .. '}'
  redis.call('XADD', env_key(P, env, 'runs'), 'MAXLEN', '~', 100000, '*',
    'runId', run, 'sessionId', sid, 'externalId', f[2] or '', 'taskIdentifier', f[1] or '',
    'payload', payload, 'triggerConfig', f[4] or '{}',
    'continuation', previous ~= '' and 'true' or 'false', 'previousRunId', previous)
  redis.call('HSET', mk, 'currentRunId', run, 'lastRunId', run)
  redis.call('HSET', run_key(P, run), 'sessionId', sid, 'env', env, 'status', 'PENDING', 'triggeredAt', now)
  redis.call('EXPIRE', run_key(P, run), RUN_RECORD_SECONDS)
end

-- Registered in P{env:ENV}:indexes, so the sweeper can find every index once the session
-- rows that named them have expired.
local function index_add(P, env, member, kind, values)
  for _, v in ipairs(values) do
    local name = 'idx:' .. kind .. ':' .. v
    redis.call('ZADD', env_key(P, env, name), 0, member)
    redis.call('ZADD', env_key(P, env, 'indexes'), 0, name)
  end
end

local function index_remove(P, env, member, kind, values)
  for _, v in ipairs(values) do
    redis.call('ZREM', env_key(P, env, 'idx:' .. kind .. ':' .. v), member)
  end
end

-- Channels (docs/API.md, Channels):
--   P{s:SID}:in / P{s:SID}:out       stream  records; entry id 0-SEQ; field d (data JSON) or h (headers JSON, control)
--   P{s:SID}:part:IO:PARTID          string  first seq of an X-Part-Id append (expires after the dedup window)
--   meta fields seq:in / seq:out     the channel's last sequence number
-- Live fan-out publishes on the pub/sub channel named like the stream, messages
--   "SEQ D\n<data JSON>" (data), "SEQ C\n<headers JSON>" (control) -- the stream entry's field
--   as stored, wrapped into the record JSON by each node -- and "SEQ x\n" (closed; SEQ = last
--   record). Nodes before this format published "SEQ d|c\n<record JSON>"; they are still read.
local function channel_key(P, sid, io) return P .. '{s:' .. sid .. '}:' .. io end

-- Keeps a key alive exactly as long as the session row (closed or expiring sessions have a TTL).
local function follow_ttl(mk, key)
  local ttl = redis.call('PTTL', mk)
  if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
end

local function publish_closed(P, sid)
  local mk = meta_key(P, sid)
  for _, io in ipairs({ 'in', 'out' }) do
    local last = redis.call('HGET', mk, 'seq:' .. io) or '0'
    redis.call('SPUBLISH', channel_key(P, sid, io), last .. ' x\n')
  end
end
