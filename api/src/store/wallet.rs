//! Balances and charges. A balance only changes inside SQL (`balance = balance + $n`),
//! never read into Rust and written back; every change has its ledger entry.

use axum::http::StatusCode;
use chrono::{SecondsFormat, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    domain::{Amount, IdempotencyKey, RequestHash},
    error::{ApiError, Result},
    store::idempotency::{self, Begun, Stored},
};

/// The balance of `user_id`; 0 for a user who never charged.
pub async fn find_balance(db: &PgPool, user_id: &str) -> Result<i64> {
    let balance: Option<i64> = sqlx::query_scalar("SELECT balance FROM wallets WHERE user_id = $1")
        .bind(user_id)
        .fetch_optional(db)
        .await?;
    Ok(balance.unwrap_or(0))
}

/// Adds `amount` to the wallet of `user_id` with its ledger entry, once per idempotency key.
pub async fn charge_wallet(
    db: &PgPool,
    user_id: &str,
    amount: Amount,
    key: Option<&IdempotencyKey>,
) -> Result<Stored> {
    let hash = RequestHash::of("POST /api/v1/balance/charge", &amount.get());
    if let Some(key) = key {
        if let Some(stored) = idempotency::find(db, user_id, key, &hash).await? {
            return Ok(stored);
        }
    }
    let mut tx = match idempotency::begin(db, user_id, key, &hash).await? {
        Begun::Replay(stored) => return Ok(stored),
        Begun::Fresh(tx) => tx,
    };
    let balance: i64 = sqlx::query_scalar(
        "WITH credit AS (
             INSERT INTO wallets (user_id, balance) VALUES ($1, $2)
             ON CONFLICT (user_id) DO UPDATE SET balance = wallets.balance + EXCLUDED.balance, updated_at = now()
             RETURNING balance
         ), entry AS (
             INSERT INTO ledger (user_id, kind, amount, charge_id) VALUES ($1, 'CHARGE', $2, $3)
         )
         SELECT balance FROM credit",
    )
    .bind(user_id)
    .bind(amount.get())
    .bind(Uuid::now_v7())
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.code().as_deref() == Some("22003") => {
            ApiError::Invalid("INVALID_AMOUNT", "the balance would exceed its maximum".into())
        }
        _ => e.into(),
    })?;
    let stored = Stored {
        status: StatusCode::OK,
        body: serde_json::json!({
            "userId": user_id,
            "chargedAmount": amount.get(),
            "balance": balance,
            "chargedAt": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        }),
    };
    if let (false, Some(key)) = (
        idempotency::save(&mut tx, user_id, key, &hash, &stored).await?,
        key,
    ) {
        // A duplicate credited and committed first: this credit rolls back, its answer wins.
        tx.rollback().await?;
        return idempotency::replay_winner(db, user_id, key, &hash).await;
    }
    tx.commit().await?;
    Ok(stored)
}
