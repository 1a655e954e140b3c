//! The HTTP adapter: the router and the state every handler shares.
//!
//! - `routes/queue.rs`: join, status, leave, stats, open concerts.
//! - `routes/admin.rs`: run-time queue settings.
//! - `routes/system.rs`: health, metrics, OpenAPI, JWKS, page config.

mod admin;
mod queue;
mod system;

use std::sync::Arc;

use axum::{
    routing::{get, post, put},
    Router,
};
use shared::keys::Keys;
use shared::redis_pool::Pool;

use crate::{
    config::Settings,
    queue::{
        batch::{Batcher, JoinCall, StatusCall},
        view::LineViews,
    },
    queue_token::QueueTokens,
    rate_limit::RateLimiter,
};

/// What every handler gets: one `Arc`, so the clone axum makes per request (and per `State`
/// extractor) is one reference count, not one per piece.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The pool and the shared, read-only pieces behind [`AppState`].
pub struct Shared {
    pub redis: Pool,
    pub keys: Arc<Keys>,
    pub settings: Arc<Settings>,
    pub queue_tokens: Arc<QueueTokens>,
    pub join_limiter: Arc<RateLimiter>,
    /// Joins and status polls, coalesced per concert into batched Redis calls.
    pub joins: Batcher<JoinCall>,
    pub statuses: Batcher<StatusCall>,
    /// Each concert's line as status polls see it between reads.
    pub line_views: Arc<LineViews>,
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl shared::http::HasAdminToken for AppState {
    fn admin_token(&self) -> &shared::config::Secret {
        &self.settings.admin_token
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/api/v1/queue/tokens",
            post(queue::join_queue).delete(queue::leave_queue),
        )
        .route("/api/v1/queue/status", get(queue::get_queue_status))
        .route("/api/v1/queue/concerts", get(queue::list_open_concerts))
        .route(
            "/api/v1/queue/{concert_id}/stats",
            get(queue::get_queue_stats),
        )
        .route(
            "/api/v1/admin/queues/{concert_id}",
            put(admin::update_queue_settings),
        )
        .route("/.well-known/jwks.json", get(system::jwks))
        .route("/config.json", get(system::page_config))
        .route("/health/live", get(shared::http::live))
        .route("/health/ready", get(system::ready))
        .route("/metrics", get(shared::http::metrics))
        .route("/openapi.json", get(system::openapi))
        .merge(crate::web::routes())
        .with_state(state)
}
