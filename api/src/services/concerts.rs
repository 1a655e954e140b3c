//! Concerts: the schedules and seat maps a booking session reads (held seats from Redis,
//! sold ones from memory while Redis's sale version says they are current, else Postgres;
//! one Redis round trip each),
//! and creating a concert with its queue.

use std::{
    hash::{Hash, Hasher},
    sync::Arc,
};

use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::ids::ConcertId;

use crate::{
    auth::Caller,
    domain::NewConcert,
    error::{ApiError, Result},
    services::sessions,
    state::AppState,
    store::{
        catalog::{self, CloseReason, Closed, CreatedConcert, ScheduleSeats, Seat},
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

/// The schedules of `concert_id` for a caller whose session is active for it; with
/// `only_available`, only those that have not started and have a seat neither sold nor held.
/// A started schedule has no seat available: it is not on sale.
pub async fn list_schedules(
    state: &AppState,
    caller: &Caller,
    concert_id: i64,
    only_available: bool,
) -> Result<(ConcertId, Vec<ScheduleAvailability>)> {
    let concert_id = caller.ensure_concert(concert_id)?;
    let rows = state.seats.concert_schedules(&state.db, concert_id).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let (active, held) = holds::session_and_held_counts(
        &state.redis,
        &state.keys,
        concert_id,
        caller.session(),
        &ids,
    )
    .await?;
    if !active && !sessions::restore_lost(state, caller).await? {
        return Err(ApiError::session_not_active());
    }
    if rows.is_empty() {
        return Err(ApiError::concert_not_found());
    }
    let now = Utc::now();
    let mut schedules = Vec::with_capacity(rows.len());
    for (r, (held, sale_version)) in rows.iter().zip(held) {
        if r.starts_at <= now {
            if !only_available {
                schedules.push(ScheduleAvailability {
                    schedule_id: r.id,
                    starts_at: r.starts_at,
                    total_seats: i64::from(r.total_seats),
                    available_seats: 0,
                });
            }
            continue;
        }
        let sold = state.seats.sold.sold(&state.db, r.id, sale_version).await?;
        if sale_version.is_none() {
            holds::start_sale_version(&state.redis, &state.keys, concert_id, r.id).await?;
        }
        let available_seats = (i64::from(r.total_seats) - sold.len() as i64 - held as i64).max(0);
        if only_available && available_seats == 0 {
            continue;
        }
        schedules.push(ScheduleAvailability {
            schedule_id: r.id,
            starts_at: r.starts_at,
            total_seats: i64::from(r.total_seats),
            available_seats,
        });
    }
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
pub struct SeatState<'a> {
    pub seat: &'a Seat,
    pub status: SeatStatus,
    /// Held by the caller's own open hold.
    pub mine: bool,
}

/// A schedule's seat map as one caller sees it: the seats (by number) and one status letter
/// per seat, `A` available, `H` held by someone else, `M` held by the caller, `S` sold.
#[derive(Debug, Clone)]
pub struct SeatMap {
    pub schedule: Arc<ScheduleSeats>,
    pub letters: Vec<u8>,
}

impl SeatMap {
    pub fn seats(&self) -> impl Iterator<Item = SeatState<'_>> {
        self.schedule
            .seats
            .iter()
            .zip(&self.letters)
            .map(|(seat, letter)| SeatState {
                seat,
                status: match letter {
                    b'S' => SeatStatus::Sold,
                    b'H' | b'M' => SeatStatus::Held,
                    _ => SeatStatus::Available,
                },
                mine: *letter == b'M',
            })
    }

    /// A tag of everything the map shows this caller (seat rows never change, so the
    /// schedule id stands for them): it changes with every hold, release, lapse and sale,
    /// and differs between callers who see their own holds.
    pub fn version(&self) -> u64 {
        let mut h = std::hash::DefaultHasher::new();
        self.schedule.schedule_id.hash(&mut h);
        self.letters.hash(&mut h);
        h.finish()
    }
}

/// The seat map of `schedule_id` of `concert_id`, for a caller whose session is active for
/// it; one Redis round trip, and Postgres only when a sale changed the sold seats.
pub async fn seat_map(
    state: &AppState,
    caller: &Caller,
    concert_id: i64,
    schedule_id: i64,
) -> Result<SeatMap> {
    let concert_id = caller.ensure_concert(concert_id)?;
    let schedule = state
        .seats
        .schedule(&state.db, schedule_id)
        .await?
        .filter(|s| s.concert_id == concert_id.get())
        .ok_or(ApiError::schedule_not_found(
            "no such schedule for this concert",
        ))?;
    let holds::HeldSeats {
        active,
        held,
        sale_version,
    } = holds::session_and_held_seats(
        &state.redis,
        &state.keys,
        concert_id,
        caller.session(),
        schedule_id,
    )
    .await?;
    if !active && !sessions::restore_lost(state, caller).await? {
        return Err(ApiError::session_not_active());
    }
    let sold = state
        .seats
        .sold
        .sold(&state.db, schedule_id, sale_version)
        .await?;
    if sale_version.is_none() {
        holds::start_sale_version(&state.redis, &state.keys, concert_id, schedule_id).await?;
    }
    let letters = schedule
        .seats
        .iter()
        .map(|s| {
            if sold.contains(&s.id) {
                b'S'
            } else {
                match held.get(&s.id) {
                    Some(true) => b'M',
                    Some(false) => b'H',
                    None => b'A',
                }
            }
        })
        .collect();
    Ok(SeatMap { schedule, letters })
}

/// Closes the sale of `concert_id` as an admin does (`CLOSED`); idempotent. 404 for an
/// unknown concert.
pub async fn close_concert(state: &AppState, concert_id: i64) -> Result<Closed> {
    catalog::close_concert(state.catalog(), concert_id, CloseReason::Closed)
        .await?
        .ok_or(ApiError::concert_not_found())
}

/// Creates a concert with its schedules and seats and opens its queue, all or nothing.
pub async fn create_concert(state: &AppState, new: &NewConcert) -> Result<CreatedConcert> {
    catalog::create_concert(state.catalog(), new).await
}
