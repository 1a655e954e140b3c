//! The state every handler shares: one `Arc` of the pool, the keys, the settings and the
//! queue machinery.

use std::sync::Arc;

use shared::{keys::Keys, redis_pool::Pool};

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
