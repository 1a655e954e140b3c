//! Reservations: hold seats (booking), read and release (account).

use axum::{extract::State, http::StatusCode, Json};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use shared::http::{ApiJson, ApiPath};
use uuid::Uuid;

use super::AppState;
use crate::{
    auth::{Caller, SESSION_NOT_ACTIVE},
    domain::{reservation_id, SeatSelection},
    error::{ApiError, Result},
    store::{
        catalog::{self, Seat},
        holds::{self, HeldReservation, HoldOutcome, NewHold, Released},
        payments,
    },
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

impl From<&Seat> for ReservedSeat {
    fn from(s: &Seat) -> Self {
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
    reservation_id: String,
    status: String,
    schedule_id: i64,
    seats: Vec<ReservedSeat>,
    total_price: i64,
    expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    confirmed_at: Option<String>,
}

fn rfc3339_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

const NOT_FOUND: ApiError = ApiError::NotFound("RESERVATION_NOT_FOUND", "no such reservation");

/// The concert whose Redis keys hold `reservation_id`: the one the id carries (ids made
/// before ids carried one: the token's).
fn concert_of(caller: &Caller, reservation_id: &Uuid) -> i64 {
    reservation_id::concert_of(reservation_id).unwrap_or_else(|| caller.concert_id())
}

/// The caller's reservation as Redis holds it (whichever concert's token the caller
/// presents); 404 otherwise.
async fn own_held_reservation(
    state: &AppState,
    caller: &Caller,
    reservation_id: Uuid,
) -> Result<HeldReservation> {
    holds::find_reservation(
        &state.redis,
        &state.keys,
        concert_of(caller, &reservation_id),
        caller.user_id(),
        &reservation_id.to_string(),
    )
    .await?
    .ok_or(NOT_FOUND)
}

/// `POST /api/v1/reservations`: holds 1 to `MAX_SEATS_PER_RESERVATION` seats, all or none.
pub async fn hold_seats(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<HoldSeatsRequest>,
) -> Result<(StatusCode, Json<ReservationResponse>)> {
    let selection = SeatSelection::parse(req.seat_ids, state.settings.max_seats_per_reservation)?;
    let schedule = state
        .seats
        .schedule(&state.db, req.schedule_id)
        .await?
        .ok_or(ApiError::NotFound("SCHEDULE_NOT_FOUND", "no such schedule"))?;
    caller.ensure_concert(schedule.concert_id)?;
    let seats: Vec<Seat> = selection
        .ids()
        .iter()
        .map(|&id| schedule.seat(id).cloned())
        .collect::<Option<_>>()
        .ok_or(ApiError::NotFound(
            "SEAT_NOT_FOUND",
            "a seat does not belong to this schedule",
        ))?;
    let unavailable =
        || ApiError::Conflict("SEAT_UNAVAILABLE", "a selected seat is held or sold".into());
    if !catalog::find_sold_seats(&state.db, schedule.schedule_id, Some(selection.ids()))
        .await?
        .is_empty()
    {
        return Err(unavailable());
    }
    let reservation_id = reservation_id::new(schedule.concert_id).to_string();
    let outcome = holds::hold_seats(
        &state.redis,
        &state.keys,
        &NewHold {
            concert_id: schedule.concert_id,
            schedule_id: schedule.schedule_id,
            user_id: caller.user_id(),
            ticket_id: caller.ticket_id(),
            reservation_id: &reservation_id,
            seats: &seats,
            ttl_ms: u64::from(state.settings.hold_ttl_seconds) * 1000,
        },
    )
    .await?;
    match outcome {
        HoldOutcome::Held { expires_at_ms } => Ok((
            StatusCode::CREATED,
            Json(ReservationResponse {
                reservation_id,
                status: "HELD".into(),
                schedule_id: schedule.schedule_id,
                total_price: seats.iter().map(|s| s.price).sum(),
                seats: seats.iter().map(ReservedSeat::from).collect(),
                expires_at: rfc3339_ms(expires_at_ms),
                confirmed_at: None,
            }),
        )),
        HoldOutcome::SessionNotActive => Err(SESSION_NOT_ACTIVE),
        HoldOutcome::HoldExists { reservation_id } => Err(ApiError::Conflict(
            "HOLD_EXISTS",
            format!("you already hold reservation {reservation_id}; pay or release it first"),
        )),
        HoldOutcome::SeatUnavailable { .. } => Err(unavailable()),
    }
}

/// `GET /api/v1/reservations/{reservationId}`: the caller's own reservation only.
pub async fn get_reservation(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(reservation_id): ApiPath<Uuid>,
) -> Result<Json<ReservationResponse>> {
    if let Some(r) = payments::find_confirmed(&state, caller.user_id(), reservation_id).await? {
        return Ok(Json(ReservationResponse {
            reservation_id: reservation_id.to_string(),
            status: "CONFIRMED".into(),
            schedule_id: r.schedule_id,
            seats: r
                .seats
                .iter()
                .map(|&(seat_id, seat_number, price)| ReservedSeat {
                    seat_id,
                    seat_number,
                    price,
                })
                .collect(),
            total_price: r.total_price,
            expires_at: r.expires_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            confirmed_at: Some(r.confirmed_at.to_rfc3339_opts(SecondsFormat::Millis, true)),
        }));
    }
    let r = own_held_reservation(&state, &caller, reservation_id).await?;
    Ok(Json(ReservationResponse {
        reservation_id: r.reservation_id.clone(),
        status: r.visible_status(holds::now_ms()).to_owned(),
        schedule_id: r.schedule_id,
        seats: r.seats.iter().map(ReservedSeat::from).collect(),
        total_price: r.total_price,
        expires_at: rfc3339_ms(r.expires_at_ms),
        // A reservation confirmed in Redis but not (yet) in Postgres is not reported as paid.
        confirmed_at: None,
    }))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseResponse {
    reservation_id: Uuid,
    status: &'static str,
}

/// `DELETE /api/v1/reservations/{reservationId}`: cancels a hold (compare-and-delete).
pub async fn release_reservation(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(reservation_id): ApiPath<Uuid>,
) -> Result<Json<ReleaseResponse>> {
    if payments::find_confirmed(&state, caller.user_id(), reservation_id)
        .await?
        .is_some()
    {
        return Err(payments::already_confirmed());
    }
    let r = own_held_reservation(&state, &caller, reservation_id).await?;
    let concert_id = concert_of(&caller, &reservation_id);
    match holds::release_reservation(&state.redis, &state.keys, concert_id, &r).await? {
        Released::Canceled => Ok(Json(ReleaseResponse {
            reservation_id,
            status: "CANCELED",
        })),
        Released::AlreadyConfirmed => Err(payments::already_confirmed()),
        Released::PaymentRunning => Err(payments::payment_in_progress()),
        Released::NotFound => Err(NOT_FOUND),
    }
}
