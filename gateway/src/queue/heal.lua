-- heal.lua: brings back places in line that Redis lost, from the queue tokens fans present.
-- After a loss the api re-opens the queue with `lostBelow` (every sequence handed out before
-- the loss is below it) and `admittedBefore` (the highest sequence admitted before it, as
-- last copied to Postgres). A token's place comes back at its own sequence, so everyone who
-- comes back keeps their order, when it is from before the loss, was not admitted before it,
-- and has not come back already (`healed`); a user in line or with a session now has theirs.
-- KEYS: 1 config hash, 2 waiting queue, 3 sessions, 4 healed users (set)
-- ARGV: pairs of user id, ticket id
-- Returns one 1 (back in line) or 0 per pair
local c = redis.call('HMGET', KEYS[1], 'lostBelow', 'admittedBefore', 'closed')
local lost_below = tonumber(c[1] or '0')
local before = tonumber(c[2] or '0')
local out = {}
for i = 1, #ARGV, 2 do
  local user, ticket = ARGV[i], tonumber(ARGV[i + 1])
  local back = 0
  if not c[3] and ticket < lost_below and ticket > before
      and not redis.call('ZSCORE', KEYS[2], user)
      and not redis.call('HGET', KEYS[3], user)
      and redis.call('SADD', KEYS[4], user) == 1 then
    redis.call('ZADD', KEYS[2], ticket, user)
    back = 1
  end
  out[#out + 1] = back
end
return out
