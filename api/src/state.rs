//! The state every handler shares: cheap clones of the pools and the read-only pieces.

use std::sync::Arc;

use shared::{identity::IdentityVerifier, keys::Keys, redis_pool::Pool, token::Verifier};
use sqlx::PgPool;

use crate::{
    config::Settings,
    store::{
        catalog::{Catalog, SeatCatalog},
        wallet::Balances,
    },
};

/// What every handler gets (realworld's `ApiContext`, crates.io's `AppState`): one `Arc` made
/// per server, so the clone axum makes per request (and per `State` extractor) is one
/// reference count on that server's own core, not one per piece shared by every core.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The pieces behind [`AppState`]: cheap clones of the pools and the read-only parts.
pub struct Shared {
    pub db: PgPool,
    pub redis: Pool,
    pub keys: Arc<Keys>,
    pub settings: Arc<Settings>,
    /// Access tokens (the gateway's).
    pub verifier: Arc<Verifier>,
    /// Identity tokens (the login provider's, or the development login's).
    pub identity: Arc<IdentityVerifier>,
    pub seats: Arc<SeatCatalog>,
    /// The in-memory copy of balances (checked against Redis on every read).
    pub balances: Arc<Balances>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }

    /// Where concerts and their queues are written.
    pub fn catalog(&self) -> Catalog<'_> {
        Catalog {
            db: &self.db,
            redis: &self.redis,
            keys: &self.keys,
            queue_defaults: &self.settings.queue_defaults,
        }
    }
}

impl<'a> From<&'a AppState> for Catalog<'a> {
    fn from(state: &'a AppState) -> Self {
        state.catalog()
    }
}

impl shared::http::HasAdminToken for AppState {
    fn admin_token(&self) -> &shared::config::Secret {
        &self.settings.admin_token
    }
}
