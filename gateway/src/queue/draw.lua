-- draw.lua: places a concert's drawn pre-queue at the head of its line, once.
-- The gateway read the pre-queue and ordered it by the draw's keys (shared/src/draw.rs); this
-- script applies that order, exactly once however many gateways drew: the first call sets
-- `drawn`, later ones find it set and change nothing. Entrants who left the pre-queue since
-- it was read are skipped. The drawn places are the sequences just below the first one
-- handed out after the opening (`preSeq`, the last entry number, and down), so the line stays
-- contiguous whatever entry numbers went unused; `drawFirst` and `drawCount` name them.
-- KEYS: 1 config hash, 2 pre-queue, 3 waiting queue, 4 gaps (unused since places are
--       contiguous; kept so the key list names every key of the line), 5 the published order
-- ARGV: 1 the entrant ids (32 bytes each) in drawn order, concatenated; 2.. the user ids in
--       the same order
-- Returns {applied (1, 0 already drawn, -1 too early or no such queue), entrants placed}
local c = redis.call('HMGET', KEYS[1], 'opensAt', 'drawn', 'preSeq')
local opens_at = tonumber(c[1] or '0')
if c[2] == '1' then return {0, 0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if opens_at == 0 or now < opens_at then return {-1, 0} end

local CHUNK = 1000 -- arguments per call stay far below Lua's stack limit
-- After the opening nobody enters the pre-queue (join.lua queues them), so a pre-queue as
-- large as the one read is the one read: only when some entrant left since is each checked.
local unchanged = redis.call('ZCARD', KEYS[2]) == #ARGV - 1
local still = {}
local kept = #ARGV - 1
if not unchanged then
  kept = 0
  for i = 2, #ARGV, CHUNK do
    local last = math.min(i + CHUNK - 1, #ARGV)
    local scores = redis.call('ZMSCORE', KEYS[2], unpack(ARGV, i, last))
    for j = i, last do
      if scores[j - i + 1] then
        still[j] = true
        kept = kept + 1
      end
    end
  end
end
local first = tonumber(c[3] or '0') - kept + 1
local ids, placed, args, a = {}, 0, {}, 0
for j = 2, #ARGV do
  if unchanged or still[j] then
    args[a + 1], args[a + 2] = first + placed, ARGV[j]
    a, placed = a + 2, placed + 1
    ids[placed] = string.sub(ARGV[1], 32 * (j - 2) + 1, 32 * (j - 1))
    if a == 2 * CHUNK then
      redis.call('ZADD', KEYS[3], unpack(args, 1, a))
      a = 0
    end
  end
end
if a > 0 then redis.call('ZADD', KEYS[3], unpack(args, 1, a)) end
redis.call('SET', KEYS[5], table.concat(ids))
redis.call('UNLINK', KEYS[2])
redis.call('HSET', KEYS[1], 'drawn', 1, 'drawnAt', now, 'drawFirst', first, 'drawCount', placed)
return {1, placed}
