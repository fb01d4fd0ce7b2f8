-- claim_external.lua: the environment's slot decides which session id an externalId names.
-- KEYS: 1 P{env:ENV}:ext, 2 P{env:ENV}:ix
-- ARGV: 1 externalId, 2 a new session id (used if the externalId is free)
-- An externalId is free when unknown, or when the session it named is dead (its data expired:
-- the index state says so). A claim records a placeholder index state (v 0) with its time, so
-- the sweeper can forget a claim whose create never reached the session's slot.
-- Reply: { "existing", SID } | { "claimed", SID, createdAt ms }
local ext_key, ix_key = KEYS[1], KEYS[2]
local ext, fresh = ARGV[1], ARGV[2]
local now = now_ms()
local existing = redis.call('HGET', ext_key, ext)
if existing then
  local state = redis.call('HGET', ix_key, existing)
  local dead = false
  if state then
    local s = cjson.decode(state)
    dead = s.dead ~= '' and tonumber(s.dead) <= now
  end
  if not dead then return { 'existing', existing } end
  -- Its index entries go when walked (list, sweeper): they find no index state.
  redis.call('HDEL', ix_key, existing)
end
redis.call('HSET', ext_key, ext, fresh)
redis.call('HSET', ix_key, fresh, cjson.encode({ v = 0, claimed = now, dead = '' }))
return { 'claimed', fresh, now }
