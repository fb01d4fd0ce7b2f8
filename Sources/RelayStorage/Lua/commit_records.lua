-- commit_records.lua: read-committed delivery (RELAY_REDIS_WAIT_REPLICAS >= 1). Once WAIT
-- confirmed that replicas hold a channel's records up to SEQ, move the channel's high
-- watermark there and publish the records it uncovers, in order. Readers (read_channel.lua)
-- never see past the watermark, so no subscriber or drain sees a record that a failover can
-- still take away. Idempotent: commits arriving out of order publish nothing twice.
-- A closed or expired session's watermark never moves: its subscribers were told where it
-- ends (close_session.lua), so a record confirmed after that is not part of the channel.
-- At most the last PUBLISH_AT_MOST uncovered records are published (after replicas were away,
-- thousands may be uncovered at once): feeds read anything before them from the stream.
-- KEYS: 1 meta, 2 the channel's stream
-- ARGV: 1 io, 2 SEQ (a seq that replicas confirmed)
-- Reply: how many records were published, or -1 (the session is closed), -2 (expired)
local PUBLISH_AT_MOST = 1000
local mk, key, io = KEYS[1], KEYS[2], ARGV[1]
local f = redis.call('HMGET', mk, 'hw:' .. io, 'seq:' .. io)
local hw = tonumber(f[1] or f[2] or '0')
local target = math.min(tonumber(ARGV[2]), tonumber(f[2] or '0'))
if target <= hw then return 0 end
local open, why = is_open(mk, now_ms())
if not open then return why == 'closed' and -1 or -2 end
local entries = redis.call('XREVRANGE', key, '0-' .. seq_text(target), '(0-' .. seq_text(hw), 'COUNT', PUBLISH_AT_MOST)
redis.call('HSET', mk, 'hw:' .. io, seq_text(target))
for i = #entries, 1, -1 do
  local e = entries[i]
  redis.call('SPUBLISH', key, live_entry(string.sub(e[1], 3), e[2]))
end
return #entries
