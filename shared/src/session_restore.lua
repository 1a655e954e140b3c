-- session_restore.lua (shared/src/session.rs owns this rule): brings back a booking session
-- that Redis lost, from the access token the fan presents. After a loss the api re-opens the
-- queue with `lostBelow` (every ticket handed out before the loss is below it). A token's
-- session comes back, until the token's own expiry, when its ticket is from before the loss,
-- the user has no session now (whichever ticket), it has not come back already
-- (`healedSess`), the queue is not closed, and the room has space: fewer sessions not
-- expired than `maxActive`. The caller has checked that the session was not used for a
-- payment (Postgres). Check and start are one step, so the room is never overfilled.
-- KEYS: 1 config hash, 2 active (zset user -> expiry ms), 3 sessions (hash user -> ticket
--       id), 4 users whose session came back (set)
-- ARGV: 1 user id, 2 ticket id (the token's jti), 3 the token's expiry (ms)
-- Returns 1 when the session came back, 0 otherwise
local c = redis.call('HMGET', KEYS[1], 'lostBelow', 'maxActive', 'closed')
if not c[1] or c[3] then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local user, ticket, expires = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if not ticket or ticket >= tonumber(c[1]) or not expires or expires <= now then return 0 end
if redis.call('HEXISTS', KEYS[3], user) == 1 then return 0 end
if redis.call('SISMEMBER', KEYS[4], user) == 1 then return 0 end
if redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf') >= tonumber(c[2] or '0') then return 0 end
redis.call('SADD', KEYS[4], user)
-- The set lasts as long as the latest session it brought back: past that, every token that
-- could come back has expired.
redis.call('PEXPIREAT', KEYS[4], expires, 'NX')
redis.call('PEXPIREAT', KEYS[4], expires, 'GT')
redis.call('ZADD', KEYS[2], expires, user)
redis.call('HSET', KEYS[3], user, ARGV[2])
return 1
