//! Schedules and seat maps (booking: active session, token for this concert).

use axum::{extract::State, Json};
use chrono::SecondsFormat;
use serde::Serialize;
use shared::{http::ApiPath, ids::ConcertId};

use crate::{
    auth::Caller,
    error::Result,
    services::concerts::{self, ScheduleAvailability, SeatState, SeatStatus},
    state::AppState,
};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleResponse {
    schedule_id: i64,
    starts_at: String,
    total_seats: i64,
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

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SchedulesResponse {
    concert_id: ConcertId,
    schedules: Vec<ScheduleResponse>,
}

/// `GET /api/v1/concerts/{concertId}/schedules`.
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

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeatResponse {
    seat_id: i64,
    seat_number: i32,
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

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeatsResponse {
    schedule_id: i64,
    seats: Vec<SeatResponse>,
}

/// `GET /api/v1/concerts/{concertId}/schedules/{scheduleId}/seats`: sold from Postgres,
/// held from Redis.
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
