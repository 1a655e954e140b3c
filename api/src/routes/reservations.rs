//! Reservations: hold seats (booking), read and release (account).

use axum::{extract::State, http::StatusCode, Json};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use shared::http::{ApiJson, ApiPath};
use uuid::Uuid;

use crate::{
    auth::{AccountCaller, Caller},
    domain::{ReservationStatus, SeatSelection},
    error::Result,
    openapi::problems,
    services::reservations::{self, Reservation},
    state::AppState,
    store::catalog::Seat,
};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"scheduleId": 1, "seatIds": [3, 4]}))]
pub struct HoldSeatsRequest {
    #[schema(minimum = 1)]
    schedule_id: i64,
    /// Distinct seats of the schedule, at most `MAX_SEATS_PER_RESERVATION` (`maxItems`).
    #[schema(min_items = 1)]
    seat_ids: Vec<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReservedSeat {
    seat_id: i64,
    seat_number: i32,
    /// In won, as Postgres has it.
    #[schema(minimum = 0)]
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

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "reservationId": "00000000-0001-8a3b-9c4d-5e6f7a8b9c0d",
    "status": "HELD",
    "scheduleId": 1,
    "seats": [{"seatId": 3, "seatNumber": 3, "price": 40000}, {"seatId": 4, "seatNumber": 4, "price": 40000}],
    "totalPrice": 80000,
    "expiresAt": "2027-01-01T18:05:00.000Z"
}))]
pub struct ReservationResponse {
    reservation_id: Uuid,
    status: ReservationStatus,
    schedule_id: i64,
    /// By seat number.
    seats: Vec<ReservedSeat>,
    /// The sum of the seats' prices, in won.
    #[schema(minimum = 0)]
    total_price: i64,
    /// When the hold lapses (or lapsed): `HOLD_TTL_SECONDS` after it was taken, or the
    /// session's end when that comes first.
    #[schema(format = DateTime)]
    expires_at: String,
    /// When it was paid; only when `CONFIRMED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime, nullable = false)]
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

problems!(HoldSeatsProblems: InvalidSeatSelection, InvalidBody, MalformedJson, InvalidAccessToken, SessionNotActive, WrongConcert, ScheduleNotFound, SeatNotFound, SeatUnavailable, HoldExists, TicketLimit, ScheduleStarted, BodyTooLarge, UnsupportedMediaType, ServiceUnavailable);

/// Hold seats, all or none
///
/// Holds 1 to `MAX_SEATS_PER_RESERVATION` seats of one schedule for `HOLD_TTL_SECONDS` (never
/// past the session's end), or none of them when one is held or sold. A user has one open
/// hold at a time: pay or release it before holding again. A schedule that has started is not
/// on sale, and a hold that would take the user past `MAX_TICKETS_PER_USER` tickets of the
/// concert is refused (`TICKET_LIMIT`, with `remaining`).
#[utoipa::path(
    post,
    path = "/api/v1/reservations",
    tag = "booking",
    security(("accessToken" = [])),
    request_body = HoldSeatsRequest,
    responses(
        (status = 201, description = "Held (`status` is `HELD`)", body = ReservationResponse),
        HoldSeatsProblems,
    ),
)]
pub async fn hold_seats(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<HoldSeatsRequest>,
) -> Result<(StatusCode, Json<ReservationResponse>)> {
    let selection = SeatSelection::parse(req.seat_ids, state.settings.max_seats_per_reservation)?;
    let held = reservations::hold(&state, &caller, req.schedule_id, &selection).await?;
    Ok((StatusCode::CREATED, Json(held.into())))
}

problems!(GetReservationProblems: InvalidPath, InvalidAccessToken, ReservationNotFound, ServiceUnavailable);

/// One of the caller's reservations
///
/// Held, paid, canceled or lapsed; with the user's identity token or the access token of any
/// concert. Another user's reservation is not found.
#[utoipa::path(
    get,
    path = "/api/v1/reservations/{reservationId}",
    tag = "account",
    security(("accessToken" = []), ("identityToken" = [])),
    params(("reservationId" = Uuid, Path, description = "from the hold's answer")),
    responses(
        (status = 200, description = "The reservation", body = ReservationResponse),
        GetReservationProblems,
    ),
)]
pub async fn get_reservation(
    State(state): State<AppState>,
    caller: AccountCaller,
    ApiPath(reservation_id): ApiPath<Uuid>,
) -> Result<Json<ReservationResponse>> {
    let reservation = reservations::find(&state, &caller, reservation_id).await?;
    Ok(Json(reservation.into()))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseResponse {
    reservation_id: Uuid,
    status: Released,
}

/// A released reservation's status.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Released {
    Canceled,
}

problems!(ReleaseReservationProblems: InvalidPath, InvalidAccessToken, ReservationNotFound, AlreadyConfirmed, PaymentInProgress, ServiceUnavailable);

/// Release a hold
///
/// Cancels one of the caller's holds (with the identity token or the access token of any
/// concert): its seats are on sale again at once. A lapsed hold can be released too; a paid one cannot.
#[utoipa::path(
    delete,
    path = "/api/v1/reservations/{reservationId}",
    tag = "account",
    security(("accessToken" = []), ("identityToken" = [])),
    params(("reservationId" = Uuid, Path, description = "from the hold's answer")),
    responses(
        (status = 200, description = "Canceled", body = ReleaseResponse),
        ReleaseReservationProblems,
    ),
)]
pub async fn release_reservation(
    State(state): State<AppState>,
    caller: AccountCaller,
    ApiPath(reservation_id): ApiPath<Uuid>,
) -> Result<Json<ReleaseResponse>> {
    reservations::release(&state, &caller, reservation_id).await?;
    Ok(Json(ReleaseResponse {
        reservation_id,
        status: Released::Canceled,
    }))
}
