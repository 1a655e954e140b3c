-- heal.lua: brings back places in line that Redis lost, from the queue tokens fans present.
-- After a loss the api re-opens the queue with `lostBelow` (every sequence and pre-queue entry
-- number handed out before the loss is below it) and `admittedBefore` (the highest sequence
-- admitted before it, as last copied to Postgres) and `lostAt`. A token's place comes back
-- at its own sequence, so everyone who comes back keeps their order, when it is from before
-- the loss and has not come back already (`healed`); a user in line or with a session now has
-- theirs. A place admitted before the loss comes back (at the front: its sequence is low) only
-- while the session it had could still run (`lostAt` + `sessionTtl`): the fan lost the session
-- with the data (an admitted fan who never picked it up has no access token to restore it
-- with); once that session would have ended, the fan stays out. A pre-queue entry comes back
-- into the pre-queue while the sale has not opened; after the draw, the gateway finds the
-- entry's drawn place in the draw (which comes back with the queue) and brings that place
-- back as a place ('q').
-- KEYS: 1 config hash, 2 waiting queue, 3 sessions, 4 healed users (set), 5 pre-queue
-- ARGV: triples of user id, sequence or entry number, kind ('q' a place, 'p' a pre-queue entry)
-- Returns one 1 (back) or 0 per triple
local c = redis.call('HMGET', KEYS[1], 'lostBelow', 'admittedBefore', 'closed', 'opensAt', 'drawn',
                     'lostAt', 'sessionTtl')
local lost_below = tonumber(c[1] or '0')
local before = tonumber(c[2] or '0')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local before_opening = now < tonumber(c[4] or '0') and c[5] ~= '1'
local sessions_may_run = now < tonumber(c[6] or '0') + tonumber(c[7] or '0') * 1000
local out = {}
for i = 1, #ARGV, 3 do
  local user, n, kind = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local back = 0
  if not c[3] and n < lost_below and not redis.call('HGET', KEYS[3], user) then
    if kind == 'q' and (n > before or sessions_may_run) and not redis.call('ZSCORE', KEYS[2], user)
        and redis.call('SADD', KEYS[4], user) == 1 then
      redis.call('ZADD', KEYS[2], n, user)
      back = 1
    elseif kind == 'p' and before_opening and not redis.call('ZSCORE', KEYS[5], user)
        and redis.call('SADD', KEYS[4], user) == 1 then
      redis.call('ZADD', KEYS[5], n, user)
      back = 1
    end
  end
  out[#out + 1] = back
end
return out
