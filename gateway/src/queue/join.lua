-- join.lua: gives a user a place in a concert's queue, or returns the place or session they have.
-- KEYS: 1 config hash, 2 waiting queue (zset user -> seq), 3 active (zset user -> expiry ms),
--       4 sessions (hash user -> ticket id)
-- ARGV: 1 user id
-- Returns {kind, ticketId, position, sessionExpiryMs, rate, admitPerTick, tickMillis, paused}
--   kind: -1 unknown concert, 0 new place, 1 already waiting, 2 already active
local cfg = redis.call('HMGET', KEYS[1], 'admitPerTick', 'tickMillis', 'paused', 'rate')
if not cfg[1] then return {-1, 0, 0, 0, '0', 0, 0, 0} end
local user = ARGV[1]
local function reply(kind, ticket, position, expiry)
  return {kind, ticket, position, expiry, cfg[4] or '0', tonumber(cfg[1]), tonumber(cfg[2]), tonumber(cfg[3] or '0')}
end

local seq = redis.call('ZSCORE', KEYS[2], user)
if seq then
  return reply(1, tonumber(seq), redis.call('ZRANK', KEYS[2], user) + 1, 0)
end
local ticket = redis.call('HGET', KEYS[4], user)
if ticket then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local expiry = tonumber(redis.call('ZSCORE', KEYS[3], user) or '0')
  if expiry > now then return reply(2, tonumber(ticket), 0, expiry) end
end
-- Arrival sequence numbers only grow, so the new member is last: its position is the size.
seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('ZADD', KEYS[2], seq, user)
return reply(0, seq, redis.call('ZCARD', KEYS[2]), 0)
