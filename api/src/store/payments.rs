//! The payment: the reservation is claimed in Redis (its holds re-checked and kept, a cancel
//! refused meanwhile: `holds/claim.lua`), then one statement (its own transaction, one round
//! trip) takes the idempotency key's advisory lock and writes the conditional debit, the
//! reservation, the tickets (the `tickets_schedule_seat_key` constraint is the fence against
//! selling a seat twice, whatever Redis says), the payment, its ledger entry and the stored
//! response. Any failure writes nothing, and a refused payment hands its claim back.

use axum::http::StatusCode;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    domain::{IdempotencyKey, RequestHash},
    error::{is_violation, ApiError, Result},
    routes::AppState,
    store::{
        holds::{self, Claim, HeldReservation},
        idempotency::{self, Stored},
    },
};

/// How long a payment's claim on its reservation lasts: a connection's wait (the pool's
/// acquire timeout), the statement (Postgres cancels it at `statement_timeout`, the request
/// timeout: see `startup.rs`) and a margin. So a claim outlives its payment's statement, and
/// a claim that lapses belongs to a payment that can no longer commit.
fn claim_ms(state: &AppState) -> u64 {
    crate::startup::ACQUIRE_TIMEOUT.as_millis() as u64
        + state.settings.http.request_timeout_ms
        + 5_000
}

/// 409 `ALREADY_CONFIRMED`.
pub(crate) fn already_confirmed() -> ApiError {
    ApiError::Conflict(
        "ALREADY_CONFIRMED",
        "this reservation has already been paid".into(),
    )
}

/// 409 `PAYMENT_IN_PROGRESS`: another payment of the reservation is running.
pub(crate) fn payment_in_progress() -> ApiError {
    ApiError::Conflict(
        "PAYMENT_IN_PROGRESS",
        "a payment of this reservation is being processed; retry shortly".into(),
    )
}

/// A payment to make.
#[derive(Debug)]
pub struct PaymentOrder<'a> {
    pub user_id: &'a str,
    pub concert_id: i64,
    pub key: &'a IdempotencyKey,
    pub hash: &'a RequestHash,
    pub reservation: &'a HeldReservation,
}

/// What the payment statement found and did.
type Outcome = (
    bool,
    Option<i64>,
    Option<Vec<u8>>,
    Option<i16>,
    Option<serde_json::Value>,
);

/// Pays a held reservation in one statement, which is its own transaction: all of it
/// commits, or nothing does.
pub async fn pay_reservation(state: &AppState, order: &PaymentOrder<'_>) -> Result<Stored> {
    let r = order.reservation;
    let reservation_id =
        Uuid::parse_str(&r.reservation_id).map_err(|e| ApiError::Unexpected(e.into()))?;
    let payment_id = Uuid::now_v7();
    // The last word before the sale: the holds must still be this reservation's, and from
    // here until the statement has answered no cancel or other payment can come between.
    let payment_ref = payment_id.to_string();
    match holds::claim_for_payment(
        &state.redis,
        &state.keys,
        order.concert_id,
        r,
        &payment_ref,
        order.key.as_str(),
        claim_ms(state),
    )
    .await?
    {
        Claim::Claimed => {}
        Claim::NotFound => {
            return Err(ApiError::NotFound(
                "RESERVATION_NOT_FOUND",
                "no such reservation",
            ))
        }
        Claim::AlreadyConfirmed => return Err(already_confirmed()),
        Claim::Lapsed => {
            return Err(ApiError::Conflict(
                "HOLD_EXPIRED",
                "the hold on these seats has lapsed; hold them again".into(),
            ))
        }
        Claim::PaymentRunning { key } if key == order.key.as_str() => {
            return Err(idempotency::in_progress())
        }
        Claim::PaymentRunning { .. } => return Err(payment_in_progress()),
    }
    let sold = match state.db.acquire().await {
        Ok(mut conn) => sell(&mut conn, order, reservation_id, payment_id).await,
        Err(e) => Err(Unsold::Refused(e.into())),
    };
    match sold {
        Ok(stored) => Ok(stored),
        Err(Unsold::Kept(e)) => Err(e),
        Err(Unsold::Refused(e)) => {
            if let Err(e) =
                holds::unclaim(&state.redis, &state.keys, order.concert_id, r, &payment_ref).await
            {
                tracing::warn!(error = %e, reservation.id = %r.reservation_id, "could not hand a payment's claim back; it lapses by itself");
            }
            Err(e)
        }
    }
}

/// Why [`sell`] did not sell.
enum Unsold {
    /// Nothing was written (refused, rolled back, or never sent): the claim goes back and the
    /// reservation can be paid again at once.
    Refused(ApiError),
    /// The outcome is unknown (a lost connection may have committed), another request with
    /// the key runs a statement, or the reservation is paid: the claim lapses by itself.
    Kept(ApiError),
}

impl From<sqlx::Error> for Unsold {
    fn from(e: sqlx::Error) -> Self {
        if is_rolled_back(&e) {
            Self::Refused(e.into())
        } else {
            Self::Kept(e.into())
        }
    }
}

/// Errors after which Postgres certainly wrote nothing: no connection, or the statement
/// cancelled (`statement_timeout`).
fn is_rolled_back(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => db.code().as_deref() == Some("57014"),
        _ => false,
    }
}

/// The payment statement and what its answer means, for a claimed reservation.
async fn sell(
    conn: &mut PgConnection,
    order: &PaymentOrder<'_>,
    reservation_id: Uuid,
    payment_id: Uuid,
) -> Result<Stored, Unsold> {
    let r = order.reservation;
    let paid_at = Utc::now();
    let expires_at = DateTime::<Utc>::from_timestamp_millis(r.expires_at_ms).unwrap_or(paid_at);
    let seat_ids: Vec<i64> = r.seats.iter().map(|s| s.id).collect();
    let prices: Vec<i64> = r.seats.iter().map(|s| s.price).collect();
    let stored = Stored {
        status: StatusCode::CREATED,
        body: serde_json::json!({
            "paymentId": payment_id,
            "reservationId": reservation_id,
            "amount": r.total_price,
            "status": "COMPLETED",
            "paidAt": paid_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        }),
    };
    if r.total_price == 0 {
        sqlx::query("INSERT INTO wallets (user_id) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(order.user_id)
            .execute(&mut *conn)
            .await
            .map_err(|e| Unsold::Refused(e.into()))?;
    }
    // The key's advisory lock is taken first; the debit, and everything that hangs on it,
    // happens only with the lock and without a stored response. A duplicate that committed
    // between this statement's snapshot and its lock trips a unique constraint below.
    let outcome: std::result::Result<Outcome, sqlx::Error> = sqlx::query_as(
        "WITH lock AS (
             SELECT pg_try_advisory_xact_lock($14) AS ok
         ), prior AS (
             SELECT request_hash, response_status, response_body FROM idempotency_keys
             WHERE user_id = $1 AND key = $11
         ), debit AS (
             UPDATE wallets SET balance = balance - $3, updated_at = now()
             WHERE user_id = $1 AND balance >= $3
               AND (SELECT ok FROM lock) AND NOT EXISTS (SELECT 1 FROM prior)
             RETURNING balance
         ), reservation AS (
             INSERT INTO reservations (id, user_id, concert_id, schedule_id, total_price, status, expires_at, confirmed_at)
             SELECT $2, $1, $4, $5, $3, 'CONFIRMED', $6, $7 FROM debit
             RETURNING id
         ), sold AS (
             INSERT INTO tickets (schedule_id, seat_id, reservation_id, user_id, price)
             SELECT $5, seat.id, reservation.id, $1, seat.price
             FROM reservation, unnest($8::bigint[], $9::bigint[]) AS seat (id, price)
         ), payment AS (
             INSERT INTO payments (id, reservation_id, user_id, amount, paid_at)
             SELECT $10, reservation.id, $1, $3, $7 FROM reservation
             RETURNING id
         ), entry AS (
             INSERT INTO ledger (user_id, kind, amount, payment_id)
             SELECT $1, 'PAYMENT', -$3, payment.id FROM payment
         ), response AS (
             INSERT INTO idempotency_keys (user_id, key, request_hash, response_status, response_body)
             SELECT $1, $11, $12, 201, $13 FROM payment
         )
         SELECT (SELECT ok FROM lock), (SELECT balance FROM debit),
                prior.request_hash, prior.response_status, prior.response_body
         FROM (SELECT 1) AS one LEFT JOIN prior ON true",
    )
    .bind(order.user_id)
    .bind(reservation_id)
    .bind(r.total_price)
    .bind(order.concert_id)
    .bind(r.schedule_id)
    .bind(expires_at)
    .bind(paid_at)
    .bind(&seat_ids)
    .bind(&prices)
    .bind(payment_id)
    .bind(order.key.as_str())
    .bind(&order.hash.0)
    .bind(&stored.body)
    .bind(order.key.lock_id(order.user_id))
    .fetch_one(&mut *conn)
    .await;
    let (locked, debited, prior_hash, prior_status, prior_body) = match outcome {
        Ok(row) => row,
        Err(e) if is_violation(&e, "tickets_schedule_seat_key") => {
            return Err(Unsold::Refused(ApiError::Conflict(
                "SEAT_UNAVAILABLE",
                "a seat of this reservation has already been sold".into(),
            )))
        }
        Err(e)
            if is_violation(&e, "reservations_pkey")
                || is_violation(&e, "payments_reservation_id_key")
                || is_violation(&e, "idempotency_keys_pkey") =>
        {
            return paid_meanwhile(conn, order).await.map_err(Unsold::Kept);
        }
        Err(e) => return Err(e.into()),
    };
    if let (Some(hash), Some(status), Some(body)) = (prior_hash, prior_status, prior_body) {
        // The key was used before: its payment's answer, or 422 for another request.
        return idempotency::replay((hash, status, body), order.hash).map_err(Unsold::Refused);
    }
    if !locked {
        return Err(Unsold::Kept(idempotency::in_progress()));
    }
    if debited.is_none() {
        // Nothing moved. A duplicate that paid meanwhile may have spent the balance.
        return match idempotency::find(&mut *conn, order.user_id, order.key, order.hash).await {
            Ok(Some(stored)) => Ok(stored),
            Ok(None) => Err(Unsold::Refused(ApiError::InsufficientBalance)),
            Err(e) => Err(Unsold::Kept(e)),
        };
    }
    metrics::counter!("api_payments_total").increment(1);
    Ok(stored)
}

/// The reservation was paid by another request: its stored response when it was this one
/// (a duplicate with the same key), else 409 `ALREADY_CONFIRMED`.
async fn paid_meanwhile(conn: &mut PgConnection, order: &PaymentOrder<'_>) -> Result<Stored> {
    match idempotency::find(conn, order.user_id, order.key, order.hash).await? {
        Some(stored) => Ok(stored),
        None => Err(already_confirmed()),
    }
}

/// A confirmed reservation as Postgres has it.
#[derive(Debug, Clone)]
pub struct ConfirmedReservation {
    pub schedule_id: i64,
    pub total_price: i64,
    pub expires_at: DateTime<Utc>,
    pub confirmed_at: DateTime<Utc>,
    pub seats: Vec<(i64, i32, i64)>,
}

/// The confirmed reservation `reservation_id` of `user_id`, if it was paid.
pub async fn find_confirmed(
    state: &AppState,
    user_id: &str,
    reservation_id: Uuid,
) -> Result<Option<ConfirmedReservation>> {
    let Some((schedule_id, total_price, expires_at, confirmed_at)) = sqlx::query_as::<_, (i64, i64, DateTime<Utc>, DateTime<Utc>)>(
        "SELECT schedule_id, total_price, expires_at, confirmed_at FROM reservations WHERE id = $1 AND user_id = $2",
    )
    .bind(reservation_id)
    .bind(user_id)
    .fetch_optional(&state.db)
    .await?
    else {
        return Ok(None);
    };
    let seats: Vec<(i64, i32, i64)> = sqlx::query_as(
        "SELECT t.seat_id, s.seat_number, t.price FROM tickets t JOIN seats s ON s.id = t.seat_id
         WHERE t.reservation_id = $1 ORDER BY s.seat_number",
    )
    .bind(reservation_id)
    .fetch_all(&state.db)
    .await?;
    Ok(Some(ConfirmedReservation {
        schedule_id,
        total_price,
        expires_at,
        confirmed_at,
        seats,
    }))
}
