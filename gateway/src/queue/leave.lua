-- leave.lua: gives up a place in line or ends an active session, freeing room at once; ending
-- a session also releases the user's open hold, as the api's release.lua does (a hold never
-- outlives its session). Runs after the session rule (shared/src/session.lua, prepended by
-- `shared::session::script`).
-- A pre-queue entry (a ticket from ARGV[4] on) is given up from the pre-queue; once drawn, it
-- names the user's drawn place (a sequence the draw gave, from `drawFirst` for `drawCount`) or
-- its session.
-- KEYS: 1 waiting queue, 2 active, 3 sessions, 4 gaps (sequences given up; see queue/view.rs),
--       5 the user's open hold (value: reservation id), 6 pre-queue, 7 config hash
-- ARGV: 1 user id, 2 ticket id, 3 the concert's key prefix: the hold's reservation hash
--       (`r:<id>`), its schedule's held seats (`held:<schedule>`) and seat holds
--       (`h:<schedule>:<seat>`) are named from it, all in the concert's hash slot, 4 the
--       first pre-queue ticket
-- Returns 1 place given up, 2 session ended, 0 nothing held by this ticket

-- Cancels the user's open hold if it is HELD (a PAYING one is the payment's to finish or
-- hand back); removes only seat holds that are still this reservation's.
local function release_open_hold(user_hold, base, user)
  local id = redis.call('GET', user_hold)
  if not id then return end
  local reservation = base .. 'r:' .. id
  local r = redis.call('HMGET', reservation, 'user', 'status', 'scheduleId', 'seats')
  if r[1] ~= user or r[2] ~= 'HELD' then return end
  local held = base .. 'held:' .. r[3]
  local ok, seats = pcall(cjson.decode, r[4] or '')
  if ok and type(seats) == 'table' then
    for _, seat in ipairs(seats) do
      local seat_id = tostring(seat[1])
      local hold = base .. 'h:' .. r[3] .. ':' .. seat_id
      if redis.call('GET', hold) == id then redis.call('DEL', hold) end
      redis.call('ZREM', held, seat_id .. ':' .. id)
    end
  end
  redis.call('DEL', user_hold)
  redis.call('HSET', reservation, 'status', 'CANCELED')
end

local user, ticket = ARGV[1], ARGV[2]
local seq = redis.call('ZSCORE', KEYS[1], user)
if tonumber(ticket) >= tonumber(ARGV[4]) then
  local entry = tonumber(ticket) - tonumber(ARGV[4])
  if tonumber(redis.call('ZSCORE', KEYS[6], user) or '-1') == entry then
    redis.call('ZREM', KEYS[6], user)
    return 1
  end
  -- Drawn since: the drawn place, or the session it turned into.
  local d = redis.call('HMGET', KEYS[7], 'drawFirst', 'drawCount')
  local first = tonumber(d[1] or '0')
  local place = tonumber(seq or redis.call('HGET', KEYS[3], user) or '0')
  if first < 1 or place < first or place >= first + tonumber(d[2] or '0') then return 0 end
  ticket = tostring(place)
end
if seq and tonumber(seq) == tonumber(ticket) then
  redis.call('ZREM', KEYS[1], user)
  redis.call('ZADD', KEYS[4], seq, seq)
  return 1
end
if session_end(KEYS[2], KEYS[3], user, ticket) then
  release_open_hold(KEYS[5], ARGV[3], user)
  return 2
end
return 0
