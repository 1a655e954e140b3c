-- admit.lua: one admission tick of one concert.
-- Drops expired sessions, then admits min(admitPerTick, maxActive - active) from the head of
-- the queue in arrival order, each with a session until now + sessionTtl. The tick is claimed
-- by its start time on Redis's clock (ms, a multiple of tickMillis), the one clock every
-- scheduler instance shares: a tick already claimed by another instance does nothing, so any
-- number of instances admit exactly admitPerTick per tick between them, and an instance whose
-- own clock is wrong neither stalls the others nor admits twice.
-- Admission never outruns the seats: it admits at most as many as there are seats neither
-- sold nor held (`unsold` less the live holds), none while every seat left is held, and when
-- the last seat is sold it closes the queue (SOLD_OUT). Before a sale with a pre-queue has
-- been drawn it admits nobody (the gateway draws; see draw.lua). An admitted user who does not
-- pick up the access token within the activation window loses the session at a later tick.
-- KEYS: 1 config hash, 2 waiting queue (zset user -> seq), 3 active (zset user -> expiry ms),
--       4 sessions (hash user -> ticket id), 5 gaps (sequences given up; see queue/view.rs),
--       6 pending activations (zset user -> deadline ms), 7 unsold seats (hash schedule ->
--       seats), 8 pre-queue
-- KEYS 3 and 4 are sessions as shared/src/session.rs defines them (that module owns the layout
-- and the rule); this script starts and sweeps thousands at once, so it writes them itself.
-- ARGV: 1 the tick's start: empty for the tick of Redis's clock now (the scheduler), or a
--       number (tests and benchmarks drive ticks by number; they only grow), 2 the
--       activation window (s; 0 for none), 3 the concert's key prefix (a schedule's held seats
--       are `<prefix>held:<schedule id>`, in the concert's hash slot), 4 how long a closed
--       queue's keys stay (s)
-- Returns {claimed (1/0, -1 no such queue, -2 closed), admitted, waiting, active, tickMillis,
--          ms until the next tick starts, a draw is due (1/0), seats sellable (-1 unknown)}
local c = redis.call('HMGET', KEYS[1], 'admitPerTick', 'tickMillis', 'maxActive', 'sessionTtl',
                     'paused', 'lastTick', 'rate', 'rateAt', 'opensAt', 'drawn', 'closed')
if not c[1] then return {-1, 0, 0, 0, 0, 0, 0, -1} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- A closed queue takes nobody: its line goes at once (everyone in it is told why by the
-- config's `closed`), the rest (sessions still running, the published draw) stays a while.
local function close()
  redis.call('DEL', KEYS[2], KEYS[5], KEYS[6], KEYS[8], ARGV[3] .. 'healed')
  -- The config stays (a few fields): a poll long after still reads SOLD_OUT or CLOSED, and a
  -- queue missing from Redis means one that was lost.
  for _, key in ipairs({KEYS[3], KEYS[4], KEYS[7], ARGV[3] .. 'draw'}) do
    redis.call('EXPIRE', key, ARGV[4], 'NX')
  end
  return {-2, 0, 0, 0, 0, 0, 0, 0}
end
if c[11] then return close() end

-- Seats left: unsold (per schedule not started) less those held now; unknown without counts
-- (the api re-seeds them from Postgres).
local sellable = -1
local unsold = redis.call('HGETALL', KEYS[7])
if #unsold > 0 then
  local total, held = 0, 0
  for i = 1, #unsold, 2 do
    local left = tonumber(unsold[i + 1])
    total = total + left
    if left > 0 then
      held = held + redis.call('ZCOUNT', ARGV[3] .. 'held:' .. unsold[i], '(' .. now, '+inf')
    end
  end
  if total <= 0 then
    redis.call('HSET', KEYS[1], 'closed', 'SOLD_OUT', 'closedAt', now)
    return close()
  end
  sellable = math.max(total - held, 0)
end

local tick_millis = tonumber(c[2])
local tick = tonumber(ARGV[1])
local last = tonumber(c[6] or '')
if not tick then
  tick = now - now % tick_millis
  -- A last tick ahead of the clock is left from before a clock step back: not a claim.
  if last and last > now then last = nil end
end
local next_in = math.max(tick + tick_millis - now, 0)
if last and last >= tick then
  return {0, 0, 0, 0, tick_millis, next_in, 0, sellable}
end
local opens_at = tonumber(c[9] or '0')
local undrawn = opens_at > 0 and c[10] ~= '1'
local draw_due = 0
if undrawn and now >= opens_at then draw_due = 1 end

local CHUNK = 1000 -- arguments per call stay far below Lua's stack limit

-- Sessions that ran out free their room.
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
for i = 1, #expired, CHUNK do
  redis.call('HDEL', KEYS[4], unpack(expired, i, math.min(i + CHUNK - 1, #expired)))
end
if #expired > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now) end
-- Sessions nobody picked up in time end (`pending` holds only those not picked up yet).
local no_shows = redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', now)
for i = 1, #no_shows, CHUNK do
  local some = {unpack(no_shows, i, math.min(i + CHUNK - 1, #no_shows))}
  redis.call('ZREM', KEYS[3], unpack(some))
  redis.call('HDEL', KEYS[4], unpack(some))
end
if #no_shows > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now) end

local waiting = redis.call('ZCARD', KEYS[2])
local active = redis.call('ZCARD', KEYS[3])
local admitted = 0
local admitted_through = nil
local paused = c[5] == '1'
if not paused and not undrawn and waiting > 0 then
  local n = math.min(tonumber(c[1]), tonumber(c[3]) - active)
  -- Everyone in the room may still take a seat: admit only for the seats beyond them.
  if sellable >= 0 then n = math.min(n, sellable - active) end
  if n > 0 then
    local popped = redis.call('ZPOPMIN', KEYS[2], n) -- user, seq, user, seq, ...
    -- Formatted once: a Lua number passed to redis.call is formatted again for every member,
    -- a cost that shows in a tick of thousands.
    local expiry = string.format('%d', now + tonumber(c[4]) * 1000)
    local activation = tonumber(ARGV[2])
    local deadline = string.format('%d', now + activation * 1000)
    for i = 1, #popped, CHUNK do
      local scores, tickets, deadlines = {}, {}, {}
      for j = i, math.min(i + CHUNK - 1, #popped), 2 do
        scores[#scores + 1] = expiry
        scores[#scores + 1] = popped[j]
        tickets[#tickets + 1] = popped[j]
        tickets[#tickets + 1] = popped[j + 1]
        deadlines[#deadlines + 1] = deadline
        deadlines[#deadlines + 1] = popped[j]
      end
      redis.call('ZADD', KEYS[3], unpack(scores))
      redis.call('HSET', KEYS[4], unpack(tickets))
      if activation > 0 then redis.call('ZADD', KEYS[6], unpack(deadlines)) end
    end
    admitted = #popped / 2
    if admitted > 0 then admitted_through = popped[#popped] end
  end
end
-- Gaps below the head can no longer lie between anyone and the head.
local head = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if head[2] then
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', '(' .. head[2])
else
  redis.call('DEL', KEYS[5])
end

-- The measured rate: an exponentially weighted average of admissions per second over about
-- 30 s, updated only while people wait and the queue runs (an empty or paused queue says
-- nothing about how fast it moves). It starts with the first admissions (before them the
-- estimate uses the configured pace), and after a pause, an empty line or a gap it goes on
-- from where it was with one tick's weight.
local fields = {'lastTick', tick}
-- The highest sequence admitted, which the api copies to Postgres: after a loss of Redis's
-- data, places up to it do not come back to the line.
if admitted_through then
  fields[#fields + 1] = 'admittedThrough'
  fields[#fields + 1] = admitted_through
end
if sellable >= 0 then
  fields[#fields + 1] = 'sellable'
  fields[#fields + 1] = sellable
end
local rate_at = tonumber(c[8] or '0')
local rate = tonumber(c[7] or '')
if waiting > 0 and not paused and (rate or admitted > 0) then
  local dt = (now - rate_at) / 1000
  if not rate then
    rate = admitted * 1000 / tick_millis
  elseif rate_at == 0 or dt > 60 then
    rate = rate + (1 - math.exp(-tick_millis / 30000)) * (admitted * 1000 / tick_millis - rate)
  elseif dt > 0 then
    local alpha = 1 - math.exp(-dt / 30)
    rate = rate + alpha * (admitted / dt - rate)
  end
  fields[#fields + 1] = 'rate'
  fields[#fields + 1] = string.format('%.6f', rate)
  fields[#fields + 1] = 'rateAt'
  fields[#fields + 1] = now
else
  fields[#fields + 1] = 'rateAt'
  fields[#fields + 1] = 0
end
redis.call('HSET', KEYS[1], unpack(fields))
if admitted > 0 then redis.call('HINCRBY', KEYS[1], 'admitted', admitted) end
if sellable < 0 then redis.call('HDEL', KEYS[1], 'sellable') end
return {1, admitted, waiting - admitted, active + admitted, tick_millis, next_in, draw_due,
        sellable}
