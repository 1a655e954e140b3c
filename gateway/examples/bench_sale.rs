//! The sale's benchmarks, for `scripts/bench` (each mode prints one JSON line):
//!
//! - `draw`: the draw of `BENCH_DRAW_ENTRANTS` (100,000) pre-queue entrants, straight against
//!   Redis: the pre-queue is filled as `join.lua` fills it (entry numbers, `preSeq`), the sale
//!   opens, and `gateway::queue::draw::draw` runs; the time from the call to the draw applied
//!   (`BENCH_DRAW_RUNS` runs, 3, each on its own concert), and Redis's memory per waiting user
//!   after the draw (`used_memory` after the first draw less before its pre-queue was filled:
//!   the line, the published order and the config, as the memory figure of `bench_queue`).
//!   Uses `REDIS_URL` and a fresh random prefix; deletes its keys when done.
//! - `soldout GATEWAY_URL CONCERT_ID TOKENS_FILE`: the queue tokens of users waiting in the
//!   concert's line (one a line) are polled (`GET /api/v1/queue/status`) over and over, 64 at a
//!   time; once every one answers WAITING, the concert's last seats are sold as the api's sale
//!   records them (`HINCRBY` of `{c:<id>}:unsold` down to 0, under `REDIS_PREFIX`), and the
//!   polls go on until every user has been answered `SOLD_OUT`: the time from the last sale to
//!   each user's first `SOLD_OUT` (max, p50, p99).
//! - `open N FIRST_ID` / `close N FIRST_ID`: opens (or closes, as the api's admin close does:
//!   `HSETNX closed CLOSED`) the queues of concerts FIRST_ID..FIRST_ID+N under `REDIS_PREFIX`,
//!   with the default queue settings (a tick a second), so a running gateway's scheduler
//!   takes them up (or drops them): `scripts/bench` measures its CPU cost either way.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use futures::{stream, StreamExt};
use gateway::queue::draw;
use rand::Rng;
use shared::{config::QueueSettings, keys::Keys, queue_config::Opening};

type Conn = shared::redis_pool::Connection;

async fn used_memory(conn: &mut Conn) -> anyhow::Result<i64> {
    let info: String = redis::cmd("INFO").arg("memory").query_async(conn).await?;
    let line = info
        .lines()
        .find(|l| l.starts_with("used_memory:"))
        .ok_or_else(|| anyhow::anyhow!("no used_memory in INFO"))?;
    Ok(line["used_memory:".len()..].trim().parse()?)
}

/// Waits until Redis has freed what earlier UNLINKs handed to its background thread, so
/// `used_memory` measures what is there.
async fn settle(conn: &mut Conn) -> anyhow::Result<()> {
    for _ in 0..300 {
        let info: String = redis::cmd("INFO").arg("memory").query_async(conn).await?;
        let pending = info
            .lines()
            .find_map(|l| l.strip_prefix("lazyfree_pending_objects:"))
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(0);
        if pending == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn delete_prefix(conn: &mut Conn, keys: &Keys) -> anyhow::Result<()> {
    let found: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", keys.prefix()))
        .query_async(conn)
        .await?;
    for chunk in found.chunks(500) {
        let _: i64 = redis::cmd("UNLINK").arg(chunk).query_async(conn).await?;
    }
    Ok(())
}

/// Microseconds Redis has spent in EVALSHA calls so far (INFO commandstats): the draw
/// script's time, when nothing else runs scripts meanwhile.
async fn script_usec(conn: &mut Conn) -> anyhow::Result<i64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await?;
    Ok(info
        .lines()
        .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
        .filter_map(|l| l.split(',').find_map(|f| f.strip_prefix("usec=")))
        .filter_map(|v| v.parse::<i64>().ok())
        .sum())
}

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn default_settings() -> QueueSettings {
    QueueSettings {
        admit_per_tick: 50,
        tick_millis: 1_000,
        max_active: 1_000,
        session_ttl_seconds: 600,
        paused: false,
    }
}

fn median(sorted: &[f64]) -> f64 {
    sorted[sorted.len() / 2]
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Fills the pre-queue of `concert` with `n` entrants as join.lua does (entry numbers from 1,
/// `preSeq` = n), pipelined in chunks.
async fn fill_pre_queue(
    conn: &mut Conn,
    keys: &Keys,
    concert: i64,
    n: usize,
) -> anyhow::Result<()> {
    let k = keys.concert(concert);
    for start in (0..n).step_by(10_000) {
        let mut cmd = redis::cmd("ZADD");
        cmd.arg(k.pre_queue());
        for i in start..(start + 10_000).min(n) {
            cmd.arg(i + 1).arg(format!("fan-{concert}-{i:08}"));
        }
        let _: i64 = cmd.query_async(conn).await?;
    }
    let _: i64 = redis::cmd("HINCRBY")
        .arg(k.config())
        .arg("preSeq")
        .arg(n)
        .query_async(conn)
        .await?;
    Ok(())
}

async fn bench_draw() -> anyhow::Result<serde_json::Value> {
    let entrants = env_num("BENCH_DRAW_ENTRANTS", 100_000);
    let runs = env_num("BENCH_DRAW_RUNS", 3).max(1);
    let settings = shared::config::RedisSettings::from_env()?;
    let pool = shared::redis_pool::create_pool(&settings)?;
    let keys = Keys::new(format!("bench-{:08x}:", rand::thread_rng().gen::<u32>()));
    let mut conn = pool.get().await?;
    let mut draw_ms = Vec::new();
    let (mut script_ms, mut order_ms) = (Vec::new(), Vec::new());
    let mut bytes_per_user = 0.0;
    let mut keys_bytes = 0i64;
    let mut draw_bytes = 0;
    for run in 1..=runs {
        let concert = run as i64;
        // Opens in a while: the pre-queue fills first, then the opening is moved to now.
        let opens_at = now_ms() + 3_600_000;
        shared::queue_config::open_queue(
            &mut conn,
            &keys,
            concert,
            "bench",
            &QueueSettings {
                paused: true,
                ..default_settings()
            },
            &Opening {
                opens_at_ms: Some(opens_at),
                seed: Some(shared::draw::new_seed()),
                unsold: vec![(concert, 100_000)],
                ..Default::default()
            },
        )
        .await?;
        let _: () = redis::cmd("MEMORY")
            .arg("PURGE")
            .query_async(&mut conn)
            .await
            .unwrap_or(());
        settle(&mut conn).await?;
        let before = used_memory(&mut conn).await?;
        fill_pre_queue(&mut conn, &keys, concert, entrants).await?;
        // The sale opens (the opening has passed: the draw is due).
        let k = keys.concert(concert);
        let _: i64 = redis::cmd("HSET")
            .arg(k.config())
            .arg("opensAt")
            .arg(now_ms() - 1)
            .query_async(&mut conn)
            .await?;
        let script_before = script_usec(&mut conn).await?;
        let started = Instant::now();
        let placed = draw::draw(
            &pool,
            &keys,
            shared::ids::ConcertId::new(concert).map_err(|e| anyhow::anyhow!("{e:?}"))?,
        )
        .await?;
        draw_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        script_ms.push((script_usec(&mut conn).await? - script_before) as f64 / 1000.0);
        // The gateway's share: the entrant ids and keys hashed and sorted (shared::draw), as
        // draw() does with what it read.
        let mut ordered: Vec<(String, [u8; 32])> = (0..entrants)
            .map(|i| format!("fan-{concert}-{i:08}"))
            .map(|u| {
                let id = shared::draw::entrant_id(concert, &u);
                (u, id)
            })
            .collect();
        let ordering = Instant::now();
        shared::draw::order(&shared::draw::new_seed(), &mut ordered);
        order_ms.push(ordering.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(
            placed == Some(entrants as u64),
            "the draw placed {placed:?} of {entrants}"
        );
        let (waiting, pre): (u64, u64) = redis::pipe()
            .cmd("ZCARD")
            .arg(k.queue())
            .cmd("EXISTS")
            .arg(k.pre_queue())
            .query_async(&mut conn)
            .await?;
        anyhow::ensure!(
            waiting == entrants as u64 && pre == 0,
            "after the draw: {waiting} waiting, pre-queue still there: {pre}"
        );
        if run == 1 {
            settle(&mut conn).await?;
            let after = used_memory(&mut conn).await?;
            bytes_per_user = (after - before) as f64 / entrants as f64;
            // The same from the concert's own keys (MEMORY USAGE, exact): what other clients of
            // a shared Redis do meanwhile does not move it.
            for key in [
                k.config(),
                k.queue(),
                k.queue_gaps(),
                k.draw(),
                k.unsold(),
                k.pre_queue(),
            ] {
                let used: Option<i64> = redis::cmd("MEMORY")
                    .arg("USAGE")
                    .arg(&key)
                    .arg("SAMPLES")
                    .arg(0)
                    .query_async(&mut conn)
                    .await?;
                keys_bytes += used.unwrap_or(0);
            }
            draw_bytes = redis::cmd("STRLEN")
                .arg(k.draw())
                .query_async::<i64>(&mut conn)
                .await?;
        }
        // Each run on a Redis without the last one's line.
        delete_prefix(&mut conn, &keys).await?;
    }
    let mut sorted = draw_ms.clone();
    sorted.sort_by(f64::total_cmp);
    Ok(serde_json::json!({
        "entrants": entrants,
        "runs": runs,
        "drawMsMedian": round2(median(&sorted)),
        "drawMsMax": round2(sorted[sorted.len() - 1]),
        "drawMs": draw_ms.iter().map(|x| round2(*x)).collect::<Vec<_>>(),
        "scriptMs": script_ms.iter().map(|x| round2(*x)).collect::<Vec<_>>(),
        "orderMs": order_ms.iter().map(|x| round2(*x)).collect::<Vec<_>>(),
        "redisBytesPerWaitingUserAfterDraw": bytes_per_user.round(),
        "publishedOrderBytesPerUser": draw_bytes as f64 / entrants as f64,
        "keysBytesPerWaitingUserAfterDraw": (keys_bytes as f64 / entrants as f64).round(),
    }))
}

async fn bench_sold_out(
    gateway: &str,
    concert: i64,
    tokens_file: &str,
) -> anyhow::Result<serde_json::Value> {
    let tokens: Vec<String> = std::fs::read_to_string(tokens_file)?
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    anyhow::ensure!(!tokens.is_empty(), "no tokens in {tokens_file}");
    let settings = shared::config::RedisSettings::from_env()?;
    let keys = Keys::new(settings.prefix.clone());
    let pool = shared::redis_pool::create_pool(&settings)?;
    let mut conn = pool.get().await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(10))
        .build()?;
    let url = format!("{}/api/v1/queue/status", gateway.trim_end_matches('/'));
    // One sweep: every token's status, 64 at a time; (index, status) pairs.
    let sweep = |ids: Vec<usize>| {
        let (client, url, tokens) = (client.clone(), url.clone(), &tokens);
        async move {
            stream::iter(ids)
                .map(|i| {
                    let (client, url) = (client.clone(), url.clone());
                    let token = tokens[i].clone();
                    async move {
                        let status = match client.get(&url).bearer_auth(token).send().await {
                            Ok(res) => res
                                .json::<serde_json::Value>()
                                .await
                                .ok()
                                .and_then(|v| v["status"].as_str().map(str::to_owned))
                                .unwrap_or_else(|| "?".into()),
                            Err(_) => "no answer".into(),
                        };
                        (i, status, Instant::now())
                    }
                })
                .buffer_unordered(64)
                .collect::<Vec<_>>()
                .await
        }
    };
    // Everyone waits first.
    let first = sweep((0..tokens.len()).collect()).await;
    let mut statuses: HashMap<String, usize> = HashMap::new();
    for (_, s, _) in &first {
        *statuses.entry(s.clone()).or_default() += 1;
    }
    anyhow::ensure!(
        statuses.get("WAITING") == Some(&tokens.len()),
        "before the last sale, not everyone waits: {statuses:?}"
    );
    // The last seats are sold, as the api's sale records them.
    let k = keys.concert(concert);
    let unsold: HashMap<String, i64> = redis::cmd("HGETALL")
        .arg(k.unsold())
        .query_async(&mut conn)
        .await?;
    anyhow::ensure!(
        !unsold.is_empty(),
        "concert {concert} has no unsold counts in Redis"
    );
    for (schedule, left) in &unsold {
        if *left > 0 {
            let _: i64 = redis::cmd("HINCRBY")
                .arg(k.unsold())
                .arg(schedule)
                .arg(-left)
                .query_async(&mut conn)
                .await?;
        }
    }
    let sold_at = Instant::now();
    // Poll the ones not told yet, sweep after sweep, until all are (or 30 s).
    let mut told: Vec<Option<f64>> = vec![None; tokens.len()];
    let mut sweeps = 0;
    let mut others: HashMap<String, usize> = HashMap::new();
    while told.iter().any(Option::is_none) && sold_at.elapsed() < Duration::from_secs(30) {
        let left: Vec<usize> = (0..tokens.len()).filter(|&i| told[i].is_none()).collect();
        sweeps += 1;
        for (i, status, at) in sweep(left).await {
            if status == "SOLD_OUT" {
                told[i] = Some(at.duration_since(sold_at).as_secs_f64() * 1000.0);
            } else if status != "WAITING" {
                *others.entry(status).or_default() += 1;
            }
        }
    }
    let mut reach: Vec<f64> = told.iter().flatten().copied().collect();
    reach.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        reach
            .get(((reach.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .map(|x| round2(*x))
    };
    let (tick_millis, closed): (Option<u64>, Option<String>) = redis::pipe()
        .cmd("HGET")
        .arg(k.config())
        .arg("tickMillis")
        .cmd("HGET")
        .arg(k.config())
        .arg("closed")
        .query_async(&mut conn)
        .await?;
    Ok(serde_json::json!({
        "users": tokens.len(),
        "toldSoldOut": reach.len(),
        "reachMsMax": pct(1.0),
        "reachMsP50": pct(0.5),
        "reachMsP99": pct(0.99),
        "sweepsAfterTheSale": sweeps,
        "otherAnswers": others,
        "tickMillis": tick_millis,
        "closed": closed,
    }))
}

async fn open_or_close(open: bool, n: i64, first: i64) -> anyhow::Result<serde_json::Value> {
    let settings = shared::config::RedisSettings::from_env()?;
    let keys = Keys::new(settings.prefix.clone());
    let pool = shared::redis_pool::create_pool(&settings)?;
    let mut conn = pool.get().await?;
    let started = Instant::now();
    for id in first..first + n {
        if open {
            shared::queue_config::open_queue(
                &mut conn,
                &keys,
                id,
                "scheduler bench",
                &default_settings(),
                &Opening {
                    unsold: vec![(id, 100)],
                    ..Default::default()
                },
            )
            .await?;
        } else {
            let _: i64 = redis::cmd("HSETNX")
                .arg(keys.concert(id).config())
                .arg("closed")
                .arg("CLOSED")
                .query_async(&mut conn)
                .await?;
        }
    }
    let open_set: i64 = redis::cmd("SCARD")
        .arg(keys.open_concerts())
        .query_async(&mut conn)
        .await?;
    Ok(serde_json::json!({
        "mode": if open { "open" } else { "close" },
        "concerts": n,
        "ms": round2(started.elapsed().as_secs_f64() * 1000.0),
        "openSet": open_set,
    }))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> anyhow::Result<&str> {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| anyhow::anyhow!("usage: bench_sale draw | soldout GATEWAY_URL CONCERT_ID TOKENS_FILE | open N FIRST_ID | close N FIRST_ID"))
    };
    let out = match arg(0)? {
        "draw" => bench_draw().await?,
        "soldout" => bench_sold_out(arg(1)?, arg(2)?.parse()?, arg(3)?).await?,
        mode @ ("open" | "close") => {
            open_or_close(mode == "open", arg(1)?.parse()?, arg(2)?.parse()?).await?
        }
        other => anyhow::bail!("unknown mode {other:?}"),
    };
    println!("{out}");
    Ok(())
}
