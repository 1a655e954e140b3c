//! The HTTP adapter: the router, and one module per group of endpoints (extractors, request
//! and response types, handlers that call one use case each, and their OpenAPI operations).
//!
//! - `routes/concerts.rs`: schedules and seat maps (booking).
//! - `routes/reservations.rs`: hold, read and release (hold is booking; the rest account).
//! - `routes/payments.rs`: pay a held reservation (booking).
//! - `routes/balance.rs`: balance and charge (account).
//! - `routes/admin.rs`: create and close concerts, a concert's sale in figures.
//! - `routes/tickets.rs`: the caller's tickets (account).
//! - `routes/system.rs`: health, metrics and the OpenAPI document.

mod admin;
mod balance;
mod concerts;
mod payments;
mod reservations;
mod system;
mod tickets;

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{domain::StoredResponse, openapi::ApiDoc, state::AppState};

/// Every endpoint, each registered together with its OpenAPI operation by `routes!`: the
/// served document and the router come from the same list. (A plain `.route` would serve an
/// undocumented endpoint; a test refuses one in this file.)
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(concerts::list_schedules))
        .routes(routes!(concerts::list_seats))
        .routes(routes!(reservations::hold_seats))
        .routes(routes!(
            reservations::get_reservation,
            reservations::release_reservation
        ))
        .routes(routes!(payments::pay_reservation))
        .routes(routes!(balance::get_balance))
        .routes(routes!(balance::charge_balance))
        .routes(routes!(tickets::list_tickets))
        .routes(routes!(admin::create_concert))
        .routes(routes!(admin::close_concert))
        .routes(routes!(admin::get_concert_sales))
        .routes(routes!(system::live))
        .routes(routes!(system::ready))
        .routes(routes!(system::metrics))
        .routes(routes!(system::openapi))
}

/// A stored response (a payment's or a charge's), answered as first given.
impl IntoResponse for StoredResponse {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        (status, Json(self.body)).into_response()
    }
}
