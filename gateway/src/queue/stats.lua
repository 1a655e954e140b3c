-- stats.lua: the numbers of one concert's queue.
-- KEYS: 1 config hash, 2 waiting queue, 3 active, 4 pre-queue
-- Returns {exists, waiting (the pre-queue before the draw), active, rate, admitPerTick,
--          tickMillis, paused, opensAt (ms, 0 none), drawn (0/1), closed ('' open),
--          sellable (-1 unknown)}
local cfg = redis.call('HMGET', KEYS[1], 'admitPerTick', 'tickMillis', 'paused', 'rate',
                       'opensAt', 'drawn', 'closed', 'sellable')
if not cfg[1] then return {0, 0, 0, '0', 0, 0, 0, 0, 0, '', -1} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return {1, redis.call('ZCARD', KEYS[2]) + redis.call('ZCARD', KEYS[4]),
        redis.call('ZCOUNT', KEYS[3], '(' .. now, '+inf'), cfg[4] or '', tonumber(cfg[1]),
        tonumber(cfg[2]), tonumber(cfg[3] or '0'), tonumber(cfg[5] or '0'),
        (cfg[6] == '1') and 1 or 0, cfg[7] or '', tonumber(cfg[8] or '-1')}
