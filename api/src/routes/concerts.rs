//! Schedules and seat maps (booking: active session, token for this concert).

use axum::{extract::State, Json};
use chrono::SecondsFormat;
use serde::Serialize;
use shared::{http::ApiPath, ids::ConcertId};

use crate::{
    auth::Caller,
    error::Result,
    openapi::problems,
    services::concerts::{self, ScheduleAvailability, SeatState, SeatStatus},
    state::AppState,
};

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleResponse {
    schedule_id: i64,
    #[schema(format = DateTime, example = "2027-01-01T19:00:00Z")]
    starts_at: String,
    #[schema(minimum = 0)]
    total_seats: i64,
    /// Neither sold nor held right now.
    #[schema(minimum = 0)]
    available_seats: i64,
}

impl From<ScheduleAvailability> for ScheduleResponse {
    fn from(s: ScheduleAvailability) -> Self {
        Self {
            schedule_id: s.schedule_id,
            starts_at: s.starts_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            total_seats: s.total_seats,
            available_seats: s.available_seats,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchedulesResponse {
    concert_id: ConcertId,
    /// By start time.
    schedules: Vec<ScheduleResponse>,
}

problems!(ListSchedulesProblems: InvalidPath, InvalidAccessToken, SessionNotActive, WrongConcert, ConcertNotFound, ServiceUnavailable);

/// The concert's schedules and their free seats
///
/// Each schedule with its seats that are neither sold nor held right now.
#[utoipa::path(
    get,
    path = "/api/v1/concerts/{concertId}/schedules",
    tag = "booking",
    security(("accessToken" = [])),
    params(("concertId" = i64, Path, minimum = 1, description = "the concert of the access token")),
    responses(
        (status = 200, description = "The concert's schedules", body = SchedulesResponse),
        ListSchedulesProblems,
    ),
)]
pub async fn list_schedules(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(concert_id): ApiPath<i64>,
) -> Result<Json<SchedulesResponse>> {
    let (concert_id, schedules) = concerts::list_schedules(&state, &caller, concert_id).await?;
    Ok(Json(SchedulesResponse {
        concert_id,
        schedules: schedules.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeatResponse {
    seat_id: i64,
    seat_number: i32,
    /// In won.
    #[schema(minimum = 0)]
    price: i64,
    status: SeatStatus,
    /// Held by the caller's own open hold.
    mine: bool,
}

impl From<SeatState> for SeatResponse {
    fn from(s: SeatState) -> Self {
        Self {
            seat_id: s.seat.id,
            seat_number: s.seat.number,
            price: s.seat.price,
            status: s.status,
            mine: s.mine,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeatsResponse {
    schedule_id: i64,
    /// By seat number.
    seats: Vec<SeatResponse>,
}

problems!(ListSeatsProblems: InvalidPath, InvalidAccessToken, SessionNotActive, WrongConcert, ScheduleNotFound, ServiceUnavailable);

/// The seat map of a schedule
///
/// Every seat with its price and whether it is available, held (by the caller or someone
/// else) or sold.
#[utoipa::path(
    get,
    path = "/api/v1/concerts/{concertId}/schedules/{scheduleId}/seats",
    tag = "booking",
    security(("accessToken" = [])),
    params(
        ("concertId" = i64, Path, minimum = 1, description = "the concert of the access token"),
        ("scheduleId" = i64, Path, minimum = 1, description = "a schedule of that concert"),
    ),
    responses(
        (status = 200, description = "The seat map", body = SeatsResponse),
        ListSeatsProblems,
    ),
)]
pub async fn list_seats(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((concert_id, schedule_id)): ApiPath<(i64, i64)>,
) -> Result<Json<SeatsResponse>> {
    let seats = concerts::seat_map(&state, &caller, concert_id, schedule_id).await?;
    Ok(Json(SeatsResponse {
        schedule_id,
        seats: seats.into_iter().map(Into::into).collect(),
    }))
}
