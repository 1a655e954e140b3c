-- join.lua: gives each user of a batch a place in a concert's queue (or, before the sale
-- opens, in its pre-queue), or returns the place or session they already have. The gateway
-- coalesces concurrent joins of one concert into one call, so the script's fixed cost (and
-- Redis's per-command cost) is paid once per batch.
-- KEYS: 1 config hash, 2 waiting queue (zset user -> seq), 3 active (zset user -> expiry ms),
--       4 sessions (hash user -> ticket id), 5 gaps (sequences given up; see queue/view.rs),
--       6 pre-queue (zset user -> entry number)
-- KEYS 3 and 4 are a session as shared/src/session.rs defines it (that module owns the layout
-- and the rule); this script reads many users' sessions at once, so it reads them itself.
-- ARGV: user ids, in arrival order, each once (the gateway folds repeats)
-- Returns {-1} for an unknown concert, {-2, reason} for a closed one (SOLD_OUT or CLOSED),
--   {-4} when the counter's lease is used up (the api extends it; the joins are retried),
--   before the opening {-3, opensAt, firstEntry, then for each user already in the pre-queue:
--   index (1-based), entry number}: every other user got a new entry, the j-th (from 0)
--   firstEntry + j; else
--   {rate, admitPerTick, tickMillis, paused, firstSeq, firstPosition, then for each user who
--    already had a place or session: index (1-based), kind, ticketId, position or expiry ms}
--   kind: 1 already waiting (with position), 2 already active (with session expiry), 3 in the
--   pre-queue of a sale that has opened but not yet been drawn (with its entry number and
--   opensAt);
--   every other user got a new place: the j-th of them (from 0) sequence firstSeq + j at
--   position firstPosition + j. A storm of new users thus answers six values, not four per
--   user.
local cfg = redis.call('HMGET', KEYS[1], 'admitPerTick', 'tickMillis', 'paused', 'rate', 'seq',
                      'opensAt', 'closed', 'drawn', 'preSeq', 'seqLimit')
if not cfg[1] then return {-1} end
if cfg[7] then return {-2, cfg[7]} end
local n = #ARGV
local opens_at = tonumber(cfg[6] or '0')
local now = 0
if opens_at > 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Before the opening: an entry in the pre-queue, in no order (the draw decides it).
if now < opens_at then
  local entries = redis.call('ZMSCORE', KEYS[6], unpack(ARGV))
  local out, o, k = {-3, opens_at, 0}, 3, 0
  for i = 1, n do
    if entries[i] then
      out[o + 1], out[o + 2] = i, tonumber(entries[i])
      o = o + 2
    else
      k = k + 1
    end
  end
  if k > 0 then
    -- Entry numbers come from the arrival counter, so they keep to its lease too, and the
    -- sequences after the opening follow them.
    local limit = tonumber(cfg[10] or '')
    if limit and tonumber(cfg[5] or '0') + k >= limit then return {-4} end
    local first = redis.call('HINCRBY', KEYS[1], 'seq', k) - k + 1
    redis.call('HSET', KEYS[1], 'preSeq', first + k - 1)
    local args, a, j = {}, 0, 0
    for i = 1, n do
      if not entries[i] then
        args[a + 1], args[a + 2] = first + j, ARGV[i]
        a, j = a + 2, j + 1
        if a == 1000 then
          redis.call('ZADD', KEYS[6], unpack(args, 1, a))
          a = 0
        end
      end
    end
    if a > 0 then redis.call('ZADD', KEYS[6], unpack(args, 1, a)) end
    out[3] = first
  end
  return out
end
-- Opened and not drawn yet: the pre-queue is still the pre-queue.
local entries = {}
if opens_at > 0 and cfg[8] ~= '1' then entries = redis.call('ZMSCORE', KEYS[6], unpack(ARGV)) end
local seqs = redis.call('ZMSCORE', KEYS[2], unpack(ARGV))
local tickets = redis.call('HMGET', KEYS[4], unpack(ARGV))

-- Users not in line who hold a session (people admitted who join again: few) keep it while
-- it runs.
local holders, h = {}, 0
for i = 1, n do
  if tickets[i] and not seqs[i] and not entries[i] then
    h = h + 1
    holders[h] = i
  end
end
local expiry_of = {}
if h > 0 then
  local names = {}
  for j = 1, h do names[j] = ARGV[holders[j]] end
  local expiries = redis.call('ZMSCORE', KEYS[3], unpack(names))
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  for j = 1, h do
    local expiry = tonumber(expiries[j] or '0')
    if expiry > now then expiry_of[holders[j]] = expiry end
  end
end

-- Everyone else gets a new place, in arrival order; the others are listed in the answer.
local out = {cfg[4] or '', tonumber(cfg[1]), tonumber(cfg[2]), tonumber(cfg[3] or '0'), 0, 0}
local k, o = 0, 6
for i = 1, n do
  if seqs[i] then
    out[o + 1], out[o + 2], out[o + 3], out[o + 4] =
      i, 1, tonumber(seqs[i]), redis.call('ZRANK', KEYS[2], ARGV[i]) + 1
    o = o + 4
  elseif expiry_of[i] then
    out[o + 1], out[o + 2], out[o + 3], out[o + 4] = i, 2, tonumber(tickets[i]), expiry_of[i]
    o = o + 4
  elseif entries[i] then
    out[o + 1], out[o + 2], out[o + 3], out[o + 4] = i, 3, tonumber(entries[i]), opens_at
    o = o + 4
  else
    k = k + 1
  end
end
if k > 0 then
  -- Arrival sequence numbers only grow, so new members go to the back in this order. A
  -- counter that fell behind the line (its hash lost, the line kept) resumes past the back
  -- of the line and past the last place given up. After a pre-queue, sequences start past
  -- its entries: the draw gives its entrants the places 1, 2, ... ahead of them.
  local last = math.max(tonumber(cfg[5] or '0'), tonumber(cfg[9] or '0'))
  for _, key in ipairs({KEYS[2], KEYS[5]}) do
    local back = tonumber(redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')[2] or '0')
    if back > last then last = back end
  end
  -- Sequences stay below the lease Postgres knows (`seqLimit`, extended by the api), so a
  -- queue Redis loses resumes above every sequence in anyone's token.
  local limit = tonumber(cfg[10] or '')
  if limit and last + k >= limit then return {-4} end
  if last > tonumber(cfg[5] or '0') then redis.call('HSET', KEYS[1], 'seq', last) end
  local first_seq = redis.call('HINCRBY', KEYS[1], 'seq', k) - k + 1
  local CHUNK = 500 -- arguments per call stay far below Lua's stack limit
  local args, a, j = {}, 0, 0
  for i = 1, n do
    if not seqs[i] and not expiry_of[i] and not entries[i] then
      args[a + 1], args[a + 2] = first_seq + j, ARGV[i]
      a, j = a + 2, j + 1
      if a == 2 * CHUNK then
        redis.call('ZADD', KEYS[2], unpack(args, 1, a))
        a = 0
      end
    end
  end
  if a > 0 then redis.call('ZADD', KEYS[2], unpack(args, 1, a)) end
  out[5], out[6] = first_seq, redis.call('ZCARD', KEYS[2]) - k + 1
end
return out
