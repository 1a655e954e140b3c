//! `TestApp`: a gateway on port 0 with its own Redis prefix, and one helper per endpoint.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::atomic::{AtomicU64, Ordering},
};

use gateway::{
    admission::{self, Tick},
    config::Settings,
    startup::Application,
    state::AppState,
};
use rand::Rng;
use serde_json::{json, Value};
use shared::redis_pool::Pool;
use shared::{
    config::{HttpLimits, IdentitySettings, LogSettings, QueueSettings, RedisSettings, Secret},
    ids::{ConcertId, UserId},
    keys::Keys,
    queue_config::Opening,
    token::SigningKey,
};
use tokio_util::sync::CancellationToken;

pub const ADMIN: &str = "test-admin-token";

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A directory of this test's own (the development key pairs), under cargo's target dir.
pub fn temp_dir(what: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{what}-{:016x}", rand::thread_rng().gen::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Settings of a test gateway: port 0, its own Redis prefix and keys, the development login
/// on (the tests sign in through it, or mint its tokens with [`TestApp::identity_token`]).
pub fn test_settings() -> Settings {
    Settings {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        threads: 1,
        redis: RedisSettings {
            url: redis_url(),
            cluster_urls: shared::config::cluster_urls_from_env(),
            prefix: format!("test-{:016x}:", rand::thread_rng().gen::<u64>()),
            pool_size: 4,
        },
        admin_token: Secret::new(ADMIN),
        signing_key: SigningKey::generate(),
        extra_public_keys: vec![],
        queue_token_key: rand::thread_rng().gen(),
        identity: IdentitySettings {
            dev_login: true,
            ..IdentitySettings::default()
        },
        keys_dir: temp_dir("keys"),
        join_rate_per_second: 0,
        api_public_url: "http://127.0.0.1:8081".into(),
        scheduler: false,
        status_view: std::time::Duration::from_millis(100),
        activation: std::time::Duration::from_secs(60),
        http: HttpLimits::default(),
        log: LogSettings {
            filter: "warn".into(),
            json: false,
        },
    }
}

/// A concert id of a test (always positive).
pub fn concert(id: i64) -> ConcertId {
    ConcertId::new(id).expect("a positive concert id")
}

pub fn queue_settings(
    admit_per_tick: u32,
    max_active: u32,
    session_ttl_seconds: u32,
) -> QueueSettings {
    QueueSettings {
        admit_per_tick,
        tick_millis: 100,
        max_active,
        session_ttl_seconds,
        paused: false,
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub keys: Keys,
    pub redis: Pool,
    pub settings: Settings,
    /// The running gateway's state (its line views, its batchers).
    pub state: AppState,
    /// The development login's key (when it is on), to mint identity tokens without a request.
    pub dev_identity_key: Option<SigningKey>,
    stop: CancellationToken,
    tick: AtomicU64,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = test_settings();
        configure(&mut settings);
        let app = Application::build(settings.clone())
            .await
            .expect("gateway builds");
        let base = format!("http://{}", app.local_addr());
        let state = app.state().clone();
        let redis = state.redis.clone();
        let stop = CancellationToken::new();
        tokio::spawn(app.run_until(stop.clone()));
        let dev_identity_key = settings
            .identity
            .dev_login
            .then(|| shared::token::dev_identity_key_pair(&settings.keys_dir).unwrap());
        Self {
            base,
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .build()
                .unwrap(),
            keys: Keys::new(settings.redis.prefix.clone()),
            redis,
            settings,
            state,
            dev_identity_key,
            stop,
            tick: AtomicU64::new(1),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Opens a concert's queue as the api does when it creates one (open at once, seats not
    /// counted).
    pub async fn open_concert(&self, concert_id: i64, settings: QueueSettings) {
        self.open_sale(concert_id, settings, &Opening::default())
            .await;
    }

    /// Opens a concert's queue with a sale opening and seat counts, as the api does.
    pub async fn open_sale(&self, concert_id: i64, settings: QueueSettings, opening: &Opening) {
        let mut conn = self.redis.get().await.unwrap();
        shared::queue_config::open_queue(
            &mut conn,
            &self.keys,
            concert_id,
            "Test Concert",
            &settings,
            opening,
        )
        .await
        .unwrap();
    }

    /// Runs the next admission tick of a concert (tick numbers only grow within a test) as
    /// the gateway's own scheduler does: the tick, then the concert's line view dropped.
    pub async fn tick(&self, concert_id: i64) -> Tick {
        let tick = self.remote_tick(concert_id).await;
        self.state.room.line_views().forget(concert(concert_id));
        tick
    }

    /// The next admission tick run by another instance: this gateway's line view of the
    /// concert is not dropped.
    pub async fn remote_tick(&self, concert_id: i64) -> Tick {
        let t = self.tick.fetch_add(1, Ordering::SeqCst);
        admission::admit_tick(
            &self.redis,
            &self.keys,
            concert(concert_id),
            Some(t),
            self.settings.activation,
        )
        .await
        .unwrap()
    }

    /// An identity token of the development login for `user_id`, valid for an hour.
    pub fn identity_token(&self, user_id: &str) -> String {
        let key = self
            .dev_identity_key
            .as_ref()
            .expect("the development login is on");
        let user = UserId::parse(user_id).expect("a valid user id");
        shared::identity::dev_login_token(key, &user, 3600)
            .unwrap()
            .0
    }

    /// Joins as `user_id`, signed in with the development login.
    pub async fn join(&self, user_id: &str, concert_id: i64) -> reqwest::Response {
        self.join_with(Some(&self.identity_token(user_id)), concert_id)
            .await
    }

    /// Joins with `identity_token` (or none) as the bearer.
    pub async fn join_with(
        &self,
        identity_token: Option<&str>,
        concert_id: i64,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .post(self.url("/api/v1/queue/tokens"))
            .json(&json!({"concertId": concert_id}));
        if let Some(t) = identity_token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// `POST /api/v1/dev/login` with `body`.
    pub async fn dev_login(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/dev/login"))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Joins and returns the queue token, asserting success.
    pub async fn join_ok(&self, user_id: &str, concert_id: i64) -> (String, Value) {
        let res = self.join(user_id, concert_id).await;
        assert!(
            res.status().is_success(),
            "join {user_id}: {}",
            res.status()
        );
        let body: Value = res.json().await.unwrap();
        (body["queueToken"].as_str().unwrap().to_owned(), body)
    }

    pub async fn status(&self, token: &str) -> reqwest::Response {
        self.client
            .get(self.url("/api/v1/queue/status"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn status_ok(&self, token: &str) -> Value {
        let res = self.status(token).await;
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    pub async fn leave(&self, token: &str) -> reqwest::Response {
        self.client
            .delete(self.url("/api/v1/queue/tokens"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn stats(&self, concert_id: i64) -> reqwest::Response {
        self.client
            .get(self.url(&format!("/api/v1/queue/{concert_id}/stats")))
            .send()
            .await
            .unwrap()
    }

    pub async fn put_settings(
        &self,
        concert_id: i64,
        body: &Value,
        token: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .put(self.url(&format!("/api/v1/admin/queues/{concert_id}")))
            .json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }
}

/// Asserts an RFC 9457 problem with `status` and `code`, and returns its body.
pub async fn assert_problem(res: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status(), status, "status");
    let ct = res
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        ct.starts_with("application/problem+json"),
        "content type {ct}"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    for field in ["type", "title", "detail"] {
        assert!(body[field].is_string(), "{field} missing in {body}");
    }
    body
}
