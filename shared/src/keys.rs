//! The Redis key layout: every key starts with `REDIS_PREFIX`, and every key of one
//! concert carries the hash tag `{c:<id>}` so a concert's scripts touch one cluster slot.

use std::fmt::Write;

/// Builds every key name from the configured prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Set of the ids of concerts whose queue is open (read by the admission scheduler).
    pub fn open_concerts(&self) -> String {
        format!("{}concerts", self.prefix)
    }

    /// String: the version of a user's balance, a random number set anew after every change
    /// of it commits (a charge, a payment), so that the api's in-memory copies of balances
    /// tell when they are out of date (`api/src/store/wallet.rs`). Kept a day after it was
    /// last set; a missing one means "unknown".
    pub fn wallet_version(&self, user_id: &str) -> String {
        format!("{}wallet:{user_id}", self.prefix)
    }

    /// The keys of one concert.
    pub fn concert(&self, concert_id: i64) -> ConcertKeys {
        ConcertKeys {
            base: format!("{}{{c:{concert_id}}}:", self.prefix),
        }
    }
}

/// The keys of one concert, all in the same hash slot.
#[derive(Debug, Clone)]
pub struct ConcertKeys {
    base: String,
}

impl ConcertKeys {
    /// What every key of this concert starts with (scripts that name keys by a runtime id,
    /// such as a schedule's held seats, build them from it).
    pub fn prefix(&self) -> &str {
        &self.base
    }

    fn key(&self, suffix: &str) -> String {
        let mut k = String::with_capacity(self.base.len() + suffix.len());
        k.push_str(&self.base);
        k.push_str(suffix);
        k
    }

    /// Hash: queue settings (`admitPerTick`, `tickMillis`, `maxActive`, `sessionTtl`, `paused`,
    /// `opensAt` in ms, absent or 0 for a queue open from its creation) and queue state (`seq`,
    /// `lastTick`, `rate`, `rateAt`, `admitted`; the draw's `commit`, `seed` (secret until
    /// `drawn`), `drawn`, `drawnAt`, `drawCount`, `preSeq`; `sellable`, the seats left to hold
    /// at the last tick; `closed`, `SOLD_OUT` or `CLOSED` once the queue closed; `seqLimit`,
    /// the counter's lease; `admittedThrough`, the highest sequence admitted; after Redis lost
    /// the queue, `lostBelow` and `admittedBefore`, see `queue_config::Resume`). Its existence
    /// means the concert has a queue; `closed` that it admits and takes nobody any more.
    pub fn config(&self) -> String {
        self.key("cfg")
    }

    /// Sorted set of waiting users: member = user id, score = arrival sequence.
    pub fn queue(&self) -> String {
        self.key("q")
    }

    /// Sorted set of the pre-queue (before `opensAt`): member = user id, score = entry number
    /// (`preSeq`). Drawn into the head of [`Self::queue`] at `opensAt`, then deleted.
    pub fn pre_queue(&self) -> String {
        self.key("pre")
    }

    /// String: the draw's published order, the 32-byte entrant ids
    /// (`shared::draw::entrant_id`) of the pre-queue concatenated in drawn order.
    pub fn draw(&self) -> String {
        self.key("draw")
    }

    /// Sorted set of sessions whose access token nobody has picked up yet: member = user id,
    /// score = the activation deadline (ms). A tick ends those past it.
    pub fn pending(&self) -> String {
        self.key("pend")
    }

    /// Hash: schedule id → seats of that schedule not sold yet, for schedules that have not
    /// started. Seeded from Postgres by the api (at creation, and when Redis lost it), lowered
    /// by each sale (`confirm.lua`); a started schedule's field is removed. With the held
    /// seats ([`Self::held_seats`]) it says how many seats are still sellable.
    pub fn unsold(&self) -> String {
        self.key("unsold")
    }

    /// Set of the users whose place came back from their queue token after Redis lost the
    /// line (a place comes back once).
    pub fn healed(&self) -> String {
        self.key("healed")
    }

    /// Set of the users whose session came back from their access token after Redis lost it
    /// (a session comes back once; see `session_restore.lua`).
    pub fn healed_sessions(&self) -> String {
        self.key("healedSess")
    }

    /// Sorted set of the arrival sequences given up by people who left the line (member and
    /// score = the sequence), trimmed below the head at each tick. With it a place's position
    /// is its sequence minus the head's, less the gaps between: no per-place `ZRANK`.
    pub fn queue_gaps(&self) -> String {
        self.key("gaps")
    }

    /// Sorted set of active sessions: member = user id, score = session expiry (ms).
    pub fn active(&self) -> String {
        self.key("act")
    }

    /// Hash of active sessions: user id → ticket id (the arrival sequence, the token's `jti`).
    pub fn sessions(&self) -> String {
        self.key("sess")
    }

    /// String: the hold of one seat, value = reservation id, `PX` = hold TTL.
    pub fn seat_hold(&self, schedule_id: i64, seat_id: i64) -> String {
        let mut k = self.key("h:");
        let _ = write!(k, "{schedule_id}:{seat_id}");
        k
    }

    /// Sorted set of held seats of one schedule: member = `<seat id>:<reservation id>`, score =
    /// hold expiry (ms).
    /// An index over the seat-hold keys so a seat map needs no per-seat lookups. Readers count
    /// the entries that score past now: lapsed ones stay until `hold.lua`'s upkeep drops them.
    pub fn held_seats(&self, schedule_id: i64) -> String {
        let mut k = self.key("held:");
        let _ = write!(k, "{schedule_id}");
        k
    }

    /// String: holds created for this concert so far (`hold.lua` counts each), a figure for
    /// the operator's console; kept about 90 days after the last hold (the concert's first
    /// hold sets the expiry, and about one hold in 16 after it pushes it on).
    pub fn holds_created(&self) -> String {
        self.key("holdsCreated")
    }

    /// Hash: user id → tickets of this concert the user bought, counted by `confirm.lua` once
    /// per reservation, for the ticket-limit check at hold time (a courtesy: the payment
    /// enforces the limit in Postgres); kept 90 days after the last sale. After Redis lost it,
    /// it counts the sales since.
    pub fn tickets_owned(&self) -> String {
        self.key("owned")
    }

    /// String: the one open hold of a user for this concert, value = reservation id.
    pub fn user_hold(&self, user_id: &str) -> String {
        self.key(&format!("uh:{user_id}"))
    }

    /// Hash: a reservation while held, kept 24 h after the hold ends.
    pub fn reservation(&self, reservation_id: &str) -> String {
        self.key(&format!("r:{reservation_id}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concert_keys_share_one_hash_tag() {
        let k = Keys::new("t:").concert(42);
        for key in [
            k.config(),
            k.queue(),
            k.queue_gaps(),
            k.active(),
            k.sessions(),
            k.seat_hold(1, 2),
            k.held_seats(1),
            k.user_hold("u"),
            k.pre_queue(),
            k.draw(),
            k.pending(),
            k.unsold(),
            k.healed(),
            k.healed_sessions(),
            k.holds_created(),
            k.tickets_owned(),
        ] {
            assert!(key.starts_with("t:{c:42}:"), "{key}");
        }
        assert_eq!(k.seat_hold(7, 9), "t:{c:42}:h:7:9");
    }
}
