//! Queue benchmarks straight against Redis, for `scripts/bench`:
//! - Redis memory per waiting user after 100,000 joins through the real join script;
//! - the time of one admission tick of 5,000 users from a queue of 1,000,000.
//!
//! Uses `REDIS_URL` and a fresh random prefix; deletes its keys when done. Prints one JSON line.

use std::time::{Duration, Instant};

use futures::{stream, StreamExt};
use gateway::{admission, queue};
use rand::Rng;
use shared::{
    config::QueueSettings,
    ids::{ConcertId, UserId},
    keys::Keys,
};

fn concert(id: i64) -> ConcertId {
    ConcertId::new(id).expect("a positive concert id")
}

async fn used_memory(conn: &mut shared::redis_pool::Connection) -> anyhow::Result<i64> {
    let info: String = redis::cmd("INFO").arg("memory").query_async(conn).await?;
    let line = info
        .lines()
        .find(|l| l.starts_with("used_memory:"))
        .ok_or_else(|| anyhow::anyhow!("no used_memory in INFO"))?;
    Ok(line["used_memory:".len()..].trim().parse()?)
}

async fn delete_prefix(
    conn: &mut shared::redis_pool::Connection,
    keys: &Keys,
) -> anyhow::Result<()> {
    let found: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", keys.prefix()))
        .query_async(conn)
        .await?;
    if !found.is_empty() {
        let _: i64 = redis::cmd("UNLINK").arg(found).query_async(conn).await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let joins: usize = std::env::var("BENCH_JOINS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let queue_len: usize = std::env::var("BENCH_QUEUE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let settings = shared::config::RedisSettings::from_env()?;
    let pool = shared::redis_pool::create_pool(&settings)?;
    let keys = Keys::new(format!("bench-{:08x}:", rand::thread_rng().gen::<u32>()));
    let mut conn = pool.get().await?;

    // 1. Memory per waiting user, through the real join script.
    let qs = QueueSettings {
        admit_per_tick: 5_000,
        tick_millis: 1_000,
        max_active: 10_000_000,
        session_ttl_seconds: 600,
        paused: true,
    };
    shared::queue_config::open_queue(&mut conn, &keys, 1, "bench", &qs, &Default::default())
        .await?;
    let _: () = redis::cmd("MEMORY")
        .arg("PURGE")
        .query_async(&mut conn)
        .await
        .unwrap_or(());
    let before = used_memory(&mut conn).await?;
    let started = Instant::now();
    stream::iter(0..joins)
        .for_each_concurrent(64, |i| {
            let (pool, keys) = (pool.clone(), keys.clone());
            async move {
                let user = UserId::parse(&format!("user-{i:08}")).expect("a valid user id");
                if let Err(e) = queue::store::join(&pool, &keys, concert(1), &user).await {
                    eprintln!("join failed: {e}");
                }
            }
        })
        .await;
    let join_secs = started.elapsed().as_secs_f64();
    let after = used_memory(&mut conn).await?;
    let bytes_per_user = (after - before) as f64 / joins as f64;

    // 2. One tick of 5,000 from a queue of 1,000,000 (filled with pipelined ZADDs).
    let k = keys.concert(2);
    shared::queue_config::open_queue(
        &mut conn,
        &keys,
        2,
        "bench",
        &QueueSettings {
            paused: false,
            ..qs
        },
        &Default::default(),
    )
    .await?;
    for chunk_start in (0..queue_len).step_by(10_000) {
        let mut cmd = redis::cmd("ZADD");
        cmd.arg(k.queue());
        for i in chunk_start..(chunk_start + 10_000).min(queue_len) {
            cmd.arg(i + 1).arg(format!("user-{i:08}"));
        }
        let _: i64 = cmd.query_async(&mut conn).await?;
    }
    let mut tick_ms = Vec::new();
    for t in 1..=5u64 {
        let started = Instant::now();
        let tick = admission::admit_tick(&pool, &keys, concert(2), Some(t), Duration::ZERO).await?;
        tick_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(
            matches!(
                tick,
                admission::Tick::Ran {
                    admitted: 5_000,
                    ..
                }
            ),
            "unexpected tick {tick:?}"
        );
    }
    tick_ms.sort_by(f64::total_cmp);
    delete_prefix(&mut conn, &keys).await?;
    println!(
        "{}",
        serde_json::json!({
            "joins": joins,
            "joinsPerSecondDirect": (joins as f64 / join_secs).round(),
            "redisBytesPerWaitingUser": bytes_per_user.round(),
            "queueLength": queue_len,
            "tickOf5000MsMedian": (tick_ms[2] * 100.0).round() / 100.0,
            "tickOf5000MsMax": (tick_ms[4] * 100.0).round() / 100.0,
        })
    );
    Ok(())
}
