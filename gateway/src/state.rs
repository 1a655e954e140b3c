//! `AppState`: one `Arc` of the settings, the pool, the waiting room, the identity verifier
//! and the OpenAPI document.

use std::sync::Arc;

use axum::body::Bytes;
use shared::{identity::IdentityVerifier, redis_pool::Pool, token::SigningKey};

use crate::{config::Settings, live::Live, waiting_room::WaitingRoom};

/// What every handler gets: one `Arc`, so the clone axum makes per request (and per `State`
/// extractor) is one reference count, not one per piece.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The pieces behind [`AppState`].
pub struct Shared {
    pub settings: Arc<Settings>,
    /// The server's Redis pool (for readiness; the waiting room has its own handle).
    pub redis: Pool,
    pub room: WaitingRoom,
    /// The newest line view of each concert with event streams open (shared by every server
    /// of the gateway, fed by its scheduler).
    pub live: Arc<Live>,
    /// Verifies identity tokens (shared by every server of the gateway).
    pub identity: Arc<IdentityVerifier>,
    /// The development login's signing key, only when `DEV_LOGIN` is on.
    pub dev_login: Option<SigningKey>,
    /// The OpenAPI document of this server's routes and limits, as served.
    pub openapi: Bytes,
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
