-- queue_config.lua: opens a concert's queue; settings already there (changed at run time) stay.
-- KEYS: 1 config hash
-- ARGV: 1 name, 2 admitPerTick, 3 tickMillis, 4 maxActive, 5 sessionTtl (s), 6 paused (0/1)
-- Returns 1 when the queue was created, 0 when it was open already
local created = redis.call('EXISTS', KEYS[1]) == 0
redis.call('HSET', KEYS[1], 'name', ARGV[1])
local fields = {'admitPerTick', 'tickMillis', 'maxActive', 'sessionTtl', 'paused'}
for i, f in ipairs(fields) do redis.call('HSETNX', KEYS[1], f, ARGV[i + 1]) end
if created then return 1 end
return 0
