//! The session rule: who may book. An admitted user's session is two entries of the
//! concert's keys: [`ConcertKeys::active`] (user → expiry, ms) and [`ConcertKeys::sessions`]
//! (user → ticket id). It is active for an access token while the hash names the token's
//! ticket and the expiry is past now.
//!
//! Admission starts sessions (`admit.lua`, in bulk), a payment (`confirm.lua`) or a leave
//! (`leave.lua`) ends one, the scheduler sweeps expired ones. The scripts that check or end a
//! single session use [`LUA`], this rule written in Lua; everything in Rust reads it here.
//! A session Redis lost comes back from the fan's access token ([`restore`]).

use redis::Pipeline;

use crate::{
    ids::{TicketId, UserId},
    keys::ConcertKeys,
};

/// The rule in Lua (`active_session_end`, `session_end`), prepended to a script's source.
pub const LUA: &str = include_str!("session.lua");

/// `LUA` followed by `script`: the source of a script that uses the rule.
pub fn script(script: &str) -> redis::Script {
    redis::Script::new(&format!("{LUA}{script}"))
}

static RESTORE: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| script(include_str!("session_restore.lua")));

/// Brings back the session of an access token (`user`, `ticket`, expiring at
/// `expires_at_ms`, the token's `exp`) that Redis lost, in one step (`session_restore.lua`):
/// only for a ticket handed out before the loss (below the config's `lostBelow`), a user
/// with no session now, once per user and concert, and while fewer sessions than
/// `maxActive` are running. True when it came back. The caller checks first that the
/// session was not used for a payment: Redis cannot know.
pub async fn restore<C>(
    conn: &mut C,
    k: &ConcertKeys,
    user: &UserId,
    ticket: TicketId,
    expires_at_ms: i64,
) -> redis::RedisResult<bool>
where
    C: redis::aio::ConnectionLike + Send,
{
    let restored: i64 = RESTORE
        .key(k.config())
        .key(k.active())
        .key(k.sessions())
        .key(k.healed_sessions())
        .arg(user.as_str())
        .arg(ticket)
        .arg(expires_at_ms)
        .invoke_async(conn)
        .await?;
    Ok(restored == 1)
}

/// One user's session as Redis has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Session {
    pub ticket: Option<TicketId>,
    pub expires_at_ms: Option<i64>,
}

impl Session {
    /// From the two replies [`read`] appends: the expiry score and the ticket.
    pub fn from_replies(expiry: Option<f64>, ticket: Option<&str>) -> Self {
        Self {
            ticket: ticket.and_then(|t| t.parse().ok()),
            expires_at_ms: expiry.map(|e| e as i64),
        }
    }

    /// Whether the session is active at `now_ms` for the token of `ticket`.
    pub fn is_active_for(&self, ticket: TicketId, now_ms: i64) -> bool {
        self.ticket == Some(ticket) && self.is_active(now_ms)
    }

    /// Whether some session (whichever ticket) is active at `now_ms`.
    pub fn is_active(&self, now_ms: i64) -> bool {
        self.ticket.is_some() && self.expires_at_ms.is_some_and(|e| e > now_ms)
    }
}

/// Appends the reads of `user`'s session to `pipe`: two replies, `Option<f64>` and
/// `Option<String>`, for [`Session::from_replies`].
pub fn read(pipe: &mut Pipeline, k: &ConcertKeys, user: &UserId) {
    pipe.cmd("ZSCORE").arg(k.active()).arg(user.as_str());
    pipe.cmd("HGET").arg(k.sessions()).arg(user.as_str());
}

/// Appends the reads of several users' sessions to `pipe`: two replies, `Vec<Option<f64>>`
/// and `Vec<Option<String>>`, one entry per user, for [`Session::from_replies`].
pub fn read_many(pipe: &mut Pipeline, k: &ConcertKeys, users: &[&str]) {
    pipe.cmd("ZMSCORE").arg(k.active()).arg(users);
    pipe.cmd("HMGET").arg(k.sessions()).arg(users);
}

/// Appends the start of a session to `pipe` (no replies). Admission starts sessions in
/// `admit.lua`; this is for tools and tests that put a user straight into the room.
pub fn start(
    pipe: &mut Pipeline,
    k: &ConcertKeys,
    user: &UserId,
    ticket: TicketId,
    expires_at_ms: i64,
) {
    pipe.cmd("ZADD")
        .arg(k.active())
        .arg(expires_at_ms)
        .arg(user.as_str())
        .ignore();
    pipe.cmd("HSET")
        .arg(k.sessions())
        .arg(user.as_str())
        .arg(ticket)
        .ignore();
}

/// Appends the end of `user`'s session, whichever its ticket, to `pipe` (no replies). The
/// scripts end a session only for its own ticket (`session_end` in [`LUA`]); this is for
/// tools and tests.
pub fn end(pipe: &mut Pipeline, k: &ConcertKeys, user: &UserId) {
    pipe.cmd("ZREM").arg(k.active()).arg(user.as_str()).ignore();
    pipe.cmd("HDEL")
        .arg(k.sessions())
        .arg(user.as_str())
        .ignore();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_only_for_its_own_ticket_and_before_expiry() {
        let s = Session::from_replies(Some(2_000.0), Some("7"));
        assert!(s.is_active_for(TicketId::new(7), 1_999));
        assert!(!s.is_active_for(TicketId::new(7), 2_000));
        assert!(!s.is_active_for(TicketId::new(8), 1_000));
        assert!(!Session::from_replies(None, Some("7")).is_active(0));
        assert!(!Session::from_replies(Some(2_000.0), None).is_active(0));
    }
}
