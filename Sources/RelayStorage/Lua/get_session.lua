-- get_session.lua: a session by friendly id or externalId (named through its id's slot).
-- KEYS: 1 meta
-- ARGV: 1 env, 2 name (session_... or externalId)
-- Reply: HGETALL of the session, or an empty array when it is not this name's session in env.
if not owns(KEYS[1], ARGV[1], ARGV[2]) then return {} end
return redis.call('HGETALL', KEYS[1])
