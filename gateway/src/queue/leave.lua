-- leave.lua: gives up a place in line or ends an active session, freeing room at once. Runs
-- after the session rule (shared/src/session.lua, prepended by `shared::session::script`).
-- KEYS: 1 waiting queue, 2 active, 3 sessions, 4 gaps (sequences given up; see queue/view.rs)
-- ARGV: 1 user id, 2 ticket id
-- Returns 1 place given up, 2 session ended, 0 nothing held by this ticket
local user, ticket = ARGV[1], ARGV[2]
local seq = redis.call('ZSCORE', KEYS[1], user)
if seq and tonumber(seq) == tonumber(ticket) then
  redis.call('ZREM', KEYS[1], user)
  redis.call('ZADD', KEYS[4], seq, seq)
  return 1
end
if session_end(KEYS[2], KEYS[3], user, ticket) then return 2 end
return 0
