-- opening.lua: moves the opening of a sale that has not opened yet (the pre-queue and its
-- committed seed stay; the draw happens at the new time).
-- KEYS: 1 config hash
-- ARGV: 1 the new opening (ms)
-- Returns 1 moved, 0 the sale has opened (or opened at creation, or the new time is past),
--   -1 no such queue
local c = redis.call('HMGET', KEYS[1], 'admitPerTick', 'opensAt', 'drawn', 'closed')
if not c[1] then return -1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local current = tonumber(c[2] or '0')
if current <= now or c[3] == '1' or c[4] or tonumber(ARGV[1]) <= now then return 0 end
redis.call('HSET', KEYS[1], 'opensAt', ARGV[1])
return 1
