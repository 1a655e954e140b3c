//! Open-model join latency for `scripts/bench`: sends joins at a fixed rate (not waiting for
//! answers) and measures each from its intended send time, so a stall counts against every
//! request it delays (no coordinated omission).
//!
//! `join_latency <gateway url> <concert id> <rate per second> <seconds>`; prints one JSON line.

use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() == 5,
        "usage: join_latency <gateway url> <concert id> <rate> <seconds>"
    );
    let (url, concert, rate, secs): (String, i64, u64, u64) = (
        args[1].clone(),
        args[2].parse()?,
        args[3].parse()?,
        args[4].parse()?,
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(4096)
        .build()?;
    let endpoint = format!("{url}/api/v1/queue/tokens");
    let tag: u32 = rand::random();
    let total = rate * secs;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now();
    let mut handles = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let (client, endpoint) = (client.clone(), endpoint.clone());
        handles.push(tokio::spawn(async move {
            let body = format!(r#"{{"userId":"lat{tag}-{i}","concertId":{concert}}}"#);
            let res = client
                .post(&endpoint)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            let ok = matches!(&res, Ok(r) if r.status().as_u16() == 201);
            (due.elapsed(), ok)
        }));
    }
    let mut latencies = Vec::with_capacity(handles.len());
    let mut failed = 0;
    for h in handles {
        let (latency, ok) = h.await?;
        latencies.push(latency.as_secs_f64() * 1000.0);
        failed += usize::from(!ok);
    }
    let achieved = total as f64 / start.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let q = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "{}",
        serde_json::json!({
            "rate": rate, "achievedRate": achieved.round(), "requests": total, "failed": failed,
            "p50Ms": (q(0.50) * 100.0).round() / 100.0, "p99Ms": (q(0.99) * 100.0).round() / 100.0,
            "maxMs": (q(1.0) * 100.0).round() / 100.0,
        })
    );
    Ok(())
}
