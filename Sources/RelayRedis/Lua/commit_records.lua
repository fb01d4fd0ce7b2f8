-- commit_records.lua: read-committed delivery (RELAY_REDIS_WAIT_REPLICAS >= 1). Once WAIT
-- confirmed that replicas hold a channel's records up to SEQ, move the channel's high
-- watermark there and publish the records it uncovers, in order. Readers (read_channel.lua)
-- never see past the watermark, so no subscriber or drain sees a record that a failover can
-- still take away. Idempotent: commits arriving out of order publish nothing twice.
-- KEYS: 1 meta, 2 the channel's stream
-- ARGV: 1 io, 2 SEQ (a seq that replicas confirmed)
-- Reply: how many records were published
local mk, key, io = KEYS[1], KEYS[2], ARGV[1]
local f = redis.call('HMGET', mk, 'hw:' .. io, 'seq:' .. io)
local hw = tonumber(f[1] or f[2] or '0')
local target = math.min(tonumber(ARGV[2]), tonumber(f[2] or '0'))
if target <= hw then return 0 end
local entries = redis.call('XRANGE', key, '(0-' .. seq_text(hw), '0-' .. seq_text(target))
redis.call('HSET', mk, 'hw:' .. io, seq_text(target))
for _, e in ipairs(entries) do
  local seq = string.sub(e[1], 3)
  redis.call('SPUBLISH', key, live_message(seq, e[2][1], e[2][2]))
end
return #entries
