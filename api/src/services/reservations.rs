//! Reservations: hold seats (booking), read and release one's own (account). A held
//! reservation lives in Redis under its concert's keys; a paid one in Postgres.

use chrono::{DateTime, Utc};
use shared::ids::ConcertId;
use uuid::Uuid;

use crate::{
    auth::{AccountCaller, Caller},
    domain::{reservation_id, HoldState, ReservationStatus, SeatSelection},
    error::{ApiError, Result},
    services::sessions,
    state::AppState,
    store::{
        catalog::{self, Seat},
        holds::{self, now_ms, HeldReservation, HoldOutcome, NewHold, Released},
        payments,
    },
};

/// A reservation as its owner sees it.
#[derive(Debug, Clone)]
pub struct Reservation {
    pub id: Uuid,
    pub status: ReservationStatus,
    pub schedule_id: i64,
    pub seats: Vec<Seat>,
    pub total_price: i64,
    /// When the hold lapses (or lapsed).
    pub expires_at: DateTime<Utc>,
    /// When it was paid; only once Postgres has the sale.
    pub confirmed_at: Option<DateTime<Utc>>,
}

fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Holds every seat of `selection` in `schedule_id` for the caller, or none: 1 to
/// `MAX_SEATS_PER_RESERVATION` seats for `HOLD_TTL_SECONDS` (at most until the session ends),
/// while the session is active, of a schedule that has not started, within the caller's
/// ticket limit.
pub async fn hold(
    state: &AppState,
    caller: &Caller,
    schedule_id: i64,
    selection: &SeatSelection,
) -> Result<Reservation> {
    let schedule = state
        .seats
        .schedule(&state.db, schedule_id)
        .await?
        .ok_or(ApiError::schedule_not_found("no such schedule"))?;
    let concert_id = caller.ensure_concert(schedule.concert_id)?;
    let seats: Vec<Seat> = selection
        .ids()
        .iter()
        .map(|&id| schedule.seat(id).cloned())
        .collect::<Option<_>>()
        .ok_or(ApiError::seat_not_found())?;
    if schedule.starts_at <= Utc::now() {
        return Err(ApiError::schedule_started());
    }
    let unavailable = || ApiError::seat_unavailable("a selected seat is held or sold");
    let limit = state.settings.max_tickets_per_user;
    if seats.len() > limit as usize {
        count_hold("ticket_limit");
        return Err(ApiError::ticket_limit(limit, 0));
    }
    let mut new_hold = NewHold {
        concert_id,
        schedule_id,
        who: caller.session(),
        reservation_id: reservation_id::new(concert_id),
        seats: &seats,
        ttl_ms: u64::from(state.settings.hold_ttl_seconds) * 1000,
        sale_version: None,
        max_tickets: limit,
    };
    // Fast path: the seats are checked against this instance's copy of the schedule's sold
    // seats, and `hold.lua` holds them only while the sale version the copy was read under
    // stands: one Redis round trip (two and a read of Postgres when the copy is missing or
    // older than its maximum age, which fills it for the holds that follow). When a sale
    // moved the version meanwhile (every sale does, so in a busy sale often), the seats are
    // held first and then looked up in Postgres: a seat sold before the hold is found there
    // (a sale commits before `confirm.lua` frees its seats), and none can be sold after it
    // (it is ours).
    let copy = match state.seats.sold.fresh(schedule_id) {
        Some(copy) => Some(copy),
        None => match holds::read_sale_version(&state.redis, &state.keys, concert_id, schedule_id)
            .await?
        {
            Some(version) => {
                let sold = state
                    .seats
                    .sold
                    .sold(&state.db, schedule_id, Some(version))
                    .await?;
                Some((version, sold))
            }
            None => {
                holds::start_sale_version(&state.redis, &state.keys, concert_id, schedule_id)
                    .await?;
                None
            }
        },
    };
    let mut outcome = HoldOutcome::SoldSeatsChanged;
    if let Some((version, sold)) = copy {
        if selection.ids().iter().any(|id| sold.contains(id)) {
            count_hold("seat_unavailable");
            return Err(unavailable());
        }
        new_hold.sale_version = Some(version);
        outcome = hold_once(state, caller, &new_hold).await?;
    }
    if outcome == HoldOutcome::SoldSeatsChanged {
        new_hold.sale_version = None;
        outcome = hold_once(state, caller, &new_hold).await?;
        if let HoldOutcome::Held { expires_at_ms } = outcome {
            let sold =
                catalog::find_sold_seats(&state.db, schedule_id, Some(selection.ids())).await;
            if !matches!(&sold, Ok(sold) if sold.is_empty()) {
                // Sold (or not known): the hold goes back.
                let held = HeldReservation {
                    id: new_hold.reservation_id,
                    user: caller.user().clone(),
                    schedule_id,
                    seats: seats.clone(),
                    total_price: 0,
                    state: HoldState::Held,
                    expires_at_ms,
                };
                holds::release_reservation(&state.redis, &state.keys, concert_id, &held).await?;
                sold?;
                outcome = HoldOutcome::SeatUnavailable { seat_id: 0 };
            }
        }
    }
    count_hold(match outcome {
        HoldOutcome::Held { .. } => "held",
        HoldOutcome::SessionNotActive => "session_not_active",
        HoldOutcome::HoldExists { .. } => "hold_exists",
        HoldOutcome::SeatUnavailable { .. } | HoldOutcome::SoldSeatsChanged => "seat_unavailable",
        HoldOutcome::TicketLimit { .. } => "ticket_limit",
    });
    match outcome {
        HoldOutcome::Held { expires_at_ms } => Ok(Reservation {
            id: new_hold.reservation_id,
            status: ReservationStatus::Held,
            schedule_id,
            total_price: seats.iter().map(|s| s.price).sum(),
            seats,
            expires_at: from_ms(expires_at_ms),
            confirmed_at: None,
        }),
        HoldOutcome::SessionNotActive => Err(ApiError::session_not_active()),
        HoldOutcome::HoldExists { reservation_id } => Err(ApiError::hold_exists(reservation_id)),
        HoldOutcome::SeatUnavailable { .. } | HoldOutcome::SoldSeatsChanged => Err(unavailable()),
        HoldOutcome::TicketLimit { owned } => Err(ApiError::ticket_limit(limit, owned)),
    }
}

/// One call of `hold.lua`; when the session is missing because Redis lost it, the session
/// comes back from the access token (once) and the hold is tried again.
async fn hold_once(state: &AppState, caller: &Caller, hold: &NewHold<'_>) -> Result<HoldOutcome> {
    let outcome = holds::hold_seats(&state.redis, &state.keys, hold).await?;
    if outcome == HoldOutcome::SessionNotActive && sessions::restore_lost(state, caller).await? {
        return holds::hold_seats(&state.redis, &state.keys, hold).await;
    }
    Ok(outcome)
}

/// Counts a hold attempt that got as far as the seats, by outcome (a fixed set of labels,
/// registered at zero in `startup`); the dashboards set `held` against the payments.
fn count_hold(outcome: &'static str) {
    metrics::counter!("api_holds_total", "outcome" => outcome).increment(1);
}

/// The caller's reservation `reservation_id`, paid (from Postgres) or held (from Redis);
/// 404 for anyone else's.
pub async fn find(
    state: &AppState,
    caller: &AccountCaller,
    reservation_id: Uuid,
) -> Result<Reservation> {
    if let Some(r) = payments::find_confirmed(&state.db, caller.user(), reservation_id).await? {
        return Ok(Reservation {
            id: reservation_id,
            status: ReservationStatus::Confirmed,
            schedule_id: r.schedule_id,
            seats: r.seats,
            total_price: r.total_price,
            expires_at: r.expires_at,
            confirmed_at: Some(r.confirmed_at),
        });
    }
    let r = find_held(state, caller, reservation_id).await?;
    let seats = seats_as_sold(state, &r).await?;
    Ok(Reservation {
        id: r.id,
        status: r.state.visible(r.expires_at_ms, now_ms()),
        schedule_id: r.schedule_id,
        total_price: seats.iter().map(|s| s.price).sum(),
        seats,
        expires_at: from_ms(r.expires_at_ms),
        // Confirmed in Redis but not (yet) in Postgres is not reported as paid.
        confirmed_at: None,
    })
}

/// The held seats with their numbers and prices from the api's copy of `seats` (what a
/// payment would charge), not the ones the Redis hash recorded.
async fn seats_as_sold(state: &AppState, r: &HeldReservation) -> Result<Vec<Seat>> {
    let Some(schedule) = state.seats.schedule(&state.db, r.schedule_id).await? else {
        return Ok(Vec::new());
    };
    Ok(r.seats
        .iter()
        .filter_map(|s| schedule.seat(s.id).cloned())
        .collect())
}

/// Cancels the caller's held reservation `reservation_id` (compare-and-delete of its holds).
pub async fn release(state: &AppState, caller: &AccountCaller, reservation_id: Uuid) -> Result<()> {
    let paid = payments::find_confirmed(&state.db, caller.user(), reservation_id).await?;
    if paid.is_some() {
        return Err(ApiError::already_confirmed());
    }
    let r = find_held(state, caller, reservation_id).await?;
    let concert_id = concert_of(caller, &reservation_id).ok_or(ApiError::reservation_not_found())?;
    match holds::release_reservation(&state.redis, &state.keys, concert_id, &r).await? {
        Released::Canceled => {
            metrics::counter!("api_hold_releases_total").increment(1);
            Ok(())
        }
        Released::AlreadyConfirmed => Err(ApiError::already_confirmed()),
        Released::PaymentRunning => Err(ApiError::payment_in_progress()),
        Released::NotFound => Err(ApiError::reservation_not_found()),
    }
}

/// The concert whose Redis keys hold `reservation_id`: the one the id carries (ids made
/// before ids carried one: the access token's; an identity token names none).
fn concert_of(caller: &AccountCaller, reservation_id: &Uuid) -> Option<ConcertId> {
    reservation_id::concert_of(reservation_id).or(caller.concert_id())
}

/// The caller's reservation as Redis holds it (whichever concert's token the caller
/// presents); 404 otherwise.
async fn find_held(
    state: &AppState,
    caller: &AccountCaller,
    reservation_id: Uuid,
) -> Result<HeldReservation> {
    let concert_id = concert_of(caller, &reservation_id).ok_or(ApiError::reservation_not_found())?;
    holds::find_reservation(
        &state.redis,
        &state.keys,
        concert_id,
        caller.user(),
        reservation_id,
    )
    .await?
    .ok_or(ApiError::reservation_not_found())
}
