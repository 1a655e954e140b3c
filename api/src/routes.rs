//! The HTTP adapter: the router, and one module per group of endpoints (extractors, request
//! and response types, handlers that call one use case each).
//!
//! - `routes/concerts.rs`: schedules and seat maps (booking).
//! - `routes/reservations.rs`: hold, read and release (hold is booking; the rest account).
//! - `routes/payments.rs`: pay a held reservation (booking).
//! - `routes/balance.rs`: balance and charge (account).
//! - `routes/admin.rs`: create concerts.
//! - `routes/system.rs`: health, metrics and OpenAPI.

mod admin;
mod balance;
mod concerts;
mod payments;
mod reservations;
mod system;

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};

use crate::{domain::StoredResponse, state::AppState};

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

/// A stored response (a payment's or a charge's), answered as first given.
impl IntoResponse for StoredResponse {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        (status, Json(self.body)).into_response()
    }
}
