//! Concerts, schedules and seats, and the concerts' queues in Redis. Seat rows never change
//! once created, so the api keeps an in-memory copy per schedule; the sold seats too, kept
//! as long as the schedule's sale version in Redis says no sale happened since.

use std::{
    collections::{HashMap, HashSet},
    future::Future,
    sync::{Arc, LazyLock},
    time::{Duration, Instant},
};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use quick_cache::{
    sync::{Cache, DefaultLifecycle, EntryAction, EntryResult},
    DefaultHashBuilder, OptionsBuilder, Weighter,
};
use shared::{
    config::QueueSettings,
    ids::ConcertId,
    keys::Keys,
    queue_config::{DrawnOrder, Opening, Resume},
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

/// The in-memory copy of seat rows, filled on first use per schedule. Each copy is read from
/// Postgres once per instance however many requests ask at the same moment (a sale's opening
/// sends thousands at a new schedule at once): the others wait for the one reading.
#[derive(Debug)]
pub struct SeatCatalog {
    schedules: Cache<i64, Loaded<Arc<ScheduleSeats>>, SeatWeighter>,
    /// Each concert's schedules (created with the concert, never changed).
    concerts: Cache<i64, Loaded<Arc<Vec<ScheduleRow>>>>,
    /// The sold seats of each schedule.
    pub sold: SoldSeats,
    /// Seat maps as last written out.
    pub maps: RenderedMaps,
}

impl Default for SeatCatalog {
    fn default() -> Self {
        Self {
            schedules: few_shards(MAX_CACHED_SCHEDULES, MAX_CACHED_SEATS, SeatWeighter),
            concerts: Cache::new(MAX_CACHED_SCHEDULES),
            sold: SoldSeats::default(),
            maps: RenderedMaps::default(),
        }
    }
}

const MAX_CACHED_SCHEDULES: usize = 10_000;
/// About 100 MB of seat rows.
const MAX_CACHED_SEATS: u64 = 2_000_000;

/// A cache weighed by `weighter` up to `weight`, in four shards. `quick_cache` shares the
/// weight out among its shards (by default four per core) and keeps nothing heavier than a
/// shard's share: on a host of many cores, a 10,000-seat schedule would never be kept.
fn few_shards<K, V, W>(items: usize, weight: u64, weighter: W) -> Cache<K, V, W>
where
    K: Eq + std::hash::Hash,
    V: Clone,
    W: Weighter<K, V> + Clone,
{
    let options = OptionsBuilder::new()
        .shards(4)
        .estimated_items_capacity(items)
        .weight_capacity(weight)
        .build()
        .expect("both capacities are set");
    Cache::with_options(
        options,
        weighter,
        DefaultHashBuilder::default(),
        DefaultLifecycle::default(),
    )
}

/// A schedule's copy weighs its seats.
#[derive(Clone)]
struct SeatWeighter;

impl Weighter<i64, Loaded<Arc<ScheduleSeats>>> for SeatWeighter {
    fn weight(&self, _: &i64, loaded: &Loaded<Arc<ScheduleSeats>>) -> u64 {
        match loaded {
            Loaded::Copy(schedule) => schedule.seats.len() as u64 + 1,
            Loaded::Missing { .. } => 1,
        }
    }
}

/// What a cache keeps of one read from Postgres: the copy; or, for [`MISS_KEPT`], that there
/// was nothing to read or that the read failed, so the requests that waited for that read
/// answer at once rather than each reading again in turn.
#[derive(Clone)]
enum Loaded<V> {
    Copy(V),
    Missing { at: Instant, failed: bool },
}

const MISS_KEPT: Duration = Duration::from_millis(500);

/// The copy under `key` while `usable` says it is; else read by `read`, once for all the
/// requests that ask meanwhile (they wait for it: `quick_cache`'s placeholders). `Ok(None)`:
/// there is nothing to read.
async fn read_once<V, W>(
    cache: &Cache<i64, Loaded<V>, W>,
    key: i64,
    usable: impl Fn(&V) -> bool,
    read: impl Future<Output = Result<Option<V>>>,
) -> Result<Option<V>>
where
    V: Clone,
    W: Weighter<i64, Loaded<V>> + Clone,
{
    let kept = |loaded: &Loaded<V>| match loaded {
        Loaded::Copy(v) if usable(v) => Some(Ok(Some(v.clone()))),
        Loaded::Missing { at, failed } if at.elapsed() < MISS_KEPT => Some(if *failed {
            Err(ApiError::Unavailable(
                "Postgres did not answer a read just now".into(),
            ))
        } else {
            Ok(None)
        }),
        _ => None,
    };
    if let Some(answer) = cache.get(&key).as_ref().and_then(kept) {
        return answer;
    }
    let entry = cache
        .entry_async(&key, |_, loaded| match kept(loaded) {
            Some(answer) => EntryAction::Retain(answer),
            None => EntryAction::ReplaceWithGuard,
        })
        .await;
    let guard = match entry {
        EntryResult::Retained(answer) => return answer,
        EntryResult::Vacant(guard) | EntryResult::Replaced(guard, _) => guard,
        // Neither is asked for: no timeout, no removal.
        EntryResult::Removed(..) | EntryResult::Timeout => return read.await,
    };
    let result = read.await;
    let _ = guard.insert(match &result {
        Ok(Some(v)) => Loaded::Copy(v.clone()),
        Ok(None) => Loaded::Missing {
            at: Instant::now(),
            failed: false,
        },
        Err(_) => Loaded::Missing {
            at: Instant::now(),
            failed: true,
        },
    });
    result
}

impl SeatCatalog {
    /// The schedule with its seats, or `None` when there is no such schedule.
    pub async fn schedule(
        &self,
        db: &PgPool,
        schedule_id: i64,
    ) -> Result<Option<Arc<ScheduleSeats>>> {
        let read = async {
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
            Ok(Some(Arc::new(ScheduleSeats {
                schedule_id,
                concert_id,
                starts_at,
                seats,
                by_id,
            })))
        };
        read_once(&self.schedules, schedule_id, |_| true, read).await
    }
}

/// The sold seats of one schedule as read from Postgres under a sale version.
#[derive(Debug, Clone)]
struct SoldEntry {
    version: i64,
    read_at: Instant,
    seats: Arc<HashSet<i64>>,
}

impl SoldEntry {
    fn is_fresh(&self) -> bool {
        self.read_at.elapsed() < SOLD_MAX_AGE
    }
}

/// The in-memory copy of each schedule's sold seats. Postgres is the truth: an entry is used
/// only while the schedule's sale version (bumped in Redis by every sale, read in the seat
/// map's one round trip) is the one it was read under, and for at most [`SOLD_MAX_AGE`], which
/// bounds the damage of a sale whose bump was lost (Redis down right after the commit). A
/// copy is read once however many requests find it missing or outdated at the same moment.
#[derive(Debug)]
pub struct SoldSeats {
    schedules: Cache<i64, Loaded<SoldEntry>>,
}

impl Default for SoldSeats {
    fn default() -> Self {
        Self {
            schedules: Cache::new(MAX_CACHED_SCHEDULES),
        }
    }
}

const SOLD_MAX_AGE: Duration = Duration::from_secs(5);

impl SoldSeats {
    /// The sold seats of `schedule_id` with the sale version they were read under, when read
    /// less than [`SOLD_MAX_AGE`] ago: what a hold checks its seats against, and whose
    /// version `hold.lua` then checks.
    pub fn fresh(&self, schedule_id: i64) -> Option<(i64, Arc<HashSet<i64>>)> {
        match self.schedules.get(&schedule_id)? {
            Loaded::Copy(e) if e.is_fresh() => Some((e.version, e.seats)),
            _ => None,
        }
    }

    /// The sold seats of `schedule_id`, from memory when `version` (read from Redis just
    /// before) is the one they were read under, else from Postgres. `version` is `None` when
    /// Redis lacks it: then nothing is kept, as a later sale could not be told apart.
    pub async fn sold(
        &self,
        db: &PgPool,
        schedule_id: i64,
        version: Option<i64>,
    ) -> Result<Arc<HashSet<i64>>> {
        let Some(version) = version else {
            return read_sold(db, schedule_id).await.map(|e| e.seats);
        };
        let usable = |e: &SoldEntry| e.version == version && e.is_fresh();
        let read = async {
            let mut entry = read_sold(db, schedule_id).await?;
            entry.version = version;
            Ok(Some(entry))
        };
        match read_once(&self.schedules, schedule_id, usable, read).await? {
            Some(entry) => Ok(entry.seats),
            // `read` always gives a copy.
            None => read_sold(db, schedule_id).await.map(|e| e.seats),
        }
    }
}

/// The sold seats of `schedule_id` as Postgres has them now. Read after the version: every
/// sale whose bump came before it is in the result (a sale commits before it bumps), so the
/// copy is never older than its version.
async fn read_sold(db: &PgPool, schedule_id: i64) -> Result<SoldEntry> {
    let read_at = Instant::now();
    let seats = find_sold_seats(db, schedule_id, None).await?;
    Ok(SoldEntry {
        version: 0,
        read_at,
        seats: Arc::new(seats.into_iter().collect()),
    })
}

/// Seat maps as written out (JSON), by schedule, form and the status letter of every seat:
/// many fans who see the same map are answered with the same bytes, written once. The key
/// holds the letters themselves, not a hash of them, so two maps can never be mistaken.
#[derive(Debug)]
pub struct RenderedMaps {
    bodies: Cache<(i64, u8, Box<[u8]>), Bytes, BodyWeighter>,
}

/// About 32 MB of written maps (a 5,000-seat map in full is about 400 KB).
const MAX_RENDERED_BYTES: u64 = 32 << 20;

#[derive(Clone)]
struct BodyWeighter;

impl Weighter<(i64, u8, Box<[u8]>), Bytes> for BodyWeighter {
    fn weight(&self, key: &(i64, u8, Box<[u8]>), body: &Bytes) -> u64 {
        (key.2.len() + body.len()) as u64
    }
}

impl Default for RenderedMaps {
    fn default() -> Self {
        Self {
            bodies: few_shards(MAX_CACHED_SCHEDULES, MAX_RENDERED_BYTES, BodyWeighter),
        }
    }
}

impl RenderedMaps {
    /// The map of `schedule_id` in `form` whose seats show `letters`, written by `render` when
    /// no one asked for it yet.
    pub fn get_or_render<E>(
        &self,
        schedule_id: i64,
        form: u8,
        letters: &[u8],
        render: impl FnOnce() -> std::result::Result<Vec<u8>, E>,
    ) -> std::result::Result<Bytes, E> {
        let key = (schedule_id, form, Box::<[u8]>::from(letters));
        if let Some(body) = self.bodies.get(&key) {
            return Ok(body);
        }
        let body = Bytes::from(render()?);
        self.bodies.insert(key, body.clone());
        Ok(body)
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
        let read = async {
            let rows: Vec<ScheduleRow> = sqlx::query_as(
                "SELECT id, starts_at, total_seats FROM schedules
                 WHERE concert_id = $1 ORDER BY starts_at, id",
            )
            .bind(concert_id.get())
            .fetch_all(db)
            .await?;
            Ok((!rows.is_empty()).then(|| Arc::new(rows)))
        };
        Ok(read_once(&self.concerts, concert_id.get(), |_| true, read)
            .await?
            .unwrap_or_default())
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
    // The queue's durable copy, with the settings it opens with and its first lease.
    sqlx::query(
        "INSERT INTO queue_states (concert_id, admit_per_tick, tick_millis, max_active,
                                   session_ttl_seconds, paused, seq_lease)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(concert_id)
    .bind(int4(to.queue_defaults.admit_per_tick))
    .bind(int4(to.queue_defaults.tick_millis))
    .bind(int4(to.queue_defaults.max_active))
    .bind(int4(to.queue_defaults.session_ttl_seconds))
    .bind(to.queue_defaults.paused)
    .bind(int8(SEQ_LEASE))
    .execute(&mut *tx)
    .await?;
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
        seq_limit: Some(SEQ_LEASE),
        resume: None,
        drawn: None,
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
        // Two commands, not one pipeline: the open set is in another cluster slot.
        let closed: redis::RedisResult<()> = async {
            redis::cmd("DEL")
                .arg(k.config())
                .arg(k.unsold())
                .query_async::<()>(&mut conn)
                .await?;
            redis::cmd("SREM")
                .arg(to.keys.open_concerts())
                .arg(concert_id)
                .query_async::<()>(&mut conn)
                .await
        }
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

/// How many arrival sequences one lease of a queue's counter covers (Redis's `seqLimit`,
/// Postgres's `queue_states.seq_lease`). The reconciler extends a lease once half of it is
/// used, every 5 s, so only 500,000 joins in 5 s could use one up; and a loss skips at most a
/// lease or two of sequences, far below the pre-queue's tickets at 2^40.
pub const SEQ_LEASE: u64 = 1_000_000;

/// A setting as an `INT` column (the settings' bounds keep them far below `i32::MAX`).
fn int4(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// A sequence as a `BIGINT` column (sequences stay far below `i64::MAX`).
fn int8(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// What one round of [`reopen_queues`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Queues Redis lost, opened again: from their durable copy (last settings and pause
    /// state, the counter above every sequence handed out), or paused on the defaults.
    pub reopened: usize,
    /// Of `reopened`, those of concerts without a durable copy (created before it existed):
    /// opened paused on the defaults, as their settings were lost with the data.
    pub reopened_paused: usize,
    /// Open queues whose unsold-seat counts (or settings) Redis lost in part, filled in.
    pub reseeded: usize,
    /// Concerts closed: sold out, ended, or closed by the gateway (copied into Postgres).
    pub closed: usize,
    /// Queues whose settings or state (admitted through, lease) were copied into Postgres.
    pub copied: usize,
    /// Arrival counter leases extended in Redis.
    pub extended: usize,
    /// Queues Redis kept but cut short (their counter went back), resumed as lost ones.
    pub resumed_in_place: usize,
    /// Draws copied into Postgres (once each, after the opening).
    pub draws_kept: usize,
}

/// A queue's durable copy (`queue_states`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct QueueState {
    settings: QueueSettings,
    seq_lease: u64,
    admitted_through: u64,
    /// The highest sequence seen handed out.
    seq_seen: u64,
}

/// A `queue_states` row as read (every column `None` for a concert without one).
#[derive(Debug, sqlx::FromRow)]
struct QueueStateRow {
    admit_per_tick: Option<i32>,
    tick_millis: Option<i32>,
    max_active: Option<i32>,
    session_ttl_seconds: Option<i32>,
    paused: Option<bool>,
    seq_lease: Option<i64>,
    admitted_through: Option<i64>,
    seq_seen: Option<i64>,
}

impl QueueStateRow {
    fn state(&self) -> Option<QueueState> {
        let n = |v: Option<i32>| v.and_then(|v| u32::try_from(v).ok());
        Some(QueueState {
            settings: QueueSettings {
                admit_per_tick: n(self.admit_per_tick)?,
                tick_millis: n(self.tick_millis)?,
                max_active: n(self.max_active)?,
                session_ttl_seconds: n(self.session_ttl_seconds)?,
                paused: self.paused?,
            },
            seq_lease: u64::try_from(self.seq_lease?).ok()?,
            admitted_through: u64::try_from(self.admitted_through?).ok()?,
            seq_seen: u64::try_from(self.seq_seen.unwrap_or(0)).unwrap_or(0),
        })
    }
}

/// An open concert as the reconciler reads it: its opening, per schedule that has not
/// started its id and unsold seats, and its queue's durable copy.
#[derive(Debug, sqlx::FromRow)]
struct OpenConcert {
    id: i64,
    name: String,
    opens_at: Option<DateTime<Utc>>,
    draw_seed: Option<Vec<u8>>,
    /// Its draw is in `concert_draws`.
    draw_kept: bool,
    on_sale: Vec<i64>,
    unsold: Vec<i64>,
    #[sqlx(flatten)]
    queue: QueueStateRow,
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
            ..Opening::default()
        }
    }
}

/// The fields of a queue's config the reconciler reads, in this order.
const QUEUE_FIELDS: [&str; 14] = [
    "name",
    "closed",
    "admitPerTick",
    "tickMillis",
    "maxActive",
    "sessionTtl",
    "paused",
    "seq",
    "seqLimit",
    "admittedThrough",
    "opensAt",
    "drawn",
    "drawFirst",
    "drawnAt",
];

/// A queue as Redis has it ([`QUEUE_FIELDS`]).
#[derive(Debug)]
struct LiveQueue {
    /// The queue exists (`name` is set by every opening).
    exists: bool,
    closed: Option<String>,
    /// The settings, when all of them are there and well-formed.
    settings: Option<QueueSettings>,
    /// The last sequence handed out.
    seq: u64,
    seq_limit: Option<u64>,
    admitted_through: Option<u64>,
    opens_at_ms: Option<i64>,
    /// The draw applied: its first place and when (ms).
    drawn: Option<(u64, i64)>,
}

impl LiveQueue {
    fn parse(v: &[Option<String>]) -> Self {
        let field = |i: usize| v.get(i).and_then(|f| f.as_deref());
        let n32 = |i: usize| field(i).and_then(|s| s.parse::<u32>().ok());
        let n64 = |i: usize| field(i).and_then(|s| s.parse::<u64>().ok());
        let settings = (|| {
            Some(QueueSettings {
                admit_per_tick: n32(2)?,
                tick_millis: n32(3)?,
                max_active: n32(4)?,
                session_ttl_seconds: n32(5)?,
                paused: match field(6)? {
                    "1" => true,
                    "0" => false,
                    _ => return None,
                },
            })
        })();
        Self {
            exists: field(0).is_some(),
            closed: field(1).map(str::to_owned),
            settings,
            seq: n64(7).unwrap_or(0),
            seq_limit: n64(8),
            admitted_through: n64(9),
            opens_at_ms: field(10).and_then(|s| s.parse::<i64>().ok()),
            drawn: match (
                field(11),
                n64(12),
                field(13).and_then(|s| s.parse::<i64>().ok()),
            ) {
                (Some("1"), Some(first), Some(at)) => Some((first, at)),
                _ => None,
            },
        }
    }
}

/// The rows of `queue_states` one round writes (one statement), column by column.
#[derive(Debug, Default)]
struct StateWrites {
    ids: Vec<i64>,
    admit_per_tick: Vec<i32>,
    tick_millis: Vec<i32>,
    max_active: Vec<i32>,
    session_ttl_seconds: Vec<i32>,
    paused: Vec<bool>,
    seq_lease: Vec<i64>,
    admitted_through: Vec<i64>,
    seq_seen: Vec<i64>,
}

impl StateWrites {
    fn push(&mut self, concert_id: i64, state: &QueueState) {
        let s = &state.settings;
        self.ids.push(concert_id);
        self.admit_per_tick.push(int4(s.admit_per_tick));
        self.tick_millis.push(int4(s.tick_millis));
        self.max_active.push(int4(s.max_active));
        self.session_ttl_seconds.push(int4(s.session_ttl_seconds));
        self.paused.push(s.paused);
        self.seq_lease.push(int8(state.seq_lease));
        self.admitted_through.push(int8(state.admitted_through));
        self.seq_seen.push(int8(state.seq_seen));
    }

    /// Writes the rows (creating those of concerts without one); a lease and the admitted
    /// sequence never go down, whatever another api instance wrote meanwhile.
    async fn write(&self, db: &PgPool) -> Result<()> {
        if self.ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO queue_states AS q (concert_id, admit_per_tick, tick_millis, max_active,
                                            session_ttl_seconds, paused, seq_lease, admitted_through,
                                            seq_seen)
             SELECT * FROM UNNEST($1::BIGINT[], $2::INT[], $3::INT[], $4::INT[], $5::INT[],
                                  $6::BOOLEAN[], $7::BIGINT[], $8::BIGINT[], $9::BIGINT[])
             ON CONFLICT (concert_id) DO UPDATE SET
                 admit_per_tick = EXCLUDED.admit_per_tick,
                 tick_millis = EXCLUDED.tick_millis,
                 max_active = EXCLUDED.max_active,
                 session_ttl_seconds = EXCLUDED.session_ttl_seconds,
                 paused = EXCLUDED.paused,
                 seq_lease = GREATEST(q.seq_lease, EXCLUDED.seq_lease),
                 admitted_through = GREATEST(q.admitted_through, EXCLUDED.admitted_through),
                 seq_seen = GREATEST(q.seq_seen, EXCLUDED.seq_seen),
                 updated_at = now()",
        )
        .bind(&self.ids)
        .bind(&self.admit_per_tick)
        .bind(&self.tick_millis)
        .bind(&self.max_active)
        .bind(&self.session_ttl_seconds)
        .bind(&self.paused)
        .bind(&self.seq_lease)
        .bind(&self.admitted_through)
        .bind(&self.seq_seen)
        .execute(db)
        .await?;
        Ok(())
    }
}

/// What the durable copy of a queue Redis has should be, and the lease to give Redis: the
/// settings and pause state as Redis has them (an admin changes them through the gateway),
/// the highest sequence admitted, and a lease extended once half of it is used (above the
/// counter, the stored lease and Redis's limit, so above every sequence handed out).
fn copy_of(
    live: &LiveQueue,
    row: Option<&QueueState>,
    defaults: &QueueSettings,
) -> (QueueState, Option<u64>) {
    let stored_lease = row.map_or(0, |r| r.seq_lease);
    let limit = live.seq_limit.unwrap_or(0);
    let extend = live
        .seq_limit
        .is_none_or(|l| live.seq.saturating_add(SEQ_LEASE / 2) >= l);
    let seq_lease = if extend {
        live.seq
            .saturating_add(SEQ_LEASE)
            .max(stored_lease.saturating_add(SEQ_LEASE))
            .max(limit)
    } else {
        // A Postgres restored from an older backup learns the lease Redis runs on.
        stored_lease.max(limit)
    };
    let state = QueueState {
        settings: live
            .settings
            .or(row.map(|r| r.settings))
            .unwrap_or(*defaults),
        seq_lease,
        admitted_through: live
            .admitted_through
            .unwrap_or(0)
            .max(row.map_or(0, |r| r.admitted_through)),
        seq_seen: live.seq.max(row.map_or(0, |r| r.seq_seen)),
    };
    (state, extend.then_some(seq_lease))
}

/// Keeps the queues of open concerts (`closed_at IS NULL`) as Postgres says they should be,
/// and Postgres's durable copy of them as Redis runs them; run at start-up and every few
/// seconds. One Postgres query reads the open concerts with their copies, one round trip
/// reads a thousand queues (settings, state, close, unsold counts) and one more keeps them in
/// the open set; only what changed is written (one statement per thousand queues):
/// - a close the gateway made in Redis (sold out) is copied into Postgres;
/// - a concert whose every schedule has started is closed (`CLOSED`), one with no unsold seat
///   left in a schedule that has not started is closed (`SOLD_OUT`), from Postgres's tickets;
/// - settings and pause state an admin changed (through the gateway), the highest sequence
///   admitted, and an opening moved before the sale opened are copied into Postgres;
/// - the arrival counter's lease is extended once half of it is used;
/// - a queue Redis lost is opened again with its opening and seed from Postgres, its unsold
///   counts from the tickets, its last settings and pause state from its copy, and its
///   counter resuming at its lease (above every sequence handed out: see below). A concert
///   without a copy (created before it existed) comes back **paused** on the defaults, as
///   before: its settings were lost with the data;
/// - unsold counts Redis lost are filled in, and those of started schedules removed.
///
/// The lease is written to Postgres before Redis's `seqLimit` is raised to it, and the
/// gateway hands out sequences below `seqLimit` only: so every sequence ever handed out is
/// below a lease Postgres knows, and a lost queue's counter, resuming from it, never gives a
/// new fan a sequence already in someone's queue token. Re-opening raises the stored lease
/// first for the same reason.
///
/// Closed concerts are never read, so never opened again.
pub async fn reopen_queues(to: Catalog<'_>) -> Result<Reconciled> {
    let paused_defaults = QueueSettings {
        paused: true,
        ..*to.queue_defaults
    };
    // The sold seats are counted only for schedules that have not started (the lateral's
    // condition stops the others' scans), over the fence's index.
    let concerts: Vec<OpenConcert> = sqlx::query_as(
        "SELECT c.id, c.name, c.opens_at, c.draw_seed,
                EXISTS (SELECT 1 FROM concert_draws d WHERE d.concert_id = c.id) AS draw_kept,
                COALESCE(array_agg(s.id ORDER BY s.id) FILTER (WHERE s.starts_at > now()), '{}') AS on_sale,
                COALESCE(array_agg(s.total_seats - sold.n ORDER BY s.id) FILTER (WHERE s.starts_at > now()), '{}') AS unsold,
                q.admit_per_tick, q.tick_millis, q.max_active, q.session_ttl_seconds, q.paused,
                q.seq_lease, q.admitted_through, q.seq_seen
         FROM concerts c
         JOIN schedules s ON s.concert_id = c.id
         LEFT JOIN queue_states q ON q.concert_id = c.id
         CROSS JOIN LATERAL (
             SELECT count(*) AS n FROM tickets t WHERE t.schedule_id = s.id AND s.starts_at > now()
         ) sold
         WHERE c.closed_at IS NULL
         GROUP BY c.id, q.concert_id ORDER BY c.id",
    )
    .fetch_all(to.db)
    .await?;
    let mut done = Reconciled::default();
    for chunk in concerts.chunks(1000) {
        // One pipeline per concert (each in its own cluster slot), sent together: on one
        // multiplexed connection they go out as one write.
        let replies: Vec<Vec<redis::Value>> = {
            let conn = to.redis.get().await?;
            futures::future::try_join_all(chunk.iter().map(|c| {
                let k = to.keys.concert(c.id);
                let mut conn = conn.clone();
                async move {
                    redis::pipe()
                        .cmd("HMGET")
                        .arg(k.config())
                        .arg(&QUEUE_FIELDS[..])
                        .cmd("HKEYS")
                        .arg(k.unsold())
                        .query_async::<Vec<redis::Value>>(&mut conn)
                        .await
                }
            }))
            .await?
        };
        let mut keep_open = Vec::with_capacity(chunk.len());
        let mut stale: Vec<(i64, Vec<i64>)> = Vec::new();
        let mut copies = StateWrites::default();
        let mut extensions: Vec<(i64, u64)> = Vec::new();
        let mut moved: (Vec<i64>, Vec<DateTime<Utc>>) = (Vec::new(), Vec::new());
        let mut lost: Vec<&OpenConcert> = Vec::new();
        let mut drawn: Vec<(i64, (u64, i64))> = Vec::new();
        let mut cut: Vec<&OpenConcert> = Vec::new();
        for (c, reply) in chunk.iter().zip(&replies) {
            let fields: Vec<Option<String>> = redis::from_redis_value(&reply[0])?;
            let live = LiveQueue::parse(&fields);
            let counted: Vec<i64> = redis::from_redis_value(&reply[1])?;
            let reason = if let Some(r) = live.closed.as_deref() {
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
                stale.push((c.id, gone));
            }
            if !live.exists {
                lost.push(c);
                continue;
            }
            if let (Some(draw), false) = (live.drawn, c.draw_kept) {
                drawn.push((c.id, draw));
            }
            let row = c.queue.state();
            // A counter or an admission mark below what was seen: Redis kept the queue but
            // lost its last writes (a failover). It resumes as a lost queue does.
            if row.as_ref().is_some_and(|r| {
                live.seq < r.seq_seen || live.admitted_through.unwrap_or(0) < r.admitted_through
            }) {
                cut.push(c);
                continue;
            }
            let (copy, extend) = copy_of(&live, row.as_ref(), &paused_defaults);
            if row != Some(copy) {
                copies.push(c.id, &copy);
            }
            if let Some(lease) = extend {
                extensions.push((c.id, lease));
            }
            // `opening.lua` moves only an opening still ahead, before the draw: a time Redis
            // has that Postgres does not is such a move.
            if let (Some(at), Some(ms)) = (c.opens_at, live.opens_at_ms) {
                if ms > 0 && ms != at.timestamp_millis() {
                    if let Some(t) = DateTime::<Utc>::from_timestamp_millis(ms) {
                        moved.0.push(c.id);
                        moved.1.push(t);
                    }
                }
            }
            let missing = c.on_sale.iter().any(|id| !counted.contains(id));
            if missing || live.settings.is_none() {
                // Filled in with HSETNX: what Redis still has stays.
                let settings = row.map_or(paused_defaults, |r| r.settings);
                let mut conn = to.redis.get().await?;
                shared::queue_config::open_queue(
                    &mut conn,
                    to.keys,
                    c.id,
                    &c.name,
                    &settings,
                    &c.opening(),
                )
                .await?;
                done.reseeded += 1;
            } else {
                keep_open.push(c.id);
            }
        }
        // Postgres first: a lease is in Postgres before Redis hands out sequences under it.
        copies.write(to.db).await?;
        for (concert_id, draw) in drawn {
            if keep_draw(to, concert_id, draw).await? {
                done.draws_kept += 1;
            }
        }
        done.copied += copies.ids.len();
        if !moved.0.is_empty() {
            sqlx::query(
                "UPDATE concerts c SET opens_at = m.opens_at
                 FROM UNNEST($1::BIGINT[], $2::TIMESTAMPTZ[]) AS m (id, opens_at)
                 WHERE c.id = m.id AND c.opens_at IS NOT NULL AND c.closed_at IS NULL",
            )
            .bind(&moved.0)
            .bind(&moved.1)
            .execute(to.db)
            .await?;
        }
        if !extensions.is_empty() {
            let mut conn = to.redis.get().await?;
            for (concert_id, lease) in extensions {
                if shared::queue_config::extend_lease(&mut conn, to.keys, concert_id, lease).await?
                {
                    done.extended += 1;
                }
            }
        }
        if !lost.is_empty() {
            reopen_lost(to, &lost, &paused_defaults, &mut done).await?;
        }
        if !cut.is_empty() {
            resume_cut(to, &cut, &mut done).await?;
        }
        // Every open queue is in the open set (a cut append-only file can keep a queue's
        // settings and lose its entry, and the schedulers find queues through the set).
        if !keep_open.is_empty() || !stale.is_empty() {
            let mut conn = to.redis.get().await?;
            for (concert_id, gone) in stale {
                redis::cmd("HDEL")
                    .arg(to.keys.concert(concert_id).unsold())
                    .arg(gone)
                    .query_async::<()>(&mut conn)
                    .await?;
            }
            if !keep_open.is_empty() {
                redis::cmd("SADD")
                    .arg(to.keys.open_concerts())
                    .arg(keep_open)
                    .query_async::<()>(&mut conn)
                    .await?;
            }
        }
    }
    Ok(done)
}

/// Opens again the queues Redis lost, from their durable copies: the stored leases are raised
/// first (one statement), then each queue resumes its counter at its old lease (above every
/// sequence handed out) under the raised one, with its last settings and pause state.
async fn reopen_lost(
    to: Catalog<'_>,
    lost: &[&OpenConcert],
    paused_defaults: &QueueSettings,
    done: &mut Reconciled,
) -> Result<()> {
    let ids: Vec<i64> = lost.iter().map(|c| c.id).collect();
    let raised = raise_leases(to, &ids).await?;
    let kept: Vec<i64> = lost.iter().filter(|c| c.draw_kept).map(|c| c.id).collect();
    let mut draws = kept_draws(to, &kept).await?;
    let mut conn = to.redis.get().await?;
    for c in lost {
        let mut opening = c.opening();
        opening.drawn = draws.remove(&c.id);
        let settings = match raised.get(&c.id) {
            Some(state) => {
                // Another instance may have raised the lease too: the counter resumes under
                // the lease this round raised it to, above every sequence handed out.
                opening.seq_limit = Some(state.seq_lease);
                opening.resume = Some(Resume {
                    lost_below: state.seq_lease.saturating_sub(SEQ_LEASE),
                    admitted_before: state.admitted_through,
                });
                state.settings
            }
            None => *paused_defaults,
        };
        let created = shared::queue_config::open_queue(
            &mut conn, to.keys, c.id, &c.name, &settings, &opening,
        )
        .await?;
        if created {
            done.reopened += 1;
            if opening.resume.is_none() {
                done.reopened_paused += 1;
            }
            tracing::info!(
                concert.id = c.id,
                paused = settings.paused,
                resumed_from = opening.resume.map(|r| r.lost_below),
                "concert queue missing from Redis opened again"
            );
        } else {
            done.reseeded += 1;
        }
    }
    Ok(())
}

/// Copies a draw Redis has applied into `concert_draws`, once: its order (the published
/// entrant ids), its first place and its time. `false` when Redis no longer has the order, or
/// another instance copied it first.
async fn keep_draw(to: Catalog<'_>, concert_id: i64, (first, at_ms): (u64, i64)) -> Result<bool> {
    let order: Option<Vec<u8>> = {
        let mut conn = to.redis.get().await?;
        redis::cmd("GET")
            .arg(to.keys.concert(concert_id).draw())
            .query_async(&mut conn)
            .await?
    };
    let (Some(order), Some(drawn_at)) = (order, DateTime::<Utc>::from_timestamp_millis(at_ms))
    else {
        return Ok(false);
    };
    let copied = sqlx::query(
        "INSERT INTO concert_draws (concert_id, first_seq, entrants, drawn_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT (concert_id) DO NOTHING",
    )
    .bind(concert_id)
    .bind(int8(first))
    .bind(order)
    .bind(drawn_at)
    .execute(to.db)
    .await?;
    Ok(copied.rows_affected() == 1)
}

/// The kept draws of `ids` (concerts whose queue Redis lost after their draw).
async fn kept_draws(to: Catalog<'_>, ids: &[i64]) -> Result<HashMap<i64, DrawnOrder>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, i64, Vec<u8>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT concert_id, first_seq, entrants, drawn_at FROM concert_draws
         WHERE concert_id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(to.db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, first, entrants, at)| {
            let order = DrawnOrder {
                first: u64::try_from(first).unwrap_or(0),
                entrants,
                drawn_at_ms: at.timestamp_millis(),
            };
            (id, order)
        })
        .collect())
}

/// The stored leases of `ids`, raised by one lease (one statement): the queues resume their
/// counters at the old lease, above every sequence handed out, under the raised one.
async fn raise_leases(to: Catalog<'_>, ids: &[i64]) -> Result<HashMap<i64, QueueState>> {
    let rows: Vec<RaisedRow> = sqlx::query_as(
        "UPDATE queue_states SET seq_lease = seq_lease + $2, updated_at = now()
         WHERE concert_id = ANY($1)
         RETURNING concert_id, admit_per_tick, tick_millis, max_active, session_ttl_seconds,
                   paused, seq_lease, admitted_through, seq_seen",
    )
    .bind(ids)
    .bind(int8(SEQ_LEASE))
    .fetch_all(to.db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| Some((r.concert_id, r.queue.state()?)))
        .collect())
}

/// Resumes the queues Redis kept but cut short (its counter or admission mark went back: the
/// last writes were lost) as [`reopen_lost`] resumes lost ones: the counter from the old
/// lease, places and sessions from before coming back from fans' tokens.
async fn resume_cut(to: Catalog<'_>, cut: &[&OpenConcert], done: &mut Reconciled) -> Result<()> {
    let ids: Vec<i64> = cut.iter().map(|c| c.id).collect();
    let raised = raise_leases(to, &ids).await?;
    let mut conn = to.redis.get().await?;
    for (id, state) in raised {
        let resume = Resume {
            lost_below: state.seq_lease.saturating_sub(SEQ_LEASE),
            admitted_before: state.admitted_through,
        };
        if shared::queue_config::resume_in_place(&mut conn, to.keys, id, resume, state.seq_lease)
            .await?
        {
            done.resumed_in_place += 1;
            tracing::warn!(
                concert.id = id,
                resumed_from = resume.lost_below,
                "concert queue lost its last writes in Redis: resumed"
            );
        }
    }
    Ok(())
}

/// A `queue_states` row whose lease [`reopen_lost`] raised.
#[derive(Debug, sqlx::FromRow)]
struct RaisedRow {
    concert_id: i64,
    #[sqlx(flatten)]
    queue: QueueStateRow,
}

#[cfg(test)]
mod tests {
    use futures::future::join_all;

    use super::*;

    /// A schedule of `seats` seats in a new concert; its id.
    async fn schedule_of(db: &PgPool, seats: i32) -> i64 {
        let concert: i64 =
            sqlx::query_scalar("INSERT INTO concerts (name) VALUES ('c') RETURNING id")
                .fetch_one(db)
                .await
                .unwrap();
        let schedule: i64 = sqlx::query_scalar(
            "INSERT INTO schedules (concert_id, starts_at, total_seats)
             VALUES ($1, now() + interval '1 day', $2) RETURNING id",
        )
        .bind(concert)
        .bind(seats)
        .fetch_one(db)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO seats (schedule_id, seat_number, price)
             SELECT $1, n, 100 FROM generate_series(1, $2) AS n",
        )
        .bind(schedule)
        .bind(seats)
        .execute(db)
        .await
        .unwrap();
        schedule
    }

    /// Whether every copy is the same one (read once, shared by all).
    fn one_copy<T>(copies: &[Arc<T>]) -> bool {
        copies.iter().all(|c| Arc::ptr_eq(c, &copies[0]))
    }

    #[sqlx::test(migrations = "./migrations")]
    async fn a_schedule_asked_for_by_many_at_once_is_read_once(db: PgPool) {
        let id = schedule_of(&db, 10_000).await;
        let catalog = SeatCatalog::default();
        let copies: Vec<Arc<ScheduleSeats>> = join_all((0..32).map(|_| catalog.schedule(&db, id)))
            .await
            .into_iter()
            .map(|s| s.unwrap().unwrap())
            .collect();
        assert_eq!(copies[0].seats.len(), 10_000);
        assert!(one_copy(&copies), "each request read its own copy");
        let again = catalog.schedule(&db, id).await.unwrap().unwrap();
        assert!(
            Arc::ptr_eq(&again, &copies[0]),
            "the largest schedule is not kept"
        );
    }

    #[sqlx::test(migrations = "./migrations")]
    async fn an_unknown_schedule_asked_for_by_many_at_once_is_looked_up_once(db: PgPool) {
        let catalog = SeatCatalog::default();
        let answers = join_all((0..32).map(|_| catalog.schedule(&db, 424_242))).await;
        assert!(answers.iter().all(|a| matches!(a, Ok(None))));
        // The waiters took the answer of the one lookup, which is kept for a moment.
        assert!(matches!(
            catalog.schedules.get(&424_242),
            Some(Loaded::Missing { failed: false, .. })
        ));
        let id = schedule_of(&db, 3).await;
        assert!(catalog.schedule(&db, id).await.unwrap().is_some());
    }

    #[sqlx::test(migrations = "./migrations")]
    async fn a_failed_read_fails_every_request_that_waited_for_it(db: PgPool) {
        let id = schedule_of(&db, 3).await;
        let catalog = SeatCatalog::default();
        db.close().await;
        let answers = join_all((0..32).map(|_| catalog.schedule(&db, id))).await;
        assert!(answers.iter().all(Result::is_err));
        assert!(matches!(
            catalog.schedules.get(&id),
            Some(Loaded::Missing { failed: true, .. })
        ));
    }

    #[sqlx::test(migrations = "./migrations")]
    async fn sold_seats_asked_for_by_many_at_once_are_read_once_per_version(db: PgPool) {
        let id = schedule_of(&db, 10).await;
        let sold = SoldSeats::default();
        let read = |version| join_all((0..32).map(|_| sold.sold(&db, id, Some(version))));
        let first: Vec<_> = read(1).await.into_iter().map(Result::unwrap).collect();
        assert!(one_copy(&first), "each request read its own copy");
        assert!(Arc::ptr_eq(&sold.fresh(id).unwrap().1, &first[0]));
        let second: Vec<_> = read(2).await.into_iter().map(Result::unwrap).collect();
        assert!(one_copy(&second), "each request read its own copy");
        assert!(
            !Arc::ptr_eq(&first[0], &second[0]),
            "a new version is read again"
        );
        assert_eq!(sold.fresh(id).unwrap().0, 2);
    }
}
