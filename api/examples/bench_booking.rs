//! Booking benchmarks against a running api, for `scripts/bench`. Sessions are written to
//! Redis and access tokens minted with the development signing key, as the gateway would,
//! so the api is measured alone.
//!
//! `bench_booking holds N` — N users each hold a distinct seat; holds per second.
//! `bench_booking race N` — N users hold the same seat at once; the outcome.
//! `bench_booking payments N` — N users each pay a held seat; payments per second.
//! `bench_booking hold-requests N FILE [warm]` — N users with a distinct seat each, written
//! to FILE as `<access token> <request body>` lines for a wrk script to hold; with `warm`,
//! each user first reads its balance, so the api has verified its token, as a booking
//! session's seat-map read does before its hold.
//!
//! Env: `API_URL`, `ADMIN_TOKEN`, `REDIS_URL`, `REDIS_PREFIX`, `KEYS_DIR`, `CONCURRENCY`
//! (default 64). Prints one JSON line.

use std::{collections::BTreeMap, time::Instant};

use futures::{stream, StreamExt};
use serde_json::{json, Value};
use shared::{
    ids::{ConcertId, TicketId, UserId},
    keys::Keys,
    session,
    token::AccessClaims,
};

struct Bench {
    api: String,
    client: reqwest::Client,
    admin: String,
    keys: Keys,
    redis: shared::redis_pool::Pool,
    signer: shared::token::SigningKey,
    concurrency: usize,
}

impl Bench {
    /// A concert of `seats` seats (schedules of at most 10,000): its id and every seat with its
    /// schedule.
    async fn concert(&self, seats: usize, price: i64) -> anyhow::Result<(i64, Vec<(i64, i64)>)> {
        let per = seats.min(10_000);
        let schedules: Vec<Value> = (0..seats.div_ceil(per))
            .map(|i| json!({"startsAt": format!("2027-06-{:02}T19:00:00Z", i % 28 + 1), "seatCount": per, "price": price}))
            .collect();
        let res: Value = self
            .client
            .post(format!("{}/api/v1/admin/concerts", self.api))
            .bearer_auth(&self.admin)
            .json(&json!({"name": "bench", "schedules": schedules}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let id = res["concertId"].as_i64().unwrap_or_default();
        let seats = res["schedules"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|schedule| {
                let id = schedule["scheduleId"].as_i64().unwrap_or_default();
                schedule["seatIds"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_i64)
                    .map(move |seat| (id, seat))
            })
            .take(seats)
            .collect();
        Ok((id, seats))
    }

    /// Writes `n` active sessions and returns their access tokens.
    async fn admit(&self, concert_id: i64, n: usize) -> anyhow::Result<Vec<String>> {
        let k = self.keys.concert(concert_id);
        let now = chrono::Utc::now();
        let expiry_ms = now.timestamp_millis() + 3_600_000;
        let mut conn = self.redis.get().await?;
        let mut tokens = Vec::with_capacity(n);
        for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
            let mut pipe = redis::pipe();
            for &i in chunk {
                let user = UserId::parse(&format!("bench-{concert_id}-{i}"))?;
                let ticket = TicketId::new(i as u64 + 1);
                session::start(&mut pipe, &k, &user, ticket, expiry_ms);
                tokens.push(self.signer.sign(&AccessClaims::new(
                    &user,
                    ConcertId::new(concert_id)?,
                    ticket,
                    now.timestamp(),
                    expiry_ms / 1000,
                ))?);
            }
            let () = pipe.query_async(&mut conn).await?;
        }
        Ok(tokens)
    }

    async fn hold(&self, token: &str, schedule: i64, seat: i64) -> (u16, Option<String>) {
        let res = self
            .client
            .post(format!("{}/api/v1/reservations", self.api))
            .bearer_auth(token)
            .json(&json!({"scheduleId": schedule, "seatIds": [seat]}))
            .send()
            .await;
        match res {
            Ok(r) => {
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                (status, body["reservationId"].as_str().map(str::to_owned))
            }
            Err(_) => (0, None),
        }
    }
}

fn tally(statuses: impl IntoIterator<Item = u16>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for s in statuses {
        *m.entry(s.to_string()).or_insert(0) += 1;
    }
    m
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "holds".into());
    let n: usize = args.next().and_then(|v| v.parse().ok()).unwrap_or(5_000);
    let redis_settings = shared::config::RedisSettings::from_env()?;
    let keys_dir = std::env::var("KEYS_DIR").unwrap_or_else(|_| ".data/keys".into());
    let bench = Bench {
        api: std::env::var("API_URL").unwrap_or_else(|_| "http://127.0.0.1:8081".into()),
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(20_000)
            .build()?,
        admin: std::env::var("ADMIN_TOKEN").unwrap_or_else(|_| "dev-admin-token".into()),
        keys: Keys::new(redis_settings.prefix.clone()),
        redis: shared::redis_pool::create_pool(&redis_settings)?,
        signer: shared::token::dev_key_pair(keys_dir.as_ref())?,
        concurrency: std::env::var("CONCURRENCY")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(64),
    };
    let b = &bench;
    let out = match mode.as_str() {
        "holds" => {
            let (concert, seats) = b.concert(n, 1_000).await?;
            let tokens = b.admit(concert, n).await?;
            let started = Instant::now();
            let statuses: Vec<u16> = stream::iter(tokens.iter().zip(&seats))
                .map(|(t, &(schedule, seat))| async move { b.hold(t, schedule, seat).await.0 })
                .buffer_unordered(b.concurrency)
                .collect()
                .await;
            let secs = started.elapsed().as_secs_f64();
            json!({"mode": "holds", "requests": n, "perSecond": (n as f64 / secs).round(), "statuses": tally(statuses)})
        }
        "hold-requests" => {
            let file = args.next().unwrap_or_else(|| "hold-requests.txt".into());
            let (concert, seats) = b.concert(n, 1_000).await?;
            let tokens = b.admit(concert, n).await?;
            if args.next().as_deref() == Some("warm") {
                let _: Vec<()> = stream::iter(&tokens)
                    .map(|t| async move {
                        let _ = b
                            .client
                            .get(format!("{}/api/v1/balance", b.api))
                            .bearer_auth(t)
                            .send()
                            .await;
                    })
                    .buffer_unordered(b.concurrency)
                    .collect()
                    .await;
            }
            let mut lines = String::new();
            for (t, (schedule, seat)) in tokens.iter().zip(&seats) {
                let body = json!({"scheduleId": schedule, "seatIds": [seat]});
                lines.push_str(&format!("{t} {body}\n"));
            }
            std::fs::write(&file, lines)?;
            json!({"mode": "hold-requests", "requests": seats.len(), "file": file})
        }
        "race" => {
            let (concert, seats) = b.concert(10, 1_000).await?;
            let tokens = b.admit(concert, n).await?;
            let (schedule, seat) = seats[0];
            let started = Instant::now();
            let statuses: Vec<u16> = futures::future::join_all(
                tokens
                    .iter()
                    .map(|t| async move { b.hold(t, schedule, seat).await.0 }),
            )
            .await;
            let secs = started.elapsed().as_secs_f64();
            let winners = statuses.iter().filter(|&&s| s == 201).count();
            json!({"mode": "race", "requests": n, "winners": winners, "seconds": (secs * 100.0).round() / 100.0, "statuses": tally(statuses)})
        }
        "payments" => {
            let (concert, seats) = b.concert(n, 1_000).await?;
            let tokens = b.admit(concert, n).await?;
            let prepared: Vec<(String, String)> = stream::iter(tokens.into_iter().zip(seats))
                .map(|(t, (schedule, seat))| async move {
                    let (_, rid) = b.hold(&t, schedule, seat).await;
                    let _ = b
                        .client
                        .post(format!("{}/api/v1/balance/charge", b.api))
                        .bearer_auth(&t)
                        .json(&json!({"amount": 1_000}))
                        .send()
                        .await;
                    rid.map(|r| (t, r))
                })
                .buffer_unordered(b.concurrency)
                .filter_map(|x| async move { x })
                .collect()
                .await;
            let started = Instant::now();
            let statuses: Vec<u16> = stream::iter(prepared.iter().enumerate())
                .map(|(i, (t, rid))| async move {
                    b.client
                        .post(format!("{}/api/v1/payments", b.api))
                        .bearer_auth(t)
                        .header("Idempotency-Key", format!("bench-{i}"))
                        .json(&json!({"reservationId": rid}))
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0)
                })
                .buffer_unordered(b.concurrency)
                .collect()
                .await;
            let secs = started.elapsed().as_secs_f64();
            json!({"mode": "payments", "requests": prepared.len(), "perSecond": (prepared.len() as f64 / secs).round(), "statuses": tally(statuses)})
        }
        other => anyhow::bail!("unknown mode {other}; expected holds, race or payments"),
    };
    println!("{out}");
    Ok(())
}
