-- complete_run.lua: mark a run finished; clear the session's currentRunId if it is this run.
-- ARGV: 1 prefix, 2 env, 3 run id
-- Reply: { "ok", sessionId } | { "notfound" }
local P, env, run = ARGV[1], ARGV[2], ARGV[3]
local rk = run_key(P, run)
local f = redis.call('HMGET', rk, 'sessionId', 'env')
if not f[1] or f[2] ~= env then return { 'notfound' } end
redis.call('HSET', rk, 'status', 'COMPLETED', 'completedAt', now_ms())
local mk = meta_key(P, f[1])
if redis.call('HGET', mk, 'currentRunId') == run then
  redis.call('HDEL', mk, 'currentRunId')
end
return { 'ok', f[1] }
