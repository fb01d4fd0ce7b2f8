-- lib.lua: helpers prepended to every relay script (see RelayScripts.swift).
-- Every script names each key it touches in KEYS, and all of them live in one cluster slot:
-- either a session's slot or an environment's slot (docs/cluster.md). Key layout, P = the key
-- prefix (default "relay:"); RedisKeys.swift is the one place the names are spelled, and no
-- script builds one itself (an index named by stored data: the base and the name's start are
-- handed in):
--
-- A session's slot (hash tag {s:SID}):
--   P{s:SID}:meta            hash   the session row (fields named in SessionRecord.swift), plus
--                                   seq:in / seq:out (last seq), hw:in / hw:out (the last seq
--                                   readers may see: the high watermark), gen:in / gen:out (the
--                                   replication ID of the primary that wrote the last seq: the
--                                   channel's generation), ts:in / ts:out (the last record time),
--                                   fence:in / fence:out (an S2 fencing token), ixv (index version)
--   P{s:SID}:in, :out        stream records; entry id 0-SEQ; fields d (data JSON), h (headers
--                                   JSON: a control record's, or an S2 record's), b (an S2 record's
--                                   body when it is not the {"data","id"} envelope), i (the
--                                   envelope's id), p (the X-Part-Id of an append), t (record
--                                   time, epoch ms); or l alone (a loss
--                                   marker: the last seq kept before it)
--   P{s:SID}:part:IO:PARTID  string first seq of an X-Part-Id append (expires after the dedup window)
--   P{T}:outbox              zset   the slot's outbox (T: a tag that hashes to this slot, see
--                                   ClusterSlot.outboxTag): what the environment's slot must
--                                   learn (index state, run dispatch), scored by time (ms)
-- An environment's slot (hash tag {env:ENV}):
--   P{env:ENV}:ext           hash   externalId -> SID (never changes while the session's data lives)
--   P{env:ENV}:ix            hash   SID -> the session's index state (JSON, see index_state)
--   P{env:ENV}:idx:all       zset   every session; members "<15-digit createdAt ms>:<SID>", score 0
--   P{env:ENV}:idx:type:T    zset   sessions of type T (same member format)
--   P{env:ENV}:idx:tag:T     zset   sessions tagged T
--   P{env:ENV}:idx:task:T    zset   sessions of taskIdentifier T
--   P{env:ENV}:idx:open      zset   sessions not closed
--   P{env:ENV}:idx:closed    zset   closed sessions
--   P{env:ENV}:indexes       zset   names of the idx:type/tag/task zsets in use ("idx:tag:T"), score 0
--   P{env:ENV}:sweep         hash   the index sweeper's position (sweep_indexes.lua)
--   P{env:ENV}:runs          stream run requests (consumer group "relay-workers")
--   P{env:ENV}:run:RUN       hash   sessionId, env, status, triggeredAt, completedAt (30 days)
--
-- Live fan-out: SPUBLISH on the channel named like the stream (sharded pub/sub: the message
-- stays on the session's shard), "SEQ E\n" then each field of the stream entry as stored,
-- "<name><length>:<value>" (live_entry; each node builds the record's frames from them), and
-- "SEQ x\n" (closed; SEQ = the last record).

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function sort_key(created, sid)
  return string.format('%015d', created) .. ':' .. sid
end

-- Whether the row in `mk` belongs to env and answers to `name` (its friendly id, or its
-- externalId: a node may name a session through a cached externalId -> id mapping).
local function owns(mk, env, name)
  local f = redis.call('HMGET', mk, 'env', 'externalId', 'id')
  if not f[1] or f[1] ~= env then return false end
  if string.sub(name, 1, 8) == 'session_' then return f[3] == name end
  return f[2] == name
end

local function is_open(mk, now)
  local f = redis.call('HMGET', mk, 'closedAt', 'expiresAt')
  if f[1] and f[1] ~= '' then return false, 'closed' end
  if f[2] and f[2] ~= '' and tonumber(f[2]) <= now then return false, 'expired' end
  return true, nil
end

-- Keeps a key alive exactly as long as the session row (closed or expiring sessions have a TTL).
local function follow_ttl(mk, key)
  local ttl = redis.call('PTTL', mk)
  if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
end

-- What the environment's indexes know of a session (list filters, the sweeper): a new version
-- each time it changes. dead: when the row's data expires (ms), "" while it has no TTL.
local function index_state(mk, retention_ms)
  local f = redis.call('HMGET', mk, 'id', 'sortKey', 'type', 'task', 'tags', 'externalId',
    'closedAt', 'expiresAt', 'createdAt')
  local v = redis.call('HINCRBY', mk, 'ixv', 1)
  local dead = ''
  if f[7] and f[7] ~= '' then
    dead = tonumber(f[7]) + retention_ms
  elseif f[8] and f[8] ~= '' then
    dead = math.max(tonumber(f[8]) + retention_ms, tonumber(f[9]) + retention_ms)
  end
  return { sid = f[1], v = v, m = f[2], type = f[3], task = f[4], tags = cjson.decode(f[5] or '[]'),
    ext = f[6] or '', closed = (f[7] and f[7] ~= '') and tonumber(f[7]) or 0,
    exp = (f[8] and f[8] ~= '') and tonumber(f[8]) or 0, dead = dead }
end

-- Triggers a run: sets currentRunId and returns the run request the environment's runs stream
-- gets (through the outbox), as a flat field list.
local function trigger_run(mk, sid, run, now)
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
  redis.call('HSET', mk, 'currentRunId', run, 'lastRunId', run)
  return { id = run, sid = sid, at = now, fields = {
    'runId', run, 'sessionId', sid, 'externalId', f[2] or '', 'taskIdentifier', f[1] or '',
    'payload', payload, 'triggerConfig', f[4] or '{}',
    'continuation', previous ~= '' and 'true' or 'false', 'previousRunId', previous } }
end

-- Puts what the environment's slot must learn into this slot's outbox and returns the entry
-- (the relay forwards it at once with apply_outbox.lua; OutboxSweeper forwards entries a
-- crashed relay left behind).
-- The outbox keeps a member "+" scored +inf that no walk reads: the key then always exists
-- once its slot has had a session, so a slot migration moves it like the other keys instead of
-- splitting a script's keys into "here" and "nowhere" (TRYAGAIN).
local function outbox_put(outbox_key, env, ix, run, now)
  local entry = cjson.encode({ env = env, ix = ix or false, run = run or false, at = now })
  redis.call('ZADD', outbox_key, now, entry, '+inf', '+')
  return entry
end

-- An .in record wakes the session's task: a session with no current run triggers run `run`.
-- Returns the outbox entry to forward, or '' when a run is current.
local function run_for_input(mk, env, outbox, run, now)
  local current = redis.call('HGET', mk, 'currentRunId')
  if current and current ~= '' then return '' end
  return outbox_put(outbox, env, nil, trigger_run(mk, redis.call('HGET', mk, 'id'), run, now), now)
end

-- A seq as Redis text: Lua's own tostring would write a seq above 1e14 as "1.8e+15".
local function seq_text(n)
  return string.format('%d', n)
end

-- The replication ID of the primary running this script. It changes when a replica is promoted
-- and whenever a primary restarts (from whatever AOF or RDB it finds): exactly the events after
-- which this dataset may lack writes that were acknowledged (docs/API.md, History guarantees).
-- INFO must be allowed to the relay's Redis user (it is in ACL category @dangerous). Read once
-- per script call (a script runs atomically: the role cannot change under it), so a group of
-- appends (append_records.lua) pays for INFO once.
local known_replication_id
local function replication_id()
  if known_replication_id then return known_replication_id end
  local id = string.match(redis.call('INFO', 'replication'), 'master_replid:(%w+)')
  if not id then error('relay: INFO replication has no master_replid') end
  known_replication_id = id
  return id
end

-- Where a channel ends for readers: its last seq, and the last seq readers may see (the high
-- watermark). Under a replication ID other than the channel's generation (a promoted replica,
-- a restarted primary), the watermark the old primary moved may not have reached this dataset
-- while records below it were shown: everything this primary holds is visible then (it is the
-- primary of record for it), so no reader waits for a watermark that will never move.
local function visible_end(mk, io)
  local f = redis.call('HMGET', mk, 'seq:' .. io, 'hw:' .. io, 'gen:' .. io)
  local last = tonumber(f[1] or '0')
  local hw = tonumber(f[2] or f[1] or '0')
  if hw < last and f[3] and f[3] ~= replication_id() then hw = last end
  return last, hw
end

-- How a live message is published, the same for appends and commits (see the fan-out notes
-- above). `fields` is the entry's flat field list as XADD took it (XRANGE gives it back alike).
local function live_entry(seq, fields)
  local parts = { seq, ' E\n' }
  for i = 1, #fields, 2 do
    local value = fields[i + 1]
    parts[#parts + 1] = fields[i] .. #value .. ':' .. value
  end
  return table.concat(parts)
end

-- A channel's record time (epoch ms): the server's clock, never below the channel's last
-- record time (ts:IO), so a reader's timestamps never go back (a failover to a primary whose
-- clock is behind, a clock step). The caller stores it back in ts:IO.
local function record_time(mk, io, now)
  local last = tonumber(redis.call('HGET', mk, 'ts:' .. io) or '0')
  if now > last then return now end
  return last
end

-- The generation check every write of a channel makes first. If the channel's last seq was
-- written under another replication ID (gen:IO), the history this primary holds may lack
-- records the old one handed out: a loss marker takes the next seq, B = max(last, now_ms * 1000)
-- + 1, above anything the lost history could have issued (a primary appends far fewer than
-- 1,000 records per millisecond to one channel, and a failover or restart takes longer than
-- the primaries' clocks disagree), so no seq ever names two records. B < 2^53 until 2255.
-- A channel with no gen:IO (written before generations existed) adopts the current one.
-- Returns the marker's seq and the last seq kept before it, or nil. The marker becomes visible
-- at once (hw = B): it is no client's data, and the records kept before it are on the primary
-- of record now.
local function check_generation(mk, key, io, maxlen, now)
  local replid = replication_id()
  local held = redis.call('HMGET', mk, 'gen:' .. io, 'seq:' .. io)
  if held[1] == replid then return nil end
  redis.call('HSET', mk, 'gen:' .. io, replid)
  if not held[1] then return nil end
  local last = tonumber(held[2] or '0')
  local marker = math.max(last, now * 1000) + 1
  local text = seq_text(marker)
  redis.call('XADD', key, 'MAXLEN', '~', maxlen, '0-' .. text, 'l', seq_text(last))
  redis.call('HSET', mk, 'seq:' .. io, text, 'hw:' .. io, text)
  redis.call('SPUBLISH', key, live_entry(text, { 'l', seq_text(last) }))
  return marker, last
end

-- Tells subscribers the channels end: at their last visible seq (visible_end; with
-- read-committed delivery, records not yet confirmed are not waited for).
local function publish_closed(mk, in_key, out_key)
  local pairs_ = { { 'in', in_key }, { 'out', out_key } }
  for _, p in ipairs(pairs_) do
    local _, visible = visible_end(mk, p[1])
    redis.call('SPUBLISH', p[2], seq_text(visible) .. ' x\n')
  end
end
