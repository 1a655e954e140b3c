//! Connects to Postgres (applying migrations) and Redis, builds the state and router, and
//! runs the server until the stop signal; then drains in-flight requests.

use std::{net::SocketAddr, str::FromStr, sync::Arc, time::Duration};

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
    state::AppState,
    store::{
        catalog::{self, SeatCatalog},
        ACQUIRE_TIMEOUT,
    },
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connects (retrying for up to 30 s while Postgres starts) and applies pending migrations.
/// Every statement of the api is cancelled after the request timeout (`statement_timeout`):
/// none outlives its request by much, and a payment's claim (`services/checkout.rs`) outlives
/// its statement. A migration that needs longer sets its own (`SET statement_timeout = 0`).
pub async fn connect_and_migrate(settings: &Settings) -> anyhow::Result<PgPool> {
    let options = PgPoolOptions::new()
        .max_connections(settings.database_pool_size)
        .acquire_timeout(ACQUIRE_TIMEOUT);
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
        settings.check_admin_token()?;
        let redis = shared::redis_pool::create_pool(&settings.redis)?;
        let verifier = Verifier::new(&settings.public_keys)
            .map_err(|e| anyhow::anyhow!("public keys: {e}"))?;
        // No identity source is a configuration error: the account endpoints would refuse
        // every identity token.
        let identity = settings
            .identity
            .verifier(&settings.keys_dir)
            .await
            .context("identity tokens")?;
        let listener = TcpListener::bind(settings.addr).await?;
        let _ = shared::telemetry::metrics();
        register_metrics();
        let state = AppState {
            db,
            redis,
            keys: Arc::new(Keys::new(settings.redis.prefix.clone())),
            settings: Arc::new(settings),
            verifier: Arc::new(verifier),
            identity: Arc::new(identity),
            seats: Arc::new(SeatCatalog::default()),
        };
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
        let cors = cors_layer(&self.state.settings.cors_origins);
        let app =
            shared::http::with_common_layers(self.router, self.state.settings.http).layer(cors);
        let reconciler = tokio::spawn(keep_queues_open(self.state.clone(), stop.child_token()));
        let refresher = tokio::spawn(refresh_identity_keys(
            self.state.identity.clone(),
            stop.child_token(),
        ));
        let gauges = tokio::spawn(export_pool_gauges(
            self.state.db.clone(),
            stop.child_token(),
        ));
        let redis_probe = tokio::spawn(shared::telemetry::watch_redis(
            self.state.redis.clone(),
            stop.child_token(),
        ));
        shared::http::serve(self.listener, app, stop).await?;
        let _ = reconciler.await;
        let _ = refresher.await;
        let _ = gauges.await;
        let _ = redis_probe.await;
        self.state.db.close().await;
        tracing::info!("api stopped");
        Ok(())
    }
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

/// Until `stop`, exports the Postgres pool's use every few seconds: `db_pool_connections`
/// by state (`used`: checked out by a request; `idle`: open and waiting) and
/// `db_pool_max_connections`, so a dashboard shows how close the api is to its pool's limit
/// (where requests start waiting `ACQUIRE_TIMEOUT` and then answer 503).
async fn export_pool_gauges(db: PgPool, stop: CancellationToken) {
    let mut every = tokio::time::interval(POOL_GAUGES_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        let open = db.size() as usize;
        let idle = db.num_idle().min(open);
        metrics::gauge!("db_pool_connections", "state" => "idle").set(idle as f64);
        metrics::gauge!("db_pool_connections", "state" => "used").set((open - idle) as f64);
        metrics::gauge!("db_pool_max_connections")
            .set(f64::from(db.options().get_max_connections()));
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
