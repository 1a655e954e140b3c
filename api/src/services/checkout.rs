//! Checkout: paying a held reservation from the balance, step by step.
//!
//! 1. **Read** the caller's session and the reservation (one Redis round trip): the session
//!    must be active and the reservation still held.
//! 2. **Claim** the reservation for this payment (`claim.lua`): its holds are re-checked and
//!    kept at least as long as the claim, and a cancel or another payment is refused meanwhile.
//! 3. **Sell** in one Postgres transaction (`store::payments::sell`): with the user's wallet
//!    locked, within `MAX_TICKETS_PER_USER` tickets of the concert, the debit, reservation,
//!    tickets, payment, ledger entry and the response stored under the key, or nothing. The
//!    prices and the schedule are Postgres's (`seats`); of the Redis reservation only its
//!    seat ids count, so whoever writes Redis cannot change what is paid. A schedule that has
//!    started sells nothing.
//! 4. **Confirm** in Redis after a sale (holds removed, reservation confirmed, session ended,
//!    the balance's version renewed; best effort), or **unclaim** when nothing was written, so the hold can be paid again.
//! 5. **Replay**: when a step refuses, a duplicate of a request that already finished gets
//!    that request's stored response.

use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::{
    auth::Caller,
    config::Settings,
    domain::{IdempotencyKey, RequestHash, ReservationStatus, StoredResponse},
    error::{ApiError, Result},
    services::sessions,
    state::AppState,
    store::{
        self,
        holds::{self, now_ms, Claim, HeldReservation},
        idempotency,
        payments::{self, NewSale, Sale},
        wallet,
    },
};

/// What a stored payment response was for (with the request body, see [`RequestHash`]).
const ENDPOINT: &str = "POST /api/v1/payments";

/// A completed payment: the answer to the request, stored under its key and given again to
/// every duplicate.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "paymentId": "01939a4e-8f1c-7d2a-b3e4-5f6a7b8c9d0e",
    "reservationId": "00000000-0001-8a3b-9c4d-5e6f7a8b9c0d",
    "amount": 80000,
    "status": "COMPLETED",
    "paidAt": "2027-01-01T18:03:12.345Z"
}))]
pub struct PaymentResponse {
    payment_id: Uuid,
    reservation_id: Uuid,
    /// The sum of the seats' prices in Postgres, in won.
    #[schema(minimum = 0)]
    amount: i64,
    status: PaymentStatus,
    #[schema(format = DateTime)]
    paid_at: String,
}

/// A payment's status: one that is answered has completed.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum PaymentStatus {
    Completed,
}

/// Pays `reservation_id` for the caller with `key`; the same key and reservation replay
/// the first answer. The answer is the stored response (201 and a [`PaymentResponse`]).
pub async fn pay(
    state: &AppState,
    caller: &Caller,
    reservation_id: Uuid,
    key: &IdempotencyKey,
) -> Result<StoredResponse> {
    let hash = RequestHash::of(
        ENDPOINT,
        &serde_json::json!({ "reservationId": reservation_id }),
    );
    match pay_once(state, caller, reservation_id, key, &hash).await {
        Ok(response) => Ok(response),
        // Step 5: paying ends the session and confirms the hold, so a duplicate of a request that
        // finished meanwhile fails the checks (session ended, hold confirmed or claimed, key's
        // lock taken): when it does, the stored response, if any, is the answer.
        Err(refused) => match idempotency::find(&state.db, caller.user(), key, &hash).await? {
            Some(prior) => prior.replay(),
            None => Err(refused),
        },
    }
}

/// Steps 1 to 4: read, claim, sell, then confirm or unclaim.
async fn pay_once(
    state: &AppState,
    caller: &Caller,
    reservation_id: Uuid,
    key: &IdempotencyKey,
    hash: &RequestHash,
) -> Result<StoredResponse> {
    let reservation = read(state, caller, reservation_id).await?;
    let payment_id = Uuid::now_v7();
    claim(state, caller, &reservation, payment_id, key).await?;
    match sell(state, caller, &reservation, payment_id, key, hash).await {
        Ok(response) => {
            confirm(state, caller, &reservation, &response).await;
            Ok(response)
        }
        Err(Unsold::Kept(e)) => Err(e),
        Err(Unsold::Refused(e)) => {
            unclaim(state, caller, &reservation, payment_id).await;
            Err(e)
        }
    }
}

/// Step 1: the reservation, if the session is active and it is still held.
async fn read(state: &AppState, caller: &Caller, reservation_id: Uuid) -> Result<HeldReservation> {
    let (active, reservation) = holds::session_and_reservation(
        &state.redis,
        &state.keys,
        caller.concert_id(),
        caller.session(),
        reservation_id,
    )
    .await?;
    if !active && !sessions::restore_lost(state, caller).await? {
        return Err(ApiError::session_not_active());
    }
    let Some(reservation) = reservation else {
        // Gone from Redis (or never there): Postgres knows whether it was paid.
        let paid = payments::find_confirmed(&state.db, caller.user(), reservation_id).await?;
        return Err(match paid {
            Some(_) => ApiError::already_confirmed(),
            None => ApiError::reservation_not_found(),
        });
    };
    match reservation
        .state
        .visible(reservation.expires_at_ms, now_ms())
    {
        ReservationStatus::Held => Ok(reservation),
        ReservationStatus::Confirmed => Err(ApiError::already_confirmed()),
        ReservationStatus::Canceled | ReservationStatus::Expired => Err(ApiError::hold_expired()),
    }
}

/// How long a payment's claim on its reservation lasts: a connection's wait (the pool's
/// acquire timeout), the statement (Postgres cancels it at `statement_timeout`, the request
/// timeout: see `startup.rs`) and a margin. So a claim outlives its payment's statement, and
/// a claim that lapses belongs to a payment that can no longer commit.
fn claim_ms(settings: &Settings) -> u64 {
    store::ACQUIRE_TIMEOUT.as_millis() as u64 + settings.http.request_timeout_ms + 5_000
}

/// Step 2: the last word before the sale: the holds must still be this reservation's, and from
/// here until the statement has answered no cancel or other payment can come between.
async fn claim(
    state: &AppState,
    caller: &Caller,
    reservation: &HeldReservation,
    payment_id: Uuid,
    key: &IdempotencyKey,
) -> Result<()> {
    let claim = holds::claim_for_payment(
        &state.redis,
        &state.keys,
        caller.concert_id(),
        reservation,
        payment_id,
        key.as_str(),
        claim_ms(&state.settings),
    )
    .await?;
    match claim {
        Claim::Claimed => Ok(()),
        Claim::NotFound => Err(ApiError::reservation_not_found()),
        Claim::AlreadyConfirmed => Err(ApiError::already_confirmed()),
        Claim::Lapsed => Err(ApiError::hold_expired()),
        Claim::PaymentRunning { key: running } if running == key.as_str() => {
            Err(ApiError::idempotency_in_progress())
        }
        Claim::PaymentRunning { .. } => Err(ApiError::payment_in_progress()),
    }
}

/// Why [`sell`] did not sell, and so what becomes of the claim.
enum Unsold {
    /// Nothing was written (refused, rolled back, or never sent): the claim goes back and the
    /// reservation can be paid again at once.
    Refused(ApiError),
    /// The outcome is unknown (a lost connection may have committed), another request with
    /// the key runs a statement, or the reservation is paid: the claim lapses by itself.
    Kept(ApiError),
}

/// Step 3: the sale statement, and what its answer means for a claimed reservation.
async fn sell(
    state: &AppState,
    caller: &Caller,
    reservation: &HeldReservation,
    payment_id: Uuid,
    key: &IdempotencyKey,
    hash: &RequestHash,
) -> Result<StoredResponse, Unsold> {
    let amount = price(state, reservation).await.map_err(Unsold::Refused)?;
    let paid_at = Utc::now();
    let body = serde_json::to_value(PaymentResponse {
        payment_id,
        reservation_id: reservation.id,
        amount,
        status: PaymentStatus::Completed,
        paid_at: paid_at.to_rfc3339_opts(SecondsFormat::Millis, true),
    })
    .map_err(|e| Unsold::Refused(ApiError::Unexpected(e.into())))?;
    let response = StoredResponse { status: 201, body };
    let refused = |e: sqlx::Error| Unsold::Refused(e.into());
    let mut conn = state.db.acquire().await.map_err(refused)?;
    if amount == 0 {
        wallet::ensure_wallet(&mut conn, caller.user())
            .await
            .map_err(refused)?;
    }
    let sale = NewSale {
        user: caller.user(),
        concert_id: caller.concert_id(),
        reservation,
        amount,
        payment_id,
        paid_at,
        key,
        hash,
        response: &response,
        max_tickets: state.settings.max_tickets_per_user,
    };
    let sold = payments::sell(&mut conn, &sale).await.map_err(|e| {
        if e.wrote_nothing {
            Unsold::Refused(e.error.into())
        } else {
            Unsold::Kept(e.error.into())
        }
    })?;
    match sold {
        Sale::Sold => {
            metrics::counter!("api_payments_total").increment(1);
            Ok(response)
        }
        // The key was used before: its payment's answer, or 422 for another request.
        Sale::KeyUsed(prior) => prior.replay().map_err(Unsold::Refused),
        Sale::KeyBusy => Err(Unsold::Kept(ApiError::idempotency_in_progress())),
        // Nothing moved. A duplicate that paid meanwhile may have spent the balance.
        Sale::BalanceShort => match idempotency::find(&mut *conn, caller.user(), key, hash).await {
            Ok(Some(prior)) => prior.replay().map_err(Unsold::Kept),
            Ok(None) => Err(Unsold::Refused(ApiError::InsufficientBalance)),
            Err(e) => Err(Unsold::Kept(e)),
        },
        Sale::SeatSold => Err(Unsold::Refused(ApiError::seat_unavailable(
            "a seat of this reservation has already been sold",
        ))),
        Sale::SeatsMismatch => Err(Unsold::Refused(seats_mismatch())),
        Sale::TicketLimit { owned } => Err(Unsold::Refused(ApiError::ticket_limit(
            state.settings.max_tickets_per_user,
            owned,
        ))),
        // Paid by another request: its stored response when it was this one (a duplicate
        // with the same key), else the reservation is simply paid.
        Sale::WrittenMeanwhile => {
            match idempotency::find(&mut *conn, caller.user(), key, hash).await {
                Ok(Some(prior)) => prior.replay().map_err(Unsold::Kept),
                Ok(None) => Err(Unsold::Kept(ApiError::already_confirmed())),
                Err(e) => Err(Unsold::Kept(e)),
            }
        }
    }
}

/// What the reservation's seats cost, from the api's copy of `seats` (no round trip once the
/// schedule is loaded): the hash's prices and total are not trusted. The statement checks the
/// same sum against `seats` itself. A started schedule's seats are not sold (a hold taken just
/// before the start is not paid after it).
async fn price(state: &AppState, reservation: &HeldReservation) -> Result<i64> {
    let schedule = state
        .seats
        .schedule(&state.db, reservation.schedule_id)
        .await?
        .ok_or_else(seats_mismatch)?;
    if schedule.starts_at <= Utc::now() {
        return Err(ApiError::schedule_started());
    }
    reservation
        .seats
        .iter()
        .map(|s| schedule.seat(s.id).map(|seat| seat.price))
        .sum::<Option<i64>>()
        .ok_or_else(seats_mismatch)
}

/// A reservation whose seats are not seats of its schedule: only a damaged (or tampered)
/// Redis hash says so; nothing is sold.
fn seats_mismatch() -> ApiError {
    ApiError::seat_unavailable("a seat of this reservation is not on sale in its schedule")
}

/// Step 4: the sale is committed; cleaning Redis up is best effort (holds lapse by themselves),
/// and so is the balance's new version (copies of it end within seconds).
async fn confirm(
    state: &AppState,
    caller: &Caller,
    reservation: &HeldReservation,
    response: &StoredResponse,
) {
    // The payment that sold: this one's, or a duplicate's whose answer is replayed.
    let payment_id = response
        .body
        .get("paymentId")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    // The balance's new version goes out beside the clean-up, before the answer.
    let (confirmed, ()) = tokio::join!(
        holds::confirm_reservation(
            &state.redis,
            &state.keys,
            caller.concert_id(),
            reservation,
            caller.ticket_id(),
            payment_id,
            now_ms(),
        ),
        wallet::balance_changed(&state.redis, &state.keys, caller.user()),
    );
    if let Err(e) = confirmed {
        tracing::warn!(error = %e, reservation.id = %reservation.id, "payment committed but Redis clean-up failed");
    }
}

/// Step 4: nothing was written: the claim goes back, so the reservation can be paid or canceled
/// at once.
async fn unclaim(
    state: &AppState,
    caller: &Caller,
    reservation: &HeldReservation,
    payment_id: Uuid,
) {
    let unclaimed = holds::unclaim(
        &state.redis,
        &state.keys,
        caller.concert_id(),
        reservation,
        payment_id,
    )
    .await;
    if let Err(e) = unclaimed {
        tracing::warn!(error = %e, reservation.id = %reservation.id, "could not hand a payment's claim back; it lapses by itself");
    }
}
