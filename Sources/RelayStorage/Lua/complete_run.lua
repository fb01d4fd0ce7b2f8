-- complete_run.lua: mark a run finished, in the environment's slot. The relay then clears the
-- session's currentRunId in the session's slot (finish_run.lua); a worker that retries after
-- a failure gets the same answer, so the second step is never lost for good.
-- KEYS: 1 P{env:ENV}:run:RUN
-- ARGV: 1 env
-- Reply: { "ok", sessionId } | { "notfound" }
local f = redis.call('HMGET', KEYS[1], 'sessionId', 'env')
if not f[1] or f[2] ~= ARGV[1] then return { 'notfound' } end
if redis.call('HGET', KEYS[1], 'status') ~= 'COMPLETED' then
  redis.call('HSET', KEYS[1], 'status', 'COMPLETED', 'completedAt', now_ms())
end
return { 'ok', f[1] }
