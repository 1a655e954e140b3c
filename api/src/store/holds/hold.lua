-- hold.lua: holds several seats of one schedule for one user, all or none, while the user's
-- session is active for the token's ticket (`active_session_end`, the shared rule prepended
-- from shared/src/session.lua). The hold ends at the earlier of now + TTL and the session's
-- end (its `act` score): a session's hold can always be paid or released by that session.
-- The api checked the seats against its copy of the schedule's sold seats, read under a sale
-- version: the hold is made only while that version is still the schedule's (a sale since
-- changed it), so the check and the hold need no Postgres. Without a copy to check against
-- (ARGV 8 is '*'), the hold is made and the api checks Postgres after it. The ticket limit is checked
-- against the user's tickets of the concert that `confirm.lua` counted (a courtesy: the
-- payment enforces it in Postgres). Each hold made is counted (`holdsCreated`, for the
-- console's figures).
-- KEYS: 1 active sessions (zset user -> expiry ms), 2 sessions (hash user -> ticket id),
--       3 the user's open hold, 4 the reservation hash, 5 held seats of the schedule (zset),
--       6 holds created (counter), 7 the schedule's sale version, 8 tickets owned (hash
--       user -> tickets), 9.. one hold key per seat
-- ARGV: 1 user id, 2 ticket id (the token's jti), 3 reservation id, 4 hold TTL (ms),
--       5 schedule id, 6 seats (JSON), 7 total price, 8 the sale version the api's copy of
--       the sold seats was read under ('*': none, not checked), 9 tickets per user, 10.. seat
--       ids (in the order of KEYS 9..)
-- Returns {1, expiresAtMs} held (the earlier of now + TTL and the session's end); {-1, ''}
-- session not active; {-2, reservationId} the user already has an open hold; {-3, seatId} a
-- seat is held by someone; {-4, ''} the sale version is not ARGV 8: nothing held; {-5, owned}
-- over the ticket limit
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local user, reservation = ARGV[1], ARGV[3]

local session_ends = active_session_end(KEYS[1], KEYS[2], user, ARGV[2], now)
if not session_ends then return {-1, ''} end
if ARGV[8] ~= '*' and redis.call('GET', KEYS[7]) ~= ARGV[8] then return {-4, ''} end
local expires = math.min(now + tonumber(ARGV[4]), math.floor(session_ends))
local ttl = expires - now
local owned = tonumber(redis.call('HGET', KEYS[8], user) or '0')
if owned + #KEYS - 8 > tonumber(ARGV[9]) then
  local open = redis.call('GET', KEYS[3])
  if open then return {-2, open} end
  return {-5, tostring(owned)}
end
-- The user's one open hold is claimed (SET NX, which is also the check), then the seats; a
-- seat held by someone gives back the open hold and the seats taken before it, so nothing
-- of this hold stays.
if not redis.call('SET', KEYS[3], reservation, 'PX', ttl, 'NX') then
  return {-2, redis.call('GET', KEYS[3])}
end
for i = 9, #KEYS do
  if not redis.call('SET', KEYS[i], reservation, 'PX', ttl, 'NX') then
    redis.call('DEL', KEYS[3], unpack(KEYS, 9, i - 1))
    return {-3, ARGV[i + 1]}
  end
end
for i = 10, #ARGV do
  redis.call('ZADD', KEYS[5], expires, ARGV[i] .. ':' .. reservation)
end
redis.call('HSET', KEYS[4], 'user', user, 'scheduleId', ARGV[5], 'seats', ARGV[6],
           'totalPrice', ARGV[7], 'status', 'HELD', 'expiresAt', expires)
redis.call('PEXPIRE', KEYS[4], ttl + 86400000)
-- About one hold in 16 (by the clock's microseconds), and the concert's first, also does the
-- upkeep: the schedule's held index drops its lapsed entries (its readers count live ones
-- only, so those cost memory, never a wrong count) and the counter's 90-day expiry slides.
if redis.call('INCR', KEYS[6]) == 1 or tonumber(t[2]) % 16 == 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)
  redis.call('EXPIRE', KEYS[6], 7776000)
end
return {1, tostring(expires)}
