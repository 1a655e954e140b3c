//! Reservations: hold seats (booking), read and release (account).

use axum::{extract::State, http::StatusCode, Json};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use shared::http::{ApiJson, ApiPath};
use uuid::Uuid;

use crate::{
    auth::Caller,
    domain::{ReservationStatus, SeatSelection},
    error::Result,
    services::reservations::{self, Reservation},
    state::AppState,
    store::catalog::Seat,
};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HoldSeatsRequest {
    schedule_id: i64,
    seat_ids: Vec<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservedSeat {
    seat_id: i64,
    seat_number: i32,
    price: i64,
}

impl From<Seat> for ReservedSeat {
    fn from(s: Seat) -> Self {
        Self {
            seat_id: s.id,
            seat_number: s.number,
            price: s.price,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservationResponse {
    reservation_id: Uuid,
    status: ReservationStatus,
    schedule_id: i64,
    seats: Vec<ReservedSeat>,
    total_price: i64,
    expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    confirmed_at: Option<String>,
}

/// A time as reservations are written: RFC 3339 UTC with milliseconds.
fn rfc3339_ms(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl From<Reservation> for ReservationResponse {
    fn from(r: Reservation) -> Self {
        Self {
            reservation_id: r.id,
            status: r.status,
            schedule_id: r.schedule_id,
            seats: r.seats.into_iter().map(Into::into).collect(),
            total_price: r.total_price,
            expires_at: rfc3339_ms(r.expires_at),
            confirmed_at: r.confirmed_at.map(rfc3339_ms),
        }
    }
}

/// `POST /api/v1/reservations`: holds 1 to `MAX_SEATS_PER_RESERVATION` seats, all or none.
pub async fn hold_seats(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<HoldSeatsRequest>,
) -> Result<(StatusCode, Json<ReservationResponse>)> {
    let selection = SeatSelection::parse(req.seat_ids, state.settings.max_seats_per_reservation)?;
    let held = reservations::hold(&state, &caller, req.schedule_id, &selection).await?;
    Ok((StatusCode::CREATED, Json(held.into())))
}

/// `GET /api/v1/reservations/{reservationId}`: the caller's own reservation only.
pub async fn get_reservation(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(reservation_id): ApiPath<Uuid>,
) -> Result<Json<ReservationResponse>> {
    let reservation = reservations::find(&state, &caller, reservation_id).await?;
    Ok(Json(reservation.into()))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseResponse {
    reservation_id: Uuid,
    status: ReservationStatus,
}

/// `DELETE /api/v1/reservations/{reservationId}`: cancels a hold (compare-and-delete).
pub async fn release_reservation(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(reservation_id): ApiPath<Uuid>,
) -> Result<Json<ReleaseResponse>> {
    reservations::release(&state, &caller, reservation_id).await?;
    Ok(Json(ReleaseResponse {
        reservation_id,
        status: ReservationStatus::Canceled,
    }))
}
