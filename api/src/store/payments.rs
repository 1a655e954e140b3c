//! The payment transaction: under the idempotency key's lock, the holds are re-checked in
//! Redis, then one statement writes the conditional debit, the reservation, the tickets (the
//! `tickets_schedule_seat_key` constraint is the fence against selling a seat twice, whatever
//! Redis says), the payment, its ledger entry and the stored response. Any failure rolls
//! everything back.

use axum::http::StatusCode;
use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

use crate::{
    domain::{IdempotencyKey, RequestHash},
    error::{is_violation, ApiError, Result},
    routes::AppState,
    store::{
        holds::{self, HeldReservation},
        idempotency::{self, Begun, Stored},
    },
};

/// A payment to make.
#[derive(Debug)]
pub struct PaymentOrder<'a> {
    pub user_id: &'a str,
    pub concert_id: i64,
    pub key: &'a IdempotencyKey,
    pub hash: &'a RequestHash,
    pub reservation: &'a HeldReservation,
}

/// Pays a held reservation: all of it commits, or nothing does.
pub async fn pay_reservation(state: &AppState, order: &PaymentOrder<'_>) -> Result<Stored> {
    let r = order.reservation;
    let mut tx =
        match idempotency::begin(&state.db, order.user_id, Some(order.key), order.hash).await? {
            Begun::Replay(stored) => return Ok(stored),
            Begun::Fresh(tx) => tx,
        };
    let reservation_id =
        Uuid::parse_str(&r.reservation_id).map_err(|e| ApiError::Unexpected(e.into()))?;
    let payment_id = Uuid::now_v7();
    let paid_at = Utc::now();
    let expires_at = DateTime::<Utc>::from_timestamp_millis(r.expires_at_ms).unwrap_or(paid_at);
    let seat_ids: Vec<i64> = r.seats.iter().map(|s| s.id).collect();
    let prices: Vec<i64> = r.seats.iter().map(|s| s.price).collect();

    // The last word before the sale: the holds must still be this reservation's. A hold lost
    // or lapsed now refuses the payment; the unique constraint covers the remaining window.
    if !holds::holds_intact(&state.redis, &state.keys, order.concert_id, r).await? {
        return Err(ApiError::Conflict(
            "HOLD_EXPIRED",
            "the hold on these seats has lapsed; hold them again".into(),
        ));
    }
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
            .execute(&mut *tx)
            .await?;
    }
    let debited: Option<i64> = sqlx::query_scalar(
        "WITH debit AS (
             UPDATE wallets SET balance = balance - $3, updated_at = now()
             WHERE user_id = $1 AND balance >= $3
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
         SELECT balance FROM debit",
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
    .fetch_optional(&mut *tx)
    .await
    .map_err(|e| {
        if is_violation(&e, "tickets_schedule_seat_key") {
            ApiError::Conflict("SEAT_UNAVAILABLE", "a seat of this reservation has already been sold".into())
        } else if is_violation(&e, "reservations_pkey") || is_violation(&e, "payments_reservation_id_key") {
            ApiError::Conflict("ALREADY_CONFIRMED", "this reservation has already been paid".into())
        } else {
            e.into()
        }
    })?;
    if debited.is_none() {
        return Err(ApiError::InsufficientBalance);
    }
    tx.commit().await?;
    metrics::counter!("api_payments_total").increment(1);
    Ok(stored)
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
