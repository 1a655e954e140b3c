//! A concert's sale in figures, for the operator's console: seats and tickets sold from
//! Postgres, seats held now and holds created from Redis.
//!
//! Holds live only in Redis and nothing else remembers them, so `hold.lua` counts each hold it
//! makes (`ConcertKeys::holds_created`), in the same call, for the console to set against the
//! payments. A figure for people, not a fence: it starts again from zero when Redis lost its data.

use chrono::{DateTime, Utc};
use shared::{ids::ConcertId, keys::Keys, redis_pool::Pool};
use sqlx::PgPool;

use crate::{error::Result, store::holds::now_ms};

/// One schedule's sales as Postgres has them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScheduleSales {
    pub schedule_id: i64,
    pub starts_at: DateTime<Utc>,
    pub total_seats: i32,
    /// Tickets sold (a seat sells once: `tickets_schedule_seat_key`).
    pub sold: i64,
    /// The tickets' prices summed: each payment pays exactly its tickets' prices, in the same
    /// statement that writes them.
    pub revenue: i64,
    /// Reservations paid: one payment each.
    pub paid: i64,
}

/// The schedules of `concert_id` with their sales, by start time; empty when there is no
/// such concert (a concert has at least one schedule). One round trip, on the tickets'
/// `(schedule_id, seat_id)` index.
pub async fn schedule_sales(db: &PgPool, concert_id: ConcertId) -> Result<Vec<ScheduleSales>> {
    Ok(sqlx::query_as(
        "SELECT s.id AS schedule_id, s.starts_at, s.total_seats,
                count(t.id) AS sold,
                COALESCE(sum(t.price), 0)::BIGINT AS revenue,
                count(DISTINCT t.reservation_id) AS paid
         FROM schedules s LEFT JOIN tickets t ON t.schedule_id = s.id
         WHERE s.concert_id = $1
         GROUP BY s.id
         ORDER BY s.starts_at, s.id",
    )
    .bind(concert_id.get())
    .fetch_all(db)
    .await?)
}

/// What Redis says of a concert's holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldFigures {
    /// Seats held now, per schedule in the order asked.
    pub held: Vec<u64>,
    /// Holds created so far (see the module's note).
    pub created: u64,
}

/// The seats held now of each of `schedule_ids` (the held-seat index, live entries only) and
/// the holds created; one round trip.
pub async fn hold_figures(
    redis: &Pool,
    keys: &Keys,
    concert_id: ConcertId,
    schedule_ids: &[i64],
) -> Result<HoldFigures> {
    let k = keys.concert(concert_id.get());
    let now = now_ms();
    let mut pipe = redis::pipe();
    for id in schedule_ids {
        pipe.cmd("ZCOUNT")
            .arg(k.held_seats(*id))
            .arg(format!("({now}"))
            .arg("+inf");
    }
    pipe.cmd("GET").arg(k.holds_created());
    let mut conn = redis.get().await?;
    let mut replies: Vec<Option<u64>> = pipe.query_async(&mut conn).await?;
    let created = replies.pop().flatten().unwrap_or(0);
    Ok(HoldFigures {
        held: replies.into_iter().map(Option::unwrap_or_default).collect(),
        created,
    })
}
