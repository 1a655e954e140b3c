//! The per-concert queue configuration hash (`ConcertKeys::config`): the api opens a queue
//! when it creates a concert (and fills in what Redis lost), the gateway reads and changes it.

use std::sync::LazyLock;

use crate::{
    config::QueueSettings,
    draw::{self, Seed},
    keys::Keys,
};

static OPEN_QUEUE: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("queue_config.lua")));

/// How a concert's sale opens, and its seats.
#[derive(Debug, Clone, Default)]
pub struct Opening {
    /// When the sale opens (ms since the epoch): joins before it wait in the pre-queue, drawn
    /// with `seed` at this time. `None`: open at once, first come, first served.
    pub opens_at_ms: Option<i64>,
    /// The draw's secret seed (with `opens_at_ms`); its commitment is published at once.
    pub seed: Option<Seed>,
    /// Seats not sold yet, per schedule that has not started: `(schedule id, seats)`.
    pub unsold: Vec<(i64, i64)>,
    /// The arrival counter's lease: the gateway hands out sequences below it only (see
    /// [`extend_lease`]). `None`: no limit (a queue without a durable copy, as in tests).
    pub seq_limit: Option<u64>,
    /// A queue opened again after Redis lost it, from its durable copy.
    pub resume: Option<Resume>,
    /// The draw as it was made, when Redis lost it after the opening (its durable copy): it
    /// comes back as it was, never drawn again.
    pub drawn: Option<DrawnOrder>,
}

/// A draw as the gateway applied it (`draw.lua`): the drawn places are `first` and the
/// sequences after it, one per entrant, in `entrants` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawnOrder {
    pub first: u64,
    /// Entrant ids (32 bytes each) in drawn order.
    pub entrants: Vec<u8>,
    pub drawn_at_ms: i64,
}

/// Where a queue Redis lost resumes from (its durable copy in Postgres).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    /// The lease the counter had: every sequence handed out before the loss is below it, and
    /// the counter goes on from it.
    pub lost_below: u64,
    /// The highest sequence admitted before the loss, as last copied: places up to it were
    /// admitted and do not come back to the line.
    pub admitted_before: u64,
}

/// Opens the queue of `concert_id`, or fills in what Redis lost of it (idempotent: run-time
/// settings, the line and the counts already there stay).
pub async fn open_queue<C>(
    conn: &mut C,
    keys: &Keys,
    concert_id: i64,
    name: &str,
    s: &QueueSettings,
    opening: &Opening,
) -> redis::RedisResult<bool>
where
    C: redis::aio::ConnectionLike + Send,
{
    let k = keys.concert(concert_id);
    let mut script = OPEN_QUEUE.key(k.config());
    script
        .key(k.unsold())
        .key(k.draw())
        .arg(name)
        .arg(s.admit_per_tick)
        .arg(s.tick_millis)
        .arg(s.max_active)
        .arg(s.session_ttl_seconds)
        .arg(u8::from(s.paused))
        .arg(opening.opens_at_ms.unwrap_or(0));
    match (&opening.seed, opening.opens_at_ms) {
        (Some(seed), Some(_)) => script
            .arg(draw::to_hex(seed))
            .arg(draw::to_hex(&draw::commitment(seed))),
        _ => script.arg("").arg(""),
    };
    match opening.seq_limit {
        Some(limit) => script.arg(limit),
        None => script.arg(""),
    };
    match opening.resume {
        Some(r) => script.arg(r.lost_below).arg(r.admitted_before),
        None => script.arg("").arg(""),
    };
    match &opening.drawn {
        Some(d) => script
            .arg(d.first)
            .arg(d.drawn_at_ms)
            .arg(d.entrants.as_slice()),
        None => script.arg("").arg("").arg(""),
    };
    for (schedule_id, seats) in &opening.unsold {
        script.arg(schedule_id).arg(seats);
    }
    let created: i64 = script.invoke_async(conn).await?;
    redis::cmd("SADD")
        .arg(keys.open_concerts())
        .arg(concert_id)
        .query_async::<()>(conn)
        .await?;
    Ok(created == 1)
}

static EXTEND_LEASE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        "local cur = tonumber(redis.call('HGET', KEYS[1], 'seqLimit') or '0') \
         if redis.call('EXISTS', KEYS[1]) == 1 and tonumber(ARGV[1]) > cur then \
           redis.call('HSET', KEYS[1], 'seqLimit', ARGV[1]) return 1 end return 0",
    )
});

/// Raises the arrival counter's lease of an open queue to `seq_limit` (never lowers it). The
/// api writes the lease to Postgres first: every sequence the gateway hands out is then
/// below a lease Postgres knows, and a queue Redis lost resumes above all of them.
pub async fn extend_lease<C>(
    conn: &mut C,
    keys: &Keys,
    concert_id: i64,
    seq_limit: u64,
) -> redis::RedisResult<bool>
where
    C: redis::aio::ConnectionLike + Send,
{
    let raised: i64 = EXTEND_LEASE
        .key(keys.concert(concert_id).config())
        .arg(seq_limit)
        .invoke_async(conn)
        .await?;
    Ok(raised == 1)
}

static RESUME: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end \
         local lost_below = tonumber(ARGV[1]) \
         local seq = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0') \
         local limit = tonumber(redis.call('HGET', KEYS[1], 'seqLimit') or '0') \
         local through = tonumber(redis.call('HGET', KEYS[1], 'admittedThrough') or '0') \
         local t = redis.call('TIME') \
         redis.call('HSET', KEYS[1], 'lostBelow', lost_below, 'admittedBefore', ARGV[2], \
                    'seq', math.max(seq, lost_below - 1), 'seqLimit', math.max(limit, tonumber(ARGV[3])), \
                    'admittedThrough', math.max(through, tonumber(ARGV[2])), \
                    'lostAt', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)) \
         return 1",
    )
});

/// Resumes an open queue that lost its last writes while keeping its config (a failover):
/// as a queue opened again after a whole loss ([`Resume`]), its counter goes on from
/// `lost_below` under `seq_limit`, and places and sessions from before come back from fans'
/// tokens. False when the queue is gone altogether.
pub async fn resume_in_place<C>(
    conn: &mut C,
    keys: &Keys,
    concert_id: i64,
    resume: Resume,
    seq_limit: u64,
) -> redis::RedisResult<bool>
where
    C: redis::aio::ConnectionLike + Send,
{
    let resumed: i64 = RESUME
        .key(keys.concert(concert_id).config())
        .arg(resume.lost_below)
        .arg(resume.admitted_before)
        .arg(seq_limit)
        .invoke_async(conn)
        .await?;
    Ok(resumed == 1)
}
