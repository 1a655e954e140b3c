//! Builds the gateway (state, router, listener) and runs it with the admission scheduler
//! until the stop signal; then drains in-flight requests and stops the scheduler.
//!
//! [`Gateway`] is the binary's shape: one server per core (`GATEWAY_THREADS`, run by
//! `shared::per_core`), each with its own Redis connections and batchers. A request, its batch
//! and its Redis reply stay on one thread (only a line view's read is shared by the threads),
//! so requests do not wait on cross-thread wake-ups, which made joins faster than one
//! multi-threaded runtime did (see `docs/ARCHITECTURE.md`). [`Application`] is one of those
//! servers; tests run it on their own runtime. The identity verifier is built once, before
//! anything is bound (no identity source, no gateway), shared by every server, and refreshed
//! by a thread of its own.

mod streams;

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context;
use axum::Router;
use shared::{identity::IdentityVerifier, keys::Keys, token::SigningKey};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    config::Settings,
    live::Live,
    queue::view::LineViews,
    queue_token::QueueTokens,
    rate_limit::RateLimiter,
    routes,
    state::{AppState, Shared},
    waiting_room::WaitingRoom,
};

/// What every server of one gateway shares: the line views (the scheduler's ticks drop them
/// for every thread), the per-address join limit (one limit for the whole gateway), and the
/// identity verifier (one key set and one cache of verified tokens).
#[derive(Clone)]
pub struct Common {
    pub line_views: Arc<LineViews>,
    /// The event streams' line views: fed by the scheduler's thread, read by every thread's
    /// streams.
    pub live: Arc<Live>,
    pub join_limiter: Arc<RateLimiter>,
    pub identity: Arc<IdentityVerifier>,
    /// The development login's key, only when `DEV_LOGIN` is on.
    pub dev_login: Option<SigningKey>,
}

impl Common {
    /// Builds the verifier (reading the provider's keys): an error when no identity source
    /// is configured or its keys cannot be read, so the gateway does not start without one.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let identity = settings
            .identity
            .verifier(&settings.keys_dir)
            .await
            .context("identity tokens")?;
        let dev_login = settings
            .identity
            .dev_login
            .then(|| shared::token::dev_identity_key_pair(&settings.keys_dir))
            .transpose()
            .context("KEYS_DIR: the development login's key pair")?;
        Ok(Self {
            line_views: Arc::new(LineViews::new(settings.status_view)),
            live: Arc::default(),
            join_limiter: Arc::new(RateLimiter::new(settings.join_rate_per_second)),
            identity: Arc::new(identity),
            dev_login,
        })
    }
}

/// Fetches the identity provider's keys every [`IdentityVerifier::refresh_every`] until `stop`
/// (tokens naming an unknown key fetch them sooner, see `shared::identity`).
pub async fn refresh_identity_keys(identity: Arc<IdentityVerifier>, stop: CancellationToken) {
    let mut every = tokio::time::interval(IdentityVerifier::refresh_every());
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await; // the first tick is now: the keys were just read
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        if let Err(e) = identity.refresh().await {
            tracing::warn!(error = %e, "could not refresh the identity provider's keys");
        }
    }
}

/// One server: a listener, the state and the router, on the current Tokio runtime.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    router: Router,
    /// Whether this server refreshes the identity keys (a lone server does; in a [`Gateway`]
    /// one loop refreshes them for all).
    refreshes_identity: bool,
    /// Whether this server exports the Redis probe's gauges (`redis_up`): one server per
    /// process does, since the gauges carry no thread label.
    probes_redis: bool,
}

impl Application {
    /// Binds the listener (port 0 picks a free port) and builds the state.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.addr).await?;
        settings.warn_if_unsafe();
        let common = Common::build(&settings).await?;
        let mut app = Self::with_listener(settings, common, listener)?;
        app.refreshes_identity = true;
        app.probes_redis = true;
        Ok(app)
    }

    /// Builds the state around a bound listener.
    pub fn with_listener(
        settings: Settings,
        common: Common,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        let redis = shared::redis_pool::create_pool(&settings.redis)?;
        let _ = shared::telemetry::metrics();
        let keys = Arc::new(Keys::new(settings.redis.prefix.clone()));
        let room = WaitingRoom::start(
            redis.clone(),
            keys,
            common.line_views,
            common.join_limiter,
            QueueTokens::new(settings.queue_token_key),
            settings.signing_key.clone(),
        );
        let (router, openapi) = routes::router(&settings);
        let state = AppState::new(Shared {
            redis,
            room,
            live: common.live,
            identity: common.identity,
            dev_login: common.dev_login,
            openapi: serde_json::to_vec(&openapi)?.into(),
            settings: Arc::new(settings),
        });
        Ok(Self {
            listener,
            router: router.with_state(state.clone()),
            state,
            refreshes_identity: false,
            probes_redis: false,
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

    /// Serves and runs the scheduler until `stop` is cancelled, then drains (see
    /// [`shared::http::serve`]).
    pub async fn run_until(self, stop: CancellationToken) -> anyhow::Result<()> {
        let scheduler = self.state.settings.scheduler.then(|| {
            tokio::spawn(crate::admission::run(
                self.state.redis.clone(),
                Keys::new(self.state.settings.redis.prefix.clone()),
                self.state.room.line_views().clone(),
                self.state.live.clone(),
                self.state.settings.activation,
                stop.child_token(),
            ))
        });
        let refresh = self.refreshes_identity.then(|| {
            tokio::spawn(refresh_identity_keys(
                self.state.identity.clone(),
                stop.child_token(),
            ))
        });
        let probe = self.probes_redis.then(|| {
            tokio::spawn(shared::telemetry::watch_redis(
                self.state.redis.clone(),
                stop.child_token(),
            ))
        });
        // Event streams never end on their own: they end at the stop, so the drain can finish.
        let live = self.state.live.clone();
        let closing = stop.clone();
        tokio::spawn(async move {
            closing.cancelled().await;
            live.close();
        });
        let app = shared::http::with_common_layers(self.router, self.state.settings.http);
        // Event streams are served by a loop of the gateway's own, everything else by axum.
        let listener = streams::StreamListener::new(
            self.listener,
            app.clone(),
            self.state.clone(),
            stop.clone(),
        );
        shared::http::serve_listener(listener, app, stop).await?;
        // The streams that loop serves ended at the stop; their last bytes are written soon.
        let _ =
            tokio::time::timeout(shared::http::DRAIN, self.state.live.direct_streams_ended()).await;
        for task in scheduler.into_iter().chain(refresh).chain(probe) {
            let _ = task.await;
        }
        Ok(())
    }
}

/// The gateway: `settings.threads` servers on one port, one per thread (see the module docs).
pub struct Gateway {
    settings: Settings,
    listeners: Vec<std::net::TcpListener>,
    common: Common,
    /// The runtime that built the identity verifier; it then runs the verifier's refresh, so
    /// the connections its first fetch opened stay served for the gateway's life.
    identity_runtime: tokio::runtime::Runtime,
}

impl Gateway {
    /// Binds one listener per thread to `settings.addr` (port 0: one free port for all).
    /// Builds the identity verifier first: without an identity source nothing is bound.
    pub fn bind(settings: Settings) -> anyhow::Result<Self> {
        let identity_runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let common = identity_runtime.block_on(Common::build(&settings))?;
        let listeners = shared::per_core::bind(settings.addr, settings.threads)?;
        Ok(Self {
            settings,
            listeners,
            common,
            identity_runtime,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listeners
            .first()
            .and_then(|l| l.local_addr().ok())
            .unwrap_or(self.settings.addr)
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
        self.settings.warn_if_unsafe();
        let (common, runtime) = (self.common, self.identity_runtime);
        let refresher = {
            let (identity, stop) = (common.identity.clone(), stop.clone());
            std::thread::Builder::new()
                .name("gateway-identity".into())
                .spawn(move || runtime.block_on(refresh_identity_keys(identity, stop)))
                .context("starting the identity key refresh")?
        };
        let settings = self.settings;
        let result = shared::per_core::run(
            "gateway",
            self.listeners,
            stop.clone(),
            on_signal,
            move |i, listener, stop| {
                let mut settings = settings.clone();
                // One admission loop per gateway (the tick claim would keep several exact,
                // at the cost of a Redis call per thread and tick).
                settings.scheduler &= i == 0;
                let common = common.clone();
                async move {
                    let mut app = Application::with_listener(settings, common, listener)?;
                    app.probes_redis = i == 0;
                    app.run_until(stop).await
                }
            },
        );
        stop.cancel();
        let _ = refresher.join();
        tracing::info!("gateway stopped");
        result
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use shared::identity::{IdentityError, JwksSource, Provider};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_identity_keys_are_read_again_periodically_until_the_stop() {
        let path =
            std::env::temp_dir().join(format!("gateway-jwks-{:016x}.json", rand::random::<u64>()));
        std::fs::write(&path, include_str!("../../shared/tests/keys/jwks.json")).unwrap();
        let provider = Provider {
            jwks: JwksSource::File(path.clone()),
            issuer: "https://login.example.test".into(),
            audience: "ticketing".into(),
        };
        let identity = Arc::new(IdentityVerifier::new(Some(provider), None).await.unwrap());
        let now = jsonwebtoken::get_current_timestamp();
        let claims = serde_json::json!({"iss": "https://login.example.test", "aud": "ticketing",
            "sub": "ann", "exp": now + 3600});
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("rsa-1".into());
        let rsa = include_str!("../../shared/tests/keys/rsa.pem");
        let key = EncodingKey::from_rsa_pem(rsa.as_bytes()).unwrap();
        let token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
        assert!(identity.verify(&token).await.is_ok());

        // The provider withdraws the key; nothing asks for the key set until the next period.
        std::fs::write(&path, r#"{"keys": []}"#).unwrap();
        let stop = CancellationToken::new();
        let refresh = tokio::spawn(refresh_identity_keys(identity.clone(), stop.clone()));
        tokio::time::sleep(IdentityVerifier::refresh_every() / 2).await;
        assert!(identity.verify(&token).await.is_ok(), "not yet read again");
        let mut refused = false;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_secs(10)).await;
            if identity.verify(&token).await == Err(IdentityError::UnknownKey) {
                refused = true;
                break;
            }
        }
        assert!(refused, "the key set was never read again");
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(1), refresh)
            .await
            .expect("the loop stops on the stop signal")
            .unwrap();
        let _ = std::fs::remove_file(path);
    }
}
