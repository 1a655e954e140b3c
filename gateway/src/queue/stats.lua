-- stats.lua: the numbers of one concert's queue.
-- KEYS: 1 config hash, 2 waiting queue, 3 active
-- Returns {exists, waiting, active, rate, admitPerTick, tickMillis, paused}
local cfg = redis.call('HMGET', KEYS[1], 'admitPerTick', 'tickMillis', 'paused', 'rate')
if not cfg[1] then return {0, 0, 0, '0', 0, 0, 0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return {1, redis.call('ZCARD', KEYS[2]), redis.call('ZCOUNT', KEYS[3], '(' .. now, '+inf'),
        cfg[4] or '', tonumber(cfg[1]), tonumber(cfg[2]), tonumber(cfg[3] or '0')}
