-- finish_run.lua: clear a session's currentRunId if it is this (completed) run.
-- KEYS: 1 meta
-- ARGV: 1 run id
-- Reply: 1 if cleared, 0 if the session has another run or none
if redis.call('HGET', KEYS[1], 'currentRunId') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'currentRunId')
  return 1
end
return 0
