//! Stored responses per (user, `Idempotency-Key`). A request with a key runs in a
//! transaction that holds an advisory lock on the key, so a concurrent duplicate learns at
//! once that the first is still running (409), and a finished one finds the stored response.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use sqlx::{PgPool, Postgres, Transaction};

use crate::{
    domain::{IdempotencyKey, RequestHash},
    error::{is_violation, ApiError, Result},
};

/// A response as stored for replay.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub status: StatusCode,
    pub body: serde_json::Value,
}

impl IntoResponse for Stored {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

pub(crate) type Row = (Vec<u8>, i16, serde_json::Value);

/// The stored response of `row`, or 422 when it was stored for a different request.
pub(crate) fn replay((hash, status, body): Row, expected: &RequestHash) -> Result<Stored> {
    if hash != expected.0 {
        return Err(ApiError::Unprocessable(
            "IDEMPOTENCY_KEY_REUSED",
            "this Idempotency-Key was used with a different request",
        ));
    }
    Ok(Stored {
        status: StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK),
        body,
    })
}

const FIND: &str = "SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE user_id = $1 AND key = $2";

/// 409 `IDEMPOTENCY_IN_PROGRESS`: another request with the key holds its lock.
pub(crate) fn in_progress() -> ApiError {
    ApiError::Conflict(
        "IDEMPOTENCY_IN_PROGRESS",
        "a request with this Idempotency-Key is still being processed; retry shortly".into(),
    )
}

/// A request's transaction: either the stored response to replay, or a fresh transaction
/// (holding the key's lock when there is a key) in which to do the work.
pub enum Begun {
    Replay(Stored),
    Fresh(Transaction<'static, Postgres>),
}

/// The stored response of a finished request with this key, if any; 422 when the key was
/// used for a different request.
pub async fn find<'c>(
    db: impl sqlx::PgExecutor<'c>,
    user_id: &str,
    key: &IdempotencyKey,
    hash: &RequestHash,
) -> Result<Option<Stored>> {
    let row = sqlx::query_as::<_, Row>(FIND)
        .bind(user_id)
        .bind(key.as_str())
        .fetch_optional(db)
        .await?;
    row.map(|r| replay(r, hash)).transpose()
}

/// Begins the transaction of a request. With a key, it takes the key's advisory lock (409
/// `IDEMPOTENCY_IN_PROGRESS` while another request holds it) and looks for a stored response
/// under the lock; callers look with [`find`] first, so a finished request costs no transaction.
pub async fn begin(
    db: &PgPool,
    user_id: &str,
    key: Option<&IdempotencyKey>,
    hash: &RequestHash,
) -> Result<Begun> {
    let Some(key) = key else {
        return Ok(Begun::Fresh(db.begin().await?));
    };
    let mut tx = db.begin().await?;
    let (locked, hash_found, status, body): (
        bool,
        Option<Vec<u8>>,
        Option<i16>,
        Option<serde_json::Value>,
    ) = sqlx::query_as(
        "SELECT pg_try_advisory_xact_lock($3), k.request_hash, k.response_status, k.response_body
         FROM (SELECT 1) AS one
         LEFT JOIN idempotency_keys k ON k.user_id = $1 AND k.key = $2",
    )
    .bind(user_id)
    .bind(key.as_str())
    .bind(key.lock_id(user_id))
    .fetch_one(&mut *tx)
    .await?;
    if !locked {
        return Err(in_progress());
    }
    if let (Some(h), Some(s), Some(b)) = (hash_found, status, body) {
        return replay((h, s, b), hash).map(Begun::Replay);
    }
    Ok(Begun::Fresh(tx))
}

/// Stores `response` for the key inside `tx` (nothing without a key). `Ok(false)`: a
/// duplicate with the key committed first (after [`begin`]'s snapshot was taken, before its
/// lock was free), so `tx` must be rolled back and that response replayed ([`replay_winner`]).
pub async fn save(
    tx: &mut Transaction<'static, Postgres>,
    user_id: &str,
    key: Option<&IdempotencyKey>,
    hash: &RequestHash,
    response: &Stored,
) -> Result<bool> {
    let Some(key) = key else {
        return Ok(true);
    };
    let saved = sqlx::query(
        "INSERT INTO idempotency_keys (user_id, key, request_hash, response_status, response_body)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(user_id)
    .bind(key.as_str())
    .bind(&hash.0)
    .bind(response.status.as_u16() as i16)
    .bind(&response.body)
    .execute(&mut **tx)
    .await;
    match saved {
        Ok(_) => Ok(true),
        Err(e) if is_violation(&e, "idempotency_keys_pkey") => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The response of the duplicate that won `key` (after [`save`] found it taken).
pub async fn replay_winner(
    db: &PgPool,
    user_id: &str,
    key: &IdempotencyKey,
    hash: &RequestHash,
) -> Result<Stored> {
    find(db, user_id, key, hash).await?.ok_or_else(in_progress)
}
