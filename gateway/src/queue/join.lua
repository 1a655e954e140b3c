-- join.lua: gives each user of a batch a place in a concert's queue, or returns the place or
-- session they already have. The gateway coalesces concurrent joins of one concert into one
-- call, so the script's fixed cost (and Redis's per-command cost) is paid once per batch.
-- KEYS: 1 config hash, 2 waiting queue (zset user -> seq), 3 active (zset user -> expiry ms),
--       4 sessions (hash user -> ticket id), 5 gaps (sequences given up; see queue.rs)
-- ARGV: user ids, in arrival order (a user may appear more than once)
-- Returns {-1} for an unknown concert, else
--   {rate, admitPerTick, tickMillis, paused, then per user: kind, ticketId, position, sessionExpiryMs}
--   kind: 0 new place, 1 already waiting, 2 already active
local cfg = redis.call('HMGET', KEYS[1], 'admitPerTick', 'tickMillis', 'paused', 'rate', 'seq')
if not cfg[1] then return {-1} end
local n = #ARGV
local seqs = redis.call('ZMSCORE', KEYS[2], unpack(ARGV))

-- Users not in line may hold a session that is still running.
local outside = {}
for i = 1, n do
  if not seqs[i] then outside[#outside + 1] = ARGV[i] end
end
local sessions = {}
if #outside > 0 then
  local tickets = redis.call('HMGET', KEYS[4], unpack(outside))
  local holders = {}
  for j = 1, #outside do
    if tickets[j] then holders[#holders + 1] = outside[j] end
  end
  if #holders > 0 then
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    local expiries = redis.call('ZMSCORE', KEYS[3], unpack(holders))
    local k = 1
    for j = 1, #outside do
      if tickets[j] then
        local expiry = tonumber(expiries[k] or '0')
        if expiry > now then sessions[outside[j]] = {tonumber(tickets[j]), expiry} end
        k = k + 1
      end
    end
  end
end

-- Everyone else gets a new place; a user twice in the batch gets one place.
local order, k = {}, 0 -- new users, in arrival order
local new_index = {}
for i = 1, n do
  local user = ARGV[i]
  if not seqs[i] and not sessions[user] and not new_index[user] then
    k = k + 1
    order[k] = user
    new_index[user] = k
  end
end
local first_seq, first_position = 0, 0
if k > 0 then
  -- Arrival sequence numbers only grow, so new members go to the back in this order. A
  -- counter that fell behind the line (its hash lost, the line kept) resumes past the back
  -- of the line and past the last place given up.
  local last = tonumber(cfg[5] or '0')
  for _, key in ipairs({KEYS[2], KEYS[5]}) do
    local back = tonumber(redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')[2] or '0')
    if back > last then last = back end
  end
  if last > tonumber(cfg[5] or '0') then redis.call('HSET', KEYS[1], 'seq', last) end
  first_seq = redis.call('HINCRBY', KEYS[1], 'seq', k) - k + 1
  local CHUNK = 500 -- arguments per call stay far below Lua's stack limit
  for i = 1, k, CHUNK do
    local args, a = {}, 0
    for j = i, math.min(i + CHUNK - 1, k) do
      args[a + 1], args[a + 2] = first_seq + j - 1, order[j]
      a = a + 2
    end
    redis.call('ZADD', KEYS[2], unpack(args))
  end
  first_position = redis.call('ZCARD', KEYS[2]) - k + 1
end

local out = {cfg[4] or '0', tonumber(cfg[1]), tonumber(cfg[2]), tonumber(cfg[3] or '0')}
local seen = {}
for i = 1, n do
  local user, at = ARGV[i], 4 * i + 1
  local s = sessions[user]
  if seqs[i] then
    out[at], out[at + 1], out[at + 2], out[at + 3] =
      1, tonumber(seqs[i]), redis.call('ZRANK', KEYS[2], user) + 1, 0
  elseif s then
    out[at], out[at + 1], out[at + 2], out[at + 3] = 2, s[1], 0, s[2]
  else
    local j = new_index[user]
    out[at], out[at + 1], out[at + 2], out[at + 3] =
      seen[user] and 1 or 0, first_seq + j - 1, first_position + j - 1, 0
    seen[user] = true
  end
end
return out
