-- claim.lua: just before a payment's statement, claims a held reservation for that payment:
-- every seat still held by it, not canceled, not confirmed, no other payment running. While
-- the claim runs (status PAYING until payingUntil) a cancel is refused and the holds last at
-- least as long as the claim, so nobody else can hold the seats while the sale commits.
-- KEYS: 1 reservation hash, 2 the user's open hold, 3 held seats of the schedule (zset),
--       4.. one hold key per seat
-- ARGV: 1 reservation id, 2 user id, 3 payment id (the claim's owner), 4 idempotency key,
--       5 claim length (ms), 6.. seat ids (in the order of KEYS 4..)
-- Returns {1, ''} claimed; {0, ''} no such reservation of this user; {-1, ''} already
-- confirmed; {-2, ''} lapsed or canceled; {-3, key} another payment runs (with that key)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local r = redis.call('HMGET', KEYS[1], 'user', 'status', 'payingUntil', 'payingKey')
if r[1] ~= ARGV[2] then return {0, ''} end
if r[2] == 'CONFIRMED' then return {-1, ''} end
if r[2] == 'PAYING' and tonumber(r[3] or '0') > now then return {-3, r[4] or ''} end
if r[2] ~= 'HELD' and r[2] ~= 'PAYING' then return {-2, ''} end
if #KEYS < 4 then return {-2, ''} end -- no seats (an unreadable hash): nothing to sell
for i = 4, #KEYS do
  if redis.call('GET', KEYS[i]) ~= ARGV[1] then return {-2, ''} end
end

local len = tonumber(ARGV[5])
local untl = now + len
for i = 4, #KEYS do
  if redis.call('PTTL', KEYS[i]) < len then redis.call('PEXPIREAT', KEYS[i], untl) end
  redis.call('ZADD', KEYS[3], 'XX', 'GT', untl, ARGV[i + 2] .. ':' .. ARGV[1])
end
if redis.call('GET', KEYS[2]) == ARGV[1] and redis.call('PTTL', KEYS[2]) < len then
  redis.call('PEXPIREAT', KEYS[2], untl)
end
redis.call('HSET', KEYS[1], 'status', 'PAYING', 'payingUntil', untl, 'payingBy', ARGV[3],
           'payingKey', ARGV[4])
return {1, ''}
