//! Open-model join latency for `scripts/bench`: joins are due at a fixed rate whatever the
//! server does, and each is measured from the moment it was due, so a stall counts against
//! every request it delays (no coordinated omission, as in wrk2).
//!
//! The generator is kept light so it does not take the CPU the server is measured on: a
//! pacer thread wakes every 100 µs and hands the joins due by then to a single-threaded
//! runtime, which sends each on one of `CONNECTIONS` keep-alive connections (round robin),
//! each a task writing plain HTTP/1.1 and reading the answer's status and `Content-Length`.
//! A connection still busy with an earlier join sends the next one when it is free, and that
//! join's latency includes the wait.
//!
//! With `live` as a fifth argument it sends `GET /health/live` at the same rate instead (the
//! same connections, pacing and generator, a request that does no work): the tail the host
//! and the HTTP path give at that rate, against which a join's tail can be read.
//!
//! `join_latency <gateway url> <concert id> <rate per second> <seconds> [joins|live]`; prints
//! one JSON line. Env: `CONNECTIONS` (64).

use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::mpsc,
};

/// How often the pacer wakes at most: fine enough that sending late adds little to a
/// latency, coarse enough that waking costs the generator little.
const PACE: Duration = Duration::from_micros(100);

/// What each request is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    /// `POST /api/v1/queue/tokens` of a new user; answered 201.
    Joins,
    /// `GET /health/live`; answered 200.
    Live,
}

/// One request: the user id of its join and when it was due.
struct Due {
    user: u64,
    at: Instant,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let target = match args.get(5).map(String::as_str) {
        None | Some("joins") => Target::Joins,
        Some("live") => Target::Live,
        Some(other) => anyhow::bail!("unknown target {other:?}: joins or live"),
    };
    anyhow::ensure!(
        (5..=6).contains(&args.len()),
        "usage: join_latency <gateway url> <concert id> <rate> <seconds> [joins|live]"
    );
    let (url, concert, rate, secs): (String, i64, u64, u64) = (
        args[1].clone(),
        args[2].parse()?,
        args[3].parse()?,
        args[4].parse()?,
    );
    let connections: usize = std::env::var("CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let addr = url
        .strip_prefix("http://")
        .context("the gateway url must be http://host:port")?
        .trim_end_matches('/')
        .to_owned();
    let tag: u32 = rand::random();

    let mut lanes = Vec::with_capacity(connections);
    let mut workers = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (tx, rx) = mpsc::unbounded_channel::<Due>();
        let stream = TcpStream::connect(&addr).await?;
        stream.set_nodelay(true)?;
        lanes.push(tx);
        workers.push(tokio::spawn(connection(
            stream,
            addr.clone(),
            target,
            concert,
            tag,
            rx,
        )));
    }

    // The pacer runs on its own thread, as the runtime's timers tick in whole milliseconds:
    // join n is due at start + n / rate, and every PACE (or at the next due time, if later)
    // the pacer hands the runtime the joins due by then, which go out on their lanes. A join
    // sent late (the pacer's own lateness, its sleep's overshoot) counts the delay.
    let total = rate * secs;
    let start = Instant::now();
    let due_at = move |n: u64| start + Duration::from_nanos(n * 1_000_000_000 / rate);
    let (ticks, mut due) = mpsc::unbounded_channel::<std::ops::Range<u64>>();
    let pacer = std::thread::spawn(move || {
        let mut sent = 0u64;
        while sent < total {
            let elapsed = start.elapsed().as_nanos();
            let due_by = ((elapsed * u128::from(rate) / 1_000_000_000) as u64 + 1).min(total);
            if due_by > sent {
                if ticks.send(sent..due_by).is_err() {
                    return;
                }
                sent = due_by;
            }
            if sent < total {
                let next = due_at(sent).saturating_duration_since(Instant::now());
                std::thread::sleep(next.max(PACE));
            }
        }
    });
    'pace: while let Some(joins) = due.recv().await {
        for user in joins {
            let lane = &lanes[(user % connections as u64) as usize];
            if lane
                .send(Due {
                    user,
                    at: due_at(user),
                })
                .is_err()
            {
                break 'pace; // that connection failed; its error is reported below
            }
        }
    }
    drop((lanes, due)); // the connections finish their joins; a pacer still going stops

    let mut latencies = Vec::with_capacity(total as usize);
    let mut failed = 0u64;
    for w in workers {
        let (lat, bad) = w.await??;
        latencies.extend(lat);
        failed += bad;
    }
    pacer
        .join()
        .map_err(|_| anyhow::anyhow!("the pacer panicked"))?;
    let achieved = latencies.len() as f64 / start.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let q = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let ms = |v: f64| (v * 100.0).round() / 100.0;
    println!(
        "{}",
        serde_json::json!({
            "target": if target == Target::Live { "live" } else { "joins" },
            "rate": rate, "achievedRate": achieved.round(), "requests": total, "failed": failed,
            "connections": connections,
            "p50Ms": ms(q(0.50)), "p90Ms": ms(q(0.90)), "p99Ms": ms(q(0.99)),
            "p999Ms": ms(q(0.999)), "maxMs": ms(q(1.0)),
        })
    );
    Ok(())
}

/// Sends each request handed to this connection when it is free; latencies in ms from the
/// due time, and how many were not answered with the target's status (201 or 200).
async fn connection(
    mut stream: TcpStream,
    host: String,
    target: Target,
    concert: i64,
    tag: u32,
    mut due: mpsc::UnboundedReceiver<Due>,
) -> anyhow::Result<(Vec<f64>, u64)> {
    let mut latencies = Vec::new();
    let mut failed = 0;
    let mut buf = Vec::with_capacity(4096);
    let live = format!("GET /health/live HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let expected = if target == Target::Live { 200 } else { 201 };
    while let Some(Due { user, at }) = due.recv().await {
        let join;
        let request = match target {
            Target::Live => &live,
            Target::Joins => {
                let body = format!(r#"{{"userId":"lat{tag}-{user}","concertId":{concert}}}"#);
                join = format!(
                    "POST /api/v1/queue/tokens HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                &join
            }
        };
        stream.write_all(request.as_bytes()).await?;
        let status = read_response(&mut stream, &mut buf).await?;
        latencies.push(at.elapsed().as_secs_f64() * 1000.0);
        failed += u64::from(status != expected);
    }
    Ok((latencies, failed))
}

/// Reads one HTTP/1.1 response with a `Content-Length` body; its status code.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> anyhow::Result<u16> {
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).context("response head")?;
            let status: u16 = head
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .context("status line")?;
            let length: usize = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse().ok())
                .context("content-length")?;
            while buf.len() < end + 4 + length {
                let n = stream.read(&mut chunk).await?;
                anyhow::ensure!(n > 0, "connection closed mid-body");
                buf.extend_from_slice(&chunk[..n]);
            }
            return Ok(status);
        }
        let n = stream.read(&mut chunk).await?;
        anyhow::ensure!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
    }
}
