-- sweep_indexes.lua: one bounded step of the walk that drops the index entries of sessions
-- whose row has expired (closed or expired sessions, retentionSeconds later). Without it the
-- ext hash and the idx:* zsets would keep every session ever created.
-- ARGV: 1 prefix, 2 env, 3 budget (entries to examine in this step; each index visited costs 1 more)
-- State, shared by every node: P{env:ENV}:sweep {target, pos}, the index being walked ("ext",
-- "idx:all", "idx:open", "idx:closed", then each name registered in P{env:ENV}:indexes, in
-- lex order) and the position in it (an HSCAN cursor for ext, the last member seen in a zset).
-- Each step is atomic, so concurrent nodes just share the walk; removing an entry whose row is
-- gone is idempotent. A session row is never resurrected, so a dead entry stays dead.
-- Reply: { examined, removed, 1 if this step finished a pass else 0 }
local P, env = ARGV[1], ARGV[2]
local budget = tonumber(ARGV[3])
local state_key = env_key(P, env, 'sweep')
local registry = env_key(P, env, 'indexes')
local ext_key = env_key(P, env, 'ext')
local FIXED = { 'idx:all', 'idx:open', 'idx:closed' }

local function dead(sid) return redis.call('EXISTS', meta_key(P, sid)) == 0 end

-- The index after `target` in a pass, or nil at the end of the pass.
local function next_target(target)
  if target == 'ext' then return FIXED[1] end
  for i, name in ipairs(FIXED) do
    if name == target then
      if FIXED[i + 1] then return FIXED[i + 1] end
      return redis.call('ZRANGE', registry, '-', '+', 'BYLEX', 'LIMIT', 0, 1)[1]
    end
  end
  return redis.call('ZRANGE', registry, '(' .. target, '+', 'BYLEX', 'LIMIT', 0, 1)[1]
end

local f = redis.call('HMGET', state_key, 'target', 'pos')
local target, pos = f[1] or 'ext', f[2] or '0'
local examined, removed, visits, finished = 0, 0, 0, 0
while examined + visits < budget do
  visits = visits + 1
  local want = math.max(budget - examined - visits, 1)
  if target == 'ext' then
    -- HSCAN's COUNT is a hint; a small hash comes back whole (at most a few hundred entries).
    local r = redis.call('HSCAN', ext_key, pos, 'COUNT', want)
    pos = r[1]
    local items = r[2]
    for i = 1, #items, 2 do
      examined = examined + 1
      if dead(items[i + 1]) then
        redis.call('HDEL', ext_key, items[i])
        removed = removed + 1
      end
    end
    if pos == '0' then target, pos = next_target('ext'), '' end
  else
    local key = env_key(P, env, target)
    local start = '-'
    if pos ~= '' then start = '(' .. pos end
    local members = redis.call('ZRANGE', key, start, '+', 'BYLEX', 'LIMIT', 0, want)
    for _, m in ipairs(members) do
      examined = examined + 1
      if dead(string.sub(m, 17)) then
        redis.call('ZREM', key, m)
        removed = removed + 1
      end
      pos = m
    end
    if #members < want then
      -- The end of this index. An emptied type/tag/task index is forgotten (Redis deleted the
      -- zset with its last member; a later create registers it again).
      if string.sub(target, 1, 4) == 'idx:' and redis.call('EXISTS', key) == 0 then
        local fixed = false
        for _, name in ipairs(FIXED) do if name == target then fixed = true end end
        if not fixed then redis.call('ZREM', registry, target) end
      end
      target, pos = next_target(target), ''
    end
  end
  if not target then
    target, pos, finished = 'ext', '0', 1
    break
  end
end
redis.call('HSET', state_key, 'target', target, 'pos', pos)
return { examined, removed, finished }
