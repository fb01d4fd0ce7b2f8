-- sweep_indexes.lua: one bounded step of the walk that drops what an environment's slot keeps
-- for sessions whose data has expired (closed or expired sessions, retentionSeconds later).
-- Without it the ext hash, the index states and the idx:* zsets would keep every session ever
-- created. Deadness is read from the index state (its `dead` time), never from the session's
-- row, which lives in another slot.
-- KEYS: 1 sweep state, 2 indexes (registry), 3 ext, 4 ix, 5 idx:all, 6 idx:open, 7 idx:closed,
--       8.. the registered indexes the walk is coming to, as the relay last heard (any names)
-- ARGV: 1 the environment's key base "P{env:ENV}:", 2 budget (entries to examine in this step;
--       each index visited costs 1 more), 3, 4, 5 the names of idx:all, idx:open, idx:closed
--       (spelled in RedisKeys.swift, SessionIndex; the walk's targets, kept in its state)
-- State, shared by every node: the sweep hash {target, pos}: the index being walked ("ext",
-- "ix", "idx:all", "idx:open", "idx:closed", then each name registered in the registry, in lex
-- order) and the position in it (an HSCAN cursor for the hashes, the last member seen in a
-- zset). A step that reaches a registered index not declared in KEYS stops there; its reply
-- names the target and the registered indexes after it, so the next step can declare them.
-- Each step is atomic; removing a dead entry is idempotent.
-- Reply: { examined, removed, 1 if this step finished a pass else 0, the target now, up to 32
--          registered index names that follow it }
local base = ARGV[1]
local budget = tonumber(ARGV[2])
local state_key, registry, ext_key, ix_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
-- "ext" and "ix" are the walk's own names for the two hashes (KEYS 3 and 4), kept in its state.
local FIXED = { ARGV[3], ARGV[4], ARGV[5] }
local FIXED_KEYS = { [ARGV[3]] = KEYS[5], [ARGV[4]] = KEYS[6], [ARGV[5]] = KEYS[7] }
-- Clocks of different shards differ a little: an entry is dead this long after its time (its
-- row, in another slot, expires by that shard's clock). Dropping early would only unlist a
-- session whose retention is over anyway, a little early.
local MARGIN = 5000
-- A claim (claim_external.lua) whose create never reached the session's slot.
local CLAIM_LIFETIME = 3600000
local now = now_ms()
local declared = {}
for i = 8, #KEYS do declared[KEYS[i]] = true end

local function state_dead(held)
  if not held then return true end
  local st = cjson.decode(held)
  if tonumber(st.v) == 0 then return tonumber(st.claimed) + CLAIM_LIFETIME <= now end
  return st.dead ~= '' and tonumber(st.dead) + MARGIN <= now
end

local function next_target(target)
  if target == 'ext' then return 'ix' end
  if target == 'ix' then return FIXED[1] end
  for i, name in ipairs(FIXED) do
    if name == target then
      if FIXED[i + 1] then return FIXED[i + 1] end
      return redis.call('ZRANGE', registry, '-', '+', 'BYLEX', 'LIMIT', 0, 1)[1]
    end
  end
  return redis.call('ZRANGE', registry, '(' .. target, '+', 'BYLEX', 'LIMIT', 0, 1)[1]
end

-- The start position of a target: an HSCAN cursor for the hashes, "" (the start) for zsets.
local function start_of(t)
  if t == 'ext' or t == 'ix' then return '0' end
  return ''
end

local f = redis.call('HMGET', state_key, 'target', 'pos')
local target, pos = f[1] or 'ext', f[2] or '0'
local examined, removed, visits, finished = 0, 0, 0, 0
while examined + visits < budget do
  local key = FIXED_KEYS[target]
  if target ~= 'ext' and target ~= 'ix' and not key then
    key = base .. target
    if not declared[key] then break end -- the next step declares it
  end
  visits = visits + 1
  local want = math.max(budget - examined - visits, 1)
  if target == 'ext' or target == 'ix' then
    -- HSCAN's COUNT is a hint; a small hash comes back whole (at most a few hundred entries).
    local hash = target == 'ext' and ext_key or ix_key
    local r = redis.call('HSCAN', hash, pos, 'COUNT', want)
    pos = r[1]
    local items = r[2]
    for i = 1, #items, 2 do
      examined = examined + 1
      if target == 'ext' then
        -- An externalId goes with its session's dead state (below). One whose state is unknown
        -- (a session written by a release before index states) is kept: it may be live.
        local held = redis.call('HGET', ix_key, items[i + 1])
        if held and state_dead(held) then
          redis.call('HDEL', hash, items[i])
          removed = removed + 1
        end
      elseif state_dead(items[i + 1]) then
        redis.call('HDEL', hash, items[i])
        removed = removed + 1
        local st = cjson.decode(items[i + 1])
        if st.ext and st.ext ~= '' and redis.call('HGET', ext_key, st.ext) == items[i] then
          redis.call('HDEL', ext_key, st.ext)
          removed = removed + 1
        end
      end
    end
    if pos == '0' then
      target = next_target(target)
      pos = start_of(target)
    end
  else
    local start = '-'
    if pos ~= '' then start = '(' .. pos end
    local members = redis.call('ZRANGE', key, start, '+', 'BYLEX', 'LIMIT', 0, want)
    for _, m in ipairs(members) do
      examined = examined + 1
      local held = redis.call('HGET', ix_key, string.sub(m, 17))
      if state_dead(held) or cjson.decode(held).m ~= m then
        redis.call('ZREM', key, m)
        removed = removed + 1
      end
      pos = m
    end
    if #members < want then
      -- The end of this index. An emptied type/tag/task index is forgotten (Redis deleted the
      -- zset with its last member; a later create registers it again).
      if not FIXED_KEYS[target] and redis.call('EXISTS', key) == 0 then
        redis.call('ZREM', registry, target)
      end
      target = next_target(target)
      pos = start_of(target)
    end
  end
  if not target then
    target, pos, finished = 'ext', '0', 1
    break
  end
end
redis.call('HSET', state_key, 'target', target, 'pos', pos)
local reply = { examined, removed, finished, target }
local from = '-'
if not FIXED_KEYS[target] and target ~= 'ext' and target ~= 'ix' then from = '(' .. target end
for _, name in ipairs(redis.call('ZRANGE', registry, from, '+', 'BYLEX', 'LIMIT', 0, 32)) do
  table.insert(reply, name)
end
return reply
