-- session.lua (shared/src/session.rs owns this rule): prepended to every script that checks
-- or ends a booking session. A user's session is two entries of the concert's keys: `act`
-- (sorted set, user -> expiry ms) and `sess` (hash, user -> ticket id). It is active for a
-- ticket while `sess` names that ticket and `act` scores it past now.
local function session_is_active(act, sess, user, ticket, now)
  return redis.call('HGET', sess, user) == tostring(ticket)
    and tonumber(redis.call('ZSCORE', act, user) or '0') > now
end

-- Ends the session of `user` if it is still `ticket`'s; true when it ended one.
local function session_end(act, sess, user, ticket)
  if redis.call('HGET', sess, user) ~= tostring(ticket) then return false end
  redis.call('ZREM', act, user)
  redis.call('HDEL', sess, user)
  return true
end

