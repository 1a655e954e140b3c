-- release.lua: cancels a held reservation; removes only holds that are still its own.
-- KEYS: 1 reservation hash, 2 the user's open hold, 3 held seats of the schedule (zset),
--       4.. one hold key per seat
-- ARGV: 1 reservation id, 2 user id, 3.. seat ids (in the order of KEYS 4..)
-- Returns 1 canceled, 0 no such reservation of this user, -1 already confirmed, -2 a payment
-- of it is running (see claim.lua)
local r = redis.call('HMGET', KEYS[1], 'user', 'status', 'payingUntil')
if r[1] ~= ARGV[2] then return 0 end
if r[2] == 'CONFIRMED' then return -1 end
if r[2] == 'PAYING' then
  local t = redis.call('TIME')
  if tonumber(r[3] or '0') > tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) then
    return -2
  end
end
for i = 4, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
  redis.call('ZREM', KEYS[3], ARGV[i - 1] .. ':' .. ARGV[1])
end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
redis.call('HSET', KEYS[1], 'status', 'CANCELED')
return 1
