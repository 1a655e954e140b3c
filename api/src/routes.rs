//! The HTTP adapter: the router and the state every handler shares.
//!
//! - `routes/concerts.rs`: schedules and seat maps (booking).
//! - `routes/reservations.rs`: hold, read and release (hold is booking; the rest account).
//! - `routes/payments.rs`: pay a held reservation (booking).
//! - `routes/balance.rs`: balance and charge (account).
//! - `routes/admin.rs`: create concerts.
//! - `routes/system.rs`: health and OpenAPI.

mod admin;
mod balance;
mod concerts;
mod payments;
mod reservations;
mod system;

use std::sync::Arc;

use axum::{
    routing::{get, post},
    Router,
};
use shared::redis_pool::Pool;
use shared::{keys::Keys, token::Verifier};
use sqlx::PgPool;

use crate::{config::Settings, store::catalog::SeatCatalog};

/// What every handler gets: cheap clones of the pools and shared, read-only pieces.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub redis: Pool,
    pub keys: Arc<Keys>,
    pub settings: Arc<Settings>,
    pub verifier: Arc<Verifier>,
    pub seats: Arc<SeatCatalog>,
}

impl shared::http::HasAdminToken for AppState {
    fn admin_token(&self) -> &shared::config::Secret {
        &self.settings.admin_token
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/api/v1/concerts/{concert_id}/schedules",
            get(concerts::list_schedules),
        )
        .route(
            "/api/v1/concerts/{concert_id}/schedules/{schedule_id}/seats",
            get(concerts::list_seats),
        )
        .route("/api/v1/reservations", post(reservations::hold_seats))
        .route(
            "/api/v1/reservations/{reservation_id}",
            get(reservations::get_reservation).delete(reservations::release_reservation),
        )
        .route("/api/v1/payments", post(payments::pay_reservation))
        .route("/api/v1/balance", get(balance::get_balance))
        .route("/api/v1/balance/charge", post(balance::charge_balance))
        .route("/api/v1/admin/concerts", post(admin::create_concert))
        .route("/health/live", get(shared::http::live))
        .route("/health/ready", get(system::ready))
        .route("/metrics", get(shared::http::metrics))
        .route("/openapi.json", get(system::openapi))
        .with_state(state)
}
