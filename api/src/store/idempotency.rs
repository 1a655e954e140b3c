//! Stored responses per (user, `Idempotency-Key`). A request with a key runs in a
//! transaction that holds an advisory lock on the key, so a concurrent duplicate learns at
//! once that the first is still running, and a finished one finds the stored response.

use shared::ids::UserId;
use sqlx::{PgPool, Postgres, Transaction};

use crate::{
    domain::{IdempotencyKey, Prior, RequestHash, StoredResponse},
    error::{is_violation, Result},
};

/// A stored row: the request hash, the response status and body.
pub type Row = (Vec<u8>, i16, serde_json::Value);

/// What `row` tells a request of `hash`.
pub fn prior((stored_hash, status, body): Row, hash: &RequestHash) -> Prior {
    let response = StoredResponse {
        status: status as u16,
        body,
    };
    Prior::of(&stored_hash, response, hash)
}

const FIND: &str = "SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE user_id = $1 AND key = $2";

/// What the key was used for by a finished request, if any.
pub async fn find<'c>(
    db: impl sqlx::PgExecutor<'c>,
    user: &UserId,
    key: &IdempotencyKey,
    hash: &RequestHash,
) -> Result<Option<Prior>> {
    let row = sqlx::query_as::<_, Row>(FIND)
        .bind(user.as_str())
        .bind(key.as_str())
        .fetch_optional(db)
        .await?;
    Ok(row.map(|r| prior(r, hash)))
}

/// A request's transaction, as [`begin`] found the key.
pub enum Begun {
    /// A fresh transaction (holding the key's lock when there is a key) in which to do the work.
    Fresh(Transaction<'static, Postgres>),
    /// A finished request used the key.
    Used(Prior),
    /// Another request with the key holds its lock.
    Busy,
}

/// Begins the transaction of a request. With a key, it takes the key's advisory lock and
/// looks for a stored response under the lock; callers look with [`find`] first, so a
/// finished request costs no transaction.
pub async fn begin(
    db: &PgPool,
    user: &UserId,
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
    .bind(user.as_str())
    .bind(key.as_str())
    .bind(key.lock_id(user.as_str()))
    .fetch_one(&mut *tx)
    .await?;
    if !locked {
        return Ok(Begun::Busy);
    }
    if let (Some(h), Some(s), Some(b)) = (hash_found, status, body) {
        return Ok(Begun::Used(prior((h, s, b), hash)));
    }
    Ok(Begun::Fresh(tx))
}

/// Stores `response` for the key inside `tx` (nothing without a key). `Ok(false)`: a
/// duplicate with the key committed first (after [`begin`]'s snapshot was taken, before its
/// lock was free), so `tx` must be rolled back and that response replayed.
pub async fn save(
    tx: &mut Transaction<'static, Postgres>,
    user: &UserId,
    key: Option<&IdempotencyKey>,
    hash: &RequestHash,
    response: &StoredResponse,
) -> Result<bool> {
    let Some(key) = key else {
        return Ok(true);
    };
    let saved = sqlx::query(
        "INSERT INTO idempotency_keys (user_id, key, request_hash, response_status, response_body)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(user.as_str())
    .bind(key.as_str())
    .bind(&hash.0)
    .bind(response.status as i16)
    .bind(&response.body)
    .execute(&mut **tx)
    .await;
    match saved {
        Ok(_) => Ok(true),
        Err(e) if is_violation(&e, "idempotency_keys_pkey") => Ok(false),
        Err(e) => Err(e.into()),
    }
}
