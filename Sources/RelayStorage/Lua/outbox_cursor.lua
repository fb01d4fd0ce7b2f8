-- outbox_cursor.lua: hands out the next range of slots whose outboxes to look at, at most one
-- range per interval for the whole deployment, however many nodes ask (OutboxSweeper).
-- KEYS: 1 P{outbox}:cursor (hash: next slot, time of the last range)
-- ARGV: 1 slots per range, 2 interval ms
-- Reply: the first slot of the range, or -1 when the last range is too recent
local f = redis.call('HMGET', KEYS[1], 'next', 'at')
local now = now_ms()
if f[2] and now - tonumber(f[2]) < tonumber(ARGV[2]) then return -1 end
local first = tonumber(f[1] or '0')
redis.call('HSET', KEYS[1], 'next', (first + tonumber(ARGV[1])) % 16384, 'at', now)
return first
