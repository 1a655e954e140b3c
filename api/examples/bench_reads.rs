//! Set-up for the read benchmarks (`wrk` on seat maps, schedules, balance, a 304): creates a
//! concert of one 50-seat and one of one 5,000-seat schedule, writes one active session for
//! each in Redis and mints its access token with the development signing key, as the gateway
//! would, so the api is measured alone.
//!
//! Env: `API_URL`, `ADMIN_TOKEN`, `REDIS_URL`, `REDIS_PREFIX`, `KEYS_DIR`. Prints shell
//! assignments: `SMALL_CONCERT`, `SMALL_SCHEDULE`, `SMALL_TOKEN`, and the same for `LARGE`.

use serde_json::{json, Value};
use shared::{
    ids::{ConcertId, TicketId, UserId},
    keys::Keys,
    session,
    token::AccessClaims,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let redis_settings = shared::config::RedisSettings::from_env()?;
    let keys = Keys::new(redis_settings.prefix.clone());
    let redis = shared::redis_pool::create_pool(&redis_settings)?;
    let keys_dir = std::env::var("KEYS_DIR").unwrap_or_else(|_| ".data/keys".into());
    let signer = shared::token::dev_key_pair(keys_dir.as_ref())?;
    let api = std::env::var("API_URL").unwrap_or_else(|_| "http://127.0.0.1:8081".into());
    let admin = std::env::var("ADMIN_TOKEN").unwrap_or_else(|_| "dev-admin-token".into());
    let client = reqwest::Client::new();
    for (name, seats) in [("SMALL", 50), ("LARGE", 5_000)] {
        let res: Value = client
            .post(format!("{api}/api/v1/admin/concerts"))
            .bearer_auth(&admin)
            .json(&json!({"name": format!("bench {seats}"), "schedules": [
                {"startsAt": "2027-06-01T19:00:00Z", "seatCount": seats, "price": 1_000},
                {"startsAt": "2027-06-02T19:00:00Z", "seatCount": seats, "price": 1_000}]}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let concert = res["concertId"].as_i64().unwrap_or_default();
        let schedule = res["schedules"][0]["scheduleId"]
            .as_i64()
            .unwrap_or_default();
        let now = chrono::Utc::now();
        let expiry_ms = now.timestamp_millis() + 3_600_000;
        let user = UserId::parse(&format!("bench-reads-{concert}"))?;
        let ticket = TicketId::new(1);
        let mut pipe = redis::pipe();
        session::start(&mut pipe, &keys.concert(concert), &user, ticket, expiry_ms);
        let mut conn = redis.get().await?;
        let () = pipe.query_async(&mut conn).await?;
        let token = signer.sign(&AccessClaims::new(
            &user,
            ConcertId::new(concert)?,
            ticket,
            now.timestamp(),
            expiry_ms / 1000,
        ))?;
        println!("{name}_CONCERT={concert}\n{name}_SCHEDULE={schedule}\n{name}_TOKEN={token}");
    }
    Ok(())
}
