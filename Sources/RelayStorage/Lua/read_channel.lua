-- read_channel.lua: the records a reader may see after a position (catch-up, gap fill, drain,
-- HEAD, the closed check): at most COUNT entries with AFTER < seq <= the channel's high
-- watermark, and where the channel ends, so a reader can tell "nothing new yet" from "you are
-- past the end" (a position from a history that was lost: docs/API.md, History guarantees).
-- KEYS: 1 meta, 2 the channel's stream
-- ARGV: 1 io, 2 AFTER, 3 COUNT (0: no entries, only where the channel ends)
-- Reply: { last seq (0: none), last visible seq, 1 if the session is closed or expired else 0,
--          the last record time (ms, 0: none), entry... } with each entry as XRANGE gives it
local mk, key, io = KEYS[1], KEYS[2], ARGV[1]
local last, hw = visible_end(mk, io)
local open = is_open(mk, now_ms())
local reply = { last, hw, open and 0 or 1, tonumber(redis.call('HGET', mk, 'ts:' .. io) or '0') }
if ARGV[3] == '0' or tonumber(ARGV[2]) >= hw then return reply end
local entries = redis.call('XRANGE', key, '(0-' .. ARGV[2], '0-' .. seq_text(hw), 'COUNT', ARGV[3])
for _, e in ipairs(entries) do table.insert(reply, e) end
return reply
