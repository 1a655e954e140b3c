//! Builds the gateway (state, router, listener) and runs it with the admission scheduler
//! until the stop signal; then drains in-flight requests and stops the scheduler.

use std::{net::SocketAddr, sync::Arc};

use shared::keys::Keys;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    config::Settings,
    queue::{batch::Batcher, view::LineViews},
    queue_token::QueueTokens,
    rate_limit::RateLimiter,
    routes::{self, AppState, Shared},
};

pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Binds the listener (port 0 picks a free port) and builds the state.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let redis = shared::redis_pool::create_pool(&settings.redis)?;
        let listener = TcpListener::bind(settings.addr).await?;
        if settings.admin_token.expose() == crate::config::DEV_ADMIN_TOKEN {
            tracing::warn!("ADMIN_TOKEN is unset: using the development admin token");
        }
        let _ = shared::telemetry::metrics();
        let keys = Arc::new(Keys::new(settings.redis.prefix.clone()));
        let state = AppState::new(Shared {
            joins: Batcher::start(redis.clone(), keys.clone()),
            statuses: Batcher::start(redis.clone(), keys.clone()),
            redis,
            keys,
            queue_tokens: Arc::new(QueueTokens::new(
                settings.signing_key.derive_secret("queue-token"),
            )),
            join_limiter: Arc::new(RateLimiter::new(settings.join_rate_per_second)),
            line_views: Arc::new(LineViews::new(settings.status_view)),
            settings: Arc::new(settings),
        });
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| self.state.settings.addr)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves and runs the scheduler until `stop` is cancelled, then drains (see [`shared::http::serve`]).
    pub async fn run_until(self, stop: CancellationToken) -> anyhow::Result<()> {
        let scheduler = self.state.settings.scheduler.then(|| {
            tokio::spawn(crate::admission::run(
                self.state.redis.clone(),
                (*self.state.keys).clone(),
                self.state.line_views.clone(),
                stop.child_token(),
            ))
        });
        let app = shared::http::with_common_layers(
            routes::router(self.state.clone()),
            self.state.settings.http,
        );
        shared::http::serve(self.listener, app, stop).await?;
        if let Some(s) = scheduler {
            let _ = s.await;
        }
        tracing::info!("gateway stopped");
        Ok(())
    }
}
