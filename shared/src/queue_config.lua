-- queue_config.lua: opens a concert's queue, or fills in what Redis lost of an open one;
-- settings and state already there (changed at run time, counted by sales) stay. A queue
-- created again after Redis lost it resumes: its arrival counter goes on from `lostBelow`
-- (above every sequence handed out before the loss), and the tokens of places handed out
-- before it can bring their places back (see the gateway's heal.lua).
-- A draw made before Redis lost it comes back as it was (its order, its places, revealed),
-- so the gateway never draws again.
-- KEYS: 1 config hash, 2 unsold seats per schedule (hash), 3 the draw's published order
-- ARGV: 1 name, 2 admitPerTick, 3 tickMillis, 4 maxActive, 5 sessionTtl (s), 6 paused (0/1),
--       7 opensAt (ms, 0 for open at once), 8 the draw's seed (hex, '' without a draw),
--       9 its commitment (hex), 10 seqLimit (the counter's lease, '' for none),
--       11 lostBelow ('' unless resuming), 12 admittedBefore (with 11), 13 drawFirst, 14
--       drawnAt (ms), 15 the drawn order (entrant ids, 32 bytes each) ('' '' '' unless a draw
--       made comes back), then pairs of schedule id, unsold seats
-- Returns 1 when the queue was created, 0 when it was open already
local created = redis.call('EXISTS', KEYS[1]) == 0
redis.call('HSET', KEYS[1], 'name', ARGV[1])
local fields = {'admitPerTick', 'tickMillis', 'maxActive', 'sessionTtl', 'paused', 'opensAt'}
for i, f in ipairs(fields) do redis.call('HSETNX', KEYS[1], f, ARGV[i + 1]) end
if ARGV[8] ~= '' then
  redis.call('HSETNX', KEYS[1], 'seed', ARGV[8])
  redis.call('HSETNX', KEYS[1], 'commit', ARGV[9])
end
if ARGV[10] ~= '' then redis.call('HSETNX', KEYS[1], 'seqLimit', ARGV[10]) end
if created and ARGV[11] ~= '' then
  local lost_below = tonumber(ARGV[11])
  local t = redis.call('TIME')
  redis.call('HSET', KEYS[1], 'lostBelow', lost_below, 'seq', lost_below - 1,
             'admittedBefore', ARGV[12], 'admittedThrough', ARGV[12],
             'lostAt', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
end
if ARGV[13] ~= '' and redis.call('HEXISTS', KEYS[1], 'drawn') == 0 then
  redis.call('SET', KEYS[3], ARGV[15])
  redis.call('HSET', KEYS[1], 'drawn', 1, 'drawnAt', ARGV[14], 'drawFirst', ARGV[13],
             'drawCount', math.floor(#ARGV[15] / 32))
end
for i = 16, #ARGV, 2 do redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1]) end
if created then return 1 end
return 0
