//! The per-concert queue configuration hash (`ConcertKeys::config`): the api opens a queue
//! when it creates a concert, the gateway reads and changes it.

use std::sync::LazyLock;

use crate::{config::QueueSettings, keys::Keys};

static OPEN_QUEUE: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("queue_config.lua")));

/// Opens the queue of `concert_id` (idempotent: a re-open keeps run-time settings and the line).
pub async fn open_queue<C>(
    conn: &mut C,
    keys: &Keys,
    concert_id: i64,
    name: &str,
    s: &QueueSettings,
) -> redis::RedisResult<bool>
where
    C: redis::aio::ConnectionLike + Send,
{
    let created: i64 = OPEN_QUEUE
        .key(keys.concert(concert_id).config())
        .arg(name)
        .arg(s.admit_per_tick)
        .arg(s.tick_millis)
        .arg(s.max_active)
        .arg(s.session_ttl_seconds)
        .arg(u8::from(s.paused))
        .invoke_async(conn)
        .await?;
    redis::cmd("SADD")
        .arg(keys.open_concerts())
        .arg(concert_id)
        .query_async::<()>(conn)
        .await?;
    Ok(created == 1)
}
