//! Concerts: the schedules and seat maps a booking session reads (sold seats from Postgres,
//! held ones from Redis), and creating a concert with its queue.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::ids::ConcertId;

use crate::{
    auth::Caller,
    domain::NewConcert,
    error::{ApiError, Result},
    state::AppState,
    store::{
        catalog::{self, CreatedConcert, Seat},
        holds,
    },
};

/// A schedule with how many of its seats are neither sold nor held.
#[derive(Debug, Clone)]
pub struct ScheduleAvailability {
    pub schedule_id: i64,
    pub starts_at: DateTime<Utc>,
    pub total_seats: i64,
    pub available_seats: i64,
}

/// The schedules of `concert_id` for a caller whose session is active for it.
pub async fn list_schedules(
    state: &AppState,
    caller: &Caller,
    concert_id: i64,
) -> Result<(ConcertId, Vec<ScheduleAvailability>)> {
    let concert_id = caller.ensure_concert(concert_id)?;
    let rows = catalog::find_schedules(&state.db, concert_id).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let (active, held) = holds::session_and_held_counts(
        &state.redis,
        &state.keys,
        concert_id,
        caller.session(),
        &ids,
    )
    .await?;
    if !active {
        return Err(ApiError::session_not_active());
    }
    if rows.is_empty() {
        return Err(ApiError::concert_not_found());
    }
    let schedules = rows
        .iter()
        .zip(held)
        .map(|(r, held)| ScheduleAvailability {
            schedule_id: r.id,
            starts_at: r.starts_at,
            total_seats: i64::from(r.total_seats),
            available_seats: (i64::from(r.total_seats) - r.sold - held as i64).max(0),
        })
        .collect();
    Ok((concert_id, schedules))
}

/// A seat's state on the seat map.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum SeatStatus {
    Available,
    Held,
    Sold,
}

/// One seat of a seat map.
#[derive(Debug, Clone)]
pub struct SeatState {
    pub seat: Seat,
    pub status: SeatStatus,
    /// Held by the caller's own open hold.
    pub mine: bool,
}

/// The seats of `schedule_id` of `concert_id`, for a caller whose session is active for it.
pub async fn seat_map(
    state: &AppState,
    caller: &Caller,
    concert_id: i64,
    schedule_id: i64,
) -> Result<Vec<SeatState>> {
    let concert_id = caller.ensure_concert(concert_id)?;
    let schedule = state
        .seats
        .schedule(&state.db, schedule_id)
        .await?
        .filter(|s| s.concert_id == concert_id.get())
        .ok_or(ApiError::schedule_not_found(
            "no such schedule for this concert",
        ))?;
    let (sold, redis) = tokio::join!(
        catalog::find_sold_seats(&state.db, schedule_id, None),
        holds::session_and_held_seats(
            &state.redis,
            &state.keys,
            concert_id,
            caller.session(),
            schedule_id
        ),
    );
    let (active, held) = redis?;
    if !active {
        return Err(ApiError::session_not_active());
    }
    let sold: HashSet<i64> = sold?.into_iter().collect();
    let seats = schedule
        .seats
        .iter()
        .map(|s| {
            let mine = held.get(&s.id).copied();
            let status = if sold.contains(&s.id) {
                SeatStatus::Sold
            } else if mine.is_some() {
                SeatStatus::Held
            } else {
                SeatStatus::Available
            };
            SeatState {
                seat: s.clone(),
                status,
                mine: status == SeatStatus::Held && mine == Some(true),
            }
        })
        .collect();
    Ok(seats)
}

/// Creates a concert with its schedules and seats and opens its queue, all or nothing.
pub async fn create_concert(state: &AppState, new: &NewConcert) -> Result<CreatedConcert> {
    catalog::create_concert(state.catalog(), new).await
}
