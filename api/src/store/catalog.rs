//! Concerts, schedules and seats, and the concerts' queues in Redis. Seat rows never change
//! once created, so the api keeps an in-memory copy per schedule; the sold seats too, kept
//! as long as the schedule's sale version in Redis says no sale happened since.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, LazyLock, RwLock},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use shared::{
    config::QueueSettings,
    ids::{ConcertId, UserId},
    keys::Keys,
    queue_config::Opening,
    redis_pool::Pool,
};
use sqlx::PgPool;

use crate::{
    domain::{NewConcert, NewSchedule},
    error::{ApiError, Result},
};

/// Where concerts are written: their rows in Postgres, their queues in Redis (opened with
/// `queue_defaults`).
#[derive(Clone, Copy)]
pub struct Catalog<'a> {
    pub db: &'a PgPool,
    pub redis: &'a Pool,
    pub keys: &'a Keys,
    pub queue_defaults: &'a QueueSettings,
}

/// One seat as created.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Seat {
    pub id: i64,
    pub number: i32,
    pub price: i64,
}

/// A schedule and its seats, ordered by seat number.
#[derive(Debug)]
pub struct ScheduleSeats {
    pub schedule_id: i64,
    pub concert_id: i64,
    pub starts_at: DateTime<Utc>,
    pub seats: Vec<Seat>,
    by_id: HashMap<i64, usize>,
}

impl ScheduleSeats {
    pub fn seat(&self, seat_id: i64) -> Option<&Seat> {
        self.by_id.get(&seat_id).map(|&i| &self.seats[i])
    }
}

/// The in-memory copy of seat rows, filled on first use per schedule.
#[derive(Debug, Default)]
pub struct SeatCatalog {
    schedules: RwLock<HashMap<i64, Arc<ScheduleSeats>>>,
    /// Each concert's schedules (created with the concert, never changed).
    concerts: RwLock<HashMap<i64, Arc<Vec<ScheduleRow>>>>,
    /// The sold seats of each schedule.
    pub sold: SoldSeats,
}

const MAX_CACHED_SCHEDULES: usize = 10_000;

impl SeatCatalog {
    /// The schedule with its seats, or `None` when there is no such schedule.
    pub async fn schedule(
        &self,
        db: &PgPool,
        schedule_id: i64,
    ) -> Result<Option<Arc<ScheduleSeats>>> {
        if let Some(s) = self
            .schedules
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&schedule_id)
        {
            return Ok(Some(s.clone()));
        }
        let Some((concert_id, starts_at)) = sqlx::query_as::<_, (i64, DateTime<Utc>)>(
            "SELECT concert_id, starts_at FROM schedules WHERE id = $1",
        )
        .bind(schedule_id)
        .fetch_optional(db)
        .await?
        else {
            return Ok(None);
        };
        let seats: Vec<Seat> = sqlx::query_as(
            "SELECT id, seat_number AS number, price FROM seats WHERE schedule_id = $1 ORDER BY seat_number",
        )
        .bind(schedule_id)
        .fetch_all(db)
        .await?;
        let by_id = seats.iter().enumerate().map(|(i, s)| (s.id, i)).collect();
        let entry = Arc::new(ScheduleSeats {
            schedule_id,
            concert_id,
            starts_at,
            seats,
            by_id,
        });
        let mut map = self.schedules.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_CACHED_SCHEDULES {
            map.clear();
        }
        map.insert(schedule_id, entry.clone());
        Ok(Some(entry))
    }
}

/// The sold seats of one schedule as read from Postgres under a sale version.
#[derive(Debug)]
struct SoldEntry {
    version: i64,
    read_at: Instant,
    seats: Arc<HashSet<i64>>,
}

/// The in-memory copy of each schedule's sold seats. Postgres is the truth: an entry is used
/// only while the schedule's sale version (bumped in Redis by every sale, read in the seat
/// map's one round trip) is the one it was read under, and for at most [`SOLD_MAX_AGE`], which
/// bounds the damage of a sale whose bump was lost (Redis down right after the commit).
#[derive(Debug, Default)]
pub struct SoldSeats {
    schedules: RwLock<HashMap<i64, SoldEntry>>,
}

const SOLD_MAX_AGE: Duration = Duration::from_secs(5);

impl SoldSeats {
    /// The sold seats of `schedule_id`, from memory when `version` (read from Redis just
    /// before) is the one they were read under, else from Postgres. `version` is `None` when
    /// Redis lacks it: then nothing is kept, as a later sale could not be told apart.
    pub async fn sold(
        &self,
        db: &PgPool,
        schedule_id: i64,
        version: Option<i64>,
    ) -> Result<Arc<HashSet<i64>>> {
        if let Some(v) = version {
            if let Some(e) = self
                .schedules
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(&schedule_id)
            {
                if e.version == v && e.read_at.elapsed() < SOLD_MAX_AGE {
                    return Ok(e.seats.clone());
                }
            }
        }
        // Read after the version: every sale whose bump came before it is in the result (a
        // sale commits before it bumps), so the copy is never older than its version.
        let read_at = Instant::now();
        let seats: Arc<HashSet<i64>> = Arc::new(
            find_sold_seats(db, schedule_id, None)
                .await?
                .into_iter()
                .collect(),
        );
        if let Some(version) = version {
            let mut map = self.schedules.write().unwrap_or_else(|p| p.into_inner());
            if map.len() >= MAX_CACHED_SCHEDULES {
                map.clear();
            }
            map.insert(
                schedule_id,
                SoldEntry {
                    version,
                    read_at,
                    seats: seats.clone(),
                },
            );
        }
        Ok(seats)
    }
}

/// A schedule as listed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScheduleRow {
    pub id: i64,
    pub starts_at: DateTime<Utc>,
    pub total_seats: i32,
}

impl SeatCatalog {
    /// The schedules of a concert by start time (empty when the concert does not exist). A
    /// concert is created with all its schedules at once, so a non-empty list is kept.
    pub async fn concert_schedules(
        &self,
        db: &PgPool,
        concert_id: ConcertId,
    ) -> Result<Arc<Vec<ScheduleRow>>> {
        if let Some(s) = self
            .concerts
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&concert_id.get())
        {
            return Ok(s.clone());
        }
        let rows: Arc<Vec<ScheduleRow>> = Arc::new(
            sqlx::query_as(
                "SELECT id, starts_at, total_seats FROM schedules
                 WHERE concert_id = $1 ORDER BY starts_at, id",
            )
            .bind(concert_id.get())
            .fetch_all(db)
            .await?,
        );
        if !rows.is_empty() {
            let mut map = self.concerts.write().unwrap_or_else(|p| p.into_inner());
            if map.len() >= MAX_CACHED_SCHEDULES {
                map.clear();
            }
            map.insert(concert_id.get(), rows.clone());
        }
        Ok(rows)
    }
}

/// The sold seat ids of a schedule, among `seat_ids` when given.
pub async fn find_sold_seats(
    db: &PgPool,
    schedule_id: i64,
    seat_ids: Option<&[i64]>,
) -> Result<Vec<i64>> {
    Ok(match seat_ids {
        Some(ids) => {
            sqlx::query_scalar(
                "SELECT seat_id FROM tickets WHERE schedule_id = $1 AND seat_id = ANY($2)",
            )
            .bind(schedule_id)
            .bind(ids)
            .fetch_all(db)
            .await?
        }
        None => {
            sqlx::query_scalar("SELECT seat_id FROM tickets WHERE schedule_id = $1")
                .bind(schedule_id)
                .fetch_all(db)
                .await?
        }
    })
}

/// Of `seat_ids` of a schedule, the sold ones; and how many tickets `user` owns of
/// `concert_id`; one round trip.
pub async fn sold_seats_and_tickets_owned(
    db: &PgPool,
    schedule_id: i64,
    seat_ids: &[i64],
    user: &UserId,
    concert_id: ConcertId,
) -> Result<(Vec<i64>, i64)> {
    let (sold, owned): (Vec<i64>, i64) = sqlx::query_as(
        "SELECT COALESCE((SELECT array_agg(seat_id) FROM tickets
                          WHERE schedule_id = $1 AND seat_id = ANY($2)), '{}'),
                (SELECT count(*) FROM reservations r JOIN tickets t ON t.reservation_id = r.id
                 WHERE r.user_id = $3 AND r.concert_id = $4)",
    )
    .bind(schedule_id)
    .bind(seat_ids)
    .bind(user.as_str())
    .bind(concert_id.get())
    .fetch_one(db)
    .await?;
    Ok((sold, owned))
}

/// The ids of a created concert, and how its sale opens.
#[derive(Debug, Clone)]
pub struct CreatedConcert {
    pub concert_id: i64,
    pub schedules: Vec<CreatedSchedule>,
    pub opens_at: Option<DateTime<Utc>>,
    /// `SHA-256(seed)` of the draw's secret seed (hex), with `opens_at`.
    pub draw_commitment: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CreatedSchedule {
    pub schedule_id: i64,
    pub seat_ids: Vec<i64>,
}

/// Creates a concert with its schedules and seats and opens its queue in Redis, all or
/// nothing: the transaction commits only after the queue is open. A concert with `opens_at`
/// gets a new draw seed, kept in Postgres (a queue re-opened after Redis lost it keeps the
/// commitment it published) and given to the queue, never to a client.
pub async fn create_concert(to: Catalog<'_>, new: &NewConcert) -> Result<CreatedConcert> {
    let seed = new.opens_at.map(|_| shared::draw::new_seed());
    let mut tx = to.db.begin().await?;
    let concert_id: i64 = sqlx::query_scalar(
        "INSERT INTO concerts (name, opens_at, draw_seed) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(&new.name)
    .bind(new.opens_at)
    .bind(seed.as_ref().map(|s| s.to_vec()))
    .fetch_one(&mut *tx)
    .await?;
    let mut schedules = Vec::with_capacity(new.schedules.len());
    for s in &new.schedules {
        let schedule_id: i64 = sqlx::query_scalar(
            "INSERT INTO schedules (concert_id, starts_at, total_seats) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(concert_id)
        .bind(s.starts_at)
        .bind(s.seat_count)
        .fetch_one(&mut *tx)
        .await?;
        let seat_ids: Vec<i64> = sqlx::query_scalar(
            "WITH created AS (
                 INSERT INTO seats (schedule_id, seat_number, price)
                 SELECT $1, n, $2 FROM generate_series(1, $3) AS n
                 RETURNING id, seat_number
             )
             SELECT id FROM created ORDER BY seat_number",
        )
        .bind(schedule_id)
        .bind(s.price)
        .bind(s.seat_count)
        .fetch_all(&mut *tx)
        .await?;
        schedules.push(CreatedSchedule {
            schedule_id,
            seat_ids,
        });
    }
    let now = Utc::now();
    let opening = Opening {
        opens_at_ms: new.opens_at.map(|t| t.timestamp_millis()),
        seed,
        // Every seat of a schedule that has not started is unsold; a started one sells nothing.
        unsold: new
            .schedules
            .iter()
            .zip(&schedules)
            .filter(|(s, _)| s.starts_at > now)
            .map(|(s, c)| (c.schedule_id, i64::from(s.seat_count)))
            .collect(),
    };
    let mut conn = to.redis.get().await?;
    let opened = shared::queue_config::open_queue(
        &mut conn,
        to.keys,
        concert_id,
        &new.name,
        to.queue_defaults,
        &opening,
    )
    .await;
    let committed = match opened {
        Ok(_) => tx.commit().await.map_err(ApiError::from),
        Err(e) => Err(e.into()),
    };
    if let Err(e) = committed {
        // The concert does not exist: its new, empty queue (or the part of it that was
        // written) must not stay open.
        let k = to.keys.concert(concert_id);
        let closed: redis::RedisResult<()> = redis::pipe()
            .cmd("DEL")
            .arg(k.config())
            .arg(k.unsold())
            .cmd("SREM")
            .arg(to.keys.open_concerts())
            .arg(concert_id)
            .query_async(&mut conn)
            .await;
        if let Err(redis_error) = closed {
            tracing::warn!(concert.id = concert_id, error = %redis_error, "could not close the queue of a concert whose creation failed");
        }
        return Err(e);
    }
    tracing::info!(
        concert.id = concert_id,
        schedules = schedules.len(),
        "concert created and queue opened"
    );
    Ok(CreatedConcert {
        concert_id,
        schedules,
        opens_at: new.opens_at,
        draw_commitment: seed.map(|s| shared::draw::to_hex(&shared::draw::commitment(&s))),
    })
}

/// Creates the demo concert (two schedules of 50 seats) when there is no concert yet.
pub async fn seed_demo<'a>(to: impl Into<Catalog<'a>>) -> Result<Option<i64>> {
    let to = to.into();
    let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM concerts)")
        .fetch_one(to.db)
        .await?;
    if any {
        return Ok(None);
    }
    let tomorrow = (Utc::now() + chrono::Duration::days(1)).date_naive();
    let at = |days: i64| {
        (tomorrow + chrono::Duration::days(days))
            .and_hms_opt(19, 0, 0)
            .unwrap_or_default()
            .and_utc()
    };
    let demo = NewConcert {
        name: "Demo Concert".into(),
        schedules: vec![
            NewSchedule {
                starts_at: at(0),
                seat_count: 50,
                price: 50_000,
            },
            NewSchedule {
                starts_at: at(1),
                seat_count: 50,
                price: 50_000,
            },
        ],
        opens_at: None,
    };
    Ok(Some(create_concert(to, &demo).await?.concert_id))
}

/// Why a concert's queue closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Every seat of every schedule that has not started is sold.
    SoldOut,
    /// Every schedule has started, or an admin closed it.
    Closed,
}

impl CloseReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SoldOut => "SOLD_OUT",
            Self::Closed => "CLOSED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "SOLD_OUT" => Some(Self::SoldOut),
            "CLOSED" => Some(Self::Closed),
            _ => None,
        }
    }
}

/// A closed concert: when and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed {
    pub at: DateTime<Utc>,
    pub reason: CloseReason,
}

/// Marks the queue closed in Redis (only a queue that exists: a closed queue's keys are left
/// to expire, so none is created) without changing a reason already there.
static MARK_CLOSED: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSETNX', KEYS[1], 'closed', ARGV[1]) end return 1",
    )
});

/// Closes the queue of `concert_id` for `reason`: Redis's config first (the gateway then
/// stops admitting, tells the line and lets the keys expire), then Postgres, so that a stop
/// between the two is finished by the reconciler copying Redis's close. Idempotent: a closed
/// concert keeps its first close. `None` when there is no such concert.
pub async fn close_concert(
    to: Catalog<'_>,
    concert_id: i64,
    reason: CloseReason,
) -> Result<Option<Closed>> {
    let mut conn = to.redis.get().await?;
    let _: i64 = MARK_CLOSED
        .key(to.keys.concert(concert_id).config())
        .arg(reason.as_str())
        .invoke_async(&mut conn)
        .await?;
    drop(conn);
    // The UPDATE's snapshot is the second SELECT's: it sees the row as it was before the
    // update, so exactly one of the two answers.
    let row: Option<(DateTime<Utc>, String)> = sqlx::query_as(
        "WITH closed AS (
             UPDATE concerts SET closed_at = now(), close_reason = $2
             WHERE id = $1 AND closed_at IS NULL
             RETURNING closed_at, close_reason
         )
         SELECT closed_at, close_reason FROM closed
         UNION ALL
         SELECT closed_at, close_reason FROM concerts WHERE id = $1 AND closed_at IS NOT NULL",
    )
    .bind(concert_id)
    .bind(reason.as_str())
    .fetch_optional(to.db)
    .await?;
    Ok(row.map(|(at, r)| Closed {
        at,
        reason: CloseReason::parse(&r).unwrap_or(reason),
    }))
}

/// What one round of [`reopen_queues`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Queues Redis lost, opened again (paused).
    pub reopened: usize,
    /// Open queues whose unsold-seat counts Redis lost in part, filled in.
    pub reseeded: usize,
    /// Concerts closed: sold out, ended, or closed by the gateway (copied into Postgres).
    pub closed: usize,
}

/// An open concert as the reconciler reads it: its opening, and per schedule that has not
/// started, its id and unsold seats.
#[derive(Debug, sqlx::FromRow)]
struct OpenConcert {
    id: i64,
    name: String,
    opens_at: Option<DateTime<Utc>>,
    draw_seed: Option<Vec<u8>>,
    on_sale: Vec<i64>,
    unsold: Vec<i64>,
}

impl OpenConcert {
    fn opening(&self) -> Opening {
        Opening {
            opens_at_ms: self.opens_at.map(|t| t.timestamp_millis()),
            seed: self
                .draw_seed
                .as_deref()
                .and_then(|s| <[u8; 32]>::try_from(s).ok()),
            unsold: self
                .on_sale
                .iter()
                .copied()
                .zip(self.unsold.iter().copied())
                .collect(),
        }
    }
}

/// Keeps the queues of open concerts (`closed_at IS NULL`) as Postgres says they should be;
/// run at start-up and every few seconds. One round trip reads a thousand queues (settings,
/// close, unsold counts) and one more keeps them in the open set; only what is wrong is
/// written:
/// - a close the gateway made in Redis (sold out) is copied into Postgres;
/// - a concert whose every schedule has started is closed (`CLOSED`), one with no unsold seat
///   left in a schedule that has not started is closed (`SOLD_OUT`), from Postgres's tickets;
/// - a queue Redis lost is opened again with its opening and seed from Postgres and its unsold
///   counts from the tickets, **paused**: its settings were lost with the data, and a sale must
///   not resume (or start early) on the defaults before an admin has set them and resumed it;
/// - unsold counts Redis lost are filled in, and those of started schedules removed.
///
/// Closed concerts are never read, so never opened again.
pub async fn reopen_queues(to: Catalog<'_>) -> Result<Reconciled> {
    let settings = QueueSettings {
        paused: true,
        ..*to.queue_defaults
    };
    // The sold seats are counted only for schedules that have not started (the lateral's
    // condition stops the others' scans), over the fence's index.
    let concerts: Vec<OpenConcert> = sqlx::query_as(
        "SELECT c.id, c.name, c.opens_at, c.draw_seed,
                COALESCE(array_agg(s.id ORDER BY s.id) FILTER (WHERE s.starts_at > now()), '{}') AS on_sale,
                COALESCE(array_agg(s.total_seats - sold.n ORDER BY s.id) FILTER (WHERE s.starts_at > now()), '{}') AS unsold
         FROM concerts c
         JOIN schedules s ON s.concert_id = c.id
         CROSS JOIN LATERAL (
             SELECT count(*) AS n FROM tickets t WHERE t.schedule_id = s.id AND s.starts_at > now()
         ) sold
         WHERE c.closed_at IS NULL
         GROUP BY c.id ORDER BY c.id",
    )
    .fetch_all(to.db)
    .await?;
    let mut done = Reconciled::default();
    for chunk in concerts.chunks(1000) {
        let mut pipe = redis::pipe();
        for c in chunk {
            let k = to.keys.concert(c.id);
            pipe.cmd("HMGET").arg(k.config()).arg("name").arg("closed");
            pipe.cmd("HKEYS").arg(k.unsold());
        }
        let replies: Vec<redis::Value> = {
            let mut conn = to.redis.get().await?;
            pipe.query_async(&mut conn).await?
        };
        let mut keep_open = Vec::with_capacity(chunk.len());
        let mut stale = redis::pipe();
        let mut any_stale = false;
        for (c, reply) in chunk.iter().zip(replies.chunks(2)) {
            let (name, closed): (Option<String>, Option<String>) =
                redis::from_redis_value(&reply[0])?;
            let counted: Vec<i64> = redis::from_redis_value(&reply[1])?;
            let reason = if let Some(r) = closed.as_deref() {
                // The gateway closed it (or a close stopped half-way): Postgres follows.
                Some(CloseReason::parse(r).unwrap_or(CloseReason::Closed))
            } else if c.on_sale.is_empty() {
                Some(CloseReason::Closed)
            } else if c.unsold.iter().all(|&n| n <= 0) {
                Some(CloseReason::SoldOut)
            } else {
                None
            };
            if let Some(reason) = reason {
                close_concert(to, c.id, reason).await?;
                tracing::info!(
                    concert.id = c.id,
                    reason = reason.as_str(),
                    "concert queue closed"
                );
                done.closed += 1;
                continue;
            }
            let gone: Vec<i64> = counted
                .iter()
                .filter(|id| !c.on_sale.contains(id))
                .copied()
                .collect();
            if !gone.is_empty() {
                stale
                    .cmd("HDEL")
                    .arg(to.keys.concert(c.id).unsold())
                    .arg(gone)
                    .ignore();
                any_stale = true;
            }
            let missing = c.on_sale.iter().any(|id| !counted.contains(id));
            if name.is_none() || missing {
                let mut conn = to.redis.get().await?;
                if shared::queue_config::open_queue(
                    &mut conn,
                    to.keys,
                    c.id,
                    &c.name,
                    &settings,
                    &c.opening(),
                )
                .await?
                {
                    done.reopened += 1;
                } else {
                    done.reseeded += 1;
                }
            } else {
                keep_open.push(c.id);
            }
        }
        // Every open queue is in the open set (a cut append-only file can keep a queue's
        // settings and lose its entry, and the schedulers find queues through the set).
        if !keep_open.is_empty() {
            stale
                .cmd("SADD")
                .arg(to.keys.open_concerts())
                .arg(keep_open)
                .ignore();
            any_stale = true;
        }
        if any_stale {
            let mut conn = to.redis.get().await?;
            let () = stale.query_async(&mut conn).await?;
        }
    }
    Ok(done)
}
