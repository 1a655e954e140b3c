-- status.lua: where a queue ticket stands.
-- KEYS: 1 config hash, 2 waiting queue, 3 active, 4 sessions (as in join.lua)
-- ARGV: 1 user id, 2 ticket id
-- Returns {kind, position, sessionExpiryMs, rate, admitPerTick, tickMillis, paused}
--   kind: -1 unknown concert, 1 waiting, 2 active, 3 expired (admitted and ended, or left)
local cfg = redis.call('HMGET', KEYS[1], 'admitPerTick', 'tickMillis', 'paused', 'rate')
if not cfg[1] then return {-1, 0, 0, '0', 0, 0, 0} end
local user, ticket = ARGV[1], tonumber(ARGV[2])
local function reply(kind, position, expiry)
  return {kind, position, expiry, cfg[4] or '0', tonumber(cfg[1]), tonumber(cfg[2]), tonumber(cfg[3] or '0')}
end

local seq = redis.call('ZSCORE', KEYS[2], user)
if seq and tonumber(seq) == ticket then
  return reply(1, redis.call('ZRANK', KEYS[2], user) + 1, 0)
end
if tonumber(redis.call('HGET', KEYS[4], user) or '-1') == ticket then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local expiry = tonumber(redis.call('ZSCORE', KEYS[3], user) or '0')
  if expiry > now then return reply(2, 0, expiry) end
end
return reply(3, 0, 0)
