//! Connects to Postgres (applying migrations) and Redis, builds the state and router, and
//! runs the servers until the stop signal; then drains in-flight requests.
//!
//! [`Api`] is the binary's shape, the gateway's: one server per core (`API_THREADS`), each a
//! thread with a single-threaded Tokio runtime, its own listener on the shared port, and its
//! own Redis connection and Postgres pool (see `shared::per_core`), so a request and its round
//! trips stay on one thread. What does not depend on the thread is built once and shared: the
//! settings, the token verifiers with their caches, the seats and balances kept in memory. The background
//! loops (re-opening queues, refreshing the identity keys, the pool and Redis gauges) run on a
//! thread of their own with one more Postgres connection. [`Application`] is one server on
//! the current runtime, with its background loops beside it; tests run it.

use std::{
    net::SocketAddr,
    str::FromStr,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context;
use axum::{
    http::{header, HeaderName, HeaderValue, Method},
    Extension, Router,
};
use shared::{identity::IdentityVerifier, keys::Keys, token::Verifier};
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    PgPool,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::{
    config::Settings,
    openapi, routes,
    state::{AppState, Shared},
    store::{
        catalog::{self, SeatCatalog},
        wallet::Balances,
        ACQUIRE_TIMEOUT,
    },
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The background loops' own Postgres connections (the reconciler reads and writes a few
/// rows every few seconds).
const BACKGROUND_CONNECTIONS: u32 = 1;

/// Connects a pool of `DATABASE_POOL_SIZE` connections and applies pending migrations (see
/// [`connect_and_migrate_with`]).
pub async fn connect_and_migrate(settings: &Settings) -> anyhow::Result<PgPool> {
    connect_and_migrate_with(settings, settings.database_pool_size).await
}

/// Connects a pool of `connections` (retrying for up to 30 s while Postgres starts) and
/// applies pending migrations. Every statement of the api is cancelled after the request
/// timeout (`statement_timeout`): none outlives its request by much, and a payment's claim
/// (`services/checkout.rs`) outlives its statement. A migration that needs longer sets its
/// own (`SET statement_timeout = 0`). Pools opened later with this pool's
/// [`PgPool::connect_options`] inherit the timeout.
async fn connect_and_migrate_with(settings: &Settings, connections: u32) -> anyhow::Result<PgPool> {
    let options = pool_options(connections);
    let connect = PgConnectOptions::from_str(settings.database_url.expose())
        .context("DATABASE_URL")?
        .options([(
            "statement_timeout",
            settings.http.request_timeout_ms.to_string(),
        )]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let db = loop {
        match options.clone().connect_with(connect.clone()).await {
            Ok(db) => break db,
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, "Postgres not reachable yet; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e).context("connecting to Postgres (DATABASE_URL)"),
        }
    };
    MIGRATOR.run(&db).await.context("applying migrations")?;
    Ok(db)
}

fn pool_options(connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(connections.max(1))
        .acquire_timeout(ACQUIRE_TIMEOUT)
}

/// What every server of one api shares: what does not depend on the thread.
#[derive(Clone)]
struct Common {
    settings: Arc<Settings>,
    keys: Arc<Keys>,
    verifier: Arc<Verifier>,
    identity: Arc<IdentityVerifier>,
    seats: Arc<SeatCatalog>,
    balances: Arc<Balances>,
}

impl Common {
    /// Checks the admin token and builds the verifiers (reading the identity provider's keys):
    /// an error when they cannot be built, so the api does not start without them.
    async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.check_admin_token()?;
        let verifier = Verifier::new(&settings.public_keys)
            .map_err(|e| anyhow::anyhow!("public keys: {e}"))?;
        // No identity source is a configuration error: the account endpoints would refuse
        // every identity token.
        let identity = settings
            .identity
            .verifier(&settings.keys_dir)
            .await
            .context("identity tokens")?;
        let _ = shared::telemetry::metrics();
        register_metrics();
        Ok(Self {
            keys: Arc::new(Keys::new(settings.redis.prefix.clone())),
            settings: Arc::new(settings),
            verifier: Arc::new(verifier),
            identity: Arc::new(identity),
            seats: Arc::new(SeatCatalog::default()),
            balances: Arc::new(Balances::default()),
        })
    }

    /// The state of one server (or of the background loops): these shared parts with its own
    /// Postgres pool and Redis connection.
    fn state(&self, db: PgPool) -> anyhow::Result<AppState> {
        Ok(AppState::new(Shared {
            db,
            redis: shared::redis_pool::create_pool(&self.settings.redis)?,
            keys: self.keys.clone(),
            settings: self.settings.clone(),
            verifier: self.verifier.clone(),
            identity: self.identity.clone(),
            seats: self.seats.clone(),
            balances: self.balances.clone(),
        }))
    }
}

/// One server on the current runtime, with the background loops beside it.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    router: Router,
}

impl Application {
    /// Connects, migrates, re-opens the concerts' queues, and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let db = connect_and_migrate(&settings).await?;
        Self::build_with_pool(settings, db).await
    }

    /// Like [`Self::build`] with an existing (already migrated) pool, as tests have.
    pub async fn build_with_pool(settings: Settings, db: PgPool) -> anyhow::Result<Self> {
        let common = Common::build(settings).await?;
        let listener = TcpListener::bind(common.settings.addr).await?;
        let state = common.state(db)?;
        let router = router(state.clone())?;
        reconcile_queues(&state).await;
        Ok(Self {
            listener,
            state,
            router,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| self.state.settings.addr)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `stop` is cancelled, then drains (see [`shared::http::serve`]).
    pub async fn run_until(self, stop: CancellationToken) -> anyhow::Result<()> {
        let pools = Arc::new(Mutex::new(vec![self.state.db.clone()]));
        let background = tokio::spawn(run_background(
            self.state.clone(),
            pools,
            stop.child_token(),
        ));
        serve(self.listener, &self.state, self.router, stop).await?;
        let _ = background.await;
        self.state.db.close().await;
        tracing::info!("api stopped");
        Ok(())
    }
}

/// The api: `settings.threads` servers on one port and the background loops (see the module
/// docs).
pub struct Api {
    listeners: Vec<std::net::TcpListener>,
    common: Common,
    /// The background loops' state; its pool's options open each server's pool.
    background: AppState,
    /// The runtime that built the identity verifier and the background state; it then runs
    /// the background loops, so the connections they opened stay served for the api's life.
    runtime: tokio::runtime::Runtime,
}

impl Api {
    /// Connects, migrates, re-opens the concerts' queues, and binds one listener per thread to
    /// `settings.addr` (port 0: one free port for all). Blocks the calling thread.
    pub fn bind(settings: Settings) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let db = runtime.block_on(connect_and_migrate_with(&settings, BACKGROUND_CONNECTIONS))?;
        Self::bind_on(runtime, settings, db)
    }

    /// Like [`Self::bind`] with an existing (already migrated) pool, as tests have; each
    /// server opens a pool of its own with the same options.
    pub fn bind_with_pool(settings: Settings, db: PgPool) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Self::bind_on(runtime, settings, db)
    }

    fn bind_on(
        runtime: tokio::runtime::Runtime,
        settings: Settings,
        db: PgPool,
    ) -> anyhow::Result<Self> {
        let (common, background) = runtime.block_on(async {
            let common = Common::build(settings).await?;
            let background = common.state(db)?;
            reconcile_queues(&background).await;
            anyhow::Ok((common, background))
        })?;
        let listeners = shared::per_core::bind(common.settings.addr, common.settings.threads)?;
        Ok(Self {
            listeners,
            common,
            background,
            runtime,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listeners
            .first()
            .and_then(|l| l.local_addr().ok())
            .unwrap_or(self.common.settings.addr)
    }

    pub fn threads(&self) -> usize {
        self.listeners.len()
    }

    /// Runs every server until SIGTERM or Ctrl-C (or until one fails), then drains them all.
    pub fn run_until_signal(self) -> anyhow::Result<()> {
        self.run(CancellationToken::new(), true)
    }

    /// Runs every server until `stop` is cancelled (or one fails), then drains them all.
    /// Blocks the calling thread.
    pub fn run_until(self, stop: CancellationToken) -> anyhow::Result<()> {
        self.run(stop, false)
    }

    fn run(self, stop: CancellationToken, on_signal: bool) -> anyhow::Result<()> {
        let (common, background, runtime) = (self.common, self.background, self.runtime);
        let threads = u32::try_from(self.listeners.len()).unwrap_or(u32::MAX);
        let per_server = common.settings.database_pool_size.div_ceil(threads);
        let connect = background.db.connect_options();
        let pools = Arc::new(Mutex::new(vec![background.db.clone()]));
        let loops = {
            let (pools, stop) = (pools.clone(), stop.clone());
            std::thread::Builder::new()
                .name("api-background".into())
                .spawn(move || {
                    runtime.block_on(async {
                        run_background(background.clone(), pools, stop).await;
                        background.db.close().await;
                    })
                })
                .context("starting the background loops")?
        };
        let result = shared::per_core::run(
            "api",
            self.listeners,
            stop.clone(),
            on_signal,
            move |_, listener, stop| {
                let (common, pools, connect) = (common.clone(), pools.clone(), connect.clone());
                async move {
                    let db = pool_options(per_server)
                        .connect_with((*connect).clone())
                        .await
                        .context("connecting to Postgres (DATABASE_URL)")?;
                    pools
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(db.clone());
                    let state = common.state(db)?;
                    let served = serve(listener, &state, router(state.clone())?, stop).await;
                    state.db.close().await;
                    served
                }
            },
        );
        stop.cancel();
        let _ = loops.join();
        tracing::info!("api stopped");
        result
    }
}

/// Serves one server's listener with the common layers and CORS until `stop`, then drains.
async fn serve(
    listener: TcpListener,
    state: &AppState,
    router: Router,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let cors = cors_layer(&state.settings.cors_origins);
    let app = shared::http::with_common_layers(router, state.settings.http).layer(cors);
    shared::http::serve(listener, app, stop).await
}

/// The loops that run beside the servers until `stop`: re-opening queues, refreshing the
/// identity keys, the Postgres pools' gauges (of every server) and the Redis probe.
async fn run_background(state: AppState, pools: Arc<Mutex<Vec<PgPool>>>, stop: CancellationToken) {
    tokio::join!(
        keep_queues_open(state.clone(), stop.clone()),
        refresh_identity_keys(state.identity.clone(), stop.clone()),
        export_pool_gauges(pools, stop.clone()),
        shared::telemetry::watch_redis(state.redis.clone(), stop),
    );
}

/// The router of every endpoint, serving the OpenAPI document built from the same
/// registrations with this instance's limits, and its reference page (`/docs`).
fn router(state: AppState) -> anyhow::Result<Router> {
    let (router, doc) = routes::router().split_for_parts();
    let doc = openapi::document(doc, &state.settings)?;
    // The reference for people (Swagger UI over `/openapi.json`) is the one route outside
    // the document: a page, not an operation.
    Ok(router
        .merge(shared::docs::routes("Ticketing api"))
        .layer(Extension(doc))
        .with_state(state))
}

/// How often the api reconciles the queues with Postgres.
const RECONCILE_EVERY: Duration = Duration::from_secs(5);

/// Keeps the queues of open concerts as Postgres says: re-opens what Redis lost, closes what
/// sold out or ended (see [`catalog::reopen_queues`]).
async fn reconcile_queues(state: &AppState) {
    match catalog::reopen_queues(state.catalog()).await {
        Ok(done) => {
            let resumed = done.reopened - done.reopened_paused;
            if resumed > 0 {
                tracing::warn!(
                    reopened = resumed,
                    "re-opened concert queues missing from Redis with their last settings and pause state; their counters resume above every sequence handed out"
                );
            }
            if done.reopened_paused > 0 {
                tracing::warn!(reopened = done.reopened_paused, "re-opened concert queues missing from Redis that have no durable copy (created before it existed), paused: set their settings and resume them (PUT /api/v1/admin/queues/{{id}})");
            }
            if done.reseeded > 0 {
                tracing::info!(
                    reseeded = done.reseeded,
                    "filled in unsold-seat counts missing from Redis"
                );
            }
        }
        Err(e) => tracing::debug!(error = %e, "could not reconcile concert queues"),
    }
}

/// Keeps every open concert's queue open while the api runs, so queues come back by themselves
/// after Redis lost its data (places in line are lost; the queue is not), and closes them
/// when their concert sold out or ended.
async fn keep_queues_open(state: AppState, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(RECONCILE_EVERY) => reconcile_queues(&state).await,
        }
    }
}

/// Puts the api's sale counters on `/metrics` (at zero until the first event): a counter
/// without a sample is not exported, and dashboards (and `scripts/check-dashboards`) expect
/// the series before the first hold or payment. Adding zero leaves a count as it is.
fn register_metrics() {
    for outcome in [
        "held",
        "seat_unavailable",
        "session_not_active",
        "hold_exists",
        "ticket_limit",
    ] {
        metrics::counter!("api_holds_total", "outcome" => outcome).increment(0);
    }
    metrics::counter!("api_hold_releases_total").increment(0);
    metrics::counter!("api_payments_total").increment(0);
}

/// How often [`export_pool_gauges`] reads the Postgres pool.
const POOL_GAUGES_EVERY: Duration = Duration::from_secs(5);

/// Until `stop`, exports the Postgres pools' use every few seconds, summed over the pools of
/// this process: `db_pool_connections` by state (`used`: checked out by a request; `idle`:
/// open and waiting) and `db_pool_max_connections`, so a dashboard shows how close the api is
/// to its pools' limit (where requests start waiting `ACQUIRE_TIMEOUT` and then answer 503).
async fn export_pool_gauges(pools: Arc<Mutex<Vec<PgPool>>>, stop: CancellationToken) {
    let mut every = tokio::time::interval(POOL_GAUGES_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        let (mut idle, mut used, mut max) = (0, 0, 0);
        for db in pools.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let open = db.size() as usize;
            let free = db.num_idle().min(open);
            idle += free;
            used += open - free;
            max += db.options().get_max_connections();
        }
        metrics::gauge!("db_pool_connections", "state" => "idle").set(idle as f64);
        metrics::gauge!("db_pool_connections", "state" => "used").set(used as f64);
        metrics::gauge!("db_pool_max_connections").set(f64::from(max));
    }
}

/// Fetches the identity provider's keys again every [`IdentityVerifier::refresh_every`], so a
/// rotation is picked up even before a token names the new key (and a withdrawn key stops
/// being trusted).
async fn refresh_identity_keys(identity: Arc<IdentityVerifier>, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(IdentityVerifier::refresh_every()) => {
                if let Err(e) = identity.refresh().await {
                    tracing::warn!(error = %e, "could not refresh the identity provider's keys");
                }
            }
        }
    }
}

fn cors_layer(origins: &[String]) -> CorsLayer {
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::PUT])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
            HeaderName::from_static("idempotency-key"),
        ])
        // The booking page revalidates its seat map with the map's ETag.
        .expose_headers([header::RETRY_AFTER, header::ETAG])
        .max_age(Duration::from_secs(600))
}
