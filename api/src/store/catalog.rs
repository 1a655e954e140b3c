//! Concerts, schedules and seats, and the concerts' queues in Redis. Seat rows never change
//! once created, so the api keeps an in-memory copy per schedule; the sold seats too, kept
//! as long as the schedule's sale version in Redis says no sale happened since.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use shared::{config::QueueSettings, ids::ConcertId, keys::Keys, redis_pool::Pool};
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

/// The ids of a created concert.
#[derive(Debug, Clone)]
pub struct CreatedConcert {
    pub concert_id: i64,
    pub schedules: Vec<CreatedSchedule>,
}

#[derive(Debug, Clone)]
pub struct CreatedSchedule {
    pub schedule_id: i64,
    pub seat_ids: Vec<i64>,
}

/// Creates a concert with its schedules and seats and opens its queue in Redis, all or
/// nothing: the transaction commits only after the queue is open.
pub async fn create_concert(to: Catalog<'_>, new: &NewConcert) -> Result<CreatedConcert> {
    let mut tx = to.db.begin().await?;
    let concert_id: i64 =
        sqlx::query_scalar("INSERT INTO concerts (name) VALUES ($1) RETURNING id")
            .bind(&new.name)
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
    let mut conn = to.redis.get().await?;
    let opened = shared::queue_config::open_queue(
        &mut conn,
        to.keys,
        concert_id,
        &new.name,
        to.queue_defaults,
    )
    .await;
    let committed = match opened {
        Ok(_) => tx.commit().await.map_err(ApiError::from),
        Err(e) => Err(e.into()),
    };
    if let Err(e) = committed {
        // The concert does not exist: its new, empty queue (or the part of it that was
        // written) must not stay open.
        let closed: redis::RedisResult<()> = redis::pipe()
            .cmd("DEL")
            .arg(to.keys.concert(concert_id).config())
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
    };
    Ok(Some(create_concert(to, &demo).await?.concert_id))
}

/// Re-opens the queue of every concert that Redis lacks (idempotent), so queues come back
/// after Redis lost its data; run at start-up and every few seconds. One round trip checks a
/// thousand concerts (and keeps them all in the open set); only missing queues are written.
/// A queue comes back **paused**: its settings were lost with the data, and a sale must not
/// resume (or start early) on the defaults before an admin has set them and resumed it.
pub async fn reopen_queues(to: Catalog<'_>) -> Result<usize> {
    let settings = QueueSettings {
        paused: true,
        ..*to.queue_defaults
    };
    let concerts: Vec<(i64, String)> = sqlx::query_as("SELECT id, name FROM concerts ORDER BY id")
        .fetch_all(to.db)
        .await?;
    let mut conn = to.redis.get().await?;
    let mut created = 0;
    for chunk in concerts.chunks(1000) {
        let mut pipe = redis::pipe();
        for (id, _) in chunk {
            pipe.cmd("EXISTS").arg(to.keys.concert(*id).config());
        }
        // Every concert is in the open set (a cut append-only file can keep a queue's
        // settings and lose its entry, and the schedulers find queues through the set).
        pipe.cmd("SADD")
            .arg(to.keys.open_concerts())
            .arg(chunk.iter().map(|(id, _)| *id).collect::<Vec<_>>())
            .ignore();
        let present: Vec<bool> = pipe.query_async(&mut conn).await?;
        for ((id, name), present) in chunk.iter().zip(present) {
            if !present
                && shared::queue_config::open_queue(&mut conn, to.keys, *id, name, &settings)
                    .await?
            {
                created += 1;
            }
        }
    }
    Ok(created)
}
