//! A concert's waiting line: what joins and polls answer, and the pacing rules (no I/O here).
//!
//! The pacing rules say how fast the line moves: the estimated wait and the poll interval.
//!
//! - `queue/store.rs`: the line in Redis; every operation is one round trip (one `EVALSHA`,
//!   or for a status poll one `MULTI`/`EXEC` of reads). The Lua scripts live in `queue/`.
//! - `queue/view.rs`: a shared, short-lived view of each line, which answers most status
//!   polls without Redis.
//! - `queue/batch.rs`: coalesces concurrent joins and polls of one concert into one call.

pub mod batch;
pub mod draw;
pub mod store;
pub mod view;

use shared::ids::{ConcertId, TicketId, UserId};

/// Tickets of the pre-queue are numbered from here (`PRE_QUEUE_TICKETS + entry number`), far
/// above any arrival sequence: a queue token says by its ticket alone which of the two it
/// names. At the draw a pre-queue entrant gets a place in line (a sequence), and the next
/// status answer hands out a token for it.
pub const PRE_QUEUE_TICKETS: u64 = 1 << 40;

/// Whether `ticket` is a pre-queue entry rather than a place in line.
pub fn is_pre_queue(ticket: TicketId) -> bool {
    ticket.get() >= PRE_QUEUE_TICKETS
}

/// Why a queue closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closure {
    /// Every seat is sold.
    SoldOut,
    /// Closed by the promoter, or every date has started.
    Closed,
}

impl Closure {
    /// The config hash's `closed` field.
    pub fn parse(field: &str) -> Self {
        match field {
            "SOLD_OUT" => Self::SoldOut,
            _ => Self::Closed,
        }
    }
}

/// A place in a concert's line, as a queue token seals it: the ticket (its arrival sequence,
/// kept by the session it turns into, or a pre-queue entry) and whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub concert_id: ConcertId,
    pub ticket_id: TicketId,
    pub user_id: UserId,
}

/// How fast a queue moves: the measured admission rate and the configured pace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// Smoothed admissions per second, measured by the scheduler; `None` until the queue
    /// has run with people waiting.
    pub measured_per_second: Option<f64>,
    pub admit_per_tick: u32,
    pub tick_millis: u32,
    pub paused: bool,
    /// Every seat left is held: the line waits for holds to lapse or be released.
    pub waiting_for_seats: bool,
}

impl Pace {
    fn from_parts(rate: &str, admit_per_tick: i64, tick_millis: i64, paused: i64) -> Self {
        Self {
            measured_per_second: rate.parse().ok().filter(|r: &f64| r.is_finite()),
            admit_per_tick: admit_per_tick.max(0) as u32,
            tick_millis: tick_millis.max(1) as u32,
            paused: paused != 0,
            waiting_for_seats: false,
        }
    }

    /// Admissions per second: the measured rate, however low it falls while nobody is
    /// admitted (a full room); the configured one only until a measurement exists.
    pub fn per_second(&self) -> f64 {
        self.measured_per_second.unwrap_or_else(|| {
            f64::from(self.admit_per_tick) * 1000.0 / f64::from(self.tick_millis.max(1))
        })
    }

    /// Seconds until `position` is admitted at the current pace.
    pub fn estimated_wait_secs(&self, position: u64) -> u64 {
        if position == 0 {
            return 0;
        }
        (position as f64 / self.per_second().max(1e-3))
            .ceil()
            .min(86_400.0 * 7.0) as u64
    }

    /// When a waiting client should poll again: about ten polls over its wait, 1 s near
    /// the front (and for anyone the next two ticks admit, however slow the measured pace),
    /// at most 15 s at the back, spread by ticket so clients do not poll in step. While
    /// paused nothing moves: the front polls every 5 s to see the sale resume, the back less
    /// often (its wait at the configured pace), at most every 30 s.
    pub fn poll_after_ms(&self, position: u64, ticket_id: TicketId) -> u64 {
        let next_ticks = 2 * u64::from(self.admit_per_tick);
        let base = if self.paused || self.waiting_for_seats {
            let configured =
                f64::from(self.admit_per_tick) * 1000.0 / f64::from(self.tick_millis.max(1));
            ((position as f64 / configured.max(1e-3)) * 100.0).clamp(5_000.0, 30_000.0) as u64
        } else if position <= next_ticks {
            1_000
        } else {
            (self.estimated_wait_secs(position) * 100).clamp(1_000, 15_000)
        };
        let spread = 90 + ticket_id.get() % 21; // 90%..110%
        (base * spread / 100).clamp(1_000, 33_000)
    }
}

/// The answer to a join.
#[derive(Debug, Clone, PartialEq)]
pub enum Joined {
    UnknownConcert,
    Closed(Closure),
    /// In the pre-queue (a new entry, or the one the user had).
    PreQueue {
        new: bool,
        ticket_id: TicketId,
        opens_at_ms: i64,
    },
    Waiting {
        new: bool,
        ticket_id: TicketId,
        position: u64,
        pace: Pace,
    },
    Active {
        ticket_id: TicketId,
        expires_at_ms: i64,
    },
}

/// Where a ticket stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Standing {
    /// In the pre-queue, drawn at `opens_at_ms` (or being drawn, once that has passed).
    PreQueue {
        opens_at_ms: i64,
    },
    Waiting {
        position: u64,
        pace: Pace,
    },
    Active {
        expires_at_ms: i64,
        /// Nobody has picked up the session's access token yet.
        pending: bool,
    },
    /// A pre-queue entry drawn into the line: from now on it is `ticket_id`, standing so.
    Drawn {
        ticket_id: TicketId,
        standing: Box<Standing>,
    },
    /// A pre-queue entry from before Redis lost the line, after its draw: its drawn place may
    /// come back from the draw (which comes back with the queue); the waiting room looks it
    /// up and answers what the place is then.
    DrawnPlaceLost,
    /// Given up, lapsed, or a place the queue no longer has.
    Expired,
    /// The queue closed before this place was admitted.
    Closed(Closure),
}

/// The numbers of one queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueStats {
    /// In line, or in the pre-queue before the draw.
    pub waiting: u64,
    pub active: u64,
    pub pace: Pace,
    /// When the sale opens (a sale with a pre-queue).
    pub opens_at_ms: Option<i64>,
    /// The pre-queue has been drawn (or there was none).
    pub drawn: bool,
    pub closed: Option<Closure>,
    /// Seats neither sold nor held at the last tick; `None` while not counted.
    pub sellable: Option<u64>,
}

/// An open concert as the index page lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenConcert {
    pub concert_id: ConcertId,
    pub name: String,
    pub paused: bool,
    pub waiting: u64,
    pub active: u64,
    /// When the sale opens (a sale with a pre-queue).
    pub opens_at_ms: Option<i64>,
    /// The pre-queue has been drawn (or there was none).
    pub drawn: bool,
    pub closed: Option<Closure>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pace(rate: Option<f64>) -> Pace {
        Pace {
            measured_per_second: rate,
            admit_per_tick: 10,
            tick_millis: 1000,
            paused: false,
            waiting_for_seats: false,
        }
    }

    #[test]
    fn a_paused_line_polls_every_5_s_at_the_front_and_rarely_at_the_back() {
        let paused = Pace {
            paused: true,
            ..pace(Some(2.0))
        };
        assert_eq!(
            paused.poll_after_ms(1, TicketId::new(10)),
            5_000,
            "the front sees a resume soon"
        );
        assert_eq!(
            paused.poll_after_ms(100_000, TicketId::new(10)),
            30_000,
            "the back polls rarely"
        );
        assert!((27_000..=33_000).contains(&paused.poll_after_ms(100_000, TicketId::new(3))));
    }

    #[test]
    fn the_next_ticks_poll_every_second_even_when_the_room_stays_full() {
        let stalled = pace(Some(0.001));
        assert_eq!(
            stalled.poll_after_ms(20, TicketId::new(10)),
            1_000,
            "admitted within two ticks of 10"
        );
        assert_eq!(
            stalled.poll_after_ms(21, TicketId::new(10)),
            15_000,
            "further back: the slow pace"
        );
    }

    #[test]
    fn wait_uses_the_measured_rate_once_there_is_one() {
        assert_eq!(
            pace(None).estimated_wait_secs(100),
            10,
            "configured 10/s before any measurement"
        );
        assert_eq!(pace(Some(2.0)).estimated_wait_secs(100), 50, "measured 2/s");
        assert_eq!(pace(Some(2.0)).estimated_wait_secs(0), 0);
        assert_eq!(
            pace(Some(0.005)).estimated_wait_secs(2),
            400,
            "a room that stays full: the slow measured pace, not the configured 10/s"
        );
    }

    #[test]
    fn poll_interval_grows_with_distance_from_the_head() {
        let p = pace(Some(10.0));
        let near = p.poll_after_ms(5, TicketId::new(0));
        let far = p.poll_after_ms(100_000, TicketId::new(0));
        assert!((900..=1100).contains(&near), "{near}");
        assert!(far >= 13_000, "{far}");
        assert!(p.poll_after_ms(1_000, TicketId::new(0)) < far);
    }
}
