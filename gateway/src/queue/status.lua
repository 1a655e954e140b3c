-- status.lua: where each queue ticket of a batch stands. The gateway coalesces concurrent
-- status requests of one concert into one call.
-- KEYS: 1 config hash, 2 waiting queue, 3 active, 4 sessions (as in join.lua)
-- ARGV: user id, ticket id, user id, ticket id, ...
-- Returns {-1} for an unknown concert, else
--   {rate, admitPerTick, tickMillis, paused, then per ticket: kind, position, sessionExpiryMs}
--   kind: 1 waiting, 2 active, 3 expired (admitted and ended, or left)
local cfg = redis.call('HMGET', KEYS[1], 'admitPerTick', 'tickMillis', 'paused', 'rate')
if not cfg[1] then return {-1} end
local n = #ARGV / 2
local users = {}
for i = 1, n do users[i] = ARGV[2 * i - 1] end
local seqs = redis.call('ZMSCORE', KEYS[2], unpack(users))

-- One pass for the waiting (the common case); the others are settled below.
local out = {cfg[4] or '0', tonumber(cfg[1]), tonumber(cfg[2]), tonumber(cfg[3] or '0')}
local outside, m = {}, 0
for i = 1, n do
  local at = 3 * i + 2
  if seqs[i] and tonumber(seqs[i]) == tonumber(ARGV[2 * i]) then
    out[at], out[at + 1], out[at + 2] = 1, redis.call('ZRANK', KEYS[2], users[i]) + 1, 0
  else
    out[at], out[at + 1], out[at + 2] = 3, 0, 0
    m = m + 1
    outside[m] = i
  end
end
if m > 0 then
  local names = {}
  for j = 1, m do names[j] = users[outside[j]] end
  local tickets = redis.call('HMGET', KEYS[4], unpack(names))
  local expiries = redis.call('ZMSCORE', KEYS[3], unpack(names))
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  for j = 1, m do
    local i = outside[j]
    local expiry = tonumber(expiries[j] or '0')
    if tickets[j] and tonumber(tickets[j]) == tonumber(ARGV[2 * i]) and expiry > now then
      local at = 3 * i + 2
      out[at], out[at + 2] = 2, expiry
    end
  end
end
return out
