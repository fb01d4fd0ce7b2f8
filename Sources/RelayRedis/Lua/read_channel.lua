-- read_channel.lua: the records a reader may see after a position (catch-up, gap fill, drain):
-- at most COUNT entries with AFTER < seq <= the channel's high watermark, and where the
-- channel ends, so a reader can tell "nothing new yet" from "you are past the end" (a position
-- from a history that was lost: docs/API.md, History guarantees).
-- KEYS: 1 meta, 2 the channel's stream
-- ARGV: 1 io, 2 AFTER, 3 COUNT
-- Reply: { last seq (0: none), high watermark, entry... } with each entry as XRANGE gives it
local mk, key, io = KEYS[1], KEYS[2], ARGV[1]
local f = redis.call('HMGET', mk, 'seq:' .. io, 'hw:' .. io)
local last = tonumber(f[1] or '0')
local hw = tonumber(f[2] or f[1] or '0')
local reply = { last, hw }
if tonumber(ARGV[2]) >= hw then return reply end
local entries = redis.call('XRANGE', key, '(0-' .. ARGV[2], '0-' .. seq_text(hw), 'COUNT', ARGV[3])
for _, e in ipairs(entries) do table.insert(reply, e) end
return reply
