-- session.lua (shared/src/session.rs owns this rule): prepended to every script that checks
-- or ends a booking session. A user's session is two entries of the concert's keys: `act`
-- (sorted set, user -> expiry ms) and `sess` (hash, user -> ticket id). It is active for a
-- ticket while `sess` names that ticket and `act` scores it past now.
-- When the session of `user` is active for `ticket` at `now`, its end (ms); else nil.
local function active_session_end(act, sess, user, ticket, now)
  if redis.call('HGET', sess, user) ~= tostring(ticket) then return nil end
  local ends = tonumber(redis.call('ZSCORE', act, user) or '0')
  if ends > now then return ends end
  return nil
end

-- Ends the session of `user` if it is still `ticket`'s; true when it ended one.
local function session_end(act, sess, user, ticket)
  if redis.call('HGET', sess, user) ~= tostring(ticket) then return false end
  redis.call('ZREM', act, user)
  redis.call('HDEL', sess, user)
  return true
end

