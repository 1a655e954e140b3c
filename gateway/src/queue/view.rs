//! Line views: what a status poll needs to know about a concert's line (where its head is,
//! which places behind it were given up, how fast it moves), read from Redis in one
//! `MULTI`/`EXEC` and shared by every poll of that concert for up to `STATUS_VIEW_MS`.
//!
//! Positions need no per-place `ZRANK`: arrival sequences are handed out one by one and
//! leave the line only from its head (admission) or as a gap (a place given up, recorded by
//! `leave.lua` and trimmed behind the head by each tick). So the place with sequence `s` is at
//! `s - head + 1 - (gaps between the head and s)`.
//!
//! A view answers a poll only where being a few ticks late cannot mislead: a place further
//! back than the view's lifetime of admissions is waiting (its position at most that old), a
//! gap was given up. Everything else (below the head: admitted, expired or gone; near the
//! front: may be admitted any moment; past the gaps read) is asked of Redis per poll
//! ([`super::store::status_batch`]). Whatever this gateway changes (a tick of its scheduler, a
//! leave, new settings) drops the concert's view at once, so only other instances' changes
//! are seen up to `STATUS_VIEW_MS` late.

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock},
    time::{Duration, Instant},
};

use shared::{
    ids::{ConcertId, TicketId},
    keys::{ConcertKeys, Keys},
    redis_pool::Pool,
};
use tokio::sync::OnceCell;

use super::{is_pre_queue, Closure, Pace, Standing};
use crate::error::{GatewayError, Result};

/// At most this many gaps are read per view; a place behind more of them is asked of Redis
/// (ranked with `ZRANK`: a line thousands have left since the last tick).
pub const MAX_GAPS: usize = 1000;

/// One concert's line as read at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct LineView {
    pub pace: Pace,
    /// The head's sequence (0 for an empty line).
    head: u64,
    length: u64,
    /// The sequence counter: places with a higher sequence joined after the read.
    last_seq: u64,
    /// Sequences given up at or behind the head, ascending (those before the head are
    /// trimmed only by the next tick, and skipped).
    gaps: Vec<u64>,
    /// Every gap was read (fewer than [`MAX_GAPS`]).
    gaps_complete: bool,
    pub sale: Sale,
}

/// Where a concert's sale stands.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sale {
    /// When the sale opens (ms), 0 for a queue open from its creation.
    pub opens_at_ms: i64,
    /// The pre-queue has been drawn (or there was none).
    pub drawn: bool,
    /// The draw placed its entrants at sequences `drawn_first..drawn_first + drawn_count`.
    pub drawn_first: u64,
    pub drawn_count: u64,
    pub closed: Option<Closure>,
    /// After Redis lost the line: every sequence below this was handed out before the loss
    /// (0: no loss). Places from before it come back from fans' tokens (`heal.lua`).
    pub lost_below: u64,
    /// After a loss: the highest sequence admitted before it (such places do not come back).
    pub admitted_before: u64,
}

/// The replies to [`LineView::read`]'s commands, in order.
pub type LineReads = (Vec<Option<String>>, Vec<String>, u64, Vec<u64>);

impl LineView {
    /// Appends the reads a view is made of to `pipe` (four commands; see [`LineReads`]).
    pub fn read(pipe: &mut redis::Pipeline, k: &ConcertKeys) {
        pipe.cmd("HMGET")
            .arg(k.config())
            .arg(&[
                "admitPerTick",
                "tickMillis",
                "paused",
                "rate",
                "seq",
                "opensAt",
                "drawn",
                "drawCount",
                "closed",
                "sellable",
                "lostBelow",
                "admittedBefore",
                "drawFirst",
            ])
            .cmd("ZRANGE")
            .arg(k.queue())
            .arg(0)
            .arg(0)
            .arg("WITHSCORES")
            .cmd("ZCARD")
            .arg(k.queue())
            .cmd("ZRANGE")
            .arg(k.queue_gaps())
            .arg(0)
            .arg(MAX_GAPS - 1);
    }

    /// The view from its reads; `None` when the concert has no open queue.
    pub fn from_reads((cfg, head, length, gaps): LineReads) -> Result<Option<Self>> {
        let [Some(admit), Some(tick), paused, rate, seq, opens_at, drawn, drawn_count, closed, sellable, lost_below, admitted_before, drawn_first] =
            <[Option<String>; 13]>::try_from(cfg)
                .map_err(|_| anyhow::anyhow!("HMGET answered the wrong number of fields"))?
        else {
            return Ok(None);
        };
        let number = |field: Option<String>| field.and_then(|f| f.parse::<i64>().ok());
        let opens_at_ms = number(opens_at).unwrap_or(0);
        let sale = Sale {
            opens_at_ms,
            drawn: opens_at_ms <= 0 || drawn.as_deref() == Some("1"),
            drawn_first: number(drawn_first).unwrap_or(0).max(0) as u64,
            drawn_count: number(drawn_count).unwrap_or(0).max(0) as u64,
            closed: closed.as_deref().map(Closure::parse),
            lost_below: number(lost_below).unwrap_or(0).max(0) as u64,
            admitted_before: number(admitted_before).unwrap_or(0).max(0) as u64,
        };
        let head = head
            .get(1)
            .and_then(|h| h.parse::<f64>().ok())
            .unwrap_or(0.0) as u64;
        let gaps_complete = gaps.len() < MAX_GAPS;
        let behind = gaps.partition_point(|g| *g < head);
        let mut pace = Pace::from_parts(
            rate.as_deref().unwrap_or(""),
            admit.parse().unwrap_or(0),
            tick.parse().unwrap_or(1000),
            paused.as_deref().map_or(0, |p| p.parse().unwrap_or(0)),
        );
        pace.waiting_for_seats = number(sellable) == Some(0);
        Ok(Some(Self {
            pace,
            sale,
            head,
            length,
            last_seq: seq.and_then(|s| s.parse().ok()).unwrap_or(0),
            gaps: gaps[behind..].to_vec(),
            gaps_complete,
        }))
    }

    /// One round trip: the view of a concert's line, `None` when it has no open queue.
    pub async fn fetch(redis: &Pool, keys: &Keys, concert_id: ConcertId) -> Result<Option<Self>> {
        let mut pipe = redis::pipe();
        LineView::read(pipe.atomic(), &keys.concert(concert_id.get()));
        let mut conn = redis.get().await?;
        Self::from_reads(pipe.query_async(&mut conn).await?)
    }

    /// The position of `ticket`, a place known to be in line: its sequence less the head's,
    /// less the gaps between. `None` when the view cannot tell: the place is past the gaps
    /// read, or the result is out of range (a line Redis partly lost).
    pub fn position(&self, ticket: TicketId) -> Option<u64> {
        let ticket = ticket.get();
        if self.head == 0 || ticket < self.head {
            return None;
        }
        // Places that came back after a loss are ahead of the arithmetic (their sequences are
        // not contiguous, and fans who never come back leave holes nobody recorded): while
        // any is in line, positions are ranks, asked of Redis.
        if self.head < self.sale.lost_below {
            return None;
        }
        if !self.gaps_complete && self.gaps.last().is_none_or(|g| *g <= ticket) {
            return None;
        }
        let gaps_between = self.gaps.partition_point(|g| *g < ticket) as u64;
        let position = (ticket - self.head + 1).checked_sub(gaps_between)?;
        // Places that joined after the read are behind the line it saw.
        let length = self.length + ticket.saturating_sub(self.last_seq);
        (1..=length).contains(&position).then_some(position)
    }

    /// Where `ticket` stands, when the view can say so without asking Redis: waiting further
    /// back than `front` (at most that many can be admitted while the view lives, if ticks
    /// keep their pace; a late tick bunched with the next can leave someone just admitted
    /// reading WAITING until the next poll), or given up. `None`: ask Redis.
    ///
    /// A ticket the counter had not reached when the view was read also goes to Redis: a
    /// place that new (polled within `STATUS_VIEW_MS` of joining) is rare, and a token from
    /// before Redis lost the line (its counter restarted) must read EXPIRED, not the place
    /// of whoever has that sequence now. (Once the new counter passes an old ticket, the
    /// view cannot tell; such a poll reads that place's position until it nears the front,
    /// where Redis is asked.)
    pub fn standing(&self, ticket: TicketId, front: u64) -> Option<Standing> {
        // A closed line may still hold running sessions, and a pre-queue entry is checked in
        // the pre-queue: both are Redis's to answer.
        if self.sale.closed.is_some() || is_pre_queue(ticket) || ticket.get() > self.last_seq {
            return None;
        }
        if self.gaps.binary_search(&ticket.get()).is_ok() {
            return Some(Standing::Expired);
        }
        let position = self.position(ticket)?;
        (position > front).then_some(Standing::Waiting {
            position,
            pace: self.pace,
        })
    }
}

/// The line views of every concert polled lately, each read at most every `max_age`.
pub struct LineViews {
    max_age: Duration,
    views: RwLock<HashMap<ConcertId, Arc<Slot>>>,
}

/// One concert's view: read once by whichever poll first needs it; polls that arrive
/// meanwhile wait for the same read and share its answer, a failure included (while Redis
/// is down, one read per `max_age` fails and every poll answers 503 at once, rather than
/// each waiting for its own attempt in turn).
struct Slot {
    created: Instant,
    view: OnceCell<std::result::Result<Option<LineView>, GatewayError>>,
}

impl LineViews {
    /// Views that live `max_age`; zero turns them off (every poll asks Redis).
    pub fn new(max_age: Duration) -> Self {
        Self {
            max_age,
            views: RwLock::default(),
        }
    }

    /// Where `ticket` of `concert_id` stands by the concert's view (read first if it is
    /// missing or older than `max_age`); `None` when Redis must be asked. A concert with no
    /// queue in Redis is [`GatewayError::Restoring`].
    pub async fn standing(
        &self,
        redis: &Pool,
        keys: &Keys,
        concert_id: ConcertId,
        ticket: TicketId,
    ) -> Result<Option<Standing>> {
        if self.max_age.is_zero() {
            return Ok(None);
        }
        let slot = self.slot(concert_id);
        let read = match slot.view.get() {
            Some(read) => read,
            None => {
                slot.view
                    .get_or_init(|| LineView::fetch(redis, keys, concert_id))
                    .await
            }
        };
        let view = match read {
            Ok(view) => view,
            Err(e) => {
                // Shared by the polls that waited on this read, not kept: the next poll
                // reads again.
                self.drop_slot(concert_id, &slot);
                return Err(e.replicate());
            }
        };
        match view {
            // A token's queue that Redis no longer has was lost, not closed (a closed queue
            // keeps its config): the api opens it again within seconds.
            None => Err(GatewayError::Restoring),
            Some(view) => Ok(view.standing(ticket, self.front(&view.pace))),
        }
    }

    /// Drops a concert's view: the next poll reads the line again. Called after whatever
    /// this gateway changes in it.
    pub fn forget(&self, concert_id: ConcertId) {
        if self.max_age.is_zero() {
            return;
        }
        self.views
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&concert_id);
    }

    fn drop_slot(&self, concert_id: ConcertId, slot: &Arc<Slot>) {
        let mut views = self.views.write().unwrap_or_else(PoisonError::into_inner);
        if views.get(&concert_id).is_some_and(|s| Arc::ptr_eq(s, slot)) {
            views.remove(&concert_id);
        }
    }

    /// How many places at the front may be admitted while a view lives: the ticks that fit
    /// in its lifetime, and the one under way, at `admitPerTick` each.
    fn front(&self, pace: &Pace) -> u64 {
        let tick = u128::from(pace.tick_millis.max(1));
        let ticks = self.max_age.as_millis().div_ceil(tick) as u64 + 1;
        ticks.saturating_mul(u64::from(pace.admit_per_tick))
    }

    fn slot(&self, concert_id: ConcertId) -> Arc<Slot> {
        let now = Instant::now();
        let fresh = |slot: &Slot| now.saturating_duration_since(slot.created) < self.max_age;
        if let Some(slot) = self
            .views
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&concert_id)
            .filter(|s| fresh(s))
        {
            return slot.clone();
        }
        let mut views = self.views.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = views.get(&concert_id).filter(|s| fresh(s)) {
            return slot.clone();
        }
        // Concerts nobody polls any more (closed, sold out) do not stay.
        views.retain(|_, s| fresh(s));
        let slot = Arc::new(Slot {
            created: now,
            view: OnceCell::new(),
        });
        views.insert(concert_id, slot.clone());
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(head: u64, length: u64, last_seq: u64, gaps: &[u64]) -> LineView {
        LineView {
            pace: Pace {
                measured_per_second: None,
                admit_per_tick: 10,
                tick_millis: 1000,
                paused: false,
                waiting_for_seats: false,
            },
            sale: Sale::default(),
            head,
            length,
            last_seq,
            gaps: gaps.to_vec(),
            gaps_complete: true,
        }
    }

    #[test]
    fn positions_skip_the_gaps_between_the_head_and_the_place() {
        // Sequences 5..=20 handed out, 8 and 12 given up: 14 in line.
        let v = view(5, 14, 20, &[8, 12]);
        assert_eq!(v.position(TicketId::new(5)), Some(1));
        assert_eq!(v.position(TicketId::new(7)), Some(3));
        assert_eq!(v.position(TicketId::new(9)), Some(4));
        assert_eq!(v.position(TicketId::new(20)), Some(14));
        assert_eq!(
            v.position(TicketId::new(4)),
            None,
            "below the head: admitted or gone"
        );
        assert_eq!(
            v.position(TicketId::new(22)),
            Some(16),
            "joined after the read"
        );
        assert_eq!(
            view(0, 0, 20, &[]).position(TicketId::new(21)),
            None,
            "an empty line has no head"
        );
        assert_eq!(
            view(5, 3, 20, &[]).position(TicketId::new(10)),
            None,
            "longer than the line: lost data"
        );
    }

    #[test]
    fn a_view_answers_only_behind_the_front_and_for_gaps() {
        let v = view(5, 14, 20, &[8, 12]);
        assert_eq!(v.standing(TicketId::new(8), 2), Some(Standing::Expired));
        assert_eq!(
            v.standing(TicketId::new(6), 2),
            None,
            "near the front: ask Redis"
        );
        assert_eq!(
            v.standing(TicketId::new(4), 2),
            None,
            "below the head: ask Redis"
        );
        assert_eq!(
            v.standing(TicketId::new(21), 2),
            None,
            "past the counter: ask Redis"
        );
        assert_eq!(
            v.standing(TicketId::new(7), 2),
            Some(Standing::Waiting {
                position: 3,
                pace: v.pace
            })
        );
        let mut partial = view(5, 14, 20, &[8, 12]);
        partial.gaps_complete = false;
        assert_eq!(partial.standing(TicketId::new(11), 0).map(|_| ()), Some(()));
        assert_eq!(
            partial.standing(TicketId::new(13), 0),
            None,
            "past the gaps read"
        );
    }

    #[test]
    fn the_front_covers_every_tick_a_view_lives_through() {
        let pace = view(1, 1, 1, &[]).pace; // 10 per 1000 ms
        assert_eq!(LineViews::new(Duration::from_millis(100)).front(&pace), 20);
        assert_eq!(LineViews::new(Duration::from_millis(2500)).front(&pace), 40);
    }
}
