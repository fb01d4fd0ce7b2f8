-- claim_external.lua: the environment's slot decides which session id an externalId names.
-- KEYS: 1 P{env:ENV}:ext, 2 P{env:ENV}:ix
-- ARGV: 1 externalId, 2 a new session id (used if the externalId is free),
--       3 a session id the session's slot found gone ("" if none): if the externalId still
--         names it, it is free
-- An externalId is free when unknown, when the session it named is dead (its data expired: the
-- index state says so), or when its slot reports the row gone (this environment's clock can be
-- behind that shard's). A claim records a placeholder index state (v 0) with its time and the
-- externalId, so the sweeper can forget a claim whose create never reached the session's slot.
-- Reply: { "existing", SID, version of its index state (0: a claim not yet written, -1: no
--          state: a session from a release before index states), 1 if that is a claim older
--          than STALE_CLAIM_MS (its create either wrote a row long ago, which Redis may have lost
--          since, or never arrived) else 0 } | { "claimed", SID, createdAt ms }
local STALE_CLAIM_MS = 10000
local ext_key, ix_key = KEYS[1], KEYS[2]
local ext, fresh, gone = ARGV[1], ARGV[2], ARGV[3]
local now = now_ms()
local existing = redis.call('HGET', ext_key, ext)
if existing then
  local state = redis.call('HGET', ix_key, existing)
  local dead = existing == gone
  local version = -1
  local stale = 0
  if state then
    local s = cjson.decode(state)
    version = tonumber(s.v)
    dead = dead or (s.dead ~= '' and tonumber(s.dead) <= now)
    if version == 0 and s.claimed and tonumber(s.claimed) + STALE_CLAIM_MS < now then stale = 1 end
  end
  if not dead then return { 'existing', existing, version, stale } end
  -- Its index entries go when walked (list, sweeper): they find no index state.
  redis.call('HDEL', ix_key, existing)
end
redis.call('HSET', ext_key, ext, fresh)
redis.call('HSET', ix_key, fresh, cjson.encode({ v = 0, claimed = now, dead = '', ext = ext }))
return { 'claimed', fresh, now }
