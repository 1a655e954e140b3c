//! `TestApp`: an api on port 0 with its own database and Redis prefix, a signing key to mint
//! access tokens as the gateway would, and one helper per endpoint.

use std::{collections::HashMap, net::SocketAddr};

use api::{
    config::Settings,
    startup::Application,
    store::catalog::{reopen_queues, Catalog, Reconciled},
};
use rand::Rng;
use serde_json::{json, Value};
use shared::redis_pool::Pool;
use shared::{
    config::{HttpLimits, IdentitySettings, LogSettings, QueueSettings, RedisSettings, Secret},
    identity::dev_login_token,
    ids::{ConcertId, TicketId, UserId},
    keys::Keys,
    session,
    token::{AccessClaims, SigningKey},
};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

pub const ADMIN: &str = "test-admin-token";

/// A directory of this test's own (development login key pair in it).
fn temp_keys_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "api-test-keys-{:016x}",
        rand::thread_rng().gen::<u64>()
    ))
}

pub fn test_settings(signing_key: &SigningKey) -> Settings {
    Settings {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        threads: 1,
        database_url: Secret::new("unused: tests pass their pool"),
        database_pool_size: 32,
        redis: RedisSettings {
            url: std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
            cluster_urls: shared::config::cluster_urls_from_env(),
            prefix: format!("test-{:016x}:", rand::thread_rng().gen::<u64>()),
            pool_size: 4,
        },
        public_keys: vec![signing_key.public_key().clone()],
        // The development login, with a key pair of the test's own: `TestApp::identity_token`
        // signs with it as the gateway's `/api/v1/dev/login` would.
        identity: IdentitySettings {
            dev_login: true,
            ..IdentitySettings::default()
        },
        keys_dir: temp_keys_dir(),
        admin_token: Secret::new(ADMIN),
        hold_ttl_seconds: 300,
        max_seats_per_reservation: 4,
        max_tickets_per_user: 4,
        max_charge: 10_000_000,
        queue_defaults: QueueSettings {
            admit_per_tick: 10,
            tick_millis: 100,
            max_active: 100,
            session_ttl_seconds: 600,
            paused: false,
        },
        cors_origins: vec!["http://127.0.0.1:8080".into()],
        http: HttpLimits::default(),
        log: LogSettings {
            filter: "warn".into(),
            json: false,
        },
    }
}

/// A concert created through the admin endpoint.
/// The concert a create-concert response names.
pub fn concert_of(body: &Value) -> Concert {
    Concert {
        id: body["concertId"].as_i64().unwrap(),
        schedules: body["schedules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let seats = s["seatIds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_i64().unwrap())
                    .collect();
                (s["scheduleId"].as_i64().unwrap(), seats)
            })
            .collect(),
    }
}

#[derive(Debug, Clone)]
pub struct Concert {
    pub id: i64,
    pub schedules: Vec<(i64, Vec<i64>)>,
}

impl Concert {
    pub fn schedule(&self) -> i64 {
        self.schedules[0].0
    }
    pub fn seats(&self) -> &[i64] {
        &self.schedules[0].1
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: PgPool,
    pub redis: Pool,
    pub keys: Keys,
    pub signing_key: SigningKey,
    /// The development login's key (`None` when the test configured another identity source).
    pub identity_key: Option<SigningKey>,
    stop: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl TestApp {
    pub async fn spawn(db: PgPool) -> Self {
        Self::spawn_with(db, |_| {}).await
    }

    pub async fn spawn_with(db: PgPool, configure: impl FnOnce(&mut Settings)) -> Self {
        let signing_key = SigningKey::generate();
        let mut settings = test_settings(&signing_key);
        configure(&mut settings);
        let keys = Keys::new(settings.redis.prefix.clone());
        let identity_key = settings
            .identity
            .dev_login
            .then(|| shared::token::dev_identity_key_pair(&settings.keys_dir).unwrap());
        let app = Application::build_with_pool(settings, db.clone())
            .await
            .expect("api builds");
        let base = format!("http://{}", app.local_addr());
        let redis = app.state().redis.clone();
        let stop = CancellationToken::new();
        tokio::spawn(app.run_until(stop.clone()));
        Self {
            base,
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(1024)
                .build()
                .unwrap(),
            db,
            redis,
            keys,
            signing_key,
            identity_key,
            stop,
        }
    }

    /// Another instance of the same system: this one's database, Redis keyspace and token
    /// keys, with its own in-memory copies (as a second api behind a load balancer).
    pub async fn spawn_beside(&self) -> Self {
        Self::spawn_with(self.db.clone(), |s| {
            s.redis.prefix = self.keys.prefix().to_owned();
            s.public_keys = vec![self.signing_key.public_key().clone()];
        })
        .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn create_concert_raw(&self, body: &Value, token: Option<&str>) -> reqwest::Response {
        let mut req = self
            .client
            .post(self.url("/api/v1/admin/concerts"))
            .json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// Creates a concert with one schedule per entry of `seats_per_schedule`, at `price` each.
    pub async fn create_concert(&self, seats_per_schedule: &[u32], price: i64) -> Concert {
        let schedules: Vec<Value> = seats_per_schedule
            .iter()
            .enumerate()
            .map(|(i, n)| json!({"startsAt": format!("2027-01-{:02}T19:00:00Z", i + 1), "seatCount": n, "price": price}))
            .collect();
        let res = self
            .create_concert_raw(
                &json!({"name": "Test Concert", "schedules": schedules}),
                Some(ADMIN),
            )
            .await;
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.unwrap();
        concert_of(&body)
    }

    /// One round of the queue reconciler, as `startup.rs` runs it every few seconds (the
    /// app's own rounds run too: a check holds whichever round did the work).
    pub async fn reconcile(&self) -> Reconciled {
        let defaults = QueueSettings {
            admit_per_tick: 10,
            tick_millis: 100,
            max_active: 100,
            session_ttl_seconds: 600,
            paused: false,
        };
        reopen_queues(Catalog {
            db: &self.db,
            redis: &self.redis,
            keys: &self.keys,
            queue_defaults: &defaults,
        })
        .await
        .unwrap()
    }

    /// A concert's queue config hash in Redis.
    pub async fn queue_config(&self, concert_id: i64) -> HashMap<String, String> {
        let mut conn = self.redis.get().await.unwrap();
        redis::cmd("HGETALL")
            .arg(self.keys.concert(concert_id).config())
            .query_async(&mut conn)
            .await
            .unwrap()
    }

    /// Admits `user_id` to `concert_id` as the gateway's scheduler would, and returns the
    /// access token the gateway would hand out (ticket id = `ticket`).
    pub async fn admit(&self, user_id: &str, concert_id: i64) -> String {
        self.admit_many(&[user_id], concert_id).await.remove(0)
    }

    pub async fn admit_many(&self, users: &[&str], concert_id: i64) -> Vec<String> {
        let k = self.keys.concert(concert_id);
        let now = chrono::Utc::now();
        let expiry_ms = now.timestamp_millis() + 600_000;
        let mut pipe = redis::pipe();
        let mut tokens = Vec::with_capacity(users.len());
        for user in users {
            let ticket = TicketId::new(rand::thread_rng().gen_range(1..1_000_000_000u64));
            session::start(&mut pipe, &k, &user_id(user), ticket, expiry_ms);
            tokens.push(self.token(user, concert_id, ticket, expiry_ms / 1000));
        }
        let mut conn = self.redis.get().await.unwrap();
        let () = pipe.query_async(&mut conn).await.unwrap();
        tokens
    }

    /// An access token as the gateway signs it.
    pub fn token(&self, user: &str, concert_id: i64, ticket: TicketId, exp: i64) -> String {
        let now = chrono::Utc::now().timestamp();
        let concert_id = ConcertId::new(concert_id).unwrap();
        self.signing_key
            .sign(&AccessClaims::new(
                &user_id(user),
                concert_id,
                ticket,
                now,
                exp,
            ))
            .unwrap()
    }

    /// An identity token for `user`, as the gateway's development login signs it.
    pub fn identity_token(&self, user: &str) -> String {
        let key = self
            .identity_key
            .as_ref()
            .expect("the development login is on");
        dev_login_token(key, &user_id(user), 3600).unwrap().0
    }

    /// Ends a session as the gateway does when the user leaves.
    pub async fn end_session(&self, user_id: &str, concert_id: i64) {
        let k = self.keys.concert(concert_id);
        let mut conn = self.redis.get().await.unwrap();
        let mut pipe = redis::pipe();
        session::end(&mut pipe, &k, &self::user_id(user_id));
        let () = pipe.query_async(&mut conn).await.unwrap();
    }

    /// Deletes every Redis key of this test's prefix, as if Redis lost its data.
    pub async fn flush_redis(&self) {
        let mut conn = self.redis.get().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.keys.prefix()))
            .query_async(&mut conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            let _: i64 = redis::cmd("DEL")
                .arg(keys)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    pub async fn schedules(&self, token: &str, concert_id: i64) -> reqwest::Response {
        self.get(
            &format!("/api/v1/concerts/{concert_id}/schedules"),
            Some(token),
        )
        .await
    }

    pub async fn seats(&self, token: &str, concert_id: i64, schedule_id: i64) -> reqwest::Response {
        self.get(
            &format!("/api/v1/concerts/{concert_id}/schedules/{schedule_id}/seats"),
            Some(token),
        )
        .await
    }

    pub async fn hold(&self, token: &str, schedule_id: i64, seat_ids: &[i64]) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/reservations"))
            .bearer_auth(token)
            .json(&json!({"scheduleId": schedule_id, "seatIds": seat_ids}))
            .send()
            .await
            .unwrap()
    }

    /// Holds and returns the reservation id, asserting 201.
    pub async fn hold_ok(&self, token: &str, schedule_id: i64, seat_ids: &[i64]) -> String {
        let res = self.hold(token, schedule_id, seat_ids).await;
        assert_eq!(res.status(), 201, "{:?}", res.text().await);
        let body: Value = res.json().await.unwrap();
        body["reservationId"].as_str().unwrap().to_owned()
    }

    pub async fn reservation(&self, token: &str, id: &str) -> reqwest::Response {
        self.get(&format!("/api/v1/reservations/{id}"), Some(token))
            .await
    }

    pub async fn release(&self, token: &str, id: &str) -> reqwest::Response {
        self.client
            .delete(self.url(&format!("/api/v1/reservations/{id}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn balance(&self, token: &str) -> i64 {
        let res = self.get("/api/v1/balance", Some(token)).await;
        assert_eq!(res.status(), 200);
        res.json::<Value>().await.unwrap()["balance"]
            .as_i64()
            .unwrap()
    }

    pub async fn charge(&self, token: &str, amount: Value, key: Option<&str>) -> reqwest::Response {
        let mut req = self
            .client
            .post(self.url("/api/v1/balance/charge"))
            .bearer_auth(token)
            .json(&json!({"amount": amount}));
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        req.send().await.unwrap()
    }

    pub async fn charge_ok(&self, token: &str, amount: i64) {
        let res = self.charge(token, json!(amount), None).await;
        assert_eq!(res.status(), 200);
    }

    pub async fn pay(
        &self,
        token: &str,
        reservation_id: &str,
        key: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .post(self.url("/api/v1/payments"))
            .bearer_auth(token)
            .json(&json!({"reservationId": reservation_id}));
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        req.send().await.unwrap()
    }
}

/// The committed OpenAPI document (the served one, see `openapi.rs`).
static DOCUMENT: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| {
    serde_json::from_str(include_str!("../../openapi.json")).expect("api/openapi.json")
});

/// Whether the document lists `code` under `status` for an operation of the path `path`.
fn documented(path: &str, status: u16, code: &str) -> bool {
    let segments: Vec<&str> = path.split('/').collect();
    let Some(paths) = DOCUMENT["paths"].as_object() else {
        return false;
    };
    paths
        .iter()
        .filter(|(template, _)| {
            let t: Vec<&str> = template.split('/').collect();
            t.len() == segments.len()
                && t.iter()
                    .zip(&segments)
                    .all(|(t, s)| t.starts_with('{') || t == s)
        })
        .flat_map(|(_, item)| item.as_object().into_iter().flat_map(|ops| ops.values()))
        .filter_map(|op| op["responses"].get(status.to_string()))
        .filter_map(|res| res["content"]["application/problem+json"]["schema"]["allOf"].as_array())
        .flatten()
        .filter_map(|part| part["properties"]["code"]["enum"].as_array())
        .flatten()
        .any(|c| c == code)
}

/// Asserts an RFC 9457 problem with `status` and `code`, and returns its body. The code must
/// be one the OpenAPI document lists for the path under that status.
pub async fn assert_problem(res: reqwest::Response, status: u16, code: &str) -> Value {
    let path = res.url().path().to_owned();
    if !matches!(code, "NOT_FOUND" | "METHOD_NOT_ALLOWED") {
        assert!(
            documented(&path, status, code),
            "{status} {code} is not documented for {path}"
        );
    }
    let actual = res.status();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert_eq!(actual, status, "{body}");
    assert!(
        ct.starts_with("application/problem+json"),
        "content type {ct}"
    );
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    for field in ["type", "title", "detail"] {
        assert!(body[field].is_string(), "{field} missing in {body}");
    }
    body
}

/// The invariant checks of `scripts/invariants.sql` (the ones `scripts/check-invariants`
/// runs): each a name and a SELECT of the rows that break it.
fn invariant_checks() -> Vec<(&'static str, String)> {
    let mut checks: Vec<(&'static str, String)> = Vec::new();
    for line in include_str!("../../../scripts/invariants.sql").lines() {
        if let Some(name) = line.trim().strip_prefix("-- check:") {
            checks.push((name.trim(), String::new()));
        } else if let Some((_, sql)) = checks.last_mut() {
            if !line.trim_start().starts_with("--") {
                sql.push_str(line);
                sql.push('\n');
            }
        }
    }
    checks
        .into_iter()
        .map(|(name, sql)| (name, sql.trim().trim_end_matches(';').to_owned()))
        .collect()
}

/// Checks the money and seat invariants in Postgres; panics with the offending rows.
pub async fn assert_invariants(db: &PgPool) {
    let checks = invariant_checks();
    assert!(
        checks.len() >= 5,
        "invariants.sql has too few checks: {checks:?}"
    );
    let mut broken = Vec::new();
    for (name, sql) in checks {
        let rows: Vec<String> =
            sqlx::query_scalar(&format!("SELECT to_jsonb(t)::text FROM ({sql}) AS t"))
                .fetch_all(db)
                .await
                .unwrap_or_else(|e| panic!("invariant check {name:?}: {e}"));
        if !rows.is_empty() {
            broken.push(format!("{name}: {}", rows.join(", ")));
        }
    }
    assert!(
        broken.is_empty(),
        "invariants broken:\n{}",
        broken.join("\n")
    );
}

/// A user id the test knows to be valid.
pub fn user_id(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}
