-- settings.lua: changes an open queue's settings at run time.
-- KEYS: 1 config hash
-- ARGV: 1 admitPerTick, 2 tickMillis, 3 maxActive, 4 sessionTtl (s), 5 paused (0/1)
-- Returns 1 when changed, 0 when the concert has no open queue
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'admitPerTick', ARGV[1], 'tickMillis', ARGV[2], 'maxActive', ARGV[3],
           'sessionTtl', ARGV[4], 'paused', ARGV[5])
return 1
