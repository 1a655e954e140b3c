//! The sale and the reservations it confirmed. The sale is one statement (its own
//! transaction, one round trip) that takes the idempotency key's advisory lock and the user's
//! wallet row lock (so a user's sales run one at a time and the ticket limit holds), counts
//! the user's tickets of the concert, and writes the
//! conditional debit, the reservation, the tickets (the `tickets_schedule_seat_key`
//! constraint is the fence against selling a seat twice, whatever Redis says), the payment,
//! its ledger entry and the stored response: all of it commits, or nothing does. Prices and
//! schedules come from `seats`: of the Redis reservation only the seat ids are used.

use chrono::{DateTime, Utc};
use shared::ids::{ConcertId, UserId};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    domain::{IdempotencyKey, Prior, RequestHash, StoredResponse},
    error::{is_violation, Result},
    store::{catalog::Seat, holds::HeldReservation, idempotency},
};

/// A sale to write: the held reservation, its payment, and the response stored under the key.
#[derive(Debug)]
pub struct NewSale<'a> {
    pub user: &'a UserId,
    pub concert_id: ConcertId,
    pub reservation: &'a HeldReservation,
    /// The sum of the seats' prices as the api's copy of `seats` has it: what the response
    /// says; the statement sells only if `seats` agrees.
    pub amount: i64,
    pub payment_id: Uuid,
    pub paid_at: DateTime<Utc>,
    pub key: &'a IdempotencyKey,
    pub hash: &'a RequestHash,
    pub response: &'a StoredResponse,
    /// Most tickets the user may own of the concert, this sale's included.
    pub max_tickets: u32,
}

/// What the sale statement did. Every outcome but [`Sale::Sold`] wrote nothing.
#[derive(Debug)]
pub enum Sale {
    /// The reservation, tickets, payment, ledger entry and stored response are committed.
    Sold,
    /// A finished request used the key.
    KeyUsed(Prior),
    /// Another statement holds the key's lock.
    KeyBusy,
    /// The balance does not cover the price.
    BalanceShort,
    /// The user owns `owned` tickets of the concert: with this sale's they would own more
    /// than [`NewSale::max_tickets`].
    TicketLimit { owned: i64 },
    /// A seat of the reservation is sold already.
    SeatSold,
    /// A seat of the reservation is not a seat of its schedule and concert in `seats`, or
    /// the prices there do not add up to [`NewSale::amount`].
    SeatsMismatch,
    /// Another statement wrote the reservation, its payment or the key meanwhile.
    WrittenMeanwhile,
}

/// What the statement found and did: whether the seats matched, the key's lock taken, the
/// tickets the user owned of the concert and whether this sale keeps to the limit, the
/// balance after the debit, and the key's stored row.
type Outcome = (
    bool,
    bool,
    i64,
    bool,
    Option<i64>,
    Option<Vec<u8>>,
    Option<i16>,
    Option<serde_json::Value>,
);

/// Why [`sell`] failed, and whether Postgres certainly wrote nothing.
#[derive(Debug)]
pub struct SellError {
    pub error: sqlx::Error,
    /// See [`wrote_nothing`]; otherwise a lost connection may have committed.
    pub wrote_nothing: bool,
}

/// Writes `sale` in one statement (its own transaction, one round trip). An `Err` may or may
/// not have committed; see [`SellError::wrote_nothing`].
pub async fn sell(conn: &mut PgConnection, sale: &NewSale<'_>) -> Result<Sale, SellError> {
    sell_statement(conn, sale).await.map_err(|error| SellError {
        wrote_nothing: wrote_nothing(&error),
        error,
    })
}

async fn sell_statement(conn: &mut PgConnection, sale: &NewSale<'_>) -> Result<Sale, sqlx::Error> {
    let r = sale.reservation;
    let expires_at =
        DateTime::<Utc>::from_timestamp_millis(r.expires_at_ms).unwrap_or(sale.paid_at);
    let seat_ids: Vec<i64> = r.seats.iter().map(|s| s.id).collect();
    // The user's sales run one at a time: with the key's lock, the statement locks the
    // user's wallet row (`FOR UPDATE`) and only then counts their tickets of the concert,
    // with `tickets_owned`, whose query sees every sale committed before that lock (see its
    // migration), so two sessions or api instances cannot both sell past the limit.
    // The seats are read from `seats`, with their schedule's concert: a seat id of another
    // schedule or concert, or a price that is not the api's, matches no row or breaks the sum,
    // and nothing is written. The key's advisory lock is taken first; the debit, and
    // everything that hangs on it, happens only with the lock and without a stored response.
    // A duplicate that committed between this statement's snapshot and its lock trips a
    // unique constraint below.
    let outcome: std::result::Result<Outcome, sqlx::Error> = sqlx::query_as(
        "WITH lock AS (
             SELECT pg_try_advisory_xact_lock($13) AS ok
         ), prior AS (
             SELECT request_hash, response_status, response_body FROM idempotency_keys
             WHERE user_id = $1 AND key = $10
         ), seat AS (
             SELECT s.id, s.schedule_id, s.price
             FROM seats s JOIN schedules sc ON sc.id = s.schedule_id
             WHERE s.id = ANY($8::bigint[]) AND s.schedule_id = $5 AND sc.concert_id = $4
         ), matched AS (
             SELECT count(*) = cardinality($8::bigint[]) AND count(*) > 0
                    AND COALESCE(sum(price), 0) = $3 AS ok
             FROM seat
         ), wallet AS MATERIALIZED (
             SELECT user_id FROM wallets WHERE user_id = $1 AND (SELECT ok FROM lock) FOR UPDATE
         ), owned AS (
             SELECT COALESCE((SELECT tickets_owned($1, $4) FROM wallet), 0) AS n
         ), within AS (
             SELECT (SELECT n FROM owned) + cardinality($8::bigint[]) <= $15 AS ok
         ), debit AS (
             UPDATE wallets SET balance = balance - $3, updated_at = now()
             WHERE user_id = $1 AND balance >= $3 AND (SELECT ok FROM matched)
               AND (SELECT ok FROM within)
               AND (SELECT ok FROM lock) AND NOT EXISTS (SELECT 1 FROM prior)
             RETURNING balance
         ), reservation AS (
             INSERT INTO reservations (id, user_id, concert_id, schedule_id, total_price, status, expires_at, confirmed_at)
             SELECT $2, $1, $4, $5, $3, 'CONFIRMED', $6, $7 FROM debit
             RETURNING id
         ), sold AS (
             INSERT INTO tickets (schedule_id, seat_id, reservation_id, user_id, price)
             SELECT seat.schedule_id, seat.id, reservation.id, $1, seat.price
             FROM reservation, seat
         ), payment AS (
             INSERT INTO payments (id, reservation_id, user_id, amount, paid_at)
             SELECT $9, reservation.id, $1, $3, $7 FROM reservation
             RETURNING id
         ), entry AS (
             INSERT INTO ledger (user_id, kind, amount, payment_id)
             SELECT $1, 'PAYMENT', -$3, payment.id FROM payment
         ), response AS (
             INSERT INTO idempotency_keys (user_id, key, request_hash, response_status, response_body)
             SELECT $1, $10, $11, $14, $12 FROM payment
         )
         SELECT (SELECT ok FROM matched), (SELECT ok FROM lock), (SELECT n FROM owned),
                (SELECT ok FROM within), (SELECT balance FROM debit),
                prior.request_hash, prior.response_status, prior.response_body
         FROM (SELECT 1) AS one LEFT JOIN prior ON true",
    )
    .bind(sale.user.as_str())
    .bind(r.id)
    .bind(sale.amount)
    .bind(sale.concert_id.get())
    .bind(r.schedule_id)
    .bind(expires_at)
    .bind(sale.paid_at)
    .bind(&seat_ids)
    .bind(sale.payment_id)
    .bind(sale.key.as_str())
    .bind(&sale.hash.0)
    .bind(&sale.response.body)
    .bind(sale.key.lock_id(sale.user.as_str()))
    .bind(sale.response.status as i16)
    .bind(i64::from(sale.max_tickets))
    .fetch_one(&mut *conn)
    .await;
    let (matched, locked, owned, within, debited, prior_hash, prior_status, prior_body) =
        match outcome {
            Ok(row) => row,
            Err(e) if is_violation(&e, "tickets_schedule_seat_key") => return Ok(Sale::SeatSold),
            Err(e)
                if is_violation(&e, "reservations_pkey")
                    || is_violation(&e, "payments_reservation_id_key")
                    || is_violation(&e, "idempotency_keys_pkey") =>
            {
                return Ok(Sale::WrittenMeanwhile)
            }
            Err(e) => return Err(e),
        };
    Ok(match (prior_hash, prior_status, prior_body) {
        (Some(h), Some(s), Some(b)) => Sale::KeyUsed(idempotency::prior((h, s, b), sale.hash)),
        _ if !locked => Sale::KeyBusy,
        _ if !matched => Sale::SeatsMismatch,
        _ if !within => Sale::TicketLimit { owned },
        _ if debited.is_none() => Sale::BalanceShort,
        _ => Sale::Sold,
    })
}

/// Errors after which Postgres certainly wrote nothing: no connection, or the statement
/// cancelled (`statement_timeout`). After any other, a lost connection may have committed.
pub fn wrote_nothing(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => db.code().as_deref() == Some("57014"),
        _ => false,
    }
}

/// A confirmed reservation as Postgres has it.
#[derive(Debug, Clone)]
pub struct ConfirmedReservation {
    pub schedule_id: i64,
    pub total_price: i64,
    pub expires_at: DateTime<Utc>,
    pub confirmed_at: DateTime<Utc>,
    /// Ordered by seat number.
    pub seats: Vec<Seat>,
}

/// The confirmed reservation `reservation_id` of `user`, if it was paid.
pub async fn find_confirmed(
    db: &PgPool,
    user: &UserId,
    reservation_id: Uuid,
) -> Result<Option<ConfirmedReservation>> {
    let Some((schedule_id, total_price, expires_at, confirmed_at)) = sqlx::query_as::<_, (i64, i64, DateTime<Utc>, DateTime<Utc>)>(
        "SELECT schedule_id, total_price, expires_at, confirmed_at FROM reservations WHERE id = $1 AND user_id = $2",
    )
    .bind(reservation_id)
    .bind(user.as_str())
    .fetch_optional(db)
    .await?
    else {
        return Ok(None);
    };
    let seats: Vec<Seat> = sqlx::query_as(
        "SELECT t.seat_id AS id, s.seat_number AS number, t.price FROM tickets t JOIN seats s ON s.id = t.seat_id
         WHERE t.reservation_id = $1 ORDER BY s.seat_number",
    )
    .bind(reservation_id)
    .fetch_all(db)
    .await?;
    Ok(Some(ConfirmedReservation {
        schedule_id,
        total_price,
        expires_at,
        confirmed_at,
        seats,
    }))
}

/// A ticket its owner bought, with what a fan wants to see of it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OwnedTicket {
    pub ticket_id: i64,
    pub concert_id: i64,
    pub concert_name: String,
    pub schedule_id: i64,
    pub starts_at: DateTime<Utc>,
    pub seat_id: i64,
    pub seat_number: i32,
    pub price: i64,
    pub payment_id: Uuid,
    pub reservation_id: Uuid,
    pub purchased_at: DateTime<Utc>,
}

/// Every ticket of `user`, newest purchase first (then by seat number).
pub async fn find_tickets(db: &PgPool, user: &UserId) -> Result<Vec<OwnedTicket>> {
    Ok(sqlx::query_as(
        "SELECT t.id AS ticket_id, r.concert_id, c.name AS concert_name, t.schedule_id,
                sc.starts_at, t.seat_id, s.seat_number, t.price, p.id AS payment_id,
                t.reservation_id, p.paid_at AS purchased_at
         FROM reservations r
         JOIN tickets t ON t.reservation_id = r.id
         JOIN payments p ON p.reservation_id = r.id
         JOIN seats s ON s.id = t.seat_id
         JOIN schedules sc ON sc.id = t.schedule_id
         JOIN concerts c ON c.id = r.concert_id
         WHERE r.user_id = $1 AND t.user_id = $1
         ORDER BY p.paid_at DESC, r.id, s.seat_number",
    )
    .bind(user.as_str())
    .fetch_all(db)
    .await?)
}

/// Whether `user` paid for a reservation of `concert_id` at or after `since`: a payment ends
/// the session that made it, so a session begun before such a payment must not come back.
pub async fn paid_since(
    db: &PgPool,
    user: &UserId,
    concert_id: ConcertId,
    since: DateTime<Utc>,
) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM payments p JOIN reservations r ON r.id = p.reservation_id
                        WHERE p.user_id = $1 AND r.concert_id = $2 AND p.paid_at >= $3)",
    )
    .bind(user.as_str())
    .bind(concert_id.get())
    .bind(since)
    .fetch_one(db)
    .await?)
}
