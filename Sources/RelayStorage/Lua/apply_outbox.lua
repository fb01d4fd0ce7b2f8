-- apply_outbox.lua: what a session's slot told its environment (an outbox entry, see
-- outbox_put in lib.lua), applied in the environment's slot. Idempotent and order-proof: an
-- index state applies only if it is newer than the one held; a run request is added to the
-- runs stream only once (its run record says it was).
-- KEYS: 1 P{env:ENV}:ix, 2 P{env:ENV}:runs, 3 P{env:ENV}:run:RUN (any unused name when the entry
--       has no run), 4 idx:all, 5 idx:open, 6 idx:closed, 7 indexes (the registry), then every
--       idx:type:T / idx:task:T / idx:tag:T key the entry's old and new state name
-- ARGV: 1 the entry (JSON), 2 the environment's key base "P{env:ENV}:", 3, 4, 5 the names of
--       the type, task and tag indexes up to the value ("idx:type:", "idx:task:", "idx:tag:",
--       spelled in RedisKeys.swift, SessionIndex): an index named by a stored state is base ..
--       prefix .. value
-- Reply: { "ok" } | { "need", key... } (undeclared index keys: call again with them too)
local RUN_RECORD_SECONDS = 2592000
local entry = cjson.decode(ARGV[1])
local base = ARGV[2]
local type_prefix, task_prefix, tag_prefix = ARGV[3], ARGV[4], ARGV[5]
local declared = {}
for _, k in ipairs(KEYS) do declared[k] = true end

local function value_keys(state)
  local ks = { base .. type_prefix .. state.type, base .. task_prefix .. state.task }
  for _, t in ipairs(state.tags) do table.insert(ks, base .. tag_prefix .. t) end
  return ks
end

if entry.ix then
  local new = entry.ix
  local held = redis.call('HGET', KEYS[1], new.sid)
  local old = nil
  if held then old = cjson.decode(held) end
  if not old or tonumber(old.v) < tonumber(new.v) then
    if old and tonumber(old.v) == 0 then old = nil end -- a claim's placeholder
    local missing = {}
    local wanted = value_keys(new)
    if old then for _, k in ipairs(value_keys(old)) do table.insert(wanted, k) end end
    for _, k in ipairs(wanted) do
      if not declared[k] then table.insert(missing, k) end
    end
    if #missing > 0 then
      table.insert(missing, 1, 'need')
      return missing
    end
    local member = new.m
    local keep = {}
    for _, k in ipairs(value_keys(new)) do keep[k] = true end
    if old then
      for _, k in ipairs(value_keys(old)) do
        if not keep[k] then redis.call('ZREM', k, old.m) end
      end
    end
    redis.call('ZADD', KEYS[4], 0, member)
    for _, k in ipairs(value_keys(new)) do
      redis.call('ZADD', k, 0, member)
      redis.call('ZADD', KEYS[7], 0, string.sub(k, #base + 1))
    end
    if tonumber(new.closed) > 0 then
      redis.call('ZREM', KEYS[5], member)
      redis.call('ZADD', KEYS[6], 0, member)
    else
      redis.call('ZADD', KEYS[5], 0, member)
    end
    redis.call('HSET', KEYS[1], new.sid, cjson.encode(new))
  end
end

if entry.run and redis.call('EXISTS', KEYS[3]) == 0 then
  local run = entry.run
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', 100000, '*', unpack(run.fields))
  redis.call('HSET', KEYS[3], 'sessionId', run.sid, 'env', entry.env, 'status', 'PENDING', 'triggeredAt', run.at)
  redis.call('EXPIRE', KEYS[3], RUN_RECORD_SECONDS)
end
return { 'ok' }
