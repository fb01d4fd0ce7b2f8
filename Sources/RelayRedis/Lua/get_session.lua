-- get_session.lua: a session by friendly id or externalId.
-- ARGV: 1 prefix, 2 env, 3 name (session_... or externalId)
-- Reply: HGETALL of the session, or an empty array when unknown in this environment.
local P, env = ARGV[1], ARGV[2]
local sid = resolve(P, env, ARGV[3])
if not sid then return {} end
return redis.call('HGETALL', meta_key(P, sid))
