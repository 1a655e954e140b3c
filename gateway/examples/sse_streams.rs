//! Event streams at scale, for `scripts/bench` (`BENCH_ONLY=sse`): one gateway holding N
//! concurrent `GET /api/v1/queue/events` streams (20,000 by default), what each costs it in
//! memory, how soon admission reaches a stream, and what the streams cost Redis.
//!
//! `sse_streams <gateway url> <streams> <gateway pid>`; prints one JSON line. The run:
//!
//! 1. Opens a concert's queue of its own, paused (`SSE_CONCERT`, 3,000,000, under
//!    `REDIS_PREFIX`; a tick a second, `SSE_ADMIT_PER_TICK` (50) a tick, seats not counted),
//!    as the api does, so the gateway's scheduler takes it up.
//! 2. Joins `SSE_ADMIT_PER_TICK x SSE_ADMIT_SECONDS` fans (admitted while no stream is open),
//!    then N fans more, each with an identity token of the development login (`KEYS_DIR`).
//! 3. Redis commands per tick (`INFO commandstats`, every command but `INFO`, over the window,
//!    divided by its ticks) with no stream open: paused, then admitting for
//!    `SSE_ADMIT_SECONDS` (10; resumed and paused through the admin endpoint, `ADMIN_TOKEN`).
//! 4. Opens the N streams (`?token=`, as `EventSource` does), each on a connection of its own
//!    (so the gateway's own stream loop serves it, not hyper), at most 256 connecting at a time,
//!    from `SSE_SOURCES` (8) loopback addresses 127.0.0.1.. (bound before connecting, so each
//!    address has its own ephemeral ports), and waits for every stream's first event. The
//!    gateway's memory growth per stream is its `VmRSS` (`/proc/<pid>/status`) after, less
//!    before, over N.
//! 5. Redis commands per tick again with the N streams open: paused, then admitting (the
//!    fans at the front of the N).
//! 6. Admission-to-event latency of every stream admitted: the moment its `ACTIVE` event was
//!    read, less the moment its tick admitted it (the session's expiry in the active set, on
//!    Redis's clock, which is this host's, less the session's length).
//!
//! Env: `REDIS_URL`, `REDIS_PREFIX`, `KEYS_DIR`, `ADMIN_TOKEN`, `SSE_CONCERT`,
//! `SSE_ADMIT_PER_TICK`, `SSE_ADMIT_SECONDS`, `SSE_QUIET_SECONDS` (5: the paused windows),
//! `SSE_SOURCES`. A Redis of the bench's own makes the command counts exact (a shared one
//! counts its other clients' commands too). Needs a file limit above N for this process and
//! the gateway (`ulimit -n`; `scripts/bench` raises it as far as the hard limit allows).

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{
        atomic::{AtomicI64, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use futures::{stream, StreamExt};
use redis::aio::MultiplexedConnection;
use serde_json::json;
use shared::{config::QueueSettings, ids::UserId, keys::Keys, queue_config::Opening};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpSocket,
};

const TICK_MILLIS: u32 = 1_000;
const SESSION_TTL_SECS: u32 = 600;
/// Streams connecting at once (the gateway's listen backlog is 1,024 per thread).
const CONNECTING: usize = 256;
/// Joins in flight at once.
const JOINING: usize = 64;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn rss_kb(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for pid {pid}"))
}

/// Every command Redis has run so far, but `INFO` (this program's own).
async fn commands(conn: &mut MultiplexedConnection) -> anyhow::Result<u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await?;
    Ok(info
        .lines()
        .filter(|l| l.starts_with("cmdstat_") && !l.starts_with("cmdstat_info:"))
        .filter_map(|l| l.split(',').find_map(|f| f.split("calls=").nth(1)))
        .filter_map(|v| v.parse::<u64>().ok())
        .sum())
}

/// Redis commands per tick over `secs`.
async fn per_tick(conn: &mut MultiplexedConnection, secs: u64) -> anyhow::Result<f64> {
    let before = commands(conn).await?;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let after = commands(conn).await?;
    let ticks = started.elapsed().as_secs_f64() * 1000.0 / f64::from(TICK_MILLIS);
    Ok(((after - before) as f64 / ticks * 10.0).round() / 10.0)
}

struct Bench {
    http: reqwest::Client,
    gateway: String,
    concert: i64,
    admin_token: String,
    admit_per_tick: u32,
}

impl Bench {
    async fn set_paused(&self, paused: bool) -> anyhow::Result<()> {
        let res = self
            .http
            .put(format!(
                "{}/api/v1/admin/queues/{}",
                self.gateway, self.concert
            ))
            .bearer_auth(&self.admin_token)
            .json(
                &json!({"admitPerTick": self.admit_per_tick, "tickMillis": TICK_MILLIS,
                "maxActive": 1_000_000, "sessionTtlSeconds": SESSION_TTL_SECS, "paused": paused}),
            )
            .send()
            .await?;
        anyhow::ensure!(
            res.status().is_success(),
            "queue settings: {}",
            res.status()
        );
        Ok(())
    }

    /// Joins the fans `names`, each signed in with a development-login token; their queue
    /// tokens, in the same order.
    async fn join(
        &self,
        key: &shared::token::SigningKey,
        names: Vec<String>,
    ) -> anyhow::Result<Vec<String>> {
        let joins = names.into_iter().map(|name| {
            let user = UserId::parse(&name).expect("a valid user id");
            let identity = shared::identity::dev_login_token(key, &user, 3600)
                .expect("signing")
                .0;
            async move {
                let res = self
                    .http
                    .post(format!("{}/api/v1/queue/tokens", self.gateway))
                    .bearer_auth(identity)
                    .json(&json!({"concertId": self.concert}))
                    .send()
                    .await?;
                anyhow::ensure!(res.status().is_success(), "join: {}", res.status());
                let body: serde_json::Value = res.json().await?;
                Ok(body["queueToken"].as_str().unwrap_or_default().to_owned())
            }
        });
        stream::iter(joins)
            .buffered(JOINING)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect()
    }
}

/// What the streams saw, per stream: the moment (ms) of its first `ACTIVE` event (0: none).
struct Seen {
    active_at: Vec<AtomicI64>,
    events: AtomicU64,
}

/// Opens stream `i` and reads its first event; then reads the rest in a task of its own.
async fn open_stream(
    i: usize,
    target: SocketAddr,
    sources: u64,
    token: String,
    seen: Arc<Seen>,
) -> anyhow::Result<()> {
    let socket = TcpSocket::new_v4()?;
    let source = Ipv4Addr::new(127, 0, 0, 1 + (i as u64 % sources) as u8);
    socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
    let mut conn = socket.connect(target).await?;
    let request = format!(
        "GET /api/v1/queue/events?token={token} HTTP/1.1\r\nHost: {target}\r\n\
         Accept: text/event-stream\r\n\r\n"
    );
    conn.write_all(request.as_bytes()).await?;
    let mut pending: Vec<u8> = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    // The headers and the first event.
    loop {
        let n = conn.read(&mut buf).await?;
        anyhow::ensure!(n > 0, "stream {i} closed before its first event");
        pending.extend_from_slice(&buf[..n]);
        if !pending.starts_with(b"HTTP/1.1 200") && pending.len() > 12 {
            anyhow::bail!(
                "stream {i}: {}",
                String::from_utf8_lossy(&pending[..pending.len().min(200)])
            );
        }
        if find(&pending, b"data:").is_some() && find(&pending, b"\n\n").is_some() {
            break;
        }
    }
    seen.events.fetch_add(1, Ordering::Relaxed);
    pending.clear();
    tokio::spawn(async move {
        let mut buf = [0u8; 1024];
        while let Ok(n) = conn.read(&mut buf).await {
            if n == 0 {
                return;
            }
            let at = now_ms();
            pending.extend_from_slice(&buf[..n]);
            while let Some(end) = find(&pending, b"\n\n") {
                let event = &pending[..end];
                if find(event, b"data:").is_some() {
                    seen.events.fetch_add(1, Ordering::Relaxed);
                    if find(event, b"\"status\":\"ACTIVE\"").is_some() {
                        let _ = seen.active_at[i].compare_exchange(
                            0,
                            at,
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        );
                    }
                }
                pending.drain(..end + 2);
            }
        }
    });
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

// One thread: the generator leaves the other core to the gateway.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [gateway, streams, pid] = <[String; 3]>::try_from(args)
        .map_err(|_| anyhow::anyhow!("usage: sse_streams <gateway url> <streams> <gateway pid>"))?;
    let n: usize = streams.parse()?;
    let pid: u32 = pid.parse()?;
    let target: SocketAddr = gateway
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .context("the gateway url is http://<ip>:<port>")?;
    let env = |name: &str| std::env::var(name).with_context(|| format!("{name} is not set"));
    let admit_per_tick = env_num("SSE_ADMIT_PER_TICK", 50) as u32;
    let admit_secs = env_num("SSE_ADMIT_SECONDS", 10);
    let quiet_secs = env_num("SSE_QUIET_SECONDS", 5);
    let sources = env_num("SSE_SOURCES", 8).clamp(1, 250);
    let prefix = env("REDIS_PREFIX")?;
    let keys = Keys::new(prefix);
    let mut redis = redis::Client::open(env("REDIS_URL")?)?
        .get_multiplexed_async_connection()
        .await?;
    let key = shared::token::dev_identity_key_pair(std::path::Path::new(&env("KEYS_DIR")?))
        .context("KEYS_DIR: the development login's key")?;
    let bench = Bench {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(JOINING)
            .build()?,
        gateway: gateway.trim_end_matches('/').to_owned(),
        concert: env_num("SSE_CONCERT", 3_000_000) as i64,
        admin_token: env("ADMIN_TOKEN")?,
        admit_per_tick,
    };

    let settings = QueueSettings {
        admit_per_tick,
        tick_millis: TICK_MILLIS,
        max_active: 1_000_000,
        session_ttl_seconds: SESSION_TTL_SECS,
        paused: true,
    };
    shared::queue_config::open_queue(
        &mut redis,
        &keys,
        bench.concert,
        "sse bench",
        &settings,
        &Opening::default(),
    )
    .await?;
    let early = (admit_per_tick as u64 * admit_secs) as usize;
    let run = format!("{:x}", now_ms());
    eprintln!("sse_streams: {early} early fans join, then {n} with streams");
    bench
        .join(
            &key,
            (0..early).map(|i| format!("sse-early-{run}-{i}")).collect(),
        )
        .await?;
    let users: Vec<String> = (0..n).map(|i| format!("sse-{run}-{i}")).collect();
    let tokens = bench.join(&key, users.clone()).await?;
    // The scheduler lists the open concerts every second.
    tokio::time::sleep(Duration::from_secs(2)).await;

    eprintln!("sse_streams: Redis commands per tick, no stream open");
    let none_paused = per_tick(&mut redis, quiet_secs).await?;
    bench.set_paused(false).await?;
    let none_admitting = per_tick(&mut redis, admit_secs).await?;
    bench.set_paused(true).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let rss_before = rss_kb(pid)?;
    eprintln!("sse_streams: opening {n} streams from {sources} source addresses");
    let seen = Arc::new(Seen {
        active_at: (0..n).map(|_| AtomicI64::new(0)).collect(),
        events: AtomicU64::new(0),
    });
    let started = Instant::now();
    let opened: Vec<anyhow::Result<()>> = stream::iter(
        tokens
            .into_iter()
            .enumerate()
            .map(|(i, token)| open_stream(i, target, sources, token, seen.clone())),
    )
    .buffer_unordered(CONNECTING)
    .collect()
    .await;
    let failed: Vec<String> = opened
        .into_iter()
        .filter_map(|r| r.err().map(|e| format!("{e:#}")))
        .collect();
    let open_ms = started.elapsed().as_millis() as u64;
    if let Some(first) = failed.first() {
        eprintln!(
            "sse_streams: {} streams failed to open; the first: {first}",
            failed.len()
        );
    }
    let open = n - failed.len();
    // Let the allocator settle (freed buffers of the opening) before reading the RSS.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_kb(pid)?;

    eprintln!("sse_streams: Redis commands per tick with {open} streams open");
    let streams_paused = per_tick(&mut redis, quiet_secs).await?;
    let events_before = seen.events.load(Ordering::Relaxed);
    let window_ms = now_ms();
    bench.set_paused(false).await?;
    let streams_admitting = per_tick(&mut redis, admit_secs).await?;
    bench.set_paused(true).await?;
    let events_admitting = seen.events.load(Ordering::Relaxed) - events_before;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // When each stream's fan was admitted: the session's expiry less its length.
    let expiries: Vec<Option<f64>> = redis::cmd("ZMSCORE")
        .arg(keys.concert(bench.concert).active())
        .arg(&users)
        .query_async(&mut redis)
        .await?;
    let ttl_ms = i64::from(SESSION_TTL_SECS) * 1000;
    let mut latencies = Vec::new();
    // The slowest of each tick: whether a tail is one tick's (the resume's) or every tick's.
    let mut slowest_by_tick = std::collections::BTreeMap::<i64, i64>::new();
    let mut admitted = 0;
    for (i, expiry) in expiries.iter().enumerate() {
        // Admitted in this window (not one the window without streams reached).
        let Some(admitted_at) = expiry
            .map(|e| e as i64 - ttl_ms)
            .filter(|at| *at >= window_ms)
        else {
            continue;
        };
        admitted += 1;
        let at = seen.active_at[i].load(Ordering::Relaxed);
        if at > 0 {
            latencies.push(at - admitted_at);
            let slowest = slowest_by_tick
                .entry(admitted_at / i64::from(TICK_MILLIS))
                .or_default();
            *slowest = (*slowest).max(at - admitted_at);
        }
    }
    latencies.sort_unstable();
    let growth = rss_after.saturating_sub(rss_before);
    println!(
        "{}",
        json!({
            "streams": n,
            "open": open,
            "failedToOpen": failed.len(),
            "openMs": open_ms,
            "rssBeforeKb": rss_before,
            "rssAfterKb": rss_after,
            "bytesPerStream": if open > 0 { growth * 1024 / open as u64 } else { 0 },
            "admitPerTick": admit_per_tick,
            "tickMillis": TICK_MILLIS,
            "admitted": admitted,
            "toldActive": latencies.len(),
            "latencyMsP50": percentile(&latencies, 50.0),
            "latencyMsP99": percentile(&latencies, 99.0),
            "latencyMsMax": latencies.last(),
            "latencyMsMaxByTick": slowest_by_tick.values().collect::<Vec<_>>(),
            "eventsWhileAdmitting": events_admitting,
            "redisCommandsPerTick": {
                "noStreamsPaused": none_paused,
                "noStreamsAdmitting": none_admitting,
                "streamsPaused": streams_paused,
                "streamsAdmitting": streams_admitting,
            },
        })
    );
    Ok(())
}
