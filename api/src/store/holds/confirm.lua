-- confirm.lua: after a payment committed, removes its holds (compare-and-delete), marks the
-- reservation confirmed, bumps the schedule's sale version (so every api instance drops its
-- in-memory copy of the sold seats), lowers the schedule's unsold count (once per
-- reservation: a replayed payment confirms again), counts the user's tickets of the concert
-- (for `hold.lua`'s ticket-limit courtesy, once per reservation too), and ends the user's
-- session so the token can no longer book (`session_end`, the shared rule prepended from
-- shared/src/session.lua).
-- KEYS: 1 reservation hash, 2 the user's open hold, 3 held seats of the schedule (zset),
--       4 active sessions, 5 sessions, 6 the schedule's sale version, 7 unsold seats per
--       schedule (hash), 8 tickets owned (hash user -> tickets), 9.. one hold key per seat
-- ARGV: 1 reservation id, 2 user id, 3 ticket id, 4 payment id, 5 confirmed at (ms),
--       6 schedule id, 7.. seat ids (in the order of KEYS 9..)
-- Returns 1
redis.call('INCR', KEYS[6])
local seats = #KEYS - 8
for i = 9, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
  redis.call('ZREM', KEYS[3], ARGV[i - 2] .. ':' .. ARGV[1])
end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
local status = redis.call('HGET', KEYS[1], 'status')
if status then
  -- A count Redis lost is not created here: the api re-seeds it from Postgres, which has
  -- this sale.
  if status ~= 'CONFIRMED' and redis.call('HEXISTS', KEYS[7], ARGV[6]) == 1 then
    if redis.call('HINCRBY', KEYS[7], ARGV[6], -seats) < 0 then
      redis.call('HSET', KEYS[7], ARGV[6], 0)
    end
  end
  if status ~= 'CONFIRMED' then
    redis.call('HINCRBY', KEYS[8], ARGV[2], seats)
    redis.call('EXPIRE', KEYS[8], 7776000)
  end
  redis.call('HSET', KEYS[1], 'status', 'CONFIRMED', 'paymentId', ARGV[4], 'confirmedAt', ARGV[5])
end
session_end(KEYS[4], KEYS[5], ARGV[2], ARGV[3])
return 1
