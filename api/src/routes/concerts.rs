//! Schedules and seat maps (booking: active session, token for this concert).

use axum::{extract::State, Json};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use shared::http::ApiPath;

use super::AppState;
use crate::{
    auth::{ensure_session, Caller},
    error::{ApiError, Result},
    store::{catalog, holds},
};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleResponse {
    schedule_id: i64,
    starts_at: String,
    total_seats: i64,
    available_seats: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SchedulesResponse {
    concert_id: i64,
    schedules: Vec<ScheduleResponse>,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `GET /api/v1/concerts/{concertId}/schedules`.
pub async fn list_schedules(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(concert_id): ApiPath<i64>,
) -> Result<Json<SchedulesResponse>> {
    caller.ensure_concert(concert_id)?;
    let rows = catalog::find_schedules(&state.db, concert_id).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let (session, held) = holds::session_and_held_counts(
        &state.redis,
        &state.keys,
        concert_id,
        caller.user_id(),
        caller.ticket_id(),
        &ids,
    )
    .await?;
    ensure_session(session.active)?;
    if rows.is_empty() {
        return Err(ApiError::NotFound("CONCERT_NOT_FOUND", "no such concert"));
    }
    let schedules = rows
        .iter()
        .zip(held)
        .map(|(r, held)| ScheduleResponse {
            schedule_id: r.id,
            starts_at: rfc3339(r.starts_at),
            total_seats: i64::from(r.total_seats),
            available_seats: (i64::from(r.total_seats) - r.sold - held as i64).max(0),
        })
        .collect();
    Ok(Json(SchedulesResponse {
        concert_id,
        schedules,
    }))
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum SeatStatus {
    Available,
    Held,
    Sold,
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
    caller.ensure_concert(concert_id)?;
    let schedule = state
        .seats
        .schedule(&state.db, schedule_id)
        .await?
        .filter(|s| s.concert_id == concert_id)
        .ok_or(ApiError::NotFound(
            "SCHEDULE_NOT_FOUND",
            "no such schedule for this concert",
        ))?;
    let (sold, redis) = tokio::join!(
        catalog::find_sold_seats(&state.db, schedule_id, None),
        holds::session_and_held_seats(
            &state.redis,
            &state.keys,
            concert_id,
            caller.user_id(),
            caller.ticket_id(),
            schedule_id
        ),
    );
    let (session, held) = redis?;
    ensure_session(session.active)?;
    let sold: std::collections::HashSet<i64> = sold?.into_iter().collect();
    let seats = schedule
        .seats
        .iter()
        .map(|s| {
            let mine = held.held.get(&s.id).copied();
            let status = if sold.contains(&s.id) {
                SeatStatus::Sold
            } else if mine.is_some() {
                SeatStatus::Held
            } else {
                SeatStatus::Available
            };
            SeatResponse {
                seat_id: s.id,
                seat_number: s.number,
                price: s.price,
                status,
                mine: status == SeatStatus::Held && mine == Some(true),
            }
        })
        .collect();
    Ok(Json(SeatsResponse { schedule_id, seats }))
}
