-- unclaim.lua: a payment that wrote nothing (refused or lost a race) hands its claim back:
-- the reservation is HELD again and its holds end when they were due to (now, if that has
-- passed). Only the claim's owner can hand it back.
-- KEYS: 1 reservation hash, 2 the user's open hold, 3 held seats of the schedule (zset),
--       4.. one hold key per seat
-- ARGV: 1 reservation id, 2 payment id (the claim's owner), 3.. seat ids (order of KEYS 4..)
-- Returns 1 handed back, 0 not this payment's claim
local r = redis.call('HMGET', KEYS[1], 'status', 'payingBy', 'expiresAt')
if r[1] ~= 'PAYING' or r[2] ~= ARGV[2] then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expires = tonumber(r[3])
for i = 2, #KEYS do
  if i ~= 3 and redis.call('GET', KEYS[i]) == ARGV[1] then
    if expires > now then
      redis.call('PEXPIREAT', KEYS[i], expires)
    else
      redis.call('DEL', KEYS[i])
    end
  end
end
for i = 4, #KEYS do
  redis.call('ZADD', KEYS[3], 'XX', expires, ARGV[i - 1] .. ':' .. ARGV[1])
end
redis.call('HSET', KEYS[1], 'status', 'HELD')
redis.call('HDEL', KEYS[1], 'payingUntil', 'payingBy', 'payingKey')
return 1
