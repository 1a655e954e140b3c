-- queue_config.lua: opens a concert's queue, or fills in what Redis lost of an open one;
-- settings and state already there (changed at run time, counted by sales) stay.
-- KEYS: 1 config hash, 2 unsold seats per schedule (hash)
-- ARGV: 1 name, 2 admitPerTick, 3 tickMillis, 4 maxActive, 5 sessionTtl (s), 6 paused (0/1),
--       7 opensAt (ms, 0 for open at once), 8 the draw's seed (hex, '' without a draw),
--       9 its commitment (hex), then pairs of schedule id, unsold seats
-- Returns 1 when the queue was created, 0 when it was open already
local created = redis.call('EXISTS', KEYS[1]) == 0
redis.call('HSET', KEYS[1], 'name', ARGV[1])
local fields = {'admitPerTick', 'tickMillis', 'maxActive', 'sessionTtl', 'paused', 'opensAt'}
for i, f in ipairs(fields) do redis.call('HSETNX', KEYS[1], f, ARGV[i + 1]) end
if ARGV[8] ~= '' then
  redis.call('HSETNX', KEYS[1], 'seed', ARGV[8])
  redis.call('HSETNX', KEYS[1], 'commit', ARGV[9])
end
for i = 10, #ARGV, 2 do redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1]) end
if created then return 1 end
return 0
